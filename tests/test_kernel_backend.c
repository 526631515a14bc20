/* test_kernel_backend - the kernel backend (bindguard kernel) judging static agents.
 *
 * tbind-static (gcc -static, raw system calls: nothing any library can see) binds in a
 * private cgroup v2 directory where `bindguard kernel enable --cgroup` attached the
 * programs, pinned in a private BPF directory (BINDGUARD_KERNEL_DIR), so no other test
 * run and no other process on the host is touched; both are removed at the end. The same
 * agents outside that cgroup are plain Linux, measured in the same run. Skipped, saying
 * why, where root, cgroup v2, the kernel or the BPF build are missing. */
#include "cells.h"
#include "harness.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
enum { ANSWER_MS = 20000, LINE = 160, RACERS = 8, RACE_ROUNDS = 1000 };

static char cg[512], pin_dir[256], pin_env[300], skip_why[2200];

/* ---- the backend, on a private cgroup ------------------------------------------------ */

static bool cgroup2_root(char *buf, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024], mnt[384], type[64];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        const char *sep = strstr(line, " - ");
        found = sep && sscanf(line, "%*s %*s %*s %*s %383s", mnt) == 1 &&
                sscanf(sep + 3, "%63s", type) == 1 && strcmp(type, "cgroup2") == 0;
    }
    if (f)
        fclose(f);
    if (found)
        snprintf(buf, len, "%s", mnt);
    return found;
}

/* A program (the CLI: with the private pin directory) to completion, outside Check's
 * assertions (the suite's setup runs it too): its exit status, stdout+stderr in out. */
static int cli(char *out, size_t len, const char *const *argv)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        putenv(pin_env);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    char sink[512];
    while ((r = read(fds[0], n + 1 < len ? out + n : sink,
                     n + 1 < len ? len - 1 - n : sizeof sink)) > 0)
        if (n + 1 < len)
            n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
#define CLI(out, ...) cli(out, sizeof(out), PROC_ARGV(harness_env("BG_CLI"), __VA_ARGS__))

static bool enable(void)
{
    char out[2048];
    int rc = CLI(out, "kernel", "enable", "--cgroup", cg);
    if (rc != 0)
        snprintf(skip_why, sizeof skip_why, "kernel enable: %s", out);
    return rc == 0;
}

static void disable(void)
{
    char out[1024];
    CLI(out, "kernel", "disable");
}

static bool skipped(void)
{
    if (!skip_why[0])
        return false;
    printf("SKIP: %s\n", skip_why);
    fflush(stdout);
    return true;
}

/* ---- agents --------------------------------------------------------------------------- */

struct bindspec {
    const char *fam, *proto, *addr, *opts, *flags;  /* flags: "-h", "-hl", "-q", "-r" */
    int port;
};

static struct proc *agent(bool enforced, bool nobody, const struct bindspec *b)
{
    const char *argv[16];
    char bin[512], port[16];
    int n = 0;
    snprintf(bin, sizeof bin, "%s/tbind-static", harness_env("BG_AGENTS"));
    snprintf(port, sizeof port, "%d", b->port);
    argv[n++] = bin;
    argv[n++] = "-f"; argv[n++] = b->fam ? b->fam : "4";
    argv[n++] = "-p"; argv[n++] = b->proto ? b->proto : "tcp";
    argv[n++] = "-a"; argv[n++] = b->addr;
    argv[n++] = "-P"; argv[n++] = port;
    if (b->opts && *b->opts) {
        argv[n++] = "-o";
        argv[n++] = b->opts;
    }
    if (b->flags)
        argv[n++] = b->flags;
    argv[n] = NULL;
    struct proc_how how = { .as_nobody = nobody, .cgroup = enforced ? cg : NULL };
    return proc_spawn(&how, argv);
}

/* Its first line with "OK <port>" as "OK", or why there is none. */
static void answer(struct proc *p, char *buf, size_t len)
{
    const char *l = proc_line(p, ANSWER_MS);
    snprintf(buf, len, "%s", l ? l : "(no answer)");
    if (strncmp(buf, "OK ", 3) == 0)
        buf[2] = '\0';
}

/* One bind that exits at once: its answer. */
static void bind_once(bool enforced, bool nobody, const struct bindspec *b, char *buf,
                      size_t len)
{
    struct proc *p = agent(enforced, nobody, b);
    answer(p, buf, len);
    proc_finish(p, ANSWER_MS);
}

static int fresh_port(void)
{
    int port;
    proc_free_ports(&port, 1);
    return port;
}

/* ---- every ws2003 cell ---------------------------------------------------------------- */

/* Windows' sharing option is SO_REUSEPORT for TCP, SO_REUSEADDR for UDP (doc/design.md
 * "Option mapping"); natively SO_EXCLUSIVEADDRUSE doesn't exist, so the native twin of an
 * exclusive socket sets nothing. */
static const char *opt_arg(enum opt o, bool udp, bool native)
{
    if (o == OPT_REUSEADDR)
        return udp ? "reuseaddr" : "reuseport";
    return o == OPT_EXCLUSIVE && !native ? "exclusive" : NULL;
}

/* First holds, second binds the same port: the second's answer. */
static void pair(bool enforced, const struct cell *c, bool udp, char *buf, size_t len)
{
    static const char *const addrs[] = { "0.0.0.0", "127.0.0.1" };
    int port = fresh_port();
    struct bindspec first = { "4", udp ? "udp" : "tcp", addrs[c->first.addr],
                              opt_arg(c->first.opt, udp, !enforced), "-h", port };
    struct bindspec second = { "4", udp ? "udp" : "tcp", addrs[c->second.addr],
                               opt_arg(c->second.opt, udp, !enforced), NULL, port };
    struct proc *h = agent(enforced, false, &first);
    char held[LINE];
    answer(h, held, sizeof held);
    if (strcmp(held, "OK") == 0)
        bind_once(enforced, c->nobody, &second, buf, len);
    else
        snprintf(buf, len, "(holder: %.100s)", held);
    proc_finish(h, ANSWER_MS);
}

/* The TSV's "default" is Windows' plain default class: enabled with --default windows for
 * these cells (test_cells does the same), then back to the default (exclusive). */
START_TEST(ws2003_cells)
{
    if (skipped())
        return;
    char out[2048];
    ck_assert_msg(CLI(out, "kernel", "enable", "--cgroup", cg, "--default", "windows") == 0,
                  "%s", out);
    cells_load_tsv();
    int checked = 0, failed = 0;
    for (int i = 0; i < TSV_ROWS; i++) {
        const struct cell *c = &cells_tsv[i];
        if (strcmp(c->profile, "ws2003") != 0)
            continue;
        for (int udp = 0; udp < 2; udp++) {
            char want[LINE], got[LINE];
            if (c->verdict == V_INUSE)
                snprintf(want, sizeof want, "ERR EADDRINUSE bind");
            else if (c->verdict == V_ACCESS)
                snprintf(want, sizeof want, "ERR EACCES bind");
            else  /* allowed: what plain Linux answers (guard: refuse only) */
                pair(false, c, udp, want, sizeof want);
            pair(true, c, udp, got, sizeof got);
            checked++;
            if (strcmp(want, got) != 0) {
                failed++;
                fprintf(stderr, "FAIL row %d [%s] %s: expected '%s', got '%s'\n", c->row,
                        c->text, udp ? "udp" : "tcp", want, got);
            }
        }
    }
    printf("ws2003 cells, static agents, kernel backend: %d checked, %d failed\n", checked,
           failed);
    ck_assert_msg(enable(), "%s", skip_why);
    ck_assert_int_eq(checked, 2 * 2 * ROWS_PER_TABLE);
    ck_assert_msg(failed == 0, "%d of %d cells failed (FAIL lines above)", failed, checked);
}
END_TEST

/* ---- SO_EXCLUSIVEADDRUSE from a static program ---------------------------------------- */

START_TEST(exclusiveaddruse_option)
{
    if (skipped())
        return;
    char got[LINE];
    struct bindspec b = { "4", "tcp", "127.0.0.1", "exclusive", "-q", 0 };
    struct proc *p = agent(true, false, &b);
    answer(p, got, sizeof got);
    ck_assert_str_eq(got, "EXCL 1");
    answer(p, got, sizeof got);
    ck_assert_str_eq(got, "OK");  /* port 0 */
    proc_finish(p, ANSWER_MS);
    b.opts = NULL;
    p = agent(true, false, &b);
    answer(p, got, sizeof got);
    ck_assert_str_eq(got, "EXCL 0");
    proc_finish(p, ANSWER_MS);
    /* Either order of a sharing option and the exclusive one: EINVAL. */
    static const char *const clash[] = { "reuseport,exclusive", "exclusive,reuseport" };
    for (int i = 0; i < COUNT(clash); i++) {
        b.opts = clash[i];
        bind_once(true, false, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "ERR EINVAL setsockopt") == 0, "%s: %s", clash[i], got);
    }
    /* Outside the enforced cgroup, plain Linux: no such option. */
    b.opts = "exclusive";
    bind_once(false, false, &b, got, sizeof got);
    ck_assert_str_eq(got, "ERR ENOPROTOOPT setsockopt");
}
END_TEST

/* ---- the hijacks ------------------------------------------------------------------------ */

/* A TCP 0.0.0.0:P bound with SO_REUSEADDR before listen; the hijacker binds 127.0.0.1:P
 * with SO_REUSEADDR. Plain Linux lets it; the backend refuses it (exclusive wildcard held,
 * a specific bind: ACCESS). */
static void hijack(bool enforced, char *got, size_t len)
{
    int port = fresh_port();
    struct bindspec holder = { "4", "tcp", "0.0.0.0", "reuseaddr", "-h", port };
    struct bindspec thief = { "4", "tcp", "127.0.0.1", "reuseaddr", NULL, port };
    struct proc *h = agent(enforced, false, &holder);
    char held[LINE];
    answer(h, held, sizeof held);
    ck_assert_str_eq(held, "OK");
    bind_once(enforced, false, &thief, got, len);
    proc_finish(h, ANSWER_MS);
}

START_TEST(hijack_refused_and_plain_linux_allows_it)
{
    if (skipped())
        return;
    char got[LINE];
    hijack(false, got, sizeof got);
    ck_assert_msg(strcmp(got, "OK") == 0, "plain Linux: %s", got);
    hijack(true, got, sizeof got);
    ck_assert_str_eq(got, "ERR EACCES bind");
    char log[4096];
    CLI(log, "kernel", "log");
    ck_assert_msg(strstr(log, "refused (EACCES)") && strstr(log, "tbind-static"),
                  "kernel log: %s", log);
}
END_TEST

/* ---- lifetimes ---------------------------------------------------------------------------- */

START_TEST(close_and_kill_free_the_port)
{
    if (skipped())
        return;
    int port = fresh_port();
    char got[LINE];
    struct bindspec holder = { "4", "tcp", "0.0.0.0", NULL, "-h", port };
    struct bindspec second = { "4", "tcp", "127.0.0.1", NULL, NULL, port };
    struct proc *h = agent(true, false, &holder);
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    bind_once(true, false, &second, got, sizeof got);
    ck_assert_str_eq(got, "ERR EACCES bind");
    proc_finish(h, ANSWER_MS);  /* exits: its socket is released */
    bind_once(true, false, &second, got, sizeof got);
    ck_assert_msg(strcmp(got, "OK") == 0, "after the holder closed: %s", got);
    h = agent(true, false, &holder);
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    proc_kill(h);
    bind_once(true, false, &second, got, sizeof got);
    ck_assert_msg(strcmp(got, "OK") == 0, "after the holder was SIGKILLed: %s", got);
}
END_TEST

/* A bind the kernel refused after the programs allowed it (another address family's
 * socket natively in the way is not needed: an address this host doesn't have) holds
 * nothing once its pending claim expires (20 ms). */
START_TEST(failed_kernel_bind_holds_nothing)
{
    if (skipped())
        return;
    int port = fresh_port();
    char got[LINE];
    struct bindspec lost = { "4", "tcp", "192.0.2.1", NULL, "-h", port };
    struct proc *p = agent(true, false, &lost);
    answer(p, got, sizeof got);
    ck_assert_str_eq(got, "ERR EADDRNOTAVAIL bind");
    usleep(50 * 1000);
    struct bindspec next = { "4", "tcp", "0.0.0.0", NULL, NULL, port };
    bind_once(true, false, &next, got, sizeof got);
    ck_assert_msg(strcmp(got, "OK") == 0, "a failed bind kept the port: %s", got);
    proc_finish(p, ANSWER_MS);
}
END_TEST

START_TEST(port_zero_is_recorded)
{
    if (skipped())
        return;
    struct bindspec any = { "4", "udp", "0.0.0.0", NULL, "-h", 0 };
    struct proc *p = agent(true, false, &any);
    const char *l = proc_line(p, ANSWER_MS);
    int port = 0;
    ck_assert_msg(l && sscanf(l, "OK %d", &port) == 1 && port > 0, "port 0: %s", l);
    char got[LINE];
    struct bindspec second = { "4", "udp", "127.0.0.1", NULL, NULL, port };
    bind_once(true, false, &second, got, sizeof got);
    ck_assert_str_eq(got, "ERR EACCES bind");
    proc_finish(p, ANSWER_MS);
}
END_TEST

/* A dual-stack [::] holds IPv4 too when exclusive (cross-stack: EACCES); a v4-mapped
 * bind holds its IPv4 address. */
START_TEST(dual_stack_and_v4_mapped)
{
    if (skipped())
        return;
    char got[LINE];
    int port = fresh_port();
    struct bindspec dual = { "d", "tcp", "::", "exclusive", "-h", port };
    struct proc *h = agent(true, false, &dual);
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    struct bindspec v4 = { "4", "tcp", "127.0.0.1", "reuseaddr", NULL, port };
    bind_once(true, false, &v4, got, sizeof got);
    ck_assert_str_eq(got, "ERR EACCES bind");
    proc_finish(h, ANSWER_MS);

    port = fresh_port();
    struct bindspec mapped = { "d", "udp", "::ffff:127.0.0.1", NULL, "-h", port };
    h = agent(true, false, &mapped);
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    struct bindspec same = { "4", "udp", "127.0.0.1", "reuseaddr", NULL, port };
    bind_once(true, true, &same, got, sizeof got);
    ck_assert_msg(strncmp(got, "ERR E", 5) == 0, "v4 bind beside a v4-mapped holder: %s", got);
    proc_finish(h, ANSWER_MS);
}
END_TEST

/* The library steps aside inside the enforced cgroup: SO_EXCLUSIVEADDRUSE is the
 * kernel's, and the refusal is the kernel backend's (its log), not the library's. */
START_TEST(library_steps_aside)
{
    if (skipped())
        return;
    char table[128], log[256], got[LINE], bin[512], port_s[16], klog[4096];
    harness_table_name("kernel", table, sizeof table);
    proc_log_path(log, sizeof log);
    snprintf(bin, sizeof bin, "%s/tbind", harness_env("BG_AGENTS"));
    int port = fresh_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    struct proc_how how = { .shim = true, .table = table, .log = log, .cgroup = cg };
    CLI(klog, "kernel", "log");  /* drain earlier refusals */
    struct proc *h = proc_spawn(&how, PROC_ARGV(bin, "-f", "4", "-p", "tcp", "-a", "0.0.0.0",
                                                "-P", port_s, "-o", "exclusive", "-q", "-h"));
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "EXCL 1");
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    struct proc *t = proc_spawn(&how, PROC_ARGV(bin, "-f", "4", "-p", "tcp", "-a", "127.0.0.1",
                                                "-P", port_s));
    answer(t, got, sizeof got);
    proc_finish(t, ANSWER_MS);
    proc_finish(h, ANSWER_MS);
    ck_assert_str_eq(got, "ERR EACCES bind");
    char *lib_log = proc_slurp(log);
    ck_assert_msg(proc_count_lines(lib_log, "refused", NULL) == 0, "the library judged: %s",
                  lib_log);
    free(lib_log);
    unlink(log);
    harness_table_remove(table);
    CLI(klog, "kernel", "log");
    ck_assert_msg(strstr(klog, "refused (EACCES)") && strstr(klog, "(tbind"), "%s", klog);
}
END_TEST

/* io_uring's IORING_OP_BIND (6.11+) goes past bind(2) and any library: refused too. */
START_TEST(io_uring_bind_refused)
{
    if (skipped())
        return;
    char bin[512], port_s[16], got[LINE];
    snprintf(bin, sizeof bin, "%s/tbind_uring", harness_env("BG_AGENTS"));
    int port = fresh_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    struct bindspec holder = { "4", "tcp", "0.0.0.0", NULL, "-h", port };
    struct proc *h = agent(true, false, &holder);
    answer(h, got, sizeof got);
    ck_assert_str_eq(got, "OK");
    struct proc_how how = { .cgroup = cg };
    struct proc *u = proc_spawn(&how, PROC_ARGV(bin, "127.0.0.1", port_s));
    answer(u, got, sizeof got);
    proc_finish(u, ANSWER_MS);
    proc_finish(h, ANSWER_MS);
    if (strncmp(got, "UNSUPPORTED", 11) == 0) {
        printf("SKIP: io_uring bind: %s\n", got);
        return;
    }
    ck_assert_str_eq(got, "ERR EACCES bind");
}
END_TEST

/* ---- races ---------------------------------------------------------------------------- */

START_TEST(racers_one_winner)
{
    if (skipped())
        return;
    int port = fresh_port();
    struct bindspec b = { "4", "tcp", "0.0.0.0", "exclusive", "-r", port };
    struct proc *p[RACERS];
    for (int i = 0; i < RACERS; i++)
        p[i] = agent(true, i % 2 == 1, &b);
    int bad = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int winners = 0;
        for (int i = 0; i < RACERS; i++)
            proc_say(p[i], "b");
        for (int i = 0; i < RACERS; i++) {
            const char *l = proc_line(p[i], ANSWER_MS);
            ck_assert_msg(l != NULL, "racer %d silent in round %d", i, round);
            winners += strncmp(l, "OK", 2) == 0;
            ck_assert_msg(strncmp(l, "OK", 2) == 0 || strcmp(l, "ERR EADDRINUSE bind") == 0,
                          "round %d: %s", round, l);
        }
        if (winners != 1 && bad++ < 5)
            fprintf(stderr, "round %d: %d winners\n", round, winners);
        for (int i = 0; i < RACERS; i++)
            proc_say(p[i], "c");
        for (int i = 0; i < RACERS; i++)
            ck_assert_ptr_nonnull(proc_line(p[i], ANSWER_MS));
    }
    for (int i = 0; i < RACERS; i++)
        proc_finish(p[i], ANSWER_MS);
    printf("races: %d rounds of %d static agents, %d rounds without exactly one winner\n",
           RACE_ROUNDS, RACERS, bad);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- tamper, disable -------------------------------------------------------------------- */

static int obj_get(void *path)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.pathname = (uint64_t)(uintptr_t)path;
    int fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof attr);
    return fd >= 0 ? 0 : errno == EACCES || errno == EPERM ? 1 : 2;
}

START_TEST(nobody_cannot_open_the_pins)
{
    if (skipped())
        return;
    static const char *const pins[] = { "bindings", "socks", "events", "prog_bg_bind4",
                                        "link_bg_bind4" };
    uid_t uid;
    gid_t gid;
    harness_nobody(&uid, &gid);
    struct stat st;
    ck_assert_int_eq(stat(pin_dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    for (int i = 0; i < COUNT(pins); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", pin_dir, pins[i]);
        ck_assert_msg(obj_get(path) == 0, "root cannot open %s", path);
        pid_t pid = harness_fork(obj_get, path, uid, gid);
        ck_assert_msg(harness_wait(pid, ANSWER_MS) == 1, "nobody opened %s", path);
    }
}
END_TEST

/* Last: disable leaves nothing attached (bpftool) or pinned, and enable comes back. */
START_TEST(disable_leaves_nothing)
{
    if (skipped())
        return;
    char out[4096];
    disable();
    ck_assert_msg(access(pin_dir, F_OK) != 0, "%s still there", pin_dir);
    ck_assert_int_eq(cli(out, sizeof out, PROC_ARGV("bpftool", "cgroup", "show", cg)), 0);
    ck_assert_msg(!strstr(out, "bg_"), "still attached to %s: %s", cg, out);
    ck_assert_msg(enable(), "enable again: %s", skip_why);
    ck_assert_int_eq(cli(out, sizeof out, PROC_ARGV("bpftool", "cgroup", "show", cg)), 0);
    ck_assert_msg(strstr(out, "bg_bind4"), "not attached after enable: %s", out);
}
END_TEST

/* run --kernel: CMD's exit status, its own cgroup (gone afterwards) with the programs on,
 * and, when it was the only user, nothing left pinned. Without root: one line, exit 2. */
START_TEST(run_kernel)
{
    if (skipped())
        return;
    char out[2048], dir[300], script[1200];
    snprintf(dir, sizeof dir, "%.250s-run", pin_dir);
    /* Inside: our own cgroup is bindguard-run-<pid>, and SO_EXCLUSIVEADDRUSE is known. */
    snprintf(script, sizeof script,
             "grep -q bindguard-run- /proc/self/cgroup && %s/tbind-static -f 4 -p tcp "
             "-a 127.0.0.1 -P 0 -o exclusive -q | grep -q 'EXCL 1' && exit 7",
             harness_env("BG_AGENTS"));
    snprintf(pin_env, sizeof pin_env, "BINDGUARD_KERNEL_DIR=%.270s", dir);  /* its own pin dir */
    int rc = cli(out, sizeof out, PROC_ARGV(harness_env("BG_CLI"), "run", "--kernel", "--",
                                            "sh", "-c", script));
    snprintf(pin_env, sizeof pin_env, "BINDGUARD_KERNEL_DIR=%s", pin_dir);
    ck_assert_msg(rc == 7, "run --kernel exited %d: %s", rc, out);
    ck_assert_msg(access(dir, F_OK) != 0, "%s left behind", dir);
    ck_assert_int_eq(cli(out, sizeof out, PROC_ARGV("sh", "-c",
                     "ls -d /sys/fs/cgroup/unified/*/bindguard-run-* "
                     "/sys/fs/cgroup/unified/bindguard-run-* 2>/dev/null | wc -l")), 0);

    uid_t uid;
    gid_t gid;
    harness_nobody(&uid, &gid);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s run --kernel -- true", harness_env("BG_CLI"));
    struct proc_how how = { .as_nobody = true };
    struct proc *p = proc_spawn(&how, PROC_ARGV("sh", "-c", cmd));
    rc = proc_finish(p, ANSWER_MS);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(p->ebuf, "bindguard: run: --kernel: needs root") &&
                  proc_count_lines(p->ebuf, "bindguard", NULL) == 1, "%s", p->ebuf);
}
END_TEST

/* The preloaded library never links libbpf (only the command does). */
START_TEST(library_without_libbpf)
{
    char out[8192];
    ck_assert_int_eq(cli(out, sizeof out, PROC_ARGV("readelf", "-d", harness_env("BG_LIB"))), 0);
    ck_assert_msg(strstr(out, "NEEDED") && !strstr(out, "libbpf"), "%s", out);
}
END_TEST

/* ---- the suite -------------------------------------------------------------------------- */

static void setup_backend(void)
{
    char root[400];
    if (!harness_is_root()) {
        snprintf(skip_why, sizeof skip_why, "the kernel backend needs root");
        return;
    }
    if (!cgroup2_root(root, sizeof root)) {
        snprintf(skip_why, sizeof skip_why, "no cgroup v2 mount");
        return;
    }
    snprintf(cg, sizeof cg, "%s/bg-test-kernel-%d", root, (int)getpid());
    snprintf(pin_dir, sizeof pin_dir, "/sys/fs/bpf/bg-test-kernel-%d", (int)getpid());
    snprintf(pin_env, sizeof pin_env, "BINDGUARD_KERNEL_DIR=%s", pin_dir);
    if (mkdir(cg, 0755) != 0) {
        snprintf(skip_why, sizeof skip_why, "cannot create %s: %s", cg, strerror(errno));
        return;
    }
    enable();
}

static void teardown_backend(void)
{
    if (!cg[0])
        return;
    proc_kill_all();
    disable();
    char kill_path[600];
    snprintf(kill_path, sizeof kill_path, "%s/cgroup.kill", cg);
    for (int i = 0; i < 100 && rmdir(cg) != 0 && errno == EBUSY; i++) {
        int fd = open(kill_path, O_WRONLY);
        if (fd >= 0 && write(fd, "1", 1) < 0)
            perror(kill_path);
        if (fd >= 0)
            close(fd);
        usleep(10 * 1000);
    }
}

static void on_signal(int sig)
{
    teardown_backend();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(void)
{
    proc_init("kernel");
    proc_preload_sanitizer();
    setup_backend();
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    Suite *s = suite_create("kernel_backend");
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        { "option", exclusiveaddruse_option },
        { "hijack", hijack_refused_and_plain_linux_allows_it },
        { "lifetimes", close_and_kill_free_the_port },
        { "failed_bind", failed_kernel_bind_holds_nothing },
        { "port_zero", port_zero_is_recorded },
        { "dual_stack", dual_stack_and_v4_mapped },
        { "tamper", nobody_cannot_open_the_pins },
        { "library", library_steps_aside },
        { "io_uring", io_uring_bind_refused },
        { "run_kernel", run_kernel },
        { "no_libbpf", library_without_libbpf },
        { "cells", ws2003_cells },
        { "races", racers_one_winner },
        { "disable", disable_leaves_nothing },
    };
    for (int i = 0; i < COUNT(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    int rc = harness_run(s);
    teardown_backend();
    proc_cleanup();
    return rc;
}
