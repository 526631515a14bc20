/* test_fork - a bound socket that lives on in another process: a forked child (fork,
 * _Fork, a fork racing a bind, or a close, close_range or closefrom, in another thread),
 * an exec'd image, a posix_spawn'ed child, a UNIX-socket receiver. Agents: holder,
 * forkbind, closefork. */
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bg_config.h"
#include "fixture.h"
#include "own.h"
#include "table.h"

#define FORKBIND_SLOTS 4096u

/* The binder's socket lives on in another process after the binder's own descriptor
 * went: refusals name that process (the holder now, not the binder), and once it is gone
 * the stale entry is confirmed gone with the kernel and reaped. */
static void held_elsewhere(const char *how, const char *proto, const char *opts,
                           const char *listen, const char *contender)
{
    int port = fixture_free_port(), holder = 0;
    struct proc *h = AGENT_START(SHIM, "holder", how, proto, opts, listen, proc_num(port));
    const char *line = proc_line(h, FIXTURE_WAIT_MS);
    ck_assert_msg(line && sscanf(line, "HELD %d", &holder) == 1, "%s: holder said '%s' (%s)",
                  how, line ? line : "(nothing)", h->ebuf);
    line = fixture_tbind(SHIM, contender, port);
    ck_assert_msg(fixture_refused(line), "%s %s: contender said '%s'", how, opts, line);
    fixture_assert_refusal_logged(proto, port, holder);
    ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
    fixture_assert_ok(fixture_tbind(SHIM, contender, port), port);
}

START_TEST(socket_held_elsewhere_keeps_the_port)
{
    fixture_assert_kernel_would_share();
    held_elsewhere("fork", "tcp", "exclusive", "1", "-a 127.0.0.1");
    held_elsewhere("fork", "tcp", "reuseaddr,exclusive", "0", "-a 127.0.0.1 -o reuseaddr");
    held_elsewhere("fork", "udp", "exclusive", "0", "-p udp -a 127.0.0.1");
#ifdef HAVE__FORK
    held_elsewhere("_Fork", "tcp", "reuseaddr,exclusive", "0", "-a 127.0.0.1 -o reuseaddr");
#endif
    held_elsewhere("exec", "tcp", "exclusive", "1", "-a 127.0.0.1");
    held_elsewhere("spawn", "tcp", "reuseaddr,exclusive", "0", "-a 127.0.0.1 -o reuseaddr");
    held_elsewhere("pass", "tcp", "reuseaddr", "0", "-a 127.0.0.1 -o reuseaddr");
}
END_TEST

/* posix_spawn marks what the exec keeps, no more: a close-on-exec socket's entry still
 * goes with the parent's close. */
START_TEST(spawn_shares_only_what_exec_keeps)
{
    fixture_new_table();
    int port = fixture_free_port();
    struct proc *h = AGENT_START(SHIM, "holder", "spawn_cloexec", proc_num(port));
    fixture_expect_line(h, "CLOSED");
    ck_assert_msg(fixture_live_entries() == 0,
                  "a close-on-exec socket's entry outlived its close");
    ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
}
END_TEST

/* The socket a forked child keeps must keep its entry when the parent closes it, even if
 * the fork came while another thread of the parent was inside bind(). */
static void fork_and_bind(bool fork_after_bind)
{
    int port = fixture_free_port();
    char why[256];
    struct table *table = own_open(fixture_table, FORKBIND_SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(table, "%s", why);
    if (!fork_after_bind)
        ck_assert_int_eq(table_lock(table, 1000), 0);
    struct proc_how how = {.shim = true, .table = fixture_table, .log = fixture_log,
                           .slots = FORKBIND_SLOTS, .env = {"BINDGUARD_LOCK_TIMEOUT_MS=5000"}};
    struct proc *h = AGENT_START(&how, "forkbind", proc_num(port), proc_num(fork_after_bind));
    const char *line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "FORKED") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    if (!fork_after_bind)
        table_unlock(table);
    line = proc_line(h, 10000);
    ck_assert_msg(line && strcmp(line, "BOUND 0") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    ck_assert(proc_say(h, "close"));
    line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "CLOSED") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);

    struct proc *t =
        AGENT_START(&how, "tbind", "-a", "127.0.0.1", "-o", "reuseaddr", "-P", proc_num(port));
    line = proc_line(t, 5000);
    char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    proc_finish(t, 5000);
    ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "fork %s the bind: with the socket "
                  "still held by the forked child, an exclusive bind beside it said '%s' (its "
                  "entry went with the parent's close)", fork_after_bind ? "after" : "during", got);
    ck_assert_int_eq(proc_finish(h, 5000), 0);
    table_close(table);
}

START_TEST(fork_after_binding)
{
    fork_and_bind(true);
}
END_TEST

START_TEST(fork_while_binding)
{
    fork_and_bind(false);
}
END_TEST

/* A fork in one thread while another closes the socket (by close, close_range or
 * closefrom: `how`): the child holds it once the close is done, so its entry must stay
 * (test_stress saw the socket live on in the child, its entry gone with the parent's
 * close). The agent's close waits in seccomp, already past bindguard's look at the
 * socket; the fork comes then; the close goes on. */
static void fork_during_close(const char *how)
{
    int port = fixture_free_port();
    struct proc *h = AGENT_START(SHIM, "closefork", proc_num(port), how);
    const char *line = proc_line(h, FIXTURE_WAIT_MS);
    if (line && strncmp(line, "NO SECCOMP", 10) == 0) {
        printf("SKIP fork during %s: %s\n", how, line);
        return;
    }
    ck_assert_msg(line && strcmp(line, "BOUND 0") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    int listener = proc_take_fd(h->pid, 78);  /* closefork's CLOSEFORK_NOTIFY_FD */
    ck_assert_msg(listener >= 0, "closefork's seccomp listener: %s", strerror(errno));
    ck_assert(proc_say(h, "close"));
    struct pollfd p = {listener, POLLIN, 0};
    ck_assert_msg(poll(&p, 1, FIXTURE_WAIT_MS) == 1, "the %s never reached the kernel", how);
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    ck_assert_int_eq(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n), 0);
    ck_assert(proc_say(h, "fork"));
    fixture_expect_line(h, "FORKED");
    struct seccomp_notif_resp go = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ck_assert_int_eq(ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &go), 0);
    fixture_expect_line(h, "CLOSED");
    close(listener);

    line = fixture_tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port);
    ck_assert_msg(fixture_refused(line), "with the socket held by the child forked during "
                  "the parent's %s, an exclusive bind beside it said '%s'", how, line);
    ck_assert(proc_say(h, "kill"));
    fixture_expect_line(h, "KILLED");
    fixture_assert_ok(fixture_tbind(SHIM, "-a 127.0.0.1 -o reuseaddr", port), port);
}

START_TEST(fork_while_closing)
{
    fork_during_close("close");
}
END_TEST

START_TEST(fork_while_closing_range)
{
    fork_during_close("close_range");
}
END_TEST

START_TEST(fork_while_closing_from)
{
    fork_during_close("closefrom");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = fixture_tcase(s, "held elsewhere");
    tcase_add_test(tc, socket_held_elsewhere_keeps_the_port);
    tcase_add_test(tc, spawn_shares_only_what_exec_keeps);
    tc = fixture_tcase(s, "fork and bind");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fork_after_binding);
    tcase_add_test(tc, fork_while_binding);
    tcase_add_test(tc, fork_while_closing);
    tcase_add_test(tc, fork_while_closing_range);
    tcase_add_test(tc, fork_while_closing_from);
    return fixture_main(s);
}
