/* lifecycle - entry changes on listen, shutdown, accept and close (lifecycle.h). */
#include "lifecycle.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "budget.h"
#include "emulate.h"
#include "fault.h"
#include "guard.h"
#include "libc.h"
#include "ourtable.h"
#include "process.h"
#include "table.h"

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
    if (!budget_lock(ch->t))
        return;
    if (ch->set_flags)
        table_set_flags(ch->t, ch->idx, ch->id, ch->set_flags, 0);
    else if (ch->release)
        table_release(ch->t, ch->idx, ch->id);
    table_unlock(ch->t);
}

static void apply_change(uint32_t idx, uint64_t id, uint8_t set_flags, bool release)
{
    struct entry_change ch = { ourtable_get(), idx, id, set_flags, release };
    if (ch.t && !fault_call(change_entry, &ch))
        ourtable_faulted(ch.t);
}

/* listen() or shutdown() of a recorded socket: what sock_diag reports of it changes, so
 * libc's call runs under the table lock and renews the entry's id there (see
 * apply_confirmations in deniers.c); the flag to add on success is set under the same
 * lock. */
struct state_change {
    struct table *t;
    struct sock_record *s;
    int (*call)(int fd, int arg);   /* libc_listen or libc_shutdown */
    int fd, arg;
    uint8_t set_flags;
    int r, err;
    bool answered;
};

/* Under the lock: renew the entry of s's socket. Another holder of the same socket (a
 * forked parent or child) may have renewed it first, leaving s with an old id; the slot
 * still holding this socket's inode (alive: we hold it, so the number is not reused)
 * says the entry is ours all the same, or the two-dump race would be open again. */
static uint64_t renew_entry(struct table *t, struct sock_record *s)
{
    uint64_t id = table_renew(t, s->entry_idx, s->entry_id);
    const struct table_entry *e = id ? NULL : table_slot_entry(t, s->entry_idx);
    if (e && e->inode == s->inode)
        id = table_renew(t, s->entry_idx, e->id);
    return id;
}

static void change_state(void *arg)
{
    struct state_change *c = arg;
    if (!budget_lock(c->t))
        return;
    c->r = c->call(c->fd, c->arg);
    c->err = errno;
    c->answered = true;
    uint64_t id = renew_entry(c->t, c->s);
    if (id) {
        c->s->entry_id = id;
        if (c->r == 0 && c->set_flags)
            table_set_flags(c->t, c->s->entry_idx, id, c->set_flags, 0);
    }
    table_unlock(c->t);
}

/* libc's call, under the lock when the socket has an entry; errno as the call left it. */
static int call_changing_state(int fd, struct sock_record *s, int (*call)(int, int), int arg,
                               uint8_t set_flags)
{
    int entry_errno = errno;  /* a success leaves errno as the program had it */
    struct state_change c = { NULL, s, call, fd, arg, set_flags, -1, 0, false };
    if ((s->flags & FD_HAS_ENTRY) && (c.t = ourtable_get()) && !fault_call(change_state, &c))
        ourtable_faulted(c.t);
    if (!c.answered) {
        errno = entry_errno;
        return call(fd, arg);
    }
    errno = c.r == 0 ? entry_errno : c.err;
    return c.r;
}

int lifecycle_listen(int fd, struct sock_record *s, int backlog)
{
    bool first = !(s->flags & FD_LISTENING);
    int r = call_changing_state(fd, s, libc_listen, backlog, first ? TABLE_F_LISTENING : 0);
    if (r != 0)
        return r;
    int saved = errno;
    sock_record_mark(s, FD_KERNEL_BOUND);  /* listen binds an unbound socket to a port */
    if (first) {
        sock_record_mark(s, FD_LISTENING);
        if (guard_config()->emulate)
            emulate_first_listener(fd, s);
    }
    errno = saved;
    return 0;
}

int lifecycle_shutdown(int fd, struct sock_record *s, int how)
{
    if (s->proto != IPPROTO_TCP)  /* a UDP socket stays in its hash: nothing to see */
        return libc_shutdown(fd, how);
    return call_changing_state(fd, s, libc_shutdown, how, 0);
}

void lifecycle_accepted(struct sock_record *s)
{
    if (s->flags & FD_ACCEPTED)
        return;
    sock_record_mark(s, FD_ACCEPTED);
    if ((s->flags & FD_HAS_ENTRY) && (s->opts & FD_OPT_EXCLUSIVE))
        apply_change(s->entry_idx, s->entry_id, TABLE_F_ACCEPTED, false);
}

/* What the going of fd does to its socket's entry, decided (and fd forgotten) before
 * libc closes it, while s is still this socket's record: the last descriptor of a
 * socket this process alone holds takes the entry with it, or turns it into a linger
 * entry if the socket served connections as an explicit exclusive listener. A socket
 * another process may hold keeps its entry; the kernel confirms it on the next
 * conflicting bind and reaps it once the socket is really gone. false: nothing to do. */
static bool entry_ours(const struct sock_record *s)
{
    uint8_t flags = __atomic_load_n(&s->flags, __ATOMIC_SEQ_CST);
    return (flags & FD_HAS_ENTRY) && !(flags & FD_SHARED);
}

static bool plan_release(int fd, struct sock_record *s, struct release_plan *p)
{
    bool ours = entry_ours(s);
    *p = (struct release_plan){
        .idx = s->entry_idx,
        .id = s->entry_id,
        .linger = s->proto == IPPROTO_TCP && (s->opts & FD_OPT_EXCLUSIVE) &&
                  (s->flags & FD_ACCEPTED),
    };
    return fdstate_forget(fd) && ours;  /* s may be reused from here on */
}

static void apply_release(const struct release_plan *p)
{
    apply_change(p->idx, p->id, p->linger ? TABLE_F_LINGER : 0, !p->linger);
}

void lifecycle_release(int fd, struct sock_record *s, unsigned long stamp)
{
    struct release_plan p;
    if (plan_release(fd, s, &p) && !process_fork_overlapped(stamp))
        apply_release(&p);
}

/* The fork stamp is read before the record's flags: a fork that ended before it had
 * marked the socket shared by then, and one that had not ended shows in the stamp. */
void lifecycle_batch_start(struct release_batch *b)
{
    b->stamp = process_fork_generation();
    b->n = 0;
}

bool lifecycle_batch_add(struct release_batch *b, int fd, struct sock_record *s)
{
    if (b->n == LIFECYCLE_BATCH && entry_ours(s))
        return false;
    struct release_plan p;
    if (plan_release(fd, s, &p))
        b->plans[b->n++] = p;
    return true;
}

void lifecycle_batch_finish(struct release_batch *b, bool closed)
{
    int saved = errno;
    if (closed && !process_fork_overlapped(b->stamp))
        for (unsigned i = 0; i < b->n; i++)
            apply_release(&b->plans[i]);
    b->n = 0;
    errno = saved;
}

/* Linux closes the descriptor whatever close() returns (EINTR included), so the
 * release follows any result. */
int lifecycle_close(int fd, struct sock_record *s)
{
    struct release_batch b;
    lifecycle_batch_start(&b);
    lifecycle_batch_add(&b, fd, s);
    int r = libc_close(fd);
    lifecycle_batch_finish(&b, true);
    return r;
}
