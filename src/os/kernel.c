/* kernel - what the kernel says exists: the answers kernel.h promises, each made of
 * sock_diag queries (diag.h) and visitors that look for the socket in question. */
#include "kernel.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "bindguard.h"
#include "bindprobe.h"
#include "diag.h"
#include "sys.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Does a socket the kernel reports at `local` hold what `a` claims? A wildcard claim
 * accepts any address on its stacks: a wildcard socket that connects (UDP or TCP) is
 * reported with the address it connected from, and still is the same binding. */
static bool covers(const struct bg_addr *a, const struct bg_addr *local)
{
    bool mapped = rules_addr_is_v4mapped(local);
    if (!rules_addr_is_wildcard(a))
        return memcmp(a->ip, local->ip, 16) == 0 && a->scope_id == local->scope_id;
    if (rules_addr_is_v4mapped(a))
        return mapped;
    return !(a->v6only && mapped);
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

struct sought {
    const struct bg_addr *a;
    uint32_t inode, uid;
    bool found;
};

static bool is_holder(const struct kernel_sock *k, void *ctx)
{
    struct sought *h = ctx;
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
    struct sought *h = ctx;
    h->found = k->state < 32 && (DIAG_BIT(k->state) & DIAG_STATES_CONNECTED) && k->uid == h->uid
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
    struct diag_session s = diag_session_begin();
    /* An AF_INET dump leaves out dual-stack AF_INET6 sockets: ask both. */
    struct diag_query q = {.family = AF_INET, .proto = proto, .states = DIAG_STATES_ALL, .port = port};
    int rc = diag_run_dump(&s, q, collect_one, &c);
    q.family = AF_INET6;
    if (rc == 0)
        rc = diag_run_dump(&s, q, collect_one, &c);
    diag_session_end(&s);
    if (rc < 0)
        return rc;
    return c.n > INT_MAX ? INT_MAX : (int)c.n;
}

/* Bind a throwaway TCP socket (0.0.0.0 exists in every namespace) and look for it as
 * kernel_confirm looks for bound-only ones: 1 visible, -1 not, 0 the probe itself
 * failed (ask again next time). */
static int probe_bound_inactive(struct diag_session *s)
{
    struct bg_addr a = {.family = AF_INET};
    address_set_v4(&a, (const uint8_t[4]){0, 0, 0, 0});
    int seen = 0, fd = -1;
    struct stat st;
    if (bindprobe(&a, IPPROTO_TCP, 0, &fd) != 0)
        return 0;
    if ((a.port = bindprobe_port(fd)) != 0 && fstat(fd, &st) == 0) {
        struct sought h = {&a, (uint32_t)st.st_ino, (uint32_t)st.st_uid, false};
        struct diag_query q = {.family = AF_INET, .proto = IPPROTO_TCP,
                               .states = DIAG_BIT(DIAG_ST_BOUND_INACTIVE), .port = a.port};
        if (diag_run_dump(s, q, is_holder, &h) == 0)
            seen = h.found ? 1 : -1;
    }
    sys_close(fd);
    return seen;
}

static bool bound_inactive_supported(struct diag_session *s)
{
    static int known;   /* 0 not yet, else probe_bound_inactive's answer */
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v == 0) {
        v = probe_bound_inactive(s);
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v > 0;
}

bool kernel_bound_inactive_supported(void)
{
    struct diag_session s = diag_session_begin();
    bool yes = bound_inactive_supported(&s);
    diag_session_end(&s);
    return yes;
}

static enum kernel_answer answer(int rc, const struct sought *h)
{
    if (h->found)
        return KERNEL_ALIVE;
    return rc < 0 ? KERNEL_UNKNOWN : KERNEL_GONE;
}

static enum kernel_answer confirm(struct diag_session *s, uint8_t proto, struct sought *h,
                                  bool bound_only_possible)
{
    const struct bg_addr *a = h->a;
    /* 1. Exact lookup (~4 µs on an open session). It returns the one socket a packet would reach, which
     * may be another member of a reuseport group or a more specific listener, so a
     * miss proves nothing. The AF_INET table also reaches dual-stack sockets. */
    struct diag_query q = {.family = rules_addr_is_v4mapped(a) ? AF_INET : AF_INET6, .proto = proto,
                      .port = a->port, .exact = a};
    int rc = diag_run(s, q, is_holder, h);
    if (h->found || (rc < 0 && rc != -ENOENT))
        return answer(rc, h);

    /* 2. Listening and UDP sockets of the holder's own family on this port (~20 µs). */
    q = (struct diag_query){.family = a->family, .proto = proto, .port = a->port,
                       .states = proto == IPPROTO_TCP ? DIAG_BIT(TCP_LISTEN) : DIAG_STATES_ALL};
    rc = diag_run_dump(s, q, is_holder, h);
    if (h->found || rc < 0 || proto == IPPROTO_UDP || !bound_only_possible)
        return answer(rc, h);

    /* 3. TCP that may not listen: bound-only, or bound and then connected. Asking for
     * bit 13 walks the bind hash and then the established hash anyway (~1.2 ms), so
     * the connected states come for free. */
    q.states = DIAG_STATES_NOT_LISTENING;
    rc = diag_run_dump(s, q, is_holder, h);
    if (h->found || rc < 0)
        return answer(rc, h);
    /* 4. A socket that began listening between 2 and 3 was in neither listing: one more
     * look (~20 us, only on the way to "gone"). Holders under bindguard listen under the
     * table lock, and reaping asks again under it; this covers those that don't. */
    q.states = DIAG_BIT(TCP_LISTEN);
    rc = diag_run_dump(s, q, is_holder, h);
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
    struct sought h = {a, inode, uid, false};
    struct diag_session s = diag_session_begin();
    enum kernel_answer ans = confirm(&s, proto, &h, bound_only_possible);
    diag_session_end(&s);
    return ans;
}

void kernel_confirm_claims(uint8_t proto, struct kernel_claim *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i].answer = proto_ok(proto) && addr_ok(&c[i].addr) ? KERNEL_UNKNOWN : KERNEL_GONE;
    struct diag_session s = diag_session_begin();
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
            struct diag_query q = {.family = g.family, .proto = proto, .port = c[0].addr.port,
                              .states = proto == IPPROTO_UDP ? DIAG_STATES_ALL
                                      : listening ? DIAG_BIT(TCP_LISTEN) : DIAG_STATES_NOT_LISTENING};
            int rc = diag_run_dump(&s, q, mark_claims, &g);
            bool absence_proves = rc == 0 && (proto == IPPROTO_UDP || listening ||
                                              bound_inactive_supported(&s));
            for (size_t i = 0; i < n; i++)
                if (in_group(&g, &c[i]) && c[i].answer == KERNEL_UNKNOWN && absence_proves)
                    c[i].answer = KERNEL_GONE;
        }
    }
    diag_session_end(&s);
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
    struct sought h = {a, 0, uid, false};
    /* Accepted connections inherit their listener's family, which is a's. This walks
     * the whole established hash (~1 ms), whatever the port. */
    struct diag_query q = {.family = a->family, .proto = IPPROTO_TCP, .states = DIAG_STATES_CONNECTED,
                      .port = a->port};
    struct diag_session s = diag_session_begin();
    int rc = diag_run_dump(&s, q, is_connection, &h);
    diag_session_end(&s);
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
