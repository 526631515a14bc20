/* test_rules - the rule book's class mapping and whole-rule judging (src/rules/).
 * The seed tables themselves are checked cell by cell in test_policy. */
#include "harness.h"
#include "address.h"
#include "rules/rules.h"

static struct bg_addr addr(const char *s, bool v6only)
{
    struct bg_addr a;
    ck_assert_msg(address_parse(s, &a) == 0, "parse %s", s);
    a.v6only = v6only;
    return a;
}

static struct bg_binding binding(const char *s, enum bg_class c, uint32_t uid)
{
    return (struct bg_binding){ .addr = addr(s, false), .uid = uid, .cls = (uint8_t)c };
}

START_TEST(class_mapping)
{
    const struct bg_classing linux_default = { .default_exclusive = 1, .has_exclusive = 1 };
    const struct bg_classing windows = { .default_exclusive = 0, .has_exclusive = 1,
                                         .reuseaddr_shares_tcp = 1 };
    const struct bg_classing forced = { .default_exclusive = 1, .has_exclusive = 1,
                                        .force_exclusive = 1 };
    const struct bg_classing win9x = { .default_exclusive = 1, .force_exclusive = 1 };
    const struct bg_sockopts none = { 0 }, tcp_reuseaddr = { .reuseaddr = 1 },
                             udp_reuseaddr = { .reuseaddr = 1, .dgram = 1 },
                             reuseport = { .reuseport = 1 }, explicit_excl = { .exclusive = 1 };
    ck_assert_int_eq(rules_class(&linux_default, &none), BG_CLASS_EXCLUSIVE);
    /* TCP SO_REUSEADDR is Linux's TIME_WAIT reuse, not sharing, unless told otherwise. */
    ck_assert_int_eq(rules_class(&linux_default, &tcp_reuseaddr), BG_CLASS_EXCLUSIVE);
    ck_assert_int_eq(rules_class(&windows, &tcp_reuseaddr), BG_CLASS_REUSEADDR);
    ck_assert_int_eq(rules_class(&linux_default, &udp_reuseaddr), BG_CLASS_REUSEADDR);
    ck_assert_int_eq(rules_class(&linux_default, &reuseport), BG_CLASS_REUSEADDR);
    ck_assert_int_eq(rules_class(&windows, &none), BG_CLASS_DEFAULT);
    ck_assert_int_eq(rules_class(&windows, &explicit_excl), BG_CLASS_EXCLUSIVE);
    /* Forced exclusive overrides sharing set out of habit; win9x has no exclusive class. */
    ck_assert_int_eq(rules_class(&forced, &udp_reuseaddr), BG_CLASS_EXCLUSIVE);
    ck_assert_int_eq(rules_class(&forced, &reuseport), BG_CLASS_EXCLUSIVE);
    ck_assert_int_eq(rules_class(&win9x, &reuseport), BG_CLASS_REUSEADDR);
    ck_assert_int_eq(rules_class(&win9x, &none), BG_CLASS_DEFAULT);
    ck_assert(rules_opted_into_sharing(&linux_default, &udp_reuseaddr));
    ck_assert(!rules_opted_into_sharing(&linux_default, &tcp_reuseaddr));
}
END_TEST

START_TEST(judge_across_stacks_is_access)
{
    struct bg_binding dual = binding("[::]:80", BG_CLASS_EXCLUSIVE, 0);
    /* Every class of IPv4 bind refused by the IPv4 side of an exclusive [::]: ACCESS. */
    for (int c = BG_CLASS_DEFAULT; c <= BG_CLASS_EXCLUSIVE; c++) {
        struct bg_binding v4w = binding("0.0.0.0:80", (enum bg_class)c, 0);
        struct bg_binding v4s = binding("127.0.0.1:80", (enum bg_class)c, 1);
        struct bg_binding mapped = binding("[::ffff:127.0.0.1]:80", (enum bg_class)c, 0);
        ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &dual, &v4w), BG_ACCESS);
        ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &dual, &v4s), BG_ACCESS);
        ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &dual, &mapped), BG_ACCESS);
    }
    /* The IPv6 side follows the cell: exclusive W then exclusive W is INUSE. */
    struct bg_binding v6w = binding("[::]:80", BG_CLASS_EXCLUSIVE, 0);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &dual, &v6w), BG_INUSE);
    /* A non-exclusive [::] does not hold IPv4 at all; a v6only one neither. */
    struct bg_binding dual_default = binding("[::]:80", BG_CLASS_DEFAULT, 0);
    struct bg_binding v4w = binding("0.0.0.0:80", BG_CLASS_DEFAULT, 0);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &dual_default, &v4w), BG_SUCCESS);
    struct bg_binding v6only = dual;
    v6only.addr.v6only = 1;
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &v6only, &v4w), BG_SUCCESS);
    /* A v4-mapped holder is plain IPv4: the same-address cell, INUSE. */
    struct bg_binding mapped = binding("[::ffff:127.0.0.1]:80", BG_CLASS_EXCLUSIVE, 0);
    struct bg_binding v4s = binding("127.0.0.1:80", BG_CLASS_EXCLUSIVE, 0);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &mapped, &v4s), BG_INUSE);
}
END_TEST

START_TEST(judge_linger_and_garbage)
{
    struct bg_binding held = binding("0.0.0.0:80", BG_CLASS_EXCLUSIVE, 0);
    held.linger = 1;
    struct bg_binding def = binding("0.0.0.0:80", BG_CLASS_DEFAULT, 0);
    struct bg_binding excl = binding("0.0.0.0:80", BG_CLASS_EXCLUSIVE, 0);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &held, &def), BG_SUCCESS);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &held, &excl), BG_INUSE);
    /* An out-of-range held class reads as exclusive; bad rules never allow. */
    struct bg_binding junk = binding("0.0.0.0:80", BG_CLASS_DEFAULT, 0);
    junk.cls = 200;
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &junk, &def),
                     rules_judge(BG_RULES_WS2003, &excl, &def));
    ck_assert_int_eq(rules_judge((enum bg_rules)9, &excl, &def), BG_INUSE);
    /* Different specifics never meet. */
    struct bg_binding a = binding("127.0.0.1:80", BG_CLASS_EXCLUSIVE, 0);
    struct bg_binding b = binding("127.0.0.2:80", BG_CLASS_EXCLUSIVE, 1);
    ck_assert_int_eq(rules_judge(BG_RULES_WS2003, &a, &b), BG_SUCCESS);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, class_mapping);
    tcase_add_test(tc, judge_across_stacks_is_access);
    tcase_add_test(tc, judge_linger_and_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(rules_suite());
}
