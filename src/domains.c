/* domains - see domains.h. */
#include "domains.h"

#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "foreign.h"
#include "kernel.h"
#include "rules/rules.h"

#define WAIT_STEP_NS 100000L   /* re-read an awaited intent every 0.1 ms */
#define GONE_CACHE   16        /* per thread: foreign claims the kernel said are false */

/* A claim the kernel refuted stays refuted: its owner gives every entry a new id, so the
 * same (owner, id, inode, address) is the same false claim, not worth another dump.
 * Rewriting claims with new ids defeats this, and costs one batched dump per bind. */
struct gone {
    uint64_t id;
    uint32_t owner, inode;
    uint16_t port;
    uint8_t  proto, used;
};
static __thread struct gone gone_cache[GONE_CACHE] __attribute__((tls_model("initial-exec")));

static struct gone gone_key(const struct table_entry *e)
{
    return (struct gone){ e->id, e->uid, e->inode, e->addr.port, e->proto, 1 };
}

static struct gone *gone_slot(const struct table_entry *e)
{
    return &gone_cache[(e->id ^ e->inode ^ ((uint64_t)e->uid << 7)) % GONE_CACHE];
}

static bool known_gone(const struct table_entry *e)
{
    struct gone k = gone_key(e), *g = gone_slot(e);
    return g->used && g->id == k.id && g->owner == k.owner && g->inode == k.inode &&
           g->port == k.port && g->proto == k.proto;
}

int64_t domains_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool domains_publish(struct table *own, const struct table_entry *want, uint32_t *idx,
                     uint64_t *id, int64_t *stamp)
{
    struct table_entry e = *want;
    e.flags |= TABLE_F_PENDING;
    e.intent_ns = 0;   /* "choosing": readers wait for the stamp (doc/design.md) */
    if (table_claim(own, &e, idx) != 0)
        return false;
    const struct table_entry *in = table_at(own, *idx);
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

struct judging {
    const struct table_entry *want;
    int64_t stamp;
    domains_judge_fn judge;
    int64_t deadline;
    struct table_entry cand[DOMAINS_MAX_CONFIRM];
    enum bg_verdict verdict[DOMAINS_MAX_CONFIRM];
    int n;
    bool waited_out;
};

static void keep(struct judging *j, const struct table_entry *e, enum bg_verdict v)
{
    int at = j->n < DOMAINS_MAX_CONFIRM ? j->n++ : DOMAINS_MAX_CONFIRM;
    while (at > 0 && rules_more_severe(v, j->verdict[at - 1])) {
        if (at < DOMAINS_MAX_CONFIRM) {
            j->cand[at] = j->cand[at - 1];
            j->verdict[at] = j->verdict[at - 1];
        }
        at--;
    }
    if (at < DOMAINS_MAX_CONFIRM) {
        j->cand[at] = *e;
        j->verdict[at] = v;
    }
}

/* An earlier conflicting intent: wait (within the bind's one bound) until it is bound,
 * gone, or restamped later than ours. true and *e when it is now a bound entry. */
static bool await_intent(struct judging *j, int ti, uint32_t idx, struct table_entry *e)
{
    while (domains_now_ns() < j->deadline) {
        struct timespec step = { 0, WAIT_STEP_NS };
        nanosleep(&step, NULL);
        if (!foreign_reread(ti, idx, e->id, e))
            return false;
        if (!(e->flags & TABLE_F_PENDING))
            return true;
        if (!earlier(e, j->want, j->stamp))
            return false;
    }
    j->waited_out = true;
    return false;
}

static void judge_table(struct judging *j, int ti)
{
    const struct table_entry *want = j->want;
    struct table_entry hits[DOMAINS_MAX_HITS];
    uint32_t idx[DOMAINS_MAX_HITS];
    int n = foreign_find(ti, want->netns, want->proto, want->addr.port, hits, idx,
                         DOMAINS_MAX_HITS);
    for (int i = 0; i < n; i++) {
        struct table_entry *e = &hits[i];
        if (e->flags & TABLE_F_LINGER)
            continue;
        if (j->judge(e, want) == BG_SUCCESS)
            continue;
        if ((e->flags & TABLE_F_PENDING) &&
            (!earlier(e, want, j->stamp) || !await_intent(j, ti, idx[i], e)))
            continue;
        enum bg_verdict v = j->judge(e, want);
        if (v != BG_SUCCESS && !(e->flags & TABLE_F_LINGER) && !known_gone(e))
            keep(j, e, v);
    }
}

enum domains_answer domains_judge(const char *prefix, struct table *own,
                                  const struct table_entry *want, int64_t stamp,
                                  domains_judge_fn judge, unsigned wait_ms,
                                  struct domains_result *out)
{
    struct judging j = { .want = want, .stamp = stamp, .judge = judge,
                         .deadline = domains_now_ns() + (int64_t)wait_ms * 1000000LL };
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
    bool unknown = false;
    for (int i = 0; i < j.n; i++) {   /* most severe first */
        if (claims[i].answer == KERNEL_ALIVE) {
            out->denier = j.cand[i];
            out->verdict = j.verdict[i];
            return DOMAINS_DENIED;
        }
        unknown |= claims[i].answer == KERNEL_UNKNOWN;
    }
    for (int i = 0; i < j.n; i++)
        if (claims[i].answer == KERNEL_GONE)
            *gone_slot(&j.cand[i]) = gone_key(&j.cand[i]);
    return unknown ? DOMAINS_UNKNOWN : DOMAINS_CLEAR;
}
