#include "checker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool check_failed(struct check *k, int op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
    k->at = op;
    return false;
}

/* The parts of a refusal line: "bind W/P refused (E): held ... on H since T [TABLE, C1 K1
 * vs C2 K2]". Fields point into buf. */
struct refusal {
    char buf[512];
    const char *want, *proto, *err, *held, *table, *c1, *k1, *c2, *k2;
    bool across_stacks;   /* the cell's verdict became ACCESS across stacks */
};

static bool parse_refusal(const char *line, struct refusal *r)
{
    snprintf(r->buf, sizeof r->buf, "%s", line);
    char *b = r->buf;
    char *want = strstr(b, "bind "), *refused = strstr(b, " refused (");
    char *on = strstr(b, ") on "), *bra = strrchr(b, '[');
    if (!want || !refused || !bra)
        return false;
    /* The holder part may be "(comm, uid N) on ..." or, with neither known, "pid N on". */
    on = on ? on + 5 : strstr(b, " on ") ? strstr(b, " on ") + 4 : NULL;
    if (!on)
        return false;
    *refused = '\0';
    char *slash = strrchr(want, '/');
    if (!slash)
        return false;
    *slash = '\0';
    r->want = want + 5;
    r->proto = slash + 1;
    r->err = refused + 10;
    char *close_paren = strchr(r->err, ')');
    if (!close_paren)
        return false;
    *close_paren = '\0';
    r->held = on;
    char *end = strstr(on, " since ");
    if (!end)
        end = strstr(on, " [");
    if (!end)
        return false;
    *end = '\0';
    char *ket = strchr(bra, ']'), *comma = strstr(bra, ", "), *vs = strstr(bra, " vs ");
    if (!ket || !comma || !vs)
        return false;
    *ket = *comma = *vs = '\0';
    r->table = bra + 1;
    char *sp1 = strchr(comma + 2, ' '), *sp2 = strchr(vs + 4, ' ');
    if (!sp1 || !sp2)
        return false;
    *sp1 = *sp2 = '\0';
    char *rule = strstr(sp2 + 1, ", ");
    r->across_stacks = rule && strcmp(rule, ", across stacks") == 0;
    if (rule)
        *rule = '\0';
    r->c1 = comma + 2;
    r->k1 = sp1 + 1;
    r->c2 = vs + 4;
    r->k2 = sp2 + 1;
    return true;
}

/* An address in a log line, as the model's port numbering has it. */
static bool range_addr(const struct check *k, const char *s, struct bg_addr *a)
{
    if (address_parse(s, a) != 0)
        return false;
    for (int i = 0; i < k->c->cfg.nports; i++)
        if (a->port == k->ports[i]) {
            a->port = (uint16_t)(i + 1);
            return true;
        }
    return false;
}

static bool same_binding(const struct bg_addr *a, const struct bg_addr *b)
{
    return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

/* The refusal line must explain the refusal: its cell gives this errno, its second side
 * is the socket binding now, its first a binding the model knows denies it this much. */
static bool check_refusal(struct check *k, int i, const char *log, const struct model_obj *o,
                          const struct bg_addr *want, enum bg_class cls,
                          const struct model_denial *d)
{
    struct refusal r;
    if (!log || strchr(log, '\n') || !parse_refusal(log, &r))
        return check_failed(k, i, "want exactly one refusal line, the log says: %s",
                            log ? log : "nothing");
    char table[64];
    snprintf(table, sizeof table, "%s", r.table);
    char *sp = strchr(table, ' ');
    if (sp)
        *sp = '\0';
    const struct bg_profile *p = policy_profile(table);
    int c1 = policy_class_parse(r.c1), k1 = policy_kind_parse(r.k1);
    int c2 = policy_class_parse(r.c2), k2 = policy_kind_parse(r.k2);
    if (!p || p->rules != k->m.profile->rules || c1 < 0 || k1 < 0 || c2 < 0 || k2 < 0)
        return check_failed(k, i, "refusal names no policy cell of profile %s: %s",
                            k->c->cfg.profile, log);
    /* Only ws2003's tables tell users apart, and then it must say same-user. */
    bool same_user = !sp || strcmp(sp + 1, "same-user") == 0;
    /* A CHECK cell is decided by the share list, on which no case puts anybody. */
    enum bg_verdict v = rules_resolve_check(
        policy_verdict(p, same_user, (struct bg_side){c1, k1}, (struct bg_side){c2, k2}), false);
    if (r.across_stacks)
        v = BG_ACCESS;
    int err = policy_errno(v);
    const char *err_name = err ? strerrorname_np(err) : "none";
    if (!same_user || strcmp(err_name, r.err) != 0 || policy_errno(d->v) != err)
        return check_failed(k, i, "the cell [%s, %s %s vs %s %s] is %s (%s), the refusal says "
                            "%s and the model %s", r.table, r.c1, r.k1, r.c2, r.k2,
                            policy_verdict_name(v), err_name, r.err, policy_verdict_name(d->v));
    struct bg_addr w, h;
    if (!range_addr(k, r.want, &w) || !same_binding(&w, want) ||
        strcmp(r.proto, o->proto == IPPROTO_TCP ? "tcp" : "udp") != 0)
        return check_failed(k, i, "refusal names %s/%s for this bind", r.want, r.proto);
    if (c2 != (int)cls || k2 != (int)rules_addr_kind(want))
        return check_failed(k, i, "refusal says the binding socket is %s %s, the model %s %s",
                            r.c2, r.k2, policy_class_name(cls),
                            policy_kind_name(rules_addr_kind(want)));
    if (!range_addr(k, r.held, &h))
        return check_failed(k, i, "refusal names holder address '%s' outside the range", r.held);
    for (int j = 0; j < d->n; j++)
        if (same_binding(&d->by[j]->addr, &h) && (int)d->by[j]->cls == c1 &&
            (int)rules_addr_kind(&d->by[j]->addr) == k1 && !rules_more_severe(d->v, d->each[j]))
            return true;
    return check_failed(k, i, "refusal names holder %s (%s %s), no such binding denies this "
                        "bind", r.held, r.c1, r.k1);
}

/* One op of the enforcing run against native and the model. */
static bool check_enforce_op(struct check *k, int i, const char *nat, const char *enf,
                             const char *log, int entries)
{
    struct model *m = &k->m;
    const struct op *op = &k->c->ops[i];
    bool has_fd = op->kind != OP_SOCKET;
    struct model_obj *o = has_fd ? model_fd(m, op->fd) : NULL;
    bool was_tainted = model_tainted(m, o, op);
    char want[128];
    struct bg_addr addr;
    const struct bg_addr *bound = NULL;

    if (model_opt_answer(m, op, o, want, sizeof want)) {
        if (strcmp(enf, want) != 0)
            return check_failed(k, i, "bindguard answered '%s', want '%s'", enf, want);
        if (log)
            return check_failed(k, i, "logged for an option: %s", log);
    } else if (op->kind == OP_BIND && o && o->kind == OBJ_INET && !o->kbound &&
               model_kernel_takes(o, op, &addr)) {
        bound = &addr;
        enum bg_class cls = model_class(m, o);
        struct model_denial d = {.v = BG_SUCCESS};
        if (addr.port != 0)
            model_judge(m, o, &addr, cls, o->proto, &d);
        if (addr.port != 0 && d.v != BG_SUCCESS) {
            const char *err = strerrorname_np(policy_errno(d.v));
            int w = 0;
            while (d.each[w] != d.v)
                w++;
            if (strcmp(enf, err) != 0 || !log)
                return check_failed(k, i, "bindguard must refuse this bind with %s: the %s %s "
                                    "binding made at op %d holds the port; got '%s'%s", err,
                                    policy_class_name(d.by[w]->cls),
                                    policy_kind_name(rules_addr_kind(&d.by[w]->addr)),
                                    d.by[w]->bound_at, enf, log ? "" : " and nothing logged");
            if (!check_refusal(k, i, log, o, &addr, cls, &d))
                return false;
        } else if (log) {
            return check_failed(k, i, "no binding the model knows denies this bind, yet: %s",
                                log);
        } else if (!was_tainted && strcmp(enf, nat) != 0) {
            return check_failed(k, i, "enforce '%s', native '%s': bindguard must leave this "
                                "bind to the kernel", enf, nat);
        }
    } else if (log) {
        return check_failed(k, i, "bindguard logged for a call it does not judge: %s", log);
    } else if (!was_tainted && strcmp(enf, nat) != 0) {
        return check_failed(k, i, "enforce '%s', native '%s': a difference bindguard has no "
                            "reason for", enf, nat);
    }
    /* SO_EXCLUSIVEADDRUSE exists only for bindguard: native's ENOPROTOOPT changes no socket. */
    if (strcmp(enf, nat) != 0 && !((op->kind == OP_SETOPT || op->kind == OP_GETOPT) &&
                                   model_exclusive_opt(op)))
        model_taint(m, o, op);
    if (op->kind == OP_BIND && op->port >= 0 && o) {
        o->ports |= 1u << op->port;
        if (o->tainted)
            m->port_taint |= 1u << op->port;
    }
    model_apply(m, i, op, o, enf, bound);
    int held = 0;
    for (int j = 0; j < m->n_obj; j++)
        held += m->obj[j].entry;
    if (entries != held)
        return check_failed(k, i, "bindguard holds %d binding(s) after this, the model %d",
                            entries, held);
    return true;
}

bool check_case(struct check *k, struct transcript t[N_MODES], struct totals *tot)
{
    const struct fuzz_case *c = k->c;
    k->at = -1;
    for (int m = 0; m < N_MODES; m++) {
        if (t[m].status != 0 || t[m].stderr_text[0])
            return check_failed(k, -1, "%s run: exit %d, stderr: %s", mode_names[m],
                                t[m].status, t[m].stderr_text);
        for (int i = 0; i < c->n; i++)
            if (!t[m].res[i])
                return check_failed(k, i, "%s run printed no line for op %d", mode_names[m], i);
    }
    if (t[MODE_OFF].nlog || t[MODE_NATIVE].nlog)
        return check_failed(k, -1, "BINDGUARD_MODE=off logged");
    if (t[MODE_ENFORCE].log_first)
        return check_failed(k, -1, "logged before any call: %s", t[MODE_ENFORCE].log_first);
    for (int i = 0; i < c->n; i++)
        if (strcmp(t[MODE_OFF].res[i], t[MODE_NATIVE].res[i]) != 0)
            return check_failed(k, i, "off '%s', native '%s'", t[MODE_OFF].res[i],
                                t[MODE_NATIVE].res[i]);
    model_init(&k->m, &c->cfg);
    for (int i = 0; i < c->n; i++) {
        if (!check_enforce_op(k, i, t[MODE_NATIVE].res[i], t[MODE_ENFORCE].res[i],
                              t[MODE_ENFORCE].log[i], t[MODE_ENFORCE].entries[i]))
            return false;
        tot->refusals += t[MODE_ENFORCE].log[i] != NULL;
        tot->differences += strcmp(t[MODE_ENFORCE].res[i], t[MODE_NATIVE].res[i]) != 0;
    }
    return true;
}

void check_report(const struct check *k, struct transcript t[N_MODES])
{
    fprintf(stderr, "\n=== test_fuzz: case seed 0x%016" PRIx64 " (BINDGUARD_PROFILE=%s, "
            "BINDGUARD_DEFAULT=%s, BINDGUARD_REUSEADDR=%s, %d ports) failed at op %d:\n    %s\n",
            k->c->seed, k->c->cfg.profile, k->c->cfg.windows_default ? "windows" : "exclusive",
            k->c->cfg.windows_reuseaddr ? "windows" : "linux", k->c->cfg.nports, k->at, k->why);
    fprintf(stderr, "reproduce: BG_FUZZ_SEED=0x%016" PRIx64
            " BG_FUZZ_CASES=1 meson test test_fuzz\n", k->c->seed);
    for (int m = 0; m < N_MODES; m++)
        if (m != MODE_OFF || (k->at >= 0 && strstr(k->why, "off '")))
            fprintf(stderr, "--- %s transcript:\n%s", mode_names[m], t[m].text);
    for (int m = 0; m < N_MODES; m++)
        if (t[m].stderr_text[0])
            fprintf(stderr, "--- %s stderr:\n%s", mode_names[m], t[m].stderr_text);
}
