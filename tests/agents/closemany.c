/* closemany - more bound sockets than bindguard plans in one go, closed by one call
 * (test_dup).
 *
 *   closemany close_range|closefrom|close_range_denied N
 *
 * Binds N TCP sockets to 127.0.0.1 port 0 (the kernel picks), on consecutive
 * descriptors, and says "HOLD". On the go-ahead line closes them all with one
 * close_range(first, ~0) or closefrom(first) and says "FREE". close_range_denied first
 * has seccomp refuse close_range with EPERM (an old container policy): the call must
 * fail with the sockets still open and still bindguard's (SO_EXCLUSIVEADDRUSE answers),
 * and then each is closed with close(). Exit status as proc_child.h says. */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bindguard.h"
#include "proc_child.h"

#define CLOSEMANY_MAX 256

/* close_range fails with EPERM from now on; everything else is allowed. */
static bool deny_close_range(void)
{
    return proc_child_filter(__NR_close_range, -1, SECCOMP_RET_ERRNO | EPERM) == 0;
}

/* Does bindguard still track fd? Only it answers SO_EXCLUSIVEADDRUSE. */
static bool tracked(int fd)
{
    int v;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &len) == 0;
}

int main(int argc, char **argv)
{
    int n = argc == 3 ? atoi(argv[2]) : 0;
    bool range = argc == 3 && strcmp(argv[1], "close_range") == 0;
    bool denied = argc == 3 && strcmp(argv[1], "close_range_denied") == 0;
    if (n <= 0 || n > CLOSEMANY_MAX ||
        (!range && !denied && strcmp(argv[1], "closefrom") != 0))
        return proc_child_usage("closemany close_range|closefrom|close_range_denied N "
                                "(1 to 256)");
    if (denied && !deny_close_range()) {
        proc_child_say("SKIP no seccomp filter here");
        return 0;
    }
    int first = -1;
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT(fd >= 0 && (first < 0 || fd == first + i), "socket %d: fd %d", i, fd);
        if (first < 0)
            first = fd;
        EXPECT(proc_bind(fd, "127.0.0.1", 0) == 0, "bind %d", i);
    }
    proc_child_say("HOLD");
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return proc_child_status();
    if (denied) {
        errno = 0;
        EXPECT(close_range((unsigned)first, ~0u, 0) == -1 && errno == EPERM,
               "close_range under the filter: errno %d", errno);
        for (int i = 0; i < n; i++) {
            EXPECT(tracked(first + i), "socket %d untracked after a close_range that failed", i);
            close(first + i);
        }
    } else if (range) {
        EXPECT(close_range((unsigned)first, ~0u, 0) == 0, "close_range");
    } else {
        closefrom(first);
    }
    proc_child_say("FREE");
    return proc_child_status();
}
