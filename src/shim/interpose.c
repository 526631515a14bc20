/* interpose - the wrapped libc entry points: the exported names a preloaded program
 * calls, and nothing else. Glue only: the rules live in the shim's modules (bindflow,
 * lifecycle, options, process) and below, and libc's own functions are reached through
 * libc.h.
 *
 * Every process the library is preloaded into pays for its load, and most never make an
 * inet socket: the constructor only keeps the environment and resolves close(). The
 * configuration is parsed on the first inet socket() (the only way a descriptor becomes
 * tracked). Calls made from inside bindguard (or a signal handler interrupting it) go
 * straight to libc (inside.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "active.h"
#include "bg_config.h"
#include "bindflow.h"
#include "config.h"
#include "fault.h"
#include "fdstate.h"
#include "inside.h"
#include "kernel.h"
#include "libc.h"
#include "lifecycle.h"
#include "options.h"
#include "process.h"

#define EXPORT __attribute__((visibility("default")))

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* All a process pays at load. close() is resolved now because programs call it from
 * signal handlers, where dlsym must not run (it takes the loader's lock). */
__attribute__((constructor)) static void bindguard_load(void)
{
    config_keep_environment();
    libc_resolve_at_load();
}

EXPORT int socket(int domain, int type, int protocol)
{
    unsigned long forks = process_fork_generation();
    int fd = libc_socket(domain, type, protocol);
    if (fd < 0)
        return fd;
    /* The kernel backend judges this process's binds: once, not twice. */
    if (!active_is_tracked_kind(domain, type, protocol) || kernel_backend_enforces(fd)) {
        fdstate_forget(fd);  /* the number may have been closed behind our back */
        return fd;
    }
    if (!active_configure())
        return fd;
    active_track(fd, domain, type);
    /* A fork under way, or one that ended since: its before-fork scan may have missed
     * this fd, and the child may have it too. */
    if (process_fork_overlapped(forks))
        process_mark_shared(fd);
    return fd;
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sock_record *s = active_record(fd);
    if (!s)
        return libc_bind(fd, sa, len);
    int r;
    INSIDE_BINDGUARD(r = bindflow_bind(fd, s, sa, len));
    return r;
}

EXPORT int listen(int fd, int backlog)
{
    struct sock_record *s = active_record(fd);
    if (!s)
        return libc_listen(fd, backlog);
    int r;
    INSIDE_BINDGUARD(r = lifecycle_listen(fd, s, backlog));
    return r;
}

EXPORT int shutdown(int fd, int how)
{
    struct sock_record *s = active_record(fd);
    if (!s)
        return libc_shutdown(fd, how);
    int r;
    INSIDE_BINDGUARD(r = lifecycle_shutdown(fd, s, how));
    return r;
}

static int after_accept(int listener, int fd)
{
    if (fd < 0 || !active_now())
        return fd;
    fdstate_forget(fd);
    struct sock_record *s = active_record(listener);
    if (s)
        INSIDE_BINDGUARD_KEEP_ERRNO(lifecycle_accepted(s));
    return fd;
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return after_accept(fd, libc_accept(fd, sa, len));
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return after_accept(fd, libc_accept4(fd, sa, len, flags));
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct sock_record *s = active_record(fd);
    if (!s)
        return libc_setsockopt(fd, level, name, val, len);
    bool handled;
    int r;
    INSIDE_BINDGUARD(r = options_set(s, level, name, val, len, &handled));
    if (handled)
        return r;
    r = libc_setsockopt(fd, level, name, val, len);
    if (r == 0)
        options_mirror(s, level, name, val, len);
    return r;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct sock_record *s = active_record(fd);
    if (s) {
        bool handled;
        int r;
        INSIDE_BINDGUARD(r = options_get(s, level, name, val, len, &handled));
        if (handled)
            return r;
    }
    return libc_getsockopt(fd, level, name, val, len);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    ssize_t r = libc_sendmsg(fd, m, flags);
    if (r >= 0 && m && m->msg_controllen && active_now())
        process_note_passed(m);
    return r;
}

/* --- descriptors going away or multiplying ------------------------------------------- */

/* After dup2/dup3 made fd refer to another socket. Safe in a signal handler: a handler
 * that interrupted bindguard itself only forgets the fd (the kernel confirms the entry
 * later) instead of waiting for a lock its own thread holds. */
static void descriptor_replaced(int fd, unsigned long stamp)
{
    struct sock_record *s = fdstate_get(fd);
    if (!s)
        return;
    if (inside_bindguard())
        fdstate_forget(fd);
    else
        INSIDE_BINDGUARD_KEEP_ERRNO(lifecycle_release(fd, s, stamp));
}

/* The release comes after libc's close (lifecycle_close), signal handlers as above. Out
 * of line, so that close() of an untracked fd stays a load and a branch in front of
 * libc's call. */
__attribute__((noinline)) static int close_tracked(int fd, struct sock_record *s)
{
    if (inside_bindguard()) {
        fdstate_forget(fd);
        return libc_close(fd);
    }
    int r;
    INSIDE_BINDGUARD(r = lifecycle_close(fd, s));
    return r;
}

EXPORT int close(int fd)
{
    struct sock_record *s = fdstate_get(fd);
    if (__builtin_expect(s != NULL, 0))
        return close_tracked(fd, s);
    return libc_close(fd);
}

/* libc's close of [first, last]: close_range's own call with its flags, or closefrom's
 * when last is the end (~0u and `from`). */
static int close_part(unsigned first, unsigned last, int flags, bool from)
{
    if (from && last == ~0u) {
        libc_closefrom((int)first);
        return 0;
    }
    int r = libc_close_range(first, last, flags);
    if (r != 0 && from) {  /* closefrom must close: a kernel without close_range */
        for (unsigned fd = first; fd <= last; fd++)
            libc_close((int)fd);
        r = 0;
    }
    return r;
}

/* close_range/closefrom of [first, last]: the entries of the sockets that go are
 * released after libc's call, as close() does (lifecycle_batch_*). A batch that fills
 * up has libc close what it covers so far first; the kernel closes a range one
 * descriptor at a time anyway. */
static int close_range_tracked(unsigned first, unsigned last, int flags, bool from)
{
    unsigned limit = (unsigned)fdstate_limit(), fd = first;
    struct release_batch b;
    for (;;) {
        lifecycle_batch_start(&b);
        unsigned part_first = fd, part_last = last;
        for (; fd < limit && fd <= last; fd++) {
            struct sock_record *s = fdstate_get((int)fd);
            if (s && !lifecycle_batch_add(&b, (int)fd, s)) {
                part_last = fd - 1;  /* fd > part_first: the batch has one at least */
                break;
            }
        }
        int r = close_part(part_first, part_last, flags, from);
        /* UNSHARE closes in a copy of the descriptor table: threads still sharing the
         * old one may hold the sockets, so their entries stay for the kernel to judge. */
        lifecycle_batch_finish(&b, r == 0 && !(flags & CLOSE_RANGE_UNSHARE));
        if (r != 0 || part_last == last)
            return r;
    }
}

static int close_range_wrapped(unsigned first, unsigned last, int flags, bool from)
{
    if (inside_bindguard()) {
        unsigned limit = (unsigned)fdstate_limit();
        for (unsigned fd = first; fd < limit && fd <= last; fd++)
            fdstate_forget((int)fd);
        return close_part(first, last, flags, from);
    }
    int r;
    INSIDE_BINDGUARD(r = close_range_tracked(first, last, flags, from));
    return r;
}

/* Does this kernel (and seccomp policy) let close_range run? Asked once, with a range
 * that holds no descriptor: a call that will fail must reach libc before any socket is
 * forgotten, or the sockets would stay open untracked. 0 unknown, 1 yes, 2 no. */
static bool close_range_works(void)
{
    static int known;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k == 0) {
        INSIDE_BINDGUARD_KEEP_ERRNO(k = libc_close_range(~0u, ~0u, 0) == 0 ? 1 : 2);
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 1;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    /* Only a call the kernel will accept closes anything; CLOEXEC closes at exec. */
    if (first <= last && !(flags & ~(int)(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) &&
        !(flags & CLOSE_RANGE_CLOEXEC) && close_range_works())
        return close_range_wrapped(first, last, flags, false);
    return libc_close_range(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
    if (lowfd >= 0)
        close_range_wrapped((unsigned)lowfd, ~0u, 0, true);
    else
        libc_closefrom(lowfd);
}

static int after_dup(int from, int to)
{
    if (to >= 0 && active_now())
        INSIDE_BINDGUARD_KEEP_ERRNO(fdstate_dup(from, to));
    return to;
}

EXPORT int dup(int fd)
{
    return after_dup(fd, libc_dup(fd));
}

/* dup2/dup3 close `to` first when it is open: release its entry once that succeeded,
 * unless a fork overlapped since `stamp` (read before libc's call, as close does). */
static int dup_over(int from, int to, int r, unsigned long stamp)
{
    if (r < 0 || from == to)
        return r;
    descriptor_replaced(to, stamp);
    return after_dup(from, r);
}

EXPORT int dup2(int from, int to)
{
    unsigned long stamp = process_fork_generation();
    return dup_over(from, to, libc_dup2(from, to), stamp);
}

EXPORT int dup3(int from, int to, int flags)
{
    unsigned long stamp = process_fork_generation();
    return dup_over(from, to, libc_dup3(from, to, flags), stamp);
}

static int after_fcntl(int fd, int cmd, int r)
{
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return after_dup(fd, r);
    return r;
}

/* The argument is an int or a pointer depending on cmd; like libc, pass it on as a
 * pointer-sized value, which carries either. */
EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return after_fcntl(fd, cmd, libc_fcntl(fd, cmd, arg));
}

#ifdef HAVE_FCNTL64
EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return after_fcntl(fd, cmd, libc_fcntl64(fd, cmd, arg));
}
#endif

/* --- processes and namespaces -------------------------------------------------------- */

/* The fork and spawn hooks run configured or not: they cost nothing while no socket is
 * tracked, and a socket() configuring the shim meanwhile must see the fork generation. */
static pid_t forked(pid_t (*libc_forker)(void))
{
    process_before_fork();
    pid_t pid = libc_forker();
    INSIDE_BINDGUARD_KEEP_ERRNO(process_after_fork(pid == 0));
    return pid;
}

EXPORT pid_t fork(void)
{
    return forked(libc_fork);
}

#ifdef HAVE__FORK
/* glibc's fork without atfork handlers; fork() itself does not come through here. */
EXPORT pid_t _Fork(void)
{
    if (!LIBC_FN(_Fork))
        return libc__Fork();  /* ENOSYS: nothing forked, nothing to mark */
    return forked(libc__Fork);
}
#endif

static int spawned(libc_spawn_fn *libc_spawner, pid_t *pid, const char *file,
                   const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                   char *const argv[], char *const envp[])
{
    INSIDE_BINDGUARD_KEEP_ERRNO(process_spawn_starting(actions != NULL));
    int r = libc_spawner(pid, file, actions, attr, argv, envp);
    INSIDE_BINDGUARD_KEEP_ERRNO(process_spawn_finished(actions != NULL));
    return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!LIBC_FN(posix_spawn))
        return ENOSYS;
    return spawned(libc_posix_spawn, pid, path, actions, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!LIBC_FN(posix_spawnp))
        return ENOSYS;
    return spawned(libc_posix_spawnp, pid, file, actions, attr, argv, envp);
}

EXPORT int setns(int fd, int nstype)
{
    int r = libc_setns(fd, nstype);
    if (r == 0)
        bindflow_forget_netns();
    return r;
}

EXPORT int unshare(int flags)
{
    int r = libc_unshare(flags);
    if (r == 0)
        bindflow_forget_netns();
    return r;
}

/* --- the program's own SIGBUS handler -------------------------------------------------- */

/* A SIGBUS handler set after ours would make a truncated table kill the program
 * (fault.h): say so, and fault.c looks at the next table access. Our own calls (inside
 * bindguard) don't count. */
static void noticed_disposition(int sig, bool sets)
{
    if (sig == SIGBUS && sets && !inside_bindguard())
        fault_disposition_changed();
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int r = libc_sigaction(sig, act, old);
    if (r == 0)
        noticed_disposition(sig, act != NULL);
    return r;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    sighandler_t r = libc_signal(sig, handler);
    if (r != SIG_ERR)
        noticed_disposition(sig, true);
    return r;
}
