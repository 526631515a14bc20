/* explain, matrix - the seed tables, cell by cell and whole.
 *
 * Both judge the way guard.c's judge_one does: bindings that don't overlap never
 * conflict; otherwise the policy's cell decides. */
#include "cli.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
                              const struct explanation *x)
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
}

/* --profile and --different-user, shared with matrix. */
struct table_opts {
    bool json, different_user;
};

static int table_options(const struct cli_command *self, int argc, char **argv,
                         struct table_opts *o)
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
    struct table_opts o = {0};
    int rc = table_options(self, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2)
        return cli_usage("explain: give two bindings, e.g. exclusive:0.0.0.0:80/tcp "
                         "default:127.0.0.1:80/tcp");
    const struct bg_config *cfg = config_get();
    struct side a, b;
    for (int i = 0; i < 2; i++)
        if (!parse_side(argv[optind + i], cli_unmodified_class(cfg), i ? &b : &a))
            return cli_usage("explain: bad binding '%s' (want [CLASS:]ADDR:PORT[/PROTO], "
                             "CLASS one of default, reuseaddr, exclusive)", argv[optind + i]);
    struct explanation x;
    explain_pair(cfg->profile, !o.different_user, &a, &b, &x);
    print_explanation(cfg->profile, !o.different_user, o.json, &a, &b, &x);
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
    "  --profile P        ws2003 (default), xp, wsk, or a Windows name (see run --help)\n"
    "  --different-user   the two binds come from different users (default: the same)\n"
    "  --json             one JSON object\n"
    "\n"
    "example: bindguard explain exclusive:0.0.0.0:80/tcp default:127.0.0.1:80/tcp\n",
};

/* ---- matrix ------------------------------------------------------------------------ */

static const char *const class_headings[] = { "Default", "SO_REUSEADDR", "SO_EXCLUSIVEADDRUSE" };

static struct bg_side cell_side(int i)
{
    return (struct bg_side){ (enum bg_class)(i / 2), i % 2 ? BG_SPECIFIC : BG_WILDCARD };
}

/* The seed a table comes from, as policy_describe() cites it. */
static void table_source(const struct bg_profile *p, bool same_user, char *buf, size_t len)
{
    char desc[320];
    policy_describe(p, same_user, cell_side(0), cell_side(0), desc, sizeof desc);
    const char *open = strchr(desc, '('), *close = strstr(desc, "): ");
    if (open && close && close > open)
        snprintf(buf, len, "%.*s", (int)(close - open - 1), open + 1);
    else
        snprintf(buf, len, "seed tables");
}

static void print_matrix(const struct bg_profile *p, bool same_user)
{
    /* WSK's seed draws the second bind as rows (seed 003); the others the first. */
    bool rows_second = p->rules == BG_RULES_WSK;
    char source[200];
    table_source(p, same_user, source, sizeof source);
    printf("%s table, %s (%s)\n", policy_table_name(p, same_user), p->platform, source);
    printf("rows: %s bind call; columns: %s bind call\n\n", rows_second ? "second" : "first",
           rows_second ? "first" : "second");
    /* Cells are left-aligned in fixed columns; the last of a line gets no padding. */
    printf("%-30s", rows_second ? "Second \\ First" : "First \\ Second");
    for (int g = 0; g < 3; g++)
        printf(g < 2 ? "%-20s" : "%s\n", class_headings[g]);
    printf("%-30s", "");
    for (int c = 0; c < 6; c++)
        printf(c < 5 ? "%-10s" : "%s\n", c % 2 ? "Specific" : "Wildcard");
    for (int r = 0; r < 6; r++) {
        printf("%-20s%-10s", r % 2 ? "" : class_headings[r / 2], r % 2 ? "Specific" : "Wildcard");
        for (int c = 0; c < 6; c++) {
            struct bg_side row = cell_side(r), col = cell_side(c);
            enum bg_verdict v = rows_second ? policy_verdict(p, same_user, col, row)
                                            : policy_verdict(p, same_user, row, col);
            printf(c < 5 ? "%-10s" : "%s\n", policy_verdict_name(v));
        }
    }
    printf("\nINUSE: EADDRINUSE. ACCESS: EACCES%s.\n", rows_second ? " (the seed's DENIED)" : "");
    if (rows_second)
        printf("CHECK: EACCES unless the second uid is on the first socket's share list "
               "(BINDGUARD_SHARE_UIDS).\n");
    printf("Two different specific addresses never conflict (seed 001).\n");
    if (p->rules != BG_RULES_WS2003)
        printf("The users of the two binds don't matter in this profile.\n");
}

/* Every cell by its first and second bind, whatever way the seed draws the table. */
static void print_matrix_json(const struct bg_profile *p, bool same_user)
{
    char source[200];
    table_source(p, same_user, source, sizeof source);
    struct json j;
    json_document_begin(&j, stdout);
    json_string(&j, "profile", p->name);
    json_string(&j, "platform", p->platform);
    json_string(&j, "table", policy_table_name(p, same_user));
    json_string(&j, "source", source);
    json_bool(&j, "same_user", same_user);
    json_array_begin(&j, "cells");
    for (int f = 0; f < 6; f++)
        for (int s = 0; s < 6; s++) {
            struct bg_side first = cell_side(f), second = cell_side(s);
            enum bg_verdict v = policy_verdict(p, same_user, first, second);
            json_object_begin(&j, NULL);
            json_object_begin(&j, "first");
            json_string(&j, "class", policy_class_name(first.cls));
            json_string(&j, "kind", policy_kind_name(first.kind));
            json_object_end(&j);
            json_object_begin(&j, "second");
            json_string(&j, "class", policy_class_name(second.cls));
            json_string(&j, "kind", policy_kind_name(second.kind));
            json_object_end(&j);
            json_string(&j, "verdict", policy_verdict_name(v));
            if (policy_errno(v))
                json_string(&j, "errno", cli_errno_name(policy_errno(v)));
            else
                json_null(&j, "errno");
            json_object_end(&j);
        }
    json_array_end(&j);
    json_document_end(&j);
}

static int matrix_main(const struct cli_command *self, int argc, char **argv)
{
    struct table_opts o = {0};
    int rc = table_options(self, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_no_operands(self, argc, argv)) >= 0)
        return rc;
    if (o.json)
        print_matrix_json(config_get()->profile, !o.different_user);
    else
        print_matrix(config_get()->profile, !o.different_user);
    return 0;
}

const struct cli_command cli_matrix = {
    "matrix", matrix_main, "the profile's 6x6 table, drawn the way the seeds draw it",
    "usage: bindguard matrix [--profile P] [--different-user] [--json]\n"
    "\n"
    "Prints the profile's table of verdicts: rows and columns are the class (Default,\n"
    "SO_REUSEADDR, SO_EXCLUSIVEADDRUSE) and address kind (Wildcard, Specific) of the first\n"
    "and second bind, oriented as the seed draws it (wsk: rows are the second bind).\n"
    "\n"
    "  --profile P        ws2003 (default), xp, wsk, or a Windows name (see run --help)\n"
    "  --different-user   ws2003's different-user table (default: same user)\n"
    "  --json             one JSON object: the 36 cells, each by first and second bind\n",
};
