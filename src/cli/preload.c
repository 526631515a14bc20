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

/* Does this LD_PRELOAD element name a libbindguard? Two copies would each judge the
 * same bind. */
static bool is_bindguard(const char *p, size_t n)
{
    const char *slash = memrchr(p, '/', n);
    const char *base = slash ? slash + 1 : p;
    size_t blen = n - (size_t)(base - p);
    return blen >= strlen(LIB_NAME) && strncmp(base, LIB_NAME, strlen(LIB_NAME)) == 0;
}

/* LD_PRELOAD elements are separated by ':' or ' '. */
#define SEPARATORS ": "

const char *cli_preload_find(const char *preload, size_t *len)
{
    for (const char *p = preload ? preload : ""; *p;) {
        size_t n = strcspn(p, SEPARATORS);
        if (n && is_bindguard(p, n)) {
            *len = n;
            return p;
        }
        p += n;
        p += strspn(p, SEPARATORS);
    }
    return NULL;
}

void cli_preload_without(const char *preload, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = preload ? preload : ""; *p;) {
        size_t n = strcspn(p, SEPARATORS);
        if (n && !is_bindguard(p, n)) {
            int w = snprintf(buf + used, len - used, "%s%.*s", used ? ":" : "", (int)n, p);
            if (w < 0 || (size_t)w >= len - used) {
                buf[used] = '\0';
                return;
            }
            used += (size_t)w;
        }
        p += n;
        p += strspn(p, SEPARATORS);
    }
}

bool cli_add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    size_t n;
    if (cli_preload_find(old, &n))
        return true;
    char *value;
    int r = old && *old ? asprintf(&value, "%s:%s", old, lib) : asprintf(&value, "%s", lib);
    if (r < 0)
        return false;
    r = setenv("LD_PRELOAD", value, 1);
    free(value);
    return r == 0;
}
