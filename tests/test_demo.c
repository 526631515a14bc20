/* test_demo - `bindguard demo` really run: its rows, its exit status, its JSON, and that
 * it leaves nothing behind (no table in /dev/shm, no agent process, no port held). A
 * demo whose "bindguard" runs load a library that is not bindguard must fail. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define WAIT_MS 60000u   /* the whole demo, on a loaded machine */

static const struct proc_how plain = { .inherit_env = false };
static const struct proc_how as_nobody = { .inherit_env = false, .as_nobody = true };

static struct proc *demo(const struct proc_how *how, const char *cli, const char *json)
{
    struct proc *p = json ? proc_spawn(how, PROC_ARGV(cli, "demo", json))
                          : proc_spawn(how, PROC_ARGV(cli, "demo"));
    p->status = proc_finish(p, WAIT_MS);
    return p;
}

/* The row of the text table that starts with `scenario`. */
static const char *row(const char *out, const char *scenario)
{
    static char line[512];
    const char *at = strstr(out, scenario);
    ck_assert_msg(at, "no row '%s' in:\n%s", scenario, out);
    size_t n = strcspn(at, "\n");
    snprintf(line, sizeof line, "%.*s", (int)n, at);
    return line;
}

/* Columns after the scenario name: Linux, bindguard, who holds it. */
static void assert_row(const char *out, const char *scenario, const char *linux_cell,
                       const char *bg_cell, const char *who)
{
    const char *r = row(out, scenario) + strlen(scenario);
    char want[160];
    snprintf(want, sizeof want, " %s ", linux_cell);
    ck_assert_msg(strstr(r, want), "'%s': Linux column is not '%s': %s", scenario, linux_cell, r);
    const char *b = strstr(r, want) + strlen(want);
    b += strspn(b, " ");
    ck_assert_msg(strncmp(b, bg_cell, strlen(bg_cell)) == 0,
                  "'%s': bindguard column is not '%s': %s", scenario, bg_cell, r);
    ck_assert_msg(strstr(b + strlen(bg_cell), who), "'%s': '%s' not named: %s", scenario, who, r);
    ck_assert_msg(!strstr(r, "NOT AS DOCUMENTED"), "%s", r);
}

static void assert_nothing_left(void)
{
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strncmp(e->d_name, "bg-demo-", 8) != 0 &&
                      strncmp(e->d_name, ".bg-demo-", 9) != 0,
                      "left in /dev/shm: %s", e->d_name);
    closedir(d);
    d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f))
            ck_assert_msg(strncmp(comm, "demo-", 5) != 0, "agent %s still runs: %s",
                          e->d_name, comm);
        fclose(f);
    }
    closedir(d);
}

/* Every "port":N in the JSON can be bound again, alone, on 127.0.0.1 and 0.0.0.0. */
static int assert_ports_free(const char *json)
{
    int n = 0;
    for (const char *p = strstr(json, "\"port\":"); p; p = strstr(p + 1, "\"port\":")) {
        int port = atoi(p + 7);
        ck_assert_int_gt(port, 0);
        for (int wild = 0; wild < 2; wild++) {
            struct sockaddr_storage ss;
            socklen_t len = proc_sockaddr(wild ? "0.0.0.0" : "127.0.0.1", port, &ss);
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            ck_assert_msg(bind(fd, (struct sockaddr *)&ss, len) == 0, "port %d still held: %s",
                          port, strerror(errno));
            close(fd);
        }
        n++;
    }
    return n;
}

START_TEST(demo_shows_what_bindguard_changes)
{
    struct proc *p = demo(&plain, harness_env("BG_CLI"), NULL);
    ck_assert_msg(p->status == 0, "demo exited %d:\n%s\n%s", p->status, p->obuf, p->ebuf);
    const char *out = p->obuf;
    assert_row(out, "pre-listen server, SO_REUSEADDR hijack", "taken", "refused EACCES",
               "(demo-holder, uid ");
    assert_row(out, "bound-only socket, same address", "taken", "refused EADDRINUSE",
               "(demo-holder, uid ");
    assert_row(out, "SO_REUSEPORT group, same-uid joiner", "taken", "taken", "holder and hijacker");
    assert_row(out, "second server on the port", "refused EADDRINUSE", "refused EADDRINUSE",
               "(demo-holder, uid ");
    assert_row(out, "SO_EXCLUSIVEADDRUSE server", "no such option", "refused EADDRINUSE",
               "(demo-holder, uid ");
    if (harness_is_root())
        assert_row(out, "pre-listen hijack by another user", "taken", "refused EACCES",
                   "(demo-holder, uid 0)");
    else
        ck_assert_msg(strstr(row(out, "pre-listen hijack by another user"), "n/a: needs root"),
                      "%s", out);
    /* The kernel backend is not enabled here (built or not): the row says what is missing. */
    bool bpf = strcmp(harness_env("BG_BPF"), "1") == 0;
    ck_assert_msg(strstr(row(out, "pre-listen hijack by a static binary"),
                         bpf ? "n/a: kernel backend not built/enabled (missing: not enabled"
                             : "n/a: kernel backend not built/enabled (missing: BPF support not built"),
                  "%s", out);
    ck_assert_msg(strstr(out, "every row behaved as documented"), "%s", out);
    assert_nothing_left();
}
END_TEST

START_TEST(demo_json_and_nothing_left_listening)
{
    struct proc *p = demo(&plain, harness_env("BG_CLI"), "--json");
    ck_assert_msg(p->status == 0, "demo --json exited %d:\n%s\n%s", p->status, p->obuf, p->ebuf);
    const char *out = p->obuf;
    ck_assert_msg(strncmp(out, "{\"version\":\"", 12) == 0, "%s", out);
    ck_assert_msg(strstr(out, "\"as_documented\":true,\"rows\":["), "%s", out);
    ck_assert_msg(strstr(out, "\"scenario\":\"pre-listen server, SO_REUSEADDR hijack\","
                              "\"linux\":{\"port\":"), "%s", out);
    ck_assert_msg(strstr(out, "\"outcome\":\"refused\",\"errno\":\"EACCES\",\"holder\":\"pid "),
                  "%s", out);
    ck_assert_msg(strstr(out, "\"skipped\":\"n/a: kernel backend"), "%s", out);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
    /* Two runs of every row that ran: 5 rows (6 as root). */
    ck_assert_int_eq(assert_ports_free(out), harness_is_root() ? 12 : 10);
    if (system("python3 -c pass 2>/dev/null") == 0) {
        struct proc *j = proc_spawn(&plain, PROC_ARGV("python3", "-m", "json.tool"));
        ck_assert_int_eq(write(j->in, out, strlen(out)), (ssize_t)strlen(out));
        ck_assert_msg(proc_finish(j, 10000) == 0, "json.tool: %s", j->ebuf);
    } else {
        printf("SKIP json.tool check: python3 not found\n");
    }
    assert_nothing_left();
}
END_TEST

START_TEST(demo_as_another_user_skips_the_root_row)
{
    if (!harness_is_root()) {
        printf("SKIP demo as nobody: needs root to become nobody\n");
        return;
    }
    struct proc *p = demo(&as_nobody, harness_env("BG_CLI"), NULL);
    ck_assert_msg(p->status == 0, "demo as nobody exited %d:\n%s\n%s", p->status, p->obuf,
                  p->ebuf);
    ck_assert_msg(strstr(row(p->obuf, "pre-listen hijack by another user"), "n/a: needs root"),
                  "%s", p->obuf);
    assert_row(p->obuf, "pre-listen server, SO_REUSEADDR hijack", "taken", "refused EACCES",
               "(demo-holder, uid 65534)");
    assert_nothing_left();
}
END_TEST

/* A CLI whose "libbindguard.so" beside it is some other library: bindguard changes
 * nothing, and the self-test must say so and exit 1. */
START_TEST(demo_fails_when_bindguard_does_not_work)
{
    char dir[256], cli[300], lib[300];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(cli, sizeof cli, "%s/bindguard", dir);
    snprintf(lib, sizeof lib, "%s/libbindguard.so", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && cp \"$(cc -print-file-name=libm.so.6)\" '%s' 2>/dev/null || "
             "cp /lib/*/libm.so.6 '%s'", harness_env("BG_CLI"), cli, lib, lib);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    struct proc *p = demo(&plain, cli, NULL);
    ck_assert_msg(p->status == 1, "demo exited %d:\n%s\n%s", p->status, p->obuf, p->ebuf);
    ck_assert_msg(strstr(row(p->obuf, "pre-listen server, SO_REUSEADDR hijack"),
                         "NOT AS DOCUMENTED"), "%s", p->obuf);
    ck_assert_msg(strstr(p->obuf, "FAILED"), "%s", p->obuf);
    unlink(cli);
    unlink(lib);
    rmdir(dir);
    assert_nothing_left();
}
END_TEST

START_TEST(demo_bad_arguments)
{
    struct proc *p = proc_spawn(&plain, PROC_ARGV(harness_env("BG_CLI"), "demo", "extra"));
    ck_assert_int_eq(proc_finish(p, 10000), 2);
    ck_assert_str_eq(p->ebuf, "bindguard: demo: unexpected argument 'extra'\n");
    p = proc_spawn(&plain, PROC_ARGV(harness_env("BG_CLI"), "demo", "--agent", "x"));
    ck_assert_int_eq(proc_finish(p, 10000), 2);
}
END_TEST

int main(void)
{
    proc_init("demo");
    proc_preload_sanitizer();
    proc_cleanup_on_signals();
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, demo_shows_what_bindguard_changes);
    tcase_add_test(tc, demo_json_and_nothing_left_listening);
    tcase_add_test(tc, demo_as_another_user_skips_the_root_row);
    tcase_add_test(tc, demo_fails_when_bindguard_does_not_work);
    tcase_add_test(tc, demo_bad_arguments);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
