/* libc - the C library's own socket, descriptor and process calls, for every layer of
 * bindguard to call down to.
 *
 * Inside libbindguard.so the plain names (bind, close, ...) are our wrappers; bindguard
 * reaches libc's functions only through libc_*(). Each symbol is looked up once, on its
 * first call, with dlsym(RTLD_NEXT): in the preloaded library that is libc's, and in the
 * CLI (an executable, not preloaded) it is libc's as well. Contract of every libc_*():
 * - it behaves as the libc function of that name: same arguments, return and errno;
 * - while this thread is inside dlsym (which may allocate, and an allocator may close or
 *   open descriptors), or when libc lacks the symbol, it makes the raw system call
 *   instead, never re-entering dlsym; libc__Fork and libc_posix_spawn* have no raw
 *   equivalent and report ENOSYS;
 * - safe from any thread; libc_close() is also safe in a signal handler once
 *   libc_resolve_at_load() ran (dlsym takes the loader's lock: never from a handler).
 * The wrappers are inline, and most of this file: close() of an untracked descriptor
 * must stay a load and a branch in front of libc's. */
#ifndef BG_LIBC_H
#define BG_LIBC_H

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "sys.h"

#define LIBC_HIDDEN __attribute__((visibility("hidden")))

typedef int libc_spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                          const posix_spawnattr_t *, char *const[], char *const[]);

/* One slot per symbol: NULL until looked up, then the function or &libc_absent. */
struct libc_symbols {
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
    libc_spawn_fn *posix_spawn, *posix_spawnp;
    int (*setns)(int, int);
    int (*unshare)(int);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    sighandler_t (*signal)(int, sighandler_t);
};
extern struct libc_symbols libc_symbols LIBC_HIDDEN;
extern char libc_absent LIBC_HIDDEN;

/* Look *slot up as `name`; NULL: make the raw call (this time, or for good). */
void *libc_lookup(void **slot, const char *name) LIBC_HIDDEN;
/* At load: look up what a signal handler may call (close). */
void libc_resolve_at_load(void) LIBC_HIDDEN;

static inline void *libc_slot(void **slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (__builtin_expect(fn == NULL, 0))
        return libc_lookup(slot, name);
    return fn == (void *)&libc_absent ? NULL : fn;
}

/* libc's function `name`, or NULL: make the raw system call. */
#define LIBC_FN(name) \
    ((__typeof__(libc_symbols.name))libc_slot((void **)&libc_symbols.name, #name))

/* glibc's own names for sigaction and signal: the raw fallback for those two. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
extern sighandler_t bsd_signal(int, sighandler_t);

static inline int libc_socket(int domain, int type, int proto)
{
    __typeof__(libc_symbols.socket) f = LIBC_FN(socket);
    return f ? f(domain, type, proto) : sys_socket(domain, type, proto);
}

static inline int libc_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    __typeof__(libc_symbols.bind) f = LIBC_FN(bind);
    return f ? f(fd, sa, len) : sys_bind(fd, sa, len);
}

static inline int libc_listen(int fd, int backlog)
{
    __typeof__(libc_symbols.listen) f = LIBC_FN(listen);
    return f ? f(fd, backlog) : (int)syscall(SYS_listen, fd, backlog);
}

static inline int libc_shutdown(int fd, int how)
{
    __typeof__(libc_symbols.shutdown) f = LIBC_FN(shutdown);
    return f ? f(fd, how) : (int)syscall(SYS_shutdown, fd, how);
}

static inline int libc_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    __typeof__(libc_symbols.accept) f = LIBC_FN(accept);
    return f ? f(fd, sa, len) : (int)syscall(SYS_accept4, fd, sa, len, 0);
}

static inline int libc_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    __typeof__(libc_symbols.accept4) f = LIBC_FN(accept4);
    return f ? f(fd, sa, len, flags) : (int)syscall(SYS_accept4, fd, sa, len, flags);
}

static inline int libc_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    __typeof__(libc_symbols.setsockopt) f = LIBC_FN(setsockopt);
    return f ? f(fd, level, name, val, len)
             : (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

static inline int libc_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    __typeof__(libc_symbols.getsockopt) f = LIBC_FN(getsockopt);
    return f ? f(fd, level, name, val, len) : sys_getsockopt(fd, level, name, val, len);
}

static inline ssize_t libc_sendmsg(int fd, const struct msghdr *m, int flags)
{
    __typeof__(libc_symbols.sendmsg) f = LIBC_FN(sendmsg);
    return f ? f(fd, m, flags) : sys_sendmsg(fd, m, flags);
}

static inline int libc_close(int fd)
{
    __typeof__(libc_symbols.close) f = LIBC_FN(close);
    return f ? f(fd) : sys_close(fd);
}

static inline int libc_close_range(unsigned first, unsigned last, int flags)
{
    __typeof__(libc_symbols.close_range) f = LIBC_FN(close_range);
    return f ? f(first, last, flags) : (int)syscall(SYS_close_range, first, last, flags);
}

static inline void libc_closefrom(int lowfd)
{
    __typeof__(libc_symbols.closefrom) f = LIBC_FN(closefrom);
    if (f)
        f(lowfd);
    else
        syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0);
}

static inline int libc_dup(int fd)
{
    __typeof__(libc_symbols.dup) f = LIBC_FN(dup);
    return f ? f(fd) : (int)syscall(SYS_dup, fd);
}

static inline int libc_dup2(int from, int to)
{
    __typeof__(libc_symbols.dup2) f = LIBC_FN(dup2);
    return f ? f(from, to) : (int)syscall(SYS_dup2, from, to);
}

static inline int libc_dup3(int from, int to, int flags)
{
    __typeof__(libc_symbols.dup3) f = LIBC_FN(dup3);
    return f ? f(from, to, flags) : (int)syscall(SYS_dup3, from, to, flags);
}

/* fcntl's third argument is an int or a pointer depending on cmd; like libc, it travels
 * as a pointer-sized value, which carries either. */
static inline int libc_fcntl(int fd, int cmd, void *arg)
{
    __typeof__(libc_symbols.fcntl) f = LIBC_FN(fcntl);
    return f ? f(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static inline int libc_fcntl64(int fd, int cmd, void *arg)
{
    __typeof__(libc_symbols.fcntl64) f = LIBC_FN(fcntl64);
    return f ? f(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static inline pid_t libc_fork(void)
{
    __typeof__(libc_symbols.fork) f = LIBC_FN(fork);
    return f ? f() : (pid_t)syscall(SYS_fork);
}

static inline pid_t libc__Fork(void)
{
    __typeof__(libc_symbols._Fork) f = LIBC_FN(_Fork);
    if (!f) {  /* only a libc without _Fork gets here: no caller can expect one */
        errno = ENOSYS;
        return -1;
    }
    return f();
}

/* posix_spawn and posix_spawnp take the same arguments: the one looked up, or ENOSYS. */
#define LIBC_SPAWN(name, pid, file, actions, attr, argv, envp)                          \
    (LIBC_FN(name) ? libc_symbols.name(pid, file, actions, attr, argv, envp) : ENOSYS)

static inline int libc_posix_spawn(pid_t *pid, const char *path,
                                   const posix_spawn_file_actions_t *actions,
                                   const posix_spawnattr_t *attr, char *const argv[],
                                   char *const envp[])
{
    return LIBC_SPAWN(posix_spawn, pid, path, actions, attr, argv, envp);
}

static inline int libc_posix_spawnp(pid_t *pid, const char *file,
                                    const posix_spawn_file_actions_t *actions,
                                    const posix_spawnattr_t *attr, char *const argv[],
                                    char *const envp[])
{
    return LIBC_SPAWN(posix_spawnp, pid, file, actions, attr, argv, envp);
}

static inline int libc_setns(int fd, int nstype)
{
    __typeof__(libc_symbols.setns) f = LIBC_FN(setns);
    return f ? f(fd, nstype) : (int)syscall(SYS_setns, fd, nstype);
}

static inline int libc_unshare(int flags)
{
    __typeof__(libc_symbols.unshare) f = LIBC_FN(unshare);
    return f ? f(flags) : (int)syscall(SYS_unshare, flags);
}

static inline int libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    __typeof__(libc_symbols.sigaction) f = LIBC_FN(sigaction);
    return f ? f(sig, act, old) : __sigaction(sig, act, old);
}

static inline sighandler_t libc_signal(int sig, sighandler_t handler)
{
    __typeof__(libc_symbols.signal) f = LIBC_FN(signal);
    return f ? f(sig, handler) : bsd_signal(sig, handler);
}

#endif
