/* test_lock - the table's robust process-shared mutex on its own: exclusion between
 * threads and processes, bounded waits, a holder's death (killed, killed mid-insert,
 * exec) seen and repaired by the next taker, forked and vforked children, a stopped
 * holder. Every process here runs as the table's owner (only its uid can reach it). */
#include "harness.h"
#include "table.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char name[128];
static struct table *t;
static long *counter;   /* what the lock protects in the exclusion test */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void setup(void)
{
    char why[256];
    harness_table_name("lock", name, sizeof name);
    t = table_open(name, 64, why, sizeof why);
    ck_assert_msg(t != NULL, "table_open: %s", why);
    counter = mmap(NULL, sizeof *counter, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    ck_assert_ptr_ne(counter, MAP_FAILED);
}

static void teardown(void)
{
    table_close(t);
    harness_table_remove(name);
    munmap(counter, sizeof *counter);
}

static void lock_ok(unsigned timeout_ms)
{
    int r = table_lock(t, timeout_ms);
    ck_assert_msg(r == 0, "table_lock: %s", strerror(r));
}

static void assert_consistent(void)
{
    char why[256];
    ck_assert_msg(table_check(t, why, sizeof why) == 0, "table_check: %s", why);
}

static struct table_entry entry(uint16_t port)
{
    struct table_entry e = { .netns = 1, .inode = port, .uid = 0, .proto = IPPROTO_TCP };
    e.addr.family = AF_INET;
    e.addr.port = port;
    return e;
}

/* ---- a holder in another process ---------------------------------------------------- */

enum then { THEN_WAIT, THEN_RELEASE_ON_BYTE, THEN_EXEC, THEN_STOP_MID_INSERT };

struct holder_args {
    int ready;   /* written once the lock is held */
    int go;      /* THEN_RELEASE_ON_BYTE: release when a byte arrives */
    enum then then;
};

static int hold_lock(void *arg)
{
    struct holder_args *a = arg;
    if (table_lock(t, 1000) != 0)
        return 10;
    if (a->then == THEN_STOP_MID_INSERT) {
        uint32_t idx;
        struct table_entry e = entry(4242);
        if (table_claim_partial(t, &e, TABLE_STOP_PUBLISHED, &idx) != 0)
            return 11;
    }
    if (write(a->ready, "h", 1) != 1)
        return 12;
    switch (a->then) {
    case THEN_WAIT:
    case THEN_STOP_MID_INSERT:
        for (;;)
            pause();
    case THEN_RELEASE_ON_BYTE: {
        char c;
        if (read(a->go, &c, 1) != 1)
            return 13;
        table_unlock(t);
        return 0;
    }
    case THEN_EXEC:
        execl("/bin/sleep", "sleep", "3", (char *)NULL);
        return 16;
    }
    return 17;
}

static pid_t start_holder(enum then then, int *go_write)
{
    int ready[2], go[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    struct holder_args a = { ready[1], go[0], then };
    pid_t pid = harness_fork(hold_lock, &a, (uid_t)-1, (gid_t)-1);
    close(ready[1]);
    close(go[0]);
    char c;
    ck_assert_msg(read(ready[0], &c, 1) == 1, "holder failed: exit %d", harness_wait(pid, 1000));
    close(ready[0]);
    if (go_write)
        *go_write = go[1];
    else
        close(go[1]);
    return pid;
}

static void kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(uncontended)
{
    enum { N = 200000 };
    double t0 = now_ms();
    for (int i = 0; i < N; i++) {
        lock_ok(1000);
        table_unlock(t);
    }
    printf("  lock+unlock uncontended: %.1f ns\n", (now_ms() - t0) * 1e6 / N);
    lock_ok(0);
    ck_assert_int_eq(table_lock(t, 10), EDEADLK);   /* the same thread: no self-wait */
    table_unlock(t);
}
END_TEST

START_TEST(bounded_wait)
{
    pid_t pid = start_holder(THEN_WAIT, NULL);
    double t0 = now_ms();
    ck_assert_int_eq(table_lock(t, 100), ETIMEDOUT);
    double took = now_ms() - t0;
    ck_assert_msg(took >= 95 && took < 150, "waited %.1f ms for a 100 ms bound", took);
    ck_assert(!table_lock_orphaned(t));   /* its holder lives */
    kill_wait(pid);
}
END_TEST

START_TEST(stopped_holder_costs_the_bound_only)
{
    pid_t pid = start_holder(THEN_WAIT, NULL);
    kill(pid, SIGSTOP);
    double t0 = now_ms();
    ck_assert_int_eq(table_lock(t, 50), ETIMEDOUT);
    double took = now_ms() - t0;
    ck_assert_msg(took < 100, "waited %.1f ms for a 50 ms bound", took);
    kill_wait(pid);
    lock_ok(100);   /* the kernel released the killed holder's lock */
    table_unlock(t);
}
END_TEST

START_TEST(release_wakes_waiter)
{
    int go;
    pid_t pid = start_holder(THEN_RELEASE_ON_BYTE, &go);
    double t0 = now_ms();
    ck_assert_int_eq(write(go, "g", 1), 1);
    lock_ok(1000);
    ck_assert_msg(now_ms() - t0 < 100, "woken after %.1f ms", now_ms() - t0);
    table_unlock(t);
    close(go);
    ck_assert_int_eq(harness_wait(pid, 1000), 0);
}
END_TEST

START_TEST(holder_killed)
{
    uint32_t repairs = table_header(t)->repairs;
    pid_t pid = start_holder(THEN_WAIT, NULL);
    kill_wait(pid);
    double t0 = now_ms();
    lock_ok(1000);   /* EOWNERDEAD, repaired and made consistent inside */
    ck_assert_msg(now_ms() - t0 < 50, "took %.1f ms", now_ms() - t0);
    ck_assert_uint_eq(table_header(t)->repairs, repairs + 1);
    assert_consistent();
    table_unlock(t);
    lock_ok(0);      /* consistent: the next taker sees nothing to repair */
    ck_assert_uint_eq(table_header(t)->repairs, repairs + 1);
    table_unlock(t);
}
END_TEST

static void *kill_later(void *arg)
{
    usleep(30000);
    kill(*(pid_t *)arg, SIGKILL);
    return NULL;
}

START_TEST(holder_killed_while_waited_on)
{
    pid_t pid = start_holder(THEN_WAIT, NULL);
    pthread_t th;
    pthread_create(&th, NULL, kill_later, &pid);
    double t0 = now_ms();
    lock_ok(2000);
    double took = now_ms() - t0;
    ck_assert_msg(took >= 25 && took < 200, "woken %.1f ms after the wait began", took);
    table_unlock(t);
    pthread_join(th, NULL);
    waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(holder_killed_mid_insert)
{
    pid_t pid = start_holder(THEN_STOP_MID_INSERT, NULL);
    kill_wait(pid);
    lock_ok(1000);
    assert_consistent();   /* published but unlinked: linked (and counted) by the repair */
    uint32_t idx[4];
    ck_assert_int_eq(table_find(t, 1, IPPROTO_TCP, 4242, idx, 4), 1);
    table_unlock(t);
}
END_TEST

START_TEST(holder_execs)
{
    pid_t pid = start_holder(THEN_EXEC, NULL);
    double t0 = now_ms();
    lock_ok(2000);   /* exec releases it: EOWNERDEAD while the process lives on */
    ck_assert_msg(now_ms() - t0 < 500, "took %.1f ms", now_ms() - t0);
    ck_assert_int_eq(kill(pid, 0), 0);
    assert_consistent();
    table_unlock(t);
    kill_wait(pid);
}
END_TEST

static int child_times_out(void *arg)
{
    (void)arg;
    return table_lock(t, 50) == ETIMEDOUT ? 0 : 1;
}

static int child_takes(void *arg)
{
    (void)arg;
    if (table_lock(t, 1000) != 0)
        return 1;
    table_unlock(t);
    return 0;
}

START_TEST(forked_child_is_not_the_holder)
{
    lock_ok(0);
    pid_t pid = harness_fork(child_times_out, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
    table_unlock(t);
    pid = harness_fork(child_takes, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
}
END_TEST

/* A vfork child runs on its parent's thread and stack: what it locks and unlocks before
 * _exit leaves the mutex free for everyone. */
START_TEST(vfork_child_leaves_it_free)
{
    pid_t pid = vfork();
    if (pid == 0) {
        if (table_lock(t, 1000) == 0)
            table_unlock(t);
        _exit(0);
    }
    ck_assert_int_gt(pid, 0);
    waitpid(pid, NULL, 0);
    pid = harness_fork(child_takes, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
}
END_TEST

static void *count_up(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        if (table_lock(t, 5000) != 0)
            return (void *)1;
        long v = *counter;
        if ((i & 63) == 0)
            sched_yield();
        *counter = v + 1;
        table_unlock(t);
    }
    return NULL;
}

static int count_in_threads(void *arg)
{
    (void)arg;
    pthread_t th[2];
    void *r0, *r1;
    pthread_create(&th[0], NULL, count_up, NULL);
    pthread_create(&th[1], NULL, count_up, NULL);
    pthread_join(th[0], &r0);
    pthread_join(th[1], &r1);
    return r0 || r1;
}

START_TEST(threads_and_processes_exclude)
{
    *counter = 0;
    pid_t a = harness_fork(count_in_threads, NULL, (uid_t)-1, (gid_t)-1);
    pid_t b = harness_fork(count_in_threads, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(a, 60000), 0);
    ck_assert_int_eq(harness_wait(b, 60000), 0);
    ck_assert_int_eq(*counter, 2 * 2 * 2000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("robust mutex");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, uncontended);
    tcase_add_test(tc, bounded_wait);
    tcase_add_test(tc, stopped_holder_costs_the_bound_only);
    tcase_add_test(tc, release_wakes_waiter);
    tcase_add_test(tc, holder_killed);
    tcase_add_test(tc, holder_killed_while_waited_on);
    tcase_add_test(tc, holder_killed_mid_insert);
    tcase_add_test(tc, holder_execs);
    tcase_add_test(tc, forked_child_is_not_the_holder);
    tcase_add_test(tc, vfork_child_leaves_it_free);
    tcase_add_test(tc, threads_and_processes_exclude);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
