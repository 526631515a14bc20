/* guard - the bind flow (doc/design.md "What happens on bind"), between fd state, table,
 * kernel and policy.
 *
 * Called by the interposer with the real functions it resolved; holds the rules of the
 * flow (judge, confirm, record, release) so that interpose.c stays glue. Every trouble
 * inside bindguard returns GUARD_PASS: the caller makes the real call and the kernel
 * decides. */
#ifndef BG_GUARD_H
#define BG_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "fdstate.h"
#include "holder.h"
#include "log.h"
#include "policy.h"
#include "table.h"

/* The real libc functions (resolved by the interposer). */
struct guard_real {
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
};

void guard_init(const struct bg_config *cfg, const struct guard_real *real);

/* bind() on a tracked fd. Returns the bind result with errno set as the program sees it
 * (judged, or the kernel's). */
int guard_bind(int fd, struct fd_state *s, const struct sockaddr *sa, socklen_t len);

/* Is a table entry's socket still there, as the kernel says? The one rule for the bind
 * flow, `bindguard list` and `bindguard gc` (doc/design.md "Liveness rule").
 * LINGERING: an explicit exclusive listener that served connections is closed, and those
 * connections live on. UNKNOWN: the kernel could not be asked. */
enum guard_liveness { GUARD_LIVE, GUARD_LINGERING, GUARD_STALE, GUARD_UNKNOWN };
enum guard_liveness guard_liveness(const struct table_entry *e);

/* What `bindguard check` reports when a bind would be refused. */
struct guard_refusal {
    struct table_entry held;   /* the binding that refuses, as the table had it */
    struct holder holder;      /* a live process holding it now (pid 0: none found) */
    enum bg_verdict verdict;   /* INUSE or ACCESS */
    char line[LOG_LINE_MAX];   /* the refusal as the log would word it, without prefix */
};

/* For `bindguard check`: judge `want` against t exactly as guard_bind would (deniers
 * confirmed with the kernel, stale entries reaped), but bind and record nothing. Uses the
 * configuration given to guard_init; t's mapping must be watched (fault_watch); t NULL:
 * this user has no table yet, and only the other users' tables judge. Returns 1
 * and fills *r when the bind would be refused, 0 when bindguard would let it through,
 * -1 when the table can't be judged (the reason has been logged). */
int guard_check(struct table *t, const struct table_entry *want, struct guard_refusal *r);

/* listen() and shutdown() of a tracked fd: the real call `call` (made here, under the
 * table lock when the socket is recorded: a binder confirming it meanwhile must never
 * see it between two states), and its bookkeeping. Return and errno are the call's. */
int guard_listen(int fd, struct fd_state *s, int backlog, int (*call)(int, int));
int guard_shutdown(int fd, struct fd_state *s, int how, int (*call)(int, int));
void guard_accepted(int fd, struct fd_state *s);    /* after a successful real accept */
/* Before the real close of a tracked fd (dup2/dup3 over it, close_range). */
void guard_release(int fd, struct fd_state *s);
/* close() of a tracked fd: the real close `call` (made here) and the release after it,
 * unless a fork or spawn overlapped the call. Return and errno are the call's. */
int guard_close(int fd, struct fd_state *s, int (*call)(int));
/* Around fork (the wrapper calls both): every socket now has another holder. */
void guard_before_fork(void);
void guard_after_fork(bool in_child);
/* Before and after posix_spawn (the wrapper calls it twice, `before` says which): the
 * sockets the child inherits, those open across exec (all of them if `all`: file
 * actions may dup any), now have another holder. */
void guard_around_spawn(bool all, bool before);
/* Changes whenever a fork or spawn starts or ends: a socket() that saw it change may be
 * shared. */
unsigned long guard_fork_generation(void);
void guard_mark_fd_shared(int fd);  /* sent over SCM_RIGHTS: may have other holders now */
/* This thread's network namespace may have changed (setns, unshare). */
void guard_forget_netns(void);

#endif
