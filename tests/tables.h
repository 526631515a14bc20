/* tables - a test's private table seen from outside, with the table API: how many
 * bindings it holds, and what `bindguard gc` would do to it. The test process does not
 * load the shim. */
#ifndef BG_TABLES_H
#define BG_TABLES_H

#include <stdbool.h>
#include <stddef.h>

/* Bindings in table `name` now (made with `slots` if it has to be); the test fails if it
 * can't be opened or locked. */
size_t tables_entries(const char *name, unsigned slots);

/* What `bindguard gc` does, from this (unshimmed) process: every entry whose socket the
 * kernel no longer has is released. */
struct tables_gc {
    unsigned kept;         /* confirmed alive */
    unsigned reaped;       /* confirmed gone, released */
    unsigned unknown;      /* the kernel could not say */
    unsigned left;         /* table_count afterwards */
    unsigned repairs;      /* header.repairs: rebuilds after deaths or corruption */
};
/* false, with one line in why, if the table can't be opened, locked or fails table_check
 * after the gc. */
bool tables_gc(const char *table, struct tables_gc *out, char *why, size_t whylen);

#endif
