/* sockets - loopback sockets and descriptor limits for the sample functions. */
#include "benchlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct sockaddr_in bench_loopback(int host, int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl((uint32_t)(INADDR_LOOPBACK & ~0xffu) | (uint32_t)host);
    return sin;
}

int bench_private_host(void)
{
    return 100 + bench_side();
}

void bench_bind_failed(int port)
{
    if (errno != EADDRINUSE)
        bench_fail("bind to port %d: %s", port, strerror(errno));
    bench_note("port %d was taken by another program during the run; binds to it failed "
               "and were timed as they went", port);
}

int bench_port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
        return -1;
    return ntohs(sin.sin_port);
}

int bench_bound_socket(int type, int host, int port, bool listening)
{
    struct sockaddr_in sin = bench_loopback(host, port);
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        (listening && listen(fd, 4096) != 0)) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

void bench_close_abort(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

long bench_raise_nofile(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)n)
        return rl.rlim_cur == RLIM_INFINITY ? n : (long)rl.rlim_cur;
    struct rlimit want = { (rlim_t)n, rl.rlim_max };
    if (want.rlim_max != RLIM_INFINITY && want.rlim_max < (rlim_t)n)
        want.rlim_max = (rlim_t)n;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return n;
    /* Without CAP_SYS_RESOURCE: as far as the hard limit goes. */
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)n ? n : (long)rl.rlim_cur;
}
