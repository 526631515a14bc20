/* elfkind - what kind of executable a command is, and whether LD_PRELOAD reaches it.
 *
 * The library protects a program only if the dynamic loader runs it (PT_INTERP), does
 * not run it in secure mode (setuid, setgid, file capabilities) and its binds go through
 * libc (not Go's own system calls). Everything else needs the kernel backend. Scripts
 * are judged by their #! interpreter. Reads the file; never runs it. */
#ifndef BG_CLI_ELFKIND_H
#define BG_CLI_ELFKIND_H

#include <stdbool.h>
#include <stddef.h>

struct elfkind {
    char path[4096];      /* the file inspected (a script's interpreter, if a script) */
    char script[4096];    /* the script, if the command was one; "" otherwise */
    bool elf;             /* an ELF file of this machine's class and byte order */
    bool dynamic;         /* has PT_INTERP: the loader runs and reads LD_PRELOAD */
    char interp[256];     /* PT_INTERP */
    bool go;              /* .note.go.buildid or .go.buildinfo: binds without libc */
    bool setuid, setgid;  /* mode bits: the loader runs it in secure mode */
    bool setcap;          /* security.capability xattr: secure mode too */
};

/* Resolve cmd as execvp would (a name with no '/' on $PATH) into buf. false if none. */
bool elfkind_which(const char *cmd, char *buf, size_t len);

/* Inspect the executable at path (following one #! line). 0, or -1 with one line in
 * why (unreadable, not an executable we understand). */
int elfkind_inspect(const char *path, struct elfkind *k, char *why, size_t len);

/* Why LD_PRELOAD can't protect it ("static: no dynamic loader", ...), NULL if it can. */
const char *elfkind_preload_blocker(const struct elfkind *k);

#endif
