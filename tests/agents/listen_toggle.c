/* listen_toggle - a listener that keeps starting and stopping, and binders that ask
 * meanwhile (test_bind listen_toggling_keeps_its_claim).
 *
 *   listen_toggle toggle PORT    binds 127.0.0.2:PORT (SO_REUSEADDR, exclusive by
 *                                default), says TOGGLING, then listens and shuts down in
 *                                a loop until stdin closes; exits 3 if the bind failed,
 *                                4 if listen or shutdown did
 *   listen_toggle claim PORT MS  binds fresh sockets to 127.0.0.2:PORT (SO_REUSEADDR)
 *                                for MS milliseconds; says "BOUND n REFUSED m" */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc_child.h"

static void toggle(char **args)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (proc_bind(fd, "127.0.0.2", atoi(args[0])) != 0)
        exit(3);
    fcntl(STDIN_FILENO, F_SETFL, O_NONBLOCK);
    proc_child_say("TOGGLING");
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) != 0) {
        /* Half the time in each state, several changes per confirmation (~1 ms); the
         * naps leave the lock to the binders. */
        if (listen(fd, 8) != 0 || usleep(100) != 0 || shutdown(fd, SHUT_RDWR) != 0)
            exit(4);
        usleep(100);
    }
}

static void claim(char **args)
{
    int port = atoi(args[0]);
    int64_t until = proc_now_ms() + atoi(args[1]);
    long bound = 0, refused = 0;
    while (proc_now_ms() < until) {
        int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (proc_bind(fd, "127.0.0.2", port) == 0)
            bound++;
        else if (errno == EADDRINUSE)
            refused++;
        close(fd);
    }
    proc_child_say("BOUND %ld REFUSED %ld", bound, refused);
}

int main(int argc, char **argv)
{
    static const struct proc_child_scenario scenarios[] = {
        {"toggle", 1, toggle},
        {"claim", 2, claim},
    };
    return proc_child_dispatch(scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
