/* test_kernel - sock_diag answers against real sockets in this network namespace, and
 * the reply parser against crafted replies no real kernel sends (through src/os/diag.h,
 * the wire format's own interface). */
#include "harness.h"
#include "bindprobe.h"
#include "diag.h"
#include "kernel.h"
#include "sys.h"

#include <linux/sock_diag.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tsock {
    int fd;
    uint8_t proto;
    uint32_t inode;
    struct bg_addr a;   /* as bound, IPv4 kept v4-mapped like the address module does */
};

static struct bg_addr addr_of(const struct sockaddr_storage *ss, bool v6only)
{
    struct bg_addr a;
    memset(&a, 0, sizeof a);
    a.family = (uint8_t)ss->ss_family;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)ss;
        a.ip[10] = a.ip[11] = 0xff;
        memcpy(a.ip + 12, &sin->sin_addr, 4);
        a.port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const void *)ss;
        memcpy(a.ip, &sin6->sin6_addr, 16);
        a.port = ntohs(sin6->sin6_port);
        a.scope_id = sin6->sin6_scope_id;
        a.v6only = v6only;
    }
    return a;
}

static socklen_t sockaddr_for(int family, const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    ss->ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (void *)ss;
        sin->sin_port = htons(port);
        ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (void *)ss;
    sin6->sin6_port = htons(port);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return sizeof *sin6;
}

enum { NO_LISTEN = 0, LISTEN = 1, REUSEPORT = 2 };

/* A socket bound to ip:port (port 0: the kernel picks a free one), listening if asked. */
static struct tsock open_on(int family, int type, const char *ip, uint16_t port, int flags)
{
    struct tsock t;
    memset(&t, 0, sizeof t);
    t.proto = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    t.fd = socket(family, type | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t.fd, 0);
    int one = 1, v6only = strcmp(ip, "::") != 0;   /* "::" is the dual-stack case */
    if (family == AF_INET6)
        ck_assert_int_eq(setsockopt(t.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only), 0);
    if (flags & REUSEPORT)
        ck_assert_int_eq(setsockopt(t.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_for(family, ip, port, &ss);
    ck_assert_msg(bind(t.fd, (struct sockaddr *)&ss, len) == 0, "bind %s: %s", ip, strerror(errno));
    if (flags & LISTEN)
        ck_assert_int_eq(listen(t.fd, 64), 0);
    len = sizeof ss;
    ck_assert_int_eq(getsockname(t.fd, (struct sockaddr *)&ss, &len), 0);
    t.a = addr_of(&ss, family == AF_INET6 && v6only);
    struct stat st;
    ck_assert_int_eq(fstat(t.fd, &st), 0);
    t.inode = (uint32_t)st.st_ino;
    return t;
}

static struct tsock open_sock(int family, int type, const char *ip, int flags)
{
    return open_on(family, type, ip, 0, flags);
}

/* The kernel's record of t, or NULL; also checks that nothing on another port came back. */
static const struct kernel_sock *find(const struct tsock *t)
{
    static struct kernel_sock ks[64];
    int n = kernel_port_sockets(t->proto, t->a.port, ks, 64);
    ck_assert_int_ge(n, 0);
    ck_assert_int_le(n, 64);
    const struct kernel_sock *hit = NULL;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(ks[i].local.port, t->a.port);
        ck_assert_uint_eq(ks[i].proto, t->proto);
        if (ks[i].inode == t->inode)
            hit = &ks[i];
    }
    return hit;
}

static enum kernel_answer confirm_mine(const struct tsock *t, bool bound_only)
{
    return kernel_confirm(t->proto, &t->a, t->inode, (uint32_t)getuid(), bound_only);
}

/* Seen with its inode, uid, address and state; ALIVE; GONE once closed. */
static void check_lifecycle(struct tsock t, uint8_t state, bool bound_only)
{
    const struct kernel_sock *k = find(&t);
    ck_assert_msg(k != NULL, "socket on port %u not reported", t.a.port);
    ck_assert_uint_eq(k->uid, getuid());
    ck_assert_uint_eq(k->state, state);
    ck_assert_uint_eq(k->local.family, t.a.family);
    ck_assert_mem_eq(k->local.ip, t.a.ip, 16);
    ck_assert_uint_eq(k->local.v6only, t.a.v6only);
    ck_assert_uint_ne(k->cookie, 0);
    ck_assert_int_eq(confirm_mine(&t, bound_only), KERNEL_ALIVE);
    close(t.fd);
    ck_assert_ptr_null(find(&t));
    ck_assert_int_eq(confirm_mine(&t, bound_only), KERNEL_GONE);
}

START_TEST(tcp4_listener)
{
    check_lifecycle(open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN), TCP_LISTEN, false);
}
END_TEST

START_TEST(udp4_socket)
{
    check_lifecycle(open_sock(AF_INET, SOCK_DGRAM, "127.0.0.1", 0), TCP_CLOSE, false);
}
END_TEST

START_TEST(tcp6_listener)
{
    check_lifecycle(open_sock(AF_INET6, SOCK_STREAM, "::1", LISTEN), TCP_LISTEN, false);
}
END_TEST

START_TEST(udp6_socket)
{
    check_lifecycle(open_sock(AF_INET6, SOCK_DGRAM, "::1", 0), TCP_CLOSE, false);
}
END_TEST

START_TEST(dual_stack_listener)
{
    struct tsock t = open_sock(AF_INET6, SOCK_STREAM, "::", LISTEN);
    ck_assert_uint_eq(t.a.v6only, 0);
    check_lifecycle(t, TCP_LISTEN, false);
}
END_TEST

START_TEST(dual_stack_udp)
{
    check_lifecycle(open_sock(AF_INET6, SOCK_DGRAM, "::", 0), TCP_CLOSE, false);
}
END_TEST

START_TEST(wildcard_v4_listener)
{
    check_lifecycle(open_sock(AF_INET, SOCK_STREAM, "0.0.0.0", LISTEN), TCP_LISTEN, false);
}
END_TEST

static bool skip_without_bound_inactive(const char *test)
{
    if (kernel_bound_inactive_supported())
        return false;
    fprintf(stderr, "SKIP %s: kernel does not report bound-only TCP sockets (< 6.8)\n", test);
    return true;
}

START_TEST(tcp_bound_not_listening)
{
    if (skip_without_bound_inactive("tcp_bound_not_listening"))
        return;
    struct tsock t = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", NO_LISTEN);
    /* The fast path looks at listeners only: a caller that rules out bound-only pays ~20 µs
     * and gets GONE; one that allows it gets the truth. */
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_GONE);
    check_lifecycle(t, TCP_CLOSE, true);
}
END_TEST

START_TEST(tcp6_bound_not_listening)
{
    if (skip_without_bound_inactive("tcp6_bound_not_listening"))
        return;
    check_lifecycle(open_sock(AF_INET6, SOCK_STREAM, "::", NO_LISTEN), TCP_CLOSE, true);
}
END_TEST

START_TEST(bound_then_connected_tcp)
{
    struct tsock srv = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN);
    struct tsock cli = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", NO_LISTEN);
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_for(AF_INET, "127.0.0.1", srv.a.port, &ss);
    ck_assert_int_eq(connect(cli.fd, (struct sockaddr *)&ss, len), 0);
    ck_assert_int_eq(confirm_mine(&cli, true), KERNEL_ALIVE);
    const struct kernel_sock *k = find(&cli);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->state, TCP_ESTABLISHED);
    close(cli.fd);
    close(srv.fd);
}
END_TEST

START_TEST(connected_wildcard_udp)
{
    /* Bound to 0.0.0.0, then connected: the kernel reports 127.0.0.1 as its address. */
    struct tsock t = open_sock(AF_INET, SOCK_DGRAM, "0.0.0.0", 0);
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_for(AF_INET, "127.0.0.1", 9, &ss);
    ck_assert_int_eq(connect(t.fd, (struct sockaddr *)&ss, len), 0);
    const struct kernel_sock *k = find(&t);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->state, TCP_ESTABLISHED);
    ck_assert_uint_eq(k->local.ip[12], 127);
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_ALIVE);
    close(t.fd);
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_GONE);
}
END_TEST

START_TEST(wrong_uid_inode_or_address)
{
    struct tsock t = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN);
    uint32_t uid = (uint32_t)getuid();
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &t.a, t.inode, uid + 1, true), KERNEL_GONE);
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &t.a, t.inode + 1, uid, true), KERNEL_GONE);
    ck_assert_int_eq(kernel_confirm(IPPROTO_UDP, &t.a, t.inode, uid, false), KERNEL_GONE);
    struct bg_addr other = t.a;
    other.ip[15] = 2;   /* 127.0.0.2: another specific address */
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &other, t.inode, uid, false), KERNEL_GONE);
    other = t.a;
    other.port++;
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &other, t.inode, uid, false), KERNEL_GONE);
    other = t.a;
    other.family = AF_INET6;   /* the same bytes claimed by a dual-stack socket */
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &other, t.inode, uid, false), KERNEL_GONE);
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_ALIVE);
    close(t.fd);
}
END_TEST

/* Members of a reuseport group: the exact lookup answers with one of them, so the others
 * must be found by the dump; max caps what is written, not what is counted. */
static void check_reuseport_group(int type)
{
    struct tsock g[3];
    g[0] = open_sock(AF_INET, type, "127.0.0.1", LISTEN * (type == SOCK_STREAM) | REUSEPORT);
    for (int i = 1; i < 3; i++)
        g[i] = open_on(AF_INET, type, "127.0.0.1", g[0].a.port,
                       LISTEN * (type == SOCK_STREAM) | REUSEPORT);
    struct kernel_sock one;
    ck_assert_int_eq(kernel_port_sockets(g[0].proto, g[0].a.port, &one, 1), 3);
    ck_assert_int_eq(kernel_port_sockets(g[0].proto, g[0].a.port, NULL, 0), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(confirm_mine(&g[i], false), KERNEL_ALIVE);
    for (int i = 0; i < 3; i++) {
        close(g[i].fd);
        ck_assert_int_eq(confirm_mine(&g[i], false), KERNEL_GONE);
    }
}

START_TEST(reuseport_tcp_group)
{
    check_reuseport_group(SOCK_STREAM);
}
END_TEST

START_TEST(reuseport_udp_group)
{
    check_reuseport_group(SOCK_DGRAM);
}
END_TEST

static int sleep_forever(void *arg)
{
    (void)arg;
    pause();   /* until SIGKILL */
    return 0;
}

START_TEST(held_by_forked_child)
{
    struct tsock t = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN);
    pid_t pid = harness_fork(sleep_forever, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_gt(pid, 0);
    close(t.fd);
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_ALIVE);
    kill(pid, SIGKILL);
    ck_assert_int_eq(harness_wait(pid, 5000), -1);
    ck_assert_int_eq(confirm_mine(&t, false), KERNEL_GONE);
}
END_TEST

struct report {
    int to_parent[2], from_parent[2];
};

/* As nobody: open a listener, tell the parent port and inode, wait until told to go. */
static int listen_as_nobody(void *arg)
{
    struct report *r = arg;
    close(r->to_parent[0]);
    close(r->from_parent[1]);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    struct stat st;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 1) != 0
        || getsockname(fd, (struct sockaddr *)&sin, &len) != 0 || fstat(fd, &st) != 0)
        return 1;
    uint32_t msg[2] = {ntohs(sin.sin_port), (uint32_t)st.st_ino};
    if (write(r->to_parent[1], msg, sizeof msg) != sizeof msg)
        return 2;
    char c;
    return read(r->from_parent[0], &c, 1) < 0 ? 3 : 0;
}

START_TEST(socket_of_nobody)
{
    if (!harness_is_root()) {
        fprintf(stderr, "SKIP socket_of_nobody: needs root to become nobody\n");
        return;
    }
    uid_t uid;
    gid_t gid;
    harness_nobody(&uid, &gid);
    struct report r;
    ck_assert_int_eq(pipe(r.to_parent), 0);
    ck_assert_int_eq(pipe(r.from_parent), 0);
    pid_t pid = harness_fork(listen_as_nobody, &r, uid, gid);
    close(r.to_parent[1]);
    close(r.from_parent[0]);
    uint32_t msg[2];
    ck_assert_int_eq(read(r.to_parent[0], msg, sizeof msg), (ssize_t)sizeof msg);
    struct tsock t = {.fd = -1, .proto = IPPROTO_TCP, .inode = msg[1]};
    t.a.family = AF_INET;
    t.a.port = (uint16_t)msg[0];
    t.a.ip[10] = t.a.ip[11] = 0xff;
    t.a.ip[12] = 127;
    t.a.ip[15] = 1;
    const struct kernel_sock *k = find(&t);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->uid, 65534);
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &t.a, t.inode, uid, false), KERNEL_ALIVE);
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &t.a, t.inode, 0, false), KERNEL_GONE);
    close(r.from_parent[1]);
    ck_assert_int_eq(harness_wait(pid, 5000), 0);
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &t.a, t.inode, uid, false), KERNEL_GONE);
}
END_TEST

static enum kernel_answer connections_within(const struct bg_addr *a, enum kernel_answer want,
                                             unsigned ms)
{
    enum kernel_answer got;
    struct timespec step = {0, 1000000};
    for (unsigned i = 0; (got = kernel_has_connections(a, (uint32_t)getuid())) != want && i < ms; i++)
        nanosleep(&step, NULL);
    return got;
}

START_TEST(linger_connections)
{
    struct tsock l = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN);
    struct bg_addr wild = l.a;
    memset(wild.ip + 12, 0, 4);
    ck_assert_int_eq(kernel_has_connections(&l.a, (uint32_t)getuid()), KERNEL_GONE);

    int cli = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_for(AF_INET, "127.0.0.1", l.a.port, &ss);
    ck_assert_int_eq(connect(cli, (struct sockaddr *)&ss, len), 0);
    int conn = accept(l.fd, NULL, NULL);
    ck_assert_int_ge(conn, 0);
    close(l.fd);
    ck_assert_int_eq(kernel_has_connections(&l.a, (uint32_t)getuid()), KERNEL_ALIVE);
    ck_assert_int_eq(kernel_has_connections(&wild, (uint32_t)getuid()), KERNEL_ALIVE);
    ck_assert_int_eq(kernel_has_connections(&l.a, (uint32_t)getuid() + 1), KERNEL_GONE);
    struct bg_addr other = l.a;
    other.ip[15] = 2;
    ck_assert_int_eq(kernel_has_connections(&other, (uint32_t)getuid()), KERNEL_GONE);

    /* The accepted side closes first, so it is the one left in TIME_WAIT on the port. */
    close(conn);
    close(cli);
    ck_assert_int_eq(connections_within(&l.a, KERNEL_GONE, 2000), KERNEL_GONE);
    struct kernel_sock ks[8];
    int n = kernel_port_sockets(IPPROTO_TCP, l.a.port, ks, 8);
    bool time_wait = false;
    for (int i = 0; i < n && i < 8; i++)
        time_wait |= ks[i].state == TCP_TIME_WAIT;
    ck_assert_msg(time_wait, "expected the accepted side in TIME_WAIT (%d sockets)", n);
}
END_TEST

START_TEST(netns_cookie)
{
    int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET6, SOCK_DGRAM, 0), p[2];
    ck_assert_int_eq(pipe(p), 0);
    uint64_t ca = kernel_netns_cookie(a);
    ck_assert_uint_ne(ca, 0);
    ck_assert_uint_eq(ca, kernel_netns_cookie(b));
    errno = 1234;
    ck_assert_uint_eq(kernel_netns_cookie(p[0]), 0);
    ck_assert_int_eq(errno, 1234);
    close(a);
    close(b);
}
END_TEST

struct other_ns {
    uint64_t parent_cookie;
    uint16_t parent_port;
};

static int in_new_netns(void *arg)
{
    const struct other_ns *o = arg;
    if (unshare(CLONE_NEWNET) != 0)
        return 10;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint64_t c = kernel_netns_cookie(fd);
    if (c == 0 || c == o->parent_cookie)
        return 11;
    /* Replies cover the asking socket's namespace: the parent's listener is not here. */
    return kernel_port_sockets(IPPROTO_TCP, o->parent_port, NULL, 0) == 0 ? 0 : 12;
}

START_TEST(other_netns)
{
    if (!harness_is_root()) {
        fprintf(stderr, "SKIP other_netns: needs root for unshare(CLONE_NEWNET)\n");
        return;
    }
    struct tsock t = open_sock(AF_INET, SOCK_STREAM, "0.0.0.0", LISTEN);
    struct other_ns o = {kernel_netns_cookie(t.fd), t.a.port};
    ck_assert_int_eq(kernel_port_sockets(IPPROTO_TCP, t.a.port, NULL, 0), 1);
    ck_assert_int_eq(harness_wait(harness_fork(in_new_netns, &o, (uid_t)-1, (gid_t)-1), 5000), 0);
    close(t.fd);
}
END_TEST

/* With no descriptor left for a netlink socket, nothing can be asked: never GONE. */
static int without_netlink(void *arg)
{
    const struct tsock *t = arg;
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_NOFILE, &none) != 0)
        return 10;
    uint32_t uid = (uint32_t)getuid();
    if (kernel_confirm(t->proto, &t->a, t->inode, uid, true) != KERNEL_UNKNOWN)
        return 11;
    if (kernel_confirm(t->proto, &t->a, t->inode + 1, uid, false) != KERNEL_UNKNOWN)
        return 12;
    if (kernel_has_connections(&t->a, uid) != KERNEL_UNKNOWN)
        return 13;
    errno = 1234;
    if (kernel_port_sockets(t->proto, t->a.port, NULL, 0) != -EMFILE || errno != 1234)
        return 14;
    return 0;
}

START_TEST(netlink_unavailable)
{
    struct tsock t = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN);
    ck_assert_int_eq(harness_wait(harness_fork(without_netlink, &t, (uid_t)-1, (gid_t)-1), 5000), 0);
    close(t.fd);
}
END_TEST

START_TEST(bad_arguments)
{
    struct bg_addr a = {.family = AF_INET, .port = 1};
    ck_assert_int_eq(kernel_port_sockets(IPPROTO_ICMP, 80, NULL, 0), -EPROTONOSUPPORT);
    ck_assert_int_eq(kernel_confirm(IPPROTO_ICMP, &a, 1, 0, false), KERNEL_GONE);
    a.family = AF_UNIX;
    ck_assert_int_eq(kernel_confirm(IPPROTO_TCP, &a, 1, 0, false), KERNEL_GONE);
    ck_assert_int_eq(kernel_has_connections(&a, 0), KERNEL_GONE);
}
END_TEST

enum { CROWD = 2000 };

/* Many other sockets of every kind the walks pass over: answers about ours stay exact. */
START_TEST(among_many_sockets)
{
    static int others[CROWD];
    for (int i = 0; i < CROWD; i++) {
        int kind = i % 4;
        struct tsock o = kind == 0 ? open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", LISTEN)
                       : kind == 1 ? open_sock(AF_INET6, SOCK_STREAM, "::", NO_LISTEN)
                       : kind == 2 ? open_sock(AF_INET, SOCK_DGRAM, "127.0.0.1", 0)
                                   : open_sock(AF_INET, SOCK_STREAM, "0.0.0.0", NO_LISTEN);
        others[i] = o.fd;
    }
    struct tsock l = open_sock(AF_INET6, SOCK_STREAM, "::", LISTEN);
    struct tsock u = open_sock(AF_INET, SOCK_DGRAM, "0.0.0.0", 0);
    struct tsock b = open_sock(AF_INET, SOCK_STREAM, "127.0.0.1", NO_LISTEN);
    struct tsock *mine[] = {&l, &u, &b};
    bool bound_inactive = kernel_bound_inactive_supported();
    for (size_t i = 0; i < 3; i++) {
        struct tsock *t = mine[i];
        bool bound_only = t == &b;
        struct kernel_sock ks[4];
        int n = kernel_port_sockets(t->proto, t->a.port, ks, 4);
        ck_assert_int_eq(n, bound_only && !bound_inactive ? 0 : 1);
        if (n == 1)
            ck_assert_uint_eq(ks[0].inode, t->inode);
        ck_assert_int_eq(confirm_mine(t, bound_only),
                         bound_only && !bound_inactive ? KERNEL_UNKNOWN : KERNEL_ALIVE);
        close(t->fd);
        ck_assert_int_eq(confirm_mine(t, bound_only),
                         bound_only && !bound_inactive ? KERNEL_UNKNOWN : KERNEL_GONE);
    }
    for (int i = 0; i < CROWD; i++)
        close(others[i]);
}
END_TEST

/* ---- crafted replies ------------------------------------------------------------ */

enum { PORT = 4242, SEQ = 5 };

struct crafted {
    _Alignas(struct nlmsghdr) char buf[1024];
    size_t len;
    int visits;
    struct kernel_sock seen;
};

static struct crafted cr;

static bool remember(const struct kernel_sock *k, void *ctx)
{
    (void)ctx;
    cr.visits++;
    cr.seen = *k;
    return false;
}

static struct nlmsghdr *put_msg(uint16_t type, uint16_t flags, uint32_t seq, const void *data,
                                size_t len)
{
    struct nlmsghdr *h = (void *)(cr.buf + cr.len);
    h->nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    h->nlmsg_pid = 0;
    memcpy(NLMSG_DATA(h), data, len);
    cr.len += NLMSG_ALIGN(h->nlmsg_len);
    return h;
}

static void put_attr(struct nlmsghdr *h, uint16_t type, const void *data, uint16_t len)
{
    struct nlattr *a = (void *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
    cr.len = (size_t)((char *)h - cr.buf) + h->nlmsg_len;
}

/* A listening [::1]:PORT socket as the kernel would describe it. */
static struct nlmsghdr *put_sock(uint16_t flags, uint32_t seq, uint16_t port)
{
    struct inet_diag_msg m;
    memset(&m, 0, sizeof m);
    m.idiag_family = AF_INET6;
    m.idiag_state = TCP_LISTEN;
    m.id.idiag_sport = htons(port);
    m.id.idiag_src[3] = htonl(1);
    m.id.idiag_cookie[0] = 1;
    m.id.idiag_cookie[1] = 2;
    m.idiag_uid = 7;
    m.idiag_inode = 42;
    struct nlmsghdr *h = put_msg(SOCK_DIAG_BY_FAMILY, flags, seq, &m, sizeof m);
    uint8_t v6only = 1;
    put_attr(h, INET_DIAG_SKV6ONLY, &v6only, 1);
    return h;
}

static int walk(bool *ended)
{
    struct diag_query q = {.family = AF_INET6, .proto = IPPROTO_TCP, .port = PORT, .seq = SEQ};
    *ended = false;
    return diag_walk_datagram(cr.buf, cr.len, &q, remember, NULL, ended);
}

static void crafted_setup(void)
{
    memset(&cr, 0, sizeof cr);
}

START_TEST(reply_dump_parts)
{
    bool ended;
    put_sock(NLM_F_MULTI, SEQ, PORT);
    put_sock(NLM_F_MULTI, SEQ, PORT + 1);      /* another port: re-checked, not visited */
    put_sock(NLM_F_MULTI, SEQ + 1, PORT);      /* another request's answer: ignored */
    ck_assert_int_eq(walk(&ended), DIAG_MORE);
    ck_assert(!ended);
    ck_assert_int_eq(cr.visits, 1);
    ck_assert_uint_eq(cr.seen.inode, 42);
    ck_assert_uint_eq(cr.seen.uid, 7);
    ck_assert_uint_eq(cr.seen.cookie, (2ull << 32) | 1);
    ck_assert_uint_eq(cr.seen.local.port, PORT);
    ck_assert_uint_eq(cr.seen.local.family, AF_INET6);
    ck_assert_uint_eq(cr.seen.local.v6only, 1);
    ck_assert_uint_eq(cr.seen.local.ip[15], 1);
    ck_assert_uint_eq(cr.seen.state, TCP_LISTEN);
    int zero = 0;
    put_msg(NLMSG_DONE, NLM_F_MULTI, SEQ, &zero, sizeof zero);
    ck_assert_int_eq(walk(&ended), 0);
    ck_assert(ended);
}
END_TEST

START_TEST(reply_single)
{
    bool ended;
    put_sock(0, SEQ, PORT);
    put_sock(0, SEQ, PORT);   /* after the answer ended: never read */
    ck_assert_int_eq(walk(&ended), 0);
    ck_assert(ended);
    ck_assert_int_eq(cr.visits, 1);
}
END_TEST

START_TEST(reply_status)
{
    static const struct { uint16_t type; bool payload; int value, want; } cases[] = {
        {NLMSG_ERROR, true, -ENOENT, -ENOENT}, {NLMSG_ERROR, true, 0, 0},
        {NLMSG_ERROR, false, 0, -EBADMSG},    {NLMSG_ERROR, true, 5, -EBADMSG},
        {NLMSG_ERROR, true, -100000, -EBADMSG}, {NLMSG_DONE, false, 0, 0},
        {NLMSG_DONE, true, -EINTR, -EINTR},   {NLMSG_OVERRUN, false, 0, -EOVERFLOW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ended;
        crafted_setup();
        put_msg(cases[i].type, 0, SEQ, &cases[i].value, cases[i].payload ? sizeof(int) : 0);
        ck_assert_msg(walk(&ended) == cases[i].want, "case %zu", i);
    }
}
END_TEST

/* Every length the kernel could get wrong is checked before anything is read. */
START_TEST(reply_malformed)
{
    bool ended;
    struct nlmsghdr *h = put_sock(NLM_F_MULTI, SEQ, PORT);
    size_t whole = cr.len;

    cr.len = sizeof *h - 1;                         /* shorter than a header */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    cr.len = whole;
    h->nlmsg_len = sizeof *h - 4;                   /* header claims less than itself */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    struct nlattr *beyond = (void *)(cr.buf + whole);
    beyond->nla_len = NLA_HDRLEN + 4;               /* plausible, but never received */
    beyond->nla_type = INET_DIAG_PAD;
    h->nlmsg_len = (uint32_t)whole + beyond->nla_len;   /* claims more than arrived */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_msg) - 4);   /* short payload */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    h->nlmsg_len = (uint32_t)whole;

    struct nlattr *a = (void *)((char *)h + NLMSG_LENGTH(sizeof(struct inet_diag_msg)));
    a->nla_len = 2;                                 /* attribute shorter than its header */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    a->nla_len = (uint16_t)(whole - ((char *)a - cr.buf) + 1);       /* past the message */
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    a->nla_len = NLA_HDRLEN + 1;
    h->nlmsg_len += 2;                              /* a stub after the last attribute */
    cr.len += 2;
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    h->nlmsg_len -= 2;
    cr.len -= 2;

    ((struct inet_diag_msg *)NLMSG_DATA(h))->idiag_family = AF_UNIX;
    ck_assert_int_eq(walk(&ended), -EBADMSG);
    ck_assert_int_eq(cr.visits, 0);
}
END_TEST

START_TEST(request_layout)
{
    struct bg_addr a = {.port = PORT, .family = AF_INET};
    address_set_v4(&a, (const uint8_t[4]){127, 0, 0, 1});
    struct diag_request r;
    struct diag_query q = {.family = AF_INET, .proto = IPPROTO_TCP, .port = PORT, .exact = &a, .seq = 9};
    ck_assert_uint_eq(diag_build_request(&q, &r), NLMSG_LENGTH(sizeof r.req));
    ck_assert_uint_eq(r.nh.nlmsg_flags, NLM_F_REQUEST);
    ck_assert_uint_eq(r.nh.nlmsg_seq, 9);
    ck_assert_uint_eq(r.req.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
    ck_assert_uint_eq(r.req.id.idiag_sport, htons(PORT));
    ck_assert_uint_eq(r.req.id.idiag_src[0], htonl(INADDR_LOOPBACK));
    ck_assert_uint_eq(r.req.id.idiag_dport | r.req.id.idiag_dst[0], 0);

    q.proto = IPPROTO_UDP;   /* the local side moves to dst/dport */
    diag_build_request(&q, &r);
    ck_assert_uint_eq(r.req.id.idiag_dport, htons(PORT));
    ck_assert_uint_eq(r.req.id.idiag_dst[0], htonl(INADDR_LOOPBACK));
    ck_assert_uint_eq(r.req.id.idiag_sport | r.req.id.idiag_src[0], 0);

    q.exact = NULL;
    q.states = DIAG_BIT(TCP_LISTEN);
    ck_assert_uint_eq(diag_build_request(&q, &r), sizeof r);
    ck_assert_uint_eq(r.nh.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    ck_assert_uint_eq(r.req.idiag_states, DIAG_BIT(TCP_LISTEN));
    ck_assert_uint_eq(r.bc_attr.nla_type, INET_DIAG_REQ_BYTECODE);
    ck_assert_uint_eq(r.bc[0].code, INET_DIAG_BC_S_EQ);
    ck_assert_uint_eq(r.bc[1].no, PORT);
}
END_TEST

static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < CROWD + 100) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

START_TEST(bind_probe)
{
    /* A loopback bind goes through and its port reads back; errno is left alone. */
    struct bg_addr lo = {.family = AF_INET};
    address_set_v4(&lo, (const uint8_t[4]){127, 0, 0, 1});
    int fd = -1;
    errno = EINTR;
    ck_assert_int_eq(bindprobe(&lo, IPPROTO_TCP, BINDPROBE_REUSEADDR | BINDPROBE_LISTEN, &fd),
                     0);
    ck_assert_int_eq(errno, EINTR);
    ck_assert_int_ge(fd, 0);
    uint16_t port = bindprobe_port(fd);
    ck_assert_uint_ne(port, 0);
    /* The same port again without sharing options: the kernel's own EADDRINUSE. */
    struct bg_addr again = lo;
    again.port = port;
    ck_assert_int_eq(bindprobe(&again, IPPROTO_TCP, 0, NULL), EADDRINUSE);
    sys_close(fd);
    /* An address this host does not have (TEST-NET-1): EADDRNOTAVAIL, what guard.c asks. */
    struct bg_addr far = {.family = AF_INET};
    address_set_v4(&far, (const uint8_t[4]){192, 0, 2, 1});
    ck_assert_int_eq(bindprobe(&far, IPPROTO_UDP, 0, NULL), EADDRNOTAVAIL);
    /* A v4-mapped address on a V6ONLY socket: Linux's EINVAL, not a bind. */
    struct bg_addr mapped = lo;
    mapped.family = AF_INET6;
    mapped.v6only = 1;
    ck_assert_int_eq(bindprobe(&mapped, IPPROTO_UDP, 0, NULL), EINVAL);
    struct bg_addr none = {.family = 99};
    ck_assert_int_ne(bindprobe(&none, IPPROTO_TCP, 0, NULL), 0);
}
END_TEST

int main(void)
{
    raise_fd_limit();
    Suite *s = suite_create("kernel");
    TCase *tc = tcase_create("sock_diag");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, tcp4_listener);
    tcase_add_test(tc, udp4_socket);
    tcase_add_test(tc, tcp6_listener);
    tcase_add_test(tc, udp6_socket);
    tcase_add_test(tc, dual_stack_listener);
    tcase_add_test(tc, dual_stack_udp);
    tcase_add_test(tc, wildcard_v4_listener);
    tcase_add_test(tc, tcp_bound_not_listening);
    tcase_add_test(tc, tcp6_bound_not_listening);
    tcase_add_test(tc, bound_then_connected_tcp);
    tcase_add_test(tc, connected_wildcard_udp);
    tcase_add_test(tc, wrong_uid_inode_or_address);
    tcase_add_test(tc, reuseport_tcp_group);
    tcase_add_test(tc, reuseport_udp_group);
    tcase_add_test(tc, held_by_forked_child);
    tcase_add_test(tc, socket_of_nobody);
    tcase_add_test(tc, linger_connections);
    tcase_add_test(tc, netns_cookie);
    tcase_add_test(tc, other_netns);
    tcase_add_test(tc, netlink_unavailable);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, among_many_sockets);
    tcase_add_test(tc, bind_probe);
    suite_add_tcase(s, tc);
    TCase *replies = tcase_create("replies");
    tcase_add_checked_fixture(replies, crafted_setup, NULL);
    tcase_add_test(replies, reply_dump_parts);
    tcase_add_test(replies, reply_single);
    tcase_add_test(replies, reply_status);
    tcase_add_test(replies, reply_malformed);
    tcase_add_test(replies, request_layout);
    suite_add_tcase(s, replies);
    return harness_run(s);
}
