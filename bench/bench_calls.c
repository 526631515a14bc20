/* bench_calls - the per-call cost of libbindguard.so against native, in one run.
 *
 * The parent runs this same binary natively and under LD_PRELOAD (private table),
 * alternating, RUNS times each; every child prints one median of batch means per call.
 * Alternating and taking the median over runs keeps a busy 2-core machine from
 * favouring either side. Nothing is asserted: the README records the figures. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bindguard.h"

#define BATCHES 15
#define RUNS 5
#define PER_BATCH 400

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Each op returns the nanoseconds spent in the calls it measures. */
typedef double (*op_fn)(int i);

static double median_ns(op_fn op)
{
    double batch[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double spent = 0;
        for (int i = 0; i < PER_BATCH; i++)
            spent += op(i);
        batch[b] = spent / PER_BATCH;
    }
    qsort(batch, BATCHES, sizeof batch[0], cmp_double);
    return batch[BATCHES / 2];
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static double op_close_untracked(int i)
{
    (void)i;
    int fd = (int)syscall(SYS_dup, 0);  /* made behind the shim's back: untracked */
    double t = now_ns();
    close(fd);
    return now_ns() - t;
}

static double op_socket_close(int i)
{
    (void)i;
    double t = now_ns();
    close(socket(AF_INET, SOCK_STREAM, 0));
    return now_ns() - t;
}

static int opt_fd = -1;

static double op_setsockopt(int i)
{
    int on = i & 1;
    double t = now_ns();
    setsockopt(opt_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    return now_ns() - t;
}

static double op_getsockopt(int i)
{
    (void)i;
    int v;
    socklen_t len = sizeof v;
    double t = now_ns();
    getsockopt(opt_fd, SOL_SOCKET, SO_REUSEADDR, &v, &len);
    return now_ns() - t;
}

static double op_bind0(int i)
{
    (void)i;
    struct sockaddr_in sin = loopback(0);
    double t = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    close(fd);
    return now_ns() - t;
}

static int base_port;

static double op_bind_port(int i)
{
    struct sockaddr_in sin = loopback(base_port + i % 200);
    double t = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    close(fd);
    return now_ns() - t;
}

static double op_bind_listen(int i)
{
    (void)i;
    struct sockaddr_in sin = loopback(0);
    double t = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    listen(fd, 8);
    close(fd);
    return now_ns() - t;
}

static int held_port;

/* A bind that an exclusive listener of this process refuses (under the shim) or that
 * the kernel refuses (natively): the cost of saying no. */
static double op_denied(int i)
{
    (void)i;
    struct sockaddr_in sin = loopback(held_port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double t = now_ns();
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    double spent = now_ns() - t;
    close(fd);
    return spent;
}

static const struct { const char *name; op_fn fn; } ops[] = {
    { "close(untracked fd)", op_close_untracked },
    { "socket+close", op_socket_close },
    { "setsockopt(SO_REUSEADDR)", op_setsockopt },
    { "getsockopt(SO_REUSEADDR)", op_getsockopt },
    { "socket+bind(port 0)+close", op_bind0 },
    { "socket+bind(port)+close", op_bind_port },
    { "socket+bind+listen+close", op_bind_listen },
    { "denied bind", op_denied },
};
#define N_OPS (sizeof ops / sizeof ops[0])

static int measure(void)
{
    opt_fd = socket(AF_INET, SOCK_STREAM, 0);
    base_port = 30000 + getpid() % 20000;
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = loopback(0);
    bind(holder, (struct sockaddr *)&sin, sizeof sin);
    listen(holder, 8);
    socklen_t len = sizeof sin;
    getsockname(holder, (struct sockaddr *)&sin, &len);
    held_port = ntohs(sin.sin_port);
    for (size_t i = 0; i < N_OPS; i++)
        printf("%zu %.0f\n", i, median_ns(ops[i].fn));
    return 0;
}

static double median_over_runs(double runs[RUNS][N_OPS], size_t op)
{
    double v[RUNS];
    for (int r = 0; r < RUNS; r++)
        v[r] = runs[r][op];
    qsort(v, RUNS, sizeof v[0], cmp_double);
    return v[RUNS / 2];
}

/* Run ourselves with `env` added; read back one median per op. */
static int run_child(const char *self, char *const env[], double *out)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        for (char *const *e = env; *e; e++)
            putenv(*e);
        execl(self, self, "--measure", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    size_t i;
    double v;
    while (f && fscanf(f, "%zu %lf", &i, &v) == 2)
        if (i < N_OPS)
            out[i] = v;
    if (f)
        fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--measure") == 0)
        return measure();
    const char *lib = getenv("BG_LIB"), *san = getenv("BG_SAN_PRELOAD");
    if (!lib) {
        fprintf(stderr, "bench_calls: BG_LIB is not set (run it with meson test --benchmark)\n");
        return 2;
    }
    static char preload[1024], table[128];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", san && *san ? san : "",
             san && *san ? ":" : "", lib);
    snprintf(table, sizeof table, "BINDGUARD_TABLE=/bg-bench-calls-%d", (int)getpid());
    char *native_env[] = { NULL };
    char *shim_env[] = { preload, table, "BINDGUARD_LOG=off", NULL };
    double native[RUNS][N_OPS] = {{0}}, shim[RUNS][N_OPS] = {{0}};
    for (int r = 0; r < RUNS; r++) {
        if (run_child("/proc/self/exe", native_env, native[r]) != 0 ||
            run_child("/proc/self/exe", shim_env, shim[r]) != 0) {
            fprintf(stderr, "bench_calls: a measuring child failed\n");
            return 1;
        }
    }
    char path[160];
    snprintf(path, sizeof path, "/dev/shm%s", strchr(table, '/'));
    unlink(path);
    printf("%-28s %12s %12s %8s   (medians of %d alternating runs)\n", "call", "native ns",
           "shim ns", "ratio", RUNS);
    for (size_t i = 0; i < N_OPS; i++) {
        double n = median_over_runs(native, i), m = median_over_runs(shim, i);
        printf("%-28s %12.0f %12.0f %7.2fx\n", ops[i].name, n, m, n > 0 ? m / n : 0.0);
    }
    return 0;
}
