/* parse - see parse.h. */
#include "parse.h"

#include <string.h>

bool parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false;
    }
    if (v < min)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool parse_u32_str(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    return s && parse_u32(s, strlen(s), min, max, out);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool parse_caseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

/* A ".." component could walk the file out of the directory the operator reviewed; an
 * empty or "." last component names a directory, not a file. */
static bool sane_components(const char *s)
{
    for (const char *p = s;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (!end)
            return n > 0 && !(n == 1 && p[0] == '.');
        p = end + 1;
    }
}

bool parse_abs_file_path(const char *s)
{
    return s && s[0] == '/' && sane_components(s + 1);
}

const char *parse_table_name(const char *s)
{
    if (!s || !*s || strcmp(s, "/") == 0)
        return "is empty";
    if (s[0] != '/' && strchr(s, '/'))
        return "is a relative path: give a shm name (bindguard-v3) or an absolute path";
    if (!sane_components(s + (s[0] == '/')))
        return "has a '..' component or names a directory";
    return NULL;
}
