/* test_bind - what a bind claims under the shim, between processes: dual stack and
 * v4-mapped addresses, the two loopbacks, a listener shut down or toggling between
 * listening and not, network namespaces, and
 * the sharers Windows lets in (emulate's first listener, multicast receivers). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "agents/mcast.h"

START_TEST(dual_stack_exclusive_holds_ipv4)
{
    /* Each pair carries SO_REUSEADDR, with which the kernel alone lets both bind. An IPv4
     * bind refused across stacks by an exclusive dual-stack wildcard gets EACCES whatever
     * its class (real Windows), though the same-family cell may say INUSE. */
    const struct {
        const struct proc_how *how;
        const char *holder, *contender, *want;
    } cases[] = {
        /* exclusive by the default class; the cell (exclusive W, exclusive W) is INUSE */
        {SHIM, "-f d -a :: -o reuseaddr", "-f 4 -a 0.0.0.0 -o reuseaddr", "ERR EACCES bind"},
        /* exclusive explicitly, among sockets of Windows' plain default class; the cell
         * (exclusive W, default W) is INUSE */
        {SHIM_WITH("BINDGUARD_DEFAULT=windows"), "-f d -a :: -o reuseaddr,exclusive",
         "-f 4 -a 0.0.0.0 -o reuseaddr", "ERR EACCES bind"},
        {SHIM_WITH("BINDGUARD_DEFAULT=windows"), "-f d -a :: -o reuseaddr,exclusive",
         "-f 4 -a 127.0.0.1 -o reuseaddr", "ERR EACCES bind"},
        /* a v4-mapped address is that IPv4 address, whatever the socket's family: the
         * same-address cell, not a cross-stack refusal */
        {SHIM, "-f d -a ::ffff:127.0.0.1 -o reuseaddr", "-f 4 -a 127.0.0.1 -o reuseaddr",
         "ERR EADDRINUSE bind"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *line = fixture_pair(cases[i].how, cases[i].holder, cases[i].contender, &port);
        ck_assert_msg(strcmp(line, cases[i].want) == 0, "%s then %s: '%s', want '%s'",
                      cases[i].holder, cases[i].contender, line, cases[i].want);
        ck_assert_int_eq(fixture_refusals("tcp", port, 0), 1);
    }
}
END_TEST

START_TEST(dual_stack_default_lets_ipv4_through)
{
    static const char *const cases[][2] = {
        {"-f d -a :: -l", "-f 4 -a 0.0.0.0"},                         /* the kernel refuses */
        {"-f d -a :: -o reuseaddr", "-f 4 -a 0.0.0.0 -o reuseaddr"}, /* the kernel allows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *native = fixture_pair(NATIVE, cases[i][0], cases[i][1], NULL);
        const char *got =
            fixture_pair(SHIM_WITH("BINDGUARD_DEFAULT=windows"), cases[i][0], cases[i][1], &port);
        ck_assert_msg(fixture_same_outcome(got, native), "%s then %s: shim '%s', native '%s'",
                      cases[i][0], cases[i][1], got, native);
        ck_assert_int_eq(fixture_refusals("tcp", port, 0), 0);
    }
}
END_TEST

START_TEST(loopbacks_never_conflict)
{
    static const char *const cases[][2] = {
        {"-f 6 -a ::1", "-f 4 -a 127.0.0.1"},
        {"-f 4 -a 127.0.0.1 -o exclusive -l", "-f d -a ::1 -o exclusive"},
        {"-f d -a ::1 -o exclusive -l", "-f 4 -a 127.0.0.1 -o exclusive -l"},
        {"-p udp -f 6 -a ::1 -o exclusive", "-p udp -f 4 -a 127.0.0.1 -o exclusive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *line = fixture_pair(SHIM, cases[i][0], cases[i][1], &port);
        fixture_assert_ok(line, port);
    }
    ck_assert_int_eq(fixture_log_lines("refused", NULL), 0);
}
END_TEST

/* A listener shut down while another socket shares its port goes back to bound-only and
 * keeps the port (a plain bind natively says EADDRINUSE); its claim must hold too, though
 * its entry says it listened (sock_diag finds it only as bound-inactive). */
START_TEST(shut_down_listener_keeps_its_claim)
{
    int port = fixture_free_port();
    struct proc *h = AGENT_START(SHIM, "shut_listener", proc_num(port));
    const char *line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "SHUT") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    int plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    errno = 0;
    ck_assert_msg(proc_bind(plain, "127.0.0.1", port) != 0 && errno == EADDRINUSE,
                  "premise: natively the shut-down listener should still hold the port (%s)",
                  strerror(errno));
    close(plain);

    struct proc *t =
        AGENT_START(SHIM, "tbind", "-a", "127.0.0.1", "-o", "reuseaddr", "-P", proc_num(port));
    line = proc_line(t, 5000);
    char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    proc_finish(t, 5000);
    ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "an exclusive bind beside the "
                  "shut-down listener said '%s'", got);
    ck_assert_int_eq(proc_finish(h, 5000), 0);
}
END_TEST

/* A holder that keeps starting and stopping to listen changes what sock_diag reports of
 * its socket while a conflicting binder asks (listening, then bound-only): a binder that
 * took a moment between the two for "gone" would reap the live claim and, once the
 * socket stops listening, bind beside it. Every such bind must stay refused. */
START_TEST(listen_toggling_keeps_its_claim)
{
    int port = fixture_free_port();
    /* A loaded machine may hold a waiter past the usual bound: that is not this test's
     * subject, and a bind that goes unjudged would read as a grant. */
    struct proc *h = AGENT_START(SHIM_WITH("BINDGUARD_LOCK_TIMEOUT_MS=20000"),
                                 "listen_toggle", "toggle", proc_num(port));
    fixture_expect_line(h, "TOGGLING");
    /* The binders: thousands of refusals, so no log (the holder's still fails the test
     * on trouble). */
    struct proc *c[2];
    for (int i = 0; i < 2; i++)
        c[i] = AGENT_START(SHIM_WITH("BINDGUARD_LOCK_TIMEOUT_MS=20000", "BINDGUARD_LOG=off"),
                           "listen_toggle", "claim", proc_num(port), "3000");
    long bound = 0, refused = 0;
    for (int i = 0; i < 2; i++) {
        long b = -1, r = -1;
        const char *line = proc_line(c[i], 15000);
        ck_assert_msg(line && sscanf(line, "BOUND %ld REFUSED %ld", &b, &r) == 2,
                      "binder said '%s' (%s)", line ? line : "", c[i]->ebuf);
        bound += b;
        refused += r;
        ck_assert_int_eq(proc_finish(c[i], 5000), 0);
    }
    ck_assert_msg(proc_alive(h), "the toggling holder died: %s", h->ebuf);
    ck_assert_msg(bound == 0 && refused > 0, "%ld of %ld binds beside a live exclusive socket "
                  "that kept listening and shutting down got in (its claim was reaped while "
                  "sock_diag saw it change state)", bound, bound + refused);
    ck_assert_int_eq(proc_finish(h, 5000), 0);
}
END_TEST

/* Containers never collide: the table key includes the socket's network namespace, and
 * a namespace change (unshare) drops the key bindguard had cached for the old one. */
START_TEST(network_namespaces_never_collide)
{
    if (!harness_is_root()) {
        printf("SKIP network namespaces: unshare(CLONE_NEWNET) needs root\n");
        return;
    }
    static const char *const how[] = {"libc", "raw"};
    for (size_t i = 0; i < 2; i++) {
        int ports[2];
        proc_free_ports(ports, 2);
        /* Not listening, with Linux's SO_REUSEADDR: the kernel alone would let the last
         * bind below through, so only the holder's entry can refuse it. */
        struct proc *holder =
            fixture_tbind_hold(SHIM, "-a 127.0.0.1 -o reuseaddr,exclusive", ports[0]);
        struct proc *p =
            AGENT(SHIM, "netns_bind", proc_num(ports[0]), proc_num(ports[1]), how[i]);
        const char *line = proc_line(p, FIXTURE_WAIT_MS);
        ck_assert_msg(line && strcmp(line, "BOUND") == 0, "%s: got '%s' (%s)", how[i],
                      line ? line : "(nothing)", p->ebuf);
        /* The holder's entry was not judged (and so not reaped) from the other namespace. */
        ck_assert_msg(strcmp(fixture_tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", ports[0]),
                             "ERR EADDRINUSE bind") == 0, "%s: the holder lost its entry", how[i]);
        fixture_let_go(holder);
    }
}
END_TEST

/* Emulate: Windows gives every connection on a shared address:port to the socket that
 * listened first, and the next takes over when it closes
 * (doc/design.md "Guard and emulate"). */
START_TEST(emulate_first_listener_gets_every_connection)
{
    int port = fixture_free_port();
    const struct proc_how *emulate =
        SHIM_WITH("BINDGUARD_EMULATE=1", "BINDGUARD_REUSEADDR=windows");
    struct proc *p = AGENT(emulate, "first_listener", proc_num(port));
    const char *line = proc_line(p, FIXTURE_WAIT_MS);
    ck_assert_msg(line && strcmp(line, "COUNTS 40 0 10") == 0, "got '%s'",
                  line ? line : "(nothing)");
}
END_TEST

static bool mcast_send(int port, const char *msg)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct in_addr lo;
    unsigned char loop = 1;
    struct sockaddr_storage group;
    socklen_t len = proc_sockaddr(MCAST_GROUP, port, &group);
    inet_pton(AF_INET, "127.0.0.1", &lo);
    bool ok = fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo) == 0 &&
              setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) == 0 &&
              sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&group, len) ==
                  (ssize_t)strlen(msg);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Natively, without the shim: can this machine loop multicast back at all? */
static bool multicast_works(int port)
{
    int fd = mcast_receiver(port);
    char buf[16];
    bool ok = fd >= 0 && mcast_send(port, "probe") && mcast_recv_within(fd, 1000, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(multicast_receivers_all_receive)
{
    int port = fixture_free_port();
    if (!multicast_works(port)) {
        printf("SKIP multicast: a datagram to " MCAST_GROUP " with IP_MULTICAST_IF 127.0.0.1 "
               "does not come back even without bindguard "
               "(try `ip route add 239.0.0.0/8 dev lo`)\n");
        return;
    }
    struct proc *r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = AGENT_START(SHIM, "mcast_recv", proc_num(port), proc_num(FIXTURE_WAIT_MS / 2));
        fixture_expect_line(r[i], "READY");
    }
    ck_assert(mcast_send(port, "hello"));
    for (int i = 0; i < 3; i++) {
        fixture_expect_line(r[i], "GOT hello");
        ck_assert_int_eq(proc_finish(r[i], FIXTURE_WAIT_MS), 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bind");
    TCase *tc = fixture_tcase(s, "addresses");
    tcase_add_test(tc, dual_stack_exclusive_holds_ipv4);
    tcase_add_test(tc, dual_stack_default_lets_ipv4_through);
    tcase_add_test(tc, loopbacks_never_conflict);
    tcase_add_test(tc, network_namespaces_never_collide);
    tc = fixture_tcase(s, "shutdown");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, shut_down_listener_keeps_its_claim);
    tcase_add_test(tc, listen_toggling_keeps_its_claim);
    tc = fixture_tcase(s, "sharing");
    tcase_add_test(tc, emulate_first_listener_gets_every_connection);
    tcase_add_test(tc, multicast_receivers_all_receive);
    return fixture_main(s);
}
