/* stress_worker - one of the processes test_stress churns binds in, under the shim.
 *
 *   stress_worker SEED PORT...     (stress.h: what it writes, and to where)
 *
 * WORKER_THREADS threads mix exclusive binds (SO_EXCLUSIVEADDRUSE and the default class),
 * sharing binds, listen, shutdown of a listener, close, dup, fork (the child keeps or
 * closes what it inherited) and exec of tbind (sometimes handing it a bound socket).
 * Every TCP socket carries SO_REUSEADDR: while none listens, the kernel alone would let
 * them all bind one address, so only bindguard keeps claims apart (in emulate mode,
 * listening or not). Before each bind a thread reports the socket's inode and claim;
 * after it, the outcome and how long the call took; around each close, when it started
 * and ended. A thread keeps at most HELD_MAX sockets and naps up to PACE_US between ops. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindguard.h"
#include "proc_child.h"
#include "stress/stress.h"

#define HELD_MAX        4       /* sockets a worker thread keeps at once */
#define PACE_US         2000    /* a worker thread naps up to this long between ops */

static bool w_stop;
static int w_ports[NPORTS], w_nports;
static char w_tbind[512];

struct held {
    int fd;
    uint32_t inode;
    bool listening;
};

struct wthread {
    int idx;
    uint64_t rng;
    struct held held[HELD_MAX];
    int n;
};

static long long us_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* One record, one write (stress.h). */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(STRESS_FD, buf, (size_t)n) < 0)
        _exit(3);  /* the test is gone */
}

static uint32_t inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* Every op ends with a record: the checker's heartbeat and its duration. */
static void op_done(struct wthread *t, char op, const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("O %d %d %c %lld\n", (int)getpid(), t->idx, op, us_between(t0, &t1));
}

/* What happened to a held socket, for the checker to tell when it judges: L listened,
 * S shut down, D duplicated, F inherited by a fork, P handed to tbind. */
static void history(struct wthread *t, const struct held *h, char what)
{
    report("H %d %d %u %c\n", (int)getpid(), t->idx, h->inode, what);
}

static void forget(struct wthread *t, int i)
{
    t->held[i] = t->held[--t->n];
}

/* Z and z bracket the close, so the checker can tell a conflict inside it from a socket
 * that outlives its entry (bindguard lets go of the entry once the real close returned:
 * the checker counts the first kind, and expects none). */
static void close_held(struct wthread *t, int i)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    report("Z %d %d %u %lld\n", (int)getpid(), t->idx, t->held[i].inode, stress_us(&t0));
    close(t->held[i].fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("z %d %d %u %lld\n", (int)getpid(), t->idx, t->held[i].inode, stress_us(&t1));
    forget(t, i);
    op_done(t, 'c', &t0);
}

static const struct {
    const char *ip;
    int family, v6only;
    bool exclusive_only;  /* a non-exclusive [::] holds only IPv6 once bound: left out */
} addrs[] = {
    {"0.0.0.0", AF_INET, 0, false},   {"127.0.0.1", AF_INET, 0, false},
    {"127.0.0.2", AF_INET, 0, false}, {"::1", AF_INET6, 1, false},
    {"::", AF_INET6, 0, true},
};
#define N_ADDRS (sizeof addrs / sizeof addrs[0])

/* Class letters on the wire: x explicit exclusive, d exclusive by default, r sharing. */
static int claim_socket(bool tcp, char cls, size_t a)
{
    int one = 1, fd = socket(addrs[a].family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (addrs[a].family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &addrs[a].v6only, sizeof(int));
    if (tcp)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (cls == 'x')
        setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one);
    if (cls == 'r')
        setsockopt(fd, SOL_SOCKET, tcp ? SO_REUSEPORT : SO_REUSEADDR, &one, sizeof one);
    return fd;
}

static void op_bind(struct wthread *t)
{
    bool tcp = stress_rnd(&t->rng) % 5 != 0;
    char cls = "xdr"[stress_rnd(&t->rng) % 3];
    size_t a = stress_rnd(&t->rng) % N_ADDRS;
    if (addrs[a].exclusive_only && cls == 'r')
        a = stress_rnd(&t->rng) % (N_ADDRS - 1);
    int port = w_ports[stress_rnd(&t->rng) % (unsigned)w_nports];
    int fd = claim_socket(tcp, cls, a);
    if (fd < 0)
        return;
    uint32_t ino = inode_of(fd);
    report("A %d %d %u %c %c %s %d\n", (int)getpid(), t->idx, ino, tcp ? 't' : 'u', cls,
           addrs[a].ip, port);
    struct sockaddr_storage ss;
    socklen_t len = proc_sockaddr(addrs[a].ip, port, &ss);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = bind(fd, (struct sockaddr *)&ss, len);
    int err = r == 0 ? 0 : errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("B %d %d %u %d %lld\n", (int)getpid(), t->idx, ino, err, us_between(&t0, &t1));
    if (r != 0) {
        close(fd);
        return;
    }
    if (t->n == HELD_MAX)
        close_held(t, 0);
    bool listening = false;
    if (tcp && stress_rnd(&t->rng) % 100 < 40) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        listening = listen(fd, 8) == 0;
        op_done(t, 'l', &t0);
    }
    t->held[t->n++] = (struct held){fd, ino, listening};
    if (listening)
        history(t, &t->held[t->n - 1], 'L');
}

/* A second descriptor of a held socket replaces the first, which is closed. */
static void op_dup(struct wthread *t)
{
    if (!t->n)
        return;
    int i = (int)(stress_rnd(&t->rng) % (unsigned)t->n);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = t->held[i].fd;
    int d = stress_rnd(&t->rng) % 2 ? fcntl(fd, F_DUPFD_CLOEXEC, 20) : dup(fd);
    if (d >= 0) {
        close(t->held[i].fd);
        t->held[i].fd = d;
        history(t, &t->held[i], 'D');
    }
    op_done(t, 'd', &t0);
}

/* A listener shut down stops listening; while other sockets share its port it stays
 * bound there, and still holds its claim. */
static void op_shutdown(struct wthread *t)
{
    for (int i = 0; i < t->n; i++) {
        if (!t->held[i].listening)
            continue;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        shutdown(t->held[i].fd, SHUT_RDWR);
        t->held[i].listening = false;
        history(t, &t->held[i], 'S');
        op_done(t, 's', &t0);
        return;
    }
}

/* The child keeps every socket it inherited for a moment, or closes them at once; the
 * parent sometimes lets one go meanwhile: the entry must stay while the child holds it. */
static void op_fork(struct wthread *t)
{
    bool keep = stress_rnd(&t->rng) % 2;
    unsigned nap = stress_rnd(&t->rng) % 20000;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!keep)
            for (int i = 0; i < t->n; i++)
                close(t->held[i].fd);
        usleep(nap);
        _exit(0);
    }
    op_done(t, 'f', &t0);
    for (int i = 0; c > 0 && i < t->n; i++)
        history(t, &t->held[i], 'F');
    if (c > 0 && t->n && stress_rnd(&t->rng) % 2)
        close_held(t, (int)(stress_rnd(&t->rng) % (unsigned)t->n));
}

/* tbind binds a socket of its own (exclusive); it may also inherit one of ours at fd 100.
 * Its socket is the lowest free descriptor there, 3, whose inode we then announce. */
static void op_exec(struct wthread *t)
{
    static const char *const ips[] = {"127.0.0.1", "0.0.0.0", "127.0.0.2"};
    const char *ip = ips[stress_rnd(&t->rng) % 3];
    char port[16];
    snprintf(port, sizeof port, "%d", w_ports[stress_rnd(&t->rng) % (unsigned)w_nports]);
    bool do_listen = stress_rnd(&t->rng) % 2;
    int pi = t->n && stress_rnd(&t->rng) % 2 ? (int)(stress_rnd(&t->rng) % (unsigned)t->n) : -1;
    int pass = pi >= 0 ? t->held[pi].fd : -1;
    if (pi >= 0)
        history(t, &t->held[pi], 'P');
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (pass >= 0)
            dup2(pass, 100);
        const char *argv[] = {"tbind", "-a", ip, "-o", "reuseaddr,exclusive", "-P", port,
                              "-h", do_listen ? "-l" : NULL, NULL};
        execv(w_tbind, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char line[128] = "";
    struct pollfd p = {out[0], POLLIN, 0};
    ssize_t n =
        c > 0 && poll(&p, 1, TBIND_WAIT_MS) == 1 ? read(out[0], line, sizeof line - 1) : -1;
    line[n > 0 ? n : 0] = '\0';
    char link[64], target[64] = "";
    snprintf(link, sizeof link, "/proc/%d/fd/3", (int)c);
    ssize_t tl = readlink(link, target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = '\0';
    unsigned ino = 0;
    if (strncmp(line, "OK ", 3) == 0 && sscanf(target, "socket:[%u]", &ino) == 1) {
        report("A %d %d %u t x %s %s\n", (int)getpid(), t->idx, ino, ip, port);
        report("B %d %d %u 0 -1\n", (int)getpid(), t->idx, ino);
    }
    /* T: tbind's outcome, OK / ERR ... / silent (a hang or a crash). */
    report("T %d %d %.*s\n", (int)getpid(), t->idx, (int)strcspn(line, "\n"),
           line[0] ? line : "silent");
    usleep(stress_rnd(&t->rng) % 10000);
    close(in[1]);
    close(out[0]);
    op_done(t, 'e', &t0);
}

/* The agent `name` in this program's directory. */
static bool beside_me(const char *name, char *buf, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return (size_t)snprintf(buf, len, "%s/%s", self, name) < len;
}

static void *worker_thread(void *arg)
{
    struct wthread *t = arg;
    /* Its thread id, so the killer can tell its own from the lock word at once. */
    report("I %d %d %d\n", (int)getpid(), t->idx, (int)gettid());
    while (!__atomic_load_n(&w_stop, __ATOMIC_SEQ_CST)) {
        unsigned op = stress_rnd(&t->rng) % 100;
        if (op < 45)
            op_bind(t);
        else if (op < 62 && t->n)
            close_held(t, (int)(stress_rnd(&t->rng) % (unsigned)t->n));
        else if (op < 70)
            op_dup(t);
        else if (op < 76)
            op_shutdown(t);
        else if (op < 84)
            op_fork(t);
        else if (op < 88)
            op_exec(t);
        /* Paced, not flat out: a saturated machine would measure its scheduler, not
         * bindguard, and the checker would see the ports too rarely. */
        usleep(stress_rnd(&t->rng) % PACE_US);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return proc_child_usage("stress_worker SEED PORT...");
    if (fcntl(STRESS_FD, F_SETFD, FD_CLOEXEC) != 0)
        return 2;
    /* Forked children and tbinds are reaped by the kernel; nobody waits for them. */
    signal(SIGCHLD, SIG_IGN);
    uint64_t seed = strtoull(argv[1], NULL, 10);
    for (int i = 2; i < argc && w_nports < NPORTS; i++)
        w_ports[w_nports++] = atoi(argv[i]);
    if (!beside_me("tbind", w_tbind, sizeof w_tbind))
        return 2;
    static struct wthread th[WORKER_THREADS];
    pthread_t tid[WORKER_THREADS];
    for (int i = 0; i < WORKER_THREADS; i++) {
        th[i] = (struct wthread){.idx = i, .rng = seed * 2654435761u + (uint64_t)i * 97 + 1};
        pthread_create(&tid[i], NULL, worker_thread, &th[i]);
    }
    proc_child_wait_eof();
    __atomic_store_n(&w_stop, true, __ATOMIC_SEQ_CST);
    for (int i = 0; i < WORKER_THREADS; i++)
        pthread_join(tid[i], NULL);
    proc_child_say("IDLE");
    for (;;)
        pause();
}
