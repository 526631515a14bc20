/* errnos - what bindguard does not judge must fail exactly as natively (test_parity).
 *
 *   errnos PORT PORT2
 *
 * One line per call, "CALL OUTCOME"; the test runs this natively and under the shim and
 * compares the two. Most are calls bindguard must not judge (bad descriptors and
 * addresses, non-inet sockets, sockets bound already); PORT is held while the last kind
 * is tried on it, so a judged call would show up as EADDRINUSE. The KEPT lines also say
 * what errno was after a call that succeeded: libc leaves it alone, and a wrapper doing
 * bookkeeping must too. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bindguard.h"
#include "proc_child.h"

#define SA(x) ((struct sockaddr *)&(x))
#define REPORT(call) proc_child_say("%s %s", #call, proc_child_outcome((long)(call)))
#define KEPT(call)                                                                     \
    do {                                                                               \
        errno = EDOM;                                                                  \
        long r_ = (long)(call);                                                        \
        const char *e_ = strerrorname_np(errno);                                       \
        proc_child_say("%s %s errno=%s", #call, r_ >= 0 ? "ok" : "failed", e_ ? e_ : "?"); \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 3)
        return proc_child_usage("errnos PORT PORT2");
    union { struct sockaddr_storage ss; char room[256]; } lo4, lo6, at_port, at_port2,
        unspec_lo, unspec_any, peer;
    /* Both are also passed with a length beyond the sockaddr_storage part. */
    memset(&lo4, 0, sizeof lo4);
    memset(&at_port, 0, sizeof at_port);
    socklen_t l4 = proc_sockaddr("127.0.0.1", 0, &lo4.ss);
    socklen_t l6 = proc_sockaddr("::1", 0, &lo6.ss);
    proc_sockaddr("127.0.0.1", atoi(argv[1]), &at_port.ss);
    proc_sockaddr("127.0.0.1", atoi(argv[2]), &at_port2.ss);
    proc_sockaddr("127.0.0.1", 0, &unspec_lo.ss);
    unspec_lo.ss.ss_family = AF_UNSPEC;
    proc_sockaddr("0.0.0.0", 0, &unspec_any.ss);
    unspec_any.ss.ss_family = AF_UNSPEC;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* Far above anything this process opens, so no later call reuses the number. */
    int closed = 1000;
    close(closed);
    int pfd[2];
    EXPECT(pipe(pfd) == 0, "pipe: %s", strerror(errno));
    int t4 = socket(AF_INET, SOCK_STREAM, 0), t6 = socket(AF_INET6, SOCK_STREAM, 0);
    int u4 = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, v = 0;
    socklen_t vl = sizeof v;

    REPORT(bind(-1, SA(lo4), l4));
    REPORT(bind(closed, SA(lo4), l4));
    REPORT(bind(devnull, SA(lo4), l4));
    REPORT(bind(pfd[0], SA(lo4), l4));
    REPORT(bind(t4, NULL, l4));
    REPORT(bind(t4, SA(lo4), l4 - 1));
    REPORT(bind(t4, SA(lo4), 0));
    REPORT(bind(t4, SA(lo4), sizeof(struct sockaddr_storage) + 1));
    REPORT(bind(t4, SA(lo6), l6));
    REPORT(bind(t4, SA(unspec_lo), l4));
    REPORT(bind(t6, SA(lo4), l4));
    REPORT(bind(t6, SA(lo4), l6));
    REPORT(bind(t6, NULL, l6));
    REPORT(bind(u4, SA(lo6), l6));
    REPORT(bind(u4, SA(unspec_any), l4));

    REPORT(bind(t4, SA(at_port), l4));
    REPORT(bind(t4, SA(at_port), l4));
    REPORT(bind(t4, SA(lo4), l4));
    int t4b = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(bind(t4b, SA(at_port), sizeof(struct sockaddr_storage) + 1));
    int lsn = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(listen(lsn, 4));
    REPORT(bind(lsn, SA(at_port), l4));
    socklen_t pl = sizeof peer;
    getsockname(lsn, SA(peer), &pl);
    int conn = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(connect(conn, SA(peer), pl));
    REPORT(bind(conn, SA(at_port), l4));
    int uheld = socket(AF_INET, SOCK_DGRAM, 0), uconn = socket(AF_INET, SOCK_DGRAM, 0);
    int usent = socket(AF_INET, SOCK_DGRAM, 0);
    REPORT(bind(uheld, SA(at_port), l4));
    REPORT(connect(uconn, SA(peer), pl));
    REPORT(bind(uconn, SA(at_port), l4));
    REPORT(sendto(usent, "x", 1, 0, SA(peer), pl));
    REPORT(bind(usent, SA(at_port), l4));

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int nlen = snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "bg-ipose-%d", (int)getpid());
    socklen_t ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)nlen);
    int un = socket(AF_UNIX, SOCK_STREAM, 0), un2 = socket(AF_UNIX, SOCK_STREAM, 0);
    REPORT(bind(un, SA(sun), ul));
    REPORT(bind(un, SA(sun), ul));
    REPORT(bind(un2, SA(sun), ul));
    REPORT(bind(un2, SA(lo4), l4));
    REPORT(setsockopt(un2, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
    int nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    REPORT(bind(nl, SA(snl), sizeof snl));
    REPORT(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));

    REPORT(setsockopt(devnull, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    REPORT(setsockopt(closed, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    REPORT(getsockopt(devnull, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &vl));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof one));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEADDR, &one, 1));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEPORT, NULL, sizeof one));
    REPORT(getsockopt(u4, SOL_SOCKET, SO_REUSEADDR, NULL, &vl));

    REPORT(dup(-1));
    REPORT(dup(closed));
    REPORT(dup2(closed, 50));
    REPORT(dup2(t4, t4));
    REPORT(dup3(t4, t4, 0));
    REPORT(dup3(devnull, 60, -1));
    REPORT(fcntl(closed, F_DUPFD, 0));
    REPORT(fcntl(devnull, F_DUPFD, -1));
    REPORT(close_range(5, 3, 0));
    REPORT(close_range(900, 901, 0x7f0));
    REPORT(close(-1));
    REPORT(close(closed));
    REPORT(close(pfd[1]));
    REPORT(close(pfd[1]));
    REPORT(close(un));
    REPORT(close(t4));
    REPORT(close(t4));

    int k = -1, kd = -1, ku = -1;
    KEPT(k = socket(AF_INET, SOCK_STREAM, 0));
    KEPT(setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    KEPT(getsockopt(k, SOL_SOCKET, SO_REUSEADDR, &v, &vl));
    KEPT(bind(k, SA(at_port2), l4));
    KEPT(listen(k, 4));
    KEPT(kd = dup(k));
    KEPT(close(kd));
    KEPT(close(k));
    KEPT(ku = socket(AF_INET, SOCK_DGRAM, 0));
    KEPT(bind(ku, SA(lo4), l4));
    KEPT(close(ku));
    return proc_child_status();
}
