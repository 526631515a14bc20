/* bench_kernel_backend - what the kernel backend costs: the same calls inside and outside
 * a cgroup where `bindguard kernel enable --cgroup` attached the programs, in the same
 * run, alternating, medians of rounds. Reports; asserts nothing. Needs root and a build
 * with the backend (else says why and exits 0). Private cgroup and pin directory, removed
 * at the end.
 *
 *   socket+bind+close   an explicit port (bind4 judges, post_bind confirms, release frees)
 *   socket+close        never bound (sock_release finds nothing)
 *   setsockopt          SO_REUSEADDR on a socket (the setsockopt program passes it on)
 *   denial              a bind the backend refuses (absolute time)
 *   50,000 vs 10        socket+bind+close inside, with 50,000 other ports in the map */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf/kmap.h"

enum { ITER = 20000, ROUNDS = 5, FILL = 50000 };
enum { OP_BIND, OP_SOCKET, OP_SETSOCKOPT, OP_DENIAL, NOPS };
static const char *const op_names[NOPS] = { "socket+bind+close", "socket+close (unbound)",
                                            "setsockopt SO_REUSEADDR", "denied bind" };

static char cg[512], pin_dir[256];
static int base_port;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* ns per operation, in this process. */
static double measure(int op)
{
    struct sockaddr_in a = loopback(base_port);
    int holder = -1, on = 1;
    if (op == OP_DENIAL) {  /* an exclusive holder on base_port+1; binds there are refused */
        holder = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in h = loopback(base_port + 1);
        if (bind(holder, (struct sockaddr *)&h, sizeof h) != 0)
            return -1;
        a = h;
    }
    int s = op == OP_SETSOCKOPT ? socket(AF_INET, SOCK_STREAM, 0) : -1;
    double t0 = now_ns();
    for (int i = 0; i < ITER; i++) {
        if (op == OP_SETSOCKOPT) {
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
            continue;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (op != OP_SOCKET)
            bind(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
    }
    double per = (now_ns() - t0) / ITER;
    if (s >= 0)
        close(s);
    if (holder >= 0)
        close(holder);
    return per;
}

static bool join(const char *dir)
{
    char path[600], pid[24];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && write(fd, pid, strlen(pid)) > 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* One measurement in a child, inside the cgroup or not. */
static double in_child(bool inside, int op)
{
    int fds[2];
    double v = -1;
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        double r = inside && !join(cg) ? -1 : measure(op);
        if (write(fds[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &v, sizeof v) != sizeof v)
        v = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return v;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static int run(const char *cli, const char *args)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "BINDGUARD_KERNEL_DIR=%s %s kernel %s >/dev/null", pin_dir,
             cli, args);
    return system(cmd);
}

/* FILL keys for ports of a namespace nobody has (cookie ~0), straight into the map. */
static int fill_map(int n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/bindings", pin_dir);
    union bpf_attr at;
    memset(&at, 0, sizeof at);
    at.pathname = (uint64_t)(uintptr_t)path;
    int fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &at, sizeof at);
    if (fd < 0)
        return -1;
    static struct kmap_port value;
    int done = 0;
    for (int i = 0; i < n; i++) {
        struct kmap_key key = { .netns = ~0ull - (uint64_t)(i / 60000), .port = (uint16_t)(1 + i % 60000),
                                .proto = BG_PROTO_TCP };
        value.slot[0].cookie = 1;
        value.slot[0].b.cls = BG_CLASS_EXCLUSIVE;
        memset(&at, 0, sizeof at);
        at.map_fd = (uint32_t)fd;
        at.key = (uint64_t)(uintptr_t)&key;
        at.value = (uint64_t)(uintptr_t)&value;
        done += syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &at, sizeof at) == 0;
    }
    close(fd);
    return done;
}

int main(void)
{
    const char *cli = getenv("BG_CLI");
    char root[256] = "/sys/fs/cgroup/unified";
    if (geteuid() != 0 || !cli) {
        printf("bench_kernel_backend: SKIP (needs root and BG_CLI)\n");
        return 0;
    }
    FILE *m = fopen("/proc/self/mountinfo", "r");
    char line[1024], mnt[256], type[64];
    while (m && fgets(line, sizeof line, m)) {
        const char *sep = strstr(line, " - ");
        if (sep && sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1 &&
            sscanf(sep + 3, "%63s", type) == 1 && strcmp(type, "cgroup2") == 0)
            snprintf(root, sizeof root, "%s", mnt);
    }
    if (m)
        fclose(m);
    snprintf(cg, sizeof cg, "%s/bg-bench-kernel-%d", root, (int)getpid());
    snprintf(pin_dir, sizeof pin_dir, "/sys/fs/bpf/bg-bench-kernel-%d", (int)getpid());
    srand((unsigned)getpid());
    base_port = 30000 + rand() % 20000;
    char args[700];
    snprintf(args, sizeof args, "enable --cgroup %s", cg);
    if (mkdir(cg, 0755) != 0 || run(cli, args) != 0) {
        printf("bench_kernel_backend: SKIP (cannot enable the kernel backend on %s)\n", cg);
        rmdir(cg);
        return 0;
    }
    printf("%-26s %12s %12s %8s\n", "operation (ns)", "outside", "inside", "ratio");
    for (int op = 0; op < NOPS; op++) {
        double out[ROUNDS], in[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            out[r] = in_child(false, op);
            in[r] = in_child(true, op);
        }
        double o = median(out, ROUNDS), i = median(in, ROUNDS);
        if (op == OP_DENIAL)
            printf("%-26s %12s %12.0f %8s  (refused inside; outside: native EADDRINUSE %.0f)\n",
                   op_names[op], "-", i, "-", o);
        else
            printf("%-26s %12.0f %12.0f %7.2fx\n", op_names[op], o, i, i / o);
    }
    double small[ROUNDS], big[ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        small[r] = in_child(true, OP_BIND);
    int filled = fill_map(FILL);
    for (int r = 0; r < ROUNDS; r++)
        big[r] = in_child(true, OP_BIND);
    double s = median(small, ROUNDS), b = median(big, ROUNDS);
    printf("%-26s %12.0f %12.0f %7.2fx  (%d ports in the map vs a few)\n",
           "bind, map 50,000 vs 10", s, b, b / s, filled);
    run(cli, "disable");
    rmdir(cg);
    return 0;
}
