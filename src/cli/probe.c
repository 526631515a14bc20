/* probe - what the kernel itself does with a bind, asked with throwaway sockets.
 *
 * A probe socket carries the kernel options a program of its class sets (probe_options)
 * and is closed at once. System calls are made raw: inside `bindguard shell` this very
 * process runs under libbindguard.so, which must neither judge nor record a probe. */
#include "cli.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys.h"

static int raw_setsockopt(int fd, int level, int name, int on)
{
    return (int)syscall(SYS_setsockopt, fd, level, name, &on, (socklen_t)sizeof on);
}

unsigned probe_options(const struct bg_config *cfg, enum bg_class cls, uint8_t proto,
                       bool emulate)
{
    unsigned o = 0;
    bool tcp = proto == IPPROTO_TCP;
    if (cls == BG_CLASS_REUSEADDR)
        o |= PROBE_REUSEADDR | PROBE_REUSEPORT;
    /* TCP servers set SO_REUSEADDR to restart over TIME_WAIT; only with
     * BINDGUARD_REUSEADDR=windows does it make the socket a sharer. */
    else if (tcp && cfg->reuseaddr != BG_REUSEADDR_WINDOWS)
        o |= PROBE_REUSEADDR;
    /* Emulate gives every managed socket SO_REUSEPORT before an explicit-port bind. */
    if (emulate)
        o |= PROBE_REUSEPORT;
    return o;
}

int probe_socket(const struct bg_addr *a, uint8_t proto, unsigned opts, bool listening,
                 int *fd_out)
{
    struct sockaddr_storage ss;
    socklen_t len = address_to_sockaddr(a, &ss);
    int fd = sys_socket(a->family, (proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) |
                        SOCK_CLOEXEC, 0);
    if (fd < 0 || len == 0)
        return fd < 0 ? errno : EAFNOSUPPORT;
    int err = 0;
    if ((a->family == AF_INET6 &&
         raw_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, a->v6only) != 0) ||
        ((opts & PROBE_REUSEADDR) && raw_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) ||
        ((opts & PROBE_REUSEPORT) && raw_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) ||
        sys_bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        (listening && proto == IPPROTO_TCP && syscall(SYS_listen, fd, 1) != 0))
        err = errno ? errno : EINVAL;
    if (err || !fd_out)
        sys_close(fd);
    else
        *fd_out = fd;
    return err;
}

/* As nobody, in a child: its errno, or -1 if it could not become nobody. */
static int probe_as_nobody(const struct bg_addr *a, uint8_t proto, unsigned opts)
{
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(255);
        _exit(probe_socket(a, proto, opts, false, NULL) & 0xff);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) == 255)
        return -1;
    return WEXITSTATUS(st);
}

int probe_pair(const struct bg_addr *first, unsigned first_opts, const struct bg_addr *second,
               unsigned second_opts, uint8_t proto, bool other_user, int *first_err)
{
    int fd = -1;
    *first_err = probe_socket(first, proto, first_opts, true, &fd);
    if (*first_err)
        return -1;
    int err = other_user ? probe_as_nobody(second, proto, second_opts)
                         : probe_socket(second, proto, second_opts, false, NULL);
    sys_close(fd);
    return err;
}

uint16_t probe_free_port(uint8_t proto)
{
    /* Free on both stacks, every address: a dual-stack wildcard gets it. */
    struct bg_addr any = { .family = AF_INET6 };
    int fd = -1;
    if (probe_socket(&any, proto, 0, false, &fd) != 0)
        return 0;
    struct sockaddr_in6 sin6;
    socklen_t len = sizeof sin6;
    uint16_t port = sys_getsockname(fd, (struct sockaddr *)&sin6, &len) == 0
                        ? ntohs(sin6.sin6_port) : 0;
    sys_close(fd);
    return port;
}
