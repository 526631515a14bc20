/* faults_host - a program under the shim that must keep running and binding whatever
 * happens to bindguard's table, lock or kernel access (test_faults). One command per line
 * on stdin, one reply line each:
 *
 *   bind SLOT PORT   a fresh TCP socket in SLOT (0-15), SO_REUSEADDR, bound to
 *                    127.0.0.1:PORT: "ok MS" or "err ERRNO-NAME MS" (MS: how long it took)
 *   close SLOT, listen SLOT   the same replies
 *   doomed FD PORT   a fresh socket as descriptor FD, bound as above
 *   netlink          can this process open a sock_diag socket at all? ("ok" or "err")
 *   ping             "pong": still there
 *
 * Every socket is TCP with SO_REUSEADDR and listens only when told to: the kernel alone
 * would then let any number of them bind one address. Ends with stdin, status 0. */
#include <errno.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proc_child.h"

#define MAX_SLOTS 16

static int slots[MAX_SLOTS];

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* "ok <ms>" or "err <ERRNO-NAME> <ms>". */
static void reply(int r, const struct timespec *t0)
{
    const char *e = r == 0 ? NULL : strerrorname_np(errno);
    printf("%s%s %.1f\n", r == 0 ? "ok" : "err ", r == 0 ? "" : (e ? e : "E?"), ms_since(t0));
    fflush(stdout);
}

/* fd, a fresh TCP socket, with SO_REUSEADDR bound to 127.0.0.1:port; the bind's result. */
static int bind_loopback(int fd, int port)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return proc_bind(fd, "127.0.0.1", port);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return proc_child_usage("faults_host (commands on stdin)");
    char line[256], cmd[16];
    int a = -1, b = -1;
    while (fgets(line, sizeof line, stdin)) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = sscanf(line, "%15s %d %d", cmd, &a, &b);
        bool slot = n >= 2 && a >= 0 && a < MAX_SLOTS;
        if (n == 3 && slot && strcmp(cmd, "bind") == 0) {
            slots[a] = socket(AF_INET, SOCK_STREAM, 0);
            reply(bind_loopback(slots[a], b), &t0);
        } else if (slot && strcmp(cmd, "close") == 0) {
            reply(close(slots[a]), &t0);
        } else if (slot && strcmp(cmd, "listen") == 0) {
            reply(listen(slots[a], 8), &t0);
        } else if (n == 3 && strcmp(cmd, "doomed") == 0) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            dup2(fd, a);
            close(fd);
            reply(bind_loopback(a, b), &t0);
        } else if (strcmp(cmd, "netlink") == 0) {
            int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
            reply(fd < 0 ? -1 : 0, &t0);
            if (fd >= 0)
                close(fd);
        } else if (strcmp(cmd, "ping") == 0) {
            proc_child_say("pong");
        } else {
            printf("what? %s", line);
            fflush(stdout);
        }
    }
    return 0;
}
