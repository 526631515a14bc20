/* domains - a bind judged against other users' tables (doc/design.md "Trust domains").
 *
 * Own table: judged under its lock (deniers.h). Other users' tables: read through
 * foreign.h, and an entry there denies only when the kernel confirms it exactly
 * (kernel_confirm_exact: inode, owner, protocol, address, port, V6ONLY, listening). Races
 * between users are settled by published intents: the binder puts a PENDING entry in its
 * own table first (domains_publish), then reads the others; an earlier conflicting
 * foreign intent (stamp, then uid) is waited on up to `wait_ms` until it is bound (then
 * judged) or gone; one still pending after that is ignored, as is a later one and one
 * stamped longer ago than `wait_ms` (a real binder holds its intent for microseconds).
 * What the kernel refuted is remembered, and a table that keeps wasting its readers' time
 * (false claims, stale or waited-out intents, entries that decide nothing rewritten
 * between reads) is not read for a while (refuted.h): whatever a table holds, it costs its
 * readers a few preads per bind.
 * Not judged across users, because the kernel cannot confirm what decides their verdict:
 * linger entries (the listener is gone; sock_diag shows its connections' specific local
 * addresses, never the address or class the listener was bound with), and sockets bound
 * to a wildcard and then connected (the kernel shows the connected local address, so the
 * wildcard claim is refuted; the kernel itself still refuses binds conflicting with it).
 * bindguard's trouble (kernel unreachable, tables unreadable) never denies. */
#ifndef BG_DOMAINS_H
#define BG_DOMAINS_H

#include <stdbool.h>
#include <stdint.h>

#include "rules/verdict.h"
#include "table.h"

#define DOMAINS_MAX_HITS     8   /* entries on the port taken from one table per bind */
#define DOMAINS_MAX_CONFIRM  16  /* foreign deniers confirmed per bind (in one batch) */

/* The verdict a held entry gives the wanted one (guard's rule book). */
typedef enum bg_verdict (*domains_judge_fn)(const struct table_entry *held,
                                            const struct table_entry *want);

enum domains_answer {
    DOMAINS_CLEAR,    /* nothing another user holds denies it */
    DOMAINS_DENIED,   /* *denier: confirmed by the kernel */
    DOMAINS_UNKNOWN,  /* a denier the kernel could not be asked about: not refused */
};

struct domains_result {
    struct table_entry denier;   /* denier.uid is its table file's owner */
    enum bg_verdict verdict;
    bool waited_out;             /* an earlier intent was still pending after wait_ms */
    bool overflow;               /* more tables than foreign.h reads */
};

/* Under own's lock: record *want as an intent (PENDING, stamped after it is visible).
 * false if it could not be recorded (full): then judge without publishing. A table
 * younger than FOREIGN_VISIBLE_MS may not be seen by others yet: the first intent put in
 * it waits until it is that old (once per table per process). */
bool domains_publish(struct table *own, const struct table_entry *want, uint32_t *idx,
                     uint64_t *id, int64_t *stamp);

/* Judge *want against every other table under prefix. own may be NULL (its file is
 * then not told apart); stamp is want's intent stamp (0: none published: every pending
 * foreign intent counts as earlier). */
enum domains_answer domains_judge(const char *prefix, struct table *own,
                                  const struct table_entry *want, int64_t stamp,
                                  domains_judge_fn judge, unsigned wait_ms,
                                  struct domains_result *out);

int64_t domains_now_ns(void);   /* CLOCK_MONOTONIC, the intents' clock */

#endif
