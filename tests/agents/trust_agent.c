/* trust_agent - a program under the shim, as root or as nobody, for test_trust. One
 * command per line on stdin, one reply line each ("ok US" / "err ERRNO-NAME US", US: how
 * long the call took in microseconds, or a value):
 *
 *   sock SLOT tcp|udp none|reuseaddr|exclusive   a fresh AF_INET socket in SLOT (0-63)
 *   bind SLOT ADDR PORT     listen SLOT     close SLOT
 *   closefrom FD            close_range(FD, ~0): a daemon dropping every descriptor
 *   ino SLOT                the socket's inode
 * Ends with stdin, status 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bindguard.h"

#define MAX_SLOTS 64

static int slots[MAX_SLOTS];

static double us_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e6 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e3;
}

static void reply(int r, const struct timespec *t0)
{
    const char *e = r == 0 ? NULL : strerrorname_np(errno);
    printf("%s%s %.1f\n", r == 0 ? "ok" : "err ", r == 0 ? "" : (e ? e : "E?"), us_since(t0));
    fflush(stdout);
}

/* sock SLOT tcp|udp none|reuseaddr|exclusive */
static int make_socket(const char *proto, const char *opt)
{
    int fd = socket(AF_INET, strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    int one = 1;
    if (fd >= 0 && strcmp(opt, "reuseaddr") == 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd >= 0 && strcmp(opt, "exclusive") == 0)
        setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one);
    return fd;
}

/* Commands, one reply line each ("ok <us>" / "err <ERRNO> <us>", or a value):
 *   sock SLOT tcp|udp none|reuseaddr|exclusive
 *   bind SLOT ADDR PORT     listen SLOT     close SLOT
 *   ino SLOT                the socket's inode */
int main(void)
{
    char line[256], cmd[16], a1[64], a2[64];
    int slot, port;
    while (fgets(line, sizeof line, stdin)) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = sscanf(line, "%15s %d %63s %63s", cmd, &slot, a1, a2);
        if (n < 2 || slot < 0 || slot >= MAX_SLOTS) {
            printf("what? %s", line);
        } else if (n == 4 && strcmp(cmd, "sock") == 0) {
            slots[slot] = make_socket(a1, a2);
            reply(slots[slot] < 0 ? -1 : 0, &t0);
        } else if (n == 4 && strcmp(cmd, "bind") == 0) {
            struct sockaddr_in sin = {.sin_family = AF_INET};
            port = atoi(a2);
            sin.sin_port = htons((uint16_t)port);
            inet_pton(AF_INET, a1, &sin.sin_addr);
            reply(bind(slots[slot], (struct sockaddr *)&sin, sizeof sin), &t0);
        } else if (strcmp(cmd, "listen") == 0) {
            reply(listen(slots[slot], 8), &t0);
        } else if (strcmp(cmd, "close") == 0) {
            reply(close(slots[slot]), &t0);
        } else if (strcmp(cmd, "closefrom") == 0) {   /* a daemon cleaning up its fds */
            reply(close_range((unsigned)slot, ~0u, 0), &t0);
        } else if (strcmp(cmd, "ino") == 0) {
            struct stat st;
            printf("%lu\n", fstat(slots[slot], &st) == 0 ? (unsigned long)st.st_ino : 0ul);
        } else {
            printf("what? %s", line);
        }
        fflush(stdout);
    }
    return 0;
}
