/* test_options - SO_EXCLUSIVEADDRUSE and the sharing options, inside one process under
 * the shim (agent: sockopts), per profile and user, and without the shim. */
#include <stdio.h>

#include "fixture.h"
#include "harness.h"

START_TEST(exclusive_and_sharing_exclude_each_other)
{
    AGENT(SHIM, "sockopts", "opts", "tcp", "exclusive,reuseport", "EINVAL");
    AGENT(SHIM, "sockopts", "opts", "tcp", "reuseport,exclusive", "EINVAL");
    AGENT(SHIM, "sockopts", "opts", "udp", "reuseaddr,exclusive", "EINVAL");
    AGENT(SHIM, "sockopts", "opts", "udp", "exclusive,reuseaddr", "EINVAL");
    AGENT(SHIM, "sockopts", "opts", "udp", "exclusive,reuseport", "EINVAL");
    /* TCP SO_REUSEADDR keeps its Linux meaning (TIME_WAIT reuse) unless asked not to. */
    AGENT(SHIM, "sockopts", "opts", "tcp", "reuseaddr,exclusive", "ok");
    AGENT(SHIM, "sockopts", "opts", "tcp", "exclusive,reuseaddr", "ok");
    const struct proc_how *windows = SHIM_WITH("BINDGUARD_REUSEADDR=windows");
    AGENT(windows, "sockopts", "opts", "tcp", "reuseaddr,exclusive", "EINVAL");
    AGENT(windows, "sockopts", "opts", "tcp", "exclusive,reuseaddr", "EINVAL");
    /* Turning sharing off again lifts the conflict. */
    AGENT(SHIM, "sockopts", "opts", "tcp", "reuseport,reuseport=0,exclusive", "ok");
}
END_TEST

START_TEST(exclusive_reads_back_as_bool)
{
    AGENT(SHIM, "sockopts", "readback");
}
END_TEST

START_TEST(profiles_without_or_with_restricted_exclusive)
{
    static const char *const win9x[] = {"BINDGUARD_PROFILE=win95", "BINDGUARD_PROFILE=win98",
                                        "BINDGUARD_PROFILE=winme"};
    for (size_t i = 0; i < 3; i++)
        AGENT(SHIM_WITH(win9x[i]), "sockopts", "opts", "tcp", "exclusive", "ENOPROTOOPT");
    if (!harness_is_root()) {
        AGENT(SHIM_WITH("BINDGUARD_PROFILE=xp"), "sockopts", "opts", "tcp", "exclusive",
              "EACCES");
        printf("SKIP xp profile as root and ws2003 as nobody: not running as root\n");
        return;
    }
    AGENT(SHIM_WITH("BINDGUARD_PROFILE=xp"), "sockopts", "opts", "tcp", "exclusive", "ok");
    const struct proc_how *xp_nobody =
        &(const struct proc_how){UNDER_SHIM, .as_nobody = true, .env = {"BINDGUARD_PROFILE=xp"}};
    AGENT(xp_nobody, "sockopts", "opts", "tcp", "exclusive", "EACCES");
    const struct proc_how *nobody = &(const struct proc_how){UNDER_SHIM, .as_nobody = true};
    AGENT(nobody, "sockopts", "opts", "tcp", "exclusive", "ok");
}
END_TEST

START_TEST(set_after_bind_keeps_the_class)
{
    int ports[2];
    proc_free_ports(ports, 2);
    AGENT(SHIM_WITH("BINDGUARD_DEFAULT=windows"), "sockopts", "after_bind", proc_num(ports[0]),
          proc_num(ports[1]));
}
END_TEST

START_TEST(without_the_shim_exclusive_fails_loudly)
{
    AGENT(NATIVE, "sockopts", "opts", "tcp", "exclusive", "ENOPROTOOPT");
    AGENT(NATIVE, "sockopts", "opts", "udp", "exclusive", "ENOPROTOOPT");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = fixture_tcase(s, "options");
    tcase_add_test(tc, exclusive_and_sharing_exclude_each_other);
    tcase_add_test(tc, exclusive_reads_back_as_bool);
    tcase_add_test(tc, profiles_without_or_with_restricted_exclusive);
    tcase_add_test(tc, set_after_bind_keeps_the_class);
    tcase_add_test(tc, without_the_shim_exclusive_fails_loudly);
    return fixture_main(s);
}
