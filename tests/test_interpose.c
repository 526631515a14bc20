/* test_interpose - libbindguard.so in front of real processes.
 *
 * Every judged call here happens in a child process under LD_PRELOAD, with a private
 * table and log per test: either a real program (tbind, tserver, python3, socat) or this
 * very binary re-executed as `test_interpose --child SCENARIO ARGS...`, which runs one
 * scenario and exits 0, or 1 after saying on stderr what it did not like. The Check side
 * never loads the shim, so it can also run the same scenario natively and compare. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bg_config.h"
#include "bindguard.h"
#include "harness.h"
#include "proc.h"
#include "own.h"
#include "table.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define WAIT_MS       10000u  /* any single step of a child; only a hang comes near it */
#define START_MS      15000u  /* a real server coming up (python is slow to start) */
#define TABLE_SLOTS   1024u
#define RACE_ROUNDS   1000
#define SIGCLOSE_MS   1500
#define MCAST_GROUP   "239.255.0.1"

static int bind_to(int fd, const char *ip, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = proc_sockaddr(ip, port, &ss);
    return bind(fd, (struct sockaddr *)&ss, len);
}

/* Multicast receivers share their port with SO_REUSEADDR, as real ones do. Used by the
 * scenario under the shim and, natively, by the probe that decides whether to skip. */
static int mcast_receiver(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    struct ip_mreq m;
    memset(&m, 0, sizeof m);
    inet_pton(AF_INET, MCAST_GROUP, &m.imr_multiaddr);
    inet_pton(AF_INET, "127.0.0.1", &m.imr_interface);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind_to(fd, "0.0.0.0", port) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static bool recv_within(int fd, int ms, char *buf, size_t len)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return false;
    ssize_t n = recv(fd, buf, len - 1, 0);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* ===== scenarios: the child side, usually under the shim =============================== */

static int failures;

static void expect_failed(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect_failed(int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "test_interpose.c:%d: ", line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

#define EXPECT(cond, ...) ((cond) ? (void)0 : expect_failed(__LINE__, __VA_ARGS__))

/* How a call came out, in the words scenarios print and compare: "ok" or errno's name. */
static const char *outcome(long r)
{
    if (r >= 0)
        return "ok";
    const char *name = strerrorname_np(errno);
    return name ? name : "E?";
}

#define EXPECT_OUTCOME(call, want)                                                     \
    do {                                                                               \
        const char *got_ = outcome((long)(call));                                      \
        EXPECT(strcmp(got_, (want)) == 0, "%s: %s, want %s", #call, got_, (want));     \
    } while (0)

static void wait_eof(void)
{
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
}

/* Say `word`, then wait for the test's go-ahead line. */
static void step(const char *word)
{
    proc_child_say("%s", word);
    char c;
    while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
        ;
}

/* "reuseaddr", "reuseport" or "exclusive", with "=VALUE" (default 1). */
static int set_named_opt(int fd, const char *spec)
{
    static const struct {
        const char *name;
        int opt;
    } names[] = {{"reuseaddr", SO_REUSEADDR}, {"reuseport", SO_REUSEPORT},
                 {"exclusive", SO_EXCLUSIVEADDRUSE}};
    size_t n = strcspn(spec, "=");
    int value = spec[n] ? atoi(spec + n + 1) : 1, opt = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && strncmp(spec, names[i].name, n) == 0)
            opt = names[i].opt;
    EXPECT(opt != 0, "unknown option %s", spec);
    return setsockopt(fd, SOL_SOCKET, opt, &value, sizeof value);
}

/* An IPv4 socket of `proto` ("tcp"/"udp") with the comma-separated options all set;
 * "-" for none. */
static int socket_with(const char *proto, const char *opts)
{
    int fd = socket(AF_INET, strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    EXPECT(fd >= 0, "socket: %s", strerror(errno));
    char list[128];
    snprintf(list, sizeof list, "%s", strcmp(opts, "-") == 0 ? "" : opts);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        EXPECT_OUTCOME(set_named_opt(fd, tok), "ok");
    return fd;
}

/* opts PROTO LIST WANT: LIST's options in order on a fresh socket; all but the last
 * must succeed, the last must come out as WANT. */
static void scn_opts(char **a)
{
    int fd = socket(AF_INET, strcmp(a[0], "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    char *save = NULL;
    char *tok = strtok_r(a[1], ",", &save);
    while (tok) {
        char *next = strtok_r(NULL, ",", &save);
        const char *want = next ? "ok" : a[2];
        const char *got = outcome(set_named_opt(fd, tok));
        EXPECT(strcmp(got, want) == 0, "%s %s: %s, want %s", a[0], tok, got, want);
        tok = next;
    }
    close(fd);
}

static int exclusive_value(int fd)
{
    int v = -7;
    socklen_t len = sizeof v;
    EXPECT_OUTCOME(getsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &len), "ok");
    EXPECT(len == sizeof v, "getsockopt length %u", (unsigned)len);
    return v;
}

/* readback: any non-zero int turns SO_EXCLUSIVEADDRUSE on, and it reads back as 0 or 1,
 * as a Windows BOOL option does. */
static void scn_readback(char **a)
{
    (void)a;
    static const int values[] = {42, 0, -1, 1, 0, 0x10000};
    static const char *const protos[] = {"tcp", "udp"};
    for (size_t p = 0; p < 2; p++) {
        int fd = socket_with(protos[p], "-");
        EXPECT(exclusive_value(fd) == 0, "%s: on before being set", protos[p]);
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            EXPECT_OUTCOME(setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &values[i],
                                      sizeof values[i]), "ok");
            int got = exclusive_value(fd);
            EXPECT(got == (values[i] != 0), "%s: set %d, read %d", protos[p], values[i], got);
        }
        close(fd);
    }
}

/* after_bind PORT1 PORT2, under BINDGUARD_DEFAULT=windows. A same-user specific bind
 * beside a default wildcard succeeds, beside an exclusive one it is EACCES (seed 000).
 * Set after bind, the option is accepted but must not turn the first kind into the
 * second: "to have any effect" it "must be set before bind" (seed 001). Both sockets
 * carry SO_REUSEADDR so that only bindguard, never the kernel, can refuse. */
static void scn_after_bind(char **a)
{
    int late = socket_with("tcp", "reuseaddr");
    EXPECT_OUTCOME(bind_to(late, "0.0.0.0", atoi(a[0])), "ok");
    EXPECT_OUTCOME(set_named_opt(late, "exclusive"), "ok");
    EXPECT(exclusive_value(late) == 1, "set after bind does not read back");
    int beside_late = socket_with("tcp", "reuseaddr");
    EXPECT_OUTCOME(bind_to(beside_late, "127.0.0.1", atoi(a[0])), "ok");

    int early = socket_with("tcp", "reuseaddr,exclusive");
    EXPECT_OUTCOME(bind_to(early, "0.0.0.0", atoi(a[1])), "ok");
    int beside_early = socket_with("tcp", "reuseaddr");
    EXPECT_OUTCOME(bind_to(beside_early, "127.0.0.1", atoi(a[1])), "EACCES");
}

/* The socket the holding scenarios below give away, from their common arguments
 * PROTO OPTS LISTEN PORT: bound to 127.0.0.1:PORT, listening if LISTEN is 1. */
static int bound_socket(char **a)
{
    int fd = socket_with(a[0], a[1]);
    EXPECT_OUTCOME(bind_to(fd, "127.0.0.1", atoi(a[3])), "ok");
    if (atoi(a[2]))
        EXPECT_OUTCOME(listen(fd, 8), "ok");
    return fd;
}

/* hold_fork PROTO OPTS LISTEN PORT: fork; the parent closes its descriptor at once and
 * says "HELD <child pid>"; both hold on until stdin closes. hold__Fork: the same with
 * glibc's _Fork, which runs no atfork handlers. */
static void hold_forked(char **a, pid_t (*make_child)(void))
{
    int fd = bound_socket(a);
    pid_t child = make_child();
    if (child == 0) {
        wait_eof();
        _exit(0);
    }
    EXPECT(child > 0, "fork: %s", strerror(errno));
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    wait_eof();
    waitpid(child, NULL, 0);
}

static void scn_hold_fork(char **a)
{
    hold_forked(a, fork);
}

static void scn_hold__Fork(char **a)
{
#ifdef HAVE__FORK
    hold_forked(a, _Fork);
#else
    hold_forked(a, fork);  /* not run: no _Fork in this libc */
#endif
}

/* hold_pass PROTO OPTS LISTEN PORT: send the socket over a UNIX socket to a child made
 * beforehand (so fork itself marks nothing), close it once the child has it, and say
 * "HELD <child pid>"; both hold on until stdin closes. */
static void scn_hold_pass(char **a)
{
    int sv[2];
    char byte = 0;
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    union {
        struct cmsghdr h;
        char room[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.room,
                       .msg_controllen = sizeof ctl.room};
    pid_t child = fork();
    if (child == 0) {
        /* Say "got it" only once the descriptor is ours, so the holder is findable. */
        if (recvmsg(sv[1], &m, 0) == 1 && write(sv[1], &byte, 1) == 1)
            wait_eof();
        _exit(0);
    }
    EXPECT(child > 0, "fork: %s", strerror(errno));
    int fd = bound_socket(a);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fd);
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    EXPECT_OUTCOME(sendmsg(sv[0], &m, 0), "ok");
    EXPECT(read(sv[0], &byte, 1) == 1, "the child did not take the socket");
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    wait_eof();
    waitpid(child, NULL, 0);
}

/* hold_exec PROTO OPTS LISTEN PORT: exec this program again as held_fd, which holds a
 * socket its own shim never saw being made. */
static void scn_hold_exec(char **a)
{
    bound_socket(a);
    fflush(NULL);
    execl("/proc/self/exe", "test_interpose", "--child", "held_fd", (char *)NULL);
    EXPECT(0, "exec: %s", strerror(errno));
}

/* hold_spawn PROTO OPTS LISTEN PORT: posix_spawn a child that inherits the socket (it is
 * open across exec), close it here, say "HELD <child pid>"; both hold on until stdin
 * closes. */
static pid_t spawn_quiet_child(void)
{
    char *argv[] = {"test_interpose", "--child", "held_quietly", NULL};
    pid_t child = -1;
    fflush(NULL);
    int r = posix_spawn(&child, "/proc/self/exe", NULL, NULL, argv, environ);
    EXPECT(r == 0, "posix_spawn: %s", strerror(r));
    return child;
}

static void scn_hold_spawn(char **a)
{
    int fd = bound_socket(a);
    pid_t child = spawn_quiet_child();
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    wait_eof();
    waitpid(child, NULL, 0);
}

/* spawn_cloexec PORT: the same with a close-on-exec socket, which the child cannot
 * inherit: the close here is its last, "CLOSED". */
static void scn_spawn_cloexec(char **a)
{
    char *args[] = {"tcp", "reuseaddr", "0", a[0]};
    int fd = bound_socket(args);
    EXPECT(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0, "FD_CLOEXEC: %s", strerror(errno));
    pid_t child = spawn_quiet_child();
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("CLOSED");
    wait_eof();
    waitpid(child, NULL, 0);
}

static void scn_held_quietly(char **a)
{
    (void)a;
    wait_eof();
}

/* held_fd: says "HELD <pid>" and holds on to whatever it inherited until stdin closes. */
static void scn_held_fd(char **a)
{
    (void)a;
    proc_child_say("HELD %d", (int)getpid());
    wait_eof();
}

/* This file is built with _FILE_OFFSET_BITS=64, so its fcntl() calls fcntl64; programs
 * built without it call plain fcntl, which bindguard wraps on its own. */
static int plain_fcntl(int fd, int cmd, int arg)
{
    int (*f)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_DEFAULT, "fcntl");
    EXPECT(f != NULL, "no fcntl: %s", dlerror());
    return f ? f(fd, cmd, arg) : -1;
}

/* dups METHOD PORT: a second descriptor of a bound socket made by METHOD; the first one
 * goes, "HOLD"; on the go-ahead the last one goes the METHOD's way, "FREE". */
static void scn_dups(char **a)
{
    const char *m = a[0];
    int fd = socket_with("tcp", "reuseaddr");
    EXPECT_OUTCOME(bind_to(fd, "127.0.0.1", atoi(a[1])), "ok");
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int d = strcmp(m, "dup2") == 0              ? dup2(fd, 100)
            : strcmp(m, "dup3") == 0            ? dup3(fd, 101, O_CLOEXEC)
            : strcmp(m, "F_DUPFD") == 0         ? plain_fcntl(fd, F_DUPFD, 200)
            : strcmp(m, "F_DUPFD_CLOEXEC") == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 300)
                                                : dup(fd);
    EXPECT(d >= 0 && devnull >= 0, "%s: %s", m, strerror(errno));
    /* Marking for close-on-exec closes nothing: the entry must stay. */
    if (strcmp(m, "cloexec") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, (unsigned)d, CLOSE_RANGE_CLOEXEC), "ok");
    if (strcmp(m, "close_range") == 0)
        EXPECT_OUTCOME(close_range((unsigned)fd, (unsigned)fd, 0), "ok");
    else
        EXPECT_OUTCOME(close(fd), "ok");
    step("HOLD");
    if (strcmp(m, "dup2") == 0)
        EXPECT_OUTCOME(dup2(devnull, d), "ok");
    else if (strcmp(m, "dup3") == 0)
        EXPECT_OUTCOME(dup3(devnull, d, 0), "ok");
    else if (strcmp(m, "F_DUPFD_CLOEXEC") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, (unsigned)d, 0), "ok");
    else if (strcmp(m, "close_range") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, ~0u, 0), "ok");
    else if (strcmp(m, "closefrom") == 0)
        closefrom(d);
    else
        EXPECT_OUTCOME(close(d), "ok");
    step("FREE");
}

#define SA(x) ((struct sockaddr *)&(x))
#define REPORT(call) proc_child_say("%s %s", #call, outcome((long)(call)))
/* libc leaves errno alone on success; a wrapper doing bookkeeping must too. */
#define KEPT(call)                                                                     \
    do {                                                                               \
        errno = EDOM;                                                                  \
        long r_ = (long)(call);                                                        \
        const char *e_ = strerrorname_np(errno);                                       \
        proc_child_say("%s %s errno=%s", #call, r_ >= 0 ? "ok" : "failed", e_ ? e_ : "?");        \
    } while (0)

/* errnos PORT PORT2: one line per call, compared by the test between a native run and a
 * run under the shim. Most are calls bindguard must not judge (bad descriptors and
 * addresses, non-inet sockets, sockets bound already); PORT is held while the last
 * kind is tried on it, so a judged call would show up as EADDRINUSE. */
static void scn_errnos(char **a)
{
    union { struct sockaddr_storage ss; char room[256]; } lo4, lo6, at_port, at_port2,
        unspec_lo, unspec_any, peer;
    /* Both are also passed with a length beyond the sockaddr_storage part. */
    memset(&lo4, 0, sizeof lo4);
    memset(&at_port, 0, sizeof at_port);
    socklen_t l4 = proc_sockaddr("127.0.0.1", 0, &lo4.ss);
    socklen_t l6 = proc_sockaddr("::1", 0, &lo6.ss);
    proc_sockaddr("127.0.0.1", atoi(a[0]), &at_port.ss);
    proc_sockaddr("127.0.0.1", atoi(a[1]), &at_port2.ss);
    proc_sockaddr("127.0.0.1", 0, &unspec_lo.ss);
    unspec_lo.ss.ss_family = AF_UNSPEC;
    proc_sockaddr("0.0.0.0", 0, &unspec_any.ss);
    unspec_any.ss.ss_family = AF_UNSPEC;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* Far above anything this process opens, so no later call reuses the number. */
    int closed = 1000;
    close(closed);
    int pfd[2];
    EXPECT(pipe(pfd) == 0, "pipe: %s", strerror(errno));
    int t4 = socket(AF_INET, SOCK_STREAM, 0), t6 = socket(AF_INET6, SOCK_STREAM, 0);
    int u4 = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, v = 0;
    socklen_t vl = sizeof v;

    REPORT(bind(-1, SA(lo4), l4));
    REPORT(bind(closed, SA(lo4), l4));
    REPORT(bind(devnull, SA(lo4), l4));
    REPORT(bind(pfd[0], SA(lo4), l4));
    REPORT(bind(t4, NULL, l4));
    REPORT(bind(t4, SA(lo4), l4 - 1));
    REPORT(bind(t4, SA(lo4), 0));
    REPORT(bind(t4, SA(lo4), sizeof(struct sockaddr_storage) + 1));
    REPORT(bind(t4, SA(lo6), l6));
    REPORT(bind(t4, SA(unspec_lo), l4));
    REPORT(bind(t6, SA(lo4), l4));
    REPORT(bind(t6, SA(lo4), l6));
    REPORT(bind(t6, NULL, l6));
    REPORT(bind(u4, SA(lo6), l6));
    REPORT(bind(u4, SA(unspec_any), l4));

    REPORT(bind(t4, SA(at_port), l4));
    REPORT(bind(t4, SA(at_port), l4));
    REPORT(bind(t4, SA(lo4), l4));
    int t4b = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(bind(t4b, SA(at_port), sizeof(struct sockaddr_storage) + 1));
    int lsn = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(listen(lsn, 4));
    REPORT(bind(lsn, SA(at_port), l4));
    socklen_t pl = sizeof peer;
    getsockname(lsn, SA(peer), &pl);
    int conn = socket(AF_INET, SOCK_STREAM, 0);
    REPORT(connect(conn, SA(peer), pl));
    REPORT(bind(conn, SA(at_port), l4));
    int uheld = socket(AF_INET, SOCK_DGRAM, 0), uconn = socket(AF_INET, SOCK_DGRAM, 0);
    int usent = socket(AF_INET, SOCK_DGRAM, 0);
    REPORT(bind(uheld, SA(at_port), l4));
    REPORT(connect(uconn, SA(peer), pl));
    REPORT(bind(uconn, SA(at_port), l4));
    REPORT(sendto(usent, "x", 1, 0, SA(peer), pl));
    REPORT(bind(usent, SA(at_port), l4));

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int nlen = snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "bg-ipose-%d", (int)getpid());
    socklen_t ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)nlen);
    int un = socket(AF_UNIX, SOCK_STREAM, 0), un2 = socket(AF_UNIX, SOCK_STREAM, 0);
    REPORT(bind(un, SA(sun), ul));
    REPORT(bind(un, SA(sun), ul));
    REPORT(bind(un2, SA(sun), ul));
    REPORT(bind(un2, SA(lo4), l4));
    REPORT(setsockopt(un2, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
    int nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    REPORT(bind(nl, SA(snl), sizeof snl));
    REPORT(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));

    REPORT(setsockopt(devnull, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    REPORT(setsockopt(closed, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one));
    REPORT(getsockopt(devnull, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &vl));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof one));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEADDR, &one, 1));
    REPORT(setsockopt(u4, SOL_SOCKET, SO_REUSEPORT, NULL, sizeof one));
    REPORT(getsockopt(u4, SOL_SOCKET, SO_REUSEADDR, NULL, &vl));

    REPORT(dup(-1));
    REPORT(dup(closed));
    REPORT(dup2(closed, 50));
    REPORT(dup2(t4, t4));
    REPORT(dup3(t4, t4, 0));
    REPORT(dup3(devnull, 60, -1));
    REPORT(fcntl(closed, F_DUPFD, 0));
    REPORT(fcntl(devnull, F_DUPFD, -1));
    REPORT(close_range(5, 3, 0));
    REPORT(close_range(900, 901, 0x7f0));
    REPORT(close(-1));
    REPORT(close(closed));
    REPORT(close(pfd[1]));
    REPORT(close(pfd[1]));
    REPORT(close(un));
    REPORT(close(t4));
    REPORT(close(t4));

    int k = -1, kd = -1, ku = -1;
    KEPT(k = socket(AF_INET, SOCK_STREAM, 0));
    KEPT(setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    KEPT(getsockopt(k, SOL_SOCKET, SO_REUSEADDR, &v, &vl));
    KEPT(bind(k, SA(at_port2), l4));
    KEPT(listen(k, 4));
    KEPT(kd = dup(k));
    KEPT(close(kd));
    KEPT(close(k));
    KEPT(ku = socket(AF_INET, SOCK_DGRAM, 0));
    KEPT(bind(ku, SA(lo4), l4));
    KEPT(close(ku));
}

/* race PORT: per 'b' from the test, bind an exclusive socket to 127.0.0.1:PORT and say
 * how it went; per 'c', close it and say "closed". SO_REUSEADDR on both racers means the
 * kernel would let both in: exactly one winner per round is bindguard's doing. */
static void scn_race(char **a)
{
    int port = atoi(a[0]);
    char cmd;
    while (read(STDIN_FILENO, &cmd, 1) == 1 && cmd == 'b') {
        int fd = socket_with("tcp", "reuseaddr,exclusive");
        proc_child_say("%s", outcome(bind_to(fd, "127.0.0.1", port)));
        if (read(STDIN_FILENO, &cmd, 1) != 1)
            break;
        close(fd);
        proc_child_say("closed");
    }
}

/* mcast PORT: a receiver sharing PORT; says "READY", then what arrived. */
static void scn_mcast(char **a)
{
    int fd = mcast_receiver(atoi(a[0]));
    EXPECT(fd >= 0, "receiver: %s", strerror(errno));
    proc_child_say("READY");
    char buf[64];
    if (fd >= 0 && recv_within(fd, (int)WAIT_MS / 2, buf, sizeof buf))
        proc_child_say("GOT %s", buf);
    else
        proc_child_say("TIMEOUT");
}

/* The handler closes whatever tracked socket the main loop left it, at any point of
 * that loop, including while the main thread is inside bindguard holding the table lock. */
static atomic_int victim = -1;
static atomic_int signals_seen;

static void close_victim(int sig)
{
    (void)sig;
    int fd = atomic_exchange(&victim, -1);
    if (fd >= 0)
        close(fd);
    atomic_fetch_add(&signals_seen, 1);
}

/* sigclose PORT1 PORT2: bind/listen/close in a loop on PORT1 (every 16th round also a
 * refused second bind, for the denial path) while SIGALRM every 100 µs closes a socket
 * bound to PORT2. Says "DONE <rounds> <signals>". */
static void scn_sigclose(char **a)
{
    int p1 = atoi(a[0]), p2 = atoi(a[1]);
    struct sigaction sa = {.sa_handler = close_victim, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 100}, {0, 100}}, stop = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &every, NULL);
    long rounds = 0;
    for (int64_t end = proc_now_ms() + SIGCLOSE_MS; proc_now_ms() < end && !failures; rounds++) {
        int v = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_OUTCOME(bind_to(v, "127.0.0.1", p2), "ok");
        EXPECT_OUTCOME(listen(v, 1), "ok");
        atomic_store(&victim, v);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_OUTCOME(bind_to(s, "127.0.0.1", p1), "ok");
        EXPECT_OUTCOME(listen(s, 1), "ok");
        if (rounds % 16 == 0) {
            int second = socket(AF_INET, SOCK_STREAM, 0);
            EXPECT_OUTCOME(bind_to(second, "127.0.0.1", p1), "EADDRINUSE");
            close(second);
        }
        close(s);
        int left = atomic_exchange(&victim, -1);
        if (left >= 0)
            close(left);
    }
    setitimer(ITIMER_REAL, &stop, NULL);
    proc_child_say("DONE %ld %d", rounds, atomic_load(&signals_seen));
}

/* netns PORT OTHER HOW: bind OTHER here (bindguard caches this namespace's key), move to
 * a new network namespace with lo up -- through libc's unshare(), or HOW=raw with the bare
 * system call bindguard never sees -- then bind 127.0.0.1:PORT exclusively there. */
static void scn_netns(char **a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_OUTCOME(bind_to(fd, "127.0.0.1", atoi(a[1])), "ok");
    if (strcmp(a[2], "raw") == 0)
        EXPECT_OUTCOME(syscall(SYS_unshare, CLONE_NEWNET), "ok");
    else
        EXPECT_OUTCOME(unshare(CLONE_NEWNET), "ok");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    EXPECT_OUTCOME(ioctl(ctl, SIOCSIFFLAGS, &ifr), "ok");
    int other = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(other, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one);
    EXPECT_OUTCOME(bind_to(other, "127.0.0.1", atoi(a[0])), "ok");
    proc_child_say("BOUND");
}

/* Connections accepted on listener fd right now (it is non-blocking). */
static int drain(int fd)
{
    int n = 0, c;
    while ((c = accept(fd, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

static void connect_n(int port, int n)
{
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_storage ss;
        socklen_t len = proc_sockaddr("127.0.0.1", port, &ss);
        EXPECT(connect(c, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
        close(c);
    }
    usleep(50000);  /* let the handshakes land in the accept queues */
}

/* first_listener PORT: two sharing listeners on one port (emulate mode); 40 connections,
 * then the first closes and 10 more. Says "COUNTS <first> <second> <second after>". */
static void scn_first_listener(char **a)
{
    int port = atoi(a[0]), one = 1, fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        EXPECT_OUTCOME(bind_to(fds[i], "127.0.0.1", port), "ok");
        EXPECT_OUTCOME(listen(fds[i], 64), "ok");
    }
    connect_n(port, 40);
    int first = drain(fds[0]), second = drain(fds[1]);
    close(fds[0]);
    connect_n(port, 10);
    proc_child_say("COUNTS %d %d %d", first, second, drain(fds[1]));
    close(fds[1]);
}

static const struct {
    const char *name;
    int nargs;
    void (*run)(char **args);
} scenarios[] = {
    {"opts", 3, scn_opts},         {"readback", 0, scn_readback},
    {"after_bind", 2, scn_after_bind}, {"hold_fork", 4, scn_hold_fork},
    {"hold__Fork", 4, scn_hold__Fork},
    {"dups", 2, scn_dups},         {"errnos", 2, scn_errnos},
    {"race", 1, scn_race},         {"mcast", 1, scn_mcast},
    {"sigclose", 2, scn_sigclose}, {"hold_pass", 4, scn_hold_pass},
    {"hold_exec", 4, scn_hold_exec}, {"held_fd", 0, scn_held_fd},
    {"hold_spawn", 4, scn_hold_spawn}, {"held_quietly", 0, scn_held_quietly},
    {"spawn_cloexec", 1, scn_spawn_cloexec},
    {"first_listener", 1, scn_first_listener}, {"netns", 3, scn_netns},
};

static int run_child(const char *name, int argc, char **args)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(scenarios[i].name, name) != 0)
            continue;
        if (argc != scenarios[i].nargs) {
            fprintf(stderr, "scenario %s takes %d arguments\n", name, scenarios[i].nargs);
            return 2;
        }
        scenarios[i].run(args);
        fflush(stdout);
        return failures ? 1 : 0;
    }
    fprintf(stderr, "no scenario %s\n", name);
    return 2;
}

/* ===== the test side: private table and log, child processes ========================= */

static char table_name[128], log_path[256];

static void new_table(void)
{
    if (table_name[0])
        harness_table_remove(table_name);
    harness_table_name("ipose", table_name, sizeof table_name);
}

/* How a child runs: natively, or under the shim with this test's table and log. */
#define UNDER_SHIM     .shim = true, .table = table_name, .log = log_path, .slots = TABLE_SLOTS
#define NATIVE         (&(const struct proc_how){.shim = false})
#define SHIM           (&(const struct proc_how){UNDER_SHIM})
#define SHIM_WITH(...) (&(const struct proc_how){UNDER_SHIM, .env = {__VA_ARGS__}})
#define ARGV           PROC_ARGV

static void expect_line(struct proc *p, const char *want)
{
    const char *got = proc_line(p, WAIT_MS);
    ck_assert_msg(got && strcmp(got, want) == 0, "child %d said '%s', want '%s' (stderr: %s)",
                  (int)p->pid, got ? got : "(nothing)", want, p->ebuf);
}

/* Write s to its stdin as it is (scenarios read some words a byte at a time). */
static void send_raw(struct proc *p, const char *s)
{
    ck_assert_msg(write(p->in, s, strlen(s)) == (ssize_t)strlen(s), "write to child %d: %s",
                  (int)p->pid, strerror(errno));
}

/* SIGTERM, then as proc_finish. */
static void terminate(struct proc *p)
{
    if (!p->done)
        kill(p->pid, SIGTERM);
    proc_finish(p, WAIT_MS);
}


/* Start a scenario of this binary: test_interpose --child NAME ARGS... */
static struct proc *scenario_start(const struct proc_how *h, const char *const *args)
{
    const char *argv[16] = {"self", "--child"};
    size_t n = 2;
    while (*args && n < 15)
        argv[n++] = *args++;
    return proc_spawn(h, argv);
}
#define SCENARIO_START(h, ...) scenario_start((h), ARGV(__VA_ARGS__))

/* Run a scenario to completion; it must exit 0, else its stderr says why. */
static struct proc *scenario(const struct proc_how *h, const char *const *args)
{
    struct proc *p = scenario_start(h, args);
    int st = proc_finish(p, WAIT_MS);
    char words[256] = "";
    for (size_t n = 0; *args; args++)
        n += (size_t)snprintf(words + n, n < sizeof words ? sizeof words - n : 0, "%s ", *args);
    ck_assert_msg(st == 0, "scenario %s(%s): exit %d\n%s", words,
                  h->shim ? (h->env[0] ? h->env[0] : "shim") : "native", st, p->ebuf);
    return p;
}
#define SCENARIO(h, ...) scenario((h), ARGV(__VA_ARGS__))

/* tbind with `spec` (its options, space-separated) and -P port; hold adds -h. */
static struct proc *tbind_start(const struct proc_how *h, const char *spec, int port, bool hold)
{
    char buf[256];
    const char *argv[32] = {"tbind"};
    size_t n = 1;
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok && n < 27; tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    argv[n++] = "-P";
    argv[n++] = proc_num(port);
    if (hold)
        argv[n++] = "-h";
    argv[n] = NULL;
    return proc_spawn(h, argv);
}

/* Run tbind to completion: the finished process, its one line in ->line. */
static struct proc *tbind_run(const struct proc_how *h, const char *spec, int port)
{
    struct proc *p = tbind_start(h, spec, port, false);
    const char *line = proc_line(p, WAIT_MS);
    int st = proc_finish(p, WAIT_MS);
    ck_assert_msg(line && st == 0, "tbind %s -P %d: exit %d, said '%s' (stderr: %s)", spec,
                  port, st, line ? line : "(nothing)", p->ebuf);
    return p;
}

static const char *tbind(const struct proc_how *h, const char *spec, int port)
{
    return tbind_run(h, spec, port)->line;
}

/* tbind holding its socket until we let go. */
static struct proc *tbind_hold(const struct proc_how *h, const char *spec, int port)
{
    struct proc *p = tbind_start(h, spec, port, true);
    const char *line = proc_line(p, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK ", 3) == 0, "holder tbind %s -P %d said '%s' (%s)",
                  spec, port, line ? line : "(nothing)", p->ebuf);
    return p;
}

static void let_go(struct proc *p)
{
    ck_assert_int_eq(proc_finish(p, WAIT_MS), 0);
}

static int free_port(void)
{
    int port;
    proc_free_ports(&port, 1);
    return port;
}

/* Is `port` bound (TCP: listening)? Read from /proc/net, because probing with a bind of
 * our own could take the port from the very program we wait for. */
static bool port_in_use(int proto, int port)
{
    static const char *const files[2][2] = {{"/proc/net/tcp", "/proc/net/tcp6"},
                                            {"/proc/net/udp", "/proc/net/udp6"}};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[proto == IPPROTO_UDP][i], "re");
        if (!f)
            continue;
        char line[512];
        unsigned lport, state;
        bool hit = false;
        while (!hit && fgets(line, sizeof line, f))
            hit = sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport,
                         &state) == 2 &&
                  (int)lport == port && (proto == IPPROTO_UDP || state == 0x0A);
        fclose(f);
        if (hit)
            return true;
    }
    return false;
}

static void wait_port(struct proc *p, int proto, int port)
{
    int64_t deadline = proc_now_ms() + START_MS;
    while (!port_in_use(proto, port)) {
        if (!proc_alive(p)) {
            proc_finish(p, 1000);
            ck_abort_msg("pid %d exited (%d) before binding port %d: %s", (int)p->pid,
                         p->status, port, p->ebuf);
        }
        ck_assert_msg(proc_now_ms() < deadline, "port %d not bound after %u ms", port, START_MS);
        usleep(5000);
    }
}

/* Our whole log, valid until the next call. */
static const char *log_text(void)
{
    static char *buf;
    static size_t cap;
    size_t n = 0;
    FILE *f = fopen(log_path, "re");
    for (size_t got = 1; f && got > 0; n += got) {
        if (cap - n < 4096) {
            cap = cap * 2 + 65536;
            buf = realloc(buf, cap);
            ck_assert(buf);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
    }
    if (f)
        fclose(f);
    if (!buf) {
        cap = 1;
        buf = malloc(cap);
        ck_assert(buf);
    }
    buf[n] = '\0';
    return buf;
}

static int log_lines(const char *a, const char *b)
{
    return proc_count_lines(log_text(), a, b);
}

/* Log lines that are not refusals: bindguard's own trouble (table, lock, kernel). */
static int log_trouble(void)
{
    return log_lines("bindguard: ", NULL) - log_lines("refused (", NULL);
}

/* Refusals of `port` logged, naming `holder` as the process holding it now (0: any). */
static int refusals(const char *proto, int port, pid_t holder)
{
    char what[64], who[32];
    snprintf(what, sizeof what, ":%d/%s refused", port, proto);
    snprintf(who, sizeof who, "by pid %d (", (int)holder);
    return log_lines(what, holder ? who : NULL);
}

static void assert_refusal_logged(const char *proto, int port, pid_t holder)
{
    ck_assert_msg(refusals(proto, port, holder) >= 1,
                  "no refusal of %s port %d naming pid %d in the log:\n%s", proto, port,
                  (int)holder, log_text());
}

static void assert_ok(const char *line, int port)
{
    char want[32];
    snprintf(want, sizeof want, "OK %d", port);
    ck_assert_str_eq(line, want);
}

static bool refused(const char *line)
{
    return strcmp(line, "ERR EADDRINUSE bind") == 0 || strcmp(line, "ERR EACCES bind") == 0;
}
#define assert_refused(line) ck_assert_msg(refused(line), "want a refused bind, got '%s'", (line))

/* The same result, whatever port it was on. */
static bool same_outcome(const char *a, const char *b)
{
    return (strncmp(a, "OK ", 3) == 0 && strncmp(b, "OK ", 3) == 0) || strcmp(a, b) == 0;
}

/* Hold `holder_spec` on a fresh port and run `spec` against it: the second's line. */
static const char *pair(const struct proc_how *h, const char *holder_spec, const char *spec,
                        int *port_out)
{
    int port = free_port();
    struct proc *holder = tbind_hold(h, holder_spec, port);
    const char *line = tbind(h, spec, port);
    let_go(holder);
    if (port_out)
        *port_out = port;
    return line;
}

/* The premise of the sharpest tests: Linux lets two SO_REUSEADDR TCP sockets bind the
 * same address while neither listens, so a refusal there can only be bindguard's. */
static void assert_kernel_would_share(void)
{
    int port = free_port(), one = 1, fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ck_assert_msg(bind_to(fds[i], "127.0.0.1", port) == 0, "native bind %d: %s", i,
                      strerror(errno));
    }
    close(fds[0]);
    close(fds[1]);
}

/* Live entries of this test's table, as bindguard left them. */
static size_t live_entries(void)
{
    char why[256];
    struct table *t = own_open(table_name, TABLE_SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(t, "table %s: %s", table_name, why);
    ck_assert_int_eq(table_lock(t, 1000), 0);
    size_t n = table_count(t);
    table_unlock(t);
    table_close(t);
    return n;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];
    snprintf(dir, sizeof dir, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dir, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/%s", d, prog);
        if (access(file, X_OK) == 0)
            return true;
    }
    return false;
}

static void setup(void)
{
    static unsigned n;
    table_name[0] = '\0';
    new_table();
    snprintf(log_path, sizeof log_path, "/tmp/bg-ipose-%d-%u.log", (int)getpid(), n++);
    unlink(log_path);
}

/* Whatever a test is about, bindguard must not have been in trouble meanwhile (a
 * table it could not use, a lock it could not get, a kernel it could not ask): each of
 * those quietly turns judging off, which no other assertion would notice. */
static void teardown(void)
{
    proc_kill_all();
    int trouble = log_trouble();
    char text[2048];
    snprintf(text, sizeof text, "%s", log_text());
    harness_table_remove(table_name);
    unlink(log_path);
    ck_assert_msg(trouble == 0, "bindguard logged trouble:\n%s", text);
}

/* ===== 1. the option API, inside one process ========================================= */

START_TEST(exclusive_and_sharing_exclude_each_other)
{
    SCENARIO(SHIM, "opts", "tcp", "exclusive,reuseport", "EINVAL");
    SCENARIO(SHIM, "opts", "tcp", "reuseport,exclusive", "EINVAL");
    SCENARIO(SHIM, "opts", "udp", "reuseaddr,exclusive", "EINVAL");
    SCENARIO(SHIM, "opts", "udp", "exclusive,reuseaddr", "EINVAL");
    SCENARIO(SHIM, "opts", "udp", "exclusive,reuseport", "EINVAL");
    /* TCP SO_REUSEADDR keeps its Linux meaning (TIME_WAIT reuse) unless asked not to. */
    SCENARIO(SHIM, "opts", "tcp", "reuseaddr,exclusive", "ok");
    SCENARIO(SHIM, "opts", "tcp", "exclusive,reuseaddr", "ok");
    const struct proc_how *windows = SHIM_WITH("BINDGUARD_REUSEADDR=windows");
    SCENARIO(windows, "opts", "tcp", "reuseaddr,exclusive", "EINVAL");
    SCENARIO(windows, "opts", "tcp", "exclusive,reuseaddr", "EINVAL");
    /* Turning sharing off again lifts the conflict. */
    SCENARIO(SHIM, "opts", "tcp", "reuseport,reuseport=0,exclusive", "ok");
}
END_TEST

START_TEST(exclusive_reads_back_as_bool)
{
    SCENARIO(SHIM, "readback");
}
END_TEST

START_TEST(profiles_without_or_with_restricted_exclusive)
{
    static const char *const win9x[] = {"BINDGUARD_PROFILE=win95", "BINDGUARD_PROFILE=win98",
                                        "BINDGUARD_PROFILE=winme"};
    for (size_t i = 0; i < 3; i++)
        SCENARIO(SHIM_WITH(win9x[i]), "opts", "tcp", "exclusive", "ENOPROTOOPT");
    if (!harness_is_root()) {
        SCENARIO(SHIM_WITH("BINDGUARD_PROFILE=xp"), "opts", "tcp", "exclusive", "EACCES");
        printf("SKIP xp profile as root and ws2003 as nobody: not running as root\n");
        return;
    }
    SCENARIO(SHIM_WITH("BINDGUARD_PROFILE=xp"), "opts", "tcp", "exclusive", "ok");
    const struct proc_how *xp_nobody =
        &(const struct proc_how){UNDER_SHIM, .as_nobody = true, .env = {"BINDGUARD_PROFILE=xp"}};
    SCENARIO(xp_nobody, "opts", "tcp", "exclusive", "EACCES");
    const struct proc_how *nobody = &(const struct proc_how){UNDER_SHIM, .as_nobody = true};
    SCENARIO(nobody, "opts", "tcp", "exclusive", "ok");
}
END_TEST

START_TEST(set_after_bind_keeps_the_class)
{
    int ports[2];
    proc_free_ports(ports, 2);
    SCENARIO(SHIM_WITH("BINDGUARD_DEFAULT=windows"), "after_bind", proc_num(ports[0]),
             proc_num(ports[1]));
}
END_TEST

START_TEST(without_the_shim_exclusive_fails_loudly)
{
    SCENARIO(NATIVE, "opts", "tcp", "exclusive", "ENOPROTOOPT");
    SCENARIO(NATIVE, "opts", "udp", "exclusive", "ENOPROTOOPT");
}
END_TEST

/* ===== 2. unmodified programs ========================================================= */

/* Start argv under the shim twice on `port`: the first must come up, the second must
 * fail, and our log must name the first's pid (the program's own message says only that
 * the address is in use; the log line says it was bindguard, and against whom). */
static void second_copy_refused(const char *const *argv, int proto, int port)
{
    struct proc *first = proc_spawn(SHIM, argv);
    wait_port(first, proto, port);
    struct proc *second = proc_spawn(SHIM, argv);
    int st = proc_finish(second, WAIT_MS);
    ck_assert_msg(st > 0 && strstr(second->ebuf, strerror(EADDRINUSE)),
                  "%s: second copy exited %d (stderr: %s)", argv[0], st, second->ebuf);
    assert_refusal_logged(proto == IPPROTO_TCP ? "tcp" : "udp", port, first->pid);
    ck_assert_msg(proc_alive(first) && port_in_use(proto, port), "%s: first copy lost its port",
                  argv[0]);
    terminate(first);
}

START_TEST(tserver_twice)
{
    int port = free_port();
    second_copy_refused(ARGV("tserver", proc_num(port)), IPPROTO_TCP, port);
    ck_assert_int_eq(log_lines("refused", NULL), 1);
}
END_TEST

START_TEST(python_http_server_twice)
{
    if (!on_path("python3")) {
        printf("SKIP python3 http.server: python3 not found on PATH\n");
        return;
    }
    int port = free_port();
    second_copy_refused(ARGV("python3", "-m", "http.server", proc_num(port), "--bind", "127.0.0.1"),
                        IPPROTO_TCP, port);
}
END_TEST

START_TEST(socat_twice)
{
    if (!on_path("socat")) {
        printf("SKIP socat: not found on PATH (scripts/test installs it)\n");
        return;
    }
    char tcp[64], udp[64];
    int ports[2];
    proc_free_ports(ports, 2);
    snprintf(tcp, sizeof tcp, "TCP-LISTEN:%d,bind=127.0.0.1,fork", ports[0]);
    snprintf(udp, sizeof udp, "UDP-RECV:%d,bind=127.0.0.1", ports[1]);
    second_copy_refused(ARGV("socat", "-u", tcp, "/dev/null"), IPPROTO_TCP, ports[0]);
    second_copy_refused(ARGV("socat", "-u", udp, "/dev/null"), IPPROTO_UDP, ports[1]);
}
END_TEST

/* ===== 3. racing binders ============================================================== */

START_TEST(exactly_one_racer_wins)
{
    assert_kernel_would_share();
    int port = free_port(), wins[2] = {0, 0};
    struct proc *p[2] = {SCENARIO_START(SHIM, "race", proc_num(port)),
                         SCENARIO_START(SHIM, "race", proc_num(port))};
    int64_t start = proc_now_ms();
    for (int round = 0; round < RACE_ROUNDS; round++) {
        /* Who is woken first alternates, so neither always has the head start. */
        send_raw(p[round & 1], "b");
        send_raw(p[!(round & 1)], "b");
        const char *r[2];
        for (int i = 0; i < 2; i++) {
            r[i] = proc_line(p[i], WAIT_MS);
            ck_assert_msg(r[i], "round %d: racer %d silent (%s)", round, i, p[i]->ebuf);
        }
        bool won[2] = {strcmp(r[0], "ok") == 0, strcmp(r[1], "ok") == 0};
        ck_assert_msg(won[0] + won[1] == 1, "round %d: racers said %s and %s", round, r[0], r[1]);
        const char *lost = r[won[0]];
        ck_assert_msg(strcmp(lost, "EADDRINUSE") == 0 || strcmp(lost, "EACCES") == 0,
                      "round %d: loser said %s", round, lost);
        wins[won[1]]++;
        for (int i = 0; i < 2; i++)
            send_raw(p[i], "c");
        for (int i = 0; i < 2; i++)
            expect_line(p[i], "closed");
    }
    printf("race: %d rounds in %lld ms, wins %d / %d\n", RACE_ROUNDS,
           (long long)(proc_now_ms() - start), wins[0], wins[1]);
    ck_assert_int_eq(proc_finish(p[0], WAIT_MS), 0);
    ck_assert_int_eq(proc_finish(p[1], WAIT_MS), 0);
}
END_TEST

/* ===== 4. fork, exec, SCM_RIGHTS ======================================================= */

/* The binder's socket lives on in another process (forked child, exec'd image, UNIX
 * socket receiver) after the binder's own descriptor went: refusals name that process
 * (the holder now, not the binder), and once it is gone the stale entry is confirmed
 * gone with the kernel and reaped. */
static void held_elsewhere(const char *how, const char *proto, const char *opts,
                           const char *listen, const char *contender)
{
    int port = free_port(), holder = 0;
    struct proc *h = SCENARIO_START(SHIM, how, proto, opts, listen, proc_num(port));
    const char *line = proc_line(h, WAIT_MS);
    ck_assert_msg(line && sscanf(line, "HELD %d", &holder) == 1, "%s: holder said '%s' (%s)",
                  how, line ? line : "(nothing)", h->ebuf);
    line = tbind(SHIM, contender, port);
    ck_assert_msg(refused(line), "%s %s: contender said '%s'", how, opts, line);
    assert_refusal_logged(proto, port, holder);
    ck_assert_int_eq(proc_finish(h, WAIT_MS), 0);
    assert_ok(tbind(SHIM, contender, port), port);
}

START_TEST(socket_held_elsewhere_keeps_the_port)
{
    assert_kernel_would_share();
    held_elsewhere("hold_fork", "tcp", "exclusive", "1", "-a 127.0.0.1");
    held_elsewhere("hold_fork", "tcp", "reuseaddr,exclusive", "0", "-a 127.0.0.1 -o reuseaddr");
    held_elsewhere("hold_fork", "udp", "exclusive", "0", "-p udp -a 127.0.0.1");
#ifdef HAVE__FORK
    held_elsewhere("hold__Fork", "tcp", "reuseaddr,exclusive", "0",
                   "-a 127.0.0.1 -o reuseaddr");
#endif
    held_elsewhere("hold_exec", "tcp", "exclusive", "1", "-a 127.0.0.1");
    held_elsewhere("hold_spawn", "tcp", "reuseaddr,exclusive", "0",
                   "-a 127.0.0.1 -o reuseaddr");
    held_elsewhere("hold_pass", "tcp", "reuseaddr", "0", "-a 127.0.0.1 -o reuseaddr");
}
END_TEST

/* ===== 5. descriptors multiplied and closed ============================================= */

START_TEST(last_descriptor_releases)
{
    static const char *const methods[] = {"dup",         "dup2",      "dup3",   "F_DUPFD",
                                          "F_DUPFD_CLOEXEC", "close_range", "closefrom", "cloexec"};
    assert_kernel_would_share();
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        /* Contenders exit without closing and leave stale entries: count in a fresh table. */
        new_table();
        int port = free_port();
        struct proc *h = SCENARIO_START(SHIM, "dups", methods[i], proc_num(port));
        expect_line(h, "HOLD");
        ck_assert_msg(live_entries() == 1, "%s: entry gone with a descriptor left", methods[i]);
        const char *line = tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port);
        ck_assert_msg(refused(line), "%s: with a descriptor left, a contender said '%s'",
                      methods[i], line);
        send_raw(h, "\n");
        expect_line(h, "FREE");
        ck_assert_msg(live_entries() == 0, "%s: entry left after the last descriptor", methods[i]);
        assert_ok(tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port), port);
        ck_assert_int_eq(proc_finish(h, WAIT_MS), 0);
    }
}
END_TEST

/* posix_spawn marks what the exec keeps, no more: a close-on-exec socket's entry still
 * goes with the parent's close. */
START_TEST(spawn_shares_only_what_exec_keeps)
{
    new_table();
    int port = free_port();
    struct proc *h = SCENARIO_START(SHIM, "spawn_cloexec", proc_num(port));
    expect_line(h, "CLOSED");
    ck_assert_msg(live_entries() == 0, "a close-on-exec socket's entry outlived its close");
    ck_assert_int_eq(proc_finish(h, WAIT_MS), 0);
}
END_TEST

/* ===== 6. errno parity for what bindguard does not judge =============================== */

START_TEST(native_errno_parity)
{
    int ports[2];
    proc_free_ports(ports, 2);
    struct proc *native = SCENARIO(NATIVE, "errnos", proc_num(ports[0]), proc_num(ports[1]));
    struct proc *shim = SCENARIO(SHIM, "errnos", proc_num(ports[0]), proc_num(ports[1]));
    /* The native run pins what the cases are about, so a broken case can't pass both. */
    static const char *const pinned[] = {
        "bind(-1, SA(lo4), l4) EBADF",      "bind(devnull, SA(lo4), l4) ENOTSOCK",
        "bind(t4, NULL, l4) EFAULT",        "bind(t4, SA(lo4), l4 - 1) EINVAL",
        "bind(un, SA(sun), ul) ok",         "bind(t4, SA(at_port), l4) EINVAL",
        "bind(conn, SA(at_port), l4) EINVAL", "close(closed) EBADF",
        "bind(k, SA(at_port2), l4) ok errno=EDOM",
    };
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++)
        ck_assert_msg(strstr(native->obuf, pinned[i]), "native run lacks '%s':\n%s", pinned[i],
                      native->obuf);
    const char *a = native->obuf, *b = shim->obuf;
    for (int line = 1; *a || *b; line++) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "line %d: native '%.*s', shim '%.*s'",
                      line, (int)la, a, (int)lb, b);
        a += la + (a[la] != '\0');
        b += lb + (b[lb] != '\0');
    }
    ck_assert_msg(log_lines("refused", NULL) == 0, "refusal logged for an unjudged call:\n%s",
                  log_text());
}
END_TEST

/* ===== 7. modes ======================================================================== */

START_TEST(audit_mode_only_says_so)
{
    int port;
    const struct proc_how *audit = SHIM_WITH("BINDGUARD_MODE=audit");
    const char *line = pair(audit, "-a 127.0.0.1 -o reuseaddr", "-a 127.0.0.1 -o reuseaddr", &port);
    assert_ok(line, port);
    char what[64];
    snprintf(what, sizeof what, "127.0.0.1:%d/tcp would be refused", port);
    ck_assert_msg(log_lines(what, "[audit]") == 1, "log:\n%s", log_text());
    ck_assert_int_eq(log_lines("/tcp refused", NULL), 0);
}
END_TEST

START_TEST(off_mode_passes_everything_through)
{
    const struct proc_how *off = SHIM_WITH("BINDGUARD_MODE=off");
    SCENARIO(off, "opts", "tcp", "exclusive", "ENOPROTOOPT");
    static const char *const specs[] = {"-a 127.0.0.1 -o reuseaddr", "-a 127.0.0.1",
                                        "-p udp -a 127.0.0.1", "-f d -a ::"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const char *native = pair(NATIVE, specs[i], specs[i], NULL);
        const char *got = pair(off, specs[i], specs[i], NULL);
        ck_assert_msg(same_outcome(got, native), "%s twice: off says '%s', native '%s'",
                      specs[i], got, native);
    }
    ck_assert_msg(log_text()[0] == '\0', "off mode logged:\n%s", log_text());
}
END_TEST

/* ===== 8. dual stack =================================================================== */

START_TEST(dual_stack_exclusive_holds_ipv4)
{
    /* Each pair carries SO_REUSEADDR, with which the kernel alone lets both bind. An IPv4
     * bind refused across stacks by an exclusive dual-stack wildcard gets EACCES whatever
     * its class (real Windows), though the same-family cell may say INUSE. */
    const struct {
        const struct proc_how *how;
        const char *holder, *contender, *want;
    } cases[] = {
        /* exclusive by the default class; the cell (exclusive W, exclusive W) is INUSE */
        {SHIM, "-f d -a :: -o reuseaddr", "-f 4 -a 0.0.0.0 -o reuseaddr", "ERR EACCES bind"},
        /* exclusive explicitly, among sockets of Windows' plain default class; the cell
         * (exclusive W, default W) is INUSE */
        {SHIM_WITH("BINDGUARD_DEFAULT=windows"), "-f d -a :: -o reuseaddr,exclusive",
         "-f 4 -a 0.0.0.0 -o reuseaddr", "ERR EACCES bind"},
        {SHIM_WITH("BINDGUARD_DEFAULT=windows"), "-f d -a :: -o reuseaddr,exclusive",
         "-f 4 -a 127.0.0.1 -o reuseaddr", "ERR EACCES bind"},
        /* a v4-mapped address is that IPv4 address, whatever the socket's family: the
         * same-address cell, not a cross-stack refusal */
        {SHIM, "-f d -a ::ffff:127.0.0.1 -o reuseaddr", "-f 4 -a 127.0.0.1 -o reuseaddr",
         "ERR EADDRINUSE bind"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *line = pair(cases[i].how, cases[i].holder, cases[i].contender, &port);
        ck_assert_msg(strcmp(line, cases[i].want) == 0, "%s then %s: '%s', want '%s'",
                      cases[i].holder, cases[i].contender, line, cases[i].want);
        ck_assert_int_eq(refusals("tcp", port, 0), 1);
    }
}
END_TEST

START_TEST(dual_stack_default_lets_ipv4_through)
{
    static const char *const cases[][2] = {
        {"-f d -a :: -l", "-f 4 -a 0.0.0.0"},                         /* the kernel refuses */
        {"-f d -a :: -o reuseaddr", "-f 4 -a 0.0.0.0 -o reuseaddr"}, /* the kernel allows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *native = pair(NATIVE, cases[i][0], cases[i][1], NULL);
        const char *got =
            pair(SHIM_WITH("BINDGUARD_DEFAULT=windows"), cases[i][0], cases[i][1], &port);
        ck_assert_msg(same_outcome(got, native), "%s then %s: shim '%s', native '%s'",
                      cases[i][0], cases[i][1], got, native);
        ck_assert_int_eq(refusals("tcp", port, 0), 0);
    }
}
END_TEST

START_TEST(loopbacks_never_conflict)
{
    static const char *const cases[][2] = {
        {"-f 6 -a ::1", "-f 4 -a 127.0.0.1"},
        {"-f 4 -a 127.0.0.1 -o exclusive -l", "-f d -a ::1 -o exclusive"},
        {"-f d -a ::1 -o exclusive -l", "-f 4 -a 127.0.0.1 -o exclusive -l"},
        {"-p udp -f 6 -a ::1 -o exclusive", "-p udp -f 4 -a 127.0.0.1 -o exclusive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        const char *line = pair(SHIM, cases[i][0], cases[i][1], &port);
        assert_ok(line, port);
    }
    ck_assert_int_eq(log_lines("refused", NULL), 0);
}
END_TEST

/* Emulate: Windows gives every connection on a shared address:port to the socket that
 * listened first, and the next takes over when it closes
 * (doc/design.md "Guard and emulate"). */
START_TEST(emulate_first_listener_gets_every_connection)
{
    int port = free_port();
    const struct proc_how *emulate =
        SHIM_WITH("BINDGUARD_EMULATE=1", "BINDGUARD_REUSEADDR=windows");
    struct proc *p = SCENARIO(emulate, "first_listener", proc_num(port));
    const char *line = proc_line(p, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "COUNTS 40 0 10") == 0, "got '%s'",
                  line ? line : "(nothing)");
}
END_TEST

/* Containers never collide: the table key includes the socket's network namespace, and
 * a namespace change (unshare) drops the key bindguard had cached for the old one. */
START_TEST(network_namespaces_never_collide)
{
    if (!harness_is_root()) {
        printf("SKIP network namespaces: unshare(CLONE_NEWNET) needs root\n");
        return;
    }
    static const char *const how[] = {"libc", "raw"};
    for (size_t i = 0; i < 2; i++) {
        int ports[2];
        proc_free_ports(ports, 2);
        /* Not listening, with Linux's SO_REUSEADDR: the kernel alone would let the last
         * bind below through, so only the holder's entry can refuse it. */
        struct proc *holder = tbind_hold(SHIM, "-a 127.0.0.1 -o reuseaddr,exclusive", ports[0]);
        struct proc *p = SCENARIO(SHIM, "netns", proc_num(ports[0]), proc_num(ports[1]), how[i]);
        const char *line = proc_line(p, WAIT_MS);
        ck_assert_msg(line && strcmp(line, "BOUND") == 0, "%s: got '%s' (%s)", how[i],
                      line ? line : "(nothing)", p->ebuf);
        /* The holder's entry was not judged (and so not reaped) from the other namespace. */
        ck_assert_msg(strcmp(tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", ports[0]),
                             "ERR EADDRINUSE bind") == 0, "%s: the holder lost its entry", how[i]);
        let_go(holder);
    }
}
END_TEST

/* ===== 9. multicast ==================================================================== */

static bool mcast_send(int port, const char *msg)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct in_addr lo;
    unsigned char loop = 1;
    struct sockaddr_storage group;
    socklen_t len = proc_sockaddr(MCAST_GROUP, port, &group);
    inet_pton(AF_INET, "127.0.0.1", &lo);
    bool ok = fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo) == 0 &&
              setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) == 0 &&
              sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&group, len) ==
                  (ssize_t)strlen(msg);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Natively, without the shim: can this machine loop multicast back at all? */
static bool multicast_works(int port)
{
    int fd = mcast_receiver(port);
    char buf[16];
    bool ok = fd >= 0 && mcast_send(port, "probe") && recv_within(fd, 1000, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(multicast_receivers_all_receive)
{
    int port = free_port();
    if (!multicast_works(port)) {
        printf("SKIP multicast: a datagram to " MCAST_GROUP " with IP_MULTICAST_IF 127.0.0.1 "
               "does not come back even without bindguard "
               "(try `ip route add 239.0.0.0/8 dev lo`)\n");
        return;
    }
    struct proc *r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = SCENARIO_START(SHIM, "mcast", proc_num(port));
        expect_line(r[i], "READY");
    }
    ck_assert(mcast_send(port, "hello"));
    for (int i = 0; i < 3; i++) {
        expect_line(r[i], "GOT hello");
        ck_assert_int_eq(proc_finish(r[i], WAIT_MS), 0);
    }
}
END_TEST

/* ===== 10. bad environment values ======================================================== */

/* The program runs (with the safe defaults: ws2003, enforce) and stderr has one line per
 * bad variable, naming it and no other. */
static void warns_once_per_bad_value(const struct proc_how *h)
{
    struct proc *p = tbind_run(h, "-a 127.0.0.1 -o exclusive", 0);
    ck_assert_msg(strncmp(p->line, "OK ", 3) == 0, "tbind said '%s'", p->line);
    int bad = 0;
    for (size_t i = 0; i < sizeof h->env / sizeof h->env[0] && h->env[i]; i++, bad++) {
        char name[64];
        snprintf(name, sizeof name, "%.*s=", (int)strcspn(h->env[i], "="), h->env[i]);
        ck_assert_msg(proc_count_lines(p->ebuf, name, NULL) == 1, "%s: stderr:\n%s", name, p->ebuf);
        ck_assert_msg(proc_count_lines(p->ebuf, name, "bindguard: ") == 1, "%s: stderr:\n%s", name,
                      p->ebuf);
    }
    ck_assert_msg(proc_count_lines(p->ebuf, "", NULL) == bad, "want %d lines on stderr:\n%s", bad,
                  p->ebuf);
}

START_TEST(bad_env_values_warn_once_each)
{
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_MODE=loud"));
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_PROFILE=win2022"));
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_MODE=loud", "BINDGUARD_PROFILE=win2022"));
}
END_TEST

/* ===== 11. close from a signal handler =================================================== */

START_TEST(close_in_signal_handler_never_deadlocks)
{
    int ports[2];
    long rounds = 0;
    int sigs = 0;
    proc_free_ports(ports, 2);
    struct proc *p = SCENARIO(SHIM, "sigclose", proc_num(ports[0]), proc_num(ports[1]));
    ck_assert_msg(sscanf(p->obuf, "DONE %ld %d", &rounds, &sigs) == 2, "said '%s'", p->obuf);
    ck_assert_msg(rounds > 100 && sigs > 100, "%ld rounds, %d signals", rounds, sigs);
    /* A handler waiting on the lock its own thread holds would end in lock timeouts. */
    ck_assert_msg(log_trouble() == 0, "log:\n%.2000s", log_text());
    printf("sigclose: %ld rounds, %d signals in %d ms\n", rounds, sigs, SIGCLOSE_MS);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *suite(void)
{
    Suite *s = suite_create("interpose");
    TCase *tc = tcase(s, "options");
    tcase_add_test(tc, exclusive_and_sharing_exclude_each_other);
    tcase_add_test(tc, exclusive_reads_back_as_bool);
    tcase_add_test(tc, profiles_without_or_with_restricted_exclusive);
    tcase_add_test(tc, set_after_bind_keeps_the_class);
    tcase_add_test(tc, without_the_shim_exclusive_fails_loudly);
    tc = tcase(s, "programs");
    tcase_add_test(tc, tserver_twice);
    tcase_add_test(tc, python_http_server_twice);
    tcase_add_test(tc, socat_twice);
    tc = tcase(s, "race");
    tcase_add_test(tc, exactly_one_racer_wins);
    tc = tcase(s, "descriptors");
    tcase_add_test(tc, socket_held_elsewhere_keeps_the_port);
    tcase_add_test(tc, last_descriptor_releases);
    tcase_add_test(tc, spawn_shares_only_what_exec_keeps);
    tcase_add_test(tc, close_in_signal_handler_never_deadlocks);
    tc = tcase(s, "parity");
    tcase_add_test(tc, native_errno_parity);
    tc = tcase(s, "modes");
    tcase_add_test(tc, audit_mode_only_says_so);
    tcase_add_test(tc, off_mode_passes_everything_through);
    tcase_add_test(tc, bad_env_values_warn_once_each);
    tc = tcase(s, "addresses");
    tcase_add_test(tc, dual_stack_exclusive_holds_ipv4);
    tcase_add_test(tc, dual_stack_default_lets_ipv4_through);
    tcase_add_test(tc, loopbacks_never_conflict);
    tcase_add_test(tc, emulate_first_listener_gets_every_connection);
    tcase_add_test(tc, network_namespaces_never_collide);
    tcase_add_test(tc, multicast_receivers_all_receive);
    return s;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return run_child(argv[2], argc - 3, argv + 3);
    /* tests/meson.build does not make this test depend on the library: without it every
     * child would run unprotected, with ld.so's complaint buried in its stderr. */
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_interpose: %s not built (meson compile -C <build> bindguard)\n",
                harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    /* A child that died early must fail a test, not kill the runner on our next write. */
    signal(SIGPIPE, SIG_IGN);
    atexit(proc_kill_all);
    return harness_run(suite());
}
