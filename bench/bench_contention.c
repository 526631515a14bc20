/* bench_contention - many processes binding at once, all under one table.
 *
 * N worker processes (1, 2, 8, 32 on this 2-core machine) each create, bind to an
 * explicit port of their own, and close TCP sockets in a loop until a common deadline.
 * Under the shim every bind takes the one table lock, and holds it across the real
 * bind, so this is where a lock holder being preempted shows. The figure is the total
 * binds per second of all workers. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"

#define RUN_NS       250e6   /* each sample: all workers bind for this long */
#define MAX_WORKERS  32
#define PORTS_EACH   4       /* explicit ports a worker cycles through */
#define PORT_BAND    24000   /* on this side's private host */

struct shared {
    double deadline_ns;
    struct { long binds, errors; char pad[48]; } w[MAX_WORKERS];  /* a cache line each */
};

static struct shared *sh;

static void setup(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        bench_fail("mmap: %s", strerror(errno));
    /* One judged bind here, so that under the shim the workers inherit the table's
     * mapping instead of each opening it inside the timed run. */
    int fd = bench_bound_socket(SOCK_STREAM, bench_private_host(), PORT_BAND, false);
    if (fd < 0)
        bench_bind_failed(PORT_BAND);
    else
        close(fd);
}

static _Noreturn void work(int w, int go)
{
    char c;
    if (read(go, &c, 1) < 0)  /* end of file: the parent said go */
        _exit(1);
    long binds = 0, errors = 0;
    int first = PORT_BAND + w * PORTS_EACH, host = bench_private_host();
    while (bench_now_ns() < sh->deadline_ns) {
        int fd = bench_bound_socket(SOCK_STREAM, host, first + (int)(binds % PORTS_EACH), false);
        if (fd < 0) {
            errors++;
            continue;
        }
        close(fd);
        binds++;
    }
    sh->w[w].binds = binds;
    sh->w[w].errors = errors;
    _exit(0);
}

/* CPU time of the children waited for so far, user and system. */
static double children_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

/* Binds per second of n workers; their CPU time per bind goes to row cpu_row: a lock
 * waiter sleeps, so the CPU figure says what binding costs, the rate what waiting does. */
static double run_workers(int n, size_t cpu_row)
{
    int go[2];
    if (pipe(go) != 0)
        bench_fail("pipe: %s", strerror(errno));
    memset(sh->w, 0, sizeof sh->w);
    int pid[MAX_WORKERS];
    for (int w = 0; w < n; w++) {
        if ((pid[w] = bench_fork_dependent()) < 0)
            bench_fail("fork: %s", strerror(errno));
        if (pid[w] == 0) {
            close(go[1]);
            work(w, go[0]);
        }
    }
    close(go[0]);
    double cpu0 = children_cpu_ns();
    sh->deadline_ns = bench_now_ns() + RUN_NS;
    close(go[1]);
    long binds = 0, errors = 0;
    for (int w = 0; w < n; w++) {
        int st;
        if (waitpid(pid[w], &st, 0) != pid[w] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bench_fail("worker %d failed", w);
        binds += sh->w[w].binds;
        errors += sh->w[w].errors;
    }
    bench_also(cpu_row, (children_cpu_ns() - cpu0) / (binds ? binds : 1));
    if (errors)
        bench_note("%s side, %d workers: %ld binds failed (a port taken by someone else?)",
                   bench_under_shim() ? "shim" : "native", n, errors);
    return binds / (RUN_NS / 1e9);
}

/* Rows in pairs: the rate of n workers, then their CPU per bind. */
static const int workers[] = { 1, 2, 8, 32 };

static const struct bench_row rows[] = {
    { .name = "1 process: socket+bind(port)+close", .unit = BENCH_PER_S },
    { .name = "  CPU per socket+bind+close", .derived = true },
    { .name = "2 processes: socket+bind(port)+close", .unit = BENCH_PER_S },
    { .name = "  CPU per socket+bind+close", .derived = true },
    { .name = "8 processes: socket+bind(port)+close", .unit = BENCH_PER_S },
    { .name = "  CPU per socket+bind+close", .derived = true },
    { .name = "32 processes: socket+bind(port)+close", .unit = BENCH_PER_S },
    { .name = "  CPU per socket+bind+close", .derived = true },
};

static double sample(size_t row)
{
    return row / 2 < sizeof workers / sizeof workers[0] && row % 2 == 0
               ? run_workers(workers[row / 2], row + 1) : NAN;
}

const struct bench bench = {
    .name = "contention",
    .what = "total binds/s of N processes binding their own ports at once "
            "(shim: all under one table)",
    BENCH_ROWS(rows), .rounds = 7,
    .setup = setup, .sample = sample,
};
