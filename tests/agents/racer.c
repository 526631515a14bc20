/* racer - one of two processes racing for one exclusive port (test_races).
 *
 *   racer PORT
 *
 * Per 'b' read from stdin, binds a fresh exclusive socket to 127.0.0.1:PORT and says how
 * it went ("ok" or an errno name); per 'c', closes it and says "closed". SO_REUSEADDR on
 * both racers means the kernel would let both in: exactly one winner per round is
 * bindguard's doing. */
#include <stdlib.h>
#include <unistd.h>

#include "named_opts.h"
#include "proc_child.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return proc_child_usage("racer PORT");
    int port = atoi(argv[1]);
    char cmd;
    while (read(STDIN_FILENO, &cmd, 1) == 1 && cmd == 'b') {
        int fd = named_opts_socket("tcp", "reuseaddr,exclusive");
        proc_child_say("%s", proc_child_outcome(proc_bind(fd, "127.0.0.1", port)));
        if (read(STDIN_FILENO, &cmd, 1) != 1)
            break;
        close(fd);
        proc_child_say("closed");
    }
    return proc_child_status();
}
