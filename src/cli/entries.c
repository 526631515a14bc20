/* entries - the port table as the kernel confirms it, for list, gc and check.
 *
 * The lock is held only to copy entries out; confirming each one costs a sock_diag round
 * trip and must never hold up binds in other processes. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "foreign.h"
#include "own.h"
#include "watch.h"
#include "kernel.h"

void cli_table_file(const char *prefix, char *buf, size_t len)
{
    char name[PATH_MAX];
    if (!own_name(prefix, geteuid(), 0, name, sizeof name) ||
        !table_file_path(name, buf, len, NULL, 0))
        snprintf(buf, len, "%s", prefix);
}

struct table *cli_table_open(const struct bg_config *cfg, char *why, size_t len)
{
    struct watch_notes n;
    struct table *t = watch_open(cfg->table, 0, false, &n);
    int err = errno;
    const char *squat = n.squat;
    snprintf(why, len, "%s", n.why);
    if (t && squat[0])
        cli_tell(stderr, "%s", squat);
    if (!t && err == ENOENT) {
        /* One line, the squatted name folded in: the user's table is what is missing. */
        char path[PATH_MAX];
        cli_table_file(cfg->table, path, sizeof path);
        snprintf(why, len, "no port table %s: no program of yours has bound under bindguard "
                 "with this prefix (is the name right?)%s%s", path, squat[0] ? "; " : "",
                 squat);
        errno = ENOENT;
    }
    if (!t)
        return NULL;
    if (n.unwatched) {
        snprintf(why, len, "cannot watch the port table for truncation (SIGBUS handler)");
        table_close(t);
        return NULL;
    }
    return t;
}

const char *cli_liveness_name(enum guard_liveness l)
{
    static const char *const names[] = {
        [GUARD_LIVE] = "live", [GUARD_LINGERING] = "lingering", [GUARD_STALE] = "stale",
        [GUARD_UNKNOWN] = "unconfirmed",
    };
    return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "?";
}

uint64_t cli_netns(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    uint64_t cookie = kernel_netns_cookie(fd);
    close(fd);
    return cookie;
}

static bool keep(struct table_entry *e, uint32_t idx, void *arg)
{
    struct cli_snapshot *s = arg;
    if (s->port && e->addr.port != s->port)
        return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct cli_entry *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->err = ENOMEM;
            return false;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct cli_entry){ .e = *e, .idx = idx, .live = GUARD_UNKNOWN };
    return true;
}

/* Another user's word about its own socket, checked as a bind checks it (domains.h). */
static enum guard_liveness foreign_liveness(const struct table_entry *e)
{
    if (e->flags & (TABLE_F_LINGER | TABLE_F_PENDING))
        return GUARD_UNKNOWN;
    switch (kernel_confirm_exact(e->proto, &e->addr, e->inode, e->uid,
                                 (e->flags & TABLE_F_LISTENING) != 0)) {
    case KERNEL_ALIVE:
        return GUARD_LIVE;
    case KERNEL_GONE:
        return GUARD_STALE;
    default:
        return GUARD_UNKNOWN;
    }
}

struct foreign_copy {
    struct cli_snapshot *s;
    const char *table;
};

static bool keep_foreign(const struct table_entry *e, void *arg)
{
    struct foreign_copy *f = arg;
    size_t before = f->s->n;
    if (!keep((struct table_entry *)e, TABLE_NO_INDEX, f->s))
        return false;
    if (f->s->n > before)
        f->s->v[before].table = f->table;
    return true;
}

/* Every other table under the prefix, read as foreign.h reads them. */
static void add_foreign(struct table *t, const struct bg_config *cfg, struct cli_snapshot *s)
{
    uint64_t dev = 0, ino = 0;
    if (t)
        table_file_id(t, &dev, &ino);
    int n = foreign_begin(cfg->table, dev, ino);
    s->paths = n > 0 ? calloc((size_t)n, sizeof *s->paths) : NULL;
    for (int ti = 0; s->paths && ti < n && !s->err; ti++) {
        snprintf(s->paths[ti], sizeof s->paths[ti], "%s", foreign_path(ti));
        s->n_paths++;
        struct foreign_copy f = { s, s->paths[ti] };
        foreign_each(ti, TABLE_MAX_SLOTS, keep_foreign, &f);
    }
    foreign_end();
}

struct copy_call {
    struct table *t;
    unsigned timeout_ms;
    struct cli_snapshot *s;
};

static void copy_locked(void *arg)
{
    struct copy_call *c = arg;
    c->s->err = table_lock_or_orphaned(c->t, c->timeout_ms);
    if (c->s->err != 0)
        return;
    table_each(c->t, keep, c->s);
    table_unlock(c->t);
}

#define MAX_PORT_SOCKS 256

/* The socket's state as the kernel has it, found by inode among the port's sockets. */
static void kernel_listening(struct cli_entry *c)
{
    struct kernel_sock ks[MAX_PORT_SOCKS];
    int n = kernel_port_sockets(IPPROTO_TCP, c->e.addr.port, ks, MAX_PORT_SOCKS);
    for (int i = 0; i < n && i < MAX_PORT_SOCKS; i++)
        if (ks[i].inode == c->e.inode) {
            c->listening = ks[i].state == TCP_LISTEN;
            return;
        }
}

int cli_snapshot_take(struct table *t, const struct bg_config *cfg, uint16_t port,
                      struct cli_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->port = port;
    struct copy_call c = { t, cfg->lock_timeout_ms, s };
    if (t && !fault_call(copy_locked, &c))
        s->err = EFAULT;
    if (s->err != 0) {
        snprintf(s->why, sizeof s->why, "port table %s can't be read: %s", table_path(t),
                 table_lock_trouble(s->err));
        return -1;
    }
    size_t own = s->n;
    add_foreign(t, cfg, s);
    /* sock_diag answers for this namespace only. */
    uint64_t here = cli_netns();
    for (size_t i = 0; i < s->n; i++) {
        struct cli_entry *c = &s->v[i];
        c->listening = (c->e.flags & TABLE_F_LISTENING) != 0;
        if (c->e.netns != here)
            c->live = GUARD_UNKNOWN;
        else if (i < own)
            cli_entry_confirm(c);
        else
            c->live = foreign_liveness(&c->e);
    }
    return s->err ? -1 : 0;
}

void cli_entry_confirm(struct cli_entry *c)
{
    c->live = guard_liveness(&c->e);
    if (c->live == GUARD_LIVE && c->e.proto == IPPROTO_TCP)
        kernel_listening(c);
}

void cli_snapshot_free(struct cli_snapshot *s)
{
    free(s->v);
    free(s->paths);
    s->v = NULL;
    s->paths = NULL;
    s->n = s->cap = s->n_paths = 0;
}
