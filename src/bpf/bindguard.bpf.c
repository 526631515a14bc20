/* bindguard.bpf - the kernel backend: the rule book (rules/) enforced by cgroup BPF
 * programs for every process in a cgroup v2 subtree, static binaries included.
 *
 * setsockopt/getsockopt answer SO_EXCLUSIVEADDRUSE from socket storage; bind4/bind6
 * classify the requested address and the socket's class, judge it against the port's
 * bindings in the pinned `bindings` map with rules_judge, and either claim a slot
 * (pending) or refuse with EADDRINUSE/EACCES. Judge and claim are one atomic step: the
 * claim is written under the port's bpf_spin_lock only if the port's generation count
 * is what the judging saw (judge_and_claim). post_bind4/6 confirm the claim
 * with the final address (port 0 included); sock_release frees it. A claim whose kernel
 * bind failed never reaches post_bind: it stops counting after KMAP_PENDING_NS.
 * Each refusal goes to the `events` ring buffer (doc/design.md "Kernel backend").
 * One file, over the usual ~400 lines: the skeleton is generated from one BPF object, and
 * the programs share its maps and the static helpers the verifier must see inlined.
 *
 * Verifier rules kept here: nothing but plain loads/stores between bpf_spin_lock and
 * bpf_spin_unlock (helpers are called before or after), every loop bounded, every index
 * into a map value checked, the rule book in one global function (bg_judge_pair) so it
 * is verified once, getsockopt's optlen and retval written by two stores. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/kmap.h"

#define EACCES       13
#define EINVAL       22
#define EADDRINUSE   98
#define ENOPROTOOPT  92
#define AF_INET      2
#define AF_INET6     10
#define SOL_SOCKET   1
#define SO_REUSEADDR 2
#define SO_REUSEPORT 15
#define PAGE_SIZE    4096

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before load (bindguard kernel enable --profile ...). */
const volatile struct kmap_settings settings = { .version = KMAP_VERSION };

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KMAP_PORTS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct kmap_key);
    __type(value, struct kmap_port);
} bindings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct ksock);
} socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, KMAP_EVENTS_BYTES);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, KSTAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

/* A zeroed value to create a port's entry from (too big for the stack). */
struct kmap_port_bytes {
    char b[sizeof(struct kmap_port)];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct kmap_port_bytes);
} zero SEC(".maps");

static __always_inline void count(__u32 what, __u64 n)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &what);
    if (v && n)
        __sync_fetch_and_add(v, n);
}

static __always_inline struct bg_classing classing(void)
{
    return (struct bg_classing){
        .default_exclusive = settings.default_exclusive,
        .reuseaddr_shares_tcp = settings.reuseaddr_shares_tcp,
        .force_exclusive = settings.force_exclusive,
        .has_exclusive = settings.has_exclusive,
    };
}

static __always_inline bool is_inet(struct bpf_sock *sk)
{
    return (sk->family == AF_INET || sk->family == AF_INET6) &&
           (sk->protocol == BG_PROTO_TCP || sk->protocol == BG_PROTO_UDP);
}

static __always_inline __u32 current_uid(void)
{
    return (__u32)bpf_get_current_uid_gid();
}

static __always_inline struct kmap_port *port_entry(const struct kmap_key *key)
{
    struct kmap_port *p = bpf_map_lookup_elem(&bindings, key);
    if (p)
        return p;
    __u32 z = 0;
    void *blank = bpf_map_lookup_elem(&zero, &z);
    if (!blank)
        return NULL;
    bpf_map_update_elem(&bindings, key, blank, BPF_NOEXIST);  /* a racer may have won */
    return bpf_map_lookup_elem(&bindings, key);
}

/* Free this socket's claim, if it still has it. */
static __always_inline void release(struct ksock *ks)
{
    struct kmap_key key = ks->key;
    __u32 i = ks->slot;
    ks->flags &= ~(KSOCK_CLAIMED | KSOCK_BOUND);
    struct kmap_port *p = bpf_map_lookup_elem(&bindings, &key);
    if (!p || i >= KMAP_PER_PORT)
        return;
    bpf_spin_lock(&p->lock);
    if (p->slot[i].cookie == ks->cookie) {
        p->slot[i].cookie = 0;
        p->slot[i].pending_until = 0;
        p->gen++;
    }
    bpf_spin_unlock(&p->lock);
}

/* The binder, as a slot records it (filled before the lock: helpers). */
struct binder {
    struct bg_binding b;
    __u64 cookie, since, now;
    __u32 pid;
    __u8 explicit_excl;
    char comm[KMAP_COMM_LEN];
};

static __always_inline void binder_fill(struct binder *w, __u64 cookie)
{
    w->b.uid = current_uid();
    w->cookie = cookie;
    w->since = bpf_ktime_get_boot_ns();
    w->now = bpf_ktime_get_ns();
    w->pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
    bpf_get_current_comm(w->comm, sizeof w->comm);
}

static __always_inline void slot_fill(struct kmap_slot *s, const struct binder *w,
                                      __u64 pending_until)
{
    s->b = w->b;
    s->cookie = w->cookie;
    s->pending_until = pending_until;
    s->since = w->since;
    s->pid = w->pid;
    s->explicit_excl = w->explicit_excl;
    __builtin_memcpy(s->comm, w->comm, KMAP_COMM_LEN);
}

/* Does this slot hold a binding that counts? A pending claim past its expiry does not. */
static __always_inline bool slot_live(const struct kmap_slot *s, __u64 now)
{
    return s->cookie && !(s->pending_until && s->pending_until < now);
}

enum { JUDGE_TRIES = 8 };

/* One bind being judged, as bpf_loop's callback sees it. Each slot's result goes to
 * deny[]/spare[] at a variable offset, and the caller folds them with branch-free
 * arithmetic: the verifier then walks the rule book once, not once per combination of
 * "worst so far" and slot number (which exceeded its million-instruction budget).
 *   deny[i]  = severity << 4 | (15 - i) for a binding that denies, else 0;
 *   spare[i] = 16 | (15 - i) for a slot free to claim (free or expired), else 0.
 * The largest of each names the most severe denier and the first spare slot. */
struct judging {
    struct kmap_port *p;
    const struct binder *w;
    __u8 deny[KMAP_PER_PORT];
    __u8 spare[KMAP_PER_PORT];
};
_Static_assert(KMAP_PER_PORT == 16, "the score encoding keeps a slot number in 4 bits");

/* The rule book on one pair, as a global function: the verifier checks it once, on its
 * own, and every caller sees only "some verdict" (inlined into the loop below, its
 * branches multiplied past the verifier's budget). */
__noinline int bg_judge_pair(const struct bg_binding *held, const struct bg_binding *want)
{
    if (!held || !want)
        return BG_INUSE;
    struct bg_binding h = *held, w = *want;
    /* WSK's CHECK: the kernel keeps no share list, so nobody passes it. */
    return rules_severity(rules_resolve_check(
        rules_judge((enum bg_rules)settings.rules, &h, &w), false));
}

static long judge_slot(__u32 i, struct judging *j)
{
    if (i >= KMAP_PER_PORT)
        return 1;
    const struct kmap_slot *s = &j->p->slot[i];
    __u8 deny = 0, spare = 0, rank = (__u8)(KMAP_PER_PORT - 1 - i);
    if (!slot_live(s, j->w->now)) {
        spare = 16 | rank;
    } else if (s->cookie != j->w->cookie) {
        int sev = bg_judge_pair(&s->b, &j->w->b);
        if (sev > 0)
            deny = (__u8)((sev & 3) << 4 | rank);
    }
    j->deny[i & (KMAP_PER_PORT - 1)] = deny;
    j->spare[i & (KMAP_PER_PORT - 1)] = spare;
    return 0;
}

/* max(a, b) for values below 2^32, without a branch. */
static __always_inline __u64 fold_max(__u64 a, __u64 b)
{
    __s64 d = (__s64)a - (__s64)b;
    __s64 m = d >> 63;
    asm volatile("" : "+r"(m));  /* keep clang from turning it back into a branch */
    return a - (__u64)(d & m);
}

/* Back from rules_severity (a lookup table here would land in .rodata.cst16, which
 * clang 14's BTF misplaces). */
static __always_inline enum bg_verdict of_severity(__u64 sev)
{
    return sev >= 3 ? BG_ACCESS : sev == 2 ? BG_INUSE : sev == 1 ? BG_CHECK : BG_SUCCESS;
}

struct outcome {
    enum bg_verdict verdict;
    __u32 slot;              /* the claimed slot, KMAP_PER_PORT if none */
    bool busy;               /* the port kept changing under us: not judged */
    struct kmap_slot held;   /* the most severe denier */
};

/* Judge w against every binding on the port, then claim a slot if nothing denies, as one
 * atomic step: the slots are read without the lock (the rule book is too big for the
 * verifier to walk 16 times inside a critical section, so bpf_loop runs it), and the
 * lock then checks that nothing changed since (p->gen) before the claim is written. A
 * racer's claim in between makes us judge again. */
static __always_inline void judge_and_claim(struct kmap_port *p, const struct binder *w,
                                            struct outcome *o)
{
    o->verdict = BG_SUCCESS;
    o->slot = KMAP_PER_PORT;
    o->busy = true;
    for (int t = 0; t < JUDGE_TRIES; t++) {
        /* Loads are not reordered with loads on x86 (the only target built for); the
         * barrier keeps the compiler from doing it. */
        __u32 gen = *(volatile __u32 *)&p->gen;
        asm volatile("" ::: "memory");
        struct judging j = { p, w, {}, {} };
        bpf_loop(KMAP_PER_PORT, judge_slot, &j, 0);
        __u64 deny = 0, spare = 0;
        for (__u32 i = 0; i < KMAP_PER_PORT; i++) {
            deny = fold_max(deny, j.deny[i]);
            spare = fold_max(spare, j.spare[i]);
        }
        enum bg_verdict verdict = of_severity(deny >> 4);
        __u32 held_at = KMAP_PER_PORT - 1 - (__u32)(deny & 15);
        __u32 free_at = spare ? KMAP_PER_PORT - 1 - (__u32)(spare & 15) : KMAP_PER_PORT;
        __u32 at = verdict == BG_SUCCESS ? free_at : held_at;
        bool done = false;
        bpf_spin_lock(&p->lock);
        if (p->gen == gen && at < KMAP_PER_PORT) {
            done = true;
            if (verdict == BG_SUCCESS) {
                slot_fill(&p->slot[at], w, w->now + KMAP_PENDING_NS);
                p->gen++;
            } else {
                o->held = p->slot[at];
            }
        } else if (p->gen == gen) {
            done = true;  /* allowed, and no slot left to record it in */
        }
        bpf_spin_unlock(&p->lock);
        if (done) {
            o->verdict = verdict;
            o->slot = verdict == BG_SUCCESS ? at : KMAP_PER_PORT;
            o->busy = false;
            return;
        }
    }
}

static __always_inline void report(const struct kmap_key *key, const struct binder *w,
                                   const struct outcome *o, int err)
{
    struct kmap_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e)
        return;
    e->time = w->since;
    e->netns = key->netns;
    e->want = w->b.addr;
    e->held = o->held.b.addr;
    e->pid = w->pid;
    e->uid = w->b.uid;
    e->holder_pid = o->held.pid;
    e->holder_uid = o->held.b.uid;
    e->holder_since = o->held.since;
    e->err = (__u32)err;
    e->proto = key->proto;
    e->verdict = (__u8)o->verdict;
    e->want_cls = w->b.cls;
    e->held_cls = o->held.b.cls;
    __builtin_memcpy(e->comm, w->comm, KMAP_COMM_LEN);
    __builtin_memcpy(e->holder_comm, o->held.comm, KMAP_COMM_LEN);
    for (int i = 0; i < (int)sizeof e->profile; i++)
        e->profile[i] = settings.profile[i];
    bpf_ringbuf_submit(e, 0);
}

/* bind4/bind6 once the address and the kernel options are read. 1: let the kernel bind;
 * 0 with a retval: refused. Our own trouble (no storage, a full map) never refuses. */
static __always_inline int judge_bind(struct bpf_sock_addr *ctx, const struct bg_addr *addr,
                                      bool reuseaddr, bool reuseport)
{
    struct bpf_sock *sk = ctx->sk;
    if (!sk || !is_inet(sk))
        return 1;
    struct ksock *ks = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!ks || (ks->flags & KSOCK_BOUND))
        return 1;  /* bound already: the kernel says EINVAL */
    if (ks->flags & KSOCK_CLAIMED)
        release(ks);  /* an earlier bind of this socket that the kernel refused */
    __u8 proto = (__u8)sk->protocol;
    struct bg_sockopts opts = {
        .exclusive = (ks->flags & KSOCK_EXCLUSIVE) != 0,
        .reuseaddr = reuseaddr,
        .reuseport = reuseport,
        .dgram = proto == BG_PROTO_UDP,
    };
    struct bg_classing c = classing();
    struct binder w = {};
    w.b.addr = *addr;
    w.b.cls = (__u8)rules_class(&c, &opts);
    w.explicit_excl = opts.exclusive;
    ks->cls = w.b.cls;
    ks->v6only = addr->v6only;
    ks->cookie = bpf_get_socket_cookie(ctx);
    if (addr->port == 0)
        return 1;  /* the kernel picks the port: post_bind records it */
    struct kmap_key key = {};
    key.netns = bpf_get_netns_cookie(ctx);
    key.port = addr->port;
    key.proto = proto;
    struct kmap_port *p = port_entry(&key);
    if (!p) {
        count(KSTAT_FULL, 1);
        return 1;
    }
    binder_fill(&w, ks->cookie);
    struct outcome o = {};
    judge_and_claim(p, &w, &o);
    if (o.busy) {
        count(KSTAT_BUSY, 1);  /* our trouble: the kernel decides alone */
        return 1;
    }
    if (o.verdict != BG_SUCCESS) {
        int err = o.verdict == BG_ACCESS ? EACCES : EADDRINUSE;
        report(&key, &w, &o, err);
        count(KSTAT_REFUSED, 1);
        bpf_set_retval(-err);
        return 0;
    }
    if (o.slot >= KMAP_PER_PORT) {
        count(KSTAT_FULL, 1);  /* more bindings on the port than we judge: allowed */
        return 1;
    }
    ks->key = key;
    ks->slot = o.slot;
    ks->flags |= KSOCK_CLAIMED;
    return 1;
}

static __always_inline struct bg_addr addr_v4(__u32 ip_be, __u16 port)
{
    struct bg_addr a = {};
    a.ip[10] = 0xff;
    a.ip[11] = 0xff;
    __builtin_memcpy(&a.ip[12], &ip_be, 4);
    a.port = port;
    a.family = BG_AF_INET;
    return a;
}

static __always_inline void set_ip6(struct bg_addr *a, __u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
    __u32 w[4] = { w0, w1, w2, w3 };
    __builtin_memcpy(a->ip, w, 16);
}

SEC("cgroup/bind4")
int bg_bind4(struct bpf_sock_addr *ctx)
{
    int reuseaddr = 0, reuseport = 0;
    bpf_getsockopt(ctx, SOL_SOCKET, SO_REUSEADDR, &reuseaddr, sizeof reuseaddr);
    bpf_getsockopt(ctx, SOL_SOCKET, SO_REUSEPORT, &reuseport, sizeof reuseport);
    struct bg_addr a = addr_v4(ctx->user_ip4, bpf_ntohs((__u16)ctx->user_port));
    return judge_bind(ctx, &a, reuseaddr != 0, reuseport != 0);
}

/* IPV6_V6ONLY can't be read with bpf_getsockopt in bind6 (EINVAL): read sock_common. */
static __always_inline struct sock_common *common_of(struct bpf_sock *sk)
{
    if (sk->protocol == BG_PROTO_TCP) {
        struct tcp6_sock *t = bpf_skc_to_tcp6_sock(sk);
        return t ? &t->tcp.inet_conn.icsk_inet.sk.__sk_common : NULL;
    }
    struct udp6_sock *u = bpf_skc_to_udp6_sock(sk);
    return u ? &u->udp.inet.sk.__sk_common : NULL;
}

SEC("cgroup/bind6")
int bg_bind6(struct bpf_sock_addr *ctx)
{
    struct bpf_sock *sk = ctx->sk;
    if (!sk || !is_inet(sk))
        return 1;
    bool v6only = false, reuseaddr = false, reuseport = false;
    struct sock_common *skc = common_of(sk);
    if (skc) {
        v6only = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_ipv6only) != 0;
        reuseaddr = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuse) != 0;
        reuseport = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuseport) != 0;
    }
    struct bg_addr a = {};
    set_ip6(&a, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]);
    a.port = bpf_ntohs((__u16)ctx->user_port);
    a.family = BG_AF_INET6;
    a.v6only = v6only;
    return judge_bind(ctx, &a, reuseaddr, reuseport);
}

/* The kernel bound the socket: confirm bind4/6's claim, or record a port-0 bind. */
static __always_inline int confirm(struct bpf_sock *sk, const struct bg_addr *addr)
{
    if (!is_inet(sk))
        return 1;
    struct ksock *ks = bpf_sk_storage_get(&socks, sk, 0, 0);
    if (!ks)
        return 1;  /* made before we were attached: unknown to us */
    if (ks->flags & KSOCK_CLAIMED) {
        struct kmap_key key = ks->key;
        __u32 i = ks->slot;
        struct kmap_port *p = bpf_map_lookup_elem(&bindings, &key);
        if (p && i < KMAP_PER_PORT) {
            bpf_spin_lock(&p->lock);
            if (p->slot[i].cookie == ks->cookie) {
                p->slot[i].pending_until = 0;
                p->gen++;
            }
            bpf_spin_unlock(&p->lock);
        }
        ks->flags |= KSOCK_BOUND;
        count(KSTAT_BOUND, 1);
        return 1;
    }
    struct kmap_key key = {};
    key.netns = bpf_get_netns_cookie(sk);
    key.port = addr->port;
    key.proto = (__u8)sk->protocol;
    struct kmap_port *p = port_entry(&key);
    if (!p) {
        count(KSTAT_FULL, 1);
        return 1;
    }
    struct binder w = {};
    w.b.addr = *addr;
    w.b.addr.v6only = ks->v6only;
    w.b.cls = ks->cls;
    w.explicit_excl = (ks->flags & KSOCK_EXCLUSIVE) != 0;
    binder_fill(&w, ks->cookie);
    __u32 at = KMAP_PER_PORT;
    bpf_spin_lock(&p->lock);
    for (__u32 i = 0; i < KMAP_PER_PORT; i++)
        if (at == KMAP_PER_PORT && !slot_live(&p->slot[i], w.now))
            at = i;
    if (at < KMAP_PER_PORT) {
        slot_fill(&p->slot[at], &w, 0);
        p->gen++;
    }
    bpf_spin_unlock(&p->lock);
    if (at >= KMAP_PER_PORT) {
        count(KSTAT_FULL, 1);
        return 1;
    }
    ks->key = key;
    ks->slot = at;
    ks->flags |= KSOCK_CLAIMED | KSOCK_BOUND;
    count(KSTAT_BOUND, 1);
    return 1;
}

SEC("cgroup/post_bind4")
int bg_post_bind4(struct bpf_sock *sk)
{
    struct bg_addr a = addr_v4(sk->src_ip4, (__u16)sk->src_port);
    return confirm(sk, &a);
}

SEC("cgroup/post_bind6")
int bg_post_bind6(struct bpf_sock *sk)
{
    struct bg_addr a = {};
    set_ip6(&a, sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3]);
    a.port = (__u16)sk->src_port;
    a.family = BG_AF_INET6;
    return confirm(sk, &a);
}

SEC("cgroup/sock_release")
int bg_sock_release(struct bpf_sock *sk)
{
    struct ksock *ks = bpf_sk_storage_get(&socks, sk, 0, 0);
    if (ks && (ks->flags & KSOCK_CLAIMED))
        release(ks);
    return 1;
}

/* ---- SO_EXCLUSIVEADDRUSE ------------------------------------------------------------ */

static __always_inline int refuse_opt(int err)
{
    bpf_set_retval(-err);
    return 0;
}

SEC("cgroup/setsockopt")
int bg_setsockopt(struct bpf_sockopt *ctx)
{
    if (ctx->optlen > PAGE_SIZE) {
        ctx->optlen = 0;  /* not ours to read: the kernel takes the caller's buffer */
        return 1;
    }
    int name = ctx->optname;
    if (ctx->level != SOL_SOCKET ||
        (name != KMAP_SO_EXCLUSIVEADDRUSE && name != SO_REUSEADDR && name != SO_REUSEPORT))
        return 1;
    struct bpf_sock *sk = ctx->sk;
    if (!sk || !is_inet(sk))
        return 1;
    int *val = ctx->optval;
    if ((void *)(val + 1) > ctx->optval_end)
        return name == KMAP_SO_EXCLUSIVEADDRUSE ? refuse_opt(EINVAL) : 1;
    bool on = *val != 0;
    struct ksock *ks = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!ks)
        return 1;
    struct bg_classing c = classing();
    bool dgram = sk->protocol == BG_PROTO_UDP;
    if (name == KMAP_SO_EXCLUSIVEADDRUSE) {
        if (!settings.has_exclusive)
            return refuse_opt(ENOPROTOOPT);
        if (on && settings.exclusive_needs_admin && current_uid() != 0)
            return refuse_opt(EACCES);  /* XP and earlier: Administrators only */
        struct bg_sockopts o = {
            .reuseaddr = (ks->flags & KSOCK_REUSEADDR) != 0,
            .reuseport = (ks->flags & KSOCK_REUSEPORT) != 0,
            .dgram = dgram,
        };
        if (on && rules_opted_into_sharing(&c, &o))
            return refuse_opt(EINVAL);
        /* Set after bind: accepted, the binding keeps the class it was judged with. */
        ks->flags = on ? ks->flags | KSOCK_EXCLUSIVE : ks->flags & ~KSOCK_EXCLUSIVE;
        ctx->optlen = -1;  /* answered here: the kernel's handler is skipped */
        return 1;
    }
    bool shares = name == SO_REUSEPORT || rules_reuseaddr_shares(&c, dgram);
    if (on && shares && (ks->flags & KSOCK_EXCLUSIVE))
        return refuse_opt(EINVAL);  /* the reverse order of the same conflict */
    __u32 bit = name == SO_REUSEPORT ? KSOCK_REUSEPORT : KSOCK_REUSEADDR;
    ks->flags = on ? ks->flags | bit : ks->flags & ~bit;
    return 1;
}

SEC("cgroup/getsockopt")
int bg_getsockopt(struct bpf_sockopt *ctx)
{
    if (ctx->level != SOL_SOCKET || ctx->optname != KMAP_SO_EXCLUSIVEADDRUSE ||
        !settings.has_exclusive)
        return 1;
    struct bpf_sock *sk = ctx->sk;
    if (!sk || !is_inet(sk))
        return 1;
    int *val = ctx->optval;
    if ((void *)(val + 1) > ctx->optval_end) {
        ctx->retval = -EINVAL;
        return 1;
    }
    struct ksock *ks = bpf_sk_storage_get(&socks, sk, 0, 0);
    *val = ks && (ks->flags & KSOCK_EXCLUSIVE) ? 1 : 0;
    ctx->optlen = sizeof(int);
    /* Two stores: merged into one 8-byte store, the verifier rejects the access. */
    asm volatile("" ::: "memory");
    ctx->retval = 0;
    return 1;
}
