/* bindflow - bind() of a tracked socket: describe it, judge it, bind and record it
 * (bindflow.h).
 *
 * Rule of thumb for every branch here: bindguard's own trouble never refuses a bind. It
 * logs once and lets libc's bind decide. */
#include "bindflow.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "bindprobe.h"
#include "budget.h"
#include "domains.h"
#include "emulate.h"
#include "fault.h"
#include "foreign.h"
#include "guard.h"
#include "holder.h"
#include "deniers.h"
#include "kernel.h"
#include "libc.h"
#include "log.h"
#include "options.h"
#include "ourtable.h"
#include "policy.h"
#include "process.h"
#include "procname.h"
#include "refusal.h"
#include "rules/rules.h"
#include "sys.h"
#include "table.h"

/* The network namespace key is cached per thread: setns() changes only the calling
 * thread, and the interposer clears the cache when it sees setns/unshare. A stale key
 * can only cost protection: other namespaces' kernels never confirm our entries. */
static __thread uint64_t tls_netns __attribute__((tls_model("initial-exec")));

void bindflow_forget_netns(void)
{
    tls_netns = 0;
}

/* The class the rule book gives the options the program set (rules/class.h;
 * doc/design.md "Option mapping"). */
static enum bg_class class_of(const struct sock_record *s)
{
    struct bg_classing c = config_classing(guard_config());
    struct bg_sockopts o = options_of(s);
    return rules_class(&c, &o);
}

/* The socket being bound, as the table will record it. */
struct want {
    struct table_entry e;
    bool explicit_port;
};

static bool describe_want(int fd, struct sock_record *s, const struct sockaddr *sa,
                          socklen_t len, struct want *w)
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
    w->e.pid = process_pid();
    w->e.fd = fd;
    w->e.since = time(NULL);
    char name[PROCNAME_LEN];
    procname_get(name);
    snprintf(w->e.comm, sizeof w->e.comm, "%s", name);
    const struct bg_config *cfg = guard_config();
    w->e.n_share = cfg->n_share_uids;
    memcpy(w->e.share_uids, cfg->share_uids, sizeof(uint32_t) * cfg->n_share_uids);
    if (!tls_netns)
        tls_netns = kernel_netns_cookie(fd);
    w->e.netns = tls_netns;
    return true;
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

static void log_refusal(const struct table_entry *want, const struct denier *d, bool audit)
{
    if (guard_config()->log == BG_LOG_OFF)
        return;  /* naming the holder costs a /proc lookup: only for a line someone reads */
    struct holder h;
    char line[LOG_LINE_MAX];
    find_holder(&d->e, &h);
    refusal_format(want, d, audit, &h, line, sizeof line);
    log_line("%s", line);
}

/* --- binding ------------------------------------------------------------------------- */

/* One bind() call being judged. `answered` says r/err are final (libc's bind ran, or
 * bindguard refused): if the table vanishes under us after that, the answer stands. */
struct bind_call {
    int fd;
    struct sock_record *s;
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
static bool bound_address(int fd, const struct sock_record *s, bool v6only, struct bg_addr *out)
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

static void call_libc(struct bind_call *c)
{
    c->r = libc_bind(c->fd, c->sa, c->len);
    c->err = errno;
    c->answered = true;
}

/* libc's bind; once it succeeds the socket keeps the class it was judged with. */
static bool bound_by_libc(struct bind_call *c)
{
    call_libc(c);
    if (c->r != 0)
        return false;
    sock_record_mark(c->s, FD_KERNEL_BOUND);
    c->s->cls = c->w.e.cls;
    return true;
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
    if (c->w.e.uid == ourtable_owner())
        return true;
    log_once(LOG_TOPIC_NOT_RECORDED, "a socket of uid %u bound by a process of uid %u is "
             "judged but not recorded (only uid %u's processes write its table)",
             (unsigned)c->w.e.uid, (unsigned)ourtable_owner(), (unsigned)c->w.e.uid);
    return false;
}

static void record(struct bind_call *c)
{
    uint32_t idx;
    if (!records_here(c) || !claim_entry(c, &idx))
        return;
    const struct table_entry *e = table_slot_entry(c->t, idx);
    if (!e)
        return;
    c->s->entry_idx = idx;
    c->s->entry_id = e->id;
    c->s->inode = c->w.e.inode;
    sock_record_mark(c->s, FD_HAS_ENTRY);
}

static void drop_intent(struct bind_call *c)
{
    if (c->pending)
        table_release(c->t, c->pending_idx, c->pending_id);
    c->pending = false;
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
    probe.v6only = false;  /* the question is the address, not the socket's options */
    return bindprobe(&probe, proto, 0, NULL) != EADDRNOTAVAIL;
}

static void refuse(struct bind_call *c, const struct denier *d)
{
    if (kernel_bound_already(c) || !address_bindable(&c->w.e.addr, c->w.e.proto)) {
        call_libc(c);
        return;
    }
    log_refusal(&c->w.e, d, false);
    c->r = -1;
    c->err = policy_errno(d->verdict);
    c->answered = true;
}

/* Under our own lock: publish the intent, then judge against other users' tables
 * (domains.h). true if the bind may go on (audit mode: also after a logged refusal). */
static bool other_domains_allow(struct bind_call *c)
{
    int64_t stamp = 0;
    if (records_here(c))
        c->pending = domains_publish(c->t, &c->w.e, &c->pending_idx, &c->pending_id, &stamp);
    const struct bg_config *cfg = guard_config();
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
    if (guard_config()->emulate)
        emulate_sharing(c->fd);
    if (bound_by_libc(c))
        record(c);
    drop_intent(c);
}

static void locked_bind(struct bind_call *c)
{
    if (!budget_lock(c->t)) {
        call_libc(c);
        return;
    }
    bind_and_record(c);
    table_unlock(c->t);
}

/* Port 0: the kernel chooses a free port, so there is nothing to judge beforehand. */
static void bind_ephemeral(struct bind_call *c)
{
    if (!bound_by_libc(c))
        return;
    struct bg_addr got;
    if (!bound_address(c->fd, c->s, c->w.e.addr.v6only, &got) || !budget_lock(c->t))
        return;
    c->w.e.addr.port = got.port;
    record(c);
    table_unlock(c->t);
}

/* doc/design.md "What happens on bind", steps 3 to 5: an explicit port. */
static void judge_and_bind(struct bind_call *c)
{
    struct denier d;
    enum judgement j = judge_port(c->t, c->fd, &c->w.e, &d);
    tls_netns = c->w.e.netns;  /* corrected if the cached key was stale */
    switch (j) {
    case JUDGED_CLEAR:
        bind_and_record(c);
        table_unlock(c->t);
        return;
    case JUDGED_CORRUPT:
        call_libc(c);
        table_unlock(c->t);
        return;
    case JUDGED_NO_LOCK:
        call_libc(c);
        return;
    case JUDGED_DENIED:
        if (guard_config()->mode != BG_MODE_AUDIT) {
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
        call_libc(c);
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

int bindflow_bind(int fd, struct sock_record *s, const struct sockaddr *sa, socklen_t len)
{
    int entry_errno = errno;  /* a successful bind leaves errno as the program had it */
    struct bind_call c = { .fd = fd, .s = s, .sa = sa, .len = len };
    if ((s->flags & FD_KERNEL_BOUND) || !describe_want(fd, s, sa, len, &c.w) ||
        !(c.t = ourtable_get()))
        return libc_bind(fd, sa, len);
    ourtable_notice_replaced(c.t);
    budget_begin();
    if (!fault_call(judged_bind, &c))
        ourtable_faulted(c.t);
    budget_end();
    if (!c.answered)
        return libc_bind(fd, sa, len);
    errno = c.r == 0 ? entry_errno : c.err;
    return c.r;
}

