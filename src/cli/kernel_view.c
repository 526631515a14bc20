/* kernel_view - the kernel backend's bindings for `list` and `check`: the same rows and
 * the same verdicts as the port table's, from the pinned map (kernel_backend.h). Both are
 * silent when the backend is not pinned here: it is then simply not in use. */
#include "kernel_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

struct view {
    const struct bg_profile *profile;
    const struct table_entry *want;
    struct guard_refusal *ref;
    int worst;               /* rules_severity of the most severe, 0: none */
    struct cli_entry *rows;
    size_t n, cap;
};

/* A binding of the backend as the table would hold it. */
static void entry_of(const struct kernel_binding *k, struct table_entry *e)
{
    memset(e, 0, sizeof *e);
    e->addr = k->b.addr;
    e->uid = k->b.uid;
    e->cls = k->b.cls;
    e->proto = k->proto;
    e->pid = k->pid;
    e->netns = k->netns;
    e->since = k->since;
    snprintf(e->comm, sizeof e->comm, "%.*s", TABLE_COMM_LEN - 1, k->comm);
}

static void judge_one(const struct kernel_binding *k, void *arg)
{
    struct view *v = arg;
    if (k->netns != v->want->netns || k->proto != v->want->proto)
        return;
    struct bg_binding w = { .addr = v->want->addr, .uid = v->want->uid, .cls = v->want->cls };
    enum bg_verdict verdict = rules_resolve_check(rules_judge(v->profile->rules, &k->b, &w),
                                                  false);
    if (rules_severity(verdict) <= v->worst)
        return;
    v->worst = rules_severity(verdict);
    struct guard_refusal *r = v->ref;
    memset(r, 0, sizeof *r);
    r->verdict = verdict;
    entry_of(k, &r->held);
    r->holder.pid = k->pid;
    memcpy(r->holder.comm, r->held.comm, sizeof r->holder.comm);
}

/* The line a kernel refusal reads as (cf. kernel_bpf.c's log lines). */
static void word(struct guard_refusal *r, const struct table_entry *want,
                 const struct bg_profile *p)
{
    char want_s[64], held_s[64], first[40], second[40], comm[TABLE_COMM_LEN + 1];
    address_format(&want->addr, want_s, sizeof want_s);
    address_format(&r->held.addr, held_s, sizeof held_s);
    snprintf(comm, sizeof comm, "%.*s", TABLE_COMM_LEN, r->holder.comm);
    snprintf(first, sizeof first, "%s %s", policy_class_name((enum bg_class)r->held.cls),
             policy_kind_name(rules_addr_kind(&r->held.addr)));
    snprintf(second, sizeof second, "%s %s", policy_class_name((enum bg_class)want->cls),
             policy_kind_name(rules_addr_kind(&want->addr)));
    struct log_refusal l = {
        .want_addr = want_s, .proto = cli_proto_name(want->proto),
        .err = policy_errno(r->verdict),
        .held_how = r->held.cls == BG_CLASS_EXCLUSIVE   ? "exclusively"
                    : r->held.cls == BG_CLASS_REUSEADDR ? "for sharing"
                                                        : "by default",
        .pid = r->holder.pid, .comm = comm, .uid = r->held.uid, .held_addr = held_s,
        .since = r->held.since, .table = policy_table_name(p, r->held.uid == want->uid),
        .first = first, .second = second, .rule = "kernel backend",
    };
    log_format_refusal(&l, r->line, sizeof r->line);
}

int kernel_view_check(const struct table_entry *want, const struct bg_profile *p,
                      struct guard_refusal *r)
{
    char why[256];
    struct view v = { .profile = p, .want = want, .ref = r };
    if (kernel_bindings(want->addr.port, judge_one, &v, why, sizeof why) <= 0 || !v.worst)
        return 0;
    word(r, want, p);
    return 1;
}

static void add_row(const struct kernel_binding *k, void *arg)
{
    struct view *v = arg;
    if (v->n == v->cap)
        return;
    struct cli_entry *c = &v->rows[v->n++];
    memset(c, 0, sizeof *c);
    entry_of(k, &c->e);
    c->live = GUARD_LIVE;  /* sock_release removes a binding when its socket goes */
    c->kernel = true;
}

static void count_row(const struct kernel_binding *k, void *arg)
{
    (void)k;
    ++*(size_t *)arg;
}

void cli_snapshot_add_kernel(struct cli_snapshot *s, uint16_t port)
{
    char why[256];
    size_t n = 0;
    if (geteuid() != 0 || kernel_build_missing())
        return;  /* only root can read the pinned map */
    if (kernel_bindings(port, count_row, &n, why, sizeof why) <= 0)
        return;
    n += 64;  /* bindings made meanwhile */
    struct cli_entry *v = realloc(s->v, (s->n + n) * sizeof *v);
    if (!v)
        return;
    s->v = v;
    s->cap = s->n + n;
    struct view view = { .rows = v + s->n, .cap = n };
    kernel_bindings(port, add_row, &view, why, sizeof why);
    s->n += view.n;
}
