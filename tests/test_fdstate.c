/* fdstate: the per-process descriptor records. */
#include <pthread.h>
#include <stdlib.h>

#include "fdstate.h"
#include "harness.h"

static struct fd_state *track(int fd, uint8_t flags, uint64_t id)
{
    struct fd_state *s = fdstate_track(fd);
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
    struct fd_state *s = track(7, FD_HAS_ENTRY, 42);
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

START_TEST(dup_marks_both_and_counts_local_holders)
{
    track(10, FD_HAS_ENTRY, 99);
    fdstate_dup(10, 11);
    struct fd_state *a = fdstate_get(10), *b = fdstate_get(11);
    ck_assert_ptr_nonnull(b);
    ck_assert(a->flags & FD_DUPED);
    ck_assert(b->flags & FD_DUPED);
    ck_assert_uint_eq(b->entry_id, 99);
    ck_assert(fdstate_has_alias(10));
    /* A change to one descriptor's record is the socket's: it reaches the other. */
    a->opts |= FD_OPT_REUSEADDR;
    a->entry_id = 100;
    fdstate_sync_aliases(10);
    ck_assert_uint_eq(b->opts & FD_OPT_REUSEADDR, FD_OPT_REUSEADDR);
    ck_assert_uint_eq(b->entry_id, 100);
    /* Another socket is not an alias, whatever its entry says. */
    track(12, FD_HAS_ENTRY, 100);
    fdstate_forget(11);
    ck_assert(!fdstate_has_alias(10));
    fdstate_forget(12);
    /* dup of an untracked fd over a tracked number forgets the number */
    track(12, 0, 0);
    fdstate_dup(13, 12);
    ck_assert_ptr_null(fdstate_get(12));
    fdstate_forget(10);
}
END_TEST

static void count(int fd, struct fd_state *s, void *arg)
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
        struct fd_state *s = fdstate_get(fd);
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
    tcase_add_test(tc, dup_marks_both_and_counts_local_holders);
    tcase_add_test(tc, each_visits_tracked_only);
    tcase_add_test(tc, concurrent_chunk_creation);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
