/* test_cli_netns - entries of other network namespaces: list shows which namespace each
 * is in, and list and gc confirm them from inside it, or say why they can't (clitest.h).
 * Needs root (network namespaces, setns); skipped visibly otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clitest.h"
#include "harness.h"

/* The namespace name of this run, set before the tests fork: main removes it after them
 * whether or not a test failed. */
static char ns_name[64];

static bool need_root(const char *what)
{
    if (harness_is_root())
        return true;
    printf("SKIP %s: needs root for network namespaces\n", what);
    return false;
}

START_TEST(other_namespaces_shown_and_confirmed_from_inside)
{
    if (!need_root("list/gc across network namespaces"))
        return;
    int port = free_port();
    struct proc_how elsewhere = { .inherit_env = true, .new_netns = true };
    struct proc *h = hold_how(&elsewhere, ARGV("-a", "0.0.0.0", "-P", proc_num(port), "-l"));
    struct result *r = cli(ARGV("list", "--json"));
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(!json_has(r->out, "\"port\":%d,", port), "other netns listed:\n%s", r->out);
    /* Shown on request, confirmed live from inside, with a process in its namespace. */
    r = cli(ARGV("list", "--json", "--all-namespaces"));
    ck_assert_int_eq(r->status, 0);
    assert_json(r->out);
    ck_assert_msg(json_has(r->out, "\"port\":%d,", port) &&
                  json_has(r->out, "\"state\":\"live\"") &&
                  json_has(r->out, "\"listening\":true") &&
                  json_has(r->out, "\"netns_pid\":%d,", (int)h->pid) &&
                  json_has(r->out, "\"unconfirmed_why\":null"), "--all-namespaces:\n%s", r->out);
    r = cli(ARGV("list", "--all-namespaces"));
    char want[64];
    snprintf(want, sizeof want, " (pid %d)\n", (int)h->pid);
    ck_assert_msg(strstr(r->out, "NETNS\n") && strstr(r->out, want) && strstr(r->out, " live "),
                  "list --all-namespaces:\n%s", r->out);
    /* The key includes the namespace: here, the port is free. */
    char addr[32];
    snprintf(addr, sizeof addr, "0.0.0.0:%d", port);
    r = cli(ARGV("check", addr));
    ck_assert_msg(r->status == 0, "check: %d %s", r->status, r->out);
    r = cli(ARGV("gc"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "reaped 0 ") && strstr(r->out, "(1 live") &&
                  strstr(r->out, "0 unconfirmed"), "gc: %s%s", r->out, r->err);

    /* Not root: root's table is another user's (nobody's gc never writes it), and list
     * can't enter the namespace to confirm its entry: it says so. */
    struct proc_how as_nobody = { .inherit_env = true, .as_nobody = true };
    r = cli_how(&as_nobody, ARGV("list", "--all-namespaces"));
    ck_assert_msg(r->status == 0 && strstr(r->err, "1 entry of other network namespaces "
                  "unconfirmed: ") && strstr(r->err, "needs root (CAP_SYS_ADMIN)"),
                  "list as nobody: %d %s%s", r->status, r->out, r->err);

    /* Killed with its namespace: nothing leads in any more; gc leaves it, saying why. */
    proc_kill(h);
    r = cli(ARGV("gc"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "1 unconfirmed") &&
                  strstr(r->out, "no process of theirs and no `ip netns` name"), "gc: %s%s",
                  r->out, r->err);
    r = cli(ARGV("list", "--all-namespaces"));
    ck_assert_msg(strstr(r->err, "1 entry of other network namespaces unconfirmed: "),
                  "list: %s%s", r->out, r->err);
}
END_TEST

START_TEST(ip_netns_names_shown_and_gc_reaps_inside)
{
    if (!need_root("ip netns names"))
        return;
    if (system("ip netns list >/dev/null 2>&1") != 0) {
        printf("SKIP ip netns names: ip (iproute2) not usable\n");
        return;
    }
    const char *ns = ns_name;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ip netns add %s", ns);
    ck_assert_int_eq(system(cmd), 0);
    int port = free_port();
    struct proc *h = start(ARGV("ip", "netns", "exec", ns, cli_path(), "run", "--",
                                prog("tbind"), "-a", "0.0.0.0", "-P", proc_num(port), "-l",
                                "-h"));
    const char *line = proc_line(h, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK", 2) == 0, "holder: %s", h->ebuf);
    struct result *r = cli(ARGV("list", "--json", "--all-namespaces"));
    assert_json(r->out);
    ck_assert_msg(json_has(r->out, "\"netns_name\":\"%s\"", ns) &&
                  json_has(r->out, "\"state\":\"live\""), "list:\n%s", r->out);
    r = cli(ARGV("list", "--all-namespaces"));
    char want[96];
    snprintf(want, sizeof want, " (ip netns %s)\n", ns);
    ck_assert_msg(strstr(r->out, want), "list:\n%s", r->out);
    /* Its process killed, the namespace stays under its name: gc enters and reaps. */
    proc_kill(h);
    r = cli(ARGV("gc"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "reaped 1 stale entry") &&
                  strstr(r->out, "0 unconfirmed"), "gc: %s%s", r->out, r->err);
    snprintf(cmd, sizeof cmd, "ip netns del %s", ns);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *cli_netns_suite(void)
{
    Suite *s = suite_create("cli_netns");
    TCase *tc = tcase_create("cli_netns");
    tcase_add_checked_fixture(tc, clitest_setup, clitest_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, other_namespaces_shown_and_confirmed_from_inside);
    tcase_add_test(tc, ip_netns_names_shown_and_gc_reaps_inside);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    proc_init("clinetns");
    proc_cleanup_on_signals();
    snprintf(ns_name, sizeof ns_name, "bg-test-%d", (int)getpid());
    int rc = harness_run(cli_netns_suite());
    proc_cleanup();
    if (harness_is_root()) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", ns_name);
        int gone = system(cmd);  /* non-zero: the test removed it already */
        (void)gone;
    }
    return rc;
}
