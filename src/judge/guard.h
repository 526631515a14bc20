/* guard - bindguard's verdict on a binding, for the shim and the CLI alike: the liveness
 * rule and the `check` API (doc/design.md "What happens on bind", "Liveness rule").
 *
 * guard_init() gives the configuration every judgement uses (the preloaded library's,
 * or the CLI's); it must run before any other call here, in judge/ or shim/. Every
 * trouble inside bindguard answers "not refused": the kernel decides. */
#ifndef BG_GUARD_H
#define BG_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "holder.h"
#include "log.h"
#include "policy.h"
#include "table.h"

void guard_init(const struct bg_config *cfg);
/* The configuration given to guard_init (never NULL after it). */
const struct bg_config *guard_config(void);

/* Is a table entry's socket still there, as the kernel says? The one rule for the bind
 * flow, `bindguard list` and `bindguard gc` (doc/design.md "Liveness rule").
 * LINGERING: an explicit exclusive listener that served connections is closed, and those
 * connections live on. UNKNOWN: the kernel could not be asked. */
enum guard_liveness { GUARD_LIVE, GUARD_LINGERING, GUARD_STALE, GUARD_UNKNOWN };
enum guard_liveness guard_liveness(const struct table_entry *e);

/* What `bindguard check` reports when a bind would be refused. */
struct guard_refusal {
    struct table_entry held;   /* the binding that refuses, as the table had it */
    struct holder holder;      /* a live process holding it now (pid 0: none found) */
    enum bg_verdict verdict;   /* INUSE or ACCESS */
    char line[LOG_LINE_MAX];   /* the refusal as the log would word it, without prefix */
};

/* For `bindguard check`: judge `want` against t exactly as a bind would be judged
 * (deniers confirmed with the kernel, stale entries reaped), but bind and record
 * nothing. t's mapping must be watched (fault_watch); t NULL: this user has no table
 * yet, and only the other users' tables judge. Returns 1 and fills *r when the bind
 * would be refused, 0 when bindguard would let it through, -1 when the table can't be
 * judged (the reason has been logged). */
int guard_check(struct table *t, const struct table_entry *want, struct guard_refusal *r);

#endif
