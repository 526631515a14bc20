/* matrix - a profile's seed tables whole, as text or JSON. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "rules/judge.h"

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
    struct cli_rule_opts o = {0};
    int rc = cli_rule_options(self, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_no_operands(argc, argv)) >= 0)
        return rc;
    const struct bg_config *cfg = cli_config(false);
    if (!cfg)
        return CLI_EXIT_USAGE;
    if (o.json)
        print_matrix_json(cfg->profile, !o.different_user);
    else
        print_matrix(cfg->profile, !o.different_user);
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
