/* test_policy - the policy tables against tests/data/bind-rules.tsv, cell by cell, and
 * the rest of policy.h. The TSV is the oracle; policy.c was written from the seeds
 * (doc/design.md "Sources"). */
#include "harness.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { TSV_ROWS = 144, NCLASS = 3, LINE_LEN = 512 };

static const char *const all_profiles[] = {
    "ws2003", "vista", "ws2008", "win7", "xp", "nt4", "win2000", "win95", "win98", "winme", "wsk",
};
enum { NPROFILES = sizeof all_profiles / sizeof all_profiles[0] };

static const enum bg_verdict all_verdicts[] = { BG_SUCCESS, BG_CHECK, BG_INUSE, BG_ACCESS };

static struct bg_side side(enum bg_class c, enum bg_kind k)
{
    return (struct bg_side){ .cls = c, .kind = k };
}

static const struct bg_profile *must_profile(const char *name)
{
    const struct bg_profile *p = policy_profile(name);
    ck_assert_msg(p != NULL, "profile %s unknown", name);
    return p;
}

/* ---- the TSV oracle ---- */

struct tsv_row {
    int                      row;       /* 1-based, data rows only */
    int                      line;      /* in the file */
    char                     text[LINE_LEN];
    const struct bg_profile *profile;
    const char              *user;      /* "same", "different" or "any" */
    struct bg_side           first, second;
    enum bg_verdict          verdict;
    char                     seed[LINE_LEN];
};

/* Split a TSV line into exactly n fields, in place. */
static int split_tabs(char *s, char **fields, int n)
{
    int i = 0;
    for (char *tok = strtok(s, "\t"); tok && i < n + 1; tok = strtok(NULL, "\t"))
        fields[i++] = tok;
    return i;
}

static struct bg_side parse_side(const char *cls, const char *kind, const struct tsv_row *r)
{
    int c = policy_class_parse(cls), k = policy_kind_parse(kind);
    ck_assert_msg(c >= 0 && k >= 0, "line %d: bad side '%s %s' in: %s", r->line, cls, kind, r->text);
    return side((enum bg_class)c, (enum bg_kind)k);
}

static void parse_row(char *line, int row, int lineno, struct tsv_row *r)
{
    char *f[9];
    line[strcspn(line, "\r\n")] = '\0';
    r->row = row;
    r->line = lineno;
    snprintf(r->text, sizeof r->text, "%s", line);
    ck_assert_msg(split_tabs(line, f, 8) == 8, "line %d: not 8 fields: %s", lineno, r->text);
    r->profile = policy_profile(f[0]);
    ck_assert_msg(r->profile != NULL, "line %d: unknown profile in: %s", lineno, r->text);
    ck_assert_msg(strcmp(f[1], "same") == 0 || strcmp(f[1], "different") == 0 ||
                      strcmp(f[1], "any") == 0,
                  "line %d: bad user in: %s", lineno, r->text);
    r->user = strcmp(f[1], "same") == 0 ? "same" : strcmp(f[1], "different") == 0 ? "different" : "any";
    r->first = parse_side(f[2], f[3], r);
    r->second = parse_side(f[4], f[5], r);
    int v = policy_verdict_parse(f[6]);
    ck_assert_msg(v >= 0, "line %d: bad verdict in: %s", lineno, r->text);
    r->verdict = (enum bg_verdict)v;
    snprintf(r->seed, sizeof r->seed, "%s", f[7]);
}

/* Check one row under one same_user value; report and count a mismatch. */
static int check_row_as(const struct tsv_row *r, const struct bg_profile *p, bool same_user)
{
    enum bg_verdict got = policy_verdict(p, same_user, r->first, r->second);
    if (got == r->verdict)
        return 0;
    fprintf(stderr, "bind-rules.tsv row %d (line %d) as %s, same_user=%d: %s\n"
                    "  policy says %s, the TSV says %s (seed file %s)\n",
            r->row, r->line, p->name, same_user, r->text, policy_verdict_name(got),
            policy_verdict_name(r->verdict), r->seed);
    return 1;
}

/* "any" holds for both; an alias profile of the same rules must agree as well. */
static int check_row(const struct tsv_row *r)
{
    int bad = 0;
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        if (p->rules != r->profile->rules)
            continue;
        if (strcmp(r->user, "different") != 0)
            bad += check_row_as(r, p, true);
        if (strcmp(r->user, "same") != 0)
            bad += check_row_as(r, p, false);
    }
    return bad;
}

/* Index of a row's (rules, user) table, to prove every cell appears exactly once. */
static int table_index(const struct tsv_row *r)
{
    if (r->profile->rules == BG_RULES_WS2003)
        return strcmp(r->user, "same") == 0 ? 0 : 1;
    return r->profile->rules == BG_RULES_XP ? 2 : 3;
}

static int cell_index(struct bg_side s)
{
    return (int)s.cls * 2 + (s.kind == BG_WILDCARD ? 0 : 1);
}

START_TEST(tsv_every_row)
{
    char path[512], line[LINE_LEN];
    harness_data_path("bind-rules.tsv", path, sizeof path);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    int rows = 0, bad = 0, lineno = 0, seen[4][6][6] = { { { 0 } } };
    struct tsv_row first_bad = { 0 };
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || strncmp(line, "profile\t", 8) == 0)
            continue;
        struct tsv_row r;
        parse_row(line, ++rows, lineno, &r);
        seen[table_index(&r)][cell_index(r.first)][cell_index(r.second)]++;
        int b = check_row(&r);
        if (b && !bad)
            first_bad = r;
        bad += b;
    }
    fclose(f);
    ck_assert_msg(bad == 0, "%d mismatch(es); first: row %d (line %d): %s (seed file %s)", bad,
                  first_bad.row, first_bad.line, first_bad.text, first_bad.seed);
    ck_assert_msg(rows == TSV_ROWS, "checked %d rows, expected %d", rows, TSV_ROWS);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                ck_assert_msg(seen[t][i][j] == 1, "table %d cell %d,%d appears %d times", t, i, j,
                              seen[t][i][j]);
}
END_TEST

/* ---- Specific2 and same_user ---- */

START_TEST(specific2_always_success)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        for (int same = 0; same <= 1; same++)
            for (int c1 = 0; c1 < NCLASS; c1++)
                for (int c2 = 0; c2 < NCLASS; c2++) {
                    struct bg_side f = side((enum bg_class)c1, BG_SPECIFIC);
                    struct bg_side s = side((enum bg_class)c2, BG_SPECIFIC2);
                    ck_assert_msg(policy_verdict(p, same, f, s) == BG_SUCCESS,
                                  "%s same=%d first %s specific, second %s specific2", p->name,
                                  same, policy_class_name(f.cls), policy_class_name(s.cls));
                }
    }
}
END_TEST

START_TEST(specific2_under_wildcard_reads_as_specific)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        for (int same = 0; same <= 1; same++)
            for (int c1 = 0; c1 < NCLASS; c1++)
                for (int c2 = 0; c2 < NCLASS; c2++) {
                    struct bg_side f = side((enum bg_class)c1, BG_WILDCARD);
                    enum bg_verdict as2 = policy_verdict(p, same, f, side((enum bg_class)c2, BG_SPECIFIC2));
                    enum bg_verdict as1 = policy_verdict(p, same, f, side((enum bg_class)c2, BG_SPECIFIC));
                    ck_assert_msg(as1 == as2, "%s same=%d %d/%d", p->name, same, c1, c2);
                }
    }
    /* One cell where that matters: exclusive wildcard first, default second. */
    ck_assert_int_eq(policy_verdict(must_profile("ws2003"), true, side(BG_CLASS_EXCLUSIVE, BG_WILDCARD),
                                    side(BG_CLASS_DEFAULT, BG_SPECIFIC2)),
                     BG_ACCESS);
}
END_TEST

/* Whether the verdict depends on same_user anywhere in the 6x6 cells. */
static bool depends_on_user(const struct bg_profile *p)
{
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            struct bg_side f = side((enum bg_class)(a / 2), a % 2 ? BG_SPECIFIC : BG_WILDCARD);
            struct bg_side s = side((enum bg_class)(b / 2), b % 2 ? BG_SPECIFIC : BG_WILDCARD);
            if (policy_verdict(p, true, f, s) != policy_verdict(p, false, f, s))
                return true;
        }
    return false;
}

START_TEST(same_user_only_for_ws2003_rules)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        ck_assert_msg(depends_on_user(p) == (p->rules == BG_RULES_WS2003), "%s", p->name);
    }
    /* The seed's own example: default wildcard first, default specific second. */
    const struct bg_profile *w = must_profile("ws2003");
    struct bg_side f = side(BG_CLASS_DEFAULT, BG_WILDCARD), s = side(BG_CLASS_DEFAULT, BG_SPECIFIC);
    ck_assert_int_eq(policy_verdict(w, true, f, s), BG_SUCCESS);
    ck_assert_int_eq(policy_verdict(w, false, f, s), BG_ACCESS);
}
END_TEST

START_TEST(null_profile_is_ws2003)
{
    struct bg_side f = side(BG_CLASS_DEFAULT, BG_WILDCARD), s = side(BG_CLASS_REUSEADDR, BG_SPECIFIC);
    ck_assert_int_eq(policy_verdict(NULL, false, f, s), policy_verdict(must_profile("ws2003"), false, f, s));
    ck_assert_str_eq(policy_table_name(NULL, true), "ws2003 same-user");
}
END_TEST

/* ---- profiles ---- */

START_TEST(profile_lookup)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        ck_assert_str_eq(p->name, all_profiles[i]);
        ck_assert_ptr_nonnull(p->platform);
        ck_assert_ptr_eq(policy_profile(p->name), p);
    }
    ck_assert_ptr_eq(policy_profile("WS2003"), policy_profile("ws2003"));
    ck_assert_ptr_eq(policy_profile("Win7"), policy_profile("win7"));
    ck_assert_ptr_eq(policy_profile("wInMe"), policy_profile("winme"));
    ck_assert_ptr_null(policy_profile("win2022"));
    ck_assert_ptr_null(policy_profile(""));
    ck_assert_ptr_null(policy_profile("ws2003 "));
    ck_assert_ptr_null(policy_profile(NULL));
}
END_TEST

START_TEST(profile_rules_and_platforms)
{
    static const struct { const char *name, *platform; enum bg_rules rules; } want[] = {
        { "ws2003", "Windows Server 2003", BG_RULES_WS2003 }, { "vista", "Windows Vista", BG_RULES_WS2003 },
        { "ws2008", "Windows Server 2008", BG_RULES_WS2003 }, { "win7", "Windows 7", BG_RULES_WS2003 },
        { "xp", "Windows XP", BG_RULES_XP },                  { "nt4", "Windows NT 4.0", BG_RULES_XP },
        { "win2000", "Windows 2000", BG_RULES_XP },           { "win95", "Windows 95", BG_RULES_XP },
        { "win98", "Windows 98", BG_RULES_XP },               { "winme", "Windows Me", BG_RULES_XP },
        { "wsk", "Winsock Kernel (WSK)", BG_RULES_WSK },
    };
    ck_assert_int_eq(sizeof want / sizeof want[0], NPROFILES);
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(want[i].name);
        ck_assert_int_eq(p->rules, want[i].rules);
        ck_assert_msg(strstr(p->platform, want[i].platform) == p->platform, "%s: platform '%s'",
                      p->name, p->platform);
    }
}
END_TEST

static bool in_list(const char *list, const char *name)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    char *save;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (strcmp(tok, name) == 0)
            return true;
    return false;
}

START_TEST(profile_names_list)
{
    const char *names = policy_profile_names();
    ck_assert_ptr_nonnull(names);
    ck_assert_str_eq(names, "ws2003, vista, ws2008, win7, xp, nt4, win2000, win95, win98, winme, wsk");
    for (size_t i = 0; i < NPROFILES; i++)
        ck_assert_msg(in_list(names, all_profiles[i]), "%s missing from '%s'", all_profiles[i], names);
}
END_TEST

START_TEST(profile_exclusive_flags)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        const struct bg_profile *p = must_profile(all_profiles[i]);
        bool win9x = in_list("win95 win98 winme", p->name);
        bool admin = in_list("xp nt4 win2000", p->name);
        ck_assert_msg(p->has_exclusive == !win9x, "%s has_exclusive", p->name);
        ck_assert_msg(p->exclusive_needs_admin == admin, "%s exclusive_needs_admin", p->name);
    }
}
END_TEST

/* ---- describe and table names ---- */

START_TEST(table_names)
{
    ck_assert_str_eq(policy_table_name(must_profile("ws2003"), false), "ws2003 different-user");
    ck_assert_str_eq(policy_table_name(must_profile("ws2003"), true), "ws2003 same-user");
    ck_assert_str_eq(policy_table_name(must_profile("win7"), true), "win7 same-user");
    ck_assert_str_eq(policy_table_name(must_profile("vista"), false), "vista different-user");
    ck_assert_str_eq(policy_table_name(must_profile("xp"), true), "xp");
    ck_assert_str_eq(policy_table_name(must_profile("xp"), false), "xp");
    ck_assert_str_eq(policy_table_name(must_profile("nt4"), false), "nt4");
    ck_assert_str_eq(policy_table_name(must_profile("wsk"), true), "wsk");
    /* A profile the caller built itself is named by its rules. */
    struct bg_profile own = { "custom", "Custom", BG_RULES_WS2003, true, false };
    ck_assert_str_eq(policy_table_name(&own, false), "ws2003 different-user");
}
END_TEST

static void assert_describes(const char *profile, bool same, struct bg_side f, struct bg_side s,
                             const char *const *needles)
{
    char buf[512];
    int n = policy_describe(must_profile(profile), same, f, s, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_ptr_null(strchr(buf, '\n'));
    for (; *needles; needles++)
        ck_assert_msg(strstr(buf, *needles) != NULL, "'%s' lacks '%s'", buf, *needles);
}

START_TEST(describe_names_table_seed_cell_verdict)
{
    const char *ws[] = { "ws2003 different-user", "seed 000", "Enhanced Socket Security",
                         "first exclusive wildcard", "second default wildcard", "INUSE", NULL };
    assert_describes("ws2003", false, side(BG_CLASS_EXCLUSIVE, BG_WILDCARD),
                     side(BG_CLASS_DEFAULT, BG_WILDCARD), ws);
    const char *w7[] = { "win7 same-user", "seed 000", "SUCCESS", NULL };
    assert_describes("win7", true, side(BG_CLASS_DEFAULT, BG_WILDCARD),
                     side(BG_CLASS_DEFAULT, BG_SPECIFIC), w7);
    const char *xp[] = { "xp", "seed 000", "Using SO_EXCLUSIVEADDRUSE", "ACCESS", NULL };
    assert_describes("xp", false, side(BG_CLASS_EXCLUSIVE, BG_SPECIFIC),
                     side(BG_CLASS_REUSEADDR, BG_WILDCARD), xp);
    const char *wsk[] = { "wsk", "seed 003", "Sharing Transport Addresses", "CHECK", NULL };
    assert_describes("wsk", true, side(BG_CLASS_DEFAULT, BG_WILDCARD),
                     side(BG_CLASS_DEFAULT, BG_SPECIFIC), wsk);
    const char *s2[] = { "seed 001", "specific2", "SUCCESS", NULL };
    assert_describes("ws2003", false, side(BG_CLASS_EXCLUSIVE, BG_SPECIFIC),
                     side(BG_CLASS_DEFAULT, BG_SPECIFIC2), s2);
}
END_TEST

START_TEST(describe_truncates_like_snprintf)
{
    char small[8], big[512];
    struct bg_side f = side(BG_CLASS_DEFAULT, BG_WILDCARD);
    int n = policy_describe(must_profile("ws2003"), false, f, f, big, sizeof big);
    int m = policy_describe(must_profile("ws2003"), false, f, f, small, sizeof small);
    ck_assert_int_eq(n, m);
    ck_assert_int_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(strncmp(small, big, sizeof small - 1), 0);
}
END_TEST

/* ---- verdict helpers ---- */

START_TEST(severity_order)
{
    /* all_verdicts is listed mildest first. */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_msg(rules_more_severe(all_verdicts[i], all_verdicts[j]) == (i > j), "%s vs %s",
                          policy_verdict_name(all_verdicts[i]), policy_verdict_name(all_verdicts[j]));
    ck_assert(rules_more_severe(BG_ACCESS, BG_INUSE));
    ck_assert(rules_more_severe(BG_INUSE, BG_CHECK));
    ck_assert(rules_more_severe(BG_CHECK, BG_SUCCESS));
    ck_assert(!rules_more_severe(BG_SUCCESS, BG_ACCESS));
}
END_TEST

START_TEST(errno_mapping)
{
    ck_assert_int_eq(policy_errno(BG_SUCCESS), 0);
    ck_assert_int_eq(policy_errno(BG_CHECK), 0);
    ck_assert_int_eq(policy_errno(BG_INUSE), EADDRINUSE);
    ck_assert_int_eq(policy_errno(BG_ACCESS), EACCES);
}
END_TEST

START_TEST(resolve_check)
{
    ck_assert_int_eq(rules_resolve_check(BG_CHECK, true), BG_SUCCESS);
    ck_assert_int_eq(rules_resolve_check(BG_CHECK, false), BG_ACCESS);
    for (int i = 0; i < 4; i++)
        if (all_verdicts[i] != BG_CHECK)
            for (int g = 0; g <= 1; g++)
                ck_assert_int_eq(rules_resolve_check(all_verdicts[i], g), all_verdicts[i]);
}
END_TEST

START_TEST(names_round_trip)
{
    static const char *const verdicts[] = { "SUCCESS", "CHECK", "INUSE", "ACCESS" };
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(policy_verdict_name(all_verdicts[i]), verdicts[i]);
        ck_assert_int_eq(policy_verdict_parse(verdicts[i]), all_verdicts[i]);
    }
    ck_assert_int_eq(policy_verdict_parse("inuse"), BG_INUSE);
    static const char *const classes[] = { "default", "reuseaddr", "exclusive" };
    for (int i = 0; i < NCLASS; i++) {
        ck_assert_str_eq(policy_class_name((enum bg_class)i), classes[i]);
        ck_assert_int_eq(policy_class_parse(classes[i]), i);
    }
    ck_assert_int_eq(policy_class_parse("Exclusive"), BG_CLASS_EXCLUSIVE);
    static const char *const kinds[] = { "wildcard", "specific", "specific2" };
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(policy_kind_name((enum bg_kind)i), kinds[i]);
        ck_assert_int_eq(policy_kind_parse(kinds[i]), i);
    }
    ck_assert_int_eq(policy_kind_parse("WILDCARD"), BG_WILDCARD);
}
END_TEST

START_TEST(parse_rejects_unknown)
{
    ck_assert_int_eq(policy_verdict_parse("DENIED2"), -1);
    ck_assert_int_eq(policy_verdict_parse(""), -1);
    ck_assert_int_eq(policy_verdict_parse(NULL), -1);
    ck_assert_int_eq(policy_class_parse("reuse"), -1);
    ck_assert_int_eq(policy_class_parse("exclusive "), -1);
    ck_assert_int_eq(policy_class_parse(NULL), -1);
    ck_assert_int_eq(policy_kind_parse("specific3"), -1);
    ck_assert_int_eq(policy_kind_parse(NULL), -1);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tsv = tcase_create("tsv");
    tcase_add_test(tsv, tsv_every_row);
    suite_add_tcase(s, tsv);

    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, specific2_always_success);
    tcase_add_test(rules, specific2_under_wildcard_reads_as_specific);
    tcase_add_test(rules, same_user_only_for_ws2003_rules);
    tcase_add_test(rules, null_profile_is_ws2003);
    suite_add_tcase(s, rules);

    TCase *prof = tcase_create("profiles");
    tcase_add_test(prof, profile_lookup);
    tcase_add_test(prof, profile_rules_and_platforms);
    tcase_add_test(prof, profile_names_list);
    tcase_add_test(prof, profile_exclusive_flags);
    suite_add_tcase(s, prof);

    TCase *desc = tcase_create("describe");
    tcase_add_test(desc, table_names);
    tcase_add_test(desc, describe_names_table_seed_cell_verdict);
    tcase_add_test(desc, describe_truncates_like_snprintf);
    suite_add_tcase(s, desc);

    TCase *misc = tcase_create("verdicts");
    tcase_add_test(misc, severity_order);
    tcase_add_test(misc, errno_mapping);
    tcase_add_test(misc, resolve_check);
    tcase_add_test(misc, names_round_trip);
    tcase_add_test(misc, parse_rejects_unknown);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    return harness_run(policy_suite());
}
