/* test_dup - a socket's entry stays while any descriptor of it is open in the process,
 * and goes with the last, however descriptors are made (dup, dup2, dup3, F_DUPFD,
 * F_DUPFD_CLOEXEC) and closed (close, close_range, closefrom; marking close-on-exec closes
 * nothing). Agent: dups. */
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

int main(void)
{
    Suite *s = suite_create("dup");
    tcase_add_test(fixture_tcase(s, "descriptors"), last_descriptor_releases);
    return fixture_main(s);
}
