/* clitest - see clitest.h. */
#include "clitest.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

char table_name[128];

void clitest_setup(void)
{
    proc_table_name(table_name, sizeof table_name);
    setenv("BINDGUARD_TABLE", table_name, 1);
    unsetenv("BINDGUARD_LOG");
    unsetenv("BINDGUARD_MODE");
    unsetenv("BINDGUARD_PROFILE");
    proc_preload_sanitizer();
}

void clitest_teardown(void)
{
    harness_table_remove(table_name);
}

struct proc *start(const char *const *argv)
{
    return proc_spawn(AS_IS, argv);
}

const char *cli_path(void)
{
    return harness_env("BG_CLI");
}

const char *prog(const char *name)
{
    static char buf[4][512];
    static int i;
    char *b = buf[i++ % 4];
    ck_assert_msg(harness_agent_path(name, b, sizeof buf[0]), "no agent %s", b);
    return b;
}

struct result *cli_how(const struct proc_how *h, const char *const *args)
{
    const char *argv[MAX_ARGS + 2] = { cli_path() };
    size_t n = 1;
    for (; args[n - 1]; n++) {
        ck_assert_uint_lt(n, MAX_ARGS);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    struct proc *c = proc_spawn(h, argv);
    static struct result r;
    r.status = proc_finish(c, WAIT_MS * 3);
    snprintf(r.out, sizeof r.out, "%s", c->obuf);
    snprintf(r.err, sizeof r.err, "%s", c->ebuf);
    return &r;
}

struct result *cli(const char *const *args)
{
    return cli_how(AS_IS, args);
}

int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

bool have_python(void)
{
    return system("python3 -c 'pass' >/dev/null 2>&1") == 0;
}

void assert_json(const char *text)
{
    if (!have_python()) {
        printf("SKIP json.tool check: python3 not found\n");
        return;
    }
    struct proc *c = start(ARGV("python3", "-m", "json.tool"));
    size_t len = strlen(text);
    ck_assert_int_eq(write(c->in, text, len), (ssize_t)len);
    int st = proc_finish(c, WAIT_MS);
    ck_assert_msg(st == 0, "json.tool rejected:\n%s\n%s", text, c->ebuf);
}

bool json_has(const char *json, const char *fmt, ...)
{
    char want[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    return strstr(json, want) != NULL;
}

int free_port(void)
{
    int port;
    proc_free_ports(&port, 1);
    return port;
}

struct proc *hold_how(const struct proc_how *h, const char *const *tbind_args)
{
    const char *argv[MAX_ARGS + 8] = { cli_path(), "run", "--", prog("tbind") };
    size_t n = 4;
    for (size_t i = 0; tbind_args[i]; i++) {
        ck_assert_uint_lt(n, MAX_ARGS + 6);
        argv[n++] = tbind_args[i];
    }
    argv[n++] = "-h";
    argv[n] = NULL;
    struct proc *c = proc_spawn(h, argv);
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK ", 3) == 0, "holder said '%s' (stderr: %s)",
                  line ? line : "(nothing)", c->ebuf);
    return c;
}

struct proc *hold(const char *const *tbind_args)
{
    return hold_how(AS_IS, tbind_args);
}

void release(struct proc *c)
{
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
}

static bool connects(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
    close(fd);
    return ok;
}

void wait_listening(struct proc *server, int port)
{
    int64_t deadline = proc_now_ms() + START_MS;
    while (!connects(port)) {
        ck_assert_msg(proc_now_ms() < deadline, "server on port %d did not come up (stderr: %s)",
                      port, server->ebuf);
        proc_pump(server, proc_now_ms() + 50);
    }
}
