/* preload - see preload.h. */
#include "preload.h"

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

bool preload_find(const char *name, const char *const *dirs, char *buf, size_t len,
                  char *tried, size_t tried_len)
{
    char exe[PATH_MAX];
    const char *exe_dir = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        exe_dir = dirname(exe);
    }
    size_t used = 0;
    if (tried_len)
        tried[0] = '\0';
    for (int i = 0; dirs[i]; i++) {
        char dir[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
        if (!dirs[i][0] || (dirs[i][0] != '/' && !exe_dir))
            continue;
        if (dirs[i][0] == '/')
            snprintf(dir, sizeof dir, "%s", dirs[i]);
        else if (strcmp(dirs[i], ".") == 0)
            snprintf(dir, sizeof dir, "%s", exe_dir);
        else
            snprintf(dir, sizeof dir, "%s/%s", exe_dir, dirs[i]);
        int w = snprintf(path, sizeof path, "%s/%s", dir, name);
        if (w > 0 && (size_t)w < sizeof path && exists(path) && realpath(path, real)) {
            snprintf(buf, len, "%s", real);
            return true;
        }
        w = snprintf(tried + used, tried_len - used, "%s%s", used ? ", " : "", dir);
        if (w > 0 && (size_t)w < tried_len - used)
            used += (size_t)w;
    }
    return false;
}

bool preload_find_or_env(const char *env, const char *name, const char *const *dirs,
                         char *buf, size_t len, char *tried, size_t tried_len)
{
    const char *v = getenv(env);
    if (v && *v) {
        snprintf(buf, len, "%s", v);
        return true;
    }
    return preload_find(name, dirs, buf, len, tried, tried_len);
}

bool cli_find_library(char *buf, size_t len, char *tried, size_t tried_len)
{
    /* The build tree first: build/src/bindguard beside build/src/libbindguard.so. */
    const char *const dirs[] = { ".", BG_LIBDIR_FROM_BINDIR, BINDGUARD_LIBDIR, NULL };
    return preload_find(LIB_NAME, dirs, buf, len, tried, tried_len);
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

/* Append "elem" to a ':'-separated list in out (cap bytes), clipped if it must be. */
static void append(char *out, size_t cap, size_t *used, const char *elem, size_t n)
{
    int w = snprintf(out + *used, cap - *used, "%s%.*s", *used ? ":" : "", (int)n, elem);
    if (w > 0)
        *used += (size_t)w < cap - *used ? (size_t)w : cap - *used - 1;
}

bool cli_add_preload(const char *lib, char *dropped, size_t dropped_len)
{
    const char *old = getenv("LD_PRELOAD");
    struct stat lib_st;
    if (dropped_len)
        dropped[0] = '\0';
    if (stat(lib, &lib_st) != 0)
        return false;
    old = old ? old : "";
    size_t cap = strlen(old) + strlen(lib) + 2, used = 0, n_dropped = 0;
    char *value = malloc(cap);
    bool have = false;
    if (!value)
        return false;
    value[0] = '\0';
    for (const char *p = old; *p;) {
        size_t n = strcspn(p, SEPARATORS);
        bool ours = n && same_file(p, n, &lib_st);
        have |= ours;
        if (n && !ours && is_bindguard(p, n)) {
            if (dropped_len)
                append(dropped, dropped_len, &n_dropped, p, n);
        } else if (n) {
            append(value, cap, &used, p, n);
        }
        p += n;
        p += strspn(p, SEPARATORS);
    }
    if (!have)
        append(value, cap, &used, lib, strlen(lib));
    int r = setenv("LD_PRELOAD", value, 1);
    free(value);
    return r == 0;
}
