/* kernel - sock_diag queries; doc/kernel-notes.md "sock_diag" has the measured facts this
 * file relies on.
 *
 * Each public call opens one NETLINK_SOCK_DIAG socket (a session) and closes it; its
 * queries go one after another on it (opening one costs ~5 µs, as much as an exact
 * lookup). build_request() writes a query, walk_replies() reads the answer and hands
 * each socket on the asked port to a visitor. Replies are untrusted input: every length
 * is checked before it is read. */
#include "kernel.h"
#include "bindguard.h"
#include "sys.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Kernel socket states newer than some userland headers. */
enum { ST_NEW_SYN_RECV = 12, ST_BOUND_INACTIVE = 13 };
#define BIT(s) (1u << (s))

#define STATES_ALL         (~0u)
#define STATES_BEFORE_6_8  (BIT(ST_BOUND_INACTIVE) - 1)
/* Request and TIME_WAIT sockets carry no inode or uid: they can never be a holder. */
#define STATES_NOT_LISTENING \
    ((STATES_BEFORE_6_8 & ~(BIT(TCP_LISTEN) | BIT(TCP_TIME_WAIT) | BIT(ST_NEW_SYN_RECV))) \
     | BIT(ST_BOUND_INACTIVE))
#define STATES_CONNECTED \
    (STATES_BEFORE_6_8 & ~(BIT(TCP_LISTEN) | BIT(TCP_TIME_WAIT) | BIT(TCP_CLOSE) \
                           | BIT(ST_NEW_SYN_RECV)))

/* Must be >= NLMSG_GOODSIZE (<= 8 KiB) or the first part of a dump arrives truncated;
 * bigger only saves recvmsg calls on unfiltered dumps, which we never make. Stack, not
 * heap: bind() may be called from a signal handler. */
#define RECV_BUF 8192
/* 64 Ki datagrams of 8 KiB hold ~5 million sockets: far beyond one port, yet bounded. */
#define MAX_DATAGRAMS 65536u

struct query {
    uint8_t  family;            /* AF_INET or AF_INET6: the lookup's or the dump's */
    uint8_t  proto;             /* IPPROTO_TCP or IPPROTO_UDP */
    uint32_t states;            /* dumps only */
    uint16_t port;              /* the local port every answer must have */
    const struct bg_addr *exact;/* non-NULL: exact lookup of this local address */
    uint32_t seq;               /* set by run_query */
};

/* One public call's netlink socket. A socket whose last reply was not read to its end
 * (the visitor stopped early, or an error) is dropped, never reused: the rest of that
 * dump would still be queued, and a new dump would be refused with EBUSY. */
struct session {
    int fd;          /* -1: open one when needed */
    uint32_t seq;
    int saved_errno; /* we run inside other programs' bind(): errno is theirs */
};

/* Returns true when it has seen enough. */
typedef bool (*visit_fn)(const struct kernel_sock *k, void *ctx);

/* ---- addresses ------------------------------------------------------------------ */

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool ip_is_v4mapped(const uint8_t ip[16])
{
    return memcmp(ip, v4mapped_prefix, sizeof v4mapped_prefix) == 0;
}

static bool ip_is_wildcard(const uint8_t ip[16])
{
    static const uint8_t zero[16];
    return memcmp(ip, zero, 16) == 0 || (ip_is_v4mapped(ip) && memcmp(ip + 12, zero, 4) == 0);
}

/* Does a socket the kernel reports at `local` hold what `a` claims? A wildcard claim
 * accepts any address on its stacks: a wildcard socket that connects (UDP or TCP) is
 * reported with the address it connected from, and still is the same binding. */
static bool covers(const struct bg_addr *a, const struct bg_addr *local)
{
    bool mapped = ip_is_v4mapped(local->ip);
    if (!ip_is_wildcard(a->ip))
        return memcmp(a->ip, local->ip, 16) == 0 && a->scope_id == local->scope_id;
    if (ip_is_v4mapped(a->ip))
        return mapped;
    return !(a->v6only && mapped);
}

/* ---- request -------------------------------------------------------------------- */

struct diag_request {
    struct nlmsghdr         nh;
    struct inet_diag_req_v2 req;
    struct nlattr           bc_attr;   /* dumps only */
    struct inet_diag_bc_op  bc[2];
};
_Static_assert(offsetof(struct diag_request, bc_attr) == NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)),
               "the bytecode attribute must follow the request without padding");
_Static_assert(sizeof(struct diag_request) == offsetof(struct diag_request, bc_attr)
               + NLA_HDRLEN + 2 * sizeof(struct inet_diag_bc_op), "no tail padding");

static void fill_exact(const struct query *q, struct inet_diag_sockid *id)
{
    const struct bg_addr *a = q->exact;
    /* inet_diag hands these fields to the packet lookups in opposite orders: our (local)
     * side is src/sport for TCP but dst/dport for UDP
     * (doc/kernel-notes.md "UDP src/dst asymmetry"). */
    bool udp = q->proto == IPPROTO_UDP;
    __be32 *ip = udp ? id->idiag_dst : id->idiag_src;
    if (q->family == AF_INET)
        memcpy(ip, a->ip + 12, 4);
    else
        memcpy(ip, a->ip, 16);
    *(udp ? &id->idiag_dport : &id->idiag_sport) = htons(q->port);
    id->idiag_if = q->family == AF_INET6 ? a->scope_id : 0;
}

static size_t build_request(const struct query *q, struct diag_request *r)
{
    memset(r, 0, sizeof *r);
    r->nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r->nh.nlmsg_flags = NLM_F_REQUEST;
    r->nh.nlmsg_seq = q->seq;
    r->req.sdiag_family = q->family;
    r->req.sdiag_protocol = q->proto;
    r->req.idiag_states = q->states;
    /* We know no cookie: the inode in the answer tells whether it is the holder. */
    r->req.id.idiag_cookie[0] = r->req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (q->exact) {
        fill_exact(q, &r->req.id);
        r->nh.nlmsg_len = offsetof(struct diag_request, bc_attr);
        return r->nh.nlmsg_len;
    }
    r->nh.nlmsg_flags |= NLM_F_DUMP;
    /* idiag_sport lets the listening and UDP walks skip other ports early; the bytecode
     * also filters the walks that ignore idiag_sport (bound-inactive), so the reply holds
     * only this port whatever else exists. "no" jumps 4 past the end: reject. */
    r->req.id.idiag_sport = htons(q->port);
    r->bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
    r->bc_attr.nla_len = NLA_HDRLEN + sizeof r->bc;
    r->bc[0] = (struct inet_diag_bc_op){INET_DIAG_BC_S_EQ, sizeof r->bc, sizeof r->bc + 4};
    r->bc[1].no = q->port;
    r->nh.nlmsg_len = sizeof *r;
    return sizeof *r;
}

/* ---- reply ---------------------------------------------------------------------- */

static const void *msg_data(const struct nlmsghdr *h)
{
    return (const char *)h + NLMSG_HDRLEN;
}

/* INET_DIAG_SKV6ONLY if present (listening and unconnected AF_INET6 sockets), else 0;
 * -1 if the attributes are malformed. */
static int v6only_attr(const struct nlmsghdr *h)
{
    size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
    int v6only = 0;
    while (off < h->nlmsg_len) {
        const struct nlattr *at = (const void *)((const char *)h + off);
        if (h->nlmsg_len - off < NLA_HDRLEN || at->nla_len < NLA_HDRLEN
            || at->nla_len > h->nlmsg_len - off)
            return -1;
        if ((at->nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY && at->nla_len > NLA_HDRLEN)
            v6only = *((const uint8_t *)at + NLA_HDRLEN) != 0;
        off += NLA_ALIGN(at->nla_len);
    }
    return v6only;
}

static bool parse_sock(const struct nlmsghdr *h, uint8_t proto, struct kernel_sock *k)
{
    const struct inet_diag_msg *m = msg_data(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m)
        || (m->idiag_family != AF_INET && m->idiag_family != AF_INET6))
        return false;
    int v6only = v6only_attr(h);
    if (v6only < 0)
        return false;
    memset(k, 0, sizeof *k);
    k->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    k->inode = m->idiag_inode;
    k->uid = m->idiag_uid;
    k->state = m->idiag_state;
    k->proto = proto;
    k->local.family = m->idiag_family;
    k->local.port = ntohs(m->id.idiag_sport);
    if (m->idiag_family == AF_INET) {
        memcpy(k->local.ip, v4mapped_prefix, sizeof v4mapped_prefix);
        memcpy(k->local.ip + 12, m->id.idiag_src, 4);
        return true;
    }
    memcpy(k->local.ip, m->id.idiag_src, 16);
    k->local.v6only = (uint8_t)v6only;
    if (k->local.ip[0] == 0xfe && (k->local.ip[1] & 0xc0) == 0x80)   /* fe80::/10 */
        k->local.scope_id = m->id.idiag_if;
    return true;
}

/* NLMSG_DONE and NLMSG_ERROR carry an int: 0 (done, or an ACK) or -errno. */
static int status_of(const struct nlmsghdr *h)
{
    int e;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof e))
        return h->nlmsg_type == NLMSG_DONE ? 0 : -EBADMSG;
    memcpy(&e, msg_data(h), sizeof e);
    return e <= 0 && e > -4096 ? e : -EBADMSG;
}

enum { MORE = 1 };   /* on_message: keep reading; 0 = finished; < 0 = -errno */

/* *ended: the reply is complete (nothing more of it is queued). */
static int on_message(const struct nlmsghdr *h, const struct query *q, visit_fn visit,
                      void *ctx, bool *ended)
{
    if (h->nlmsg_seq != q->seq)
        return MORE;
    /* An exact lookup answers with a single message, a dump with MULTI ones. */
    *ended = h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR
             || !(h->nlmsg_flags & NLM_F_MULTI);
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
        return status_of(h);
    if (h->nlmsg_type == NLMSG_OVERRUN)
        return -EOVERFLOW;
    if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
        struct kernel_sock k;
        if (!parse_sock(h, q->proto, &k))
            return -EBADMSG;
        /* Not every walk honours the port we asked for: always re-check it. */
        if (k.local.port == q->port && visit(&k, ctx))
            return 0;
    }
    return *ended ? 0 : MORE;
}

/* One datagram from the kernel: its length, 0 for one to ignore, or -errno. The
 * kernel produces each part of a reply inside sendmsg/recvmsg, so with MSG_DONTWAIT an
 * empty queue means no answer is coming rather than a wait that could hang. */
static ssize_t recv_datagram(int fd, void *buf, size_t len)
{
    struct sockaddr_nl from;
    struct iovec iov = {buf, len};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                       .msg_iovlen = 1};
    ssize_t n;
    do
        n = sys_recvmsg(fd, &m, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (m.msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    if (m.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
        return 0;   /* not from the kernel */
    return n == 0 ? -EBADMSG : n;
}

/* The messages of one datagram (buf aligned for nlmsghdr): MORE if the reply goes on. */
static int walk_datagram(const char *buf, size_t len, const struct query *q, visit_fn visit,
                         void *ctx, bool *ended)
{
    for (size_t off = 0; off < len;) {
        const struct nlmsghdr *h = (const void *)(buf + off);
        if (len - off < sizeof *h || h->nlmsg_len < sizeof *h || h->nlmsg_len > len - off)
            return -EBADMSG;
        int rc = on_message(h, q, visit, ctx, ended);
        if (rc != MORE)
            return rc;
        off += NLMSG_ALIGN(h->nlmsg_len);
    }
    return MORE;
}

static int walk_replies(int fd, const struct query *q, visit_fn visit, void *ctx, bool *ended)
{
    _Alignas(struct nlmsghdr) char buf[RECV_BUF];
    for (unsigned dgrams = 0; dgrams < MAX_DATAGRAMS; dgrams++) {
        ssize_t n = recv_datagram(fd, buf, sizeof buf);
        if (n < 0)
            return (int)n;
        int rc = walk_datagram(buf, (size_t)n, q, visit, ctx, ended);
        if (rc != MORE)
            return rc;
    }
    return -EOVERFLOW;
}

static int send_request(int fd, const struct diag_request *r, size_t len)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct iovec iov = {(void *)r, len};
    struct msghdr m = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov,
                       .msg_iovlen = 1};
    ssize_t n;
    do
        n = sys_sendmsg(fd, &m, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static struct session session_begin(void)
{
    return (struct session){.fd = -1, .saved_errno = errno};
}

static void session_drop(struct session *s)
{
    if (s->fd >= 0)
        sys_close(s->fd);
    s->fd = -1;
}

static void session_end(struct session *s)
{
    session_drop(s);
    errno = s->saved_errno;
}

/* 0 when the kernel answered (the visitor may have stopped it early), or -errno. */
static int run_query(struct session *s, struct query q, visit_fn visit, void *ctx)
{
    if (s->fd < 0 && (s->fd = sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
                                         NETLINK_SOCK_DIAG)) < 0)
        return -errno;
    struct diag_request r;
    q.seq = ++s->seq;
    size_t len = build_request(&q, &r);
    bool ended = false;
    int rc = send_request(s->fd, &r, len);
    if (rc == 0)
        rc = walk_replies(s->fd, &q, visit, ctx, &ended);
    if (!ended)
        session_drop(s);
    return rc;
}

/* A kernel that refuses state bit 13 (TCP_BOUND_INACTIVE) is asked again without it.
 * The refusal comes before any socket is reported, so nothing is visited twice. */
static int run_dump(struct session *s, struct query q, visit_fn visit, void *ctx)
{
    int rc = run_query(s, q, visit, ctx);
    if (rc == -EINVAL && (q.states & BIT(ST_BOUND_INACTIVE))) {
        q.states &= STATES_BEFORE_6_8;
        rc = run_query(s, q, visit, ctx);
    }
    return rc;
}

/* ---- visitors ------------------------------------------------------------------- */

struct collect {
    struct kernel_sock *out;
    size_t max, n;
};

static bool collect_one(const struct kernel_sock *k, void *ctx)
{
    struct collect *c = ctx;
    if (c->n < c->max)
        c->out[c->n] = *k;
    c->n++;
    return false;
}

struct holder {
    const struct bg_addr *a;
    uint32_t inode, uid;
    bool found;
};

static bool is_holder(const struct kernel_sock *k, void *ctx)
{
    struct holder *h = ctx;
    h->found = k->inode == h->inode && k->uid == h->uid && k->local.family == h->a->family
               && covers(h->a, &k->local);
    return h->found;
}

static bool claim_matches(const struct kernel_claim *c, const struct kernel_sock *k)
{
    const struct bg_addr *a = &c->addr;
    return k->inode == c->inode && k->uid == c->uid && k->local.family == a->family &&
           k->local.port == a->port && memcmp(k->local.ip, a->ip, 16) == 0 &&
           k->local.scope_id == a->scope_id &&
           (a->family != AF_INET6 || k->local.v6only == a->v6only) &&
           (k->proto != IPPROTO_TCP || (k->state == TCP_LISTEN) == c->listening);
}

/* One group of claims (same family and listening state) and the sockets seen so far. */
struct claim_group {
    struct kernel_claim *c;
    size_t n;
    uint8_t family;
    bool listening;
    size_t left;   /* claims of the group not yet found */
};

static bool in_group(const struct claim_group *g, const struct kernel_claim *c)
{
    return c->addr.family == g->family && c->listening == g->listening;
}

static bool mark_claims(const struct kernel_sock *k, void *ctx)
{
    struct claim_group *g = ctx;
    for (size_t i = 0; i < g->n; i++)
        if (in_group(g, &g->c[i]) && g->c[i].answer != KERNEL_ALIVE && claim_matches(&g->c[i], k)) {
            g->c[i].answer = KERNEL_ALIVE;
            g->left--;
        }
    return g->left == 0;
}

static bool is_connection(const struct kernel_sock *k, void *ctx)
{
    struct holder *h = ctx;
    h->found = k->state < 32 && (BIT(k->state) & STATES_CONNECTED) && k->uid == h->uid
               && covers(h->a, &k->local);
    return h->found;
}

/* ---- public --------------------------------------------------------------------- */

static bool proto_ok(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

static bool addr_ok(const struct bg_addr *a)
{
    return a && (a->family == AF_INET || a->family == AF_INET6);
}

int kernel_port_sockets(uint8_t proto, uint16_t port, struct kernel_sock *out, size_t max)
{
    if (!proto_ok(proto))
        return -EPROTONOSUPPORT;
    struct collect c = {out, out ? max : 0, 0};
    struct session s = session_begin();
    /* An AF_INET dump leaves out dual-stack AF_INET6 sockets: ask both. */
    struct query q = {.family = AF_INET, .proto = proto, .states = STATES_ALL, .port = port};
    int rc = run_dump(&s, q, collect_one, &c);
    q.family = AF_INET6;
    if (rc == 0)
        rc = run_dump(&s, q, collect_one, &c);
    session_end(&s);
    if (rc < 0)
        return rc;
    return c.n > INT_MAX ? INT_MAX : (int)c.n;
}

/* Bind a throwaway TCP socket (0.0.0.0 exists in every namespace) and look for it as
 * kernel_confirm looks for bound-only ones: 1 visible, -1 not, 0 the probe itself
 * failed (ask again next time). */
static int probe_bound_inactive(struct session *s)
{
    int seen = 0, fd = sys_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return 0;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    struct stat st;
    if (sys_bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0
        && sys_getsockname(fd, (struct sockaddr *)&sin, &len) == 0 && fstat(fd, &st) == 0) {
        struct bg_addr a = {.port = ntohs(sin.sin_port), .family = AF_INET};
        memcpy(a.ip, v4mapped_prefix, sizeof v4mapped_prefix);
        struct holder h = {&a, (uint32_t)st.st_ino, (uint32_t)st.st_uid, false};
        struct query q = {.family = AF_INET, .proto = IPPROTO_TCP,
                          .states = BIT(ST_BOUND_INACTIVE), .port = a.port};
        if (run_dump(s, q, is_holder, &h) == 0)
            seen = h.found ? 1 : -1;
    }
    sys_close(fd);
    return seen;
}

static bool bound_inactive_supported(struct session *s)
{
    static _Atomic int known;   /* 0 not yet, else probe_bound_inactive's answer */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v == 0) {
        v = probe_bound_inactive(s);
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v > 0;
}

bool kernel_bound_inactive_supported(void)
{
    struct session s = session_begin();
    bool yes = bound_inactive_supported(&s);
    session_end(&s);
    return yes;
}

static enum kernel_answer answer(int rc, const struct holder *h)
{
    if (h->found)
        return KERNEL_ALIVE;
    return rc < 0 ? KERNEL_UNKNOWN : KERNEL_GONE;
}

static enum kernel_answer confirm(struct session *s, uint8_t proto, struct holder *h,
                                  bool bound_only_possible)
{
    const struct bg_addr *a = h->a;
    /* 1. Exact lookup (~4 µs on an open session). It returns the one socket a packet would reach, which
     * may be another member of a reuseport group or a more specific listener, so a
     * miss proves nothing. The AF_INET table also reaches dual-stack sockets. */
    struct query q = {.family = ip_is_v4mapped(a->ip) ? AF_INET : AF_INET6, .proto = proto,
                      .port = a->port, .exact = a};
    int rc = run_query(s, q, is_holder, h);
    if (h->found || (rc < 0 && rc != -ENOENT))
        return answer(rc, h);

    /* 2. Listening and UDP sockets of the holder's own family on this port (~20 µs). */
    q = (struct query){.family = a->family, .proto = proto, .port = a->port,
                       .states = proto == IPPROTO_TCP ? BIT(TCP_LISTEN) : STATES_ALL};
    rc = run_dump(s, q, is_holder, h);
    if (h->found || rc < 0 || proto == IPPROTO_UDP || !bound_only_possible)
        return answer(rc, h);

    /* 3. TCP that may not listen: bound-only, or bound and then connected. Asking for
     * bit 13 walks the bind hash and then the established hash anyway (~1.2 ms), so
     * the connected states come for free. */
    q.states = STATES_NOT_LISTENING;
    rc = run_dump(s, q, is_holder, h);
    if (h->found || rc < 0)
        return answer(rc, h);
    /* 4. A socket that began listening between 2 and 3 was in neither listing: one more
     * look (~20 us, only on the way to "gone"). Holders under bindguard listen under the
     * table lock, and reaping asks again under it; this covers those that don't. */
    q.states = BIT(TCP_LISTEN);
    rc = run_dump(s, q, is_holder, h);
    if (h->found || rc < 0)
        return answer(rc, h);
    /* Before 6.8 a bound-only socket is invisible: its absence proves nothing. */
    return bound_inactive_supported(s) ? KERNEL_GONE : KERNEL_UNKNOWN;
}

enum kernel_answer kernel_confirm(uint8_t proto, const struct bg_addr *a, uint32_t inode,
                                  uint32_t uid, bool bound_only_possible)
{
    /* No socket can have such an address: the claim is simply false. */
    if (!proto_ok(proto) || !addr_ok(a))
        return KERNEL_GONE;
    struct holder h = {a, inode, uid, false};
    struct session s = session_begin();
    enum kernel_answer ans = confirm(&s, proto, &h, bound_only_possible);
    session_end(&s);
    return ans;
}

void kernel_confirm_claims(uint8_t proto, struct kernel_claim *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i].answer = proto_ok(proto) && addr_ok(&c[i].addr) ? KERNEL_UNKNOWN : KERNEL_GONE;
    struct session s = session_begin();
    static const uint8_t families[] = { AF_INET, AF_INET6 };
    for (int f = 0; f < 2; f++) {
        for (int l = 0; l < 2; l++) {
            struct claim_group g = { c, n, families[f], l != 0, 0 };
            for (size_t i = 0; i < n; i++)
                g.left += c[i].answer == KERNEL_UNKNOWN && in_group(&g, &c[i]);
            if (!g.left)
                continue;
            /* A dump of the holders' own family: exact lookups answer for other sockets
             * too (a reuseport group, a dual-stack listener), and an AF_INET dump leaves
             * out AF_INET6 sockets. UDP and listeners: ~20 µs; TCP that does not listen:
             * ~1 ms, and only on >= 6.8 can "not found" mean gone. */
            bool listening = l != 0;
            struct query q = {.family = g.family, .proto = proto, .port = c[0].addr.port,
                              .states = proto == IPPROTO_UDP ? STATES_ALL
                                      : listening ? BIT(TCP_LISTEN) : STATES_NOT_LISTENING};
            int rc = run_dump(&s, q, mark_claims, &g);
            bool absence_proves = rc == 0 && (proto == IPPROTO_UDP || listening ||
                                              bound_inactive_supported(&s));
            for (size_t i = 0; i < n; i++)
                if (in_group(&g, &c[i]) && c[i].answer == KERNEL_UNKNOWN && absence_proves)
                    c[i].answer = KERNEL_GONE;
        }
    }
    session_end(&s);
}

enum kernel_answer kernel_confirm_exact(uint8_t proto, const struct bg_addr *a, uint32_t inode,
                                        uint32_t uid, bool listening)
{
    struct kernel_claim c = { .addr = *a, .inode = inode, .uid = uid, .listening = listening };
    kernel_confirm_claims(proto, &c, 1);
    return c.answer;
}

enum kernel_answer kernel_has_connections(const struct bg_addr *a, uint32_t uid)
{
    if (!addr_ok(a))
        return KERNEL_GONE;
    struct holder h = {a, 0, uid, false};
    /* Accepted connections inherit their listener's family, which is a's. This walks
     * the whole established hash (~1 ms), whatever the port. */
    struct query q = {.family = a->family, .proto = IPPROTO_TCP, .states = STATES_CONNECTED,
                      .port = a->port};
    struct session s = session_begin();
    int rc = run_dump(&s, q, is_connection, &h);
    session_end(&s);
    return answer(rc, &h);
}

static int backend_answer;  /* 0: not asked yet, 1: enforces, 2: doesn't */

bool kernel_backend_enforces(int fresh_fd)
{
    int known = __atomic_load_n(&backend_answer, __ATOMIC_RELAXED);
    if (known)
        return known == 1;
    int saved = errno, v = -1;
    socklen_t len = sizeof v;
    bool on = sys_getsockopt(fresh_fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &len) == 0;
    errno = saved;
    __atomic_store_n(&backend_answer, on ? 1 : 2, __ATOMIC_RELAXED);
    return on;
}

uint64_t kernel_netns_cookie(int fd)
{
    int saved = errno;
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (sys_getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0
        || len != sizeof cookie)
        cookie = 0;
    errno = saved;
    return cookie;
}
