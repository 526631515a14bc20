/* bench_kernel - what asking the kernel costs, with few and with many other sockets.
 * Prints a table in µs per call next to native calls measured in the same run. */
#include "kernel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>

enum { FEW = 10, MANY = 2000, TARGETS = 6 };

struct target {
    int fd;
    uint8_t proto;
    uint32_t inode;
    struct bg_addr a;
};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* A socket on 127.0.0.1 (port 0: a free one), listening if asked. */
static struct target open_target(int type, uint16_t port, bool listening, bool reuseport)
{
    struct target t = {.proto = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    struct stat st;
    int one = 1;
    t.fd = socket(AF_INET, type, 0);
    if (t.fd < 0 || (reuseport && setsockopt(t.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
        || bind(t.fd, (struct sockaddr *)&sin, sizeof sin) != 0
        || (listening && listen(t.fd, 16) != 0)
        || getsockname(t.fd, (struct sockaddr *)&sin, &len) != 0 || fstat(t.fd, &st) != 0) {
        perror("bench_kernel: socket setup");
        exit(1);
    }
    t.inode = (uint32_t)st.st_ino;
    t.a.family = AF_INET;
    t.a.port = ntohs(sin.sin_port);
    t.a.ip[10] = t.a.ip[11] = 0xff;
    memcpy(t.a.ip + 12, &sin.sin_addr, 4);
    return t;
}

/* Other sockets the kernel's walks must pass over: listeners, UDP, bound-only TCP. */
static void open_others(int n)
{
    for (int i = 0; i < n; i++)
        open_target(i % 3 == 1 ? SOCK_DGRAM : SOCK_STREAM, 0, i % 3 == 0, false);
}

enum op { NATIVE_GETSOCKOPT, NATIVE_NETLINK_OPEN, CONFIRM, PORT_SOCKETS, HAS_CONNECTIONS };

struct row {
    const char *name;
    enum op op;
    int target;          /* index into targets[] */
    bool bound_only;
    int iters;
    double us[2];        /* FEW, MANY */
    enum kernel_answer got;
};

static struct target targets[TARGETS];

static double run_once(struct row *r)
{
    const struct target *t = &targets[r->target];
    double t0 = now_us();
    switch (r->op) {
    case NATIVE_GETSOCKOPT: {
        uint64_t cookie;
        socklen_t len = sizeof cookie;
        getsockopt(t->fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
        break;
    }
    case NATIVE_NETLINK_OPEN:
        close(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
        break;
    case CONFIRM:
        r->got = kernel_confirm(t->proto, &t->a, t->inode, (uint32_t)getuid(), r->bound_only);
        break;
    case PORT_SOCKETS: {
        struct kernel_sock ks[8];
        r->got = kernel_port_sockets(t->proto, t->a.port, ks, 8) >= 1 ? KERNEL_ALIVE : KERNEL_GONE;
        break;
    }
    case HAS_CONNECTIONS:
        r->got = kernel_has_connections(&t->a, (uint32_t)getuid());
        break;
    }
    return now_us() - t0;
}

/* Median of r->iters calls: a VM's scheduler makes the mean noisy. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double measure(struct row *r)
{
    static double samples[4096];
    int n = r->iters < 4096 ? r->iters : 4096;
    run_once(r);   /* warm up (and pay the one-time bound-inactive probe) */
    for (int i = 0; i < n; i++)
        samples[i] = run_once(r);
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    return samples[n / 2];
}

static const char *answer_name(enum kernel_answer a)
{
    return a == KERNEL_ALIVE ? "ALIVE" : a == KERNEL_GONE ? "GONE" : "UNKNOWN";
}

int main(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MANY + 100) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    enum { LISTENER, UDP, BOUND_ONLY, GROUP_A, GROUP_B, CLOSED };
    targets[LISTENER] = open_target(SOCK_STREAM, 0, true, false);
    targets[UDP] = open_target(SOCK_DGRAM, 0, false, false);
    targets[BOUND_ONLY] = open_target(SOCK_STREAM, 0, false, false);
    /* Two reuseport listeners: the exact lookup reaches only one, the other needs the dump. */
    targets[GROUP_A] = open_target(SOCK_STREAM, 0, true, true);
    targets[GROUP_B] = open_target(SOCK_STREAM, targets[GROUP_A].a.port, true, true);
    targets[CLOSED] = open_target(SOCK_STREAM, 0, true, false);
    close(targets[CLOSED].fd);

    struct row rows[] = {
        {"native getsockopt(SO_COOKIE)", NATIVE_GETSOCKOPT, LISTENER, false, 4000, {0}, 0},
        {"native socket+close(AF_NETLINK)", NATIVE_NETLINK_OPEN, LISTENER, false, 4000, {0}, 0},
        {"confirm TCP listener (exact lookup)", CONFIRM, LISTENER, false, 2000, {0}, 0},
        {"confirm UDP socket (exact lookup)", CONFIRM, UDP, false, 2000, {0}, 0},
        {"confirm reuseport listener A", CONFIRM, GROUP_A, false, 2000, {0}, 0},
        {"confirm reuseport listener B", CONFIRM, GROUP_B, false, 2000, {0}, 0},
        {"confirm closed listener", CONFIRM, CLOSED, false, 2000, {0}, 0},
        {"confirm closed listener, bound-only possible", CONFIRM, CLOSED, true, 100, {0}, 0},
        {"confirm bound-only TCP", CONFIRM, BOUND_ONLY, true, 100, {0}, 0},
        {"port_sockets TCP (all states, 2 families)", PORT_SOCKETS, LISTENER, false, 100, {0}, 0},
        {"port_sockets UDP", PORT_SOCKETS, UDP, false, 2000, {0}, 0},
        {"has_connections (none)", HAS_CONNECTIONS, LISTENER, false, 100, {0}, 0},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    int others[2] = {FEW, MANY};
    for (int col = 0; col < 2; col++) {
        open_others(others[col] - (col ? FEW : 0));
        for (size_t i = 0; i < nrows; i++)
            rows[i].us[col] = measure(&rows[i]);
    }

    printf("bench_kernel: median µs per call (bound-only TCP visible: %s)\n",
           kernel_bound_inactive_supported() ? "yes" : "no");
    printf("%-46s %12s %12s  %s\n", "", "10 others", "2000 others", "answer");
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        printf("%-46s %12.1f %12.1f  %s\n", r->name, r->us[0], r->us[1],
               r->op >= CONFIRM ? answer_name(r->got) : "");
    }
    return 0;
}
