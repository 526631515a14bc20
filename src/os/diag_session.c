/* diag_session - one netlink socket per public call, and the query/reply round trip
 * on it (diag.h). */
#include "diag.h"

#include <errno.h>
#include <sys/socket.h>

#include "sys.h"

/* Must be >= NLMSG_GOODSIZE (<= 8 KiB) or the first part of a dump arrives truncated;
 * bigger only saves recvmsg calls on unfiltered dumps, which we never make. Stack, not
 * heap: bind() may be called from a signal handler. */
#define RECV_BUF 8192
/* 64 Ki datagrams of 8 KiB hold ~5 million sockets: far beyond one port, yet bounded. */
#define MAX_DATAGRAMS 65536u

/* One datagram from the kernel: its length, 0 for one to ignore, or -errno. The
 * kernel produces each part of a reply inside sendmsg/recvmsg, so with MSG_DONTWAIT an
 * empty queue means no answer is coming rather than a wait that could hang. */
static ssize_t recv_datagram(int fd, void *buf, size_t len)
{
    struct sockaddr_nl from;
    struct iovec iov = {buf, len};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                       .msg_iovlen = 1};
    ssize_t n;
    do
        n = sys_recvmsg(fd, &m, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (m.msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    if (m.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
        return 0;   /* not from the kernel */
    return n == 0 ? -EBADMSG : n;
}

static int walk_replies(int fd, const struct diag_query *q, diag_visit_fn visit, void *ctx, bool *ended)
{
    _Alignas(struct nlmsghdr) char buf[RECV_BUF];
    for (unsigned dgrams = 0; dgrams < MAX_DATAGRAMS; dgrams++) {
        ssize_t n = recv_datagram(fd, buf, sizeof buf);
        if (n < 0)
            return (int)n;
        int rc = diag_walk_datagram(buf, (size_t)n, q, visit, ctx, ended);
        if (rc != DIAG_MORE)
            return rc;
    }
    return -EOVERFLOW;
}

static int send_request(int fd, const struct diag_request *r, size_t len)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct iovec iov = {(void *)r, len};
    struct msghdr m = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov,
                       .msg_iovlen = 1};
    ssize_t n;
    do
        n = sys_sendmsg(fd, &m, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

struct diag_session diag_session_begin(void)
{
    return (struct diag_session){.fd = -1, .saved_errno = errno};
}

static void session_drop(struct diag_session *s)
{
    if (s->fd >= 0)
        sys_close(s->fd);
    s->fd = -1;
}

void diag_session_end(struct diag_session *s)
{
    session_drop(s);
    errno = s->saved_errno;
}

/* 0 when the kernel answered (the visitor may have stopped it early), or -errno. */
int diag_run(struct diag_session *s, struct diag_query q, diag_visit_fn visit, void *ctx)
{
    if (s->fd < 0 && (s->fd = sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
                                         NETLINK_SOCK_DIAG)) < 0)
        return -errno;
    struct diag_request r;
    q.seq = ++s->seq;
    size_t len = diag_build_request(&q, &r);
    bool ended = false;
    int rc = send_request(s->fd, &r, len);
    if (rc == 0)
        rc = walk_replies(s->fd, &q, visit, ctx, &ended);
    if (!ended)
        session_drop(s);
    return rc;
}

/* A kernel that refuses state bit 13 (TCP_BOUND_INACTIVE) is asked again without it.
 * The refusal comes before any socket is reported, so nothing is visited twice. */
int diag_run_dump(struct diag_session *s, struct diag_query q, diag_visit_fn visit, void *ctx)
{
    int rc = diag_run(s, q, visit, ctx);
    if (rc == -EINVAL && (q.states & DIAG_BIT(DIAG_ST_BOUND_INACTIVE))) {
        q.states &= DIAG_STATES_BEFORE_6_8;
        rc = diag_run(s, q, visit, ctx);
    }
    return rc;
}
