/* unseen - programs whose binds libbindguard.so cannot see, said before they start.
 *
 * The library sees a bind only when the program calls libc's bind() through the dynamic
 * loader, with LD_PRELOAD honoured:
 * - a static executable (no PT_INTERP) has no loader, so nothing is preloaded;
 * - a Go program makes its system calls itself (even when linked with libc for cgo);
 * - setuid, setgid and file-capability programs run in secure mode, where the loader
 *   ignores a preload given by path.
 * Only the ELF headers are read (bounded); anything that isn't a readable ELF file (a
 * script, a missing program) gets no warning: the exec will say what it has to. */
#include "cli.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_HEADERS 4096        /* program or section headers looked at */
#define MAX_SHSTRTAB (1 << 20)  /* section name table read */

/* The file execvp would run for cmd; false if there is none. */
static bool resolve(const char *cmd, char *buf, size_t len)
{
    if (strchr(cmd, '/'))
        return snprintf(buf, len, "%s", cmd) < (int)len && access(buf, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        struct stat st;
        int w = snprintf(buf, len, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
        if (w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
            access(buf, X_OK) == 0)
            return true;
        p += n;
        if (!*p)
            return false;
    }
}

/* The ELF header fields we need, for either class. */
struct elf {
    int fd;
    bool is64;
    uint64_t phoff, shoff;
    unsigned phnum, phentsize, shnum, shentsize, shstrndx;
};

static bool read_at(int fd, uint64_t off, void *buf, size_t len)
{
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool elf_open(int fd, struct elf *e)
{
    unsigned char id[EI_NIDENT];
    if (!read_at(fd, 0, id, sizeof id) || memcmp(id, ELFMAG, SELFMAG) != 0)
        return false;
    e->fd = fd;
    e->is64 = id[EI_CLASS] == ELFCLASS64;
    if (e->is64) {
        Elf64_Ehdr h;
        if (!read_at(fd, 0, &h, sizeof h))
            return false;
        *e = (struct elf){ fd, true, h.e_phoff, h.e_shoff, h.e_phnum, h.e_phentsize,
                           h.e_shnum, h.e_shentsize, h.e_shstrndx };
    } else {
        Elf32_Ehdr h;
        if (!read_at(fd, 0, &h, sizeof h))
            return false;
        *e = (struct elf){ fd, false, h.e_phoff, h.e_shoff, h.e_phnum, h.e_phentsize,
                           h.e_shnum, h.e_shentsize, h.e_shstrndx };
    }
    return e->phnum <= MAX_HEADERS && e->shnum <= MAX_HEADERS;
}

static bool has_interp(const struct elf *e)
{
    for (unsigned i = 0; i < e->phnum; i++) {
        uint32_t type;
        if (!read_at(e->fd, e->phoff + (uint64_t)i * e->phentsize, &type, sizeof type))
            return true;  /* unreadable: say nothing */
        if (type == PT_INTERP)
            return true;
    }
    return false;
}

/* Section i's name offset, file offset and size. */
static bool section(const struct elf *e, unsigned i, uint32_t *name, uint64_t *off,
                    uint64_t *size)
{
    uint64_t at = e->shoff + (uint64_t)i * e->shentsize;
    if (e->is64) {
        Elf64_Shdr s;
        if (e->shentsize < sizeof s || !read_at(e->fd, at, &s, sizeof s))
            return false;
        *name = s.sh_name, *off = s.sh_offset, *size = s.sh_size;
    } else {
        Elf32_Shdr s;
        if (e->shentsize < sizeof s || !read_at(e->fd, at, &s, sizeof s))
            return false;
        *name = s.sh_name, *off = s.sh_offset, *size = s.sh_size;
    }
    return true;
}

/* The Go toolchain's marks: its build id note, and the build information section. */
static bool is_go(const struct elf *e)
{
    uint32_t name;
    uint64_t off, size, names_size;
    if (e->shnum == 0 || e->shstrndx >= e->shnum ||
        !section(e, e->shstrndx, &name, &off, &names_size) || names_size == 0 ||
        names_size > MAX_SHSTRTAB)
        return false;
    char *names = malloc(names_size + 1);
    bool go = false;
    if (!names || !read_at(e->fd, off, names, names_size)) {
        free(names);
        return false;
    }
    names[names_size] = '\0';
    for (unsigned i = 0; i < e->shnum && !go; i++) {
        if (!section(e, i, &name, &off, &size) || name >= names_size)
            continue;
        go = strcmp(names + name, ".note.go.buildid") == 0 ||
             strcmp(names + name, ".go.buildinfo") == 0;
    }
    free(names);
    return go;
}

/* Why the loader won't preload us into it, or NULL. */
static const char *privileged(const char *path, const struct stat *st)
{
    if ((st->st_mode & S_ISUID) && st->st_uid != geteuid())
        return "is setuid";
    if ((st->st_mode & S_ISGID) && st->st_gid != getegid())
        return "is setgid";
    if (geteuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
        return "has file capabilities";
    return NULL;
}

static const char *why_unseen(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    struct elf e;
    const char *why = NULL;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && elf_open(fd, &e)) {
        why = privileged(path, &st);
        if (!why && is_go(&e))
            why = "is a Go program (it makes its system calls itself)";
        else if (!why && !has_interp(&e))
            why = "is statically linked";
    }
    close(fd);
    return why;
}

void cli_warn_unseen(const char *cmd, bool shell)
{
    char path[PATH_MAX];
    const char *why = resolve(cmd, path, sizeof path) ? why_unseen(path) : NULL;
    if (why)
        cli_say(0, "warning: %s %s: bindguard cannot see %sbinds%s (the kernel backend "
                "can: see `bindguard kernel`)", path, why, shell ? "the shell's own " : "its ",
                shell ? "; the programs it starts are still protected" : ", so it runs "
                "unprotected");
}
