/* closemany - more bound sockets than bindguard plans in one go, closed by one call
 * (test_dup).
 *
 *   closemany close_range|closefrom N
 *
 * Binds N TCP sockets to 127.0.0.1 port 0 (the kernel picks), on consecutive
 * descriptors, and says "HOLD". On the go-ahead line closes them all with one
 * close_range(first, ~0) or closefrom(first) and says "FREE". Exit status as
 * proc_child.h says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc_child.h"

#define CLOSEMANY_MAX 256

int main(int argc, char **argv)
{
    int n = argc == 3 ? atoi(argv[2]) : 0;
    bool range = argc == 3 && strcmp(argv[1], "close_range") == 0;
    if (n <= 0 || n > CLOSEMANY_MAX || (!range && strcmp(argv[1], "closefrom") != 0))
        return proc_child_usage("closemany close_range|closefrom N (1 to 256)");
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
    if (range)
        EXPECT(close_range((unsigned)first, ~0u, 0) == 0, "close_range");
    else
        closefrom(first);
    proc_child_say("FREE");
    return proc_child_status();
}
