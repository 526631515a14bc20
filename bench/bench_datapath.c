/* bench_datapath - what a server's traffic costs under the shim.
 *
 * Each side forks a small TCP echo server (one connection at a time, as simple as a
 * server gets, so any per-request cost of the shim stands out) and drives it from a
 * client loop on loopback for a fixed time: a new connection per request (connect,
 * send, receive, close; the client resets the connection, so that thousands of them
 * leave no TIME_WAIT behind), or requests on one persistent connection. Server and
 * client both run under the shim on the shim side. The figure is requests per second. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

#define RUN_NS 100e6   /* each sample: the client loop runs this long */
#define MSG    64      /* request and reply size */

static int server_pid = -1, server_port;
static clockid_t server_clock;

static void no_delay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static _Noreturn void serve(int lfd)
{
    char buf[4096];
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            _exit(1);
        }
        no_delay(c);
        ssize_t n;
        while ((n = recv(c, buf, sizeof buf, 0)) > 0)
            if (!send_all(c, buf, (size_t)n))
                break;
        close(c);
    }
}

/* A server per sample: where the scheduler puts a ping-pong pair (one CPU or two) moves
 * its rate by more than the shim could, and a placement, once made, tends to stay. A
 * fresh server draws a fresh placement each time, so the medians see both. */
static void start_server(void)
{
    int lfd = bench_bound_socket(SOCK_STREAM, 1, 0, true);
    if (lfd < 0)
        bench_fail("server socket: %s", strerror(errno));
    server_port = bench_port_of(lfd);
    if ((server_pid = bench_fork_dependent()) < 0)
        bench_fail("fork: %s", strerror(errno));
    if (server_pid == 0)
        serve(lfd);
    close(lfd);
    if (clock_getcpuclockid(server_pid, &server_clock) != 0)
        bench_fail("no CPU clock for the server");
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    server_pid = -1;
}

static int connect_server(void)
{
    struct sockaddr_in sin = bench_loopback(1, server_port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
        bench_fail("connect: %s", strerror(errno));
    no_delay(fd);
    return fd;
}

static void request(int fd)
{
    static const char req[MSG] = "GET /echo";
    char reply[MSG];
    if (!send_all(fd, req, sizeof req))
        bench_fail("send: %s", strerror(errno));
    for (size_t got = 0; got < sizeof reply;) {
        ssize_t k = recv(fd, reply + got, sizeof reply - got, 0);
        if (k <= 0 && !(k < 0 && errno == EINTR))
            bench_fail("recv: %s", k ? strerror(errno) : "server closed");
        if (k > 0)
            got += (size_t)k;
    }
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(server_clock, &ts);
    return bench_cpu_ns() + (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Requests per second for RUN_NS; reports the CPU time client and server spent per
 * request as row cpu_row: unlike the rate, it hardly moves when other processes take
 * the CPU, so it shows a small cost of the shim that the rate's noise would hide. */
static double drive(bool persistent, size_t cpu_row)
{
    start_server();
    int fd = persistent ? connect_server() : -1;
    double t0 = bench_now_ns(), c0 = cpu_ns(), t;
    long n = 0;
    do {
        if (!persistent)
            fd = connect_server();
        request(fd);
        if (!persistent)
            bench_close_abort(fd);
        n++;
    } while ((t = bench_now_ns()) - t0 < RUN_NS);
    bench_also(cpu_row, (cpu_ns() - c0) / n);
    if (persistent)
        close(fd);
    stop_server();
    return n / ((t - t0) / 1e9);
}

enum { NEW, NEW_CPU, KEPT, KEPT_CPU };

static const struct bench_row rows[] = {
    [NEW] = { .name = "new connection per request", .unit = BENCH_PER_S,
              RATIO_AT_LEAST(0.99) },
    [NEW_CPU] = { .name = "  CPU per request, client+server", .derived = true },
    [KEPT] = { .name = "requests on one persistent connection", .unit = BENCH_PER_S,
               RATIO_AT_LEAST(0.99) },
    [KEPT_CPU] = { .name = "  CPU per request, client+server", .derived = true },
};

static double sample(size_t row)
{
    return row == NEW ? drive(false, NEW_CPU) : row == KEPT ? drive(true, KEPT_CPU) : NAN;
}

const struct bench bench = {
    .name = "datapath",
    .what = "requests/s of a forked TCP echo server (64-byte requests) on loopback; "
            "server and client both under the shim on the shim side",
    BENCH_ROWS(rows), .rounds = 31,
    .sample = sample,
};
