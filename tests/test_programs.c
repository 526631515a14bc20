/* test_programs - unmodified programs under the shim: a second copy of a server is
 * refused its port, and the log says by whom (tserver, python3 -m http.server, socat). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"

/* Start argv under the shim twice on `port`: the first must come up, the second must
 * fail, and our log must name the first's pid (the program's own message says only that
 * the address is in use; the log line says it was bindguard, and against whom). */
static void second_copy_refused(const char *const *argv, int proto, int port)
{
    struct proc *first = proc_spawn(SHIM, argv);
    fixture_wait_port(first, proto, port);
    struct proc *second = proc_spawn(SHIM, argv);
    int st = proc_finish(second, FIXTURE_WAIT_MS);
    ck_assert_msg(st > 0 && strstr(second->ebuf, strerror(EADDRINUSE)),
                  "%s: second copy exited %d (stderr: %s)", argv[0], st, second->ebuf);
    fixture_assert_refusal_logged(proto == IPPROTO_TCP ? "tcp" : "udp", port, first->pid);
    ck_assert_msg(proc_alive(first) && fixture_port_in_use(proto, port),
                  "%s: first copy lost its port", argv[0]);
    fixture_terminate(first);
}

START_TEST(tserver_twice)
{
    int port = fixture_free_port();
    second_copy_refused(ARGV("tserver", proc_num(port)), IPPROTO_TCP, port);
    ck_assert_int_eq(fixture_log_lines("refused", NULL), 1);
}
END_TEST

START_TEST(python_http_server_twice)
{
    if (!fixture_on_path("python3")) {
        printf("SKIP python3 http.server: python3 not found on PATH\n");
        return;
    }
    int port = fixture_free_port();
    second_copy_refused(ARGV("python3", "-m", "http.server", proc_num(port), "--bind", "127.0.0.1"),
                        IPPROTO_TCP, port);
}
END_TEST

START_TEST(socat_twice)
{
    if (!fixture_on_path("socat")) {
        printf("SKIP socat: not found on PATH (scripts/test installs it)\n");
        return;
    }
    char tcp[64], udp[64];
    int ports[2];
    proc_free_ports(ports, 2);
    snprintf(tcp, sizeof tcp, "TCP-LISTEN:%d,bind=127.0.0.1,fork", ports[0]);
    snprintf(udp, sizeof udp, "UDP-RECV:%d,bind=127.0.0.1", ports[1]);
    second_copy_refused(ARGV("socat", "-u", tcp, "/dev/null"), IPPROTO_TCP, ports[0]);
    second_copy_refused(ARGV("socat", "-u", udp, "/dev/null"), IPPROTO_UDP, ports[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("programs");
    TCase *tc = fixture_tcase(s, "programs");
    tcase_add_test(tc, tserver_twice);
    tcase_add_test(tc, python_http_server_twice);
    tcase_add_test(tc, socat_twice);
    return fixture_main(s);
}
