/* test_table - the shared port table: operations, crash recovery with real processes
 * killed inside the lock, bounded waits, hostile files and hostile contents. */
#include "bindguard.h"
#include "harness.h"
#include "table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME_LEN 128

/* ---- helpers ------------------------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void fill_random(void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)rng();
}

static void shm_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/%s", name + 1);
}

static struct table_entry entry(uint64_t netns, uint8_t proto, uint16_t port)
{
    struct table_entry e;
    memset(&e, 0, sizeof e);
    e.netns = netns;
    e.proto = proto;
    e.addr.port = port;
    e.addr.family = AF_INET;
    e.addr.ip[10] = e.addr.ip[11] = 0xff;
    e.addr.ip[12] = 127;
    e.addr.ip[15] = 1;
    e.uid = (uint32_t)getuid();
    e.pid = (int32_t)getpid();
    e.inode = port;
    e.cls = BG_CLASS_EXCLUSIVE;
    snprintf(e.comm, sizeof e.comm, "test_table");
    return e;
}

static struct table *open_name(const char *name, uint32_t slots)
{
    char why[256] = "";
    struct table *t = table_open(name, slots, why, sizeof why);
    ck_assert_msg(t != NULL, "table_open(%s): %s", name, why);
    return t;
}

/* Every name of this run starts "/bg-test-<run_tag>-", so main() can remove what a
 * failed test (which exits before its own cleanup) left in /dev/shm. */
static char run_tag[32];

static void table_name(const char *tag, char *name, size_t len)
{
    char full[64];
    snprintf(full, sizeof full, "%s-%s", run_tag, tag);
    harness_table_name(full, name, len);
}

static struct table *open_new(const char *tag, uint32_t slots, char *name)
{
    table_name(tag, name, NAME_LEN);
    return open_name(name, slots);
}

static void close_remove(struct table *t, const char *name)
{
    table_close(t);
    harness_table_remove(name);
}

static void lock_ok(struct table *t)
{
    int r = table_lock(t, 1000);
    ck_assert_msg(r == 0, "table_lock: %s", strerror(r));
}

static void assert_consistent(struct table *t)
{
    char why[256] = "";
    ck_assert_msg(table_check(t, why, sizeof why) == 0, "table_check: %s", why);
}

static void assert_corrupt(struct table *t, const char *what)
{
    char why[256] = "";
    ck_assert_msg(table_check(t, why, sizeof why) != 0, "table_check missed: %s", what);
    printf("  table_check on %s: %s\n", what, why);
}

static uint32_t claim_ok(struct table *t, struct table_entry e)
{
    uint32_t idx = TABLE_NO_INDEX;
    int r = table_claim(t, &e, &idx);
    ck_assert_msg(r == 0, "table_claim: %s", strerror(r));
    return idx;
}

static int find_n(struct table *t, uint64_t netns, uint8_t proto, uint16_t port)
{
    uint32_t idx[64];
    return table_find(t, netns, proto, port, idx, 64);
}

static uint64_t id_at(struct table *t, uint32_t idx)
{
    struct table_entry *e = table_slot_entry(t, idx);
    ck_assert_ptr_nonnull(e);
    return e->id;
}

/* A netns cookie whose (netns, proto, port) lands in the same bucket as `like`. */
static uint64_t colliding_netns(struct table *t, uint64_t like, uint8_t proto, uint8_t as_proto,
                                uint16_t port)
{
    uint32_t b = table_bucket(t, like, proto, port);
    for (uint64_t n = like + 1;; n++)
        if (table_bucket(t, n, as_proto, port) == b)
            return n;
}

/* ---- child processes ---------------------------------------------------------------- */

enum hold_what { HOLD_PLAIN, HOLD_CLAIM_FIELDS, HOLD_CLAIM_PUBLISHED, HOLD_RELEASING };

struct holder {
    const char    *name;
    enum hold_what what;
    int            report;  /* write end of a pipe: struct held once the lock is held */
};

struct held {
    uint32_t done_idx, part_idx;
    uint64_t done_id, part_id;
};

/* Take the lock, leave the table as a process killed right now would, report, wait. */
static int hold_lock(void *arg)
{
    struct holder *h = arg;
    char why[256];
    struct table *t = table_open(h->name, 0, why, sizeof why);
    if (!t || table_lock(t, 1000) != 0)
        return 10;
    struct held r = {0};
    struct table_entry done = entry(1, IPPROTO_TCP, 1000), part = entry(1, IPPROTO_TCP, 2000);
    if (table_claim(t, &done, &r.done_idx) != 0)
        return 11;
    r.done_id = table_slot_entry(t, r.done_idx)->id;
    if (h->what == HOLD_CLAIM_FIELDS || h->what == HOLD_CLAIM_PUBLISHED) {
        enum table_stop at = h->what == HOLD_CLAIM_FIELDS ? TABLE_STOP_FIELDS
                                                           : TABLE_STOP_PUBLISHED;
        if (table_claim_partial(t, &part, at, &r.part_idx) != 0)
            return 12;
    } else if (h->what == HOLD_RELEASING) {
        if (table_claim(t, &part, &r.part_idx) != 0)
            return 13;
        r.part_id = table_slot_entry(t, r.part_idx)->id;
        if (!table_release_partial(t, r.part_idx, r.part_id))
            return 14;
    }
    if (write(h->report, &r, sizeof r) != (ssize_t)sizeof r)
        return 15;
    for (;;)
        pause();
}

/* Fork a lock holder and wait until it holds the lock. */
static pid_t start_holder(const char *name, enum hold_what what, struct held *out)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct holder h = { name, what, p[1] };
    pid_t pid = harness_fork(hold_lock, &h, (uid_t)-1, (gid_t)-1);
    ck_assert_int_gt(pid, 0);
    close(p[1]);
    ssize_t n = read(p[0], out, sizeof *out);
    close(p[0]);
    ck_assert_msg(n == (ssize_t)sizeof *out, "lock holder failed (exit %d)",
                  n == 0 ? harness_wait(pid, 1000) : -2);
    return pid;
}

static void kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- layout ------------------------------------------------------------------------- */

START_TEST(test_layout)
{
#define AT(type, field, off) ck_assert_uint_eq(offsetof(struct type, field), off)
    AT(table_entry, id, 0);        AT(table_entry, netns, 8);
    AT(table_entry, since, 16);    AT(table_entry, intent_ns, 24);
    AT(table_entry, inode, 32);    AT(table_entry, uid, 36);
    AT(table_entry, pid, 40);      AT(table_entry, fd, 44);
    AT(table_entry, addr, 48);     AT(table_entry, proto, 72);
    AT(table_entry, cls, 73);      AT(table_entry, flags, 74);
    AT(table_entry, n_share, 75);  AT(table_entry, share_uids, 76);
    AT(table_entry, comm, 108);    AT(table_entry, next, 124);
    AT(table_entry, state, 128);   AT(table_entry, seq, 132);
    ck_assert_uint_eq(sizeof(struct bg_addr), 24);
    ck_assert_uint_eq(sizeof(struct table_entry), 144);
    AT(table_ident, magic, 0);       AT(table_ident, abi, 8);
    AT(table_ident, header_size, 12); AT(table_ident, entry_size, 16);
    AT(table_ident, lock_size, 20);   AT(table_ident, ptr_size, 24);
    AT(table_ident, capacity, 28);   AT(table_ident, nbuckets, 32);
    AT(table_ident, summary_off, 36); AT(table_ident, bucket_off, 40);
    AT(table_ident, entry_off, 48);  AT(table_ident, file_size, 56);
    ck_assert_uint_eq(sizeof(struct table_ident), 64);
    char versioned[32];  /* an upgraded build must not meet an old table under its name */
    snprintf(versioned, sizeof versioned, "/bindguard-v%u", TABLE_ABI_VERSION);
    ck_assert_str_eq(BINDGUARD_DEFAULT_TABLE, versioned);
    AT(table_header, ident, 0);      AT(table_header, next_id, 64);
    AT(table_header, count, 72);     AT(table_header, hwm, 76);
    AT(table_header, free_head, 80); AT(table_header, repair, 84);
    AT(table_header, repairs, 88);   AT(table_header, lock, 128);
    ck_assert_uint_eq(sizeof(struct table_header),
                      (128 + sizeof(pthread_mutex_t) + 63) / 64 * 64);
#undef AT
#if UINTPTR_MAX == UINT64_MAX
    /* 192-byte header (40-byte mutex), a 512 KiB summary, 64 Ki bucket heads, 64 Ki
     * entries of 144 bytes. */
    uint64_t head = 192u + 2u * 65536u * 4u;
    ck_assert_uint_eq(table_file_size(0), head + 65536u * 4 + 65536u * 144);
    ck_assert_uint_eq(table_file_size(TABLE_DEFAULT_SLOTS), table_file_size(0));
    ck_assert_uint_eq(table_file_size(1), head + 16 * 4 + 16 * 144);
#endif
}
END_TEST

START_TEST(test_created_file)
{
    char name[NAME_LEN], path[256];
    mode_t old = umask(077);
    struct table *t = open_new("created", 0, name);
    umask(old);
    shm_path(name, path, sizeof path);
    ck_assert_str_eq(table_path(t), path);
    ck_assert_uint_eq(table_capacity(t), TABLE_DEFAULT_SLOTS);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0644, "mode %o despite umask 077", st.st_mode & 0777);
    ck_assert_uint_eq((uint64_t)st.st_size, table_file_size(0));
    /* tmpfs allocates on first touch: creation writes the header page only. */
    printf("  default table: %lld bytes, %lld allocated after creation\n",
           (long long)st.st_size, (long long)st.st_blocks * 512);
    ck_assert_int_le((long long)st.st_blocks * 512, 16384);
    int fd = open(path, O_RDONLY);
    uint64_t magic = 0;
    ck_assert_int_eq(pread(fd, &magic, sizeof magic, 0), sizeof magic);
    close(fd);
    ck_assert(magic == TABLE_MAGIC);
    close_remove(t, name);
}
END_TEST

/* ---- names -------------------------------------------------------------------------- */

static void expect_refused(const char *name, const char *what, const char *mention)
{
    char why[256] = "";
    double t0 = now_ms();
    struct table *t = table_open(name, 16, why, sizeof why);
    double dt = now_ms() - t0;
    if (t)
        table_close(t);
    ck_assert_msg(t == NULL, "%s was accepted", what);
    ck_assert_msg(why[0] != '\0' && !strchr(why, '\n'), "%s: no one-line why", what);
    ck_assert_msg(!mention || strstr(why, mention), "%s: why \"%s\" lacks \"%s\"", what, why,
                  mention);
    ck_assert_msg(dt < 1500, "%s took %.0f ms", what, dt);
    printf("  %-22s refused in %6.1f ms: %s\n", what, dt, why);
}

START_TEST(test_names)
{
    char name[NAME_LEN], bare[NAME_LEN], abs_name[256], path[256];
    expect_refused("", "empty name", NULL);
    expect_refused("/", "bare slash", NULL);
    expect_refused("some/relative/path", "relative path", "relative");
    expect_refused("/dev/shm/../tmp/x", "dot-dot component", "'..'");
    expect_refused("/dev/shm/", "a directory", "directory");
    expect_refused("/nonexistent-bg-dir/table", "missing directory", NULL);

    struct table *a = open_new("names", 100, name);
    ck_assert_uint_eq(table_capacity(a), 100);
    snprintf(bare, sizeof bare, "%s", name + 1);          /* "bg-test-..." form */
    shm_path(name, abs_name, sizeof abs_name);            /* "/dev/shm/bg-test-..." form */
    struct table *b = open_name(bare, 5000), *c = open_name(abs_name, 7);
    ck_assert_str_eq(table_path(b), table_path(a));
    ck_assert_str_eq(table_path(c), table_path(a));
    ck_assert_uint_eq(table_capacity(b), 100);  /* capacity is fixed by the creator */
    lock_ok(a);
    claim_ok(a, entry(1, IPPROTO_TCP, 80));
    table_unlock(a);
    lock_ok(c);
    ck_assert_int_eq(find_n(c, 1, IPPROTO_TCP, 80), 1);
    table_unlock(c);
    table_close(b);
    table_close(c);
    close_remove(a, name);

    snprintf(path, sizeof path, "/tmp/bg-test-%s-abs", run_tag);
    unlink(path);
    struct table *d = open_name(path, 1);
    ck_assert_uint_eq(table_capacity(d), TABLE_MIN_SLOTS);
    ck_assert_str_eq(table_path(d), path);
    close_remove(d, path);
}
END_TEST

/* ---- operations --------------------------------------------------------------------- */

START_TEST(test_insert_find_remove)
{
    char name[NAME_LEN];
    struct table *t = open_new("ops", 64, name);
    lock_ok(t);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), 0);
    uint32_t a = claim_ok(t, entry(1, IPPROTO_TCP, 80));
    uint32_t b = claim_ok(t, entry(1, IPPROTO_TCP, 80));
    uint32_t c = claim_ok(t, entry(1, IPPROTO_TCP, 81));
    ck_assert_uint_eq(table_count(t), 3);
    uint32_t idx[4];
    ck_assert_int_eq(table_find(t, 1, IPPROTO_TCP, 80, idx, 4), 2);
    ck_assert((idx[0] == a && idx[1] == b) || (idx[0] == b && idx[1] == a));
    ck_assert_int_eq(table_find(t, 1, IPPROTO_TCP, 80, idx, 1), 2);  /* more than max */
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 81), 1);

    struct table_entry *e = table_slot_entry(t, c);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->addr.port, 81);
    ck_assert_str_eq(e->comm, "test_table");
    ck_assert_uint_ne(e->id, 0);
    ck_assert_uint_ne(id_at(t, a), id_at(t, b));
    ck_assert_ptr_eq(table_entry_by_id(t, c, e->id), e);
    ck_assert_ptr_null(table_slot_entry(t, 63));               /* never used */
    ck_assert_ptr_null(table_slot_entry(t, 64));               /* out of range */
    ck_assert_ptr_null(table_slot_entry(t, TABLE_NO_INDEX));

    ck_assert(table_release(t, a, id_at(t, a)));
    ck_assert_int_eq(table_find(t, 1, IPPROTO_TCP, 80, idx, 4), 1);
    ck_assert_uint_eq(idx[0], b);
    ck_assert_ptr_null(table_slot_entry(t, a));
    ck_assert(table_release(t, b, id_at(t, b)));
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), 0);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 81), 1);
    ck_assert_uint_eq(table_count(t), 1);
    assert_consistent(t);

    struct table_entry bad = entry(1, 0, 80);         /* not TCP/UDP: never published */
    uint32_t i;
    ck_assert_int_eq(table_claim(t, &bad, &i), EINVAL);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_release_stale_id)
{
    char name[NAME_LEN];
    struct table *t = open_new("stale", 16, name);
    lock_ok(t);
    uint32_t a = claim_ok(t, entry(1, IPPROTO_UDP, 53));
    uint64_t old = id_at(t, a);
    ck_assert(!table_release(t, a, old + 1));
    ck_assert(!table_release(t, a, 0));
    ck_assert(!table_release(t, 999, old));
    ck_assert_int_eq(find_n(t, 1, IPPROTO_UDP, 53), 1);
    ck_assert(table_release(t, a, old));
    ck_assert(!table_release(t, a, old));              /* twice */
    uint32_t b = claim_ok(t, entry(1, IPPROTO_UDP, 54));
    ck_assert_uint_eq(b, a);                           /* the slot is reused ... */
    ck_assert_uint_gt(id_at(t, b), old);               /* ... under a new id */
    ck_assert(!table_release(t, b, old));              /* the old owner cannot free it */
    ck_assert_ptr_null(table_entry_by_id(t, b, old));
    ck_assert_int_eq(find_n(t, 1, IPPROTO_UDP, 54), 1);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_capacity_full)
{
    char name[NAME_LEN];
    struct table *t = open_new("full", TABLE_MIN_SLOTS, name);
    lock_ok(t);
    uint32_t idx[TABLE_MIN_SLOTS];
    for (uint16_t i = 0; i < TABLE_MIN_SLOTS; i++)
        idx[i] = claim_ok(t, entry(1, IPPROTO_TCP, (uint16_t)(100 + i % 3)));
    struct table_entry e = entry(1, IPPROTO_TCP, 200);
    uint32_t i;
    ck_assert_int_eq(table_claim(t, &e, &i), ENOSPC);
    ck_assert_int_eq(table_claim(t, &e, &i), ENOSPC);
    assert_consistent(t);
    ck_assert_uint_eq(table_count(t), TABLE_MIN_SLOTS);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 200), 0);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 100), 6);
    ck_assert(table_release(t, idx[7], id_at(t, idx[7])));
    ck_assert_uint_eq(claim_ok(t, e), idx[7]);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 200), 1);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_collisions)
{
    char name[NAME_LEN];
    struct table *t = open_new("collide", 1024, name);
    lock_ok(t);
    uint64_t ns_tcp = colliding_netns(t, 1, IPPROTO_TCP, IPPROTO_TCP, 443);
    uint64_t ns_udp = colliding_netns(t, 1, IPPROTO_TCP, IPPROTO_UDP, 443);
    uint16_t port = 444;
    while (table_bucket(t, 1, IPPROTO_TCP, port) != table_bucket(t, 1, IPPROTO_TCP, 443))
        port++;
    uint32_t a = claim_ok(t, entry(1, IPPROTO_TCP, 443));
    claim_ok(t, entry(ns_tcp, IPPROTO_TCP, 443));
    claim_ok(t, entry(ns_udp, IPPROTO_UDP, 443));
    claim_ok(t, entry(1, IPPROTO_TCP, port));
    claim_ok(t, entry(1, IPPROTO_UDP, 443));
    uint32_t b = claim_ok(t, entry(1, IPPROTO_TCP, 443));
    uint32_t idx[8];
    ck_assert_int_eq(table_find(t, 1, IPPROTO_TCP, 443, idx, 8), 2);
    ck_assert((idx[0] == a && idx[1] == b) || (idx[0] == b && idx[1] == a));
    ck_assert_int_eq(find_n(t, ns_tcp, IPPROTO_TCP, 443), 1);
    ck_assert_int_eq(find_n(t, ns_tcp, IPPROTO_UDP, 443), 0);
    ck_assert_int_eq(find_n(t, ns_udp, IPPROTO_UDP, 443), 1);
    ck_assert_int_eq(find_n(t, ns_udp, IPPROTO_TCP, 443), 0);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_UDP, 443), 1);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, port), 1);
    ck_assert_int_eq(find_n(t, 2, IPPROTO_TCP, 443), ns_tcp == 2 ? 1 : 0);
    /* Removing from the middle of a shared chain leaves the others findable. */
    ck_assert(table_release(t, a, id_at(t, a)));
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 443), 1);
    ck_assert_int_eq(find_n(t, ns_tcp, IPPROTO_TCP, 443), 1);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, port), 1);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

static bool count_each(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)idx;
    ck_assert_uint_eq(e->state, TABLE_STATE_LIVE);
    return ++*(unsigned *)arg < 1000;
}

static bool stop_at_two(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)e;
    (void)idx;
    return ++*(unsigned *)arg < 2;
}

START_TEST(test_each_and_comm)
{
    char name[NAME_LEN];
    struct table *t = open_new("each", 64, name);
    lock_ok(t);
    for (uint16_t p = 1; p <= 5; p++)
        claim_ok(t, entry(1, IPPROTO_TCP, p));
    uint32_t x = claim_ok(t, entry(1, IPPROTO_TCP, 6));
    ck_assert(table_release(t, x, id_at(t, x)));
    unsigned n = 0;
    table_each(t, count_each, &n);
    ck_assert_uint_eq(n, 5);
    n = 0;
    table_each(t, stop_at_two, &n);
    ck_assert_uint_eq(n, 2);

    struct table_entry e = entry(1, IPPROTO_TCP, 7);
    memset(e.comm, 'x', sizeof e.comm);                /* no NUL at all */
    uint32_t i = claim_ok(t, e);
    char buf[64];
    table_entry_comm(table_slot_entry(t, i), buf, sizeof buf);
    ck_assert_uint_eq(strlen(buf), TABLE_COMM_LEN - 1);  /* claim terminates it */
    table_entry_comm(&e, buf, sizeof buf);
    ck_assert_uint_eq(strlen(buf), TABLE_COMM_LEN);     /* bounded even without a NUL */
    table_entry_comm(&e, buf, 4);
    ck_assert_str_eq(buf, "xxx");
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

/* ---- the lock: death, stops, tampering ---------------------------------------------- */

START_TEST(test_owner_killed)
{
    char name[NAME_LEN];
    struct table *t = open_new("killed", 64, name);
    struct held h;
    pid_t pid = start_holder(name, HOLD_PLAIN, &h);
    double t0 = now_ms();
    kill(pid, SIGKILL);
    int r = table_lock(t, 1000);  /* usually waits in the kernel until the holder is gone */
    double dt = now_ms() - t0;
    waitpid(pid, NULL, 0);
    ck_assert_msg(r == 0, "table_lock after the holder died: %s", strerror(r));
    printf("  lock recovered %.2f ms after SIGKILL of the holder\n", dt);
    ck_assert_msg(dt < 1000, "recovery took %.0f ms", dt);
    ck_assert_uint_eq(table_header(t)->repairs, 1);
    assert_consistent(t);
    ck_assert_ptr_nonnull(table_entry_by_id(t, h.done_idx, h.done_id));  /* finished claims stay */
    table_unlock(t);
    lock_ok(t);                                        /* and the mutex is usable again */
    ck_assert_uint_eq(table_header(t)->repairs, 1);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_killed_mid_operation)
{
    static const struct { enum hold_what what; const char *name; int left; } cases[] = {
        { HOLD_CLAIM_FIELDS,    "mid-claim, fields written", 0 },
        { HOLD_CLAIM_PUBLISHED, "mid-claim, published",      1 },
        { HOLD_RELEASING,       "mid-release",               0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[NAME_LEN];
        struct table *t = open_new("midop", 64, name);
        struct held h;
        pid_t pid = start_holder(name, cases[k].what, &h);
        kill_wait(pid);
        lock_ok(t);
        assert_consistent(t);
        ck_assert_msg(find_n(t, 1, IPPROTO_TCP, 2000) == cases[k].left, "%s", cases[k].name);
        ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 1000), 1);
        ck_assert_uint_eq(table_count(t), 1 + (unsigned)cases[k].left);
        if (cases[k].left == 0)                        /* the half-done slot is reusable */
            ck_assert_uint_eq(claim_ok(t, entry(1, IPPROTO_UDP, 9)), h.part_idx);
        assert_consistent(t);
        printf("  killed %s: repaired, check passes\n", cases[k].name);
        table_unlock(t);
        close_remove(t, name);
    }
}
END_TEST

struct churn {
    const char *name;
    int ready;
};

/* Claim and release at random, as fast as possible, until killed. */
static int churn(void *arg)
{
    struct churn *c = arg;
    char why[256];
    struct table *t = table_open(c->name, 0, why, sizeof why);
    if (!t)
        return 10;
    rng_state ^= (uint64_t)getpid() << 20;
    uint32_t idx[32];
    uint64_t ids[32];
    unsigned n = 0;
    if (write(c->ready, "r", 1) != 1)
        return 11;
    for (;;) {
        if (table_lock(t, 1000) != 0)
            continue;
        if (n < 32 && (n == 0 || rng() % 3)) {
            struct table_entry e = entry(1 + rng() % 3, IPPROTO_TCP, (uint16_t)(rng() % 40));
            if (table_claim(t, &e, &idx[n]) == 0) {
                ids[n] = table_slot_entry(t, idx[n])->id;
                n++;
            }
        } else {
            unsigned k = (unsigned)(rng() % n);
            table_release(t, idx[k], ids[k]);
            n--;
            idx[k] = idx[n];
            ids[k] = ids[n];
        }
        uint32_t found[8];
        table_find(t, 1 + rng() % 3, IPPROTO_TCP, (uint16_t)(rng() % 40), found, 8);
        table_unlock(t);
    }
}

static bool collect(struct table_entry *e, uint32_t idx, void *arg)
{
    struct { uint32_t idx[256]; uint64_t id[256]; unsigned n; } *all = arg;
    all->idx[all->n] = idx;
    all->id[all->n++] = e->id;
    return all->n < 256;
}

START_TEST(test_killed_at_random)
{
    char name[NAME_LEN];
    struct table *t = open_new("churn", 256, name);
    const unsigned rounds = 40;
    for (unsigned r = 0; r < rounds; r++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        struct churn c = { name, p[1] };
        pid_t pid = harness_fork(churn, &c, (uid_t)-1, (gid_t)-1);
        close(p[1]);
        char x;
        ck_assert_int_eq(read(p[0], &x, 1), 1);
        close(p[0]);
        struct timespec d = { 0, (long)(rng() % 3000000) };
        nanosleep(&d, NULL);
        kill_wait(pid);
        lock_ok(t);
        assert_consistent(t);
        struct { uint32_t idx[256]; uint64_t id[256]; unsigned n; } all = { .n = 0 };
        table_each(t, collect, &all);
        ck_assert_uint_eq(all.n, table_count(t));
        for (unsigned i = 0; i < all.n; i++)            /* clean up after the dead */
            ck_assert(table_release(t, all.idx[i], all.id[i]));
        assert_consistent(t);
        table_unlock(t);
    }
    uint32_t repairs = table_header(t)->repairs;
    printf("  %u of %u random SIGKILLs landed inside the lock; all repaired\n", repairs, rounds);
    ck_assert_uint_gt(repairs, 0);
    close_remove(t, name);
}
END_TEST

START_TEST(test_holder_stopped_times_out)
{
    char name[NAME_LEN];
    struct table *t = open_new("stopped", 64, name);
    struct held h;
    pid_t pid = start_holder(name, HOLD_PLAIN, &h);
    kill(pid, SIGSTOP);
    double t0 = now_ms();
    int r = table_lock(t, 200);
    double dt = now_ms() - t0;
    ck_assert_msg(r == ETIMEDOUT, "table_lock gave %s", strerror(r));
    printf("  stopped holder: ETIMEDOUT after %.1f ms (bound 200 ms)\n", dt);
    ck_assert_msg(dt >= 195 && dt < 600, "waited %.1f ms", dt);
    t0 = now_ms();
    ck_assert_int_eq(table_lock(t, 0), ETIMEDOUT);     /* a zero bound does not wait */
    ck_assert_msg(now_ms() - t0 < 50, "zero bound waited");
    kill(pid, SIGCONT);
    kill_wait(pid);
    lock_ok(t);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_tampered_header_and_lock)
{
    char name[NAME_LEN];
    struct table *t = open_new("tamper", 64, name);
    struct table_header *h = table_header(t);
    h->ident.capacity = 1u << 30;   /* bounds come from the local copy, never from here */
    ck_assert_int_eq(table_lock(t, 100), EIO);
    h->ident.capacity = 64;
    lock_ok(t);
    ck_assert_int_eq(table_lock(t, 100), EDEADLK);     /* not a self-wait */
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

START_TEST(test_close_while_locked)
{
    char name[NAME_LEN];
    struct table *t = open_new("closelocked", 64, name);
    lock_ok(t);
    table_close(t);                 /* refused: the handle and mapping stay */
    ck_assert_uint_eq(table_capacity(t), 64);
    claim_ok(t, entry(1, IPPROTO_TCP, 1));
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

/* ---- files that are not tables ------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* Create a valid table, then overwrite `len` bytes at `off` of its file. */
static void valid_then_patch(const char *name, size_t off, const void *bytes, size_t len)
{
    char path[256];
    table_close(open_name(name, 16));
    shm_path(name, path, sizeof path);
    int fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
    close(fd);
}

START_TEST(test_corrupt_files)
{
    char name[NAME_LEN], path[256], target[256];
    unsigned char junk[4096];
    uint32_t u32;
    uint64_t u64;
    table_name("corrupt", name, sizeof name);
    shm_path(name, path, sizeof path);

    fill_random(junk, sizeof junk);
    junk[0] |= 1;
    write_file(path, junk, sizeof junk);
    expect_refused(name, "random bytes", "not a bindguard table");
    unlink(path);

    memcpy(junk, &(uint64_t){ TABLE_MAGIC }, 8);
    write_file(path, junk, sizeof junk);
    expect_refused(name, "magic + random bytes", NULL);
    unlink(path);

    valid_then_patch(name, 0, &(uint64_t){ 0x1234 }, 8);
    expect_refused(name, "wrong magic", "magic");
    unlink(path);

    u32 = TABLE_ABI_VERSION + 1;
    valid_then_patch(name, offsetof(struct table_ident, abi), &u32, 4);
    expect_refused(name, "wrong ABI version", "ABI");
    unlink(path);

    u32 = 64;
    valid_then_patch(name, offsetof(struct table_ident, entry_size), &u32, 4);
    expect_refused(name, "wrong entry size", "entry size");
    unlink(path);

    u32 = 24;
    valid_then_patch(name, offsetof(struct table_ident, lock_size), &u32, 4);
    expect_refused(name, "wrong lock size", "lock size");
    unlink(path);

    u32 = 1u << 30;
    valid_then_patch(name, offsetof(struct table_ident, capacity), &u32, 4);
    expect_refused(name, "absurd capacity", "capacity");
    unlink(path);

    u64 = 12345;
    valid_then_patch(name, offsetof(struct table_ident, file_size), &u64, 8);
    expect_refused(name, "wrong recorded size", "size");
    unlink(path);

    table_close(open_name(name, 16));
    ck_assert_int_eq(truncate(path, (off_t)table_file_size(16) * 2), 0);
    expect_refused(name, "too long", "bytes");
    ck_assert_int_eq(truncate(path, (off_t)table_file_size(16) / 2), 0);
    expect_refused(name, "truncated to half", "bytes");
    ck_assert_int_eq(truncate(path, 100), 0);
    expect_refused(name, "truncated to 100 B", "bytes");
    ck_assert_int_eq(truncate(path, 5), 0);
    expect_refused(name, "truncated to 5 B", NULL);
    ck_assert_int_eq(truncate(path, 0), 0);
    expect_refused(name, "empty file", "not initialised");
    unlink(path);

    ck_assert_int_eq(mkdir(path, 0755), 0);
    expect_refused(name, "a directory", NULL);
    rmdir(path);

    ck_assert_int_eq(mkfifo(path, 0644), 0);
    expect_refused(name, "a FIFO", "regular");
    unlink(path);

    char other[NAME_LEN];
    table_name("corrupt-target", other, sizeof other);
    table_close(open_name(other, 16));
    shm_path(other, target, sizeof target);
    ck_assert_int_eq(symlink(target, path), 0);
    expect_refused(name, "a symlink to a table", "symbolic link");
    unlink(path);
    harness_table_remove(other);

    if (access("/dev/null", W_OK) == 0)
        expect_refused("/dev/null", "a device", "regular");
}
END_TEST

/* ---- hostile contents --------------------------------------------------------------- */

/* Random bytes that pass the field checks, so walks go deep instead of stopping early. */
static void plausible(struct table_entry *e)
{
    e->proto = IPPROTO_TCP;
    e->addr.family = AF_INET;
    e->addr.port = (uint16_t)(rng() % 4);
    e->netns = 1;
    e->n_share %= TABLE_MAX_SHARE + 1;
    e->cls %= BG_CLASS_EXCLUSIVE + 1;
    e->id |= 1;
}

/* Scribble over everything but the ident and the mutex, then use the table. */
static void scribble(struct table *t, unsigned seed)
{
    struct table_header *h = table_header(t);
    char *base = (char *)h;
    rng_state = 0x1234567u + seed * 0x9e3779b97f4a7c15u;
    fill_random(base + h->ident.bucket_off, h->ident.file_size - h->ident.bucket_off);
    fill_random(&h->next_id, offsetof(struct table_header, lock) -
                             offsetof(struct table_header, next_id));
    struct table_entry *e = (struct table_entry *)(base + h->ident.entry_off);
    for (uint32_t i = 0; i < h->ident.capacity; i++) {
        if (seed % 2)                           /* small links: plausible, cyclic chains */
            e[i].next = (uint32_t)(rng() % (h->ident.capacity + 2));
        if (rng() % 2)
            e[i].state = TABLE_STATE_LIVE;
        if (seed % 4 < 2)
            plausible(&e[i]);
    }
    uint32_t *b = (uint32_t *)(base + h->ident.bucket_off);
    for (uint32_t i = 0; i < h->ident.nbuckets; i++)
        if (seed % 2)
            b[i] = (uint32_t)(rng() % (h->ident.capacity + 2));
    h->hwm = seed % 3 ? (uint32_t)(rng() % (h->ident.capacity + 8)) : h->hwm;
    h->repair = seed % 5 == 0;
}

static bool touch_all(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)idx;
    *(unsigned *)arg += e->cls + e->n_share;
    return true;
}

START_TEST(test_hostile_contents)
{
    unsigned found = 0, corrupt = 0;
    for (unsigned seed = 0; seed < 40; seed++) {
        char name[NAME_LEN];
        struct table *t = open_new("hostile", 64, name);
        lock_ok(t);
        for (uint16_t p = 0; p < 20; p++)
            claim_ok(t, entry(1, IPPROTO_TCP, p));
        scribble(t, seed);
        table_unlock(t);
        lock_ok(t);                                  /* may rebuild, must not crash */
        for (uint16_t p = 0; p < 8; p++) {
            uint32_t idx[16];
            int n = table_find(t, 1, IPPROTO_TCP, p, idx, 16);
            if (n < 0) {
                corrupt++;
                continue;
            }
            found += (unsigned)n;
            for (int i = 0; i < n && i < 16; i++)
                ck_assert_ptr_nonnull(table_slot_entry(t, idx[i]));
        }
        unsigned sum = 0;
        table_each(t, touch_all, &sum);
        struct table_entry e = entry(1, IPPROTO_UDP, 7);
        uint32_t i;
        int r = table_claim(t, &e, &i);
        ck_assert(r == 0 || r == ENOSPC);
        table_check(t, NULL, 0);
        table_rebuild(t);
        assert_consistent(t);
        table_unlock(t);
        lock_ok(t);
        assert_consistent(t);
        ck_assert_uint_eq(table_header(t)->repair, 0);
        table_unlock(t);
        close_remove(t, name);
    }
    printf("  40 scribbled tables: %u entries found, %u finds refused as corrupt, all rebuilt\n",
           found, corrupt);
    ck_assert_uint_gt(corrupt, 0);
}
END_TEST

/* Two entries a (older) and b in one bucket: the chain is head -> b -> a. */
static struct table *two_in_a_bucket(char *name, uint32_t *a, uint32_t *b, uint64_t *ns_b)
{
    struct table *t = open_new("chain", 64, name);
    lock_ok(t);
    *ns_b = colliding_netns(t, 1, IPPROTO_TCP, IPPROTO_TCP, 80);
    *a = claim_ok(t, entry(1, IPPROTO_TCP, 80));
    *b = claim_ok(t, entry(*ns_b, IPPROTO_TCP, 80));
    ck_assert_uint_eq(table_slot_entry(t, *b)->next, TABLE_LINK(*a));
    assert_consistent(t);
    return t;
}

static void assert_both_back(struct table *t, uint64_t ns_b)
{
    assert_consistent(t);
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), 1);
    ck_assert_int_eq(find_n(t, ns_b, IPPROTO_TCP, 80), 1);
    ck_assert_uint_eq(table_count(t), 2);
}

START_TEST(test_check_and_rebuild_chains)
{
    char name[NAME_LEN];
    uint32_t a, b;
    uint64_t ns_b;

    /* A cycle: find refuses (no hang), an explicit rebuild repairs. */
    struct table *t = two_in_a_bucket(name, &a, &b, &ns_b);
    table_slot_entry(t, a)->next = TABLE_LINK(b);
    assert_corrupt(t, "a cycle");
    errno = 0;
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), -1);
    ck_assert_int_eq(errno, EIO);
    table_rebuild(t);
    assert_both_back(t, ns_b);
    table_slot_entry(t, a)->next = TABLE_LINK(a);             /* a self-loop at the tail */
    assert_corrupt(t, "a self-loop");
    ck_assert_int_eq(find_n(t, ns_b, IPPROTO_TCP, 80), -1);
    table_rebuild(t);
    assert_both_back(t, ns_b);
    table_unlock(t);
    close_remove(t, name);

    /* Out-of-range next: find flags it, the next table_lock repairs on its own. */
    t = two_in_a_bucket(name, &a, &b, &ns_b);
    table_slot_entry(t, b)->next = 64 + 7;
    assert_corrupt(t, "an out-of-range next");
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), -1);
    ck_assert_uint_eq(table_header(t)->repair, 1);
    table_unlock(t);
    lock_ok(t);
    assert_both_back(t, ns_b);

    /* A bucket head out of range. */
    struct table_header *h = table_header(t);
    uint32_t *heads = (uint32_t *)((char *)h + h->ident.bucket_off);
    heads[table_bucket(t, 1, IPPROTO_TCP, 80)] = 0xdeadbeef;
    assert_corrupt(t, "an out-of-range bucket head");
    ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, 80), -1);
    table_rebuild(t);
    assert_both_back(t, ns_b);

    /* Wrong count, a leaked slot, a free list pointing anywhere. */
    h->count += 5;
    assert_corrupt(t, "a wrong count");
    table_rebuild(t);
    assert_both_back(t, ns_b);
    uint32_t leak;
    struct table_entry e = entry(5, IPPROTO_UDP, 5);
    ck_assert_int_eq(table_claim_partial(t, &e, TABLE_STOP_FIELDS, &leak), 0);
    assert_corrupt(t, "a leaked slot");
    table_rebuild(t);
    assert_both_back(t, ns_b);
    ck_assert(table_release(t, a, id_at(t, a)));
    h->free_head = 1000;
    assert_corrupt(t, "an out-of-range free list");
    uint32_t c = claim_ok(t, entry(1, IPPROTO_TCP, 80)); /* the claim repairs and goes on */
    ck_assert_uint_lt(c, 64);
    assert_both_back(t, ns_b);
    h->free_head = TABLE_LINK(b);                    /* a live entry on the free list */
    assert_corrupt(t, "a live entry on the free list");
    claim_ok(t, entry(9, IPPROTO_TCP, 9));
    assert_consistent(t);
    ck_assert_int_eq(find_n(t, ns_b, IPPROTO_TCP, 80), 1);
    table_unlock(t);
    close_remove(t, name);
}
END_TEST

/* ---- several processes and users ---------------------------------------------------- */

struct racer {
    const char *name;
    int go[2];       /* a pipe: all racers start when the last write end is closed */
    uint16_t port;
};

static int race_open(void *arg)
{
    struct racer *r = arg;
    char x, why[256];
    close(r->go[1]);
    if (read(r->go[0], &x, 1) != 0)
        return 10;
    struct table *t = table_open(r->name, 64, why, sizeof why);
    if (!t) {
        fprintf(stderr, "racer: %s\n", why);
        return 11;
    }
    struct table_entry e = entry(1, IPPROTO_TCP, r->port);
    uint32_t idx;
    if (table_lock(t, 2000) != 0 || table_claim(t, &e, &idx) != 0)
        return 12;
    table_unlock(t);
    return 0;
}

START_TEST(test_racing_creators)
{
    enum { N = 8 };
    char name[NAME_LEN];
    table_name("race", name, sizeof name);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        struct racer r = { name, { p[0], p[1] }, (uint16_t)(5000 + i) };
        pids[i] = harness_fork(race_open, &r, (uid_t)-1, (gid_t)-1);
    }
    close(p[0]);
    close(p[1]);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(harness_wait(pids[i], 10000), 0);
    struct table *t = open_name(name, 64);
    lock_ok(t);
    ck_assert_uint_eq(table_count(t), N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(find_n(t, 1, IPPROTO_TCP, (uint16_t)(5000 + i)), 1);
    assert_consistent(t);
    table_unlock(t);
    /* No creator's temporary file is left behind. */
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    char prefix[NAME_LEN + 16];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", name + 1);
    for (struct dirent *de; (de = readdir(d));)
        ck_assert_msg(strncmp(de->d_name, prefix, strlen(prefix)) != 0, "left %s", de->d_name);
    closedir(d);
    close_remove(t, name);
}
END_TEST

struct visitor {
    const char *name;
    uid_t uid;
};

/* Another user may read the table (foreign.h does) and nothing more. */
static int as_other_user(void *arg)
{
    struct visitor *v = arg;
    char why[256], path[256];
    shm_path(v->name, path, sizeof path);
    if (getuid() != v->uid || table_open(v->name, 64, why, sizeof why) != NULL)
        return 10;
    if (open(path, O_RDWR) >= 0 || errno != EACCES || truncate(path, 0) == 0)
        return 11;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 12;
    close(fd);
    printf("  nobody: %s\n", why);
    return 0;
}

static int create_as_other_user(void *arg)
{
    char why[256];
    struct table *t = table_open(((struct visitor *)arg)->name, 64, why, sizeof why);
    return t ? 0 : 10;
}

START_TEST(test_two_users)
{
    if (!harness_is_root()) {
        printf("SKIP: test_two_users needs root (to create as root and open as nobody)\n");
        return;
    }
    char name[NAME_LEN];
    mode_t old = umask(0);
    struct table *t = open_new("users", 64, name);
    umask(old);
    lock_ok(t);
    claim_ok(t, entry(1, IPPROTO_TCP, 80));
    table_unlock(t);
    struct visitor v = { name, 0 };
    gid_t gid;
    harness_nobody(&v.uid, &gid);
    pid_t pid = harness_fork(as_other_user, &v, v.uid, gid);
    ck_assert_int_eq(harness_wait(pid, 5000), 0);
    lock_ok(t);
    assert_consistent(t);
    table_unlock(t);
    close_remove(t, name);

    /* A file nobody created under a name is not root's table, whatever the name says. */
    harness_table_name("users-squat", name, sizeof name);
    pid = harness_fork(create_as_other_user, &v, v.uid, gid);
    ck_assert_int_eq(harness_wait(pid, 5000), 0);
    char why[256];
    ck_assert_ptr_null(table_open(name, 64, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "owned by uid"));
    printf("  root: %s\n", why);
    harness_table_remove(name);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    struct { const char *name; const TTest *fn; } cases[] = {
        { "layout", test_layout },
        { "layout", test_created_file },
        { "names", test_names },
        { "ops", test_insert_find_remove },
        { "ops", test_release_stale_id },
        { "ops", test_capacity_full },
        { "ops", test_collisions },
        { "ops", test_each_and_comm },
        { "lock", test_owner_killed },
        { "lock", test_killed_mid_operation },
        { "lock", test_killed_at_random },
        { "lock", test_holder_stopped_times_out },
        { "lock", test_tampered_header_and_lock },
        { "lock", test_close_while_locked },
        { "hostile", test_corrupt_files },
        { "hostile", test_hostile_contents },
        { "hostile", test_check_and_rebuild_chains },
        { "shared", test_racing_creators },
        { "shared", test_two_users },
    };
    TCase *tc = NULL;
    const char *cur = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, cur) != 0) {
            cur = cases[i].name;
            tc = tcase_create(cur);
            tcase_set_timeout(tc, 60);
            suite_add_tcase(s, tc);
        }
        tcase_add_test(tc, cases[i].fn);
    }
    return s;
}

static void remove_leftovers(void)
{
    char prefix[64], path[512];
    snprintf(prefix, sizeof prefix, "bg-test-%s-", run_tag);
    snprintf(path, sizeof path, "/tmp/%sabs", prefix);
    unlink(path);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(path, sizeof path, "/dev/shm/%s", de->d_name);
        if (unlink(path) != 0)
            rmdir(path);
        printf("removed %s left by a failed test\n", path);
    }
    closedir(d);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(run_tag, sizeof run_tag, "tt%d", (int)getpid());
    int status = harness_run(table_suite());
    remove_leftovers();
    return status;
}
