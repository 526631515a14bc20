/* watch - see watch.h. */
#include "watch.h"

#include <errno.h>
#include <string.h>

#include "fault.h"
#include "own.h"

struct table *watch_open(const char *prefix, uint32_t slots, bool create,
                         struct watch_notes *n)
{
    memset(n, 0, sizeof *n);
    struct table *t = create ? own_open(prefix, slots, n->why, sizeof n->why, n->squat,
                                        sizeof n->squat)
                             : own_attach(prefix, n->why, sizeof n->why, n->squat,
                                          sizeof n->squat);
    if (!t)
        return NULL;
    int saved = errno;
    const void *base;
    size_t len;
    table_mapping(t, &base, &len);
    n->unwatched = !fault_watch(base, len);
    errno = saved;
    return t;
}
