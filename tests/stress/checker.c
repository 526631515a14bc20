#include "checker.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "claims.h"
#include "kernel.h"
#include "proc_child.h"
#include "stress.h"

#define JUDGE_DELAY_MS  300     /* claims announced after the bind (tbind) get this long */

struct pending {
    int64_t due;
    long long at;          /* between the two listings (CLOCK_MONOTONIC us) */
    uint8_t proto;
    uint16_t port;
    int n;
    uint32_t inode[MAX_ON_PORT];
    uint8_t state[MAX_ON_PORT];   /* TCP_* as sock_diag said */
    struct bg_addr local[MAX_ON_PORT];  /* where sock_diag said it is bound */
    char note[700];        /* a conflict as seen at sampling time, who held what */
};

#define PENDING 1024
static struct pending pend[PENDING];
static unsigned pend_head, pend_tail;

struct checker checker;

static int describe(char *buf, size_t len, const struct claim *a, const struct claim *b)
{
    char ia[64], ib[64];
    inet_ntop(a->a.family, a->a.ip, ia, sizeof ia);
    inet_ntop(b->a.family, b->a.ip, ib, sizeof ib);
    int64_t now = proc_now_ms();
    return snprintf(buf, len, "%s port %u: inode %u (pid %d, class %c, %s, %s, %lld ms old) and "
             "inode %u (pid %d, class %c, %s, %s, %lld ms old) alive together",
             a->proto == 't' ? "tcp" : "udp", a->port, a->inode, a->pid, a->cls, ia, a->hist,
             (long long)(now - a->born), b->inode, b->pid, b->cls, ib, b->hist,
             (long long)(now - b->born));
}

static struct table *table;  /* checker_reset's */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return stress_us(&ts);
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    char state;
    int ppid;
    return paren && sscanf(paren + 1, " %c %d", &state, &ppid) == 2 ? ppid : 0;
}

/* Who holds socket:[inode] now, as "pid(parent pid)/fdN ..." in buf; the number of
 * holders, the first max of them in pids. */
static int holders_of(uint32_t inode, char *buf, size_t len, int *pids, int max)
{
    char want[32];
    snprintf(want, sizeof want, "socket:[%u]", inode);
    size_t n = 0;
    int found = 0;
    buf[0] = '\0';
    DIR *proc = opendir("/proc");
    for (struct dirent *d; proc && (d = readdir(proc));) {
        int pid = atoi(d->d_name);
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
        DIR *fds = pid > 0 ? opendir(dir) : NULL;
        for (struct dirent *f; fds && (f = readdir(fds));) {
            char path[320], target[64];
            snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
            ssize_t tl = readlink(path, target, sizeof target - 1);
            if (tl <= 0 || (target[tl] = '\0', strcmp(target, want) != 0))
                continue;
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%d(parent %d)/fd%s ", pid,
                                  (int)parent_of(pid), f->d_name);
            if (found < max)
                pids[found] = pid;
            found++;
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return found;
}

static bool has_entry(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)idx;
    uint32_t *want = arg;
    if (e->inode == *want)
        *want = 0;
    return *want != 0;
}

bool checker_in_table(uint32_t inode)
{
    uint32_t want = inode;
    if (table_lock(table, 500) != 0)
        return true;
    table_each(table, has_entry, &want);
    table_unlock(table);
    return want == 0;
}

/* One side of a conflict as found right after the listings: whether the table has its
 * entry (asked first: it is quick), who holds it (a /proc walk), "held by pid(parent
 * pid)/fd..., with(out) entry, state N", and whether the worker that bound it lives.
 * Flags a side without entry held only by children of that worker (its entry went with
 * the parent's close though a forked child kept the socket), and one whose worker is
 * gone (its entry can only have been reaped, or lost in a repair after its death). */
static size_t note_side(char *buf, size_t len, const struct claim *c, uint8_t state,
                        bool *orphaned, bool *binder_gone)
{
    bool entry = checker_in_table(c->inode);
    char held[200];
    int pids[8];
    int n = holders_of(c->inode, held, sizeof held, pids, 8);
    bool by_children = n > 0, gone = kill(c->pid, 0) != 0 && errno == ESRCH;
    for (int i = 0; i < n && i < 8; i++)
        by_children &= parent_of(pids[i]) == c->pid;
    *orphaned |= !entry && by_children;
    *binder_gone |= !entry && gone;
    return (size_t)snprintf(buf, len, "inode %u held by [%s] %s entry, state %u, worker %d %s",
                            c->inode, held, entry ? "with" : "without", state, c->pid,
                            gone ? "gone" : "alive");
}

static void note_conflict(char *note, size_t len, long long at, const struct claim *a,
                          uint8_t sa, const struct claim *b, uint8_t sb)
{
    bool orphaned = false, binder_gone = false;
    size_t n = (size_t)describe(note, len, a, b);
    n += n < len ? (size_t)snprintf(note + n, len - n, "; ") : 0;
    n += n < len ? note_side(note + n, len - n, a, sa, &orphaned, &binder_gone) : 0;
    n += n < len ? (size_t)snprintf(note + n, len - n, "; ") : 0;
    n += n < len ? note_side(note + n, len - n, b, sb, &orphaned, &binder_gone) : 0;
    n += n < len ? (size_t)snprintf(note + n, len - n, " (noted %.1f ms after the listings; "
                                    "%u table repairs so far)", (double)(now_us() - at) / 1000,
                                    table_header(table)->repairs) : 0;
    if (orphaned && n < len)
        n += (size_t)snprintf(note + n, len - n, " [entry lost while a forked child holds "
                              "the socket: see test_fork]");
    if (binder_gone && !orphaned && n < len)
        snprintf(note + n, len - n, " [entry lost with a worker that died: see test_faults' "
                 "binder_killed_after_its_bind]");
}

/* Is the claim's address the one the kernel has the socket bound to? */
static bool claimed_where_bound(const struct caddr *c, const struct bg_addr *k)
{
    if (c->family != k->family)
        return false;
    return c->family == AF_INET ? memcmp(c->ip, k->ip + 12, 4) == 0
                                : memcmp(c->ip, k->ip, 16) == 0;
}

/* Was the claim's socket inside close() at `at`? A newcomer beside it is then counted
 * apart, not as a violation (see close_held). */
static bool closing(const struct claim *c, long long at)
{
    return c->close_from && c->close_from <= at && (!c->close_to || c->close_to >= at);
}

/* First pass (final false), at sampling time: note a conflict with who holds what while
 * the sockets still exist. Final pass, once late claims and close records are in: count
 * it, unless a side was being closed. */
static void judge(struct pending *p, int64_t now, bool final)
{
    struct claim c[MAX_ON_PORT];
    uint8_t state[MAX_ON_PORT];
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        /* A socket on the port that no worker announced is not ours to judge; one whose
         * claim names another port or protocol listened after a refusal (ephemeral). */
        state[n] = p->state[i];
        if (!claim_get(p->inode[i], &c[n], now) || c[n].port != p->port ||
            c[n].proto != (p->proto == IPPROTO_TCP ? 't' : 'u'))
            continue;
        /* Judged only where the kernel has the socket: an inode announced with another
         * address than it is bound to would be a wrong attribution, not a conflict. */
        if (!claimed_where_bound(&c[n].a, &p->local[i])) {
            checker.misplaced += final;
            continue;
        }
        n++;
    }
    if (final)
        checker.sightings += n;
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            checker.pairs += final;
            if (!claims_conflict(&c[i], &c[j]))
                continue;
            if (!final) {
                if (!p->note[0])
                    note_conflict(p->note, sizeof p->note, p->at, &c[i], state[i], &c[j],
                                  state[j]);
                continue;
            }
            if (closing(&c[i], p->at) || closing(&c[j], p->at)) {
                checker.in_close++;
                continue;
            }
            if (checker.violations < 4) {
                char *d = checker.first[checker.violations];
                describe(d, sizeof checker.first[0], &c[i], &c[j]);
                if (p->note[0])
                    snprintf(d, sizeof checker.first[0], "%s", p->note);
            }
            checker.violations++;
        }
    }
}

void checker_judge_due(int64_t now, bool all)
{
    while (pend_tail != pend_head && (all || pend[pend_tail % PENDING].due <= now))
        judge(&pend[pend_tail++ % PENDING], now, true);
}

int checker_list_port(uint8_t proto, uint16_t port, uint32_t *inodes, uint8_t *states,
                      struct bg_addr *locals, int max)
{
    struct kernel_sock ks[MAX_ON_PORT * 2];
    int n = kernel_port_sockets(proto, port, ks, MAX_ON_PORT * 2);
    int out = 0;
    for (int i = 0; i < n && i < MAX_ON_PORT * 2 && out < max; i++) {
        /* TIME_WAIT has no inode; one listing can name a socket twice. */
        bool dup = !ks[i].inode || ks[i].local.port != port;
        for (int j = 0; j < out && !dup; j++)
            dup = inodes[j] == ks[i].inode;
        if (!dup) {
            if (states)
                states[out] = ks[i].state;
            if (locals)
                locals[out] = ks[i].local;
            inodes[out++] = ks[i].inode;
        }
    }
    return n < 0 ? n : out;
}

/* Two listings back to back; what is in both was alive between them. */
void checker_sample(uint8_t proto, uint16_t port, int64_t now)
{
    uint32_t a[MAX_ON_PORT], b[MAX_ON_PORT];
    uint8_t states[MAX_ON_PORT];
    struct bg_addr locals[MAX_ON_PORT];
    int na = checker_list_port(proto, port, a, NULL, NULL, MAX_ON_PORT);
    long long at = now_us();
    int nb = checker_list_port(proto, port, b, states, locals, MAX_ON_PORT);
    ck_assert_msg(na >= 0 && nb >= 0, "sock_diag: %s", strerror(-(na < 0 ? na : nb)));
    if (na == MAX_ON_PORT || nb == MAX_ON_PORT)
        checker.crowded++;
    if (pend_head - pend_tail == PENDING)
        judge(&pend[pend_tail++ % PENDING], now, true);
    struct pending *p = &pend[pend_head++ % PENDING];
    p->due = now + JUDGE_DELAY_MS;
    p->at = at;
    p->proto = proto;
    p->port = port;
    p->n = 0;
    p->note[0] = '\0';
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < na; j++)
            if (b[i] == a[j]) {
                p->state[p->n] = states[i];
                p->local[p->n] = locals[i];
                p->inode[p->n++] = b[i];
                break;
            }
    judge(p, now, false);
}

void checker_reset(struct table *t)
{
    table = t;
    memset(&checker, 0, sizeof checker);
    pend_head = pend_tail = 0;
}
