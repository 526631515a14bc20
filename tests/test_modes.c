/* test_modes - BINDGUARD_MODE=audit only says what it would refuse, =off passes
 * everything through as if the shim were not there, a bad value of a variable is one
 * warning, then the safe defaults, and the configuration is the environment the program
 * started with. */
#include <stdio.h>
#include <string.h>

#include "fixture.h"

START_TEST(audit_mode_only_says_so)
{
    int port;
    const struct proc_how *audit = SHIM_WITH("BINDGUARD_MODE=audit");
    const char *line =
        fixture_pair(audit, "-a 127.0.0.1 -o reuseaddr", "-a 127.0.0.1 -o reuseaddr", &port);
    fixture_assert_ok(line, port);
    char what[64];
    snprintf(what, sizeof what, "127.0.0.1:%d/tcp would be refused", port);
    ck_assert_msg(fixture_log_lines(what, "[audit]") == 1, "log:\n%s", fixture_log_text());
    ck_assert_int_eq(fixture_log_lines("/tcp refused", NULL), 0);
}
END_TEST

START_TEST(off_mode_passes_everything_through)
{
    const struct proc_how *off = SHIM_WITH("BINDGUARD_MODE=off");
    AGENT(off, "sockopts", "opts", "tcp", "exclusive", "ENOPROTOOPT");
    static const char *const specs[] = {"-a 127.0.0.1 -o reuseaddr", "-a 127.0.0.1",
                                        "-p udp -a 127.0.0.1", "-f d -a ::"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const char *native = fixture_pair(NATIVE, specs[i], specs[i], NULL);
        const char *got = fixture_pair(off, specs[i], specs[i], NULL);
        ck_assert_msg(fixture_same_outcome(got, native), "%s twice: off says '%s', native '%s'",
                      specs[i], got, native);
    }
    ck_assert_msg(fixture_log_text()[0] == '\0', "off mode logged:\n%s", fixture_log_text());
}
END_TEST

/* The program runs (with the safe defaults: ws2003, enforce) and stderr has one line per
 * bad variable, naming it and no other. */
static void warns_once_per_bad_value(const struct proc_how *h)
{
    struct proc *p = fixture_tbind_run(h, "-a 127.0.0.1 -o exclusive", 0);
    ck_assert_msg(strncmp(p->line, "OK ", 3) == 0, "tbind said '%s'", p->line);
    int bad = 0;
    for (size_t i = 0; i < sizeof h->env / sizeof h->env[0] && h->env[i]; i++, bad++) {
        char name[64];
        snprintf(name, sizeof name, "%.*s=", (int)strcspn(h->env[i], "="), h->env[i]);
        ck_assert_msg(proc_count_lines(p->ebuf, name, NULL) == 1, "%s: stderr:\n%s", name, p->ebuf);
        ck_assert_msg(proc_count_lines(p->ebuf, name, "bindguard: ") == 1, "%s: stderr:\n%s", name,
                      p->ebuf);
    }
    ck_assert_msg(proc_count_lines(p->ebuf, "", NULL) == bad, "want %d lines on stderr:\n%s", bad,
                  p->ebuf);
}

START_TEST(bad_env_values_warn_once_each)
{
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_MODE=loud"));
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_PROFILE=win2022"));
    warns_once_per_bad_value(SHIM_WITH("BINDGUARD_MODE=loud", "BINDGUARD_PROFILE=win2022"));
}
END_TEST

START_TEST(configuration_is_the_environment_at_start)
{
    AGENT(SHIM, "sockopts", "kept_env", proc_num(fixture_free_port()));
    AGENT(SHIM_WITH("BINDGUARD_DEFAULT=windows"), "sockopts", "kept_env",
          proc_num(fixture_free_port()));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("modes");
    TCase *tc = fixture_tcase(s, "modes");
    tcase_add_test(tc, audit_mode_only_says_so);
    tcase_add_test(tc, off_mode_passes_everything_through);
    tcase_add_test(tc, bad_env_values_warn_once_each);
    tcase_add_test(tc, configuration_is_the_environment_at_start);
    return fixture_main(s);
}
