/* entries - the port table as the kernel confirms it, for list, gc and check.
 *
 * The lock is held only to copy entries out; confirming each one costs a sock_diag round
 * trip and must never hold up binds in other processes. */
#include "cli.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "own.h"
#include "kernel.h"

struct table *cli_table_open(const struct bg_config *cfg, char *why, size_t len)
{
    char squat[300];
    struct table *t = own_open(cfg->table, cfg->table_slots, why, len, squat, sizeof squat);
    if (squat[0])
        fprintf(stderr, "bindguard: %s\n", squat);
    if (!t)
        return NULL;
    const void *base;
    size_t size;
    table_mapping(t, &base, &size);
    if (!fault_watch(base, size)) {
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

struct copy_call {
    struct table *t;
    unsigned timeout_ms;
    struct cli_snapshot *s;
};

static void copy_locked(void *arg)
{
    struct copy_call *c = arg;
    c->s->err = table_lock(c->t, c->timeout_ms);
    /* Held by a thread that is gone: one more try (it may have let go just now), then
     * say so, since waiting will never help. */
    if (c->s->err == ETIMEDOUT && table_lock_orphaned(c->t) &&
        (c->s->err = table_lock(c->t, 0)) == ETIMEDOUT)
        c->s->err = ENOTRECOVERABLE;
    if (c->s->err != 0)
        return;
    table_each(c->t, keep, c->s);
    table_unlock(c->t);
}

static const char *lock_trouble(int err)
{
    switch (err) {
    case ETIMEDOUT:
        return "its lock is held too long";
    case ENOTRECOVERABLE:
        return "its lock is held by a thread that no longer exists (or that lives in "
               "another pid namespace)";
    case EFAULT:
        return "it shrank while being read (truncated?)";
    case ENOMEM:
        return "out of memory";
    default:
        return "it failed validation";
    }
}

int cli_snapshot_take(struct table *t, const struct bg_config *cfg, uint16_t port,
                      struct cli_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->port = port;
    struct copy_call c = { t, cfg->lock_timeout_ms, s };
    if (!fault_call(copy_locked, &c))
        s->err = EFAULT;
    if (s->err != 0) {
        snprintf(s->why, sizeof s->why, "port table %s can't be read: %s", table_path(t),
                 lock_trouble(s->err));
        return -1;
    }
    /* sock_diag answers for this namespace only. */
    uint64_t here = cli_netns();
    for (size_t i = 0; i < s->n; i++)
        s->v[i].live = s->v[i].e.netns == here ? guard_liveness(&s->v[i].e) : GUARD_UNKNOWN;
    return 0;
}

void cli_snapshot_free(struct cli_snapshot *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
