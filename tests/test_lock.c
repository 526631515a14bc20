/* test_lock - the table's lock on its own: exclusion between threads and processes,
 * bounded waits, a holder's death (killed, or exec) seen by the next taker, forked
 * children, and shared bytes written by someone hostile while it is held. */
#include "harness.h"
#include "lock.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the processes of a test share: the lock, and a counter it protects. */
struct shared {
    struct shm_lock lock;
    long counter;
};

static struct shared *shared;
static struct shm_lock_hold hold;  /* this process's side (after fork: the child's) */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void setup(void)
{
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    ck_assert_ptr_ne(shared, MAP_FAILED);
    memset(&hold, 0, sizeof hold);
}

static void teardown(void)
{
    munmap(shared, sizeof *shared);
}

static void acquire_ok(unsigned timeout_ms)
{
    int r = shm_lock_acquire(&shared->lock, &hold, timeout_ms);
    ck_assert_msg(r == 0, "acquire: %s", strerror(r));
}

/* This thread's robust-list head as the kernel knows it (NULL: none). */
static struct robust_list_head *robust_head(void)
{
    struct robust_list_head *h = NULL;
    size_t len = 0;
    return syscall(SYS_get_robust_list, 0, &h, &len) == 0 ? h : NULL;
}

static void *pending_now(void)
{
    struct robust_list_head *h = robust_head();
    return h ? h->list_op_pending : (void *)-1;
}

/* Where the kernel looks for the lock's word: the entry, plus the head's futex_offset. */
static void *entry_expected(void)
{
    struct robust_list_head *h = robust_head();
    return h ? (char *)&shared->lock.word - h->futex_offset : NULL;
}

/* ---- a holder in another process ---------------------------------------------------- */

enum then { THEN_WAIT, THEN_RELEASE_ON_BYTE, THEN_EXEC };

struct holder_args {
    int ready;   /* written once the lock is held */
    int go;      /* THEN_RELEASE_ON_BYTE: release when a byte arrives */
    enum then then;
};

static int hold_lock(void *arg)
{
    struct holder_args *a = arg;
    if (shm_lock_acquire(&shared->lock, &hold, 1000) != 0)
        return 10;
    /* The kernel learns of the lock through this thread's own robust-list head. */
    if (shm_lock_robust() && pending_now() != entry_expected())
        return 11;
    if (write(a->ready, "h", 1) != 1)
        return 12;
    switch (a->then) {
    case THEN_WAIT:
        for (;;)
            pause();
    case THEN_RELEASE_ON_BYTE: {
        char c;
        if (read(a->go, &c, 1) != 1)
            return 13;
        if (shm_lock_release(&shared->lock, &hold) != 0)
            return 14;
        return pending_now() == NULL ? 0 : 15;  /* put back as it was */
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
    ck_assert_msg(shm_lock_robust(), "no robust list registered for this thread");
    acquire_ok(0);
    ck_assert_int_eq(shm_lock_acquire(&shared->lock, &hold, 100), EDEADLK);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), EPERM);  /* not held */
    ck_assert_uint_eq(shared->lock.word, 0);
    ck_assert_ptr_null(pending_now());
    acquire_ok(0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
}
END_TEST

START_TEST(bounded_wait)
{
    pid_t pid = start_holder(THEN_WAIT, NULL);
    double t0 = now_ms();
    ck_assert_int_eq(shm_lock_acquire(&shared->lock, &hold, 0), ETIMEDOUT);
    ck_assert_msg(now_ms() - t0 < 50, "a zero bound waited");
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), EPERM);  /* someone else's */
    t0 = now_ms();
    ck_assert_int_eq(shm_lock_acquire(&shared->lock, &hold, 150), ETIMEDOUT);
    double dt = now_ms() - t0;
    ck_assert_msg(dt >= 145 && dt < 600, "waited %.1f ms for a 150 ms bound", dt);
    ck_assert_ptr_null(pending_now());  /* a failed acquire leaves nothing behind */
    kill_wait(pid);
}
END_TEST

START_TEST(release_wakes_waiter)
{
    int go;
    pid_t pid = start_holder(THEN_RELEASE_ON_BYTE, &go);
    double t0 = now_ms();
    ck_assert_int_eq(write(go, "g", 1), 1);
    acquire_ok(5000);
    printf("  taken %.2f ms after the holder was told to let go\n", now_ms() - t0);
    ck_assert_msg(now_ms() - t0 < 1000, "the waiter was not woken");
    ck_assert_int_eq(harness_wait(pid, 1000), 0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    close(go);
}
END_TEST

START_TEST(holder_killed)
{
    pid_t pid = start_holder(THEN_WAIT, NULL);
    kill_wait(pid);
    ck_assert_int_eq(shm_lock_acquire(&shared->lock, &hold, 1000), EOWNERDEAD);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    acquire_ok(0);  /* and it is an ordinary lock again */
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
}
END_TEST

struct killer {
    pid_t pid;
    unsigned after_ms;
};

static void *kill_later(void *arg)
{
    struct killer *k = arg;
    struct timespec d = { 0, (long)k->after_ms * 1000000L };
    nanosleep(&d, NULL);
    kill(k->pid, SIGKILL);
    return NULL;
}

START_TEST(holder_killed_while_waited_on)
{
    struct killer k = { start_holder(THEN_WAIT, NULL), 100 };
    pthread_t th;
    pthread_create(&th, NULL, kill_later, &k);
    double t0 = now_ms();
    int r = shm_lock_acquire(&shared->lock, &hold, 5000);
    double dt = now_ms() - t0;
    pthread_join(th, NULL);
    waitpid(k.pid, NULL, 0);
    ck_assert_msg(r == EOWNERDEAD, "acquire: %s", strerror(r));
    printf("  a sleeping waiter took over %.1f ms after the holder was killed at 100 ms\n", dt);
    ck_assert_msg(dt < 1000, "took %.0f ms", dt);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
}
END_TEST

START_TEST(holder_execs)
{
    pid_t pid = start_holder(THEN_EXEC, NULL);
    /* The new program lives on, but the kernel let go of the lock at exec. */
    int r = shm_lock_acquire(&shared->lock, &hold, 2000);
    ck_assert_msg(r == EOWNERDEAD, "acquire after the holder's exec: %s", strerror(r));
    ck_assert_int_eq(kill(pid, 0), 0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    kill_wait(pid);
}
END_TEST

static int child_of_holder(void *arg)
{
    (void)arg;
    /* Same thread as the parent's holder, new id: it must wait, not see itself. */
    int r = shm_lock_acquire(&shared->lock, &hold, 50);
    return r == ETIMEDOUT ? 0 : 20 + r;
}

static int child_takes(void *arg)
{
    (void)arg;
    if (shm_lock_acquire(&shared->lock, &hold, 1000) != 0)
        return 10;
    return shm_lock_release(&shared->lock, &hold) == 0 ? 0 : 11;
}

START_TEST(forked_child_is_not_the_holder)
{
    acquire_ok(0);
    pid_t pid = harness_fork(child_of_holder, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    pid = harness_fork(child_takes, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
}
END_TEST

/* glibc's robust mutex kept list links in the shared bytes and wrote through them at
 * unlock: a table writer could aim the holder's write anywhere. Nothing but the word is
 * read now, so scribbled pointers change nothing. */
START_TEST(hostile_bytes_while_held)
{
    int go;
    pid_t pid = start_holder(THEN_RELEASE_ON_BYTE, &go);
    memset(shared->lock.reserved, 0x41, sizeof shared->lock.reserved);
    ck_assert_int_eq(write(go, "g", 1), 1);
    ck_assert_int_eq(harness_wait(pid, 2000), 0);
    acquire_ok(1000);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
    close(go);
}
END_TEST

/* futex() denied (a seccomp profile): the waiter cannot sleep, and must neither spin past
 * its bound nor take a held lock. */
static int wait_without_futex(void *arg)
{
    (void)arg;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return 10;
    double t0 = now_ms();
    int r = shm_lock_acquire(&shared->lock, &hold, 2000);
    return r == ETIMEDOUT ? (now_ms() - t0 < 2500 ? 0 : 11) : 12;
}

START_TEST(futex_denied_still_bounded)
{
    acquire_ok(0);
    pid_t pid = harness_fork(wait_without_futex, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(harness_wait(pid, 10000), 0);
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
}
END_TEST

/* A vfork child borrows its parent thread's thread-local storage and has no robust list
 * of its own: what it looks up for itself must not stay behind for the parent. */
START_TEST(vfork_child_leaves_no_identity_behind)
{
    pid_t pid = vfork();
    if (pid == 0) {
        if (shm_lock_acquire(&shared->lock, &hold, 1000) == 0)
            shm_lock_release(&shared->lock, &hold);
        _exit(0);
    }
    ck_assert_int_gt(pid, 0);
    waitpid(pid, NULL, 0);
    acquire_ok(0);
    ck_assert_uint_eq(shared->lock.word & FUTEX_TID_MASK, (uint32_t)syscall(SYS_gettid));
    ck_assert_ptr_ne(pending_now(), NULL);  /* and the kernel knows of it */
    ck_assert_int_eq(shm_lock_release(&shared->lock, &hold), 0);
}
END_TEST

/* ---- exclusion --------------------------------------------------------------------- */

#define ROUNDS 20000

static void *count_up(void *arg)
{
    (void)arg;
    struct shm_lock_hold mine = {0};  /* one per thread here: each takes it for itself */
    for (int i = 0; i < ROUNDS; i++) {
        if (shm_lock_acquire(&shared->lock, &mine, 5000) != 0)
            return (void *)1;
        long v = __atomic_load_n(&shared->counter, __ATOMIC_RELAXED);
        if (i % 64 == 0)
            sched_yield();  /* hold it long enough for others to pile up */
        __atomic_store_n(&shared->counter, v + 1, __ATOMIC_RELAXED);
        shm_lock_release(&shared->lock, &mine);
    }
    return NULL;
}

static int count_in_threads(void *arg)
{
    (void)arg;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, count_up, NULL);
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += r != NULL;
    }
    return bad;
}

START_TEST(threads_and_processes_exclude)
{
    pid_t pid[2];
    for (int i = 0; i < 2; i++)
        pid[i] = harness_fork(count_in_threads, NULL, (uid_t)-1, (gid_t)-1);
    ck_assert_int_eq(count_in_threads(NULL), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(harness_wait(pid[i], 60000), 0);
    ck_assert_int_eq(shared->counter, 3L * 3 * ROUNDS);
    ck_assert_uint_eq(shared->lock.word, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("lock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, uncontended);
    tcase_add_test(tc, bounded_wait);
    tcase_add_test(tc, release_wakes_waiter);
    tcase_add_test(tc, holder_killed);
    tcase_add_test(tc, holder_killed_while_waited_on);
    tcase_add_test(tc, holder_execs);
    tcase_add_test(tc, forked_child_is_not_the_holder);
    tcase_add_test(tc, hostile_bytes_while_held);
    tcase_add_test(tc, futex_denied_still_bounded);
    tcase_add_test(tc, vfork_child_leaves_no_identity_behind);
    tcase_add_test(tc, threads_and_processes_exclude);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
