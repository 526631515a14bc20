/* test_threads - bindguard inside one multi-threaded process.
 *
 * Each scenario (churn, close_race, one_winner) runs in the agent thread_binds under the
 * shim, with a private table and log; the agent says what the scenarios are and checks
 * what it can itself. The test then checks from outside, through the table API, that no
 * binding of the child is left, and that the log holds exactly the refusals the child
 * saw, each naming the child as holder, and no trouble. A child that deadlocks is killed
 * at CHILD_MS, and fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "own.h"
#include "table.h"

#define THREADS       8       /* churn's ports: one per thread of the agent */
#define CHILD_MS      30000u  /* a run takes a few seconds, even under ASan */
#define TABLE_SLOTS   1024u

/* ===== the test side ===================================================================== */

static char table_name[128], log_path[256];

struct pid_count {
    pid_t pid;
    size_t n;
};

static bool count_pid(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)idx;
    struct pid_count *w = arg;
    w->n += e->pid == w->pid;
    return true;
}

/* Run a scenario under the shim and check what only the outside can see. */
static void scenario(const char *name, int nports)
{
    int ports[THREADS];
    char portv[THREADS][16];
    const char *argv[3 + THREADS] = {"thread_binds", name};
    proc_free_ports(ports, nports);
    for (int i = 0; i < nports; i++) {
        snprintf(portv[i], sizeof portv[i], "%d", ports[i]);
        argv[2 + i] = portv[i];
    }
    argv[2 + nports] = NULL;
    const struct proc_how how = {.shim = true, .table = table_name, .log = log_path,
                                 .slots = TABLE_SLOTS};
    int64_t t0 = proc_now_ms();
    struct proc *p = proc_spawn(&how, argv);
    pid_t pid = p->pid;
    int st = proc_finish(p, CHILD_MS);
    printf("%s (%lld ms):\n%s", name, (long long)(proc_now_ms() - t0), p->obuf);
    fflush(stdout);  /* a failed assertion ends this process without flushing */
    ck_assert_msg(st == 0, "%s: exit %d (-1: killed, a deadlock if after %u ms):\n%s%s", name,
                  st, CHILD_MS, p->obuf, p->ebuf);
    int refused = -1;
    const char *done = strstr(p->obuf, "DONE ");
    ck_assert_msg(done && sscanf(done, "DONE %d", &refused) == 1, "%s said:\n%s", name, p->obuf);

    char why[256];
    struct table *t = own_open(table_name, TABLE_SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(t, "table %s: %s", table_name, why);
    ck_assert_int_eq(table_lock(t, 1000), 0);
    struct pid_count mine = {pid, 0};
    table_each(t, count_pid, &mine);
    size_t all = table_count(t);
    table_unlock(t);
    table_close(t);
    ck_assert_msg(mine.n == 0 && all == 0, "%s: %zu binding(s) of the child left, %zu in all",
                  name, mine.n, all);

    char *log = proc_slurp(log_path);
    int logged = proc_count_lines(log, " refused (", NULL), trouble = proc_trouble_lines(log);
    ck_assert_msg(trouble == 0, "%s: bindguard logged trouble:\n%.2000s", name, log);
    ck_assert_msg(logged == refused, "%s: %d refusals logged, the child saw %d", name, logged,
                  refused);
    /* Every holder is the child itself, and every refusal must say so. (How it is named
     * matters too: reading its own /proc/self/fd pinned sockets other threads were
     * closing, and their next bind met the kernel's EADDRINUSE. The churn's bind right
     * after each close is what catches that.) */
    char by_child[32];
    snprintf(by_child, sizeof by_child, "by pid %d (", (int)pid);
    int named = proc_count_lines(log, " refused (", by_child);
    ck_assert_msg(named == logged, "%s: %d of %d refusals name the child as holder:\n%.2000s",
                  name, named, logged, log);
    free(log);
}

static void setup(void)
{
    proc_table_name(table_name, sizeof table_name);
    proc_log_path(log_path, sizeof log_path);
}

static void teardown(void)
{
    proc_kill_all();
    harness_table_remove(table_name);
    unlink(log_path);
}

START_TEST(eight_threads_churn)
{
    scenario("churn", THREADS);
}
END_TEST

START_TEST(close_races_bind)
{
    scenario("close_race", 1);
}
END_TEST

START_TEST(one_winner_per_round)
{
    scenario("one_winner", 1);
}
END_TEST

int main(void)
{
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_threads: %s not built\n", harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    proc_init("threads");
    proc_cleanup_on_signals();
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, CHILD_MS / 1000 + 10);
    tcase_add_test(tc, eight_threads_churn);
    tcase_add_test(tc, close_races_bind);
    tcase_add_test(tc, one_winner_per_round);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
