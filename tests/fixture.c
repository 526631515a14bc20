#include "fixture.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tables.h"

char fixture_table[128], fixture_log[256];

/* ---- the suite and its tests --------------------------------------------------------- */

void fixture_new_table(void)
{
    if (fixture_table[0])
        harness_table_remove(fixture_table);
    proc_table_name(fixture_table, sizeof fixture_table);
}

static void setup(void)
{
    fixture_table[0] = '\0';
    fixture_new_table();
    proc_log_path(fixture_log, sizeof fixture_log);
    unlink(fixture_log);
}

static void teardown(void)
{
    proc_kill_all();
    char text[2048];
    snprintf(text, sizeof text, "%s", fixture_log_text());
    int trouble = proc_trouble_lines(fixture_log_text());
    harness_table_remove(fixture_table);
    unlink(fixture_log);
    ck_assert_msg(trouble == 0, "bindguard logged trouble:\n%s", text);
}

TCase *fixture_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return tc;
}

int fixture_main(Suite *s)
{
    /* Without the library every child would run unprotected, with ld.so's complaint
     * buried in its stderr. */
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "%s: %s not built (meson compile -C <build> bindguard)\n",
                program_invocation_short_name, harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    const char *name = program_invocation_short_name;
    proc_init(strncmp(name, "test_", 5) == 0 ? name + 5 : name);
    proc_cleanup_on_signals();
    /* A child that died early must fail a test, not kill the runner on our next write. */
    signal(SIGPIPE, SIG_IGN);
    atexit(proc_kill_all);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}

/* ---- children ------------------------------------------------------------------------ */

struct proc *fixture_agent_start(const struct proc_how *h, const char *const *argv)
{
    char path[512];
    ck_assert_msg(harness_agent_path(argv[0], path, sizeof path), "no agent %s", path);
    return proc_spawn(h, argv);
}

struct proc *fixture_agent(const struct proc_how *h, const char *const *argv)
{
    struct proc *p = fixture_agent_start(h, argv);
    int st = proc_finish(p, FIXTURE_WAIT_MS);
    char words[256] = "";
    for (size_t n = 0; *argv; argv++)
        n += (size_t)snprintf(words + n, n < sizeof words ? sizeof words - n : 0, "%s ", *argv);
    ck_assert_msg(st == 0, "agent %s(%s): exit %d\n%s", words,
                  h->shim ? (h->env[0] ? h->env[0] : "shim") : "native", st, p->ebuf);
    return p;
}

void fixture_expect_line(struct proc *p, const char *want)
{
    const char *got = proc_line(p, FIXTURE_WAIT_MS);
    ck_assert_msg(got && strcmp(got, want) == 0, "child %d said '%s', want '%s' (stderr: %s)",
                  (int)p->pid, got ? got : "(nothing)", want, p->ebuf);
}

void fixture_send(struct proc *p, const char *s)
{
    ck_assert_msg(write(p->in, s, strlen(s)) == (ssize_t)strlen(s), "write to child %d: %s",
                  (int)p->pid, strerror(errno));
}

void fixture_terminate(struct proc *p)
{
    if (!p->done)
        kill(p->pid, SIGTERM);
    proc_finish(p, FIXTURE_WAIT_MS);
}

/* ---- tbind --------------------------------------------------------------------------- */

static struct proc *tbind_start(const struct proc_how *h, const char *spec, int port, bool hold)
{
    char buf[256];
    const char *argv[32] = {"tbind"};
    size_t n = 1;
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok && n < 27; tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    argv[n++] = "-P";
    argv[n++] = proc_num(port);
    if (hold)
        argv[n++] = "-h";
    argv[n] = NULL;
    return fixture_agent_start(h, argv);
}

struct proc *fixture_tbind_run(const struct proc_how *h, const char *spec, int port)
{
    struct proc *p = tbind_start(h, spec, port, false);
    const char *line = proc_line(p, FIXTURE_WAIT_MS);
    int st = proc_finish(p, FIXTURE_WAIT_MS);
    ck_assert_msg(line && st == 0, "tbind %s -P %d: exit %d, said '%s' (stderr: %s)", spec,
                  port, st, line ? line : "(nothing)", p->ebuf);
    return p;
}

const char *fixture_tbind(const struct proc_how *h, const char *spec, int port)
{
    return fixture_tbind_run(h, spec, port)->line;
}

struct proc *fixture_tbind_hold(const struct proc_how *h, const char *spec, int port)
{
    struct proc *p = tbind_start(h, spec, port, true);
    const char *line = proc_line(p, FIXTURE_WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK ", 3) == 0, "holder tbind %s -P %d said '%s' (%s)",
                  spec, port, line ? line : "(nothing)", p->ebuf);
    return p;
}

void fixture_let_go(struct proc *p)
{
    ck_assert_int_eq(proc_finish(p, FIXTURE_WAIT_MS), 0);
}

const char *fixture_pair(const struct proc_how *h, const char *holder_spec, const char *spec,
                         int *port_out)
{
    int port = fixture_free_port();
    struct proc *holder = fixture_tbind_hold(h, holder_spec, port);
    const char *line = fixture_tbind(h, spec, port);
    fixture_let_go(holder);
    if (port_out)
        *port_out = port;
    return line;
}

void fixture_assert_ok(const char *line, int port)
{
    char want[32];
    snprintf(want, sizeof want, "OK %d", port);
    ck_assert_str_eq(line, want);
}

bool fixture_refused(const char *line)
{
    return strcmp(line, "ERR EADDRINUSE bind") == 0 || strcmp(line, "ERR EACCES bind") == 0;
}

bool fixture_same_outcome(const char *a, const char *b)
{
    return (strncmp(a, "OK ", 3) == 0 && strncmp(b, "OK ", 3) == 0) || strcmp(a, b) == 0;
}

/* ---- ports and the table ------------------------------------------------------------- */

int fixture_free_port(void)
{
    int port;
    proc_free_ports(&port, 1);
    return port;
}

bool fixture_port_in_use(int proto, int port)
{
    static const char *const files[2][2] = {{"/proc/net/tcp", "/proc/net/tcp6"},
                                            {"/proc/net/udp", "/proc/net/udp6"}};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[proto == IPPROTO_UDP][i], "re");
        if (!f)
            continue;
        char line[512];
        unsigned lport, state;
        bool hit = false;
        while (!hit && fgets(line, sizeof line, f))
            hit = sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport,
                         &state) == 2 &&
                  (int)lport == port && (proto == IPPROTO_UDP || state == 0x0A);
        fclose(f);
        if (hit)
            return true;
    }
    return false;
}

void fixture_wait_port(struct proc *p, int proto, int port)
{
    int64_t deadline = proc_now_ms() + FIXTURE_START_MS;
    while (!fixture_port_in_use(proto, port)) {
        if (!proc_alive(p)) {
            proc_finish(p, 1000);
            ck_abort_msg("pid %d exited (%d) before binding port %d: %s", (int)p->pid,
                         p->status, port, p->ebuf);
        }
        ck_assert_msg(proc_now_ms() < deadline, "port %d not bound after %u ms", port,
                      FIXTURE_START_MS);
        usleep(5000);
    }
}

void fixture_assert_kernel_would_share(void)
{
    int port = fixture_free_port(), one = 1, fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ck_assert_msg(proc_bind(fds[i], "127.0.0.1", port) == 0, "native bind %d: %s", i,
                      strerror(errno));
    }
    close(fds[0]);
    close(fds[1]);
}

size_t fixture_live_entries(void)
{
    return tables_entries(fixture_table, FIXTURE_SLOTS);
}

bool fixture_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];
    snprintf(dir, sizeof dir, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dir, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/%s", d, prog);
        if (access(file, X_OK) == 0)
            return true;
    }
    return false;
}

/* ---- the log ------------------------------------------------------------------------- */

const char *fixture_log_text(void)
{
    static char *text;
    free(text);
    text = proc_slurp(fixture_log);
    return text;
}

int fixture_log_lines(const char *a, const char *b)
{
    return proc_count_lines(fixture_log_text(), a, b);
}

int fixture_refusals(const char *proto, int port, pid_t holder)
{
    char what[64], who[32];
    snprintf(what, sizeof what, ":%d/%s refused", port, proto);
    snprintf(who, sizeof who, "by pid %d (", (int)holder);
    return fixture_log_lines(what, holder ? who : NULL);
}

void fixture_assert_refusal_logged(const char *proto, int port, pid_t holder)
{
    ck_assert_msg(fixture_refusals(proto, port, holder) >= 1,
                  "no refusal of %s port %d naming pid %d in the log:\n%s", proto, port,
                  (int)holder, fixture_log_text());
}
