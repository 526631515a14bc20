/* bench_start - what preloading libbindguard.so costs every process it is loaded into.
 *
 * A shell run under bindguard pays this on every command. posix_spawn + wait of
 * /bin/true three ways, interleaved round by round (each round starts with the next
 * side): nothing preloaded, an empty library preloaded (empty_preload.c), and the shim.
 * Any preload costs the loader an object to open, map and relocate; the shim's own cost
 * is its difference to the empty library, taken per round so that load which comes and
 * goes lands on both alike. Three measures of each run: wall time (what a user waits),
 * the child's CPU time and its minor page faults (rusage; steadier on a loaded machine:
 * in a VM a fault costs several microseconds). A target is judged only where the
 * spread of the per-round differences lets their median be known to half of it. Asserts nothing; $BG_BENCH_JSON gets one
 * JSON object. BG_START_ROUNDS=N changes the number of rounds. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/json.h"
#include "cli/preload.h"
#include "measure.h"

#define ROUNDS     600
#define WARMUP     20
#define TARGET_US  25.0  /* shim over empty, wall and CPU */

enum side { NOTHING, EMPTY, SHIM, SIDES };
enum measure { WALL, CPU, FAULTS, MEASURES };

static const char *const side_name[SIDES] = { "nothing", "empty", "shim" };
static const struct {
    const char *name, *key, *unit;
    bool has_target;
} measures[MEASURES] = {
    { "wall time (us)", "wall", "us", true },
    { "child CPU time (us)", "cpu", "us", true },
    { "child minor page faults", "faults", "faults", false },
};

struct figure {
    double med[SIDES], q1[SIDES], q3[SIDES];
    double extra, extra_q1, extra_q3;     /* shim - empty, per round */
    double extra_se;                      /* standard error of that median */
    double ratio, ratio_q1, ratio_q3;     /* shim / empty, per round */
    double preload;                       /* empty - nothing, per round (median) */
    int met;                              /* 1, 0, or -1 without a target */
};

static _Noreturn void fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "bench start: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

/* $env if set, else name in the first of dirs (relative to this binary) that has it. */
static void find_library(const char *env, const char *name, const char *const *dirs,
                         char *buf, size_t len)
{
    char tried[PATH_MAX];
    if (!preload_find_or_env(env, name, dirs, buf, len, tried, sizeof tried))
        fail("no %s; set the variable named in bench/meson.build", name);
}

/* One run of prog with env: its three measures. stderr_fd >= 0 takes its stderr. */
static void run_once(const char *prog, char *const env[], int stderr_fd, double m[MEASURES])
{
    char *const argv[] = { (char *)prog, NULL };
    posix_spawn_file_actions_t fa, *fap = NULL;
    if (stderr_fd >= 0) {
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, stderr_fd, STDERR_FILENO);
        fap = &fa;
    }
    struct rusage ru;
    int st;
    pid_t pid;
    double t0 = bench_now_ns();
    int err = posix_spawn(&pid, prog, fap, NULL, argv, env);
    if (err == 0 && wait4(pid, &st, 0, &ru) != pid)
        err = errno;
    double t1 = bench_now_ns();
    if (fap)
        posix_spawn_file_actions_destroy(fap);
    if (err)
        fail("cannot run: %s", strerror(err));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("%s did not exit 0", prog);
    m[WALL] = (t1 - t0) / 1000;
    m[CPU] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    m[FAULTS] = (double)ru.ru_minflt;
}

/* A side whose preload does not load would measure nothing: the loader says so on
 * stderr, and the program still runs. */
static void check_quiet(const char *prog, char *const env[], const char *what)
{
    FILE *err = tmpfile();
    double m[MEASURES];
    if (!err)
        fail("tmpfile: %s", strerror(errno));
    run_once(prog, env, fileno(err), m);
    char line[512] = "";
    rewind(err);
    if (fgets(line, sizeof line, err)) {
        line[strcspn(line, "\n")] = '\0';
        fprintf(stderr, "bench start: with %s: %s\n", what, line);
        exit(1);
    }
    fclose(err);
}

static void quartiles(double *v, int n, double *med, double *q1, double *q3)
{
    *q1 = bench_quantile(v, n, 0.25);  /* sorts v: the rest read it sorted */
    *med = bench_quantile(v, n, 0.5);
    *q3 = bench_quantile(v, n, 0.75);
}

/* s[side][round] of one measure. */
static void figure(int n, double (*s)[n], bool has_target, struct figure *f)
{
    double v[n];
    for (int k = 0; k < SIDES; k++) {
        memcpy(v, s[k], sizeof v);
        quartiles(v, n, &f->med[k], &f->q1[k], &f->q3[k]);
    }
    for (int r = 0; r < n; r++)
        v[r] = s[SHIM][r] - s[EMPTY][r];
    quartiles(v, n, &f->extra, &f->extra_q1, &f->extra_q3);
    /* The median's standard error, from the quartiles as if the differences were
     * normal (sigma = IQR / 1.349): sqrt(pi/2) sigma / sqrt(n). */
    f->extra_se = 1.2533 * (f->extra_q3 - f->extra_q1) / 1.349 / sqrt(n);
    for (int r = 0; r < n; r++)
        v[r] = s[SHIM][r] / s[EMPTY][r];
    quartiles(v, n, &f->ratio, &f->ratio_q1, &f->ratio_q3);
    for (int r = 0; r < n; r++)
        v[r] = s[EMPTY][r] - s[NOTHING][r];
    f->preload = bench_quantile(v, n, 0.5);
    /* A load that spreads the differences wider than the target can resolve judges
     * nothing (the table says so). */
    f->met = has_target && isfinite(f->extra) && f->extra_se <= TARGET_US / 2
                 ? f->extra <= TARGET_US : -1;
}

static void print_table(const char *prog, int n, const struct figure *f, const char *load)
{
    printf("\nbench start: what preloading libbindguard.so costs a process "
           "(posix_spawn + wait of %s)\n", prog);
    printf("(%d rounds after %d warm-up, the three sides interleaved; medians [quartiles]; "
           "shim-empty and ratio: of the per-round pairs)\n", n, WARMUP);
    printf("%-24s %20s %20s %20s %26s %20s %9s %6s\n", "", side_name[NOTHING],
           side_name[EMPTY], side_name[SHIM], "shim-empty", "ratio", "target", "met");
    for (int m = 0; m < MEASURES; m++) {
        char cell[SIDES + 2][48], target[16] = "-";
        for (int k = 0; k < SIDES; k++)
            snprintf(cell[k], sizeof cell[k], "%.0f [%.0f-%.0f]", f[m].med[k], f[m].q1[k],
                     f[m].q3[k]);
        snprintf(cell[SIDES], sizeof cell[SIDES], "%+.0f +-%.0f [%+.0f %+.0f]", f[m].extra,
                 f[m].extra_se, f[m].extra_q1, f[m].extra_q3);
        snprintf(cell[SIDES + 1], sizeof cell[SIDES + 1], "%.3fx [%.2f-%.2f]", f[m].ratio,
                 f[m].ratio_q1, f[m].ratio_q3);
        if (measures[m].has_target)
            snprintf(target, sizeof target, "<=%.0f us", TARGET_US);
        printf("%-24s %20s %20s %20s %26s %20s %9s %6s\n", measures[m].name, cell[NOTHING],
               cell[EMPTY], cell[SHIM], cell[SIDES], cell[SIDES + 1], target,
               f[m].met < 0 ? "-" : f[m].met ? "yes" : "MISSED");
    }
    for (int m = 0; m < MEASURES; m++)
        if (measures[m].has_target && f[m].met < 0)
            printf("  %s: not judged, the median difference is only known to +-%.0f us "
                   "(the machine is loaded)\n", measures[m].key, f[m].extra_se);
    printf("  any preload (empty - nothing): %+.0f us wall, %+.0f us CPU, %+.0f faults\n",
           f[WALL].preload, f[CPU].preload, f[FAULTS].preload);
    printf("  note: %s\n", load);
    fflush(stdout);
}

static bool write_json(const char *path, const char *prog, int n, const struct figure *f,
                       const char *load)
{
    FILE *o = fopen(path, "w");
    if (!o)
        return false;
    char what[128];
    snprintf(what, sizeof what, "what preloading the shim costs a process: posix_spawn + "
             "wait of %s", prog);
    struct json j;
    json_start(&j, o);
    json_object_begin(&j, NULL);
    json_string(&j, "bench", "start");
    json_string(&j, "what", what);
    json_int(&j, "rounds", n);
    json_array_begin(&j, "rows");
    for (int m = 0; m < MEASURES; m++) {
        char key[32];
        json_object_begin(&j, NULL);
        json_string(&j, "name", measures[m].key);
        json_string(&j, "unit", measures[m].unit);
        for (int k = 0; k < SIDES; k++) {
            json_double(&j, side_name[k], f[m].med[k]);
            snprintf(key, sizeof key, "%s_q1", side_name[k]);
            json_double(&j, key, f[m].q1[k]);
            snprintf(key, sizeof key, "%s_q3", side_name[k]);
            json_double(&j, key, f[m].q3[k]);
        }
        json_double(&j, "shim_minus_empty", f[m].extra);
        json_double(&j, "shim_minus_empty_q1", f[m].extra_q1);
        json_double(&j, "shim_minus_empty_q3", f[m].extra_q3);
        json_double(&j, "shim_minus_empty_se", f[m].extra_se);
        json_double(&j, "ratio", f[m].ratio);
        json_double(&j, "ratio_q1", f[m].ratio_q1);
        json_double(&j, "ratio_q3", f[m].ratio_q3);
        json_double(&j, "empty_minus_nothing", f[m].preload);
        if (measures[m].has_target) {
            snprintf(key, sizeof key, "shim_minus_empty<=%.0f", TARGET_US);
            json_string(&j, "target", key);
            if (f[m].met < 0)
                json_null(&j, "met");
            else
                json_bool(&j, "met", f[m].met);
        } else {
            json_null(&j, "target");
            json_null(&j, "met");
        }
        json_object_end(&j);
    }
    json_array_end(&j);
    json_array_begin(&j, "notes");
    json_string(&j, NULL, load);
    json_array_end(&j);
    json_object_end(&j);
    json_finish(&j);
    return fclose(o) == 0;
}

/* The machine's load average over the last minute, from /proc/loadavg. */
static double load_now(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = NAN;
        fclose(f);
    }
    return l;
}

int main(void)
{
    const char *prog = access("/bin/true", X_OK) == 0 ? "/bin/true" : "/usr/bin/true";
    static char lib[SIDES][PATH_MAX], pre[SIDES][3 * PATH_MAX];
    static const char *const shim_dirs[] = { "../src", NULL }, *const here[] = { ".", NULL };
    find_library("BG_LIB", "libbindguard.so", shim_dirs, lib[SHIM], PATH_MAX);
    find_library("BG_EMPTY_LIB", "libbgempty.so", here, lib[EMPTY], PATH_MAX);
    /* A sanitizer build's runtime goes first on every side, so it cancels out. */
    const char *san = getenv("BG_SAN_PRELOAD");
    bool with_san = san && *san;
    char *env[SIDES][2];
    for (int k = 0; k < SIDES; k++) {
        if (snprintf(pre[k], sizeof pre[k], "LD_PRELOAD=%s%s%s", with_san ? san : "",
                     with_san && lib[k][0] ? ":" : "", lib[k]) >= (int)sizeof pre[k])
            fail("%s", "LD_PRELOAD too long");
        env[k][0] = with_san || lib[k][0] ? pre[k] : NULL;
        env[k][1] = NULL;
        check_quiet(prog, env[k], side_name[k]);
    }
    const char *r = getenv("BG_START_ROUNDS");
    int n = r && atoi(r) > 0 ? atoi(r) : ROUNDS;
    double (*s)[SIDES][n] = calloc(MEASURES, sizeof *s);
    if (!s)
        fail("%s", "out of memory");
    double load_before = load_now();
    for (int round = -WARMUP; round < n; round++) {
        for (int i = 0; i < SIDES; i++) {
            int k = (round + WARMUP + i) % SIDES;
            double m[MEASURES];
            run_once(prog, env[k], -1, m);
            for (int x = 0; x < MEASURES && round >= 0; x++)
                s[x][k][round] = m[x];
        }
    }
    char load[160];
    snprintf(load, sizeof load, "load average %.1f before, %.1f after, on %ld CPUs",
             load_before, load_now(), sysconf(_SC_NPROCESSORS_ONLN));
    struct figure f[MEASURES];
    for (int m = 0; m < MEASURES; m++)
        figure(n, s[m], measures[m].has_target, &f[m]);
    print_table(prog, n, f, load);
    printf("  shim: %s\n  empty: %s\n", lib[SHIM], lib[EMPTY]);
    const char *json = getenv("BG_BENCH_JSON");
    if (json && *json && !write_json(json, prog, n, f, load)) {
        fprintf(stderr, "bench start: cannot write %s: %s\n", json, strerror(errno));
        return 1;
    }
    free(s);
    return 0;
}
