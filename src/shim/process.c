/* process - the cached pid, the fork hook, and sockets handed to other processes
 * (process.h). */
#include "process.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdstate.h"
#include "foreign.h"
#include "procname.h"
#include "sys.h"

/* An allowed bind must stay cheap, so the pid it records is cached. A child made behind
 * our back (raw clone) records its parent's pid; a refusal names the real holder
 * (bindflow's find_holder asks getpid()). */
static pid_t cached_pid;

pid_t process_pid(void)
{
    pid_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (!pid) {
        pid = getpid();
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

static void mark_shared(int fd, struct sock_record *s, void *arg)
{
    (void)fd;
    (void)arg;
    sock_record_mark(s, FD_SHARED);
}

/* Every socket that exists when a process forks is the child's too, bound yet or not:
 * no close in either may drop its entry alone. Marked before the fork (a bind finishing
 * meanwhile keeps the mark) and again after it in the parent (a socket tracked while the
 * fork ran); the generation lets socket() and close() see that a fork overlapped them.
 * A fork or spawn counts itself under way between its two generation bumps. */
static unsigned long fork_generation;
static unsigned long forks_under_way;

unsigned long process_fork_generation(void)
{
    return __atomic_load_n(&fork_generation, __ATOMIC_SEQ_CST);
}

bool process_fork_overlapped(unsigned long stamp)
{
    return __atomic_load_n(&forks_under_way, __ATOMIC_SEQ_CST) != 0 ||
           process_fork_generation() != stamp;
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

void process_before_fork(void)
{
    fork_starts();
    fdstate_each(mark_shared, NULL);
}

void process_after_fork(bool in_child)
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

static void mark_inherited(int fd, struct sock_record *s, void *all)
{
    int flags = *(bool *)all ? 0 : sys_fd_flags(fd);
    if (flags >= 0 && !(flags & FD_CLOEXEC))
        sock_record_mark(s, FD_SHARED);
}

/* posix_spawn's child shares the memory of its parent until it execs (CLONE_VFORK), so
 * no wrapper can act in it: the parent marks what the exec will keep, before the spawn
 * and again after it. */
void process_spawn_starting(bool all)
{
    fork_starts();
    fdstate_each(mark_inherited, &all);
}

void process_spawn_finished(bool all)
{
    fdstate_each(mark_inherited, &all);
    fork_ends();
}

void process_mark_shared(int fd)
{
    struct sock_record *s = fdstate_get(fd);
    if (s)
        mark_shared(fd, s, NULL);
}

void process_note_passed(const struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            __builtin_memcpy(&fd, p + i * sizeof fd, sizeof fd);
            process_mark_shared(fd);
        }
    }
}
