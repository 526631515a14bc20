/* guard - the bind flow (doc/design.md "What happens on bind"): judge under the table
 * lock, confirm denials with the kernel outside it, bind and record under it, release on
 * the last close.
 *
 * Rule of thumb for every branch here: bindguard's own trouble (no table, lock timeout,
 * full table, kernel unreachable) never refuses a bind. It logs once and lets the real
 * call decide. */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "domains.h"
#include "fault.h"
#include "foreign.h"
#include "holder.h"
#include "kernel.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "procname.h"
#include "rules/rules.h"
#include "own.h"
#include "sys.h"
#include "table.h"

#define MAX_ON_PORT   256  /* entries judged per bind; more is logged and not judged */
#define MAX_DENIERS   16   /* denying entries confirmed per round */
#define MAX_ROUNDS    4    /* judge/confirm/reap rounds before letting the kernel decide */

static const struct bg_config *cfg;
static struct guard_real real;

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static struct table *table;
static uid_t table_owner;   /* the euid that opened it: the uid it records for */
static bool table_dead;

/* The network namespace key is cached per thread: setns() changes only the calling
 * thread, and the interposer clears the cache when it sees setns/unshare. A stale key
 * can only cost protection: other namespaces' kernels never confirm our entries. */
static __thread uint64_t tls_netns __attribute__((tls_model("initial-exec")));

void guard_init(const struct bg_config *c, const struct guard_real *r)
{
    cfg = c;
    real = *r;
}

/* getpid() is a system call (glibc stopped caching it), and an allowed bind must stay
 * cheap: the pid is cached and refreshed by the fork wrappers in the child. A child made
 * behind our back (raw clone) records its parent's pid; a refusal names the real holder
 * (find_holder). */
static pid_t cached_pid;

static pid_t my_pid(void)
{
    pid_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (!pid) {
        pid = getpid();
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

void guard_forget_netns(void)
{
    tls_netns = 0;
}

static void open_table(void)
{
    char why[256], squat[300];
    struct table *t = own_open(cfg->table, cfg->table_slots, why, sizeof why,
                               squat, sizeof squat);
    if (squat[0])
        log_once(LOG_TOPIC_TABLE_SQUAT, "%s", squat);
    if (!t) {
        log_once(LOG_TOPIC_TABLE_OPEN, "port table unavailable, binds are not judged: %s", why);
        return;
    }
    const void *base;
    size_t len;
    table_mapping(t, &base, &len);
    if (!fault_watch(base, len))
        log_once(LOG_TOPIC_INTERNAL, "cannot watch the port table for truncation (SIGBUS)");
    table_owner = geteuid();
    table = t;
}

/* Opened on the first judged bind, not at load: most programs never bind. A table that
 * vanished under us (truncated: SIGBUS) is dropped for the rest of the process. */
static struct table *guard_table(void)
{
    pthread_once(&table_once, open_table);
    return __atomic_load_n(&table_dead, __ATOMIC_ACQUIRE) ? NULL : table;
}

/* A table unlinked or replaced under its name splits the processes in two: those that
 * had it open keep judging on it, new ones use another. Nothing is wrongly refused, but
 * protection is lost between the two groups: say so once. Looked at once a second at
 * most (time() is a vDSO read, the stat is not free). */
static void notice_replaced(struct table *t)
{
    static time_t last;
    time_t now = time(NULL);
    if (__atomic_exchange_n(&last, now, __ATOMIC_RELAXED) == now || !table_replaced(t))
        return;
    log_once(LOG_TOPIC_TABLE_OPEN, "port table %s was removed or replaced while this process "
             "used it; it keeps the old one and no longer sees processes started since "
             "(restart it to rejoin)", table_path(t));
}

static void abandon(void *t)
{
    table_abandon(t);
}

static void table_faulted(struct table *t)
{
    fault_call(abandon, t);
    __atomic_store_n(&table_dead, true, __ATOMIC_RELEASE);
    log_once(LOG_TOPIC_TABLE_CORRUPT, "port table %s shrank under us (truncated?); binds go "
             "to the kernel unjudged from now on", table_path(t));
}

/* One bind() may take the lock several times (judge, reap, bind); together they must
 * not wait longer than the bound, or a hung holder would cost the host a multiple of it.
 * 0: no call under way; the next lock gets the whole bound. */
static __thread int64_t tls_lock_deadline_ms __attribute__((tls_model("initial-exec")));

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned lock_budget_ms(void)
{
    if (!tls_lock_deadline_ms)
        return cfg->lock_timeout_ms;
    int64_t left = tls_lock_deadline_ms - monotonic_ms();
    return left > 0 ? (unsigned)left : 0;
}

static bool lock_table(struct table *t)
{
    int err = table_lock(t, lock_budget_ms());  /* 0: a free lock is still taken */
    if (err == 0)
        return true;
    /* Its own topic: a lock merely slow once must not hide one that will never come. */
    bool orphaned = err == ETIMEDOUT && table_lock_orphaned(t);
    char why[CONFIG_PATH_MAX + 160];
    if (orphaned)  /* the advice names the table: run from another environment, it works */
        snprintf(why, sizeof why, "lock held by a thread that no longer exists (run "
                 "`bindguard gc --rebuild --table %s`)", table_path(t));
    else
        snprintf(why, sizeof why, "%s",
                 err == EDEADLK ? "lock word already names this thread's id (a raw clone() "
                                  "child using its parent's, or an id shared across pid "
                                  "namespaces)" :
                 err != ETIMEDOUT ? "table failed validation" : "lock held too long");
    log_once(orphaned ? LOG_TOPIC_LOCK_ORPHANED : LOG_TOPIC_TABLE_LOCK,
             "port table %s: %s; binds go to the kernel unjudged", table_path(t), why);
    return false;
}

/* --- what the program asked for ------------------------------------------------------ */

/* The class the rule book gives the options the program set (rules/class.h;
 * doc/design.md "Option mapping"). */
static enum bg_class class_of(const struct fd_state *s)
{
    struct bg_classing c = config_classing(cfg);
    struct bg_sockopts o = options_of(s);
    return rules_class(&c, &o);
}

/* The socket being bound, as the table will record it. */
struct want {
    struct table_entry e;
    bool explicit_port;
};

static bool describe_want(int fd, struct fd_state *s, const struct sockaddr *sa, socklen_t len,
                          struct want *w)
{
    bool v6only = false;
    if (s->family == AF_INET6) {
        int on = 0;
        socklen_t olen = sizeof on;
        if (sys_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &olen) == 0)
            v6only = on != 0;
    }
    memset(w, 0, sizeof *w);
    if (address_from_sockaddr(sa, len, s->family, v6only, &w->e.addr) != 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    w->explicit_port = w->e.addr.port != 0;
    w->e.inode = (uint32_t)st.st_ino;
    w->e.uid = st.st_uid;
    w->e.proto = s->proto;
    w->e.cls = (uint8_t)class_of(s);
    w->e.flags = (s->opts & FD_OPT_EXCLUSIVE) ? TABLE_F_EXPLICIT : 0;
    w->e.pid = my_pid();
    w->e.fd = fd;
    w->e.since = time(NULL);
    char name[PROCNAME_LEN];
    procname_get(name);
    snprintf(w->e.comm, sizeof w->e.comm, "%s", name);
    w->e.n_share = cfg->n_share_uids;
    memcpy(w->e.share_uids, cfg->share_uids, sizeof(uint32_t) * cfg->n_share_uids);
    if (!tls_netns)
        tls_netns = kernel_netns_cookie(fd);
    w->e.netns = tls_netns;
    return true;
}

/* --- judging --------------------------------------------------------------------------- */

struct denier {
    struct table_entry e;
    uint32_t idx;
    enum bg_verdict verdict;
};

static bool in_share_list(const struct table_entry *held, uint32_t uid)
{
    unsigned n = held->n_share <= TABLE_MAX_SHARE ? held->n_share : TABLE_MAX_SHARE;
    for (unsigned i = 0; i < n; i++)
        if (held->share_uids[i] == uid)
            return true;
    return false;
}

static struct bg_binding binding_of(const struct table_entry *e)
{
    return (struct bg_binding){ .addr = e->addr, .uid = e->uid, .cls = e->cls,
                                .linger = (e->flags & TABLE_F_LINGER) != 0 };
}

static enum bg_verdict judge_one(const struct table_entry *held, const struct table_entry *want)
{
    struct bg_binding h = binding_of(held), w = binding_of(want);
    enum bg_verdict v = rules_judge(cfg->profile->rules, &h, &w);
    return rules_resolve_check(v, in_share_list(held, want->uid));
}

/* Under the lock: collect the entries that would deny `want`, most severe first.
 * Returns the number collected, or -1 when the table can't be judged. */
static int collect_deniers(struct table *t, const struct table_entry *want,
                           struct denier *out, size_t max)
{
    uint32_t idx[MAX_ON_PORT];
    int n = table_find(t, want->netns, want->proto, want->addr.port, idx, MAX_ON_PORT);
    if (n < 0) {
        log_once(LOG_TOPIC_TABLE_CORRUPT, "port table %s is corrupt; binds go to the kernel",
                 table_path(t));
        return -1;
    }
    if (n > MAX_ON_PORT)
        log_once(LOG_TOPIC_INTERNAL, "more than %d bindings on port %u; judging the first %d",
                 MAX_ON_PORT, want->addr.port, MAX_ON_PORT);
    size_t found = 0;
    for (int i = 0; i < n && i < MAX_ON_PORT && found < max; i++) {
        const struct table_entry *held = table_at(t, idx[i]);
        if (!held || held->inode == want->inode)
            continue;
        enum bg_verdict v = judge_one(held, want);
        if (v == BG_SUCCESS)
            continue;
        size_t at = found++;
        while (at > 0 && rules_more_severe(v, out[at - 1].verdict)) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (struct denier){ *held, idx[i], v };
    }
    return (int)found;
}

enum guard_liveness guard_liveness(const struct table_entry *e)
{
    if (e->flags & TABLE_F_LINGER) {
        enum kernel_answer c = kernel_has_connections(&e->addr, e->uid);
        return c == KERNEL_ALIVE ? GUARD_LINGERING : c == KERNEL_GONE ? GUARD_STALE
                                                                       : GUARD_UNKNOWN;
    }
    bool bound_only = e->proto == IPPROTO_TCP;  /* a shut-down listener is bound-only again */
    enum kernel_answer a = kernel_confirm(e->proto, &e->addr, e->inode, e->uid, bound_only);
    if (a != KERNEL_GONE)
        return a == KERNEL_ALIVE ? GUARD_LIVE : GUARD_UNKNOWN;
    const unsigned served = TABLE_F_EXPLICIT | TABLE_F_ACCEPTED;
    if (e->proto == IPPROTO_TCP && (e->flags & served) == served &&
        kernel_has_connections(&e->addr, e->uid) == KERNEL_ALIVE)
        return GUARD_LINGERING;
    return GUARD_STALE;
}

/* Outside the lock: does the holder still deny? Stale entries are marked for reaping; an
 * entry that has just started to linger is re-judged as the linger entry it becomes,
 * which keeps out exclusive binds only. */
static enum kernel_answer confirm(struct denier *d, const struct table_entry *want,
                                  bool *reap, bool *to_linger)
{
    *reap = *to_linger = false;
    switch (guard_liveness(&d->e)) {
    case GUARD_LIVE:
        return KERNEL_ALIVE;
    case GUARD_UNKNOWN:
        return KERNEL_UNKNOWN;
    case GUARD_STALE:
        *reap = true;
        return KERNEL_GONE;
    case GUARD_LINGERING:
        break;
    }
    if (!(d->e.flags & TABLE_F_LINGER)) {
        *to_linger = true;
        d->e.flags |= TABLE_F_LINGER;
        d->verdict = judge_one(&d->e, want);
    }
    return d->verdict == BG_SUCCESS ? KERNEL_GONE : KERNEL_ALIVE;
}

/* Under the lock again: apply what confirm() found, if the entries are still the ones
 * collected. sock_diag has no snapshot: a socket that starts or stops listening while
 * it is asked can be missed by every listing, and reaping it then would leave a live
 * socket without its claim (once it stops listening, a bind beside it passes). So
 * listen() and shutdown() of a recorded socket renew its entry's id under the lock
 * (guard_listen, guard_shutdown): an entry whose socket changed state since it was
 * collected is no longer found by (idx, id) here, and stays. Its holder was alive to
 * change it: *renewed says so, and the entry denies as collected. */
static void apply_confirmations(struct table *t, struct denier *d, const bool *reap,
                                const bool *to_linger, bool *renewed, int n)
{
    for (int i = 0; i < n; i++) {
        renewed[i] = false;
        if (reap[i] && !table_release(t, d[i].idx, d[i].e.id)) {
            const struct table_entry *now = table_at(t, d[i].idx);
            renewed[i] = now && now->id != d[i].e.id && now->inode == d[i].e.inode &&
                         now->netns == d[i].e.netns && now->proto == d[i].e.proto &&
                         now->addr.port == d[i].e.addr.port;
        } else if (to_linger[i]) {
            table_set_flags(t, d[i].idx, d[i].e.id, TABLE_F_LINGER, 0);
        }
    }
}

/* --- refusing ------------------------------------------------------------------------- */

static const char *held_how(enum bg_class c)
{
    return c == BG_CLASS_EXCLUSIVE ? "exclusively" : c == BG_CLASS_REUSEADDR ? "for sharing"
                                                                              : "by default";
}

/* Our own socket is named from our records: a /proc/self/fd scan would pin every
 * descriptor it reads, and a socket another thread closes meanwhile would stay bound
 * for the length of the read (holder.h). getpid(), not the cached pid: a raw clone()
 * child has its parent's cached, and only refusals pay for the system call. */
static void find_holder(const struct table_entry *e, struct holder *h)
{
    if (fdstate_find_inode(e->inode) >= 0)
        holder_self(e, getpid(), h);
    else
        holder_find(e, h);
}

/* The refusal line for `want` against denier d, and the live process holding it. */
/* Did the rule book turn the cell's verdict into ACCESS across stacks (rules/judge.h)? */
static bool refused_across_stacks(const struct table_entry *want, const struct denier *d)
{
    struct bg_side first = { rules_held_class(&(struct bg_binding){ .cls = d->e.cls }),
                             rules_addr_kind(&d->e.addr) };
    struct bg_side second = { (enum bg_class)want->cls, rules_addr_kind(&want->addr) };
    return d->verdict == BG_ACCESS &&
           policy_verdict(cfg->profile, d->e.uid == want->uid, first, second) != BG_ACCESS &&
           rules_meets_across_stacks(&d->e.addr, &want->addr);
}

static void format_refusal(const struct table_entry *want, const struct denier *d, bool audit,
                           struct holder *h, char *line, size_t len)
{
    char want_s[64], held_s[64], first_s[40], second_s[40], comm[TABLE_COMM_LEN + 1];
    address_format(&want->addr, want_s, sizeof want_s);
    address_format(&d->e.addr, held_s, sizeof held_s);
    find_holder(&d->e, h);
    snprintf(comm, sizeof comm, "%.*s", TABLE_COMM_LEN, h->comm);
    snprintf(first_s, sizeof first_s, "%s %s", policy_class_name((enum bg_class)d->e.cls),
             policy_kind_name(rules_addr_kind(&d->e.addr)));
    snprintf(second_s, sizeof second_s, "%s %s", policy_class_name((enum bg_class)want->cls),
             policy_kind_name(rules_addr_kind(&want->addr)));
    struct log_refusal r = {
        .want_addr = want_s,
        .proto = want->proto == IPPROTO_TCP ? "tcp" : "udp",
        .err = policy_errno(d->verdict),
        .held_how = held_how((enum bg_class)d->e.cls),
        .pid = h->pid,
        .comm = comm,
        .uid = d->e.uid,
        .held_addr = held_s,
        .since = d->e.since,
        .table = policy_table_name(cfg->profile, d->e.uid == want->uid),
        .first = first_s,
        .second = second_s,
        .rule = refused_across_stacks(want, d) ? "across stacks" : NULL,
        .audit = audit ? "audit" : NULL,
    };
    log_format_refusal(&r, line, len);
}

static void log_refusal(const struct table_entry *want, const struct denier *d, bool audit)
{
    if (cfg->log == BG_LOG_OFF)
        return;  /* naming the holder costs a /proc lookup: only for a line someone reads */
    struct holder h;
    char line[LOG_LINE_MAX];
    format_refusal(want, d, audit, &h, line, sizeof line);
    log_line("%s", line);
}

/* --- binding ------------------------------------------------------------------------- */

/* One bind() call being judged. `answered` says r/err are final (the real bind ran, or
 * bindguard refused): if the table vanishes under us after that, the answer stands. */
struct bind_call {
    int fd;
    struct fd_state *s;
    const struct sockaddr *sa;
    socklen_t len;
    struct table *t;
    struct want w;
    int r, err;
    bool answered;
    bool pending;          /* an intent is in the table at (pending_idx, pending_id) */
    uint32_t pending_idx;
    uint64_t pending_id;
};

/* The address the kernel has the socket bound to (port 0: not bound yet). */
static bool bound_address(int fd, const struct fd_state *s, bool v6only, struct bg_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return sys_getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
           address_from_sockaddr((struct sockaddr *)&ss, len, s->family, v6only, out) == 0;
}

/* Linux says EINVAL to a second bind of a bound socket, whatever else is on the port;
 * sockets bound implicitly (connect, listen, sendto) are only seen here. */
static bool kernel_bound_already(const struct bind_call *c)
{
    struct bg_addr a;
    return bound_address(c->fd, c->s, c->w.e.addr.v6only, &a) && a.port != 0;
}

static void call_real(struct bind_call *c)
{
    c->r = real.bind(c->fd, c->sa, c->len);
    c->err = errno;
    c->answered = true;
}

/* The real bind; once it succeeds the socket keeps the class it was judged with. */
static bool real_bind_ok(struct bind_call *c)
{
    call_real(c);
    if (c->r != 0)
        return false;
    c->s->flags |= FD_KERNEL_BOUND;
    c->s->cls = c->w.e.cls;
    fdstate_sync_aliases(c->fd);
    return true;
}

/* Emulate, before the real bind: let the kernel share what Windows shares. */
static void emulate_sharing(int fd)
{
    int on = 1;
    real.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
}

/* Emulate, after a successful listen: every connection goes to the group's first
 * listener, as on Windows (a reuseport program that always picks socket 0). Only a
 * listening socket is in its group: attached earlier, the program gives the socket a
 * private group, and the kernel then refuses it a place in the shared one at bind or at
 * listen. Attached now, it becomes the whole group's program. */
static void emulate_first_listener(int fd, const struct fd_state *s)
{
    if (s->proto != IPPROTO_TCP)
        return;
    struct sock_filter first_socket[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog prog = { 1, first_socket };
    real.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

static bool claim_entry(struct bind_call *c, uint32_t *idx)
{
    if (c->pending) {   /* the intent becomes the entry */
        c->pending = false;
        *idx = c->pending_idx;
        return table_set_flags(c->t, c->pending_idx, c->pending_id, 0, TABLE_F_PENDING);
    }
    int err = table_claim(c->t, &c->w.e, idx);
    if (err == ENOSPC)
        log_once(LOG_TOPIC_TABLE_FULL, "port table %s is full (%u entries); new binds are "
                 "not recorded (run `bindguard gc`)", table_path(c->t), table_capacity(c->t));
    return err == 0;
}

/* A socket owned by another uid than this process's table (created before a setuid, or
 * passed in) is judged against every table but recorded in none: only its owner's
 * processes may write its owner's table (doc/design.md "Trust domains"). */
static bool records_here(const struct bind_call *c)
{
    if (c->w.e.uid == table_owner)
        return true;
    log_once(LOG_TOPIC_NOT_RECORDED, "a socket of uid %u bound by a process of uid %u is "
             "judged but not recorded (only uid %u's processes write its table)",
             (unsigned)c->w.e.uid, (unsigned)table_owner, (unsigned)c->w.e.uid);
    return false;
}

static void record(struct bind_call *c)
{
    uint32_t idx;
    if (!records_here(c) || !claim_entry(c, &idx))
        return;
    const struct table_entry *e = table_at(c->t, idx);
    if (!e)
        return;
    c->s->entry_idx = idx;
    c->s->entry_id = e->id;
    c->s->inode = c->w.e.inode;
    c->s->flags |= FD_BOUND;
    fdstate_sync_aliases(c->fd);
}

static void drop_intent(struct bind_call *c)
{
    if (c->pending)
        table_release(c->t, c->pending_idx, c->pending_id);
    c->pending = false;
}

static enum bg_verdict judge_one(const struct table_entry *held, const struct table_entry *want);
static void refuse(struct bind_call *c, const struct denier *d);
static void log_refusal(const struct table_entry *want, const struct denier *d, bool audit);

/* Under our own lock: publish the intent, then judge against other users' tables
 * (domains.h). true if the bind may go on (audit mode: also after a logged refusal). */
static bool other_domains_allow(struct bind_call *c)
{
    int64_t stamp = 0;
    if (records_here(c))
        c->pending = domains_publish(c->t, &c->w.e, &c->pending_idx, &c->pending_id, &stamp);
    struct domains_result r;
    enum domains_answer a = domains_judge(cfg->table, c->t, &c->w.e, stamp, judge_one,
                                          cfg->intent_wait_ms, &r);
    if (r.waited_out)
        log_once(LOG_TOPIC_INTENT, "another user's bind on port %u stayed pending longer than "
                 "%u ms; not waiting for it", c->w.e.addr.port, cfg->intent_wait_ms);
    if (r.overflow)
        log_once(LOG_TOPIC_DOMAINS, "more than %d other users' port tables; the rest are not "
                 "read", FOREIGN_MAX_TABLES);
    if (a == DOMAINS_UNKNOWN)
        log_once(LOG_TOPIC_KERNEL, "cannot ask the kernel (sock_diag) who holds port %u; "
                 "not refusing on another user's table alone", c->w.e.addr.port);
    if (a != DOMAINS_DENIED)
        return true;
    struct denier d = { r.denier, TABLE_NO_INDEX, r.verdict };
    if (cfg->mode == BG_MODE_AUDIT) {
        log_refusal(&c->w.e, &d, true);
        return true;
    }
    drop_intent(c);
    refuse(c, &d);
    return false;
}

/* Real bind under the lock (so no racing binder of this uid can pass the same check,
 * and other uids see our intent), then record. */
static void bind_and_record(struct bind_call *c)
{
    if (!other_domains_allow(c))
        return;
    if (cfg->emulate)
        emulate_sharing(c->fd);
    if (real_bind_ok(c))
        record(c);
    drop_intent(c);
}

static void locked_bind(struct bind_call *c)
{
    if (!lock_table(c->t)) {
        call_real(c);
        return;
    }
    bind_and_record(c);
    table_unlock(c->t);
}

/* Port 0: the kernel chooses a free port, so there is nothing to judge beforehand. */
static void bind_ephemeral(struct bind_call *c)
{
    if (!real_bind_ok(c))
        return;
    struct bg_addr got;
    if (!bound_address(c->fd, c->s, c->w.e.addr.v6only, &got) || !lock_table(c->t))
        return;
    c->w.e.addr.port = got.port;
    record(c);
    table_unlock(c->t);
}

/* Linux checks that a specific address is this host's before it looks for conflicts: a
 * bind to a foreign address gets EADDRNOTAVAIL whatever holds the port. Loopback always
 * is local; anything else is tried on a throwaway socket (refusals only pay for it). */
static bool address_bindable(const struct bg_addr *a, uint8_t proto)
{
    if (rules_addr_is_wildcard(a) || address_is_loopback(a))
        return true;
    struct bg_addr probe = *a;
    probe.port = 0;
    struct sockaddr_storage ss;
    socklen_t len = address_to_sockaddr(&probe, &ss);
    int type = (proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
    int fd = sys_socket(a->family, type, 0);
    if (fd < 0)
        return true;
    int r = sys_bind(fd, (struct sockaddr *)&ss, len);
    int err = errno;
    sys_close(fd);
    return r == 0 || err != EADDRNOTAVAIL;
}

static void refuse(struct bind_call *c, const struct denier *d)
{
    if (kernel_bound_already(c) || !address_bindable(&c->w.e.addr, c->w.e.proto)) {
        call_real(c);
        return;
    }
    log_refusal(&c->w.e, d, false);
    c->r = -1;
    c->err = policy_errno(d->verdict);
    c->answered = true;
}

enum outcome { HOLDER_CONFIRMED, HOLDERS_STALE, HOLDERS_UNKNOWN };

/* Confirm every denier with the kernel (outside the lock), reap what is gone. On
 * HOLDER_CONFIRMED, *which is the most severe live denier. */
static enum outcome confirm_all(struct table *t, struct denier *d, int n,
                                const struct table_entry *want, int *which)
{
    bool reap[MAX_DENIERS], to_linger[MAX_DENIERS], renewed[MAX_DENIERS], any_stale = false;
    *which = -1;
    for (int i = 0; i < n; i++) {
        enum kernel_answer a = confirm(&d[i], want, &reap[i], &to_linger[i]);
        if (a == KERNEL_UNKNOWN)
            log_once(LOG_TOPIC_KERNEL, "cannot ask the kernel (sock_diag) who holds port %u; "
                     "not refusing on the table's word alone", want->addr.port);
        if (a == KERNEL_ALIVE && (*which < 0 || rules_more_severe(d[i].verdict, d[*which].verdict)))
            *which = i;
        any_stale |= reap[i] || to_linger[i];
    }
    if (any_stale && lock_table(t)) {
        apply_confirmations(t, d, reap, to_linger, renewed, n);
        table_unlock(t);
        for (int i = 0; i < n; i++)
            if (renewed[i] && (*which < 0 || rules_more_severe(d[i].verdict,
                                                               d[*which].verdict)))
                *which = i;
    }
    if (*which >= 0)
        return HOLDER_CONFIRMED;
    return any_stale ? HOLDERS_STALE : HOLDERS_UNKNOWN;
}

/* What judging a bind found (doc/design.md "What happens on bind", step 3). */
enum judgement {
    JUDGED_CLEAR,    /* nothing denies; the lock is still held */
    JUDGED_CORRUPT,  /* the table can't be judged; the lock is still held */
    JUDGED_NO_LOCK,  /* the lock could not be taken */
    JUDGED_DENIED,   /* *denier is the most severe denier the kernel confirmed */
    JUDGED_UNKNOWN,  /* the kernel could not be asked about the deniers */
    JUDGED_CHURN,    /* the port kept changing between rounds */
};

/* The cached namespace key can be stale (a raw setns syscall): judged under it, a holder
 * in another namespace would look gone to our kernel and be reaped. The socket's own
 * cookie settles it; only denials pay for reading it. true if the key was corrected. */
static bool key_corrected(int fd, struct table_entry *want)
{
    uint64_t here = fd >= 0 ? kernel_netns_cookie(fd) : 0;
    if (!here || here == want->netns)
        return false;
    tls_netns = want->netns = here;
    return true;
}

/* Collect the deniers under the lock, confirm them outside it; repeat without the stale
 * ones, since a reaped entry may have hidden a milder one. fd is the socket being bound
 * (-1: none, for `bindguard check`). */
static enum judgement judge(struct table *t, int fd, struct table_entry *want,
                            struct denier *denier)
{
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (!lock_table(t))
            return JUDGED_NO_LOCK;
        struct denier d[MAX_DENIERS];
        int n = collect_deniers(t, want, d, MAX_DENIERS);
        if (n <= 0)
            return n == 0 ? JUDGED_CLEAR : JUDGED_CORRUPT;
        table_unlock(t);
        if (key_corrected(fd, want))
            continue;

        /* The kernel, not the table, has the last word on every denial. */
        int which;
        switch (confirm_all(t, d, n, want, &which)) {
        case HOLDER_CONFIRMED:
            *denier = d[which];
            return JUDGED_DENIED;
        case HOLDERS_UNKNOWN:
            return JUDGED_UNKNOWN;
        case HOLDERS_STALE:
            break;  /* judge again without them */
        }
    }
    return JUDGED_CHURN;
}

/* doc/design.md "What happens on bind", steps 3 to 5: an explicit port. */
static void judge_and_bind(struct bind_call *c)
{
    struct denier d;
    switch (judge(c->t, c->fd, &c->w.e, &d)) {
    case JUDGED_CLEAR:
        bind_and_record(c);
        table_unlock(c->t);
        return;
    case JUDGED_CORRUPT:
        call_real(c);
        table_unlock(c->t);
        return;
    case JUDGED_NO_LOCK:
        call_real(c);
        return;
    case JUDGED_DENIED:
        if (cfg->mode != BG_MODE_AUDIT) {
            refuse(c, &d);
            return;
        }
        log_refusal(&c->w.e, &d, true);
        locked_bind(c);
        return;
    case JUDGED_UNKNOWN:
        locked_bind(c);
        return;
    case JUDGED_CHURN:
        log_once(LOG_TOPIC_INTERNAL, "port %u kept changing while judging; the kernel decides",
                 c->w.e.addr.port);
        call_real(c);
        return;
    }
}

static void judged_bind(void *arg)
{
    struct bind_call *c = arg;
    if (c->w.explicit_port)
        judge_and_bind(c);
    else
        bind_ephemeral(c);
}

int guard_bind(int fd, struct fd_state *s, const struct sockaddr *sa, socklen_t len)
{
    int entry_errno = errno;  /* a successful bind leaves errno as the program had it */
    struct bind_call c = { .fd = fd, .s = s, .sa = sa, .len = len };
    if ((s->flags & FD_KERNEL_BOUND) || !describe_want(fd, s, sa, len, &c.w) ||
        !(c.t = guard_table()))
        return real.bind(fd, sa, len);
    notice_replaced(c.t);
    tls_lock_deadline_ms = monotonic_ms() + cfg->lock_timeout_ms;
    if (!fault_call(judged_bind, &c))
        table_faulted(c.t);
    tls_lock_deadline_ms = 0;
    if (!c.answered)
        return real.bind(fd, sa, len);
    errno = c.r == 0 ? entry_errno : c.err;
    return c.r;
}

/* One `bindguard check`: judged like a bind, nothing bound or recorded. */
struct check_call {
    struct table *t;
    const struct table_entry *want;
    struct guard_refusal *out;
    int result;
};

/* The other users' tables, after our own let want through (or there is none). */
static void check_other_domains(struct check_call *c, const struct table_entry *want)
{
    struct domains_result r;
    c->result = 0;
    if (domains_judge(cfg->table, c->t, want, 0, judge_one, 0, &r) != DOMAINS_DENIED)
        return;
    struct denier d = { r.denier, TABLE_NO_INDEX, r.verdict };
    c->out->held = d.e;
    c->out->verdict = d.verdict;
    format_refusal(c->want, &d, false, &c->out->holder, c->out->line, sizeof c->out->line);
    c->result = 1;
}

static void judged_check(void *arg)
{
    struct check_call *c = arg;
    struct denier d;
    struct table_entry want = *c->want;
    switch (judge(c->t, -1, &want, &d)) {
    case JUDGED_CLEAR:
        table_unlock(c->t);
        check_other_domains(c, &want);
        return;
    case JUDGED_CORRUPT:
        table_unlock(c->t);
        c->result = -1;
        return;
    case JUDGED_NO_LOCK:
        c->result = -1;
        return;
    case JUDGED_DENIED:
        c->out->held = d.e;
        c->out->verdict = d.verdict;
        format_refusal(c->want, &d, false, &c->out->holder, c->out->line, sizeof c->out->line);
        c->result = 1;
        return;
    case JUDGED_UNKNOWN:
    case JUDGED_CHURN:
        c->result = 0;  /* guard_bind would let the kernel decide: bindguard refuses nothing */
        return;
    }
}

int guard_check(struct table *t, const struct table_entry *want, struct guard_refusal *r)
{
    struct check_call c = { t, want, r, -1 };
    if (!t) {
        check_other_domains(&c, want);
        return c.result;
    }
    if (!fault_call(judged_check, &c)) {
        table_faulted(t);
        return -1;
    }
    return c.result;
}

/* --- listen, accept, close, fork -------------------------------------------------------- */

/* A change to one recorded entry, made under the lock and with truncation watched. */
struct entry_change {
    struct table *t;
    uint32_t idx;
    uint64_t id;
    uint8_t set_flags;   /* flags to add; 0 with release: remove the entry */
    bool release;
};

static void change_entry(void *arg)
{
    struct entry_change *ch = arg;
    if (!lock_table(ch->t))
        return;
    if (ch->set_flags)
        table_set_flags(ch->t, ch->idx, ch->id, ch->set_flags, 0);
    else if (ch->release)
        table_release(ch->t, ch->idx, ch->id);
    table_unlock(ch->t);
}

static void apply_change(uint32_t idx, uint64_t id, uint8_t set_flags, bool release)
{
    struct entry_change ch = { guard_table(), idx, id, set_flags, release };
    if (ch.t && !fault_call(change_entry, &ch))
        table_faulted(ch.t);
}

/* listen() or shutdown() of a recorded socket: what sock_diag reports of it changes, so
 * the real call runs under the table lock and renews the entry's id there (see
 * apply_confirmations); the flag to add on success is set under the same lock. */
struct state_change {
    struct table *t;
    struct fd_state *s;
    int (*call)(int fd, int arg);
    int fd, arg;
    uint8_t set_flags;
    int r, err;
    bool answered;
};

/* Under the lock: renew the entry of s's socket. Another holder of the same socket (a
 * forked parent or child) may have renewed it first, leaving s with an old id; the slot
 * still holding this socket's inode (alive: we hold it, so the number is not reused)
 * says the entry is ours all the same, or the two-dump race would be open again. */
static uint64_t renew_entry(struct table *t, struct fd_state *s)
{
    uint64_t id = table_renew(t, s->entry_idx, s->entry_id);
    const struct table_entry *e = id ? NULL : table_at(t, s->entry_idx);
    if (e && e->inode == s->inode)
        id = table_renew(t, s->entry_idx, e->id);
    return id;
}

static void change_state(void *arg)
{
    struct state_change *c = arg;
    if (!lock_table(c->t))
        return;
    c->r = c->call(c->fd, c->arg);
    c->err = errno;
    c->answered = true;
    uint64_t id = renew_entry(c->t, c->s);
    if (id) {
        c->s->entry_id = id;
        fdstate_sync_aliases(c->fd);
        if (c->r == 0 && c->set_flags)
            table_set_flags(c->t, c->s->entry_idx, id, c->set_flags, 0);
    }
    table_unlock(c->t);
}

/* The real call, under the lock when the socket has an entry; errno as the call left it. */
static int call_changing_state(int fd, struct fd_state *s, int (*call)(int, int), int arg,
                               uint8_t set_flags)
{
    int entry_errno = errno;  /* a success leaves errno as the program had it */
    struct state_change c = { NULL, s, call, fd, arg, set_flags, -1, 0, false };
    if ((s->flags & FD_BOUND) && (c.t = guard_table()) && !fault_call(change_state, &c))
        table_faulted(c.t);
    if (!c.answered) {
        errno = entry_errno;
        return call(fd, arg);
    }
    errno = c.r == 0 ? entry_errno : c.err;
    return c.r;
}

int guard_listen(int fd, struct fd_state *s, int backlog, int (*call)(int, int))
{
    bool first = !(s->flags & FD_LISTENING);
    int r = call_changing_state(fd, s, call, backlog, first ? TABLE_F_LISTENING : 0);
    if (r != 0)
        return r;
    int saved = errno;
    s->flags |= FD_KERNEL_BOUND;  /* listen binds an unbound socket to a port */
    if (first) {
        s->flags |= FD_LISTENING;
        fdstate_sync_aliases(fd);
        if (cfg->emulate)
            emulate_first_listener(fd, s);
    }
    errno = saved;
    return 0;
}

int guard_shutdown(int fd, struct fd_state *s, int how, int (*call)(int, int))
{
    if (s->proto != IPPROTO_TCP)  /* a UDP socket stays in its hash: nothing to see */
        return call(fd, how);
    return call_changing_state(fd, s, call, how, 0);
}

void guard_accepted(int fd, struct fd_state *s)
{
    if (s->flags & FD_ACCEPTED)
        return;
    s->flags |= FD_ACCEPTED;
    fdstate_sync_aliases(fd);
    if ((s->flags & FD_BOUND) && (s->opts & FD_OPT_EXCLUSIVE))
        apply_change(s->entry_idx, s->entry_id, TABLE_F_ACCEPTED, false);
}

/* What going of a descriptor does to its socket's entry. The last descriptor of a
 * socket this process alone holds takes its entry with it, or turns it into a linger
 * entry if it served connections as an explicit exclusive listener. A socket another
 * process may hold keeps its entry; the kernel confirms it on the next conflicting bind
 * and reaps it once the socket is really gone. Decided (and fd untracked) before the
 * descriptor goes, while fd's state is still this socket's. */
struct release_plan {
    bool act, linger;
    uint32_t idx;
    uint64_t id;
};

static struct release_plan plan_release(int fd, struct fd_state *s)
{
    bool mine_alone = (s->flags & FD_BOUND) && !(s->flags & FD_SHARED) &&
                      !((s->flags & FD_DUPED) && fdstate_has_alias(fd));
    bool linger = s->proto == IPPROTO_TCP && (s->opts & FD_OPT_EXCLUSIVE) &&
                  (s->flags & FD_ACCEPTED);
    s->tracked = 0;
    return (struct release_plan){ mine_alone, linger, s->entry_idx, s->entry_id };
}

static void apply_release(const struct release_plan *p)
{
    if (p->act)
        apply_change(p->idx, p->id, p->linger ? TABLE_F_LINGER : 0, !p->linger);
}

void guard_release(int fd, struct fd_state *s)
{
    struct release_plan p = plan_release(fd, s);
    apply_release(&p);
}

static bool fork_overlapped(unsigned long stamp);

/* close(): the entry goes only after the real close, and only if no fork or spawn
 * overlapped it. A child another thread forks before the close takes effect holds the
 * socket too, though fd was not marked shared when this thread looked: released, the
 * socket would live on in the child without its claim. The generation is read before
 * the flags, so a fork that ended before it had marked fd shared by then. */
int guard_close(int fd, struct fd_state *s, int (*call)(int))
{
    unsigned long stamp = guard_fork_generation();
    struct release_plan p = plan_release(fd, s);
    int r = call(fd);
    int saved = errno;
    if (!fork_overlapped(stamp))
        apply_release(&p);
    errno = saved;
    return r;
}

static void mark_shared(int fd, struct fd_state *s, void *arg)
{
    (void)fd;
    (void)arg;
    s->flags |= FD_SHARED;
}

/* Every socket that exists when a process forks is the child's too, bound yet or not:
 * no close in either may drop its entry alone. Marked before the fork (a bind finishing
 * meanwhile keeps the mark) and again after it in the parent (a socket tracked while the
 * fork ran); the generation lets socket() see that a fork overlapped it. */
static unsigned long fork_generation;
static unsigned long forks_under_way;  /* between their hooks' two generation bumps */

unsigned long guard_fork_generation(void)
{
    return __atomic_load_n(&fork_generation, __ATOMIC_SEQ_CST);
}

/* Did a fork or spawn run, even in part, since `stamp` was read? */
static bool fork_overlapped(unsigned long stamp)
{
    return __atomic_load_n(&forks_under_way, __ATOMIC_SEQ_CST) != 0 ||
           guard_fork_generation() != stamp;
}

static void fork_starts(void)
{
    __atomic_add_fetch(&forks_under_way, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_SEQ_CST);
}

static void fork_ends(void)
{
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&forks_under_way, 1, __ATOMIC_SEQ_CST);
}

void guard_before_fork(void)
{
    fork_starts();
    fdstate_each(mark_shared, NULL);
}

void guard_after_fork(bool in_child)
{
    if (in_child) {
        /* The child's only thread: no fork of its own is under way. */
        __atomic_store_n(&forks_under_way, 0, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&fork_generation, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
        procname_forget();
        foreign_after_fork_child();
    } else {
        fdstate_each(mark_shared, NULL);
        fork_ends();
    }
}

static void mark_inherited(int fd, struct fd_state *s, void *all)
{
    int flags = *(bool *)all ? 0 : sys_fd_flags(fd);
    if (flags >= 0 && !(flags & FD_CLOEXEC))
        s->flags |= FD_SHARED;
}

/* posix_spawn's child shares the memory of its parent until it execs (CLONE_VFORK), so
 * no wrapper can act in it: the parent marks what the exec will keep. */
void guard_around_spawn(bool all, bool before)
{
    if (before)
        fork_starts();
    fdstate_each(mark_inherited, &all);
    if (!before)
        fork_ends();
}

void guard_mark_fd_shared(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    if (s) {
        mark_shared(fd, s, NULL);
        fdstate_sync_aliases(fd);
    }
}
