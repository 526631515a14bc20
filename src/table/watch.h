/* watch - the calling user's own table (own.h) opened and watched for truncation
 * (fault.h), as the library and the CLI both take it. */
#ifndef BG_WATCH_H
#define BG_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "table.h"

struct watch_notes {
    char why[256];    /* why there is no table, when watch_open returns NULL */
    char squat[300];  /* "" or one line: a name under the prefix belongs to someone else */
    bool unwatched;   /* a table was opened, but a truncation of it would not be caught */
};

/* own_open(prefix, slots) if create, else own_attach(prefix) (errno ENOENT: no table
 * under the prefix), then fault_watch over its mapping. Fills *n; the caller decides
 * what an unwatched table is worth. */
struct table *watch_open(const char *prefix, uint32_t slots, bool create,
                         struct watch_notes *n);

#endif
