/* fdstate: one record per socket, and the fd -> record index. */
#include <pthread.h>
#include <stdlib.h>

#include "fdstate.h"
#include "harness.h"

static struct sock_record *track(int fd, uint8_t flags, uint64_t id)
{
    struct sock_record *s = fdstate_track(fd);
    ck_assert_ptr_nonnull(s);
    s->flags = flags;
    s->entry_id = id;
    s->tracked = 1;
    return s;
}

START_TEST(untracked_and_out_of_range)
{
    ck_assert_ptr_null(fdstate_get(5));
    ck_assert_ptr_null(fdstate_get(-1));
    ck_assert_ptr_null(fdstate_get(FDSTATE_MAX_FD));
    ck_assert_ptr_null(fdstate_track(FDSTATE_MAX_FD));
    ck_assert_ptr_null(fdstate_track(-3));
}
END_TEST

START_TEST(track_forget)
{
    struct sock_record *s = track(7, FD_HAS_ENTRY, 42);
    ck_assert_ptr_eq(fdstate_get(7), s);
    ck_assert_int_ge(fdstate_limit(), 8);
    fdstate_forget(7);
    ck_assert_ptr_null(fdstate_get(7));
    /* tracking again starts from a clean record */
    s = fdstate_track(7);
    ck_assert_int_eq(s->flags, 0);
    ck_assert_uint_eq(s->entry_idx, UINT32_MAX);
}
END_TEST

START_TEST(high_fds_use_their_own_chunk)
{
    int fd = FDSTATE_MAX_FD - 1;
    track(fd, 0, 1);
    ck_assert_ptr_nonnull(fdstate_get(fd));
    ck_assert_ptr_null(fdstate_get(fd - FDSTATE_CHUNK));
    fdstate_forget(fd);
}
END_TEST

START_TEST(dup_shares_one_record)
{
    struct sock_record *a = track(10, FD_HAS_ENTRY, 99);
    fdstate_dup(10, 11);
    struct sock_record *b = fdstate_get(11);
    ck_assert_ptr_eq(b, a);  /* one socket, one record */
    ck_assert_uint_eq(a->refs, 2);
    ck_assert(fdstate_has_alias(10));
    ck_assert(fdstate_has_alias(11));
    /* A change made through one descriptor is the socket's. */
    a->opts |= FD_OPT_REUSEADDR;
    ck_assert_uint_eq(fdstate_get(11)->opts & FD_OPT_REUSEADDR, FD_OPT_REUSEADDR);
    /* Another socket is not an alias, whatever its entry says. */
    struct sock_record *c = track(12, FD_HAS_ENTRY, 99);
    ck_assert_ptr_ne(c, a);
    ck_assert(!fdstate_has_alias(12));
    /* Only the last descriptor's forget says so. */
    ck_assert(!fdstate_forget(11));
    ck_assert(!fdstate_has_alias(10));
    ck_assert_ptr_eq(fdstate_get(10), a);
    ck_assert(fdstate_forget(10));
    ck_assert_ptr_null(fdstate_get(10));
    ck_assert(fdstate_forget(12));
    ck_assert(!fdstate_forget(12));  /* twice: nothing left to forget */
    /* dup of an untracked fd over a tracked number forgets the number */
    track(12, 0, 0);
    fdstate_dup(13, 12);
    ck_assert_ptr_null(fdstate_get(12));
    /* dup over a number holding another socket drops that socket's reference */
    struct sock_record *d = track(14, 0, 0), *e = track(15, 0, 0);
    fdstate_dup(14, 15);
    ck_assert_ptr_eq(fdstate_get(15), d);
    ck_assert_uint_eq(e->refs, 0);  /* free again */
    ck_assert(!fdstate_forget(15));
    ck_assert(fdstate_forget(14));
}
END_TEST

/* A freed record is taken again by the next socket, cleared: socket churn does not grow
 * the pool, and nothing of the old socket leaks into the new one. */
START_TEST(records_are_reused_cleared)
{
    struct sock_record *a = track(30, FD_HAS_ENTRY | FD_SHARED, 7);
    a->opts = FD_OPT_EXCLUSIVE;
    ck_assert(fdstate_forget(30));
    struct sock_record *b = fdstate_track(31);
    ck_assert_ptr_eq(b, a);
    ck_assert_int_eq(b->flags, 0);
    ck_assert_int_eq(b->opts, 0);
    ck_assert_uint_eq(b->entry_idx, UINT32_MAX);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_ptr_null(fdstate_get(31));  /* not tracked until the caller says so */
    b->tracked = 1;
    ck_assert_ptr_eq(fdstate_get(31), b);
    ck_assert(fdstate_forget(31));
}
END_TEST

static void count(int fd, struct sock_record *s, void *arg)
{
    (void)fd;
    (void)s;
    (*(int *)arg)++;
}

START_TEST(each_visits_tracked_only)
{
    track(20, 0, 0);
    track(2000, 0, 0);
    int n = 0;
    fdstate_each(count, &n);
    ck_assert_int_eq(n, 2);
    fdstate_forget(20);
    fdstate_forget(2000);
}
END_TEST

static void *track_many(void *arg)
{
    int base = *(int *)arg;
    for (int i = 0; i < 4096; i++)
        track(base + i * 2, 0, (uint64_t)(base + i * 2));
    return NULL;
}

/* Two threads racing to create the same chunks must both end up in one array. */
START_TEST(concurrent_chunk_creation)
{
    pthread_t t[2];
    int base[2] = {100000, 100001};
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, track_many, &base[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int fd = 100000; fd < 100000 + 8192; fd++) {
        struct sock_record *s = fdstate_get(fd);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(s->entry_id, (uint64_t)fd);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fdstate");
    TCase *tc = tcase_create("fdstate");
    tcase_add_test(tc, untracked_and_out_of_range);
    tcase_add_test(tc, track_forget);
    tcase_add_test(tc, high_fds_use_their_own_chunk);
    tcase_add_test(tc, dup_shares_one_record);
    tcase_add_test(tc, records_are_reused_cleared);
    tcase_add_test(tc, each_visits_tracked_only);
    tcase_add_test(tc, concurrent_chunk_creation);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
