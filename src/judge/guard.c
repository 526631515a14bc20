/* guard - the liveness rule and the `check` API (guard.h). */
#include "guard.h"

#include <netinet/in.h>

#include "domains.h"
#include "fault.h"
#include "deniers.h"
#include "kernel.h"
#include "refusal.h"

static const struct bg_config *cfg;

void guard_init(const struct bg_config *c)
{
    cfg = c;
}

const struct bg_config *guard_config(void)
{
    return cfg;
}

enum guard_liveness guard_liveness(const struct table_entry *e)
{
    if (e->flags & TABLE_F_LINGER) {
        enum kernel_answer c = kernel_has_connections(&e->addr, e->uid);
        return c == KERNEL_ALIVE ? GUARD_LINGERING : c == KERNEL_GONE ? GUARD_STALE
                                                                       : GUARD_UNKNOWN;
    }
    bool bound_only = e->proto == IPPROTO_TCP;  /* a shut-down listener is bound-only again */
    enum kernel_answer a = kernel_confirm(e->proto, &e->addr, e->inode, e->uid, bound_only);
    if (a != KERNEL_GONE)
        return a == KERNEL_ALIVE ? GUARD_LIVE : GUARD_UNKNOWN;
    const unsigned served = TABLE_F_EXPLICIT | TABLE_F_ACCEPTED;
    if (e->proto == IPPROTO_TCP && (e->flags & served) == served &&
        kernel_has_connections(&e->addr, e->uid) == KERNEL_ALIVE)
        return GUARD_LINGERING;
    return GUARD_STALE;
}

/* One `bindguard check`: judged like a bind, nothing bound or recorded. */
struct check_call {
    struct table *t;
    const struct table_entry *want;
    struct guard_refusal *out;
    int result;
};

/* The answer "refused by d", with the holder named as a refusal in the log names it. */
static void refused(struct check_call *c, const struct denier *d)
{
    c->out->held = d->e;
    c->out->verdict = d->verdict;
    holder_find(&d->e, &c->out->holder);  /* the CLI holds no socket of its own */
    refusal_format(c->want, d, false, &c->out->holder, c->out->line, sizeof c->out->line);
    c->result = 1;
}

/* The other users' tables, after our own let want through (or there is none). */
static void check_other_domains(struct check_call *c, const struct table_entry *want)
{
    struct domains_result r;
    c->result = 0;
    if (domains_judge(cfg->table, c->t, want, 0, judge_one, 0, &r) != DOMAINS_DENIED)
        return;
    refused(c, &(struct denier){ r.denier, TABLE_NO_INDEX, r.verdict });
}

static void judged_check(void *arg)
{
    struct check_call *c = arg;
    struct denier d;
    struct table_entry want = *c->want;
    switch (judge_port(c->t, -1, &want, &d)) {
    case JUDGED_CLEAR:
        table_unlock(c->t);
        check_other_domains(c, &want);
        return;
    case JUDGED_CORRUPT:
        table_unlock(c->t);
        c->result = -1;
        return;
    case JUDGED_NO_LOCK:
        c->result = -1;
        return;
    case JUDGED_DENIED:
        refused(c, &d);
        return;
    case JUDGED_UNKNOWN:
    case JUDGED_CHURN:
        c->result = 0;  /* a bind would go to the kernel: bindguard refuses nothing */
        return;
    }
}

int guard_check(struct table *t, const struct table_entry *want, struct guard_refusal *r)
{
    struct check_call c = { t, want, r, -1 };
    if (!t) {
        check_other_domains(&c, want);
        return c.result;
    }
    if (!fault_call(judged_check, &c)) {
        judge_table_faulted(t);
        return -1;
    }
    return c.result;
}
