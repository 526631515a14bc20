/* bench_calls - the per-call cost of libbindguard.so against native, in one run.
 *
 * Each sample is one batch of the same call, with whatever the call needs (descriptors
 * to close, sockets to bind, connections to accept) made before the clock starts and
 * cleaned up after it stops; its figure is the median of short timed groups within the
 * batch (bench_time_ops). benchlib alternates the two sides batch by batch. Nothing is
 * asserted: doc/performance.md records the figures. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "benchlib.h"
#include "table.h"

#define PER_BATCH 400
#define ACCEPTS   200   /* connections queued per batch: far below the listen backlog */
#define PORT_BASE 20000
#define PORTS     200   /* explicit ports from PORT_BASE each side cycles through */
/* Calls per timed group (benchlib.h: bench_time_ops): a few tens of microseconds each. */
#define GROUP       20  /* ~1 us calls */
#define GROUP_HEAVY 4   /* socket creation and binds: 5-10 us */

static int opt_fd = -1, holder_port, accept_fd = -1, accept_port, host;
static int fds[PER_BATCH];

static void setup(void)
{
    host = bench_private_host();
    opt_fd = socket(AF_INET, SOCK_STREAM, 0);
    int holder = bench_bound_socket(SOCK_STREAM, 1, 0, true);
    accept_fd = bench_bound_socket(SOCK_STREAM, 1, 0, true);
    if (opt_fd < 0 || holder < 0 || accept_fd < 0)
        bench_fail("setup: %s", strerror(errno));
    holder_port = bench_port_of(holder);
    accept_port = bench_port_of(accept_fd);
}

/* ---- one call each; what a call needs is made before its batch is timed ---- */

static void close_untracked(int i)
{
    close(fds[i]);
}

static void socket_close(int i)
{
    (void)i;
    close(socket(AF_INET, SOCK_STREAM, 0));
}

static void set_option(int i)
{
    int on = i & 1;
    setsockopt(opt_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}

static void get_option(int i)
{
    (void)i;
    int v;
    socklen_t len = sizeof v;
    getsockopt(opt_fd, SOL_SOCKET, SO_REUSEADDR, &v, &len);
}

/* socket + bind (+ listen) + close, to port 0 or to this side's explicit ports. */
static void bind_cycle(int port, bool listening)
{
    int fd = bench_bound_socket(SOCK_STREAM, host, port, listening);
    if (fd < 0)
        bench_bind_failed(port);
    else
        close(fd);
}

static void bind_port0(int i)
{
    (void)i;
    bind_cycle(0, false);
}

static void bind_port(int i)
{
    bind_cycle(PORT_BASE + i % PORTS, false);
}

/* Only bind and the close that releases its entry: the socket is made beforehand. */
static void bind_close(int i)
{
    int port = PORT_BASE + i % PORTS;
    struct sockaddr_in sin = bench_loopback(host, port);
    if (bind(fds[i], (struct sockaddr *)&sin, sizeof sin) != 0)
        bench_bind_failed(port);
    close(fds[i]);
}

static void bind_listen(int i)
{
    bind_cycle(PORT_BASE + i % PORTS, true);
}

/* A bind that the listener of setup() refuses: bindguard's refusal under the shim, the
 * kernel's natively. */
static void denied_bind(int i)
{
    struct sockaddr_in sin = bench_loopback(1, holder_port);
    if (bind(fds[i], (struct sockaddr *)&sin, sizeof sin) == 0)
        bench_fail("the denied bind was allowed");
}

static void accept_connection(int i)
{
    if ((fds[i] = accept(accept_fd, NULL, NULL)) < 0)
        bench_fail("accept: %s", strerror(errno));
}

/* ---- batches ---- */

static double untracked_batch(void)
{
    for (int i = 0; i < PER_BATCH; i++)
        fds[i] = (int)syscall(SYS_dup, 0);  /* made behind the shim's back: untracked */
    return bench_time_ops(close_untracked, PER_BATCH, GROUP);
}

/* Time one(i) on PER_BATCH sockets made beforehand; close what one() left open. */
static double on_new_sockets(void (*one)(int i), int group)
{
    for (int i = 0; i < PER_BATCH; i++)
        if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
            bench_fail("socket: %s", strerror(errno));
    double ns = bench_time_ops(one, PER_BATCH, group);
    if (one == denied_bind)
        for (int i = 0; i < PER_BATCH; i++)
            close(fds[i]);
    return ns;
}

/* On loopback the handshake completes inside connect(): the connections wait in the
 * backlog, and only accept() is timed. */
static double accept_batch(void)
{
    struct sockaddr_in sin = bench_loopback(1, accept_port);
    int clients[ACCEPTS];
    for (int i = 0; i < ACCEPTS; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(clients[i], (struct sockaddr *)&sin, sizeof sin) != 0)
            bench_fail("connect: %s", strerror(errno));
    }
    double ns = bench_time_ops(accept_connection, ACCEPTS, GROUP_HEAVY);
    for (int i = 0; i < ACCEPTS; i++) {
        bench_close_abort(fds[i]);
        close(clients[i]);
    }
    return ns;
}

/* Other users' tables beside the shim's own (doc/design.md "Trust domains"): made as
 * root, then given to uids that run nothing, each with entries on ports this bench
 * never binds. A bind then reads each one's summary counter for its port. */
#define OTHER_UID0     61000
#define OTHER_ENTRIES  200

static void add_other_tables(int upto)
{
    const char *prefix = getenv("BINDGUARD_TABLE");
    static int made;
    if (!bench_under_shim() || !prefix)
        return;
    for (; made < upto; made++) {
        char name[300], why[256];
        uid_t uid = OTHER_UID0 + (uid_t)made;
        snprintf(name, sizeof name, "%s.%u", prefix, (unsigned)uid);
        struct table *t = table_open(name, 0, why, sizeof why);
        if (!t || table_lock(t, 1000) != 0)
            bench_fail("another user's table: %s", t ? "lock" : why);
        for (int i = 0; i < OTHER_ENTRIES; i++) {
            struct table_entry e = { .inode = 1000 + (uint32_t)i, .uid = uid,
                                     .proto = IPPROTO_TCP };
            e.addr.family = AF_INET;
            e.addr.ip[10] = e.addr.ip[11] = 0xff;
            e.addr.port = (uint16_t)(40000 + i);
            uint32_t idx;
            table_claim(t, &e, &idx);
        }
        table_unlock(t);
        char path[300];
        table_file_path(name, path, sizeof path, NULL, 0);
        if (chown(path, uid, uid) != 0)
            bench_fail("chown %s: %s", path, strerror(errno));
        table_close(t);
    }
}

static void enter_phase(int phase)
{
    add_other_tables(phase == 1 ? 1 : phase == 2 ? 4 : 0);
}

static void remove_other_tables(void)
{
    const char *prefix = getenv("BINDGUARD_TABLE");
    for (int i = 0; prefix && bench_under_shim() && i < 4; i++) {
        char name[300], path[300];
        snprintf(name, sizeof name, "%s.%u", prefix, (unsigned)(OTHER_UID0 + i));
        if (table_file_path(name, path, sizeof path, NULL, 0))
            unlink(path);
    }
}

enum { CLOSE, SOCKET, SETOPT, GETOPT, BIND0, BIND_CYCLE, BIND, LISTEN, DENIED, ACCEPT,
       BIND_1, BIND_4, DENIED_4 };

static const struct bench_row rows[] = {
    [CLOSE]  = { .name = "close(untracked fd)", RATIO_AT_MOST(1.05) },
    [SOCKET] = { .name = "socket+close", RATIO_AT_MOST(1.10) },
    [SETOPT] = { .name = "setsockopt(SO_REUSEADDR)" },
    [GETOPT] = { .name = "getsockopt(SO_REUSEADDR)" },
    [BIND0]  = { .name = "socket+bind(port 0)+close" },
    [BIND_CYCLE] = { .name = "socket+bind(port)+close" },
    [BIND]   = { .name = "bind(port)+close (allowed bind)", RATIO_AT_MOST(1.5) },
    [LISTEN] = { .name = "socket+bind(port)+listen+close" },
    [DENIED] = { .name = "denied bind (held by a listener)", SHIM_AT_MOST(30000) },
    [ACCEPT] = { .name = "accept of a connection" },
    [BIND_1] = { .name = "allowed bind, 1 other user's table", .phase = 1, RATIO_AT_MOST(2) },
    [BIND_4] = { .name = "allowed bind, 4 other users' tables", .phase = 2, RATIO_AT_MOST(2) },
    [DENIED_4] = { .name = "denied bind, 4 other users' tables", .phase = 2,
                   SHIM_AT_MOST(30000) },
};

static double sample(size_t row)
{
    switch (row) {
    case CLOSE:  return untracked_batch();
    case SOCKET: return bench_time_ops(socket_close, PER_BATCH, GROUP_HEAVY);
    case SETOPT: return bench_time_ops(set_option, PER_BATCH, GROUP);
    case GETOPT: return bench_time_ops(get_option, PER_BATCH, GROUP);
    case BIND0:  return bench_time_ops(bind_port0, PER_BATCH, GROUP_HEAVY);
    case BIND_CYCLE: return bench_time_ops(bind_port, PER_BATCH, GROUP_HEAVY);
    case BIND:   return on_new_sockets(bind_close, GROUP_HEAVY);
    case LISTEN: return bench_time_ops(bind_listen, PER_BATCH, GROUP_HEAVY);
    case DENIED: return on_new_sockets(denied_bind, GROUP);
    case ACCEPT: return accept_batch();
    case BIND_1:
    case BIND_4: return on_new_sockets(bind_close, GROUP_HEAVY);
    case DENIED_4: return on_new_sockets(denied_bind, GROUP);
    }
    return NAN;
}

const struct bench bench = {
    .name = "calls",
    .what = "per-call cost, native vs under libbindguard.so",
    BENCH_ROWS(rows), .rounds = 41,
    .setup = setup, .enter_phase = enter_phase, .teardown = remove_other_tables,
    .sample = sample,
};
