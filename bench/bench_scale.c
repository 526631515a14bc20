/* bench_scale - does a bind cost more when the table or the namespace is full?
 *
 * Each side fills up with real sockets (a third each TCP listeners, UDP sockets, bound
 * but not listening TCP sockets) on ports the measured binds never use: 10, then 1,000,
 * 2,000 and 50,000 of them, held by helper processes so that no descriptor limit gets in
 * the way. Under the shim every one went through bind() and is a live table entry that
 * the kernel would confirm. At each level it times an allowed bind(port)+close on a free
 * port, and a denied bind against a holder of each kind (the denial asks the kernel over
 * sock_diag, and some of its dumps walk every socket of the namespace). */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"
#include "own.h"
#include "table.h"

#define FILL_PORT    10000  /* fill socket i binds port FILL_PORT + i (skipping taken ones) */
#define LAST_PORT    65535
#define PER_HELPER   16000  /* fill sockets per helper process, at most */
#define ALLOW_PORT   7000   /* measured allowed binds: a band from here, on a private host */
#define ALLOW_PORTS  200
#define ALLOWS       400    /* allowed binds per sample */
#define DENIALS      100    /* denied binds per sample, against a listener or UDP socket */
#define SLOW_DENIALS 6      /* against a bound-only TCP socket: milliseconds each */

enum holder_kind { LISTENER, UDP, BOUND_ONLY, HOLDERS };

static int fill_host, filled, next_fill, per_helper, helpers;
static int holder_port[HOLDERS];
static int fds[ALLOWS];

/* The fill's own address: both sides are alive at once and use the same ports. */
static void setup(void)
{
    fill_host = 10 + bench_side();
    long room = bench_raise_nofile(PER_HELPER + 100) - 100;
    if (room < 100)
        bench_fail("descriptor limit too low for the fill");
    per_helper = (int)room;
    static const int type[HOLDERS] = { SOCK_STREAM, SOCK_DGRAM, SOCK_STREAM };
    for (int k = 0; k < HOLDERS; k++) {
        int fd = bench_bound_socket(type[k], 1, 0, k == LISTENER);
        if (fd < 0)
            bench_fail("holder: %s", strerror(errno));
        holder_port[k] = bench_port_of(fd);
    }
}

/* In a helper: bind up to n fill sockets from port index *next on; the number made, or
 * -errno. A port someone else holds is skipped. */
static int make_fill(int n, int *next)
{
    int made = 0;
    while (made < n && FILL_PORT + *next <= LAST_PORT) {
        int i = (*next)++;
        int fd = bench_bound_socket(i % 3 == 1 ? SOCK_DGRAM : SOCK_STREAM, fill_host,
                                    FILL_PORT + i, i % 3 == 0);
        if (fd >= 0)
            made++;
        else if (errno != EADDRINUSE)
            return -errno;
    }
    return made;
}

/* One more helper holding n more fill sockets until this process ends. */
static void add_helper(int n)
{
    int up[2];
    if (pipe(up) != 0)
        bench_fail("pipe: %s", strerror(errno));
    int pid = bench_fork_dependent();
    if (pid < 0)
        bench_fail("fork: %s", strerror(errno));
    int report[2];  /* next port index, sockets made (or -errno) */
    if (pid == 0) {
        close(up[0]);
        report[1] = make_fill(n, &next_fill);
        report[0] = next_fill;
        if (write(up[1], report, sizeof report) != sizeof report)
            _exit(1);
        for (;;)
            pause();  /* until the measuring process goes (benchlib: dies with it) */
    }
    close(up[1]);
    ssize_t got = read(up[0], report, sizeof report);
    close(up[0]);
    if (got != sizeof report || report[1] < 0)
        bench_fail("fill helper: %s", got == sizeof report ? strerror(-report[1]) : "died");
    next_fill = report[0];
    filled += report[1];
    helpers++;
    if (report[1] < n)
        bench_fail("only %d free ports for the fill", filled);
}

/* What the shim's table holds: the fill must be entries, not just sockets. */
static size_t live_entries(void)
{
    static struct table *t;
    char why[256];
    if (!t && !(t = own_open(getenv("BINDGUARD_TABLE"), 0, why, sizeof why, NULL, 0)))
        bench_fail("cannot open the shim's table: %s", why);
    if (table_lock(t, 1000) != 0)
        bench_fail("cannot lock the shim's table");
    size_t n = table_count(t);
    table_unlock(t);
    return n;
}

static const int level[] = { 10, 1000, 2000, 50000 };

static void enter_phase(int phase)
{
    int target = level[phase];
    while (filled < target)
        add_helper(target - filled < per_helper ? target - filled : per_helper);
    if (bench_under_shim())
        bench_note("level %d: %d real sockets per side, held by %d helper process(es); the "
                   "shim side's table has %zu live entries", target, filled, helpers,
                   live_entries());
}

static void allowed(int i)
{
    int port = ALLOW_PORT + i % ALLOW_PORTS;
    struct sockaddr_in sin = bench_loopback(bench_private_host(), port);
    if (bind(fds[i], (struct sockaddr *)&sin, sizeof sin) != 0)
        bench_bind_failed(port);
    close(fds[i]);
}

static enum holder_kind denied_kind;

static void denied(int i)
{
    struct sockaddr_in sin = bench_loopback(1, holder_port[denied_kind]);
    if (bind(fds[i], (struct sockaddr *)&sin, sizeof sin) == 0)
        bench_fail("the denied bind was allowed");
}

/* Only bind (+ close) is timed: the sockets are made first. */
static double batch(int type, void (*one)(int i), int n, int group)
{
    for (int i = 0; i < n; i++)
        if ((fds[i] = socket(AF_INET, type, 0)) < 0)
            bench_fail("socket: %s", strerror(errno));
    double ns = bench_time_ops(one, n, group);
    if (one != allowed)
        for (int i = 0; i < n; i++)
            close(fds[i]);
    return ns;
}

enum {
    ALLOW_10, DENY_LISTENER_10, DENY_UDP_10, DENY_BOUND_10,
    ALLOW_1000,
    DENY_LISTENER_2000, DENY_UDP_2000, DENY_BOUND_2000,
    ALLOW_50000,
};

/* The <=30 us target is for the usual holders, listeners and UDP sockets; a bound-only
 * TCP holder can only be confirmed by a dump that walks the bind hash (doc/kernel-notes.md "Bound-but-not-listening TCP"). */
static const struct bench_row rows[] = {
    [ALLOW_10] = { .name = "bind(port)+close, 10 live entries" },
    [DENY_LISTENER_10] = { .name = "denied bind vs listener, 10 sockets",
                           SHIM_AT_MOST(30000) },
    [DENY_UDP_10] = { .name = "denied bind vs UDP socket, 10 sockets", SHIM_AT_MOST(30000) },
    [DENY_BOUND_10] = { .name = "denied bind vs bound-only TCP, 10 sockets" },
    [ALLOW_1000] = { .name = "bind(port)+close, 1,000 live entries", .phase = 1,
                     .base = &rows[ALLOW_10] },
    [DENY_LISTENER_2000] = { .name = "denied bind vs listener, 2,000 sockets", .phase = 2,
                             SHIM_AT_MOST(30000), .base = &rows[DENY_LISTENER_10] },
    [DENY_UDP_2000] = { .name = "denied bind vs UDP socket, 2,000 sockets", .phase = 2,
                        SHIM_AT_MOST(30000), .base = &rows[DENY_UDP_10] },
    [DENY_BOUND_2000] = { .name = "denied bind vs bound-only TCP, 2,000 sockets", .phase = 2,
                          .base = &rows[DENY_BOUND_10] },
    [ALLOW_50000] = { .name = "bind(port)+close, 50,000 live entries", .phase = 3,
                      GROWTH_AT_MOST(1.2, &rows[ALLOW_10]) },
};

static double sample(size_t row)
{
    switch (row) {
    case ALLOW_10:
    case ALLOW_1000:
    case ALLOW_50000:
        return batch(SOCK_STREAM, allowed, ALLOWS, 4);
    case DENY_LISTENER_10:
    case DENY_LISTENER_2000:
        denied_kind = LISTENER;
        return batch(SOCK_STREAM, denied, DENIALS, 2);
    case DENY_UDP_10:
    case DENY_UDP_2000:
        denied_kind = UDP;
        return batch(SOCK_DGRAM, denied, DENIALS, 2);
    case DENY_BOUND_10:
    case DENY_BOUND_2000:
        denied_kind = BOUND_ONLY;
        return batch(SOCK_STREAM, denied, SLOW_DENIALS, 1);
    }
    return NAN;
}

const struct bench bench = {
    .name = "scale",
    .what = "bind cost against table size and sockets in the namespace (both sides' "
            "fill sockets are alive at once: the namespace holds twice the level)",
    BENCH_ROWS(rows), .rounds = 31,
    .setup = setup, .enter_phase = enter_phase, .sample = sample,
};
