/* benchlib - the native-vs-shim machinery every paired bench shares (see benchlib.h).
 *
 * Parent and children speak lines over pipes: the parent writes a row number, the child
 * answers "v <value>", after any number of "n <note>" and "a <row> <value>" (a derived
 * row) lines. A child that breaks exits, and the parent sees end of file. */
#include "benchlib.h"

#include "bindguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_FLAG  "--bench-child"
#define MAX_NOTES   32
#define NOTE_LEN    240
#define SIDES       2

static const char *const side_name[SIDES] = { "native", "shim" };
static const char *self_name = "bench";  /* argv[0], for the children's process names */

/* ---- helpers for the sample functions ------------------------------------------------ */

static int my_side = -1;

int bench_side(void)
{
    if (my_side < 0) {
        const char *s = getenv("BG_BENCH_SIDE");
        my_side = s && strcmp(s, "1") == 0;
    }
    return my_side;
}

bool bench_under_shim(void)
{
    return bench_side() == 1;
}

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    char text[NOTE_LEN];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';  /* one line is one message in the protocol */
    fprintf(f, "%s%s\n", prefix, text);
    fflush(f);
}

void bench_also(size_t row, double v)
{
    printf("a %zu %.17g\n", row, v);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(stdout, "n ", fmt, ap);
    va_end(ap);
}

_Noreturn void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bench (%s side): ", side_name[bench_side()]);
    vline(stderr, prefix, fmt, ap);
    va_end(ap);
    exit(1);
}

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct sockaddr_in bench_loopback(int host, int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl((uint32_t)(INADDR_LOOPBACK & ~0xffu) | (uint32_t)host);
    return sin;
}

int bench_private_host(void)
{
    return 100 + bench_side();
}

void bench_bind_failed(int port)
{
    if (errno != EADDRINUSE)
        bench_fail("bind to port %d: %s", port, strerror(errno));
    bench_note("port %d was taken by another program during the run; binds to it failed "
               "and were timed as they went", port);
}

int bench_port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
        return -1;
    return ntohs(sin.sin_port);
}

int bench_bound_socket(int type, int host, int port, bool listening)
{
    struct sockaddr_in sin = bench_loopback(host, port);
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        (listening && listen(fd, 4096) != 0)) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

void bench_close_abort(int fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

long bench_raise_nofile(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)n)
        return rl.rlim_cur == RLIM_INFINITY ? n : (long)rl.rlim_cur;
    struct rlimit want = { (rlim_t)n, rl.rlim_max };
    if (want.rlim_max != RLIM_INFINITY && want.rlim_max < (rlim_t)n)
        want.rlim_max = (rlim_t)n;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return n;
    /* Without CAP_SYS_RESOURCE: as far as the hard limit goes. */
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)n ? n : (long)rl.rlim_cur;
}

int bench_fork_dependent(void)
{
    pid_t parent = getpid();
    fflush(NULL);  /* or the child would write our pending output a second time */
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
    }
    return pid;
}

/* ---- the child's side of the protocol ----------------------------------------------- */

static int serve(const struct bench *b)
{
    if (b->setup)
        b->setup();
    int phase = INT_MIN;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        char *end;
        unsigned long row = strtoul(line, &end, 10);
        if (end == line || row >= b->n_rows)
            bench_fail("bad request '%s'", line);
        if (b->rows[row].phase != phase) {
            phase = b->rows[row].phase;
            if (b->enter_phase)
                b->enter_phase(phase);
        }
        double v = b->sample(row);
        printf("v %.17g\n", v);
        fflush(stdout);
    }
    if (b->teardown)
        b->teardown();
    return 0;
}

/* ---- the parent: children ------------------------------------------------------------ */

struct child {
    pid_t pid;
    FILE *to, *from;
};

struct run {
    const struct bench *b;
    struct child kids[SIDES];
    char notes[MAX_NOTES][NOTE_LEN];
    int n_notes;
    double *samples;  /* [row][side][round] */
};

static double *sample_at(struct run *r, size_t row, int side, int round)
{
    return &r->samples[(row * SIDES + (size_t)side) * (size_t)r->b->rounds + (size_t)round];
}

static void keep_note(struct run *r, const char *text)
{
    for (int i = 0; i < r->n_notes; i++)
        if (strcmp(r->notes[i], text) == 0)
            return;
    if (r->n_notes < MAX_NOTES)
        snprintf(r->notes[r->n_notes++], NOTE_LEN, "%.*s", NOTE_LEN - 1, text);
}

static void close_open(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Start this binary as the child of one side; env holds "NAME=value" to set, NULL-ended.
 * Requests go down p[1] -> p[0] (its stdin), answers up p[3] -> p[2] (its stdout). */
static bool spawn(struct child *c, int side, char *const env[])
{
    /* Close-on-exec, so the other side's child holds no copy of our ends: closing its
     * request pipe must reach it as end of file. dup2 clears the flag on 0 and 1, and
     * exec closes the rest. */
    int p[4] = { -1, -1, -1, -1 };
    if (pipe2(p, O_CLOEXEC) != 0 || pipe2(p + 2, O_CLOEXEC) != 0) {
        close_open(p, 4);
        return false;
    }
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (dup2(p[0], 0) < 0 || dup2(p[3], 1) < 0)
            _exit(127);
        unsetenv("LD_PRELOAD");
        for (char *const *e = env; *e; e++)
            putenv(*e);
        setenv("BG_BENCH_SIDE", side ? "1" : "0", 1);
        execl("/proc/self/exe", self_name, CHILD_FLAG, (char *)NULL);
        _exit(127);
    }
    int theirs[2] = { p[0], p[3] }, ours[2] = { p[1], p[2] };
    close_open(theirs, 2);
    if (c->pid < 0) {
        close_open(ours, 2);
        return false;
    }
    c->to = fdopen(p[1], "w");
    c->from = fdopen(p[2], "r");
    return c->to && c->from;
}

/* Keep a sample, unless it is from the warm-up round. */
static void keep(struct run *r, size_t row, int side, int round, double v)
{
    if (round >= 0 && row < r->b->n_rows)
        *sample_at(r, row, side, round) = v;
}

/* One sample of row from one side, with the rows reported along with it; false if the
 * child is gone. */
static bool ask(struct run *r, int side, size_t row, int round)
{
    struct child *c = &r->kids[side];
    if (fprintf(c->to, "%zu\n", row) < 0 || fflush(c->to) != 0)
        return false;
    char line[NOTE_LEN + 8];
    while (fgets(line, sizeof line, c->from)) {
        line[strcspn(line, "\n")] = '\0';
        char *end;
        if (strncmp(line, "n ", 2) == 0) {
            keep_note(r, line + 2);
        } else if (strncmp(line, "a ", 2) == 0) {
            size_t also = strtoul(line + 2, &end, 10);
            keep(r, also, side, round, strtod(end, NULL));
        } else if (strncmp(line, "v ", 2) == 0) {
            keep(r, row, side, round, strtod(line + 2, NULL));
            return true;
        }
    }
    return false;
}

static bool stop_child(struct child *c)
{
    if (c->to)
        fclose(c->to);
    if (c->from)
        fclose(c->from);
    int st = 0;
    if (c->pid > 0 && waitpid(c->pid, &st, 0) != c->pid)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Every round of every row, phase by phase, each side first in turn. */
static bool sample_all(struct run *r)
{
    const struct bench *b = r->b;
    int phase = INT_MIN;
    for (;;) {
        int next = INT_MAX;
        for (size_t i = 0; i < b->n_rows; i++)
            if (b->rows[i].phase > phase && b->rows[i].phase < next)
                next = b->rows[i].phase;
        if (next == INT_MAX)
            return true;
        phase = next;
        for (int round = -1; round < b->rounds; round++) {  /* -1: warm-up, discarded */
            for (size_t i = 0; i < b->n_rows; i++) {
                if (b->rows[i].phase != phase || b->rows[i].derived)
                    continue;
                int first = (int)(((size_t)round + 1 + i) & 1);
                for (int k = 0; k < SIDES; k++) {
                    int side = k ? 1 - first : first;
                    if (!ask(r, side, i, round)) {
                        fprintf(stderr, "bench %s: the %s child died\n", b->name,
                                side_name[side]);
                        return false;
                    }
                }
            }
        }
    }
}

/* ---- the parent: figures -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n), NAN if any is NAN or n is 0; sorts v. */
static double quantile(double *v, int n, double q)
{
    for (int i = 0; i < n; i++)
        if (isnan(v[i]))
            return NAN;
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double at = q * (n - 1);
    int lo = (int)at;
    return lo + 1 < n ? v[lo] + (at - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

struct figures {
    double side[SIDES];           /* medians */
    double ratio, q1, q3;         /* of the per-round shim/native pairs */
    double growth[SIDES];         /* against the base row, NAN without one */
    double ratio_growth;          /* ratio over the base row's ratio */
    int met;                      /* 1 yes, 0 no, -1 no target or no figure */
};

static void figure_row(struct run *r, size_t i, struct figures *f)
{
    int n = r->b->rounds;
    double v[n], pair[n];
    for (int s = 0; s < SIDES; s++) {
        memcpy(v, sample_at(r, i, s, 0), sizeof v);
        f->side[s] = quantile(v, n, 0.5);
    }
    for (int k = 0; k < n; k++)
        pair[k] = *sample_at(r, i, 1, k) / *sample_at(r, i, 0, k);
    memcpy(v, pair, sizeof v);
    f->ratio = quantile(v, n, 0.5);
    f->q1 = quantile(pair, n, 0.25);
    f->q3 = quantile(pair, n, 0.75);
}

static void judge_row(const struct bench_row *row, const struct figures *base, struct figures *f)
{
    for (int s = 0; s < SIDES; s++)
        f->growth[s] = base ? f->side[s] / base->side[s] : NAN;
    f->ratio_growth = base ? f->ratio / base->ratio : NAN;
    double got;
    switch (row->goal) {
    case GOAL_RATIO_AT_MOST:
    case GOAL_RATIO_AT_LEAST:
        got = f->ratio;
        break;
    case GOAL_SHIM_AT_MOST:
        got = f->side[1];
        break;
    case GOAL_GROWTH_AT_MOST:
        got = f->ratio_growth;
        break;
    default:
        f->met = -1;
        return;
    }
    if (!isfinite(got))
        f->met = -1;
    else
        f->met = row->goal == GOAL_RATIO_AT_LEAST ? got >= row->limit : got <= row->limit;
}

static void format_value(enum bench_unit u, double v, char *buf, size_t len)
{
    if (!isfinite(v))
        snprintf(buf, len, "-");
    else if (u == BENCH_PER_S)
        snprintf(buf, len, "%.0f/s", v);
    else if (v >= 100000)
        snprintf(buf, len, "%.0f us", v / 1000);
    else
        snprintf(buf, len, "%.0f ns", v);
}

static void format_target(const struct bench_row *row, char *buf, size_t len)
{
    char v[32];
    switch (row->goal) {
    case GOAL_RATIO_AT_MOST:
        snprintf(buf, len, "<=%.2fx", row->limit);
        return;
    case GOAL_RATIO_AT_LEAST:
        snprintf(buf, len, ">=%.2fx", row->limit);
        return;
    case GOAL_SHIM_AT_MOST:
        format_value(row->unit, row->limit, v, sizeof v);
        snprintf(buf, len, "shim<=%s", v);
        return;
    case GOAL_GROWTH_AT_MOST:
        snprintf(buf, len, "growth<=%.2fx", row->limit);
        return;
    case GOAL_NONE:
        break;
    }
    snprintf(buf, len, "-");
}

static const char *met_word(int met)
{
    return met < 0 ? "-" : met ? "yes" : "MISSED";
}

static void print_table(struct run *r, const struct figures *f)
{
    const struct bench *b = r->b;
    printf("\nbench %s: %s\n", b->name, b->what);
    printf("(%d alternating rounds after a warm-up; medians; ratio = median of the per-round "
           "shim/native pairs, [quartiles])\n", b->rounds);
    printf("%-46s %12s %12s %7s %15s %14s %6s\n", "", "native", "shim", "ratio",
           "[q1 - q3]", "target", "met");
    for (size_t i = 0; i < b->n_rows; i++) {
        char nat[32], shim[32], target[48], spread[32];
        format_value(b->rows[i].unit, f[i].side[0], nat, sizeof nat);
        format_value(b->rows[i].unit, f[i].side[1], shim, sizeof shim);
        format_target(&b->rows[i], target, sizeof target);
        snprintf(spread, sizeof spread, "[%.2f - %.2f]", f[i].q1, f[i].q3);
        printf("%-46s %12s %12s %6.2fx %15s %14s %6s\n", b->rows[i].name, nat, shim,
               f[i].ratio, spread, target, met_word(f[i].met));
    }
    for (size_t i = 0; i < b->n_rows; i++)
        if (b->rows[i].base)
            printf("  growth of \"%s\" over \"%s\": shim %.2fx, native %.2fx, "
                   "ratio %.2fx\n", b->rows[i].name, b->rows[i].base->name,
                   f[i].growth[1], f[i].growth[0], f[i].ratio_growth);
    for (int i = 0; i < r->n_notes; i++)
        printf("  note: %s\n", r->notes[i]);
    fflush(stdout);
}

static void json_string(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static void json_number(FILE *o, const char *key, double v)
{
    fprintf(o, ", \"%s\": ", key);
    if (isfinite(v))
        fprintf(o, "%.6g", v);
    else
        fputs("null", o);
}

static bool write_json(struct run *r, const struct figures *f, const char *path)
{
    const struct bench *b = r->b;
    FILE *o = fopen(path, "w");
    if (!o)
        return false;
    fprintf(o, "{\"bench\": ");
    json_string(o, b->name);
    fprintf(o, ", \"what\": ");
    json_string(o, b->what);
    fprintf(o, ", \"rounds\": %d, \"rows\": [", b->rounds);
    for (size_t i = 0; i < b->n_rows; i++) {
        const struct bench_row *row = &b->rows[i];
        const char *unit = row->unit == BENCH_PER_S ? "per_s" : "ns";
        char key[32], target[48];
        fprintf(o, "%s\n  {\"name\": ", i ? "," : "");
        json_string(o, row->name);
        fprintf(o, ", \"unit\": \"%s\"", unit);
        for (int s = 0; s < SIDES; s++) {
            snprintf(key, sizeof key, "%s_%s", side_name[s], unit);
            json_number(o, key, f[i].side[s]);
        }
        json_number(o, "ratio", f[i].ratio);
        json_number(o, "ratio_q1", f[i].q1);
        json_number(o, "ratio_q3", f[i].q3);
        if (row->base) {
            fprintf(o, ", \"growth_base\": ");
            json_string(o, row->base->name);
            json_number(o, "growth", f[i].growth[1]);
            json_number(o, "native_growth", f[i].growth[0]);
            json_number(o, "ratio_growth", f[i].ratio_growth);
        }
        format_target(row, target, sizeof target);
        fprintf(o, ", \"target\": ");
        if (row->goal == GOAL_NONE)
            fputs("null", o);
        else
            json_string(o, target);
        fprintf(o, ", \"met\": %s}", f[i].met < 0 ? "null" : f[i].met ? "true" : "false");
    }
    fprintf(o, "\n], \"notes\": [");
    for (int i = 0; i < r->n_notes; i++) {
        fputs(i ? ", " : "", o);
        json_string(o, r->notes[i]);
    }
    fprintf(o, "]}\n");
    return fclose(o) == 0;
}

/* ---- the parent: the whole run --------------------------------------------------------- */

/* BG_LIB (meson sets it), else the library of the build tree this bench was built in. */
static bool find_lib(char *buf, size_t len)
{
    const char *lib = getenv("BG_LIB");
    if (lib && *lib) {
        snprintf(buf, len, "%s", lib);
        return true;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    int n_out = snprintf(buf, len, "%s/../src/libbindguard.so", self);
    return n_out > 0 && (size_t)n_out < len && access(buf, R_OK) == 0;
}

/* Settings of the library that the shim side inherits: they change what is measured. */
static void print_inherited_settings(void)
{
    static const char *const names[] = {
        BINDGUARD_ENV_PROFILE, BINDGUARD_ENV_MODE, BINDGUARD_ENV_DEFAULT,
        BINDGUARD_ENV_REUSEADDR, BINDGUARD_ENV_EMULATE, BINDGUARD_ENV_TABLE_SLOTS,
        BINDGUARD_ENV_LOCK_TIMEOUT_MS, BINDGUARD_ENV_SHARE_UIDS,
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v)
            printf("  shim side also runs with %s=%s from the environment\n", names[i], v);
    }
}

static int run_parent(const struct bench *b)
{
    static char lib[PATH_MAX], preload[2 * PATH_MAX + 2], table[96];
    if (!find_lib(lib, sizeof lib)) {
        fprintf(stderr, "bench %s: libbindguard.so not found; set BG_LIB\n", b->name);
        return 2;
    }
    const char *san = getenv("BG_SAN_PRELOAD");
    bool with_san = san && *san;
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", with_san ? san : "",
             with_san ? ":" : "", lib);
    snprintf(table, sizeof table, "BINDGUARD_TABLE=/bg-bench-%s-%d", b->name, (int)getpid());
    char shm_path[128];
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s", strchr(table, '/'));
    char *native_env[] = { NULL };
    char *shim_env[] = { preload, table, "BINDGUARD_LOG=off", NULL };
    char *const *envs[SIDES] = { native_env, shim_env };

    struct run r = { .b = b };
    r.samples = calloc(b->n_rows * SIDES * (size_t)b->rounds, sizeof *r.samples);
    struct figures *f = calloc(b->n_rows, sizeof *f);
    if (!r.samples || !f)
        return 1;
    bool ok = true;
    for (int s = 0; s < SIDES && ok; s++)
        ok = spawn(&r.kids[s], s, envs[s]);
    ok = ok && sample_all(&r);
    for (int s = 0; s < SIDES; s++) {
        if (!ok && r.kids[s].pid > 0)
            kill(r.kids[s].pid, SIGKILL);
        ok &= stop_child(&r.kids[s]);
    }
    unlink(shm_path);
    if (!ok) {
        fprintf(stderr, "bench %s: broken (a measuring child failed)\n", b->name);
        return 1;
    }
    for (size_t i = 0; i < b->n_rows; i++)
        figure_row(&r, i, &f[i]);
    for (size_t i = 0; i < b->n_rows; i++)
        judge_row(&b->rows[i], b->rows[i].base ? &f[b->rows[i].base - b->rows] : NULL, &f[i]);
    print_table(&r, f);
    printf("  shim side: %s, %s, BINDGUARD_LOG=off\n", preload, table);
    print_inherited_settings();
    const char *json = getenv("BG_BENCH_JSON");
    if (json && *json && !write_json(&r, f, json)) {
        fprintf(stderr, "bench %s: cannot write %s: %s\n", b->name, json, strerror(errno));
        ok = false;
    }
    free(r.samples);
    free(f);
    return ok ? 0 : 1;
}

double bench_time_ops(void (*one)(int i), int n, int group)
{
    int groups = group > 0 && n / group > 0 ? n / group : 1;
    group = n / groups;
    double mean[groups];
    for (int g = 0; g < groups; g++) {
        double t0 = bench_now_ns();
        for (int i = g * group; i < (g + 1) * group; i++)
            one(i);
        mean[g] = (bench_now_ns() - t0) / group;
    }
    return quantile(mean, groups, 0.5);
}

/* The parent's run, or a child's service when the parent started us as one. */
int main(int argc, char **argv)
{
    if (argc > 0 && argv[0])
        self_name = argv[0];
    if (argc > 1 && strcmp(argv[1], CHILD_FLAG) == 0)
        return serve(&bench);
    return run_parent(&bench);
}
