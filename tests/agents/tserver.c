/* tserver - a plain TCP server that knows nothing of bindguard, standing in for the
 * unmodified programs an operator puts the shim in front of.
 *
 *   tserver PORT [ADDR]      (ADDR: an IPv4 address, default 0.0.0.0)
 *
 * No socket options at all: its protection must come from bindguard's default class.
 * Prints "LISTENING <port>" once listening, then accepts and drops connections until
 * killed. On failure prints the failing step and strerror on stderr and exits 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *step)
{
    fprintf(stderr, "tserver: %s: %s\n", step, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: tserver PORT [ADDR]\n");
        return 2;
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)atoi(argv[1]));
    if (inet_pton(AF_INET, argc == 3 ? argv[2] : "0.0.0.0", &sin.sin_addr) != 1) {
        fprintf(stderr, "tserver: bad address\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fail("socket");
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
        return fail("bind");
    if (listen(fd, 16) != 0)
        return fail("listen");
    printf("LISTENING %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0)
            close(c);
    }
}
