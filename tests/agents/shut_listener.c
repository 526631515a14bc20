/* shut_listener - a listener shut down while another socket shares its port (test_bind).
 *
 *   shut_listener PORT
 *
 * Binds 127.0.0.2:PORT, then 127.0.0.1:PORT (both SO_REUSEADDR), listens on the second
 * and shuts it down; says "SHUT" and keeps both until stdin closes. Exits 3 if a bind
 * failed, 4 if listen or shutdown did. */
#include <stdlib.h>
#include <sys/socket.h>

#include "proc_child.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return proc_child_usage("shut_listener PORT");
    int one = 1, port = atoi(argv[1]), fds[2];
    const char *ips[] = {"127.0.0.2", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (proc_bind(fds[i], ips[i], port) != 0)
            return 3;
    }
    if (listen(fds[1], 8) != 0 || shutdown(fds[1], SHUT_RDWR) != 0)
        return 4;
    proc_child_say("SHUT");
    proc_child_wait_eof();
    return 0;
}
