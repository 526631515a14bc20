/* test_cli_run - bindguard run, shell and audit as a user meets them: a bad environment,
 * signals, a stale LD_PRELOAD, programs bindguard cannot see (clitest.h). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clitest.h"
#include "harness.h"

/* Lines of text that contain `what`. */
static int lines_with(const char *text, const char *what)
{
    return proc_count_lines(text, what, NULL);
}

/* ---- a bad value is said once -------------------------------------------------------- */

START_TEST(bad_value_said_once_by_run_not_by_every_process)
{
    /* Three processes that each make an inet socket, where the library reads its
     * environment: each would say the bad value (a pyenv shim, a test runner). */
    static char script[768], script_y[1400];
    const char *tbind = prog("tbind");
    snprintf(script, sizeof script, "%s -a 127.0.0.1 -P 0 && %s -a 127.0.0.1 -P 0 && "
             "%s -a 127.0.0.1 -P 0", tbind, tbind, tbind);
    struct proc_how h = { .inherit_env = true, .env = { "BINDGUARD_MODE=x" } };
    struct result *r = cli_how(&h, ARGV("run", "--", "sh", "-c", script));
    ck_assert_msg(r->status == 0 && proc_count_lines(r->out, "OK ", NULL) == 3, "run: %d %s%s",
                  r->status, r->out, r->err);
    static const char said[] = "bindguard: run: BINDGUARD_MODE='x' is not valid";
    ck_assert_msg(lines_with(r->err, "BINDGUARD_MODE='x'") == 1 &&
                  strncmp(r->err, said, strlen(said)) == 0 &&
                  strstr(r->err, "using enforce"), "stderr:\n%s", r->err);

    /* The shell the same way; a value changed inside is a new one, and is said. */
    snprintf(script_y, sizeof script_y, "%s; BINDGUARD_MODE=y %s -a 127.0.0.1 -P 0", script,
             tbind);
    struct proc_how sh = { .inherit_env = true,
                           .env = { "BINDGUARD_MODE=x", "SHELL=/bin/sh" } };
    r = cli_how(&sh, ARGV("shell", "--", "-c", script_y));
    ck_assert_msg(r->status == 0 && lines_with(r->err, "BINDGUARD_MODE='x'") == 1 &&
                  lines_with(r->err, "BINDGUARD_MODE='y'") == 1, "shell:\n%s", r->err);

    /* audit sets the mode itself; another bad value is said once, by audit. */
    r = cli_how(&h, ARGV("audit", "--", "sh", "-c", script));
    ck_assert_msg(r->status == 0 && lines_with(r->err, "BINDGUARD_MODE") == 0,
                  "audit (mode is its own):\n%s", r->err);
    struct proc_how ha = { .inherit_env = true, .env = { "BINDGUARD_PROFILE=win12" } };
    r = cli_how(&ha, ARGV("audit", "--", "sh", "-c", script));
    ck_assert_msg(r->status == 0 && lines_with(r->err, "BINDGUARD_PROFILE='win12'") == 1 &&
                  strstr(r->err, "bindguard: audit: BINDGUARD_PROFILE"), "audit:\n%s", r->err);

    /* Without run, the library still says it. */
    struct proc_how direct = { .shim = true, .table = table_name, .log = "stderr",
                               .env = { "BINDGUARD_MODE=x" } };
    struct proc *c = proc_spawn(&direct, ARGV("tbind", "-a", "127.0.0.1", "-P", "0"));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    ck_assert_msg(lines_with(c->ebuf, "BINDGUARD_MODE='x'") == 1, "direct: %s", c->ebuf);
}
END_TEST

START_TEST(bad_table_variable_is_a_bad_argument)
{
    /* Every command: one line, exit 2, nothing done (no table created, nothing run). */
    static const char *const cases[][6] = {
        {"list"}, {"list", "--json"}, {"check", "127.0.0.1:80"}, {"gc"}, {"gc", "--rebuild"},
        {"explain", "0.0.0.0:80", "0.0.0.0:80"}, {"matrix"},
        {"run", "--", "sh", "-c", "echo ran"}, {"shell", "--", "-c", "echo ran"},
        {"audit", "--", "sh", "-c", "echo ran"},
    };
    static const char *const values[] = { "bad/rel", "/dev/shm/../etc/x" };
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        static char env[64];
        snprintf(env, sizeof env, "BINDGUARD_TABLE=%s", values[v]);
        struct proc_how h = { .inherit_env = true, .env = { env, "SHELL=/bin/sh" } };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct result *r = cli_how(&h, cases[i]);
            char prefix[64];
            snprintf(prefix, sizeof prefix, "bindguard: %s: BINDGUARD_TABLE='%s' is not valid",
                     cases[i][0], values[v]);
            ck_assert_msg(r->status == 2 && count_lines(r->err) == 1 &&
                          strncmp(r->err, prefix, strlen(prefix)) == 0 && r->out[0] == '\0' &&
                          !strstr(r->err, "using"), "%s with %s: %d\nstdout: %s\nstderr: %s",
                          cases[i][0], env, r->status, r->out, r->err);
        }
    }
    /* A good --table wins over a bad variable, as an option always does. */
    struct proc_how h = { .inherit_env = true, .env = { "BINDGUARD_TABLE=bad/rel" } };
    struct result *r = cli_how(&h, ARGV("run", "--table", table_name, "--", "sh", "-c",
                                        "echo $BINDGUARD_TABLE"));
    ck_assert_msg(r->status == 0 && strncmp(r->out, table_name, strlen(table_name)) == 0 &&
                  r->err[0] == '\0', "--table: %d %s %s", r->status, r->out, r->err);
    /* Any other bad value stops the commands that run no program, in one line. */
    struct proc_how m = { .inherit_env = true, .env = { "BINDGUARD_PROFILE=win12" } };
    r = cli_how(&m, ARGV("matrix"));
    ck_assert_msg(r->status == 2 && count_lines(r->err) == 1 &&
                  strstr(r->err, "bindguard: matrix: BINDGUARD_PROFILE='win12'"), "%d %s",
                  r->status, r->err);
}
END_TEST

/* ---- audit and signals -------------------------------------------------------------------- */

static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* `bindguard audit` of a shell that says its pid and then waits; a signal to bindguard
 * alone (not its group, as kill(1) or a service manager sends it). */
static void audit_signalled(int sig, const char *dir)
{
    static char tmpdir[600];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    struct proc_how h = { .inherit_env = true, .env = { tmpdir } };
    struct proc *c = proc_spawn(&h, ARGV(cli_path(), "audit", "--", "sh", "-c",
                                         "echo $$; exec sleep 60"));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line, "no pid from the command: %s", c->ebuf);
    pid_t child = (pid_t)atoi(line);
    ck_assert_int_gt(child, 0);
    ck_assert_int_eq(files_in(dir), 1);
    ck_assert_int_eq(kill(c->pid, sig), 0);
    int st = proc_finish(c, WAIT_MS);
    ck_assert_msg(st == 128 + sig, "audit exit %d after signal %d:\n%s", st, sig, c->ebuf);
    ck_assert_msg(strstr(c->ebuf, "bindguard: audit: 0 bind(s) would have been refused."),
                  "no summary after signal %d:\n%s", sig, c->ebuf);
    ck_assert_msg(kill(child, 0) != 0 && errno == ESRCH, "the command (pid %d) outlived "
                  "bindguard audit after signal %d", (int)child, sig);
    ck_assert_msg(files_in(dir) == 0, "the audit log was left in %s", dir);
}

START_TEST(audit_passes_signals_on_and_cleans_up)
{
    char dir[128];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    audit_signalled(SIGTERM, dir);
    audit_signalled(SIGINT, dir);
    audit_signalled(SIGHUP, dir);
    rmdir(dir);
}
END_TEST

/* ---- LD_PRELOAD --------------------------------------------------------------------------- */

START_TEST(run_replaces_a_stale_preload)
{
    const char *san = getenv("BG_SAN_PRELOAD");
    static char preload[700];
    snprintf(preload, sizeof preload, "%s%s/old/path/libbindguard.so:libm.so.6",
             san && *san ? san : "", san && *san ? ":" : "");
    setenv("LD_PRELOAD", preload, 1);
    struct result *r = cli(ARGV("run", "--", "sh", "-c", "echo $LD_PRELOAD"));
    char want[1024];
    snprintf(want, sizeof want, "%s%slibm.so.6:%s\n", san && *san ? san : "",
             san && *san ? ":" : "", harness_env("BG_LIB"));
    ck_assert_msg(r->status == 0 && strcmp(r->out, want) == 0, "got '%s', want '%s'", r->out,
                  want);
    /* bindguard itself starts with the stale entry, and the loader says so; the command
     * no longer does. */
    ck_assert_msg(lines_with(r->err, "bindguard: ") == 1 &&
                  lines_with(r->err, "cannot be preloaded") <= 1 &&
                  strstr(r->err, "bindguard: run: LD_PRELOAD named another libbindguard.so "
                                 "(/old/path/libbindguard.so)"), "stderr: %s", r->err);

    /* Protected for real: SO_EXCLUSIVEADDRUSE exists, and a second bind is refused. */
    int port = free_port();
    struct proc *h = hold(ARGV("-a", "127.0.0.1", "-P", proc_num(port), "-o", "exclusive"));
    struct proc *c = start(ARGV(cli_path(), "run", "--", prog("tbind"), "-a", "127.0.0.1",
                                "-P", proc_num(port), "-o", "reuseaddr"));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "ERR EADDRINUSE bind") == 0, "second: %s %s",
                  line ? line : "-", c->ebuf);
    proc_finish(c, WAIT_MS);
    ck_assert_msg(strstr(c->ebuf, "held exclusively by pid"), "%s", c->ebuf);
    release(h);

    /* The same file under another name is not a second copy. */
    char dir[128], link[256];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(link, sizeof link, "%s/libbg-alias.so", dir);
    ck_assert_int_eq(symlink(harness_env("BG_LIB"), link), 0);
    snprintf(preload, sizeof preload, "%s%s%s", san && *san ? san : "",
             san && *san ? ":" : "", link);
    setenv("LD_PRELOAD", preload, 1);
    r = cli(ARGV("run", "--", "sh", "-c", "echo $LD_PRELOAD"));
    snprintf(want, sizeof want, "%s\n", preload);
    ck_assert_msg(r->status == 0 && strcmp(r->out, want) == 0 && r->err[0] == '\0',
                  "alias: '%s' %s", r->out, r->err);
    unlink(link);
    rmdir(dir);
}
END_TEST

/* ---- programs bindguard cannot see --------------------------------------------------------- */

/* A program built here into dir; false (and why, visibly) if the toolchain can't. */
static bool build(const char *dir, const char *name, const char *src_name, const char *src,
                  const char *const *cmd, char *out, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, src_name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(src, f);
    fclose(f);
    snprintf(out, len, "%s/%s", dir, name);
    struct proc_how h = { .inherit_env = true };
    h.env[0] = NULL;
    struct proc *c = proc_spawn(&h, cmd);
    int st = proc_finish(c, 180000);
    if (st != 0) {
        printf("SKIP %s: could not build it (%d): %s\n", name, st, c->ebuf);
        return false;
    }
    return true;
}

static void assert_warned(const char *path, const char *why)
{
    struct result *r = cli(ARGV("run", "--", path));
    ck_assert_msg(r->status == 0 && strstr(r->out, "ran"), "%s: %d %s", path, r->status,
                  r->err);
    char want[700];
    snprintf(want, sizeof want, "bindguard: run: warning: %s: %s", path, why);
    ck_assert_msg(count_lines(r->err) == 1 && strncmp(r->err, want, strlen(want)) == 0 &&
                  strstr(r->err, "cannot see its binds") &&
                  strstr(r->err, "bindguard run --kernel"),
                  "%s: stderr: %s", path, r->err);
}

START_TEST(run_warns_when_it_cannot_see_binds)
{
    char dir[128], exe[512], src[512];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    static const char c_src[] = "#include <stdio.h>\nint main(void){puts(\"ran\");return 0;}\n";
    snprintf(src, sizeof src, "%s/hello.c", dir);
    snprintf(exe, sizeof exe, "%s/static", dir);
    /* A dynamic program: no warning. */
    struct result *r = cli(ARGV("run", "--", "sh", "-c", "echo ran"));
    ck_assert_msg(r->status == 0 && r->err[0] == '\0', "sh: %s", r->err);
    r = cli(ARGV("run", "--", prog("tbind"), "-a", "127.0.0.1"));
    ck_assert_msg(r->err[0] == '\0', "tbind: %s", r->err);

    if (build(dir, "static", "hello.c", c_src, ARGV("cc", "-static", "-o", exe, src), exe,
              sizeof exe)) {
        assert_warned(exe, "statically linked");
        /* Found on PATH as execvp finds it. */
        static char path_env[600];
        snprintf(path_env, sizeof path_env, "PATH=%s:/usr/bin:/bin", dir);
        struct proc_how h = { .inherit_env = true, .env = { path_env } };
        r = cli_how(&h, ARGV("run", "--", "static"));
        ck_assert_msg(strstr(r->err, "statically linked"), "on PATH: %s", r->err);
        /* The shell's own binds only: what it starts is still protected. */
        static char shell_env[600];
        snprintf(shell_env, sizeof shell_env, "SHELL=%s", exe);
        struct proc_how s = { .inherit_env = true, .env = { shell_env } };
        r = cli_how(&s, ARGV("shell"));
        ck_assert_msg(count_lines(r->err) == 1 && strstr(r->err, "bindguard: shell: warning: ") &&
                      strstr(r->err, "still protected"), "shell: %s", r->err);
        unlink(exe);
    }
    /* A dynamic program, setuid to another user: secure execution drops LD_PRELOAD. */
    snprintf(exe, sizeof exe, "%s/setuid", dir);
    if (!harness_is_root()) {
        printf("SKIP setuid warning: needs root to chown\n");
    } else if (build(dir, "setuid", "hello.c", c_src, ARGV("cc", "-o", exe, src), exe,
                     sizeof exe)) {
        r = cli(ARGV("run", "--", exe));
        ck_assert_msg(r->err[0] == '\0', "dynamic, not setuid: %s", r->err);
        uid_t nobody;
        gid_t nogroup;
        harness_nobody(&nobody, &nogroup);
        ck_assert_int_eq(chown(exe, nobody, nogroup), 0);
        ck_assert_int_eq(chmod(exe, 04755), 0);
        assert_warned(exe, "setuid/setgid");
        unlink(exe);
    }
    unlink(src);

    static const char go_src[] = "package main\n\nfunc main() { println(\"ran\") }\n";
    if (system("go version >/dev/null 2>&1") != 0) {
        printf("SKIP Go program warning: go is not installed\n");
    } else {
        /* A private cache, so the test writes nothing outside its directory. */
        static char cache[300], gopath[300];
        snprintf(cache, sizeof cache, "GOCACHE=%s/cache", dir);
        snprintf(gopath, sizeof gopath, "GOPATH=%s/gopath", dir);
        setenv("GOCACHE", cache + 8, 1);
        setenv("GOPATH", gopath + 7, 1);
        snprintf(src, sizeof src, "%s/hello.go", dir);
        snprintf(exe, sizeof exe, "%s/gohello", dir);
        if (build(dir, "gohello", "hello.go", go_src,
                  ARGV("go", "build", "-o", exe, src), exe, sizeof exe)) {
            r = cli(ARGV("run", "--", exe));
            ck_assert_msg(strstr(r->err, "a Go program") &&
                          lines_with(r->err, "bindguard: ") == 1,
                          "go: %s", r->err);
        }
        struct proc *c = start(ARGV("rm", "-rf", cache + 8, gopath + 7, exe, src));
        proc_finish(c, WAIT_MS * 3);
    }
    rmdir(dir);
}
END_TEST

static Suite *cli_run_suite(void)
{
    Suite *s = suite_create("cli_run");
    TCase *tc = tcase_create("cli_run");
    tcase_add_checked_fixture(tc, clitest_setup, clitest_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bad_value_said_once_by_run_not_by_every_process);
    tcase_add_test(tc, bad_table_variable_is_a_bad_argument);
    tcase_add_test(tc, audit_passes_signals_on_and_cleans_up);
    tcase_add_test(tc, run_replaces_a_stale_preload);
    tcase_add_test(tc, run_warns_when_it_cannot_see_binds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    proc_init("clirun");
    proc_cleanup_on_signals();
    int rc = harness_run(cli_run_suite());
    proc_cleanup();
    return rc;
}
