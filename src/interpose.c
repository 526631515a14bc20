/* interpose - the wrapped libc entry points. Glue only: the rules live in guard, options,
 * policy, address and table.
 *
 * Every process the library is preloaded into pays for its load, and most never make an
 * inet socket: the constructor only keeps the environment and resolves close(). The
 * configuration is parsed on the first inet socket() (the only way a descriptor becomes
 * tracked), and each other real function is resolved with dlsym(RTLD_NEXT) on its first
 * call. A call that arrives while this thread is inside dlsym (which may allocate, and an
 * allocator may close or open descriptors) goes to the raw system call, never back into
 * dlsym. A thread-local flag sends calls made from inside bindguard (or a signal handler
 * interrupting it) straight to the real function. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bg_config.h"
#include "config.h"
#include "fault.h"
#include "fdstate.h"
#include "guard.h"
#include "kernel.h"
#include "log.h"
#include "options.h"

#define EXPORT __attribute__((visibility("default")))

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

static struct {
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*shutdown)(int, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    pid_t (*fork)(void);
    pid_t (*_Fork)(void);
    spawn_fn *posix_spawn, *posix_spawnp;
    int (*setns)(int, int);
    int (*unshare)(int);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    sighandler_t (*signal)(int, sighandler_t);
} real;

static bool active;  /* configured and not BINDGUARD_MODE=off */
static __thread int busy __attribute__((tls_model("initial-exec")));
static __thread int in_dlsym __attribute__((tls_model("initial-exec")));

/* What a slot of `real` holds once dlsym found nothing (a libc without _Fork). */
static char absent;

/* Look one real function up; NULL: use the raw system call, this time (inside dlsym
 * already) or for good (libc lacks it). Threads racing here store the same answer. */
__attribute__((noinline)) static void *resolve(void **slot, const char *name)
{
    if (in_dlsym)
        return NULL;
    in_dlsym++;
    void *fn = dlsym(RTLD_NEXT, name);
    in_dlsym--;
    __atomic_store_n(slot, fn ? fn : (void *)&absent, __ATOMIC_RELEASE);
    return fn;
}

static inline void *real_fn(void **slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (__builtin_expect(fn == NULL, 0))
        return resolve(slot, name);
    return fn == (void *)&absent ? NULL : fn;
}

/* The real function, resolving it on first use; NULL means "use the raw system call".
 * Where it is not NULL, real.name holds the same function. */
#define REAL(name) ((__typeof__(real.name))real_fn((void **)&real.name, #name))

/* The real bind/setsockopt for guard, with the same fallbacks as the wrappers. */
static int real_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return REAL(bind) ? real.bind(fd, sa, len) : (int)syscall(SYS_bind, fd, sa, len);
}

static int real_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return REAL(setsockopt) ? real.setsockopt(fd, level, name, val, len)
                            : (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

static int real_listen(int fd, int backlog)
{
    return REAL(listen) ? real.listen(fd, backlog) : (int)syscall(SYS_listen, fd, backlog);
}

static int real_shutdown(int fd, int how)
{
    return REAL(shutdown) ? real.shutdown(fd, how) : (int)syscall(SYS_shutdown, fd, how);
}

/* Writable data, not a literal: literals live in .rodata, a page nothing else reads at
 * load, and its first read is a page fault that costs more than the whole constructor. */
static char close_name[] = "close";

/* All a process pays at load. close() is resolved now because programs call it from
 * signal handlers, where dlsym must not run (it takes the loader's lock). */
__attribute__((constructor)) static void bindguard_load(void)
{
    config_keep_environment();
    real_fn((void **)&real.close, close_name);
}

static pthread_once_t configured = PTHREAD_ONCE_INIT;

static void configure(void)
{
    const struct bg_config *cfg = config_get();
    log_setup(cfg->log, cfg->log_path);
    struct guard_real r = { real_bind, real_setsockopt };
    guard_init(cfg, &r);
    options_init(cfg);
    __atomic_store_n(&active, cfg->mode != BG_MODE_OFF, __ATOMIC_RELEASE);
}

/* Configure on the first inet socket; false: leave this one untracked (off, or a signal
 * handler that interrupted bindguard itself, maybe inside configure). */
static bool configured_active(void)
{
    if (busy)
        return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    busy++;
    pthread_once(&configured, configure);
    busy--;
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

/* The tracked state of fd, if bindguard should act on this call at all. */
static struct fd_state *managed(int fd)
{
    if (busy || !__atomic_load_n(&active, __ATOMIC_ACQUIRE))
        return NULL;
    return fdstate_get(fd);
}

/* Bookkeeping after a successful call must not leak a changed errno to the program. */
#define KEEP_ERRNO(stmt) do { int saved_ = errno; busy++; stmt; busy--; errno = saved_; } while (0)

static bool is_managed_socket(int domain, int type, int protocol)
{
    int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6)
        return false;
    if (kind == SOCK_STREAM)
        return protocol == 0 || protocol == IPPROTO_TCP;
    if (kind == SOCK_DGRAM)
        return protocol == 0 || protocol == IPPROTO_UDP;
    return false;
}

static void track_socket(int fd, int domain, int type)
{
    struct fd_state *s = fdstate_track(fd);
    if (!s)
        return;
    s->family = (uint8_t)domain;
    s->proto = (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    __atomic_store_n(&s->tracked, 1, __ATOMIC_RELEASE);
}

EXPORT int socket(int domain, int type, int protocol)
{
    unsigned long forks = guard_fork_generation();
    int fd = REAL(socket) ? real.socket(domain, type, protocol)
                          : (int)syscall(SYS_socket, domain, type, protocol);
    if (fd < 0)
        return fd;
    /* The kernel backend judges this process's binds: once, not twice. */
    if (!is_managed_socket(domain, type, protocol) || kernel_backend_enforces(fd)) {
        fdstate_forget(fd);  /* the number may have been closed behind our back */
        return fd;
    }
    int saved = errno;
    bool on = configured_active();
    errno = saved;
    if (!on)
        return fd;
    KEEP_ERRNO(track_socket(fd, domain, type));
    if (guard_fork_generation() != forks)  /* a child may have it too */
        guard_mark_fd_shared(fd);
    return fd;
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct fd_state *s = managed(fd);
    if (!s)
        return real_bind(fd, sa, len);
    busy++;
    int r = guard_bind(fd, s, sa, len);
    busy--;
    return r;
}

EXPORT int listen(int fd, int backlog)
{
    struct fd_state *s = managed(fd);
    if (!s)
        return real_listen(fd, backlog);
    busy++;
    int r = guard_listen(fd, s, backlog, real_listen);
    busy--;
    return r;
}

EXPORT int shutdown(int fd, int how)
{
    struct fd_state *s = managed(fd);
    if (!s)
        return real_shutdown(fd, how);
    busy++;
    int r = guard_shutdown(fd, s, how, real_shutdown);
    busy--;
    return r;
}

static int after_accept(int listener, int fd)
{
    if (fd < 0 || !__atomic_load_n(&active, __ATOMIC_ACQUIRE))
        return fd;
    fdstate_forget(fd);
    struct fd_state *s = managed(listener);
    if (s)
        KEEP_ERRNO(guard_accepted(listener, s));
    return fd;
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int r = REAL(accept) ? real.accept(fd, sa, len) : (int)syscall(SYS_accept4, fd, sa, len, 0);
    return after_accept(fd, r);
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int r = REAL(accept4) ? real.accept4(fd, sa, len, flags)
                          : (int)syscall(SYS_accept4, fd, sa, len, flags);
    return after_accept(fd, r);
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct fd_state *s = managed(fd);
    if (!s)
        return real_setsockopt(fd, level, name, val, len);
    bool handled;
    busy++;
    int r = options_set(fd, s, level, name, val, len, &handled);
    busy--;
    if (handled)
        return r;
    r = real_setsockopt(fd, level, name, val, len);
    if (r == 0)
        options_mirror(fd, s, level, name, val, len);
    return r;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct fd_state *s = managed(fd);
    if (s) {
        bool handled;
        busy++;
        int r = options_get(s, level, name, val, len, &handled);
        busy--;
        if (handled)
            return r;
    }
    return REAL(getsockopt) ? real.getsockopt(fd, level, name, val, len)
                            : (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

/* A socket sent over SCM_RIGHTS may outlive our last descriptor of it. */
static void note_passed_fds(const struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            __builtin_memcpy(&fd, p + i * sizeof fd, sizeof fd);
            guard_mark_fd_shared(fd);
        }
    }
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    ssize_t r = REAL(sendmsg) ? real.sendmsg(fd, m, flags)
                              : (ssize_t)syscall(SYS_sendmsg, fd, m, flags);
    if (r >= 0 && m && m->msg_controllen && __atomic_load_n(&active, __ATOMIC_ACQUIRE))
        note_passed_fds(m);
    return r;
}

/* --- descriptors going away or multiplying ------------------------------------------- */

/* Before fd stops referring to its socket. Safe in a signal handler: a handler that
 * interrupted bindguard itself only forgets the fd (the kernel confirms the entry later)
 * instead of waiting for a lock its own thread holds. Out of line, so that close() of an
 * untracked fd stays a load and a branch in front of the real call. */
__attribute__((noinline)) static void release_tracked(int fd, struct fd_state *s)
{
    if (busy) {
        s->tracked = 0;
        return;
    }
    KEEP_ERRNO(guard_release(fd, s));
}

static inline void release(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    if (__builtin_expect(s != NULL, 0))
        release_tracked(fd, s);
}

static int real_close(int fd)
{
    return REAL(close) ? real.close(fd) : (int)syscall(SYS_close, fd);
}

/* The release comes after the real close here (guard_close): see release_tracked. */
__attribute__((noinline)) static int close_tracked(int fd, struct fd_state *s)
{
    if (busy) {
        s->tracked = 0;
        return real_close(fd);
    }
    busy++;
    int r = guard_close(fd, s, real_close);
    busy--;
    return r;
}

EXPORT int close(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    if (__builtin_expect(s != NULL, 0))
        return close_tracked(fd, s);
    return real_close(fd);
}

static void release_range(unsigned first, unsigned last)
{
    unsigned limit = (unsigned)fdstate_limit();
    for (unsigned fd = first; fd < limit && fd <= last; fd++)
        release((int)fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    /* Only a call the kernel will accept closes anything; CLOEXEC closes at exec. */
    if (first <= last && !(flags & ~(int)(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) &&
        !(flags & CLOSE_RANGE_CLOEXEC))
        release_range(first, last);
    return REAL(close_range) ? real.close_range(first, last, flags)
                             : (int)syscall(SYS_close_range, first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
    if (lowfd >= 0)
        release_range((unsigned)lowfd, ~0u);
    if (REAL(closefrom))
        real.closefrom(lowfd);
    else
        syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0);
}

static int after_dup(int from, int to)
{
    if (to >= 0 && __atomic_load_n(&active, __ATOMIC_ACQUIRE))
        KEEP_ERRNO(fdstate_dup(from, to));
    return to;
}

EXPORT int dup(int fd)
{
    return after_dup(fd, REAL(dup) ? real.dup(fd) : (int)syscall(SYS_dup, fd));
}

/* dup2/dup3 close `to` first when it is open: release its entry once that succeeded. */
static int dup_over(int from, int to, int r)
{
    if (r < 0 || from == to)
        return r;
    release(to);
    return after_dup(from, r);
}

EXPORT int dup2(int from, int to)
{
    return dup_over(from, to, REAL(dup2) ? real.dup2(from, to) : (int)syscall(SYS_dup2, from, to));
}

EXPORT int dup3(int from, int to, int flags)
{
    return dup_over(from, to, REAL(dup3) ? real.dup3(from, to, flags)
                                         : (int)syscall(SYS_dup3, from, to, flags));
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
    int r = REAL(fcntl) ? real.fcntl(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);
    return after_fcntl(fd, cmd, r);
}

#ifdef HAVE_FCNTL64
EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int r = REAL(fcntl64) ? real.fcntl64(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);
    return after_fcntl(fd, cmd, r);
}
#endif

/* --- processes and namespaces -------------------------------------------------------- */

/* The fork and spawn hooks run configured or not: they cost nothing while no socket is
 * tracked, and a socket() configuring the shim meanwhile must see the fork generation. */
static pid_t forked(pid_t (*real_fork)(void))
{
    guard_before_fork();
    pid_t pid = real_fork ? real_fork() : (pid_t)syscall(SYS_fork);
    KEEP_ERRNO(guard_after_fork(pid == 0));
    return pid;
}

EXPORT pid_t fork(void)
{
    return forked(REAL(fork));
}

#ifdef HAVE__FORK
/* glibc's fork without atfork handlers; fork() itself does not come through here. */
EXPORT pid_t _Fork(void)
{
    pid_t (*real_fork)(void) = REAL(_Fork);
    if (!real_fork) {  /* only a libc without _Fork gets here: no caller can expect one */
        errno = ENOSYS;
        return -1;
    }
    return forked(real_fork);
}
#endif

static int spawned(spawn_fn *real_spawn, pid_t *pid, const char *file,
                   const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                   char *const argv[], char *const envp[])
{
    if (!real_spawn)
        return ENOSYS;
    KEEP_ERRNO(guard_around_spawn(actions != NULL, true));
    int r = real_spawn(pid, file, actions, attr, argv, envp);
    /* again: a socket another thread made meanwhile */
    KEEP_ERRNO(guard_around_spawn(actions != NULL, false));
    return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawned(REAL(posix_spawn), pid, path, actions, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawned(REAL(posix_spawnp), pid, file, actions, attr, argv, envp);
}

EXPORT int setns(int fd, int nstype)
{
    int r = REAL(setns) ? real.setns(fd, nstype) : (int)syscall(SYS_setns, fd, nstype);
    if (r == 0)
        guard_forget_netns();
    return r;
}

EXPORT int unshare(int flags)
{
    int r = REAL(unshare) ? real.unshare(flags) : (int)syscall(SYS_unshare, flags);
    if (r == 0)
        guard_forget_netns();
    return r;
}

/* --- the program's own SIGBUS handler -------------------------------------------------- */

/* glibc's names for the real functions while our lookup is under way. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
extern sighandler_t bsd_signal(int, sighandler_t);

/* A SIGBUS handler set after ours would make a truncated table kill the program
 * (fault.h): say so, and fault.c looks at the next table access. Our own calls (busy)
 * don't count. */
static void noticed_disposition(int sig, bool sets)
{
    if (sig == SIGBUS && sets && !busy)
        fault_disposition_changed();
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int r = REAL(sigaction) ? real.sigaction(sig, act, old) : __sigaction(sig, act, old);
    if (r == 0)
        noticed_disposition(sig, act != NULL);
    return r;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    sighandler_t r = REAL(signal) ? real.signal(sig, handler) : bsd_signal(sig, handler);
    if (r != SIG_ERR)
        noticed_disposition(sig, true);
    return r;
}
