/* elfkind - see elfkind.h. */
#include "elfkind.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#if UINTPTR_MAX > 0xffffffffu
#define NATIVE_CLASS ELFCLASS64
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
typedef Elf64_Shdr Shdr;
#else
#define NATIVE_CLASS ELFCLASS32
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Phdr Phdr;
typedef Elf32_Shdr Shdr;
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

#define MAX_HEADERS 4096   /* more program or section headers than this: not a sane file */

bool elfkind_which(const char *cmd, char *buf, size_t len)
{
    if (!cmd || !*cmd)
        return false;
    if (strchr(cmd, '/')) {
        snprintf(buf, len, "%s", cmd);
        return access(cmd, F_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        int w = snprintf(buf, len, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
        struct stat st;
        if (w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
            access(buf, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static void scan_phdrs(int fd, const Ehdr *eh, struct elfkind *k)
{
    for (unsigned i = 0; i < eh->e_phnum && i < MAX_HEADERS; i++) {
        Phdr ph;
        if (!read_at(fd, &ph, sizeof ph, eh->e_phoff + (uint64_t)i * eh->e_phentsize))
            return;
        if (ph.p_type != PT_INTERP)
            continue;
        k->dynamic = true;
        size_t n = ph.p_filesz < sizeof k->interp ? ph.p_filesz : sizeof k->interp - 1;
        if (!read_at(fd, k->interp, n, ph.p_offset))
            n = 0;
        k->interp[n] = '\0';
    }
}

/* Go's linker leaves these even in stripped binaries (-s drops symbols, not sections). */
static void scan_sections(int fd, const Ehdr *eh, struct elfkind *k)
{
    Shdr strs;
    if (eh->e_shnum == 0 || eh->e_shnum > MAX_HEADERS || eh->e_shstrndx >= eh->e_shnum ||
        !read_at(fd, &strs, sizeof strs, eh->e_shoff + (uint64_t)eh->e_shstrndx * eh->e_shentsize))
        return;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        Shdr sh;
        char name[32];
        if (!read_at(fd, &sh, sizeof sh, eh->e_shoff + (uint64_t)i * eh->e_shentsize))
            return;
        if (sh.sh_name >= strs.sh_size ||
            pread(fd, name, sizeof name - 1, (off_t)(strs.sh_offset + sh.sh_name)) <= 0)
            continue;
        name[sizeof name - 1] = '\0';
        if (strcmp(name, ".note.go.buildid") == 0 || strcmp(name, ".go.buildinfo") == 0)
            k->go = true;
    }
}

/* A "#!INTERP ARG" line: INTERP (or, for /usr/bin/env, ARG looked up on $PATH). */
static bool script_interpreter(const char *head, char *buf, size_t len)
{
    char line[256], first[256], second[256] = "";
    snprintf(line, sizeof line, "%s", head + 2);
    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "%255s %255s", first, second) < 1)
        return false;
    const char *slash = strrchr(first, '/');
    if (slash && strcmp(slash + 1, "env") == 0 && second[0])
        return elfkind_which(second, buf, len);
    snprintf(buf, len, "%s", first);
    return true;
}

static int inspect(const char *path, struct elfkind *k, char *why, size_t len, int depth)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(k->path, sizeof k->path, "%s", path);
    k->setuid = st.st_mode & S_ISUID;
    k->setgid = (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
    k->setcap = fgetxattr(fd, "security.capability", NULL, 0) > 0;
    Ehdr eh;
    char head[256] = "";
    ssize_t got = pread(fd, head, sizeof head - 1, 0);
    if (got >= 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
        close(fd);
        char interp[4096];
        if (!script_interpreter(head, interp, sizeof interp)) {
            snprintf(why, len, "%s: a script whose #! line names no interpreter", path);
            return -1;
        }
        struct elfkind script = *k;
        int rc = inspect(interp, k, why, len, depth + 1);
        snprintf(k->script, sizeof k->script, "%s", script.path);
        /* The loader's secure mode follows the interpreter, not the script's bits. */
        return rc;
    }
    bool ok = read_at(fd, &eh, sizeof eh, 0) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0;
    if (!ok) {
        snprintf(why, len, "%s: not an ELF executable or a #! script", path);
    } else if (eh.e_ident[EI_CLASS] != NATIVE_CLASS || eh.e_ident[EI_DATA] != NATIVE_DATA ||
               eh.e_phentsize != sizeof(Phdr) ||
               (eh.e_shnum && eh.e_shentsize != sizeof(Shdr))) {
        snprintf(why, len, "%s: an ELF file for another kind of machine", path);
        ok = false;
    } else {
        k->elf = true;
        scan_phdrs(fd, &eh, k);
        scan_sections(fd, &eh, k);
    }
    close(fd);
    return ok ? 0 : -1;
}

int elfkind_inspect(const char *path, struct elfkind *k, char *why, size_t len)
{
    memset(k, 0, sizeof *k);
    return inspect(path, k, why, len, 0);
}

const char *elfkind_preload_blocker(const struct elfkind *k)
{
    if (!k->elf)
        return "not an executable bindguard understands";
    /* Go first: most Go programs are static too, but linked with libc (cgo) they still
     * bind without it. */
    if (k->go)
        return "a Go program: its binds are system calls of its own, not libc's";
    if (!k->dynamic)
        return "statically linked: no dynamic loader reads LD_PRELOAD";
    if (k->setuid || k->setgid)
        return "setuid/setgid: the loader ignores LD_PRELOAD for it";
    if (k->setcap)
        return "file capabilities: the loader ignores LD_PRELOAD for it";
    return NULL;
}
