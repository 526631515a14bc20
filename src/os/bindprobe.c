/* bindprobe - see bindprobe.h. */
#include "bindprobe.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

static int raw_setsockopt(int fd, int level, int name, int on)
{
    return (int)syscall(SYS_setsockopt, fd, level, name, &on, (socklen_t)sizeof on);
}

static int setup_and_bind(int fd, const struct bg_addr *a, uint8_t proto, unsigned opts)
{
    struct sockaddr_storage ss;
    socklen_t len = address_to_sockaddr(a, &ss);
    if (len == 0)
        return EAFNOSUPPORT;
    if ((a->family == AF_INET6 &&
         raw_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, a->v6only) != 0) ||
        ((opts & BINDPROBE_REUSEADDR) && raw_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) ||
        ((opts & BINDPROBE_REUSEPORT) && raw_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) ||
        sys_bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        ((opts & BINDPROBE_LISTEN) && proto == IPPROTO_TCP && syscall(SYS_listen, fd, 1) != 0))
        return errno ? errno : EINVAL;
    return 0;
}

int bindprobe(const struct bg_addr *a, uint8_t proto, unsigned opts, int *fd_out)
{
    int saved = errno;
    int type = (proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
    int fd = sys_socket(a->family, type, 0);
    int err = fd < 0 ? (errno ? errno : EINVAL) : setup_and_bind(fd, a, proto, opts);
    if (fd >= 0 && (err || !fd_out))
        sys_close(fd);
    else if (fd >= 0)
        *fd_out = fd;
    errno = saved;
    return err;
}

uint16_t bindprobe_port(int fd)
{
    int saved = errno;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    uint16_t port = 0;
    if (sys_getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    errno = saved;
    return port;
}
