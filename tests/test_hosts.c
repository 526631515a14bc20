/* test_hosts - the library inside real host programs that do what servers do to
 * themselves: rewrite their title, install their own SIGBUS handler, run setuid, share
 * their port out of habit.
 *
 * Each test runs the real program (python3, dnsmasq, a setuid copy of an agent) under the
 * shim with a private table and log, against another process under the shim, and checks
 * what the log, the table and the binds say. Programs the machine lacks are skipped with
 * a SKIP line. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindguard.h"
#include "fixture.h"
#include "harness.h"
#include "kernel.h"

#define START_MS 20000u  /* python and dnsmasq coming up on a loaded machine */

/* The real python3 executable (a pyenv shim would put a shell and more processes in
 * between); NULL if there is none. */
static const char *python(void)
{
    static char path[512];
    static int known;
    if (!known) {
        FILE *f = popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r");
        known = f && fgets(path, sizeof path, f) ? 1 : -1;
        if (f)
            pclose(f);
        path[strcspn(path, "\n")] = '\0';
        if (!path[0] || access(path, X_OK) != 0)
            known = -1;
    }
    return known > 0 ? path : NULL;
}

/* What tbind (under the shim, this test's table) said binding `spec` to port. */
static void tbind_result(const struct proc_how *how, const char *spec, int port, char *out,
                         size_t len)
{
    snprintf(out, len, "%s", fixture_tbind(how, spec, port));
}

/* ---- item: the name recorded is the kernel's, not argv's ------------------------------ */

/* Rewrites its title in argv memory as servers do (nginx, node), within the length the
 * name had, then binds 127.0.0.1:PORT and holds it. */
static const char retitle_py[] =
    "import ctypes, os, socket, sys\n"
    "libc = ctypes.CDLL(None)\n"
    "at = ctypes.c_void_p.in_dll(libc, 'program_invocation_short_name').value\n"
    "n = len(ctypes.string_at(at))\n"
    "ctypes.memmove(at, b'ter process /usr/sbin/nginx'[:n].ljust(n), n)\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "print('READY', os.getpid(), ctypes.string_at(at).decode(), flush=True)\n"
    "sys.stdin.read()\n";

static void comm_of(int pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    char *s = proc_slurp(path);
    snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
    free(s);
}

START_TEST(retitled_host_is_named_by_the_kernel)
{
    if (!python()) {
        printf("SKIP retitled host: python3 not found\n");
        return;
    }
    int port;
    proc_free_ports(&port, 1);
    struct proc *h = proc_spawn(SHIM, PROC_ARGV(python(), "-c", retitle_py,
                                                     proc_num(port)));
    const char *line = proc_line(h, START_MS);
    int pid = 0;
    char title[64] = "";
    ck_assert_msg(line && sscanf(line, "READY %d %63[^\n]", &pid, title) == 2,
                  "python said '%s' (%s)", line ? line : "", h->ebuf);
    char comm[32];
    comm_of(pid, comm, sizeof comm);
    ck_assert_msg(comm[0] && strcmp(title, comm) != 0 && strncmp(title, "ter", 3) == 0,
                  "premise: title '%s' rewritten, kernel name '%s'", title, comm);

    char got[64];
    tbind_result(SHIM, "-a 127.0.0.1 -o reuseaddr", port, got, sizeof got);
    ck_assert_str_eq(got, "ERR EADDRINUSE bind");
    const char *log = fixture_log_text();
    char want[96];
    snprintf(want, sizeof want, "by pid %d (%s, uid", pid, comm);
    ck_assert_msg(strstr(log, want) && !strstr(log, title),
                  "refusal line should name '%s', not the title '%s':\n%s", comm, title, log);

    char json_want[64];
    snprintf(json_want, sizeof json_want, "\"command\":\"%s\"", comm);
    struct proc *l = proc_spawn(&(struct proc_how){0},
                                PROC_ARGV(harness_env("BG_CLI"), "list", "--json", "--table",
                                          fixture_table));
    ck_assert_int_eq(proc_finish(l, FIXTURE_WAIT_MS), 0);
    ck_assert_msg(strstr(l->obuf, json_want) && !strstr(l->obuf, title),
                  "list --json should say %s:\n%s", json_want, l->obuf);
    ck_assert_int_eq(proc_finish(h, FIXTURE_WAIT_MS), 0);
}
END_TEST

/* ---- item: a host's SIGBUS handler installed after ours ------------------------------- */

/* Binds once (the table is opened, our SIGBUS handler installed), then enables
 * faulthandler (its handler replaces ours), then binds again once told the table is
 * truncated. */
static const char faulthandler_py[] =
    "import faulthandler, socket, sys\n"
    "a = socket.socket(); a.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "faulthandler.enable()\n"
    "print('READY', flush=True)\n"
    "sys.stdin.readline()\n"
    "b = socket.socket(); b.bind(('127.0.0.1', int(sys.argv[2])))\n"
    "print('BOUND', b.getsockname()[1], flush=True)\n";

START_TEST(host_sigbus_handler_does_not_make_truncation_a_crash)
{
    if (!python()) {
        printf("SKIP faulthandler host: python3 not found\n");
        return;
    }
    int ports[2];
    proc_free_ports(ports, 2);
    struct proc *h = proc_spawn(SHIM, PROC_ARGV(python(), "-c", faulthandler_py,
                                                     proc_num(ports[0]), proc_num(ports[1])));
    const char *line = proc_line(h, START_MS);
    ck_assert_msg(line && strcmp(line, "READY") == 0, "python said '%s' (%s)",
                  line ? line : "", h->ebuf);
    char path[512];
    harness_table_path(fixture_table, path, sizeof path);
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert(proc_say(h, "go"));
    line = proc_line(h, FIXTURE_WAIT_MS);
    char want[32];
    snprintf(want, sizeof want, "BOUND %d", ports[1]);
    char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    int st = proc_finish(h, FIXTURE_WAIT_MS);
    ck_assert_msg(strcmp(got, want) == 0 && st == 0, "after the truncation python said '%s' "
                  "and exited %d (-1: killed by a signal): %s", got, st, h->ebuf);
    const char *log = fixture_log_text();
    ck_assert_msg(proc_count_lines(log, "shrank under us", NULL) == 1, "log:\n%s", log);
    unlink(fixture_log);  /* the one trouble line this test asked for */
}
END_TEST

/* ---- item: secure execution ignores the environment ----------------------------------- */

START_TEST(setuid_host_ignores_the_environment)
{
    if (!harness_is_root()) {
        printf("SKIP setuid host: needs root to make a setuid-root copy\n");
        return;
    }
    const char *san = getenv("BG_SAN_PRELOAD");
    if (san && *san) {
        /* The loader drops LD_PRELOAD for a setuid program, so the sanitizer runtime the
         * instrumented library needs first can't be put ahead of it. */
        printf("SKIP setuid host: a setuid program can't preload the sanitizer runtime\n");
        return;
    }
    /* The default table is where a setuid program must judge: a private /dev/shm makes
     * it this test's own (a mount namespace for this process and its children). */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("bg-test-hosts", "/dev/shm", "tmpfs", 0, "mode=1777") != 0) {
        printf("SKIP setuid host: no private /dev/shm (mount namespace: %s)\n",
               strerror(errno));
        return;
    }
    int port;
    proc_free_ports(&port, 1);
    /* The holder, in the default table. */
    char preload[1100];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", harness_preload());
    struct proc_how def = {.env = {preload, "BINDGUARD_LOG=off"}};
    struct proc *h = proc_spawn(&def, PROC_ARGV("tbind", "-a", "127.0.0.1", "-P",
                                                proc_num(port), "-o", "reuseaddr", "-h"));
    const char *line = proc_line(h, FIXTURE_WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK ", 3) == 0, "holder said '%s' (%s)",
                  line ? line : "", h->ebuf);

    /* A setuid-root copy of tsecure (tbind linked with the library), run by nobody. */
    char dir[256], agent[320], src[512], log[320];
    ck_assert(proc_scratch_dir(dir, sizeof dir) && chmod(dir, 0755) == 0);
    snprintf(agent, sizeof agent, "%s/tsecure", dir);
    ck_assert(harness_agent_path("tsecure", src, sizeof src));
    snprintf(log, sizeof log, "%s/chosen.log", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chown root:root '%s' && chmod 4755 '%s'", src,
             agent, agent, agent);
    ck_assert_int_eq(system(cmd), 0);
    char log_env[400], table_env[200];
    snprintf(log_env, sizeof log_env, "BINDGUARD_LOG=%s", log);
    snprintf(table_env, sizeof table_env, "BINDGUARD_TABLE=%s", fixture_table);
    /* One variable at a time, each of which alone would let it in or write elsewhere. */
    const char *chosen[] = {log_env, table_env, "BINDGUARD_MODE=off",
                            "BINDGUARD_REUSEADDR=windows"};
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++) {
        struct proc_how hostile = {.as_nobody = true, .env = {chosen[i]}};
        struct proc *a = proc_spawn(&hostile, PROC_ARGV(agent, "-a", "127.0.0.1", "-P",
                                                        proc_num(port), "-o", "reuseaddr"));
        line = proc_line(a, FIXTURE_WAIT_MS);
        char got[64];
        snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
        proc_finish(a, FIXTURE_WAIT_MS);
        struct stat st;
        /* Its table would be root's under the chosen prefix, as this process's is. */
        bool log_made = stat(log, &st) == 0, table_made = harness_table_exists(fixture_table);
        unlink(log);
        ck_assert_msg(!log_made && !table_made, "with %s the setuid agent wrote the %s the "
                      "user chose", chosen[i], log_made ? "log file" : "table");
        /* Judged in enforce mode on the default table: refused beside the holder
         * (natively both have SO_REUSEADDR and neither listens: the kernel lets it in). */
        ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "with %s the setuid agent "
                      "said '%s': %s", chosen[i], got, a->ebuf);
        ck_assert_msg(strstr(a->ebuf, "refused (EADDRINUSE)"), "no refusal line on stderr: "
                      "%s", a->ebuf);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(chosen[i], "="), chosen[i]);
        ck_assert_msg(proc_count_lines(a->ebuf, "secure execution", name) == 1 &&
                      proc_count_lines(a->ebuf, "bindguard:", NULL) == 2,
                      "one line naming %s, and the refusal: %s", name, a->ebuf);
    }
    proc_finish(h, FIXTURE_WAIT_MS);
    unlink(agent);
    rmdir(dir);
}
END_TEST

/* ---- item: run --exclusive makes a habitual sharer exclusive --------------------------- */

/* dnsmasq sets SO_REUSEADDR on its UDP socket out of habit: a sharer, so a same-user
 * hijacker with SO_REUSEADDR may bind beside it (and take its queries), unless it runs
 * under `bindguard run --exclusive`. */
static const char *dnsmasq(void)
{
    static const char *const where[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

static void hijack_dnsmasq(bool exclusive, char *got, size_t len)
{
    int port;
    proc_free_ports(&port, 1);
    char log_env[300], lport[16];
    snprintf(log_env, sizeof log_env, "BINDGUARD_LOG=%s", fixture_log);
    snprintf(lport, sizeof lport, "%d", port);
    const char *argv[24] = {harness_env("BG_CLI"), "run", "--table", fixture_table};
    size_t n = 4;
    if (exclusive)
        argv[n++] = "--exclusive";
    const char *rest[] = {"--", dnsmasq(), "-d", "-p", lport, "--listen-address=127.0.0.1",
                          "--bind-interfaces", "--no-resolv", "--no-hosts", "-C", "/dev/null",
                          "--pid-file", "-u", "root", NULL};
    for (size_t i = 0; rest[i]; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    struct proc *d = proc_spawn(&(struct proc_how){.env = {log_env}}, argv);
    /* Up once the kernel has its UDP socket (asked from here: a probe bind could make
     * dnsmasq's own bind fail). */
    int64_t until = proc_now_ms() + START_MS;
    struct kernel_sock ks[4];
    while (kernel_port_sockets(IPPROTO_UDP, (uint16_t)port, ks, 4) < 1 &&
           proc_now_ms() < until && proc_alive(d))
        proc_pump(d, proc_now_ms() + 50);
    ck_assert_msg(kernel_port_sockets(IPPROTO_UDP, (uint16_t)port, ks, 4) >= 1,
                  "dnsmasq never bound udp port %d: %s", port, d->ebuf);
    tbind_result(SHIM, "-p udp -a 127.0.0.1 -o reuseaddr", port, got, len);
    ck_assert_msg(proc_alive(d), "dnsmasq exited: %s", d->ebuf);
    proc_kill(d);
}

START_TEST(exclusive_run_keeps_a_habitual_sharer_exclusive)
{
    const char *san = getenv("BG_SAN_PRELOAD");
    if (!dnsmasq() || !harness_is_root() || (san && *san)) {
        printf("SKIP run --exclusive with dnsmasq: %s\n",
               !dnsmasq() ? "dnsmasq not found" : !harness_is_root() ?
               "needs root (dnsmasq -u root)" : "dnsmasq never starts under the sanitizer "
               "runtime the library needs first");
        return;
    }
    char got[64];
    hijack_dnsmasq(false, got, sizeof got);
    ck_assert_msg(strncmp(got, "OK ", 3) == 0, "premise: without --exclusive the same-user "
                  "SO_REUSEADDR hijacker shares dnsmasq's port, said '%s'", got);
    hijack_dnsmasq(true, got, sizeof got);
    /* ws2003 same-user: exclusive specific first, reuseaddr specific second: ACCESS. */
    const char *log = fixture_log_text();
    ck_assert_msg(strcmp(got, "ERR EACCES bind") == 0, "under --exclusive the hijacker "
                  "said '%s'; log:\n%s", got, log);
    ck_assert_msg(proc_count_lines(log, "held exclusively by pid", "(dnsmasq") == 1 &&
                  proc_trouble_lines(log) == 0, "log:\n%s", log);
}
END_TEST

/* Forced exclusive, the sharing options still reach the kernel and never fail: only an
 * explicit SO_EXCLUSIVEADDRUSE conflicts with them (EINVAL), as without force. */
START_TEST(forced_exclusive_keeps_sharing_options_settable)
{
    const struct proc_how *how = SHIM_WITH("BINDGUARD_FORCE_EXCLUSIVE=1");
    int port;
    proc_free_ports(&port, 1);
    char got[64];
    tbind_result(how, "-p udp -a 127.0.0.1 -o reuseaddr,reuseport", port, got, sizeof got);
    ck_assert_msg(strncmp(got, "OK ", 3) == 0, "reuseaddr,reuseport under force: %s", got);
    tbind_result(how, "-p udp -a 127.0.0.1 -o reuseaddr,exclusive", port, got, sizeof got);
    ck_assert_str_eq(got, "ERR EINVAL setsockopt");
    tbind_result(how, "-a 127.0.0.1 -o exclusive,reuseport", port, got, sizeof got);
    ck_assert_str_eq(got, "ERR EINVAL setsockopt");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hosts");
    TCase *tc = fixture_tcase(s, "hosts");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, retitled_host_is_named_by_the_kernel);
    tcase_add_test(tc, host_sigbus_handler_does_not_make_truncation_a_crash);
    tcase_add_test(tc, setuid_host_ignores_the_environment);
    tcase_add_test(tc, exclusive_run_keeps_a_habitual_sharer_exclusive);
    tcase_add_test(tc, forced_exclusive_keeps_sharing_options_settable);
    return fixture_main(s);
}
