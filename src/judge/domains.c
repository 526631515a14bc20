/* domains - see domains.h. */
#include "domains.h"

#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include "foreign.h"
#include "kernel.h"
#include "log.h"
#include "refuted.h"
#include "rules/rules.h"

#define WAIT_STEP_NS 100000L   /* re-read an awaited intent every 0.1 ms */

int64_t domains_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Readers look for new tables at most every FOREIGN_DIR_CHECK_MS, so an intent in a table
 * that appeared less than FOREIGN_VISIBLE_MS ago may go unseen by a racer: the first intent
 * put in a new table waits until the table is visible to all (once per table per process;
 * under own's lock, which serializes the statics). */
static void wait_visible(struct table *own)
{
    static uint64_t seen_dev, seen_ino;
    uint64_t dev, ino;
    table_file_id(own, &dev, &ino);
    if (dev == seen_dev && ino == seen_ino)
        return;
    seen_dev = dev;
    seen_ino = ino;
    struct stat st;
    struct timespec now;
    if (stat(table_path(own), &st) != 0 || (uint64_t)st.st_dev != dev ||
        (uint64_t)st.st_ino != ino || clock_gettime(CLOCK_REALTIME, &now) != 0)
        return;
    /* Its ctime: when it was linked into place under its name (table_open). */
    int64_t age = (int64_t)(now.tv_sec - st.st_ctim.tv_sec) * 1000000000LL +
                  (now.tv_nsec - st.st_ctim.tv_nsec);
    int64_t need = FOREIGN_VISIBLE_MS * 1000000LL - age;
    if (need > 0 && need <= FOREIGN_VISIBLE_MS * 1000000LL) {
        struct timespec d = { 0, (long)need };
        nanosleep(&d, NULL);
    }
}

bool domains_publish(struct table *own, const struct table_entry *want, uint32_t *idx,
                     uint64_t *id, int64_t *stamp)
{
    wait_visible(own);
    struct table_entry e = *want;
    e.flags |= TABLE_F_PENDING;
    e.intent_ns = 0;   /* "choosing": readers wait for the stamp (doc/design.md) */
    if (table_claim(own, &e, idx) != 0)
        return false;
    const struct table_entry *in = table_slot_entry(own, *idx);
    if (!in)
        return false;
    *id = in->id;
    /* Stamped only once the entry is visible (table_claim's summary update is sequentially
     * consistent): a racer that missed it read before this stamp, so its own stamp is
     * earlier and it is the one we wait for. */
    *stamp = domains_now_ns();
    table_set_intent(own, *idx, *id, *stamp);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return true;
}

/* Does the foreign intent e go before ours? A stamp of 0 is still being chosen. */
static bool earlier(const struct table_entry *e, const struct table_entry *want, int64_t stamp)
{
    if (stamp == 0 || e->intent_ns == 0)
        return true;
    return e->intent_ns < stamp || (e->intent_ns == stamp && e->uid < want->uid);
}

/* Where a candidate was read: its table's file and slot. */
struct where {
    uint64_t dev, ino;
    uint32_t idx;
};

/* One table's part in this bind: struck (once) when it showed false claims. */
struct reading {
    struct where at;
    int ti;
    bool lied;
};

struct judging {
    const struct table_entry *want;
    int64_t stamp, now, wait_ns;
    domains_judge_fn judge;
    int64_t deadline;
    struct table_entry cand[DOMAINS_MAX_CONFIRM];
    enum bg_verdict verdict[DOMAINS_MAX_CONFIRM];
    struct where at[DOMAINS_MAX_CONFIRM];
    int n;
    bool waited_out;
};

static void keep(struct judging *j, const struct table_entry *e, enum bg_verdict v,
                 const struct where *w)
{
    int at = j->n < DOMAINS_MAX_CONFIRM ? j->n++ : DOMAINS_MAX_CONFIRM;
    while (at > 0 && rules_more_severe(v, j->verdict[at - 1])) {
        if (at < DOMAINS_MAX_CONFIRM) {
            j->cand[at] = j->cand[at - 1];
            j->verdict[at] = j->verdict[at - 1];
            j->at[at] = j->at[at - 1];
        }
        at--;
    }
    if (at < DOMAINS_MAX_CONFIRM) {
        j->cand[at] = *e;
        j->verdict[at] = v;
        j->at[at] = *w;
    }
}

/* An earlier conflicting intent: wait (within the bind's one bound) until it is bound,
 * gone, or restamped later than ours. true and *e when it is now a bound entry. */
static bool await_intent(struct judging *j, struct reading *r, struct table_entry *e)
{
    while (domains_now_ns() < j->deadline) {
        struct timespec step = { 0, WAIT_STEP_NS };
        nanosleep(&step, NULL);
        if (!foreign_reread(r->ti, r->at.idx, e->id, e))
            return false;
        if (!(e->flags & TABLE_F_PENDING))
            return true;
        if (!earlier(e, j->want, j->stamp))
            return false;
    }
    j->waited_out = true;
    r->lied |= j->wait_ns > 0;   /* not when nothing was waited for (`check`, wait 0) */
    return false;
}

/* A pending foreign intent that decides nothing for us: later than ours, or stamped longer
 * ago than the wait bound (a real binder holds one for microseconds; one older would be
 * waited out anyway, and its table is struck for it), or gone by the time it is awaited. */
static bool intent_passes(struct judging *j, struct reading *r, struct table_entry *e)
{
    if (!earlier(e, j->want, j->stamp))
        return true;
    if (e->intent_ns != 0 && j->now - e->intent_ns > j->wait_ns) {
        r->lied |= j->wait_ns > 0;
        return true;
    }
    return !await_intent(j, r, e);
}

/* Strike table (dev, ino) of uid's; the strike that discredits it is logged (once). */
static void strike(uint64_t dev, uint64_t ino, uint32_t uid, int64_t now)
{
    if (refuted_strike(dev, ino, now))
        log_once(LOG_TOPIC_DOMAINS, "uid %u's port table made false claims (refuted, stale "
                 "intents, churn) more than %d times within %d ms; it is not read for the rest of that time (only uid %u's "
                 "sockets lose bindguard's protection)", (unsigned)uid, REFUTED_STRIKES,
                 REFUTED_WINDOW_MS, (unsigned)uid);
}

static void judge_table(struct judging *j, int ti)
{
    const struct table_entry *want = j->want;
    struct reading r = { .ti = ti };
    foreign_id(ti, &r.at.dev, &r.at.ino);
    if (refuted_discredited(r.at.dev, r.at.ino, j->now))
        return;
    struct table_entry hits[DOMAINS_MAX_HITS];
    uint32_t idx[DOMAINS_MAX_HITS];
    int n = foreign_find(ti, want->netns, want->proto, want->addr.port, hits, idx,
                         DOMAINS_MAX_HITS);
    int before = j->n;
    bool pending = false;
    for (int i = 0; i < n; i++) {
        struct table_entry *e = &hits[i];
        r.at.idx = idx[i];
        /* Not judged: the listener is gone, and the kernel can confirm its connections
         * but not the address or class it was bound with (domains.h). */
        if ((e->flags & TABLE_F_LINGER) || j->judge(e, want) == BG_SUCCESS)
            continue;
        pending |= (e->flags & TABLE_F_PENDING) != 0;
        if ((e->flags & TABLE_F_PENDING) && intent_passes(j, &r, e))
            continue;
        enum bg_verdict v = j->judge(e, want);
        if (v != BG_SUCCESS && !(e->flags & TABLE_F_LINGER) &&
            !refuted_known(r.at.dev, r.at.ino, r.at.idx, e))
            keep(j, e, v, &r.at);
    }
    /* Entries that decide nothing, rewritten between our reads: a walk each time. */
    if (foreign_churned() && n > 0 && j->n == before && !pending)
        r.lied = true;
    if (r.lied)
        strike(r.at.dev, r.at.ino, foreign_owner(ti), j->now);
}

/* After the kernel's answers, back under the set's lock: remember what it refuted, and
 * strike each table that claimed it (once per table per bind). */
static void remember_refuted(const struct judging *j, const struct kernel_claim *claims,
                             const char *prefix, uint64_t dev, uint64_t ino)
{
    foreign_begin(prefix, dev, ino);
    for (int i = 0; i < j->n; i++) {
        if (claims[i].answer != KERNEL_GONE)
            continue;
        refuted_add(j->at[i].dev, j->at[i].ino, j->at[i].idx, &j->cand[i]);
        bool first = true;
        for (int k = 0; k < i; k++)
            first &= claims[k].answer != KERNEL_GONE || j->at[k].dev != j->at[i].dev ||
                     j->at[k].ino != j->at[i].ino;
        if (first)
            strike(j->at[i].dev, j->at[i].ino, j->cand[i].uid, j->now);
    }
    foreign_end();
}

enum domains_answer domains_judge(const char *prefix, struct table *own,
                                  const struct table_entry *want, int64_t stamp,
                                  domains_judge_fn judge, unsigned wait_ms,
                                  struct domains_result *out)
{
    int64_t now = domains_now_ns();
    struct judging j = { .want = want, .stamp = stamp, .judge = judge, .now = now,
                         .wait_ns = (int64_t)wait_ms * 1000000LL,
                         .deadline = now + (int64_t)wait_ms * 1000000LL };
    uint64_t dev = 0, ino = 0;
    if (own)
        table_file_id(own, &dev, &ino);
    int n = foreign_begin(prefix, dev, ino);
    for (int ti = 0; ti < n; ti++)
        judge_table(&j, ti);
    if (foreign_stale()) {   /* the host closed or reused a descriptor: list, judge again */
        foreign_end();
        j.n = 0;
        n = foreign_begin(prefix, dev, ino);
        for (int ti = 0; ti < n; ti++)
            judge_table(&j, ti);
    }
    memset(out, 0, sizeof *out);
    out->overflow = foreign_overflow();
    out->waited_out = j.waited_out;
    foreign_end();

    /* Outside the set's lock: the kernel, not the table, has the last word. All claims at
     * once, so that many false ones cost no more than one. */
    struct kernel_claim claims[DOMAINS_MAX_CONFIRM];
    for (int i = 0; i < j.n; i++)
        claims[i] = (struct kernel_claim){ .addr = j.cand[i].addr, .inode = j.cand[i].inode,
                                           .uid = j.cand[i].uid,
                                           .listening = (j.cand[i].flags & TABLE_F_LISTENING) != 0 };
    if (j.n)
        kernel_confirm_claims(want->proto, claims, (size_t)j.n);
    bool unknown = false, gone = false;
    for (int i = 0; i < j.n; i++) {   /* most severe first */
        if (claims[i].answer == KERNEL_ALIVE) {
            out->denier = j.cand[i];
            out->verdict = j.verdict[i];
            return DOMAINS_DENIED;
        }
        unknown |= claims[i].answer == KERNEL_UNKNOWN;
        gone |= claims[i].answer == KERNEL_GONE;
    }
    if (gone)
        remember_refuted(&j, claims, prefix, dev, ino);
    return unknown ? DOMAINS_UNKNOWN : DOMAINS_CLEAR;
}
