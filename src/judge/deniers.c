/* deniers - deniers collected under the lock, confirmed with the kernel outside it, the
 * stale ones reaped (deniers.h). */
#include "deniers.h"

#include <netinet/in.h>

#include "budget.h"
#include "fault.h"
#include "guard.h"
#include "kernel.h"
#include "log.h"

#define MAX_ON_PORT   256  /* entries judged per bind; more is logged and not judged */
#define MAX_DENIERS   16   /* denying entries confirmed per round */
#define MAX_ROUNDS    4    /* judge/confirm/reap rounds before letting the kernel decide */

static bool in_share_list(const struct table_entry *held, uint32_t uid)
{
    unsigned n = held->n_share <= TABLE_MAX_SHARE ? held->n_share : TABLE_MAX_SHARE;
    for (unsigned i = 0; i < n; i++)
        if (held->share_uids[i] == uid)
            return true;
    return false;
}

static struct bg_binding binding_of(const struct table_entry *e)
{
    return (struct bg_binding){ .addr = e->addr, .uid = e->uid, .cls = e->cls,
                                .linger = (e->flags & TABLE_F_LINGER) != 0 };
}

enum bg_verdict judge_one(const struct table_entry *held, const struct table_entry *want)
{
    struct bg_binding h = binding_of(held), w = binding_of(want);
    enum bg_verdict v = rules_judge(guard_config()->profile->rules, &h, &w);
    return rules_resolve_check(v, in_share_list(held, want->uid));
}

/* Under the lock: collect the entries that would deny `want`, most severe first.
 * Returns the number collected, or -1 when the table can't be judged. */
static int collect_deniers(struct table *t, const struct table_entry *want,
                           struct denier *out, size_t max)
{
    uint32_t idx[MAX_ON_PORT];
    int n = table_find(t, want->netns, want->proto, want->addr.port, idx, MAX_ON_PORT);
    if (n < 0) {
        log_once(LOG_TOPIC_TABLE_CORRUPT, "port table %s is corrupt; binds go to the kernel",
                 table_path(t));
        return -1;
    }
    if (n > MAX_ON_PORT)
        log_once(LOG_TOPIC_INTERNAL, "more than %d bindings on port %u; judging the first %d",
                 MAX_ON_PORT, want->addr.port, MAX_ON_PORT);
    size_t found = 0;
    for (int i = 0; i < n && i < MAX_ON_PORT && found < max; i++) {
        const struct table_entry *held = table_slot_entry(t, idx[i]);
        if (!held || held->inode == want->inode)
            continue;
        enum bg_verdict v = judge_one(held, want);
        if (v == BG_SUCCESS)
            continue;
        size_t at = found++;
        while (at > 0 && rules_more_severe(v, out[at - 1].verdict)) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (struct denier){ *held, idx[i], v };
    }
    return (int)found;
}

/* Outside the lock: does the holder still deny? Stale entries are marked for reaping; an
 * entry that has just started to linger is re-judged as the linger entry it becomes,
 * which keeps out exclusive binds only. */
static enum kernel_answer confirm_denier(struct denier *d, const struct table_entry *want,
                                         bool *reap, bool *to_linger)
{
    *reap = *to_linger = false;
    switch (guard_liveness(&d->e)) {
    case GUARD_LIVE:
        return KERNEL_ALIVE;
    case GUARD_UNKNOWN:
        return KERNEL_UNKNOWN;
    case GUARD_STALE:
        *reap = true;
        return KERNEL_GONE;
    case GUARD_LINGERING:
        break;
    }
    if (!(d->e.flags & TABLE_F_LINGER)) {
        *to_linger = true;
        d->e.flags |= TABLE_F_LINGER;
        d->verdict = judge_one(&d->e, want);
    }
    return d->verdict == BG_SUCCESS ? KERNEL_GONE : KERNEL_ALIVE;
}

/* Under the lock again: apply what confirm_denier() found, if the entries are still the
 * ones collected. sock_diag has no snapshot: a socket that starts or stops listening
 * while it is asked can be missed by every listing, and reaping it then would leave a
 * live socket without its claim (once it stops listening, a bind beside it passes). So
 * listen() and shutdown() of a recorded socket renew its entry's id under the lock
 * (lifecycle.h, in the shim): an entry whose socket changed state since it was collected
 * is no longer found by (idx, id) here, and stays. Its holder was alive to change it:
 * *renewed says so, and the entry denies as collected. */
static void apply_confirmations(struct table *t, struct denier *d, const bool *reap,
                                const bool *to_linger, bool *renewed, int n)
{
    for (int i = 0; i < n; i++) {
        renewed[i] = false;
        if (reap[i] && !table_release(t, d[i].idx, d[i].e.id)) {
            const struct table_entry *now = table_slot_entry(t, d[i].idx);
            renewed[i] = now && now->id != d[i].e.id && now->inode == d[i].e.inode &&
                         now->netns == d[i].e.netns && now->proto == d[i].e.proto &&
                         now->addr.port == d[i].e.addr.port;
        } else if (to_linger[i]) {
            table_set_flags(t, d[i].idx, d[i].e.id, TABLE_F_LINGER, 0);
        }
    }
}

enum outcome { HOLDER_CONFIRMED, HOLDERS_STALE, HOLDERS_UNKNOWN };

/* Confirm every denier with the kernel (outside the lock), reap what is gone. On
 * HOLDER_CONFIRMED, *which is the most severe live denier. */
static enum outcome confirm_all(struct table *t, struct denier *d, int n,
                                const struct table_entry *want, int *which)
{
    bool reap[MAX_DENIERS], to_linger[MAX_DENIERS], renewed[MAX_DENIERS], any_stale = false;
    *which = -1;
    for (int i = 0; i < n; i++) {
        enum kernel_answer a = confirm_denier(&d[i], want, &reap[i], &to_linger[i]);
        if (a == KERNEL_UNKNOWN)
            log_once(LOG_TOPIC_KERNEL, "cannot ask the kernel (sock_diag) who holds port %u; "
                     "not refusing on the table's word alone", want->addr.port);
        if (a == KERNEL_ALIVE &&
            (*which < 0 || rules_more_severe(d[i].verdict, d[*which].verdict)))
            *which = i;
        any_stale |= reap[i] || to_linger[i];
    }
    if (any_stale && budget_lock(t)) {
        apply_confirmations(t, d, reap, to_linger, renewed, n);
        table_unlock(t);
        for (int i = 0; i < n; i++)
            if (renewed[i] && (*which < 0 || rules_more_severe(d[i].verdict,
                                                               d[*which].verdict)))
                *which = i;
    }
    if (*which >= 0)
        return HOLDER_CONFIRMED;
    return any_stale ? HOLDERS_STALE : HOLDERS_UNKNOWN;
}

/* What judging a bind found (doc/design.md "What happens on bind", step 3). */
/* The cached namespace key can be stale (a raw setns syscall): judged under it, a holder
 * in another namespace would look gone to our kernel and be reaped. The socket's own
 * cookie settles it; only denials pay for reading it. true if the key was corrected. */
static bool key_corrected(int fd, struct table_entry *want)
{
    uint64_t here = fd >= 0 ? kernel_netns_cookie(fd) : 0;
    if (!here || here == want->netns)
        return false;
    want->netns = here;
    return true;
}

/* Collect the deniers under the lock, confirm them outside it; repeat without the stale
 * ones, since a reaped entry may have hidden a milder one. */
enum judgement judge_port(struct table *t, int fd, struct table_entry *want,
                          struct denier *denier)
{
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (!budget_lock(t))
            return JUDGED_NO_LOCK;
        struct denier d[MAX_DENIERS];
        int n = collect_deniers(t, want, d, MAX_DENIERS);
        if (n <= 0)
            return n == 0 ? JUDGED_CLEAR : JUDGED_CORRUPT;
        table_unlock(t);
        if (key_corrected(fd, want))
            continue;

        /* The kernel, not the table, has the last word on every denial. */
        int which;
        switch (confirm_all(t, d, n, want, &which)) {
        case HOLDER_CONFIRMED:
            *denier = d[which];
            return JUDGED_DENIED;
        case HOLDERS_UNKNOWN:
            return JUDGED_UNKNOWN;
        case HOLDERS_STALE:
            break;  /* judge again without them */
        }
    }
    return JUDGED_CHURN;
}

static void abandon(void *t)
{
    table_abandon(t);
}

void judge_table_faulted(struct table *t)
{
    fault_call(abandon, t);
    log_once(LOG_TOPIC_TABLE_CORRUPT, "port table %s shrank under us (truncated?); binds go "
             "to the kernel unjudged from now on", table_path(t));
}
