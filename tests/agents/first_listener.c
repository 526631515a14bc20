/* first_listener - emulate mode's "first listener gets every connection" (test_bind).
 *
 *   first_listener PORT
 *
 * Two listeners sharing 127.0.0.1:PORT (SO_REUSEADDR; emulate adds SO_REUSEPORT); 40
 * connections, then the first closes and 10 more. Says "COUNTS <first> <second> <second
 * after>": Windows gives every connection to the socket that listened first, and the
 * next takes over when it closes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc_child.h"

/* Connections accepted on listener fd right now (it is non-blocking). */
static int drain(int fd)
{
    int n = 0, c;
    while ((c = accept(fd, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

static void connect_n(int port, int n)
{
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_storage ss;
        socklen_t len = proc_sockaddr("127.0.0.1", port, &ss);
        EXPECT(connect(c, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
        close(c);
    }
    usleep(50000);  /* let the handshakes land in the accept queues */
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return proc_child_usage("first_listener PORT");
    int port = atoi(argv[1]), one = 1, fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        EXPECT_OUTCOME(proc_bind(fds[i], "127.0.0.1", port), "ok");
        EXPECT_OUTCOME(listen(fds[i], 64), "ok");
    }
    connect_n(port, 40);
    int first = drain(fds[0]), second = drain(fds[1]);
    close(fds[0]);
    connect_n(port, 10);
    proc_child_say("COUNTS %d %d %d", first, second, drain(fds[1]));
    close(fds[1]);
    return proc_child_status();
}
