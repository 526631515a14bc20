/* test_doctor - `bindguard doctor`: the library as really mapped (this process and its
 * parent), the configuration as the library reads it, the kernel backend's requirements
 * as this machine has them, and `doctor CMD` on real binaries: dynamic, gcc -static,
 * a setuid copy, a #! script, a Go binary (if Go is installed). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define WAIT_MS 20000u

static char scratch[256];

static struct proc *doctor_how(const struct proc_how *how, const char *cmd)
{
    struct proc *p = cmd ? proc_spawn(how, PROC_ARGV(harness_env("BG_CLI"), "doctor", cmd))
                         : proc_spawn(how, PROC_ARGV(harness_env("BG_CLI"), "doctor"));
    p->status = proc_finish(p, WAIT_MS);
    return p;
}

static struct proc *doctor(const char *cmd)
{
    return doctor_how(&(const struct proc_how){ 0 }, cmd);
}

#define HAS(p, text) ck_assert_msg(strstr((p)->obuf, text), "no '%s' in:\n%s%s", text, \
                                   (p)->obuf, (p)->ebuf)

START_TEST(doctor_sees_whether_the_library_is_loaded)
{
    struct proc *p = doctor(NULL);
    ck_assert_int_eq(p->status, 0);
    HAS(p, "this process (pid ");
    HAS(p, "not loaded\n");
    HAS(p, "LD_PRELOAD names no libbindguard.so");
    HAS(p, "=> no: start a protected shell with `bindguard shell`");

    /* Under `run`, via a shell that stays doctor's parent: both have it mapped. */
    char lib[600];
    snprintf(lib, sizeof lib, "loaded from %s", harness_env("BG_LIB"));
    p = proc_spawn(&(const struct proc_how){ 0 },
                   PROC_ARGV(harness_env("BG_CLI"), "run", "--", "sh", "-c", "\"$0\" doctor; :",
                             harness_env("BG_CLI")));
    ck_assert_int_eq(proc_finish(p, WAIT_MS), 0);
    char *self = strstr(p->obuf, "this process"), *parent = strstr(p->obuf, "parent (pid");
    ck_assert_msg(self && parent, "%s", p->obuf);
    ck_assert_msg(strstr(self, lib) && strstr(self, lib) < parent, "self:\n%s", p->obuf);
    ck_assert_msg(strstr(parent, ", sh): loaded from "), "parent:\n%s", p->obuf);
    HAS(p, "BINDGUARD_ACTIVE=1");
    HAS(p, "=> yes");

    /* The variable alone is not protection. */
    p = doctor_how(&(const struct proc_how){ .env = { "LD_PRELOAD=/nonexistent/libbindguard.so" } },
                   NULL);
    ck_assert_int_eq(p->status, 0);
    HAS(p, "LD_PRELOAD names /nonexistent/libbindguard.so (MISSING: nothing is loaded)");
    HAS(p, "=> no: LD_PRELOAD points at a library that is not there");
}
END_TEST

START_TEST(doctor_reports_the_configuration)
{
    struct proc *p = doctor_how(&(const struct proc_how){ .env = {
        "BINDGUARD_PROFILE=xp", "BINDGUARD_MODE=audit", "BINDGUARD_TABLE=/bg-doctor-test",
        "BINDGUARD_EMULATE=1", "BINDGUARD_LOG=sometimes" } }, NULL);
    ck_assert_int_eq(p->status, 0);
    HAS(p, "  table:     /bg-doctor-test\n");
    HAS(p, "  profile:   xp (");
    HAS(p, "  mode:      audit\n");
    HAS(p, "  emulate:   on\n");
    /* A bad value: the library's own warning, and the fallback it uses. */
    HAS(p, "  warning: bindguard: BINDGUARD_LOG='sometimes'");
    HAS(p, "  log:       stderr\n");
}
END_TEST

START_TEST(doctor_reports_the_kernel_backend_requirements)
{
    struct utsname u;
    ck_assert_int_eq(uname(&u), 0);
    struct proc *p = doctor(NULL);
    char want[200];
    snprintf(want, sizeof want, "(%s)\n", u.release);
    HAS(p, want);
    /* Built with the kernel backend (BG_BPF) or not; never enabled on the host by a test. */
    bool bpf = strcmp(harness_env("BG_BPF"), "1") == 0, root = harness_is_root();
    HAS(p, bpf ? "kernel backend (bindguard kernel): not enabled"
               : "kernel backend (bindguard kernel): not built into this bindguard");
    HAS(p, bpf ? "BPF support built: yes" : "BPF support built: no");
    HAS(p, root ? "  root:              yes" : "  root:              no");
    bool cgroup2 = system("grep -q ' - cgroup2 ' /proc/self/mountinfo") == 0;
    HAS(p, cgroup2 ? "  cgroup v2:         mounted at /" : "  cgroup v2:         no cgroup2 mount");
    HAS(p, !bpf ? "  missing: BPF support not built"
              : root ? "  missing: not enabled (bindguard kernel enable)" : "  missing: root");
    if (!root)
        return;
    p = doctor_how(&(const struct proc_how){ .as_nobody = true }, NULL);
    ck_assert_int_eq(p->status, 0);
    HAS(p, "  root:              no");
    HAS(p, bpf ? "  missing: root" : "  missing: BPF support not built, root");
}
END_TEST

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void setup(void)
{
    ck_assert(proc_scratch_dir(scratch, sizeof scratch));
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
}

/* doctor on a file of the scratch directory, which must exit with `status`. */
static struct proc *doctor_file(const char *name, int status)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    struct proc *p = doctor(path);
    ck_assert_msg(p->status == status, "doctor %s: exit %d, not %d\n%s%s", name, p->status,
                  status, p->obuf, p->ebuf);
    return p;
}

START_TEST(doctor_cmd_dynamic_static_setuid_script)
{
    sh("printf 'int main(void){return 0;}\\n' >'%s/hello.c'", scratch);
    sh("cc -o '%s/dynamic' '%s/hello.c'", scratch, scratch);
    sh("cc -static -o '%s/static' '%s/hello.c'", scratch, scratch);
    sh("cp '%s/dynamic' '%s/setuid' && chmod 4755 '%s/setuid'", scratch, scratch, scratch);
    sh("printf '#!/bin/sh\\nexit 0\\n' >'%s/script' && chmod 755 '%s/script'", scratch, scratch);
    sh("printf 'not a program\\n' >'%s/data' && chmod 755 '%s/data'", scratch, scratch);
    struct proc *p = doctor_file("dynamic", 0);
    HAS(p, ": dynamically linked\n");
    HAS(p, "library (bindguard run):         yes\n");

    /* As root with the backend built, `run --kernel` protects it (it attaches itself). */
    bool bpf = strcmp(harness_env("BG_BPF"), "1") == 0, run_kernel = bpf && harness_is_root();
    p = doctor_file("static", run_kernel ? 0 : 1);
    HAS(p, ": static (no PT_INTERP)\n");
    HAS(p, "no: statically linked: no dynamic loader reads LD_PRELOAD");
    HAS(p, !bpf ? "kernel backend (run --kernel):   not available: BPF support not built"
           : run_kernel ? "kernel backend (run --kernel):   yes"
                        : "kernel backend (run --kernel):   not available: root");
    if (!run_kernel)
        HAS(p, "can't be protected here until the kernel backend is enabled");

    p = doctor_file("setuid", run_kernel ? 0 : 1);
    HAS(p, ": dynamically linked, setuid\n");
    HAS(p, "no: setuid/setgid: the loader ignores LD_PRELOAD");

    p = doctor_file("script", 0);
    HAS(p, "/script: a script run by /bin/sh\n");

    p = doctor_file("data", 1);
    ck_assert_msg(strstr(p->ebuf, "bindguard: doctor: ") && strstr(p->ebuf, "not an ELF"),
                  "%s", p->ebuf);

    /* A name is looked up on $PATH as exec would. */
    p = doctor("sh");
    ck_assert_msg(p->status == 0, "%d %s", p->status, p->obuf);
    p = doctor("no-such-command-bg");
    ck_assert_int_eq(p->status, 2);
    ck_assert_str_eq(p->ebuf, "bindguard: doctor: no-such-command-bg: no such command\n");
}
END_TEST

START_TEST(doctor_cmd_go)
{
    /* The go tool is itself a Go program. */
    FILE *f = popen("go env GOROOT 2>/dev/null", "r");
    char root[512] = "";
    if (f) {
        if (!fgets(root, sizeof root, f))
            root[0] = '\0';
        pclose(f);
    }
    root[strcspn(root, "\n")] = '\0';
    char path[600];
    snprintf(path, sizeof path, "%s/bin/go", root);
    if (!root[0] || access(path, X_OK) != 0) {
        printf("SKIP doctor on a Go binary: golang-go is not installed\n");
        return;
    }
    struct proc *p = doctor(path);
    /* 0 where `run --kernel` can protect it (root, a build with the kernel backend). */
    int want = strcmp(harness_env("BG_BPF"), "1") == 0 && harness_is_root() ? 0 : 1;
    ck_assert_msg(p->status == want, "%d %s", p->status, p->obuf);
    HAS(p, ", Go");
    HAS(p, "no: a Go program: its binds are system calls of its own");
}
END_TEST

START_TEST(doctor_bad_arguments)
{
    struct proc *p = proc_spawn(&(const struct proc_how){ 0 },
                                PROC_ARGV(harness_env("BG_CLI"), "doctor", "a", "b"));
    ck_assert_int_eq(proc_finish(p, WAIT_MS), 2);
    ck_assert_str_eq(p->ebuf, "bindguard: doctor: one command at a time ('b' is one too many)\n");
    p = proc_spawn(&(const struct proc_how){ 0 },
                   PROC_ARGV(harness_env("BG_CLI"), "doctor", "--bogus"));
    ck_assert_int_eq(proc_finish(p, WAIT_MS), 2);
    ck_assert_int_eq(proc_count_lines(p->ebuf, "bindguard: doctor: unknown option", NULL), 1);
}
END_TEST

int main(void)
{
    proc_init("doctor");
    proc_preload_sanitizer();
    proc_cleanup_on_signals();
    Suite *s = suite_create("doctor");
    TCase *tc = tcase_create("doctor");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, doctor_sees_whether_the_library_is_loaded);
    tcase_add_test(tc, doctor_reports_the_configuration);
    tcase_add_test(tc, doctor_reports_the_kernel_backend_requirements);
    tcase_add_test(tc, doctor_cmd_dynamic_static_setuid_script);
    tcase_add_test(tc, doctor_cmd_go);
    tcase_add_test(tc, doctor_bad_arguments);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
