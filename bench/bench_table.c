/* bench_table - what the shared port table costs per bind and per close.
 *
 * Prints lock+unlock against a plain private mutex (the native floor), a bare glibc robust
 * shared mutex (what the table's lock is) and table_lock+table_unlock (the mutex with
 * its bounded wait and header check), and claim+release
 * with 10 and with 50,000 live entries on other keys: every operation should be
 * O(entries on its own port), so the ratio of the two should stay near 1. Best of
 * several runs; asserts nothing. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "table.h"

#define RUNS  5
#define ITERS 200000u
#define KEYS  1024u   /* claim+release cycles over this many ports, never prefilled */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Filled once in main: getuid/getpid are syscalls and would swamp what is measured. */
static struct table_entry template;

static struct table_entry entry(uint64_t netns, uint16_t port)
{
    struct table_entry e = template;
    e.netns = netns;
    e.addr.port = port;
    return e;
}

static void make_template(void)
{
    template.proto = IPPROTO_TCP;
    template.addr.family = AF_INET;
    template.cls = BG_CLASS_EXCLUSIVE;
    template.uid = (uint32_t)getuid();
    template.pid = (int32_t)getpid();
    snprintf(template.comm, sizeof template.comm, "bench_table");
}

typedef void (*op_fn)(void *arg, uint32_t i);

/* Best per-iteration time of RUNS runs of ITERS calls. */
static double best_ns(op_fn op, void *arg)
{
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (uint32_t i = 0; i < ITERS; i++)
            op(arg, i);
        double per = (now_ns() - t0) / ITERS;
        best = per < best ? per : best;
    }
    return best;
}

static void plain_lock(void *arg, uint32_t i)
{
    (void)i;
    pthread_mutex_lock(arg);
    pthread_mutex_unlock(arg);
}

static void table_lock_unlock(void *arg, uint32_t i)
{
    (void)i;
    if (table_lock(arg, 1000) == 0)
        table_unlock(arg);
}

static void claim_release(void *arg, uint32_t i)
{
    struct table_entry e = entry(2, (uint16_t)(1 + i % KEYS));
    uint32_t idx;
    if (table_claim(arg, &e, &idx) == 0)
        table_release(arg, idx, table_slot_entry(arg, idx)->id);
}

static void find_hit(void *arg, uint32_t i)
{
    uint32_t idx[4];
    table_find(arg, 1, IPPROTO_TCP, (uint16_t)(20000 + i % 8), idx, 4);
}

/* Live entries on netns 1, ports from 20000 up: never the keys claim_release uses. */
static void fill_to(struct table *t, size_t n)
{
    for (size_t i = table_count(t); i < n; i++) {
        struct table_entry e = entry(1, (uint16_t)(20000 + i % 40000));
        e.netns += i / 40000;
        uint32_t idx;
        if (table_claim(t, &e, &idx) != 0) {
            fprintf(stderr, "bench_table: fill stopped at %zu\n", i);
            return;
        }
    }
}

static long long allocated(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_blocks * 512 : -1;
}

int main(void)
{
    char name[64], why[256];
    make_template();
    snprintf(name, sizeof name, "/bg-bench-table-%d", (int)getpid());
    struct table *t = table_open(name, TABLE_DEFAULT_SLOTS, why, sizeof why);
    if (!t) {
        fprintf(stderr, "bench_table: %s\n", why);
        return 1;
    }
    char path[512];
    snprintf(path, sizeof path, "%s", table_path(t));
    long long mem_new = allocated(path);
    pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER, robust;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&robust, &a);

    double ns_plain = best_ns(plain_lock, &plain), ns_robust = best_ns(plain_lock, &robust);
    double ns_lock = best_ns(table_lock_unlock, t);
    if (table_lock(t, 1000) != 0) {
        fprintf(stderr, "bench_table: cannot lock\n");
        return 1;
    }
    fill_to(t, 10);
    double ns_small = best_ns(claim_release, t), ns_find_small = best_ns(find_hit, t);
    long long mem_small = allocated(path);
    fill_to(t, 50000);
    double ns_large = best_ns(claim_release, t), ns_find_large = best_ns(find_hit, t);
    long long mem_large = allocated(path);
    size_t live = table_count(t);
    char check[256] = "ok";
    table_check(t, check, sizeof check);
    table_unlock(t);

    printf("bench_table: capacity %u, file %llu bytes (%s)\n", table_capacity(t),
           (unsigned long long)table_file_size(TABLE_DEFAULT_SLOTS), path);
    printf("  %-44s %10s %8s\n", "operation", "ns/op", "ratio");
    printf("  %-44s %10.1f %8s\n", "private mutex lock+unlock (native floor)", ns_plain, "1.00");
    printf("  %-44s %10.1f %8.2f\n", "glibc robust shared mutex lock+unlock", ns_robust,
           ns_robust / ns_plain);
    printf("  %-44s %10.1f %8.2f\n", "table_lock+table_unlock", ns_lock,
           ns_lock / ns_plain);
    printf("  %-44s %10.1f %8s\n", "claim+release,     10 live entries", ns_small, "1.00");
    printf("  %-44s %10.1f %8.2f\n", "claim+release, 50,000 live entries", ns_large,
           ns_large / ns_small);
    printf("  %-44s %10.1f %8s\n", "find (hit),        10 live entries", ns_find_small, "1.00");
    printf("  %-44s %10.1f %8.2f\n", "find (hit),    50,000 live entries", ns_find_large,
           ns_find_large / ns_find_small);
    printf("  memory allocated in tmpfs: %lld B after creation, %lld B with 10 entries, "
           "%lld B with %zu entries\n", mem_new, mem_small, mem_large, live);
    printf("  table_check after the run: %s\n", check);

    table_close(t);
    unlink(path);
    return 0;
}
