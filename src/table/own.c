/* own - see own.h. */
#include "own.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool own_name(const char *prefix, uid_t uid, unsigned n, char *buf, size_t len)
{
    int w = n == 0 ? snprintf(buf, len, "%s.%u", prefix, (unsigned)uid)
                   : snprintf(buf, len, "%s.%u.%u", prefix, (unsigned)uid, n);
    return w > 0 && (size_t)w < len;
}

/* Someone else's file (or not a regular file) under the name: not ours to use. */
static bool squatted(const char *name, uid_t me)
{
    char path[PATH_MAX];
    struct stat st;
    if (!table_file_path(name, path, sizeof path, NULL, 0) || lstat(path, &st) != 0)
        return false;
    return !S_ISREG(st.st_mode) || st.st_uid != me;
}

/* own_open, or with create false own_attach: the walk over the names is the same. */
static struct table *own_get(const char *prefix, uint32_t slots, bool create, char *why,
                             size_t whylen, char *squat, size_t squatlen)
{
    uid_t me = geteuid();
    if (squat && squatlen)
        squat[0] = '\0';
    char name[PATH_MAX];
    for (unsigned n = 0; n <= OWN_MAX_ALTERNATES; n++) {
        if (!own_name(prefix, me, n, name, sizeof name)) {
            snprintf(why, whylen, "table prefix %s: name too long", prefix);
            return NULL;
        }
        if (squatted(name, me)) {
            if (squat && squatlen && !squat[0])
                snprintf(squat, squatlen, "table %s belongs to another user (or is not a "
                         "regular file); using the next free name", name);
            continue;
        }
        struct table *t = create ? table_open(name, slots, why, whylen)
                                 : table_attach(name, why, whylen);
        /* Squatted between the look and the open: table_open refused it; try the next. */
        if (t || !strstr(why, "owned by uid"))
            return t;
    }
    errno = EEXIST;
    snprintf(why, whylen, "table prefix %s: all %d names for uid %u are taken by other users",
             prefix, OWN_MAX_ALTERNATES + 1, (unsigned)me);
    return NULL;
}

bool own_file(const char *prefix, char *path, size_t len)
{
    uid_t me = geteuid();
    char name[PATH_MAX];
    for (unsigned n = 0; n <= OWN_MAX_ALTERNATES; n++) {
        if (!own_name(prefix, me, n, name, sizeof name) ||
            !table_file_path(name, path, len, NULL, 0))
            return false;
        if (!squatted(name, me))
            return true;
    }
    return false;
}

struct table *own_open(const char *prefix, uint32_t slots, char *why, size_t whylen,
                       char *squat, size_t squatlen)
{
    return own_get(prefix, slots, true, why, whylen, squat, squatlen);
}

struct table *own_attach(const char *prefix, char *why, size_t whylen, char *squat,
                         size_t squatlen)
{
    return own_get(prefix, 0, false, why, whylen, squat, squatlen);
}
