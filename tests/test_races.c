/* test_races - two processes racing for one exclusive port, RACE_ROUNDS times: exactly
 * one wins each round, the other is refused. Agent: racer. */
#include <stdio.h>
#include <string.h>

#include "fixture.h"

#define RACE_ROUNDS 1000

START_TEST(exactly_one_racer_wins)
{
    fixture_assert_kernel_would_share();
    int port = fixture_free_port(), wins[2] = {0, 0};
    struct proc *p[2] = {AGENT_START(SHIM, "racer", proc_num(port)),
                         AGENT_START(SHIM, "racer", proc_num(port))};
    int64_t start = proc_now_ms();
    for (int round = 0; round < RACE_ROUNDS; round++) {
        /* Who is woken first alternates, so neither always has the head start. */
        fixture_send(p[round & 1], "b");
        fixture_send(p[!(round & 1)], "b");
        const char *r[2];
        for (int i = 0; i < 2; i++) {
            r[i] = proc_line(p[i], FIXTURE_WAIT_MS);
            ck_assert_msg(r[i], "round %d: racer %d silent (%s)", round, i, p[i]->ebuf);
        }
        bool won[2] = {strcmp(r[0], "ok") == 0, strcmp(r[1], "ok") == 0};
        ck_assert_msg(won[0] + won[1] == 1, "round %d: racers said %s and %s", round, r[0], r[1]);
        const char *lost = r[won[0]];
        ck_assert_msg(strcmp(lost, "EADDRINUSE") == 0 || strcmp(lost, "EACCES") == 0,
                      "round %d: loser said %s", round, lost);
        wins[won[1]]++;
        for (int i = 0; i < 2; i++)
            fixture_send(p[i], "c");
        for (int i = 0; i < 2; i++)
            fixture_expect_line(p[i], "closed");
    }
    printf("race: %d rounds in %lld ms, wins %d / %d\n", RACE_ROUNDS,
           (long long)(proc_now_ms() - start), wins[0], wins[1]);
    ck_assert_int_eq(proc_finish(p[0], FIXTURE_WAIT_MS), 0);
    ck_assert_int_eq(proc_finish(p[1], FIXTURE_WAIT_MS), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("races");
    tcase_add_test(fixture_tcase(s, "race"), exactly_one_racer_wins);
    return fixture_main(s);
}
