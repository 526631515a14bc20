/* tbind - a bind agent for integration tests, run under LD_PRELOAD=libbindguard.so.
 *
 *   tbind -f 4|6|d -p tcp|udp -a ADDR -P PORT [-o OPT[,OPT...]] [-l] [-c] [-h] [-q] [-r]
 *
 * -f: AF_INET, AF_INET6 with IPV6_V6ONLY=1, or AF_INET6 dual-stack (IPV6_V6ONLY=0)
 * -o: options set before bind, in order: reuseaddr (SO_REUSEADDR), reuseport
 *     (SO_REUSEPORT), exclusive (SO_EXCLUSIVEADDRUSE)
 * -l: listen after bind; -c: accept one connection after listening;
 * -h: hold the socket until standard input reaches EOF;
 * -r: race: bind on each line of standard input, close on the next, until EOF;
 * -q: after the options, print "EXCL <n>": SO_EXCLUSIVEADDRUSE as getsockopt reads it.
 * Built with TBIND_RAW (tbind-static: -static, raw system calls), no library anywhere can
 * see its calls: only the kernel (backend) judges them.
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

#ifdef TBIND_RAW
#include <sys/syscall.h>
#define socket(d, t, p)           ((int)syscall(SYS_socket, d, t, p))
#define setsockopt(f, l, n, v, s) ((int)syscall(SYS_setsockopt, f, l, n, v, s))
#define getsockopt(f, l, n, v, s) ((int)syscall(SYS_getsockopt, f, l, n, v, s))
#define bind(f, a, l)             ((int)syscall(SYS_bind, f, a, l))
#define listen(f, b)              ((int)syscall(SYS_listen, f, b))
#endif

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

struct spec {
    char fam;
    const char *proto, *addr, *opts;
    int port, listen, query;
};

/* socket, options, bind (and listen): prints "OK <port>" and returns the socket, or
 * prints "ERR ..." and returns -1. */
static int attempt(const struct spec *a)
{
    int tcp = strcmp(a->proto, "tcp") == 0;
    int family = a->fam == '4' ? AF_INET : AF_INET6;
    int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        return fail("socket") - 1;
    if (family == AF_INET6) {
        int v6only = a->fam == '6';
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
            return fail("setsockopt") - 1;
    }
    char opts[128];
    snprintf(opts, sizeof opts, "%s", a->opts ? a->opts : "");
    for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ","))
        if (set_opt(fd, tok) != 0)
            return fail("setsockopt") - 1;
    if (a->query) {
        int v = -1;
        socklen_t vl = sizeof v;
        if (getsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &vl) != 0)
            return fail("getsockopt") - 1;
        printf("EXCL %d\n", v);
        fflush(stdout);
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)a->port);
        if (inet_pton(AF_INET, a->addr, &sin->sin_addr) != 1)
            exit(1);
        len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)a->port);
        if (inet_pton(AF_INET6, a->addr, &sin6->sin6_addr) != 1)
            exit(1);
        len = sizeof *sin6;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        fail("bind");
        close(fd);
        return -1;
    }
    if (tcp && a->listen && listen(fd, 16) != 0)
        return fail("listen") - 1;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
    printf("OK %d\n", bound);
    fflush(stdout);
    return fd;
}

/* -r: on each line of stdin, bind; on the next, close ("C"); until EOF. */
static int race(const struct spec *a)
{
    char line[16];
    int fd = -1;
    for (int n = 0; fgets(line, sizeof line, stdin); n++) {
        if (n % 2 == 0) {
            fd = attempt(a);
            continue;
        }
        if (fd >= 0)
            close(fd);
        fd = -1;
        printf("C\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct spec a = { .fam = '4', .proto = "tcp" };
    int do_accept = 0, do_hold = 0, do_race = 0, c;
    while ((c = getopt(argc, argv, "f:p:a:P:o:lchqr")) != -1) {
        switch (c) {
        case 'f': a.fam = optarg[0]; break;
        case 'p': a.proto = optarg; break;
        case 'a': a.addr = optarg; break;
        case 'P': a.port = atoi(optarg); break;
        case 'o': a.opts = optarg; break;
        case 'l': a.listen = 1; break;
        case 'c': do_accept = 1; break;
        case 'h': do_hold = 1; break;
        case 'q': a.query = 1; break;
        case 'r': do_race = 1; break;
        default: return 1;
        }
    }
    if (!a.addr)
        return 1;
    if (do_race)
        return race(&a);
    int fd = attempt(&a);
    if (fd < 0)
        return 0;
    if (strcmp(a.proto, "tcp") == 0 && do_accept) {
        int conn = accept(fd, NULL, NULL);
        if (conn >= 0) {
            printf("ACCEPTED\n");
            fflush(stdout);
        }
    }
    if (do_hold)
        hold();
    return 0;
}
