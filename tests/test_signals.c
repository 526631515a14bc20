/* test_signals - close() from a signal handler while the interrupted thread is inside
 * bindguard, holding the table lock or not, never deadlocks. Agent: sigclose. */
#include <stdio.h>

#include "fixture.h"

#define SIGCLOSE_MS 1500  /* how long the agent loops */

START_TEST(close_in_signal_handler_never_deadlocks)
{
    int ports[2];
    long rounds = 0;
    int sigs = 0;
    proc_free_ports(ports, 2);
    struct proc *p = AGENT(SHIM, "sigclose", proc_num(ports[0]), proc_num(ports[1]),
                           proc_num(SIGCLOSE_MS));
    ck_assert_msg(sscanf(p->obuf, "DONE %ld %d", &rounds, &sigs) == 2, "said '%s'", p->obuf);
    ck_assert_msg(rounds > 100 && sigs > 100, "%ld rounds, %d signals", rounds, sigs);
    /* A handler waiting on the lock its own thread holds would end in lock timeouts. */
    ck_assert_msg(proc_trouble_lines(fixture_log_text()) == 0, "log:\n%.2000s",
                  fixture_log_text());
    printf("sigclose: %ld rounds, %d signals in %d ms\n", rounds, sigs, SIGCLOSE_MS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("signals");
    tcase_add_test(fixture_tcase(s, "signals"), close_in_signal_handler_never_deadlocks);
    return fixture_main(s);
}
