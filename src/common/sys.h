/* sys - raw system calls for bindguard's own use.
 *
 * bindguard's own code must never call a function it wraps by its plain name (socket,
 * close, bind, setsockopt, ...): inside the preloaded library those names resolve to
 * the wrappers. These go straight to the kernel and set errno as libc would; libc.h
 * (src/shim/) reaches libc's own functions where the libc call itself is wanted. */
#ifndef BG_SYS_H
#define BG_SYS_H

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int sys_socket(int domain, int type, int proto)
{ return (int)syscall(SYS_socket, domain, type, proto); }
static inline int sys_close(int fd)
{ return (int)syscall(SYS_close, fd); }
static inline int sys_bind(int fd, const struct sockaddr *sa, socklen_t len)
{ return (int)syscall(SYS_bind, fd, sa, len); }
static inline int sys_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{ return (int)syscall(SYS_getsockname, fd, sa, len); }
static inline int sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{ return (int)syscall(SYS_getsockopt, fd, level, name, val, len); }
static inline ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{ return (ssize_t)syscall(SYS_sendmsg, fd, m, flags); }
static inline ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{ return (ssize_t)syscall(SYS_recvmsg, fd, m, flags); }
static inline int sys_fd_flags(int fd)  /* F_GETFD: FD_CLOEXEC, or -1 */
{ return (int)syscall(SYS_fcntl, fd, F_GETFD); }

#endif
