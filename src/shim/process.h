/* process - this process and the processes that come to share its sockets: the cached
 * pid, the one fork hook for all of the shim's state, and the bookkeeping of sockets
 * handed on (fork, posix_spawn, SCM_RIGHTS).
 *
 * A socket another process may hold is marked FD_SHARED: closing it here must not drop
 * its table entry (the kernel confirms it on the next conflicting bind instead). */
#ifndef BG_PROCESS_H
#define BG_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

/* This process's pid, cached (getpid() is a system call) and refreshed in a fork child
 * that came through the wrappers. A raw clone() child sees its parent's. */
pid_t process_pid(void);

/* The fork hook, called by every fork wrapper around libc's fork: before it, and after
 * it in parent and child. Every socket now has another holder; in the child, every
 * per-process cache (pid, name, another user's table lock) starts again. */
void process_before_fork(void);
void process_after_fork(bool in_child);

/* posix_spawn: the child shares our memory until it execs, so only the parent can mark
 * what the exec keeps (every socket not FD_CLOEXEC; all of them if `all`: file actions
 * may dup any). Starting marks the sockets there before the spawn; finished marks again
 * those another thread made while it ran. */
void process_spawn_starting(bool all);
void process_spawn_finished(bool all);

/* Changes whenever a fork or spawn starts or ends: a socket() that saw it change while
 * it ran may be shared. */
unsigned long process_fork_generation(void);
/* Did a fork or spawn run, even in part, since process_fork_generation() gave `stamp`? */
bool process_fork_overlapped(unsigned long stamp);

/* fd was sent over SCM_RIGHTS: its socket may have other holders now. */
void process_mark_shared(int fd);
/* After a successful sendmsg of m: mark every descriptor it passed (SCM_RIGHTS). */
struct msghdr;
void process_note_passed(const struct msghdr *m);

#endif
