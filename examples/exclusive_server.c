/* exclusive_server - a TCP server that asks for its port exclusively, Windows-style.
 *
 *   cc -o exclusive_server exclusive_server.c $(pkg-config --cflags bindguard)
 *   bindguard run -- ./exclusive_server 8080
 *
 * SO_EXCLUSIVEADDRUSE comes from <bindguard.h>. Under bindguard the socket is then
 * "exclusive" by the program's own choice (bindguard list --json shows "explicit": true),
 * and after it accepted connections and closed, its port stays protected while those
 * connections live. Without bindguard the kernel rejects the option (ENOPROTOOPT), so
 * the program knows it runs unprotected instead of finding out later. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bindguard.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one) != 0) {
        if (errno == ENOPROTOOPT)
            fprintf(stderr, "SO_EXCLUSIVEADDRUSE is not available: run me under bindguard "
                            "(bindguard run -- %s %s)\n", argv[0], argv[1]);
        else
            perror("setsockopt(SO_EXCLUSIVEADDRUSE)");
        return 1;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        /* Under bindguard the log line before this one names who holds the port. */
        perror("bind");
        return 1;
    }
    if (listen(fd, 16) != 0) {
        perror("listen");
        return 1;
    }
    printf("listening on port %s, exclusively\n", argv[1]);
    fflush(stdout);
    /* Serve until standard input closes: enough for an example. */
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    close(fd);
    return 0;
}
