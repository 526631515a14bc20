/* refuted - other users' claims the kernel said are false, remembered between binds so
 * that a table full of false claims costs its readers little
 * (doc/design.md "Trust domains").
 *
 * A claim is (table file, slot, entry id, inode, protocol, address, listening): its owner
 * gives every insert and every renewal a new id, so a claim refuted once stays false and
 * is not worth another sock_diag dump. A table is struck at most once per bind that found
 * it wasting the binder's time (domains.c: claims refuted, an intent waited out or stale,
 * entries that decide nothing rewritten since the last read): past REFUTED_STRIKES
 * strikes within REFUTED_WINDOW_MS it is discredited (not judged) for the rest of that
 * window.
 * That costs only the table's owner its protection, and only when its own table lied.
 * Not thread-safe: the caller serializes (domains: between foreign_begin and foreign_end). */
#ifndef BG_REFUTED_H
#define BG_REFUTED_H

#include <stdbool.h>
#include <stdint.h>

#include "table.h"

#define REFUTED_STRIKES    8     /* dumps finding false claims in one table per window */
#define REFUTED_WINDOW_MS  1000

/* Was this claim of table (dev, ino), read from slot idx, refuted before? */
bool refuted_known(uint64_t dev, uint64_t ino, uint32_t idx, const struct table_entry *e);
/* Remember it as refuted (a full cache forgets an older claim). */
void refuted_add(uint64_t dev, uint64_t ino, uint32_t idx, const struct table_entry *e);
/* One dump found claims of this table false at now_ns (CLOCK_MONOTONIC). true when this
 * strike discredits the table (once per window: the caller logs it). */
bool refuted_strike(uint64_t dev, uint64_t ino, int64_t now_ns);
/* Is the table discredited at now_ns? */
bool refuted_discredited(uint64_t dev, uint64_t ino, int64_t now_ns);
#endif
