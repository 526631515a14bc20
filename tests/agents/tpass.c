/* tpass - one process binds, another listens on the socket it was sent (SCM_RIGHTS), as
 * node's cluster workers do with NODE_CLUSTER_SCHED_POLICY=none.
 *
 *   tpass listen NAME              wait on the abstract unix socket NAME for a socket,
 *                                  listen() on it, print "LISTENING", hold until stdin EOF
 *   tpass send NAME ADDR PORT      bind a TCP socket to ADDR:PORT (IPv4), send it to NAME,
 *                                  close our copy, print "SENT", hold until stdin EOF
 * Errors: "ERR <step> <strerror>", exit 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char *step)
{
    printf("ERR %s %s\n", step, strerror(errno));
    return 1;
}

static void hold(void)
{
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
}

static socklen_t unix_name(const char *name, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    size_t n = strlen(name) < sizeof sun->sun_path - 1 ? strlen(name) : sizeof sun->sun_path - 2;
    memcpy(sun->sun_path + 1, name, n);  /* abstract: nothing on disk */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int do_listen(const char *name)
{
    struct sockaddr_un sun;
    socklen_t len = unix_name(name, &sun);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    if (u < 0 || bind(u, (struct sockaddr *)&sun, len) != 0 || listen(u, 1) != 0)
        return fail("unix");
    printf("READY\n");
    fflush(stdout);
    int c = accept(u, NULL, NULL);
    char byte, ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl };
    if (c < 0 || recvmsg(c, &m, 0) != 1)
        return fail("recvmsg");
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return fail("no socket received");
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    if (listen(fd, 16) != 0)
        return fail("listen");
    printf("LISTENING\n");
    fflush(stdout);
    hold();
    return 0;
}

static int do_send(const char *name, const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
        return fail("bind");
    struct sockaddr_un sun;
    socklen_t len = unix_name(name, &sun);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    if (u < 0 || connect(u, (struct sockaddr *)&sun, len) != 0)
        return fail("connect");
    char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = { &byte, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    if (sendmsg(u, &m, 0) != 1)
        return fail("sendmsg");
    close(fd);
    printf("SENT\n");
    fflush(stdout);
    hold();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "listen") == 0)
        return do_listen(argv[2]);
    if (argc == 5 && strcmp(argv[1], "send") == 0)
        return do_send(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: tpass listen NAME | tpass send NAME ADDR PORT\n");
    return 2;
}
