/* test_cli_check - `bindguard check` and `explain` answer what a real bind gets: bindguard
 * first, then the kernel. Each answer is held against the real bind (clitest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clitest.h"
#include "harness.h"

/* What `bindguard run [RUN_OPTS] -- tbind ARGS` gets: "OK <port>" or "ERR <ERRNO> bind". */
static const char *real_bind(const char *run_opt, const char *const *tbind_args)
{
    const char *argv[MAX_ARGS + 8] = { cli_path(), "run" };
    size_t n = 2;
    if (run_opt)
        argv[n++] = run_opt;
    argv[n++] = "--";
    argv[n++] = prog("tbind");
    for (size_t i = 0; tbind_args[i]; i++)
        argv[n++] = tbind_args[i];
    argv[n] = NULL;
    struct proc *c = start(argv);
    const char *line = proc_line(c, WAIT_MS);
    static char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    proc_finish(c, WAIT_MS);
    return got;
}

/* check says the kernel refuses (exit 1, naming the holder under bindguard), and a real
 * bind of that class is refused by the kernel alike. */
static void assert_kernel_refuses(const char *addr, struct proc *holder,
                                  const char *const *same_bind)
{
    struct result *r = cli(ARGV("check", addr));
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d (", (int)holder->pid);
    ck_assert_msg(r->status == 1 && count_lines(r->out) == 1 &&
                  strstr(r->out, "would be refused by the kernel (EADDRINUSE), though bindguard "
                                 "allows it: held by ") && strstr(r->out, pid) &&
                  strstr(r->out, "under bindguard"), "check %s: %d\n%s%s", addr, r->status,
                  r->out, r->err);
    r = cli(ARGV("check", "--json", addr));
    assert_json(r->out);
    ck_assert_msg(r->status == 1 && json_has(r->out, "\"refused_by\":\"kernel\"") &&
                  json_has(r->out, "\"errno\":\"EADDRINUSE\"") &&
                  json_has(r->out, "\"bindguard\":true") &&
                  json_has(r->out, "\"pid\":%d,", (int)holder->pid), "%s", r->out);
    const char *got = real_bind(NULL, same_bind);
    ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "the real bind of %s got %s", addr,
                  got);
}

START_TEST(check_asks_the_kernel_after_bindguard)
{
    int port = free_port();
    const char *p = proc_num(port);
    char udp[32], tcp[32];
    snprintf(udp, sizeof udp, "127.0.0.1:%d/udp", port);
    snprintf(tcp, sizeof tcp, "127.0.0.1:%d/tcp", port);

    /* A UDP receiver sharing its wildcard (SO_REUSEADDR), as socat's reuseaddr does. */
    struct proc *h = hold(ARGV("-p", "udp", "-a", "0.0.0.0", "-P", p, "-o", "reuseaddr"));
    assert_kernel_refuses(udp, h, ARGV("-p", "udp", "-a", "127.0.0.1", "-P", p));
    /* A sharer of its own may join, in the kernel too. */
    struct result *r = cli(ARGV("check", "--as", "reuseaddr", udp));
    ck_assert_msg(r->status == 0 && strstr(r->out, "would succeed"), "reuseaddr: %d %s%s",
                  r->status, r->out, r->err);
    char ok[32];
    snprintf(ok, sizeof ok, "OK %d", port);
    ck_assert_str_eq(real_bind(NULL, ARGV("-p", "udp", "-a", "127.0.0.1", "-P", p, "-o",
                                          "reuseaddr")), ok);
    release(h);

    /* A TCP listener with SO_REUSEADDR and SO_REUSEPORT on 0.0.0.0 (asyncio's reuse_port). */
    h = hold(ARGV("-a", "0.0.0.0", "-P", p, "-o", "reuseaddr,reuseport", "-l"));
    assert_kernel_refuses(tcp, h, ARGV("-a", "127.0.0.1", "-P", p));
    /* In emulate mode bindguard gives the bind SO_REUSEPORT: the kernel lets it in. */
    r = cli(ARGV("check", "--emulate", tcp));
    ck_assert_msg(r->status == 0, "--emulate: %d %s%s", r->status, r->out, r->err);
    ck_assert_str_eq(real_bind("--emulate", ARGV("-a", "127.0.0.1", "-P", p)), ok);
    release(h);

    /* Refused by bindguard: said as bindguard's, and the kernel is not asked. */
    h = hold(ARGV("-a", "0.0.0.0", "-P", p, "-l"));
    r = cli(ARGV("check", "--json", tcp));
    ck_assert_msg(r->status == 1 && json_has(r->out, "\"refused_by\":\"bindguard\"") &&
                  json_has(r->out, "\"errno\":\"EACCES\""), "%s", r->out);
    release(h);
}
END_TEST

START_TEST(check_the_issue_cases_with_real_servers)
{
    int port = free_port();
    char addr[32];
    if (system("socat -V >/dev/null 2>&1") != 0) {
        printf("SKIP check against socat: socat not found\n");
    } else {
        char spec[64];
        snprintf(spec, sizeof spec, "UDP4-RECV:%d,reuseaddr", port);
        struct proc *s = start(ARGV(cli_path(), "run", "--", "socat", "-u", spec, "-"));
        snprintf(addr, sizeof addr, "127.0.0.1:%d/udp", port);
        struct result *r;
        int64_t deadline = proc_now_ms() + START_MS;
        do {   /* until socat has bound */
            proc_pump(s, proc_now_ms() + 50);
            r = cli(ARGV("check", addr));
        } while (r->status != 1 && proc_now_ms() < deadline);
        ck_assert_msg(r->status == 1 && strstr(r->out, "refused by the kernel (EADDRINUSE)") &&
                      strstr(r->out, "(socat, uid"), "socat: %d %s%s", r->status, r->out, r->err);
        proc_kill(s);
    }
    if (!have_python()) {
        printf("SKIP check against asyncio reuse_port: python3 not found\n");
        return;
    }
    port = free_port();
    static char code[400];
    snprintf(code, sizeof code, "import asyncio\n"
             "async def main():\n"
             "    s = await asyncio.start_server(lambda r, w: None, '0.0.0.0', %d, "
             "reuse_port=True)\n"
             "    print('up', flush=True)\n"
             "    await asyncio.sleep(60)\n"
             "asyncio.run(main())\n", port);
    struct proc *s = start(ARGV(cli_path(), "run", "--", "python3", "-c", code));
    const char *line = proc_line(s, START_MS);
    ck_assert_msg(line && strcmp(line, "up") == 0, "asyncio server: %s", s->ebuf);
    snprintf(addr, sizeof addr, "127.0.0.1:%d/tcp", port);
    struct result *r = cli(ARGV("check", addr));
    ck_assert_msg(r->status == 1 && strstr(r->out, "refused by the kernel (EADDRINUSE)") &&
                  strstr(r->out, "(python3, uid"), "asyncio: %d %s%s", r->status, r->out, r->err);
    proc_kill(s);
}
END_TEST

/* ---- explain: what Linux does with a pair ----------------------------------------------- */

START_TEST(explain_says_when_linux_refuses_what_windows_allows)
{
    /* The issue's case: Windows lets 0.0.0.0 in beside a non-exclusive [::]; Linux's
     * dual-stack [::] holds IPv4 too, unless SO_REUSEPORT (emulate) lets them share. */
    struct result *r = cli(ARGV("explain", "default:[::]:80", "0.0.0.0:80"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "verdict: SUCCESS") &&
                  strstr(r->out, "\nlinux:   guard: refused by the kernel (EADDRINUSE), though "
                                 "Windows allows it; emulate: succeeds\n"), "%s%s", r->out,
                  r->err);
    r = cli(ARGV("explain", "--json", "default:[::]:80", "0.0.0.0:80"));
    assert_json(r->out);
    ck_assert_msg(json_has(r->out, "\"linux\":{\"probed\":true,\"guard\":{\"errno\":"
                           "\"EADDRINUSE\",\"refused_by\":\"kernel\"") &&
                  json_has(r->out, "\"emulate\":{\"errno\":null,\"refused_by\":null"), "%s",
                  r->out);

    /* Held against real binds under bindguard, in both modes. */
    int port = free_port();
    const char *p = proc_num(port);
    char ok[32];
    snprintf(ok, sizeof ok, "OK %d", port);
    struct proc *h = start(ARGV(cli_path(), "run", "--default", "windows", "--", prog("tbind"),
                                "-f", "d", "-a", "::", "-P", p, "-o", "reuseaddr", "-l", "-h"));
    ck_assert_str_eq(proc_line(h, WAIT_MS), ok);
    ck_assert_str_eq(real_bind(NULL, ARGV("-a", "0.0.0.0", "-P", p, "-o", "reuseaddr")),
                     "ERR EADDRINUSE bind");
    release(h);
    h = start(ARGV(cli_path(), "run", "--emulate", "--default", "windows", "--", prog("tbind"),
                   "-f", "d", "-a", "::", "-P", p, "-o", "reuseaddr", "-l", "-h"));
    ck_assert_str_eq(proc_line(h, WAIT_MS), ok);
    ck_assert_str_eq(real_bind("--emulate", ARGV("-a", "0.0.0.0", "-P", p, "-o", "reuseaddr")),
                     ok);
    release(h);

    /* Refused by Windows' rules: bindguard refuses first, in both modes. */
    r = cli(ARGV("explain", "exclusive:0.0.0.0:80", "default:127.0.0.1:80"));
    ck_assert_msg(strstr(r->out, "linux:   guard: refused by bindguard (EACCES), as by the kernel "
                                 "alone (EADDRINUSE); emulate: refused by bindguard (EACCES)"),
                  "%s", r->out);
    /* A sharing pair the kernel allows too; two different specific addresses need no probe. */
    r = cli(ARGV("explain", "reuseaddr:0.0.0.0:53/udp", "reuseaddr:127.0.0.1:53/udp"));
    ck_assert_msg(strstr(r->out, "linux:   guard: succeeds; emulate: succeeds\n"), "%s", r->out);
    r = cli(ARGV("explain", "10.0.0.1:80", "10.0.0.2:80"));
    ck_assert_msg(strstr(r->out, "linux:   not probed: the kernel lets two different specific "
                                 "addresses bind too"), "%s", r->out);
    /* Another user: the kernel never shares a port across users with SO_REUSEPORT. */
    if (harness_is_root()) {
        r = cli(ARGV("explain", "--different-user", "reuseaddr:0.0.0.0:80",
                     "reuseaddr:0.0.0.0:80"));
        ck_assert_msg(strstr(r->out, "verdict: SUCCESS") &&
                      strstr(r->out, "emulate: refused by the kernel (EADDRINUSE), though "
                                     "Windows allows it"), "%s", r->out);
    } else {
        r = cli(ARGV("explain", "--different-user", "0.0.0.0:80", "0.0.0.0:80"));
        ck_assert_msg(strstr(r->out, "linux:   not probed: binding as another user needs root"),
                      "%s", r->out);
    }
}
END_TEST

static Suite *cli_check_suite(void)
{
    Suite *s = suite_create("cli_check");
    TCase *tc = tcase_create("cli_check");
    tcase_add_checked_fixture(tc, clitest_setup, clitest_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, check_asks_the_kernel_after_bindguard);
    tcase_add_test(tc, check_the_issue_cases_with_real_servers);
    tcase_add_test(tc, explain_says_when_linux_refuses_what_windows_allows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    proc_init("clicheck");
    proc_cleanup_on_signals();
    int rc = harness_run(cli_check_suite());
    proc_cleanup();
    return rc;
}
