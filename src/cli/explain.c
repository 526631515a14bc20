/* explain - one pair of binds, judged cell by cell, beside what Linux itself does.
 *
 * It judges the way guard.c's judge_one does: bindings that don't overlap never
 * conflict; otherwise the policy's cell decides. */
#include "cli.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "rules/judge.h"

/* ---- explain ----------------------------------------------------------------------- */

struct side {
    enum bg_class cls;
    struct bg_addr addr;
    uint8_t proto;
    char text[64];    /* the address as bindguard prints it */
};

/* "[CLASS:]ADDR:PORT[/PROTO]" */
static bool parse_side(const char *s, enum bg_class fallback, struct side *out)
{
    const char *colon = strchr(s, ':');
    char cls[16];
    int c = -1;
    if (colon && (size_t)(colon - s) < sizeof cls) {
        snprintf(cls, sizeof cls, "%.*s", (int)(colon - s), s);
        c = policy_class_parse(cls);
    }
    out->cls = c >= 0 ? (enum bg_class)c : fallback;
    if (!cli_parse_endpoint(c >= 0 ? colon + 1 : s, &out->addr, &out->proto))
        return false;
    address_format(&out->addr, out->text, sizeof out->text);
    return true;
}

struct explanation {
    bool overlap;
    struct bg_side first, second;
    enum bg_verdict verdict;
    int err;
    char cell[400];   /* the seed cell, or why no cell applies */
};

/* The cell is the seed table's; the rule book may still change the answer (an IPv4
 * bind refused by an exclusive dual-stack wildcard gets ACCESS): say so after it. */
static void judge_across_stacks(const struct bg_profile *p, bool same_user,
                                const struct side *a, const struct side *b,
                                struct explanation *x)
{
    struct bg_binding held = { .addr = a->addr, .uid = 0, .cls = (uint8_t)a->cls };
    struct bg_binding want = { .addr = b->addr, .uid = same_user ? 0 : 1, .cls = (uint8_t)b->cls };
    enum bg_verdict judged = rules_judge(p->rules, &held, &want);
    if (judged == x->verdict)
        return;
    size_t n = strlen(x->cell);
    snprintf(x->cell + n, sizeof x->cell - n,
             "; across stacks -> %s (an exclusive dual-stack wildcard holds the IPv4 side)",
             policy_verdict_name(judged));
    x->verdict = judged;
}

static void explain_pair(const struct bg_profile *p, bool same_user, const struct side *a,
                         const struct side *b, struct explanation *x)
{
    x->first = (struct bg_side){ a->cls, rules_addr_kind(&a->addr) };
    x->second = (struct bg_side){ b->cls, rules_addr_kind(&b->addr) };
    x->overlap = a->proto == b->proto && a->addr.port == b->addr.port &&
                 rules_overlap(&a->addr, a->cls == BG_CLASS_EXCLUSIVE, &b->addr);
    bool both_specific = x->first.kind == BG_SPECIFIC && x->second.kind == BG_SPECIFIC;
    if (x->overlap || (both_specific && a->proto == b->proto && a->addr.port == b->addr.port)) {
        if (!x->overlap)
            x->second.kind = BG_SPECIFIC2;
        x->verdict = policy_verdict(p, same_user, x->first, x->second);
        policy_describe(p, same_user, x->first, x->second, x->cell, sizeof x->cell);
        if (x->overlap)
            judge_across_stacks(p, same_user, a, b, x);
    } else {
        x->verdict = BG_SUCCESS;
        snprintf(x->cell, sizeof x->cell, "%s",
                 a->proto != b->proto     ? "no cell: different protocols never conflict"
                 : a->addr.port != b->addr.port ? "no cell: different ports never conflict"
                                          : "no cell: the first binding does not hold the "
                                            "second's IP stack (doc/design.md \"Dual stack\")");
    }
    /* wsk CHECK: the first socket's share list decides; by default nobody is on it. */
    x->err = policy_errno(rules_resolve_check(x->verdict, false));
}

/* ---- what Linux does with the pair -------------------------------------------------- */

/* One mode's outcome for the second bind. */
struct mode_outcome {
    int kernel_err;   /* the kernel alone: 0, or its errno */
    int err;          /* under bindguard: bindguard's errno first, else the kernel's */
};

struct linux_answer {
    bool probed;
    char why_not[160];   /* not probed: why */
    struct mode_outcome guard, emulate;
};

/* What the second bind gets in each mode: bindguard's verdict first, then the kernel's
 * answer to the pair bound for real (probe.c). */
static void probe_linux(const struct bg_config *cfg, bool same_user, const struct side *a,
                        const struct side *b, const struct explanation *x,
                        struct linux_answer *l)
{
    struct probe_side pa = { a->addr, a->cls, a->proto }, pb = { b->addr, b->cls, b->proto };
    struct probe_pair_answer r;
    memset(l, 0, sizeof *l);
    probe_pair_on_loopback(cfg, &pa, &pb, same_user, &r);
    snprintf(l->why_not, sizeof l->why_not, "%s", r.why_not);
    l->probed = r.probed;
    struct mode_outcome *modes[2] = { &l->guard, &l->emulate };
    for (int m = 0; m < 2 && l->probed; m++) {
        modes[m]->kernel_err = r.kernel_err[m];
        modes[m]->err = x->err ? x->err : r.kernel_err[m];
    }
}

static void say_outcome(const struct mode_outcome *m, bool windows_refuses, char *buf,
                        size_t len)
{
    if (windows_refuses)
        snprintf(buf, len, "refused by bindguard (%s), %s%s%s", cli_errno_name(m->err),
                 m->kernel_err ? "as by the kernel alone (" : "which the kernel alone allows",
                 m->kernel_err ? cli_errno_name(m->kernel_err) : "", m->kernel_err ? ")" : "");
    else if (m->kernel_err)
        snprintf(buf, len, "refused by the kernel (%s), though Windows allows it",
                 cli_errno_name(m->kernel_err));
    else
        snprintf(buf, len, "succeeds");
}

static void json_outcome(struct json *j, const char *key, const struct mode_outcome *m,
                         bool windows_refuses)
{
    json_object_begin(j, key);
    json_string(j, "errno", m->err ? cli_errno_name(m->err) : NULL);
    json_string(j, "refused_by", windows_refuses ? "bindguard" : m->kernel_err ? "kernel" : NULL);
    json_string(j, "kernel_errno", m->kernel_err ? cli_errno_name(m->kernel_err) : NULL);
    json_object_end(j);
}

static void json_linux(struct json *j, const struct linux_answer *l, bool windows_refuses)
{
    json_object_begin(j, "linux");
    json_bool(j, "probed", l->probed);
    if (l->probed) {
        json_outcome(j, "guard", &l->guard, windows_refuses);
        json_outcome(j, "emulate", &l->emulate, windows_refuses);
    } else {
        json_string(j, "why_not", l->why_not);
    }
    json_object_end(j);
}

static void json_side(struct json *j, const char *key, const struct side *s, enum bg_kind k)
{
    json_object_begin(j, key);
    json_string(j, "class", policy_class_name(s->cls));
    json_string(j, "address", s->text);
    json_string(j, "proto", cli_proto_name(s->proto));
    json_string(j, "kind", policy_kind_name(k));
    json_object_end(j);
}

static void print_explanation(const struct bg_profile *p, bool same_user, bool as_json,
                              const struct side *a, const struct side *b,
                              const struct explanation *x, const struct linux_answer *l)
{
    const char *check_note = x->verdict == BG_CHECK
        ? " (CHECK: allowed only if the second uid is on the first socket's share list, "
          "BINDGUARD_SHARE_UIDS; nobody is by default)" : "";
    if (as_json) {
        struct json j;
        json_document_begin(&j, stdout);
        json_string(&j, "profile", p->name);
        json_bool(&j, "same_user", same_user);
        json_side(&j, "first", a, x->first.kind);
        json_side(&j, "second", b, x->second.kind);
        json_bool(&j, "overlap", x->overlap);
        json_string(&j, "verdict", policy_verdict_name(x->verdict));
        if (x->err)
            json_string(&j, "errno", cli_errno_name(x->err));
        else
            json_null(&j, "errno");
        json_string(&j, "cell", x->cell);
        json_linux(&j, l, x->err != 0);
        json_document_end(&j);
        return;
    }
    printf("first:   %s/%s, %s %s\n", a->text, cli_proto_name(a->proto),
           policy_class_name(a->cls), policy_kind_name(x->first.kind));
    printf("second:  %s/%s, %s %s, %s user\n", b->text, cli_proto_name(b->proto),
           policy_class_name(b->cls), policy_kind_name(x->second.kind),
           same_user ? "same" : "different");
    printf("verdict: %s (%s)%s\n", policy_verdict_name(x->verdict),
           x->err ? cli_errno_name(x->err) : "bind succeeds", check_note);
    printf("cell:    %s\n", x->cell);
    if (!l->probed) {
        printf("linux:   not probed: %s\n", l->why_not);
        return;
    }
    char guard[160], emulate[160];
    say_outcome(&l->guard, x->err != 0, guard, sizeof guard);
    say_outcome(&l->emulate, x->err != 0, emulate, sizeof emulate);
    printf("linux:   guard: %s; emulate: %s\n", guard, emulate);
}

int cli_rule_options(const struct cli_command *self, int argc, char **argv,
                     struct cli_rule_opts *o)
{
    static const struct option opts[] = {
        {"different-user", no_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        CLI_OPTION_PROFILE, CLI_OPTION_HELP, {0},
    };
    int c;
    while ((c = cli_getopt(self, argc, argv, "uj", opts)) != -1) {
        if (c == 'u')
            o->different_user = true;
        else if (c == 'j')
            o->json = true;
        else
            return cli_opt_exit(c);
    }
    return -1;
}

static int explain_main(const struct cli_command *self, int argc, char **argv)
{
    struct cli_rule_opts o = {0};
    int rc = cli_rule_options(self, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2)
        return cli_usage("give two bindings, e.g. exclusive:0.0.0.0:80/tcp "
                         "default:127.0.0.1:80/tcp");
    const struct bg_config *cfg = cli_config(false);
    if (!cfg)
        return CLI_EXIT_USAGE;
    struct side a, b;
    for (int i = 0; i < 2; i++)
        if (!parse_side(argv[optind + i], cli_unmodified_class(cfg), i ? &b : &a))
            return cli_usage("bad binding '%s' (want [CLASS:]ADDR:PORT[/PROTO], "
                             "CLASS one of default, reuseaddr, exclusive)", argv[optind + i]);
    struct explanation x;
    struct linux_answer l;
    explain_pair(cfg->profile, !o.different_user, &a, &b, &x);
    probe_linux(cfg, !o.different_user, &a, &b, &x, &l);
    print_explanation(cfg->profile, !o.different_user, o.json, &a, &b, &x, &l);
    return 0;
}

const struct cli_command cli_explain = {
    "explain", explain_main, "the verdict of a second bind after a first, and its seed cell",
    "usage: bindguard explain [--profile P] [--different-user] [--json] FIRST SECOND\n"
    "\n"
    "FIRST is bound, then SECOND binds. Each is [CLASS:]ADDR:PORT[/PROTO]: CLASS is\n"
    "default, reuseaddr or exclusive (without it, the class an unmodified program gets:\n"
    "exclusive), ADDR an IPv4 address or an IPv6 one in brackets, PROTO tcp (default) or\n"
    "udp. Prints the verdict, the errno the second bind gets, and the seed table cell the\n"
    "verdict comes from.\n"
    "\n"
    "Then what Linux does with the pair under bindguard, in guard and in emulate mode: the\n"
    "two binds are made for real, on a free port, on loopback equivalents (wildcards as\n"
    "given, a specific IPv4 address as 127.0.0.x, a specific IPv6 one as ::1), with the\n"
    "kernel options a program of each class sets (the first one listening, for TCP; the\n"
    "second as nobody with --different-user, which needs root). A pair Windows allows\n"
    "may still be refused by the kernel.\n"
    "\n"
    "  --profile P        ws2003 (default), xp, wsk, or a Windows name (see run --help)\n"
    "  --different-user   the two binds come from different users (default: the same)\n"
    "  --json             one JSON object\n"
    "\n"
    "example: bindguard explain exclusive:0.0.0.0:80/tcp default:127.0.0.1:80/tcp\n",
};
