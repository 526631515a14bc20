/* tbind - a bind agent for integration tests, run under LD_PRELOAD=libbindguard.so.
 *
 *   tbind -f 4|6|d -p tcp|udp -a ADDR -P PORT [-o OPT[,OPT...]] [-l] [-c] [-h]
 *
 * -f: AF_INET, AF_INET6 with IPV6_V6ONLY=1, or AF_INET6 dual-stack (IPV6_V6ONLY=0)
 * -o: options set before bind, in order: reuseaddr (SO_REUSEADDR), reuseport
 *     (SO_REUSEPORT), exclusive (SO_EXCLUSIVEADDRUSE)
 * -l: listen after bind; -c: accept one connection after listening;
 * -h: hold the socket until standard input reaches EOF.
 * Prints one line: "OK <port>" or "ERR <ERRNO-NAME> <step>", then exits 0 (1 on usage). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindguard.h"

static const char *errname(int e)
{
    switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPERM: return "EPERM";
    default: return "EOTHER";
    }
}

static int fail(const char *step)
{
    printf("ERR %s %s\n", errname(errno), step);
    fflush(stdout);
    return 0;
}

static int set_opt(int fd, const char *name)
{
    int on = 1;
    int opt = strcmp(name, "reuseaddr") == 0   ? SO_REUSEADDR
              : strcmp(name, "reuseport") == 0 ? SO_REUSEPORT
              : strcmp(name, "exclusive") == 0 ? SO_EXCLUSIVEADDRUSE
                                               : 0;
    if (!opt) {
        fprintf(stderr, "tbind: unknown option %s\n", name);
        exit(1);
    }
    return setsockopt(fd, SOL_SOCKET, opt, &on, sizeof on);
}

static void hold(void)
{
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
}

int main(int argc, char **argv)
{
    char fam = '4', *opts = NULL;
    const char *proto = "tcp", *addr = NULL;
    int port = 0, do_listen = 0, do_accept = 0, do_hold = 0, c;
    while ((c = getopt(argc, argv, "f:p:a:P:o:lch")) != -1) {
        switch (c) {
        case 'f': fam = optarg[0]; break;
        case 'p': proto = optarg; break;
        case 'a': addr = optarg; break;
        case 'P': port = atoi(optarg); break;
        case 'o': opts = optarg; break;
        case 'l': do_listen = 1; break;
        case 'c': do_accept = 1; break;
        case 'h': do_hold = 1; break;
        default: return 1;
        }
    }
    if (!addr)
        return 1;
    int tcp = strcmp(proto, "tcp") == 0;
    int family = fam == '4' ? AF_INET : AF_INET6;
    int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        return fail("socket");
    if (family == AF_INET6) {
        int v6only = fam == '6';
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
            return fail("setsockopt");
    }
    for (char *tok = opts ? strtok(opts, ",") : NULL; tok; tok = strtok(NULL, ","))
        if (set_opt(fd, tok) != 0)
            return fail("setsockopt");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
            return 1;
        len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
            return 1;
        len = sizeof *sin6;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        return fail("bind");
    if (tcp && do_listen && listen(fd, 16) != 0)
        return fail("listen");
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
    printf("OK %d\n", bound);
    fflush(stdout);
    if (tcp && do_accept) {
        int conn = accept(fd, NULL, NULL);
        if (conn >= 0) {
            printf("ACCEPTED\n");
            fflush(stdout);
        }
        if (do_hold)
            hold();
        return 0;
    }
    if (do_hold)
        hold();
    return 0;
}
