/* test_cli_table - the files bindguard's commands touch: read-only commands never create
 * a table, and gc removes nothing but a port table (clitest.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clitest.h"
#include "harness.h"
#include "table.h"

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* This user's table file under a prefix (BINDGUARD_TABLE): `<prefix>.<euid>`, under
 * /dev/shm for a shm name. */
static void own_file(const char *prefix, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s.%u", prefix[0] == '/' && strchr(prefix + 1, '/') ? "" : "/dev/shm",
             prefix, (unsigned)geteuid());
}

/* A table at path, made the way every table is: by a bind under bindguard. */
static void make_table(const char *path)
{
    int port = free_port();
    struct proc *h = hold(ARGV("-a", "127.0.0.1", "-P", proc_num(port)));
    release(h);
    ck_assert_msg(exists(path), "no table at %s after a bind", path);
}

/* A lock word naming a thread that is gone (written by hand: the kernel clears a dead
 * holder's): every lock attempt would time out. */
static void orphan_the_lock(const char *path)
{
    uint32_t word = (uint32_t)proc_gone_pid();
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &word, sizeof word, offsetof(struct table_header, lock)),
                     (ssize_t)sizeof word);
    close(fd);
}

/* The command between the first pair of backticks in text, run as given. */
static struct result *run_advice(const char *text)
{
    const char *a = strchr(text, '`'), *b = a ? strchr(a + 1, '`') : NULL;
    ck_assert_msg(a && b, "no command advised: %s", text);
    static char cmd[512];
    snprintf(cmd, sizeof cmd, "%.*s", (int)(b - a - 1), a + 1);
    ck_assert_msg(strncmp(cmd, "bindguard ", 10) == 0, "advice: %s", cmd);
    const char *args[MAX_ARGS] = {0};
    size_t n = 0;
    for (char *save, *w = strtok_r(cmd + 10, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        ck_assert_uint_lt(n, MAX_ARGS - 1);
        args[n++] = w;
    }
    return cli(args);
}

/* ---- read-only commands -------------------------------------------------------------------- */

START_TEST(read_only_commands_create_no_table)
{
    char dir[128], path[256];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/typo", dir);
    static const char *const cases[][4] = {
        {"list"}, {"list", "--json"}, {"list", "--stale"}, {"gc"}, {"gc", "--rebuild"},
    };
    for (int k = 0; k < 2; k++) {
        char shm[128];
        proc_table_name(shm, sizeof shm);
        const char *name = k == 0 ? shm : path;
        char file[300];
        own_file(name, file, sizeof file);
        harness_table_remove(name);
        setenv("BINDGUARD_TABLE", name, 1);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct result *r = cli(cases[i]);
            ck_assert_msg(r->status == 1 && count_lines(r->err) == 1 &&
                          strstr(r->err, "no port table ") && strstr(r->err, file) &&
                          r->out[0] == '\0', "%s %s on %s: %d\n%s%s", cases[i][0],
                          cases[i][1] ? cases[i][1] : "", name, r->status, r->out, r->err);
            ck_assert_msg(!exists(file), "%s created %s", cases[i][0], file);
        }
        /* check still answers from the kernel, and says the table is missing. */
        int port = free_port();
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        struct result *r = cli(ARGV("check", addr));
        ck_assert_msg(r->status == 3 && count_lines(r->out) == 1 &&
                      strstr(r->out, "no port table") && strstr(r->out, "the kernel would "
                      "let it bind"), "check, free: %d\n%s%s", r->status, r->out, r->err);
        struct proc *native = start(ARGV(prog("tbind"), "-a", "127.0.0.1", "-P",
                                         proc_num(port), "-l", "-h"));
        ck_assert(proc_line(native, WAIT_MS));
        r = cli(ARGV("check", addr));
        ck_assert_msg(r->status == 1 && strstr(r->out, "EADDRINUSE") &&
                      strstr(r->out, "no port table") && strstr(r->out, proc_num(native->pid)),
                      "check, held natively: %d\n%s%s", r->status, r->out, r->err);
        r = cli(ARGV("check", "--json", addr));
        assert_json(r->out);
        ck_assert_msg(r->status == 1 && json_has(r->out, "\"table\":null"), "%s", r->out);
        release(native);
        ck_assert_msg(!exists(file), "check created %s", file);
    }
    rmdir(dir);
}
END_TEST

/* ---- gc removes only tables ------------------------------------------------------------------- */

/* gc's one line for a file that is not a table: left alone, or (a symlink, which is never
 * taken for this user's table) passed over as not a regular file. */
static bool left_alone(const char *err)
{
    return strstr(err, "leaves this file alone") || strstr(err, "not a regular file");
}

START_TEST(gc_rebuild_never_removes_a_file_that_is_not_a_table)
{
    char dir[128], notes[256], empty[256], link[256];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(notes, sizeof notes, "%s/notes.%u", dir, (unsigned)geteuid());
    snprintf(empty, sizeof empty, "%s/empty.%u", dir, (unsigned)geteuid());
    snprintf(link, sizeof link, "%s/link.%u", dir, (unsigned)geteuid());
    FILE *f = fopen(notes, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1000; i++)
        fputs("the user's own notes, not a bindguard table\n", f);
    fclose(f);
    ck_assert_int_eq(close(open(empty, O_WRONLY | O_CREAT, 0644)), 0);
    ck_assert_int_eq(symlink(notes, link), 0);
    /* Each stands where this user's table would be: `<prefix>.<euid>`. */
    const char *const files[] = { notes, empty, link };
    char prefixes[3][256];
    for (size_t i = 0; i < 3; i++) {
        snprintf(prefixes[i], sizeof prefixes[i], "%.*s", (int)(strrchr(files[i], '.') - files[i]),
                 files[i]);
        setenv("BINDGUARD_TABLE", prefixes[i], 1);
        struct result *r = cli(ARGV("gc"));
        ck_assert_msg(r->status == 1 && count_lines(r->err) == 1 && !strstr(r->err, "--rebuild") &&
                      left_alone(r->err), "gc %s: %d %s", files[i],
                      r->status, r->err);
        r = cli(ARGV("gc", "--rebuild"));
        ck_assert_msg(r->status == 1 && count_lines(r->err) == 1 && r->out[0] == '\0' &&
                      strstr(r->err, "bindguard: gc: ") && left_alone(r->err),
                      "gc --rebuild %s: %d %s%s", files[i], r->status, r->out, r->err);
        ck_assert_msg(exists(files[i]), "gc --rebuild removed %s", files[i]);
        r = cli(ARGV("list"));
        ck_assert_msg(r->status == 1 && count_lines(r->err) == 1, "list %s: %d %s", files[i],
                      r->status, r->err);
    }
    struct stat st;
    ck_assert_int_eq(stat(notes, &st), 0);
    ck_assert_int_eq(st.st_size, 1000 * 44);
    unlink(link);
    unlink(empty);
    unlink(notes);
    rmdir(dir);
}
END_TEST

START_TEST(gc_rebuild_removes_an_unusable_table_as_advised)
{
    char dir[128], prefix[256], path[300];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(prefix, sizeof prefix, "%s/table", dir);
    own_file(prefix, path, sizeof path);
    setenv("BINDGUARD_TABLE", prefix, 1);
    make_table(path);
    orphan_the_lock(path);
    setenv("BINDGUARD_LOCK_TIMEOUT_MS", "100", 1);
    struct result *r = cli(ARGV("gc"));
    ck_assert_msg(r->status == 1 && strstr(r->err, "no longer exists") &&
                  strstr(r->err, "gc --rebuild --table ") && count_lines(r->err) == 1,
                  "gc, orphaned lock: %d %s", r->status, r->err);
    /* The advice, run as written (without our BINDGUARD_TABLE), works. */
    static char advice[1024];
    snprintf(advice, sizeof advice, "%.1023s", r->err);
    unsetenv("BINDGUARD_TABLE");
    r = run_advice(advice);
    ck_assert_msg(r->status == 0 && strstr(r->out, "bindguard: gc: removed"), "advice: %d %s%s",
                  r->status, r->out, r->err);
    ck_assert(!exists(path));
    setenv("BINDGUARD_TABLE", prefix, 1);
    unsetenv("BINDGUARD_LOCK_TIMEOUT_MS");

    /* Truncated on disk: it fails validation, and is still ours by its magic. */
    make_table(path);
    ck_assert_int_eq(truncate(path, 4096), 0);
    r = cli(ARGV("list"));
    ck_assert_msg(r->status == 1 && count_lines(r->err) == 1, "truncated: %d %s", r->status,
                  r->err);
    r = cli(ARGV("gc", "--rebuild"));
    ck_assert_msg(r->status == 0 && !exists(path), "truncated, gc --rebuild: %d %s%s",
                  r->status, r->out, r->err);

    /* Root's table: nobody's gc works on nobody's own table only (one table per user), so
     * it can neither remove nor rebuild root's; root's own gc --rebuild can. */
    if (!harness_is_root()) {
        printf("SKIP gc --rebuild of root's table as nobody: needs root\n");
    } else {
        char shm[128], file[200];
        proc_table_name(shm, sizeof shm);
        own_file(shm, file, sizeof file);
        setenv("BINDGUARD_TABLE", shm, 1);
        make_table(file);
        orphan_the_lock(file);
        setenv("BINDGUARD_LOCK_TIMEOUT_MS", "100", 1);
        struct proc_how as_nobody = { .inherit_env = true, .as_nobody = true };
        r = cli_how(&as_nobody, ARGV("gc", "--rebuild"));
        ck_assert_msg(r->status == 1 && count_lines(r->err) == 1 && exists(file),
                      "as nobody: %d %s%s", r->status, r->out, r->err);
        r = cli(ARGV("gc", "--rebuild"));
        ck_assert_msg(r->status == 0 && !exists(file), "root: %d %s%s", r->status, r->out,
                      r->err);
        unsetenv("BINDGUARD_LOCK_TIMEOUT_MS");
    }
    rmdir(dir);
}
END_TEST

static Suite *cli_table_suite(void)
{
    Suite *s = suite_create("cli_table");
    TCase *tc = tcase_create("cli_table");
    tcase_add_checked_fixture(tc, clitest_setup, clitest_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, read_only_commands_create_no_table);
    tcase_add_test(tc, gc_rebuild_never_removes_a_file_that_is_not_a_table);
    tcase_add_test(tc, gc_rebuild_removes_an_unusable_table_as_advised);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    proc_init("clitable");
    proc_cleanup_on_signals();
    int rc = harness_run(cli_table_suite());
    proc_cleanup();
    return rc;
}
