/* sockopts - SO_EXCLUSIVEADDRUSE and the sharing options inside one process (test_options).
 *
 *   sockopts opts PROTO LIST WANT    LIST's options in order on a fresh PROTO socket: all
 *                                    but the last must succeed, the last must come out as
 *                                    WANT ("ok" or an errno name)
 *   sockopts readback                any non-zero int turns SO_EXCLUSIVEADDRUSE on, and it
 *                                    reads back as 0 or 1
 *   sockopts after_bind PORT1 PORT2  set after bind, the option must not change the class
 *   sockopts kept_env PORT           the environment cleared and set to BINDGUARD_MODE=off
 *                                    after start, bindguard must still refuse as in
 *                                    after_bind
 *
 * Option names as named_opts.h takes them. Exit status as proc_child.h says. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindguard.h"
#include "named_opts.h"
#include "proc_child.h"

static void opts(char **a)
{
    int fd = socket(AF_INET, strcmp(a[0], "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);
    char *save = NULL;
    char *tok = strtok_r(a[1], ",", &save);
    while (tok) {
        char *next = strtok_r(NULL, ",", &save);
        const char *want = next ? "ok" : a[2];
        const char *got = proc_child_outcome(named_opts_set(fd, tok));
        EXPECT(strcmp(got, want) == 0, "%s %s: %s, want %s", a[0], tok, got, want);
        tok = next;
    }
    close(fd);
}

static int exclusive_value(int fd)
{
    int v = -7;
    socklen_t len = sizeof v;
    EXPECT_OUTCOME(getsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &v, &len), "ok");
    EXPECT(len == sizeof v, "getsockopt length %u", (unsigned)len);
    return v;
}

/* As a Windows BOOL option does. */
static void readback(char **a)
{
    (void)a;
    static const int values[] = {42, 0, -1, 1, 0, 0x10000};
    static const char *const protos[] = {"tcp", "udp"};
    for (size_t p = 0; p < 2; p++) {
        int fd = named_opts_socket(protos[p], "-");
        EXPECT(exclusive_value(fd) == 0, "%s: on before being set", protos[p]);
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            EXPECT_OUTCOME(setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &values[i],
                                      sizeof values[i]), "ok");
            int got = exclusive_value(fd);
            EXPECT(got == (values[i] != 0), "%s: set %d, read %d", protos[p], values[i], got);
        }
        close(fd);
    }
}

/* Under BINDGUARD_DEFAULT=windows. A same-user specific bind beside a default wildcard
 * succeeds, beside an exclusive one it is EACCES (seed 000). Set after bind, the option
 * is accepted but must not turn the first kind into the second: "to have any effect" it
 * "must be set before bind" (seed 001). Both sockets carry SO_REUSEADDR so that only
 * bindguard, never the kernel, can refuse. */
static void after_bind(char **a)
{
    int late = named_opts_socket("tcp", "reuseaddr");
    EXPECT_OUTCOME(proc_bind(late, "0.0.0.0", atoi(a[0])), "ok");
    EXPECT_OUTCOME(named_opts_set(late, "exclusive"), "ok");
    EXPECT(exclusive_value(late) == 1, "set after bind does not read back");
    int beside_late = named_opts_socket("tcp", "reuseaddr");
    EXPECT_OUTCOME(proc_bind(beside_late, "127.0.0.1", atoi(a[0])), "ok");

    int early = named_opts_socket("tcp", "reuseaddr,exclusive");
    EXPECT_OUTCOME(proc_bind(early, "0.0.0.0", atoi(a[1])), "ok");
    int beside_early = named_opts_socket("tcp", "reuseaddr");
    EXPECT_OUTCOME(proc_bind(beside_early, "127.0.0.1", atoi(a[1])), "EACCES");
}

/* The shim configures itself on the first socket, from the environment the program
 * started with. Cleared, and asking for off, it must still refuse here as in after_bind. */
static void kept_env(char **a)
{
    clearenv();
    setenv(BINDGUARD_ENV_MODE, "off", 1);
    int early = named_opts_socket("tcp", "reuseaddr,exclusive");
    EXPECT_OUTCOME(proc_bind(early, "0.0.0.0", atoi(a[0])), "ok");
    int beside = named_opts_socket("tcp", "reuseaddr");
    EXPECT_OUTCOME(proc_bind(beside, "127.0.0.1", atoi(a[0])), "EACCES");
}

int main(int argc, char **argv)
{
    static const struct proc_child_scenario scenarios[] = {
        {"opts", 3, opts}, {"readback", 0, readback}, {"after_bind", 2, after_bind},
        {"kept_env", 1, kept_env},
    };
    return proc_child_dispatch(scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
