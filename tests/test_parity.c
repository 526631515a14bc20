/* test_parity - what bindguard does not judge fails exactly as natively: bad descriptors
 * and addresses, non-inet sockets, sockets bound or connected already, bad option
 * arguments, dup and close of what is not there; and a call that succeeds leaves errno
 * alone. Agent: errnos, run natively and under the shim, line by line the same. */
#include <string.h>

#include "fixture.h"

START_TEST(native_errno_parity)
{
    int ports[2];
    proc_free_ports(ports, 2);
    struct proc *native = AGENT(NATIVE, "errnos", proc_num(ports[0]), proc_num(ports[1]));
    struct proc *shim = AGENT(SHIM, "errnos", proc_num(ports[0]), proc_num(ports[1]));
    /* The native run pins what the cases are about, so a broken case can't pass both. */
    static const char *const pinned[] = {
        "bind(-1, SA(lo4), l4) EBADF",      "bind(devnull, SA(lo4), l4) ENOTSOCK",
        "bind(t4, NULL, l4) EFAULT",        "bind(t4, SA(lo4), l4 - 1) EINVAL",
        "bind(un, SA(sun), ul) ok",         "bind(t4, SA(at_port), l4) EINVAL",
        "bind(conn, SA(at_port), l4) EINVAL", "close(closed) EBADF",
        "bind(k, SA(at_port2), l4) ok errno=EDOM",
    };
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++)
        ck_assert_msg(strstr(native->obuf, pinned[i]), "native run lacks '%s':\n%s", pinned[i],
                      native->obuf);
    const char *a = native->obuf, *b = shim->obuf;
    for (int line = 1; *a || *b; line++) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "line %d: native '%.*s', shim '%.*s'",
                      line, (int)la, a, (int)lb, b);
        a += la + (a[la] != '\0');
        b += lb + (b[lb] != '\0');
    }
    ck_assert_msg(fixture_log_lines("refused", NULL) == 0,
                  "refusal logged for an unjudged call:\n%s", fixture_log_text());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity");
    tcase_add_test(fixture_tcase(s, "parity"), native_errno_parity);
    return fixture_main(s);
}
