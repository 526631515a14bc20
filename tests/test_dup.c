/* test_dup - a socket's entry stays while any descriptor of it is open in the process,
 * and goes with the last, however descriptors are made (dup, dup2, dup3, F_DUPFD,
 * F_DUPFD_CLOEXEC) and closed (close, close_range, closefrom; marking close-on-exec closes
 * nothing). Agents: dups, closemany. */
#include <stdio.h>
#include <string.h>

#include "fixture.h"

START_TEST(last_descriptor_releases)
{
    static const char *const methods[] = {"dup",         "dup2",      "dup3",   "F_DUPFD",
                                          "F_DUPFD_CLOEXEC", "close_range", "closefrom", "cloexec"};
    fixture_assert_kernel_would_share();
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        /* Contenders exit without closing and leave stale entries: count in a fresh table. */
        fixture_new_table();
        int port = fixture_free_port();
        struct proc *h = AGENT_START(SHIM, "dups", methods[i], proc_num(port));
        fixture_expect_line(h, "HOLD");
        ck_assert_msg(fixture_live_entries() == 1, "%s: entry gone with a descriptor left",
                      methods[i]);
        const char *line = fixture_tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port);
        ck_assert_msg(fixture_refused(line), "%s: with a descriptor left, a contender said '%s'",
                      methods[i], line);
        fixture_send(h, "\n");
        fixture_expect_line(h, "FREE");
        ck_assert_msg(fixture_live_entries() == 0, "%s: entry left after the last descriptor",
                      methods[i]);
        fixture_assert_ok(fixture_tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port), port);
        ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
    }
}
END_TEST

/* One close_range or closefrom of more bound sockets than bindguard plans in one batch
 * (LIFECYCLE_BATCH, 32): libc closes the range in parts, and every entry still goes. */
START_TEST(one_call_closes_many)
{
    static const char *const methods[] = {"close_range", "closefrom"};
    enum { MANY = 70 };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        fixture_new_table();
        struct proc *h = AGENT_START(SHIM, "closemany", methods[i], proc_num(MANY));
        fixture_expect_line(h, "HOLD");
        ck_assert_msg(fixture_live_entries() == MANY, "%s: %zu entries for %d sockets",
                      methods[i], fixture_live_entries(), MANY);
        fixture_send(h, "\n");
        fixture_expect_line(h, "FREE");
        ck_assert_msg(fixture_live_entries() == 0, "%s: %zu entries left after the call",
                      methods[i], fixture_live_entries());
        ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
    }
}
END_TEST

/* A close_range the kernel refuses (seccomp EPERM, as older container policies do)
 * closes nothing: the sockets must stay bindguard's, so that each later close() still
 * releases its entry. */
START_TEST(refused_close_range_keeps_its_sockets)
{
    enum { SOME = 5 };
    fixture_new_table();
    struct proc *h = AGENT_START(SHIM, "closemany", "close_range_denied", proc_num(SOME));
    const char *line = proc_line(h, FIXTURE_WAIT_MS);
    ck_assert_msg(line != NULL, "closemany said nothing");
    if (strncmp(line, "SKIP", 4) == 0) {
        fprintf(stderr, "SKIP refused_close_range_keeps_its_sockets: %s\n", line);
        ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
        return;
    }
    ck_assert_str_eq(line, "HOLD");
    ck_assert_msg(fixture_live_entries() == SOME, "%zu entries for %d sockets",
                  fixture_live_entries(), SOME);
    fixture_send(h, "\n");
    fixture_expect_line(h, "FREE");
    ck_assert_msg(fixture_live_entries() == 0, "%zu entries left after each close()",
                  fixture_live_entries());
    ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dup");
    TCase *tc = fixture_tcase(s, "descriptors");
    tcase_add_test(tc, last_descriptor_releases);
    tcase_add_test(tc, one_call_closes_many);
    tcase_add_test(tc, refused_close_range_keeps_its_sockets);
    return fixture_main(s);
}
