/* test_stress - processes and threads churning binds on a few ports under the shim, some
 * SIGKILLed at random moments and some inside the table lock, while this process, which
 * does not load the shim, checks against the kernel that no two conflicting claims are
 * ever alive together.
 *
 * Time: BG_STRESS_SECONDS seconds of churn in each of the two modes (guard, emulate),
 * default 15, so the file takes about 40 s; BG_LONG=1 makes it 300 s per mode (give
 * meson room: `meson test --timeout-multiplier 3 test_stress`). What it
 * prints (binds, kills, recoveries after a death inside the lock, the longest bind) is
 * the run's own account.
 *
 * The parts: the workers (tests/agents/stress_worker.c, and stress/stress.h for what
 * they report), run and killed by stress/workers.c (the table's repair count tells how
 * many died inside the lock; test_faults' holder_killed_inside_the_lock does that for
 * certain); their reports read by stress/records.c into stress/claims.c; and
 * stress/checker.c, which judges what the kernel has alive against those claims.
 *
 * At the end the workers go idle: a gc (from here, with the table API) must confirm
 * every remaining entry, every granted socket still open must have its entry, and once
 * all are killed the gc must leave zero entries in a table that passes table_check. Any
 * bindguard trouble in the log, a worker that died unasked, a silent worker thread, or a
 * bind or close slower than the lock bound plus MARGIN_MS fails the test.
 *
 * Deterministic companions: test_fork's fork_while_binding / fork_after_binding, a fork
 * in one thread while another is inside bind(), and fork_while_closing, inside close();
 * test_faults' binder_killed_after_its_bind, a death in the lock after the real bind;
 * test_bind's shut_down_listener_keeps_its_claim, the shutdown op on its own, and
 * listen_toggling_keeps_its_claim, a listener starting and stopping while binders ask. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "stress/checker.h"
#include "stress/claims.h"
#include "stress/records.h"
#include "stress/stress.h"
#include "stress/workers.h"
#include "own.h"
#include "table.h"
#include "tables.h"

#define SLOTS           4096u
#define LOCK_MS         1000u   /* BINDGUARD_LOCK_TIMEOUT_MS */
#define MARGIN_MS       2000u   /* scheduling on a loaded 2-CPU VM, sanitizers */
#define PROBE_MS        8       /* mean gap between SIGSTOP probes */
#define STRIKE_EVERY_MS 250
#define HANG_MS         8000    /* a worker thread silent this long is hung */

static int ports[NPORTS];
static char table_name[128], log_path[256];
static struct table *table;
static int report_r = -1, report_w = -1;
static uint64_t rng_main;
static const char *mode_env;

/* This process's own checks of the table during the run. */
static struct {
    long checker_lock_fail, table_checks, max_entries;
} own;

static void check_table(void)
{
    char why[256];
    if (table_lock(table, 500) != 0) {
        own.checker_lock_fail++;
        return;
    }
    int r = table_check(table, why, sizeof why);
    long n = (long)table_count(table);
    table_unlock(table);
    ck_assert_msg(r == 0, "table_check during the run: %s", why);
    own.table_checks++;
    if (n > own.max_entries)
        own.max_entries = n;
}

static void check_hangs(int64_t now)
{
    pthread_mutex_lock(&records_lock);
    for (int i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        if (w->p->done || now - w->started < HANG_MS)
            continue;
        struct wstat *s = NULL;
        for (size_t j = 0; j < RECORDS_WORKERS; j++)
            if (records.w[j].pid == w->p->pid)
                s = &records.w[j];
        for (int t = 0; t < WORKER_THREADS; t++) {
            int64_t last = s ? s->last_ms[t] : 0;
            long long silent = (long long)(now - (last ? last : w->started));
            ck_assert_msg(last && silent < HANG_MS, "worker %d thread %d silent for %lld ms",
                          (int)w->p->pid, t, silent);
        }
    }
    /* Forget the dead, or the slots fill up. */
    for (size_t j = 0; j < RECORDS_WORKERS; j++) {
        bool live = false;
        for (int i = 0; i < WORKERS; i++)
            live |= !workers[i].p->done && workers[i].p->pid == records.w[j].pid;
        if (!live)
            records.w[j].pid = 0;
    }
    pthread_mutex_unlock(&records_lock);
}

/* ===== the run ========================================================================= */

static unsigned run_seconds(void)
{
    const char *s = getenv("BG_STRESS_SECONDS"), *l = getenv("BG_LONG");
    if (s && atoi(s) > 0)
        return (unsigned)atoi(s);
    return l && strcmp(l, "1") == 0 ? 300 : 15;
}

static void setup(void)
{
    records_reset();
    proc_table_name(table_name, sizeof table_name);
    proc_log_path(log_path, sizeof log_path);
    claims_reset();
    memset(&own, 0, sizeof own);
    rng_main = (uint64_t)proc_now_ms() * 6364136223846793005u + (uint64_t)getpid();
}

/* The reader also stops after a failed test under CK_FORK=no, where nothing else would
 * stop it. */
static void teardown(void)
{
    records_stop();
    proc_kill_all();
    harness_table_remove(table_name);
    unlink(log_path);
}

static void start(void)
{
    char why[256];
    proc_free_ports(ports, NPORTS);
    /* Made here, so its capacity is ours and its mapping is the killer's window into
     * the lock. */
    table = own_open(table_name, SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(table, "%s", why);
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    report_r = fds[0];
    report_w = fds[1];
    fcntl(report_w, F_SETPIPE_SZ, 1 << 20);
    checker_reset(table);
    const struct workers_how how = {
        .table = table_name, .log = log_path, .slots = SLOTS, .lock_ms = LOCK_MS,
        .env = mode_env, .ports = ports, .fd = report_w, .t = table,
        .seed = stress_rnd(&rng_main) | 1,
    };
    workers_start(&how);
}

static void churn(unsigned seconds)
{
    int64_t now = proc_now_ms(), end = now + (int64_t)seconds * 1000;
    int64_t next_probe = now, next_strike = now, next_table = now, next_prune = now + 5000;
    while ((now = proc_now_ms()) < end) {
        for (int i = 0; i < NPORTS; i++) {
            for (int proto = 0; proto < 2; proto++) {
                uint8_t pr = proto ? IPPROTO_UDP : IPPROTO_TCP;
                checker_sample(pr, (uint16_t)ports[i], proc_now_ms());
                if ((now = proc_now_ms()) >= next_probe) {
                    workers_probe();
                    next_probe = now + 1 + stress_rnd(&rng_main) % (2 * PROBE_MS);
                }
                if (now >= next_strike) {
                    workers_strike();
                    next_strike = now + STRIKE_EVERY_MS;
                }
                workers_replace_dead();
            }
        }
        checker.rounds++;
        checker_judge_due(now, false);
        if (now >= next_table) {
            check_table();
            next_table = now + 250;
        }
        if (now >= next_prune) {
            claims_prune(now - 10000);
            next_prune = now + 2000;
        }
        check_hangs(now);
    }
}

/* Workers stop churning and keep what they hold; every one must say so in time. */
static void quiesce(void)
{
    for (int i = 0; i < WORKERS; i++) {
        close(workers[i].p->in);
        workers[i].p->in = -1;
    }
    for (int i = 0; i < WORKERS; i++) {
        const char *line = proc_line(workers[i].p, LOCK_MS * 4 + TBIND_WAIT_MS);
        ck_assert_msg(line && strcmp(line, "IDLE") == 0, "worker %d did not go idle (%s): %s",
                      (int)workers[i].p->pid, proc_alive(workers[i].p) ? "hung" : "died",
                      workers[i].p->ebuf);
    }
    usleep(300 * 1000);  /* forked children nap at most 20 ms; the reader polls every 50 */
    checker_judge_due(0, true);
}

/* Every granted socket the idle workers still hold is in the table: none lost its entry
 * while it lived. */
static long unprotected_sockets(char *example, size_t len)
{
    long missing = 0;
    for (int i = 0; i < NPORTS; i++) {
        for (int proto = 0; proto < 2; proto++) {
            uint32_t ino[MAX_ON_PORT];
            uint8_t pr = proto ? IPPROTO_UDP : IPPROTO_TCP;
            int n = checker_list_port(pr, (uint16_t)ports[i], ino, NULL, NULL, MAX_ON_PORT);
            for (int j = 0; j < n; j++) {
                struct claim c;
                if (!claim_get(ino[j], &c, proc_now_ms()) || c.port != ports[i] ||
                    c.proto != (proto ? 'u' : 't'))
                    continue;
                if (!checker_in_table(ino[j]) && missing++ == 0)
                    snprintf(example, len, "inode %u (pid %d, class %c) on %s port %d",
                             ino[j], c.pid, c.cls, proto ? "udp" : "tcp", ports[i]);
            }
        }
    }
    return missing;
}

/* The log from its first line that is not a refusal. */
static const char *first_trouble(const char *log)
{
    for (const char *line = log; *line;) {
        size_t len = strcspn(line, "\n");
        if (!memmem(line, len, "refused (", 9))
            return line;
        line += len + (line[len] != '\0');
    }
    return "";
}

static void stress(const char *mode, const char *env)
{
    mode_env = env;
    unsigned seconds = run_seconds();
    /* A sock_diag listing that walks the bind hash is CPU-bound in the kernel: on a busy
     * machine the checker would see each port a few times a run. Root can boost it. */
    setpriority(PRIO_PROCESS, 0, -5);
    start();
    ck_assert(records_start(report_r));
    int64_t t0 = proc_now_ms();
    churn(seconds);
    quiesce();

    char why[256], example[256] = "";
    struct tables_gc idle, dead;
    ck_assert_msg(tables_gc(table_name, &idle, why, sizeof why), "gc with idle workers: %s", why);
    long missing = unprotected_sockets(example, sizeof example);
    for (int i = 0; i < WORKERS; i++)
        proc_kill(workers[i].p);
    usleep(100 * 1000);
    ck_assert_msg(tables_gc(table_name, &dead, why, sizeof why), "gc after the end: %s", why);
    records_stop();

    char *log = proc_slurp(log_path);
    int trouble = proc_trouble_lines(log);
    const struct records *r = &records;
    const struct workers_count *w = &workers_count;
    const struct checker *c = &checker;
    printf("stress %s: %u s, %ld workers started, %ld binds (%ld bound, %ld refused, %ld other "
           "errors), %ld other ops; tbind %ld ok / %ld refused / %ld odd\n", mode,
           (unsigned)((proc_now_ms() - t0) / 1000), w->spawned, r->binds, r->bound, r->refused,
           r->failed, r->ops, r->tbind_ok, r->tbind_refused, r->tbind_odd);
    printf("stress %s: %ld kills: %ld strikes at a lock taker, %ld frozen holding it, the "
           "rest at random (%ld probes); %u recoveries after a death inside the lock; max %ld "
           "entries; %ld table checks\n", mode, w->kills, w->strikes, w->kills_holding,
           w->probes, dead.repairs, own.max_entries, own.table_checks);
    printf("stress %s: longest bind %.1f ms (%ld over 100 ms), close %.1f ms, "
           "listen/dup/shutdown %.1f ms (lock bound %u ms)\n", mode,
           (double)r->max_bind_us / 1000, r->slow_binds, (double)r->max_close_us / 1000,
           (double)r->max_other_us / 1000, LOCK_MS);
    printf("stress %s: %ld check rounds, %ld sightings, %ld pairs judged, %ld crowded ports; "
           "%ld conflicts inside a close; %ld claims not where bound; gc idle: %u kept, %u "
           "reaped, %u unknown; gc after: %u reaped, %u left\n", mode, c->rounds,
           c->sightings, c->pairs, c->crowded, c->in_close, c->misplaced, idle.kept,
           idle.reaped, idle.unknown, dead.reaped, dead.left);
    if (trouble)
        printf("stress %s: bindguard trouble:\n%.1500s\n", mode, first_trouble(log));
    fflush(stdout);  /* a failed check ends this process at once */

    ck_assert_msg(c->violations == 0, "%ld conflicting claims alive together, e.g.\n%s\n%s\n"
                  "(a side held by [] without entry was last held by a process that has "
                  "exited since: a forked child (test_fork) or a worker killed inside the "
                  "lock (test_faults' binder_killed_after_its_bind))",
                  c->violations, c->first[0], c->violations > 1 ? c->first[1] : "");
    ck_assert_msg(w->died_unasked == 0, "%ld worker(s) died unasked: %s", w->died_unasked,
                  w->died);
    ck_assert_msg(trouble == 0, "bindguard logged %d line(s) of trouble, e.g.:\n%.1500s",
                  trouble, first_trouble(log));
    ck_assert_msg(r->tbind_odd == 0, "%ld odd tbind outcomes, e.g. %s", r->tbind_odd, r->odd);
    ck_assert_msg(r->max_bind_us < (LOCK_MS + MARGIN_MS) * 1000LL &&
                  r->max_close_us < (LOCK_MS + MARGIN_MS) * 1000LL &&
                  r->max_other_us < (LOCK_MS + MARGIN_MS) * 1000LL,
                  "a call took longer than the lock bound + %u ms", MARGIN_MS);
    ck_assert_msg(own.checker_lock_fail == 0, "the checker missed the lock %ld times",
                  own.checker_lock_fail);
    ck_assert_msg(idle.unknown == 0 && idle.left == idle.kept,
                  "gc with idle workers: %u entries the kernel could not confirm",
                  idle.unknown);
    ck_assert_msg(missing == 0, "%ld granted socket(s) alive without an entry, e.g. %s",
                  missing, example);
    ck_assert_msg(dead.left == 0 && dead.unknown == 0, "after every worker died and gc: "
                  "%u entries left, %u unknown", dead.left, dead.unknown);
    ck_assert_msg(r->bound > 100 && r->refused > 100, "too little happened to mean anything");
    ck_assert_msg(w->kills > 0, "the killer never killed anyone");
    free(log);
    close(report_r);
    close(report_w);
    table_close(table);
}

START_TEST(stress_guard)
{
    stress("guard", NULL);
}
END_TEST

/* Emulate puts SO_REUSEPORT on every managed socket, so the kernel lets even listeners
 * share: only bindguard keeps exclusive claims apart, listening or not. */
START_TEST(stress_emulate)
{
    stress("emulate", "BINDGUARD_EMULATE=1");
}
END_TEST

int main(void)
{
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_stress: %s not built\n", harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN);
    proc_init("stress");
    proc_cleanup_on_signals();
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("churn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, (double)run_seconds() + 60);
    tcase_add_test(tc, stress_guard);
    tcase_add_test(tc, stress_emulate);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
