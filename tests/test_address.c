/* test_address - classifying sockaddrs, the stacks a binding claims, overlap, and the
 * text form. The reference is doc/design.md "Special cases" ("Dual stack", "IPv4-mapped
 * addresses"). */
#include "address.h"
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

enum { DUAL = 0, V6ONLY = 1 };
#define BOTH (BG_STACK_V4 | BG_STACK_V6)

static struct bg_addr v4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    struct bg_addr a;
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin, sizeof sin, AF_INET, false, &a), 0);
    return a;
}

static struct bg_addr v6s(const char *ip, uint16_t port, bool v6only, uint32_t scope)
{
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
                                 .sin6_scope_id = scope };
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
    struct bg_addr a;
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, AF_INET6, v6only, &a), 0);
    return a;
}

static struct bg_addr v6(const char *ip, uint16_t port, bool v6only)
{
    return v6s(ip, port, v6only, 0);
}

/* ---- from_sockaddr ---- */

START_TEST(layout_is_fixed)
{
    ck_assert_int_eq(sizeof(struct bg_addr), 24);
}
END_TEST

START_TEST(from_sockaddr_ipv4)
{
    struct bg_addr a = v4("192.0.2.7", 8080);
    static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7 };
    ck_assert_mem_eq(a.ip, want, 16);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_int_eq(a.port, 8080);
    ck_assert_int_eq(a.scope_id, 0);
    ck_assert_int_eq(a.v6only, 0);
}
END_TEST

START_TEST(from_sockaddr_ipv4_ignores_v6only)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(1) };
    struct bg_addr a;
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin, sizeof sin, AF_INET, true, &a), 0);
    ck_assert_int_eq(a.v6only, 0);
    ck_assert_uint_eq(rules_stacks_checked(&a), BG_STACK_V4);
}
END_TEST

START_TEST(from_sockaddr_ipv6)
{
    struct bg_addr a = v6s("fe80::1", 443, true, 7);
    struct in6_addr want;
    inet_pton(AF_INET6, "fe80::1", &want);
    ck_assert_mem_eq(a.ip, &want, 16);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert_int_eq(a.port, 443);
    ck_assert_int_eq(a.scope_id, 7);
    ck_assert_int_eq(a.v6only, 1);
    ck_assert_int_eq(v6("::1", 1, DUAL).v6only, 0);
}
END_TEST

START_TEST(from_sockaddr_accepts_longer_buffer)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(99);
    struct bg_addr a;
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&ss, sizeof ss, AF_INET, false, &a), 0);
    ck_assert_int_eq(a.port, 99);
}
END_TEST

START_TEST(loopback)
{
    struct bg_addr a;
    ck_assert_int_eq(address_parse("127.0.0.1:1", &a), 0);
    ck_assert(address_is_loopback(&a));
    ck_assert_int_eq(address_parse("127.3.2.1:1", &a), 0);
    ck_assert(address_is_loopback(&a));
    ck_assert_int_eq(address_parse("[::1]:1", &a), 0);
    ck_assert(address_is_loopback(&a));
    ck_assert_int_eq(address_parse("[::ffff:127.0.0.2]:1", &a), 0);
    ck_assert(address_is_loopback(&a));
    ck_assert_int_eq(address_parse("10.0.0.1:1", &a), 0);
    ck_assert(!address_is_loopback(&a));
    ck_assert_int_eq(address_parse("[::]:1", &a), 0);
    ck_assert(!address_is_loopback(&a));
    ck_assert_int_eq(address_parse("[::2]:1", &a), 0);
    ck_assert(!address_is_loopback(&a));
}
END_TEST

START_TEST(from_sockaddr_rejects)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
    struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/tmp/x" };
    struct sockaddr_in unspec = { .sin_family = AF_UNSPEC };
    struct bg_addr a;
    ck_assert_int_eq(address_from_sockaddr(NULL, sizeof sin, AF_INET, false, &a), -1);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin, sizeof sin - 1, AF_INET, false, &a), -1);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin, 0, AF_INET, false, &a), -1);
    /* Linux binds RFC 2133's 24-byte sockaddr_in6 (no scope id), and nothing shorter. */
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, 23, AF_INET6, false, &a), -1);
    sin6.sin6_scope_id = 7;
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, 24, AF_INET6, false, &a), 0);
    ck_assert_uint_eq(a.scope_id, 0);  /* beyond those 24 bytes: not read */
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6 - 1, AF_INET6, false, &a), 0);
    ck_assert_uint_eq(a.scope_id, 0);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, AF_INET6, false, &a), 0);
    ck_assert_uint_eq(a.scope_id, 7);
    sin6.sin6_scope_id = 0;
    /* An AF_INET-sized buffer is too short for AF_INET6 even with the right family. */
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, sizeof sin, AF_INET6, false, &a), -1);
    /* Family of the address and of the socket must agree. */
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin, sizeof sin, AF_INET6, false, &a), -1);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, AF_INET, false, &a), -1);
    /* AF_UNSPEC binds like AF_INET only with INADDR_ANY (Linux's inet_bind), and never
     * on an AF_INET6 socket. */
    unspec.sin_port = htons(80);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&unspec, sizeof unspec, AF_INET, false, &a), 0);
    ck_assert(rules_addr_is_wildcard(&a));
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_int_eq(a.port, 80);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&unspec, sizeof unspec, AF_INET6, false, &a), -1);
    unspec.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&unspec, sizeof unspec, AF_INET, false, &a), -1);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&un, sizeof un, AF_UNIX, false, &a), -1);
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&un, sizeof un, AF_INET, false, &a), -1);
}
END_TEST

START_TEST(to_sockaddr_round_trip)
{
    struct sockaddr_storage ss;
    struct bg_addr a = v4("10.1.2.3", 5150);
    ck_assert_int_eq(address_to_sockaddr(&a, &ss), sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_int_eq(ntohs(sin->sin_port), 5150);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0a010203u);

    struct bg_addr b = v6s("fe80::2", 53, V6ONLY, 3), back;
    socklen_t len = address_to_sockaddr(&b, &ss);
    ck_assert_int_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(address_from_sockaddr((struct sockaddr *)&ss, len, AF_INET6, true, &back), 0);
    ck_assert_mem_eq(&back, &b, sizeof b);
}
END_TEST

/* ---- classification ---- */

START_TEST(wildcards)
{
    struct bg_addr w[] = { v4("0.0.0.0", 80), v6("::", 80, DUAL), v6("::", 80, V6ONLY),
                           v6("::ffff:0.0.0.0", 80, DUAL) };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        ck_assert_msg(rules_addr_is_wildcard(&w[i]), "case %zu", i);
        ck_assert_int_eq(rules_addr_kind(&w[i]), BG_WILDCARD);
    }
    struct bg_addr s[] = { v4("127.0.0.1", 80), v4("0.0.0.1", 80), v6("::1", 80, DUAL),
                           v6("::ffff:127.0.0.1", 80, DUAL), v6s("fe80::1", 80, DUAL, 2),
                           v6("2001:db8::1", 80, V6ONLY) };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        ck_assert_msg(!rules_addr_is_wildcard(&s[i]), "case %zu", i);
        ck_assert_int_eq(rules_addr_kind(&s[i]), BG_SPECIFIC);
    }
}
END_TEST

START_TEST(v4mapped)
{
    struct bg_addr yes[] = { v4("0.0.0.0", 1), v4("127.0.0.1", 1), v6("::ffff:0.0.0.0", 1, DUAL),
                             v6("::ffff:10.0.0.1", 1, DUAL) };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(rules_addr_is_v4mapped(&yes[i]), "case %zu", i);
    struct bg_addr no[] = { v6("::", 1, DUAL), v6("::1", 1, DUAL), v6("::7f00:1", 1, DUAL),
                            v6("fe80::1", 1, DUAL) };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!rules_addr_is_v4mapped(&no[i]), "case %zu", i);
}
END_TEST

/* One row per binding: stacks checked when binding, held non-exclusive, held exclusive. */
struct stack_case {
    const char *what;
    struct bg_addr a;
    unsigned checked, held, held_exclusive;
};

START_TEST(stacks)
{
    struct stack_case c[] = {
        { "0.0.0.0", v4("0.0.0.0", 80), BG_STACK_V4, BG_STACK_V4, BG_STACK_V4 },
        { "127.0.0.1", v4("127.0.0.1", 80), BG_STACK_V4, BG_STACK_V4, BG_STACK_V4 },
        { "[::] v6only", v6("::", 80, V6ONLY), BG_STACK_V6, BG_STACK_V6, BG_STACK_V6 },
        { "[::1] v6only", v6("::1", 80, V6ONLY), BG_STACK_V6, BG_STACK_V6, BG_STACK_V6 },
        { "[::] dual", v6("::", 80, DUAL), BOTH, BG_STACK_V6, BOTH },
        { "[::ffff:0.0.0.0] dual", v6("::ffff:0.0.0.0", 80, DUAL), BG_STACK_V4, BG_STACK_V4, BG_STACK_V4 },
        { "[::ffff:127.0.0.1] dual", v6("::ffff:127.0.0.1", 80, DUAL), BG_STACK_V4, BG_STACK_V4, BG_STACK_V4 },
        { "[::1] dual", v6("::1", 80, DUAL), BG_STACK_V6, BG_STACK_V6, BG_STACK_V6 },
        { "[fe80::1%2] dual", v6s("fe80::1", 80, DUAL, 2), BG_STACK_V6, BG_STACK_V6, BG_STACK_V6 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        ck_assert_msg(rules_stacks_checked(&c[i].a) == c[i].checked, "%s checked", c[i].what);
        ck_assert_msg(rules_stacks_held(&c[i].a, false) == c[i].held, "%s held", c[i].what);
        ck_assert_msg(rules_stacks_held(&c[i].a, true) == c[i].held_exclusive, "%s held excl", c[i].what);
    }
}
END_TEST

/* ---- overlap ---- */

struct overlap_case {
    const char *what;
    struct bg_addr held;
    bool held_exclusive;
    struct bg_addr want;
    bool overlap;
};

static void run_overlap(const struct overlap_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(rules_overlap(&c[i].held, c[i].held_exclusive, &c[i].want) == c[i].overlap,
                      "%s: expected %s", c[i].what, c[i].overlap ? "overlap" : "no overlap");
}
#define RUN_OVERLAP(c) run_overlap(c, sizeof(c) / sizeof((c)[0]))

START_TEST(overlap_ipv4)
{
    struct overlap_case c[] = {
        { "0.0.0.0 / 0.0.0.0", v4("0.0.0.0", 80), false, v4("0.0.0.0", 80), true },
        { "0.0.0.0 / 127.0.0.1", v4("0.0.0.0", 80), false, v4("127.0.0.1", 80), true },
        { "127.0.0.1 / 0.0.0.0", v4("127.0.0.1", 80), false, v4("0.0.0.0", 80), true },
        { "127.0.0.1 / 127.0.0.1", v4("127.0.0.1", 80), true, v4("127.0.0.1", 80), true },
        { "127.0.0.1 / 127.0.0.2", v4("127.0.0.1", 80), true, v4("127.0.0.2", 80), false },
        { "10.0.0.1 / 10.99.99.99", v4("10.0.0.1", 5150), true, v4("10.99.99.99", 5150), false },
        { "port is not compared", v4("0.0.0.0", 80), false, v4("127.0.0.1", 81), true },
    };
    RUN_OVERLAP(c);
}
END_TEST

START_TEST(overlap_ipv6)
{
    struct overlap_case c[] = {
        { "[::] v6only / [::1]", v6("::", 80, V6ONLY), false, v6("::1", 80, V6ONLY), true },
        { "[::1] / [::1]", v6("::1", 80, V6ONLY), false, v6("::1", 80, DUAL), true },
        { "[::1] / [::2]", v6("::1", 80, V6ONLY), false, v6("::2", 80, V6ONLY), false },
        { "[::] v6only / 0.0.0.0", v6("::", 80, V6ONLY), true, v4("0.0.0.0", 80), false },
        { "0.0.0.0 / [::] v6only", v4("0.0.0.0", 80), true, v6("::", 80, V6ONLY), false },
        { "[::] dual / [::] dual", v6("::", 80, DUAL), false, v6("::", 80, DUAL), true },
        { "[::] dual / [2001:db8::1]", v6("::", 80, DUAL), false, v6("2001:db8::1", 80, DUAL), true },
    };
    RUN_OVERLAP(c);
}
END_TEST

START_TEST(overlap_dual_stack_wildcard)
{
    struct overlap_case c[] = {
        /* Held: only an exclusive [::] keeps IPv4 (Windows as Wine's tests observe). */
        { "[::] dual non-exclusive / 0.0.0.0", v6("::", 80, DUAL), false, v4("0.0.0.0", 80), false },
        { "[::] dual exclusive / 0.0.0.0", v6("::", 80, DUAL), true, v4("0.0.0.0", 80), true },
        { "[::] dual non-exclusive / 127.0.0.1", v6("::", 80, DUAL), false, v4("127.0.0.1", 80), false },
        { "[::] dual exclusive / 127.0.0.1", v6("::", 80, DUAL), true, v4("127.0.0.1", 80), true },
        { "[::] dual non-exclusive / [::ffff:1.2.3.4]", v6("::", 80, DUAL), false,
          v6("::ffff:1.2.3.4", 80, DUAL), false },
        /* Binding: a dual-stack [::] is checked on both stacks (seed 000). */
        { "0.0.0.0 / [::] dual", v4("0.0.0.0", 80), false, v6("::", 80, DUAL), true },
        { "127.0.0.1 / [::] dual", v4("127.0.0.1", 80), false, v6("::", 80, DUAL), true },
        { "127.0.0.1 exclusive / [::] dual", v4("127.0.0.1", 80), true, v6("::", 80, DUAL), true },
        { "0.0.0.0 / [::] v6only", v4("0.0.0.0", 80), false, v6("::", 80, V6ONLY), false },
    };
    RUN_OVERLAP(c);
}
END_TEST

START_TEST(overlap_v4mapped)
{
    struct overlap_case c[] = {
        { "[::ffff:127.0.0.1] / 127.0.0.1", v6("::ffff:127.0.0.1", 80, DUAL), false, v4("127.0.0.1", 80), true },
        { "127.0.0.1 / [::ffff:127.0.0.1]", v4("127.0.0.1", 80), false, v6("::ffff:127.0.0.1", 80, DUAL), true },
        { "[::ffff:127.0.0.1] / 127.0.0.2", v6("::ffff:127.0.0.1", 80, DUAL), false, v4("127.0.0.2", 80), false },
        { "[::ffff:127.0.0.1] / [::1]", v6("::ffff:127.0.0.1", 80, DUAL), true, v6("::1", 80, DUAL), false },
        { "[::ffff:127.0.0.1] / [::] v6only", v6("::ffff:127.0.0.1", 80, DUAL), true, v6("::", 80, V6ONLY), false },
        /* ::ffff:0.0.0.0 is the IPv4 wildcard, held even when not exclusive. */
        { "[::ffff:0.0.0.0] / 127.0.0.1", v6("::ffff:0.0.0.0", 80, DUAL), false, v4("127.0.0.1", 80), true },
        { "[::ffff:0.0.0.0] / 0.0.0.0", v6("::ffff:0.0.0.0", 80, DUAL), false, v4("0.0.0.0", 80), true },
        { "[::ffff:0.0.0.0] / [::1]", v6("::ffff:0.0.0.0", 80, DUAL), false, v6("::1", 80, DUAL), false },
        { "0.0.0.0 / [::ffff:10.0.0.1]", v4("0.0.0.0", 80), false, v6("::ffff:10.0.0.1", 80, DUAL), true },
    };
    RUN_OVERLAP(c);
}
END_TEST

START_TEST(overlap_loopbacks_never_meet)
{
    struct overlap_case c[] = {
        { "[::1] / 127.0.0.1", v6("::1", 80, DUAL), true, v4("127.0.0.1", 80), false },
        { "127.0.0.1 / [::1] dual", v4("127.0.0.1", 80), true, v6("::1", 80, DUAL), false },
        { "127.0.0.1 / [::1] v6only", v4("127.0.0.1", 80), true, v6("::1", 80, V6ONLY), false },
    };
    RUN_OVERLAP(c);
}
END_TEST

START_TEST(overlap_scopes)
{
    struct overlap_case c[] = {
        { "%2 / %2", v6s("fe80::1", 80, DUAL, 2), false, v6s("fe80::1", 80, DUAL, 2), true },
        { "%2 / %3", v6s("fe80::1", 80, DUAL, 2), false, v6s("fe80::1", 80, DUAL, 3), false },
        { "%0 / %3", v6s("fe80::1", 80, DUAL, 0), false, v6s("fe80::1", 80, DUAL, 3), true },
        { "%2 / %0", v6s("fe80::1", 80, DUAL, 2), false, v6s("fe80::1", 80, DUAL, 0), true },
        { "fe80::1%2 / fe80::2%2", v6s("fe80::1", 80, DUAL, 2), false, v6s("fe80::2", 80, DUAL, 2), false },
        { "[::] / fe80::1%2", v6("::", 80, V6ONLY), false, v6s("fe80::1", 80, DUAL, 2), true },
    };
    RUN_OVERLAP(c);
}
END_TEST

/* ---- text form ---- */

static void assert_format(struct bg_addr a, const char *want)
{
    char buf[96];
    int n = address_format(&a, buf, sizeof buf);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(n, (int)strlen(want));
}

START_TEST(format)
{
    assert_format(v4("0.0.0.0", 80), "0.0.0.0:80");
    assert_format(v4("127.0.0.1", 65535), "127.0.0.1:65535");
    assert_format(v6("::1", 80, DUAL), "[::1]:80");
    assert_format(v6("::", 0, V6ONLY), "[::]:0");
    assert_format(v6s("fe80::1", 80, DUAL, 2), "[fe80::1%2]:80");
    assert_format(v6("::ffff:127.0.0.1", 80, DUAL), "[::ffff:127.0.0.1]:80");
}
END_TEST

START_TEST(format_truncates_like_snprintf)
{
    char buf[6];
    struct bg_addr a = v4("192.168.100.200", 12345);
    ck_assert_int_eq(address_format(&a, buf, sizeof buf), (int)strlen("192.168.100.200:12345"));
    ck_assert_str_eq(buf, "192.1");
}
END_TEST

START_TEST(parse_round_trips)
{
    static const char *const good[] = {
        "127.0.0.1:80", "0.0.0.0:0", "255.255.255.255:65535", "[::]:0", "[::1]:80",
        "[fe80::1%2]:80", "[::ffff:127.0.0.1]:80", "[2001:db8::1]:5150", "[fe80::1%4294967295]:1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct bg_addr a;
        char buf[96];
        ck_assert_msg(address_parse(good[i], &a) == 0, "'%s' rejected", good[i]);
        address_format(&a, buf, sizeof buf);
        ck_assert_str_eq(buf, good[i]);
    }
}
END_TEST

START_TEST(parse_fields)
{
    struct bg_addr a;
    ck_assert_int_eq(address_parse("127.0.0.1:80", &a), 0);
    struct bg_addr want = v4("127.0.0.1", 80);
    ck_assert_mem_eq(&a, &want, sizeof a);

    ck_assert_int_eq(address_parse("[fe80::1%2]:8080", &a), 0);
    want = v6s("fe80::1", 8080, DUAL, 2);
    ck_assert_mem_eq(&a, &want, sizeof a);

    ck_assert_int_eq(address_parse("[::]:0", &a), 0);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert(rules_addr_is_wildcard(&a));
    ck_assert_int_eq(a.port, 0);
}
END_TEST

START_TEST(parse_rejects)
{
    static const char *const bad[] = {
        "", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80",
        "127.0.0.1:80x", "127.0.0.1: 80", " 127.0.0.1:80", "127.0.0.1:80 ", "1.2.3:80",
        "256.1.1.1:80", "localhost:80", "::1:80", "[::1]80", "[::1]:", "[::1", "::1]:80",
        "[]:80", "[fe80::1%eth0]:80", "[fe80::1%]:80", "[fe80::1%-1]:80", "[fe80::1%4294967296]:80",
        "[1.2.3.4]:80", "[::1]:99999999999999999999", "[::g]:80", "[[::1]]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bg_addr a = v4("9.9.9.9", 9), before = a;
        ck_assert_msg(address_parse(bad[i], &a) == -1, "'%s' accepted", bad[i]);
        ck_assert_msg(memcmp(&a, &before, sizeof a) == 0, "'%s' wrote its output", bad[i]);
    }
    struct bg_addr a;
    ck_assert_int_eq(address_parse(NULL, &a), -1);
}
END_TEST

static Suite *address_suite(void)
{
    Suite *s = suite_create("address");
    TCase *from = tcase_create("from_sockaddr");
    tcase_add_test(from, layout_is_fixed);
    tcase_add_test(from, from_sockaddr_ipv4);
    tcase_add_test(from, from_sockaddr_ipv4_ignores_v6only);
    tcase_add_test(from, from_sockaddr_ipv6);
    tcase_add_test(from, from_sockaddr_accepts_longer_buffer);
    tcase_add_test(from, from_sockaddr_rejects);
    tcase_add_test(from, loopback);
    tcase_add_test(from, to_sockaddr_round_trip);
    suite_add_tcase(s, from);

    TCase *cls = tcase_create("classify");
    tcase_add_test(cls, wildcards);
    tcase_add_test(cls, v4mapped);
    tcase_add_test(cls, stacks);
    suite_add_tcase(s, cls);

    TCase *ov = tcase_create("overlap");
    tcase_add_test(ov, overlap_ipv4);
    tcase_add_test(ov, overlap_ipv6);
    tcase_add_test(ov, overlap_dual_stack_wildcard);
    tcase_add_test(ov, overlap_v4mapped);
    tcase_add_test(ov, overlap_loopbacks_never_meet);
    tcase_add_test(ov, overlap_scopes);
    suite_add_tcase(s, ov);

    TCase *text = tcase_create("text");
    tcase_add_test(text, format);
    tcase_add_test(text, format_truncates_like_snprintf);
    tcase_add_test(text, parse_round_trips);
    tcase_add_test(text, parse_fields);
    tcase_add_test(text, parse_rejects);
    suite_add_tcase(s, text);
    return s;
}

int main(void)
{
    return harness_run(address_suite());
}
