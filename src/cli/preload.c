/* preload - which libbindguard.so to preload, and LD_PRELOAD with it added.
 *
 * The library is looked for where this very binary says it should be, not on the
 * loader's search path: a build tree's CLI must preload that build's library, and an
 * installed CLI (even one unpacked under a DESTDIR) the library installed beside it. */
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bg_config.h"

#define LIB_NAME "libbindguard.so"

#ifndef BG_LIBDIR_FROM_BINDIR
#define BG_LIBDIR_FROM_BINDIR ""
#endif

static bool exists(const char *path)
{
    return access(path, R_OK) == 0;
}

bool cli_find_library(char *buf, size_t len, char *tried, size_t tried_len)
{
    char exe[PATH_MAX], dirs[3][PATH_MAX];
    int n_dirs = 0;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        /* The build tree: build/src/bindguard beside build/src/libbindguard.so. */
        snprintf(dirs[n_dirs++], PATH_MAX, "%s", dir);
        if (BG_LIBDIR_FROM_BINDIR[0])
            snprintf(dirs[n_dirs++], PATH_MAX, "%s/%s", dir, BG_LIBDIR_FROM_BINDIR);
    }
    snprintf(dirs[n_dirs++], PATH_MAX, "%s", BINDGUARD_LIBDIR);
    size_t used = 0;
    for (int i = 0; i < n_dirs; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        int w = snprintf(path, sizeof path, "%s/%s", dirs[i], LIB_NAME);
        /* Canonical, so that LD_PRELOAD reads plainly ("bin/../lib" resolved). */
        if (w > 0 && (size_t)w < sizeof path && exists(path) && realpath(path, real)) {
            snprintf(buf, len, "%s", real);
            return true;
        }
        w = snprintf(tried + used, tried_len - used, "%s%s", i ? ", " : "", dirs[i]);
        if (w > 0 && (size_t)w < tried_len - used)
            used += (size_t)w;
    }
    return false;
}

/* Is this LD_PRELOAD element the file lib is? By identity, not by name: a symlink or
 * another spelling of the path is the same library. */
static bool same_file(const char *elem, size_t n, const struct stat *lib)
{
    char path[PATH_MAX];
    struct stat st;
    if (n >= sizeof path)
        return false;
    memcpy(path, elem, n);
    path[n] = '\0';
    return stat(path, &st) == 0 && st.st_dev == lib->st_dev && st.st_ino == lib->st_ino;
}

static bool named_like_us(const char *elem, size_t n)
{
    const char *slash = memrchr(elem, '/', n);
    const char *base = slash ? slash + 1 : elem;
    size_t blen = n - (size_t)(base - elem);
    return blen >= strlen(LIB_NAME) && strncmp(base, LIB_NAME, strlen(LIB_NAME)) == 0;
}

/* LD_PRELOAD's elements (separated by ':' or ' ') but those named like us that are not
 * lib, each said in one line; lib appended unless it is there already. Two copies
 * would each judge the same bind, and a stale one (moved, or an older build) would
 * leave the program unprotected while BINDGUARD_ACTIVE says otherwise. */
static char *preload_value(const char *old, const char *lib, const struct stat *lib_st)
{
    size_t cap = strlen(old) + strlen(lib) + 2, used = 0;
    char *out = malloc(cap);
    bool have = false;
    if (!out)
        return NULL;
    for (const char *p = old; *p;) {
        size_t n = strcspn(p, ": ");
        bool ours = n && same_file(p, n, lib_st), stale = n && !ours && named_like_us(p, n);
        have |= ours;
        if (stale)
            cli_say(0, "LD_PRELOAD named another %s (%.*s); preloading %s instead", LIB_NAME,
                    (int)n, p, lib);
        else if (n)
            used += (size_t)sprintf(out + used, "%s%.*s", used ? ":" : "", (int)n, p);
        p += n;
        p += strspn(p, ": ");
    }
    if (!have)
        sprintf(out + used, "%s%s", used ? ":" : "", lib);
    return out;
}

bool cli_add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    struct stat lib_st;
    if (stat(lib, &lib_st) != 0)
        return false;
    char *value = preload_value(old ? old : "", lib, &lib_st);
    if (!value)
        return false;
    int r = setenv("LD_PRELOAD", value, 1);
    free(value);
    return r == 0;
}
