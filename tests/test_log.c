/* test_log - refusal wording, and lines reaching (or not reaching) their target. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "text.h"

/* 14:03:07 UTC on 2022-01-08. */
#define SINCE_140307 (19000 * 86400LL + 14 * 3600 + 3 * 60 + 7)

static void utc(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
}

static struct log_refusal example(void)
{
    struct log_refusal r = {
        .want_addr = "0.0.0.0:8080", .proto = "tcp", .err = EACCES,
        .held_how = "exclusively", .pid = 4242, .comm = "nginx", .uid = 33,
        .held_addr = "0.0.0.0:8080", .since = SINCE_140307, .table = "ws2003 different-user",
        .first = "exclusive wildcard", .second = "default wildcard", .audit = NULL,
    };
    return r;
}

static void assert_refusal(const struct log_refusal *r, const char *want)
{
    char buf[LOG_LINE_MAX];
    int n = log_format_refusal(r, buf, sizeof buf);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(n, (int)strlen(want));
}

START_TEST(refusal_example)
{
    utc();
    struct log_refusal r = example();
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp refused (EACCES): held exclusively by pid 4242 "
                       "(nginx, uid 33) on 0.0.0.0:8080 since 14:03:07 [ws2003 "
                       "different-user, exclusive wildcard vs default wildcard]");
}
END_TEST

START_TEST(refusal_audit)
{
    utc();
    struct log_refusal r = example();
    r.audit = "audit";
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp would be refused (EACCES) [audit]: held "
                       "exclusively by pid 4242 (nginx, uid 33) on 0.0.0.0:8080 since "
                       "14:03:07 [ws2003 different-user, exclusive wildcard vs default "
                       "wildcard]");
}
END_TEST

START_TEST(refusal_inuse_no_comm)
{
    utc();
    struct log_refusal r = example();
    r.want_addr = "[::1]:53";
    r.proto = "udp";
    r.err = EADDRINUSE;
    r.held_how = "by default";
    r.comm = "";
    r.uid = 0;
    r.held_addr = "[::]:53";
    r.since = SINCE_140307 + 3600 * 9 + 59;
    r.table = "ws2003 same-user";
    r.first = "default wildcard";
    r.second = "default specific";
    assert_refusal(&r, "bind [::1]:53/udp refused (EADDRINUSE): held by default by pid 4242 "
                       "(uid 0) on [::]:53 since 23:04:06 [ws2003 same-user, default "
                       "wildcard vs default specific]");
}
END_TEST

START_TEST(refusal_unknown_holder)
{
    utc();
    struct log_refusal r = example();
    r.pid = 0;
    r.comm = NULL;
    r.since = 0;
    r.err = EINVAL;
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp refused (errno 22): held exclusively by an "
                       "unknown process (uid 33) on 0.0.0.0:8080 [ws2003 different-user, "
                       "exclusive wildcard vs default wildcard]");
    r.pid = -1;
    r.uid = LOG_UID_UNKNOWN;
    r.held_how = NULL;
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp refused (errno 22): held by an unknown process "
                       "on 0.0.0.0:8080 [ws2003 different-user, exclusive wildcard vs "
                       "default wildcard]");
    r.pid = 7;
    r.comm = "sshd";
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp refused (errno 22): held by pid 7 (sshd) on "
                       "0.0.0.0:8080 [ws2003 different-user, exclusive wildcard vs default "
                       "wildcard]");
}
END_TEST

START_TEST(refusal_huge_inputs)
{
    utc();
    static char big[20000];
    memset(big, 'c', sizeof big - 1);
    struct log_refusal r = example();
    r.comm = big;
    r.want_addr = big;
    r.held_addr = big;
    int full = log_format_refusal(&r, NULL, 0);
    ck_assert_int_gt(full, 3 * (int)(sizeof big - 1));

    char *whole = malloc((size_t)full + 1);
    ck_assert_ptr_nonnull(whole);
    ck_assert_int_eq(log_format_refusal(&r, whole, (size_t)full + 1), full);
    ck_assert_uint_eq(strlen(whole), (size_t)full);
    ck_assert_ptr_nonnull(strstr(whole, "pid 4242 (ccc"));
    ck_assert_str_eq(whole + full - 9, "wildcard]");

    for (size_t len = 1; len < 200; len += 7) {
        char buf[256];
        memset(buf, 'Z', sizeof buf);
        ck_assert_int_eq(log_format_refusal(&r, buf, len), full);
        ck_assert_uint_eq(strlen(buf), len - 1);
        ck_assert_int_eq(strncmp(buf, whole, len - 1), 0);
        for (size_t i = len; i < sizeof buf; i++)
            ck_assert_int_eq(buf[i], 'Z');
    }
    free(whole);
}
END_TEST

/* Targets. Each test redirects stderr to a file so that it can be read back. */
static int saved_stderr = -1;
static char stderr_path[64];

static void capture_stderr(void)
{
    snprintf(stderr_path, sizeof stderr_path, "/tmp/bg-test-log-err-XXXXXX");
    int fd = mkstemp(stderr_path);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static void read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? 0 : read(fd, buf, len - 1);
    buf[n < 0 ? 0 : n] = '\0';
    if (fd >= 0)
        close(fd);
}

/* Restore stderr and return what was written to it. */
static void captured(char *buf, size_t len)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    read_file(stderr_path, buf, len);
    unlink(stderr_path);
}

static void temp_path(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/bg-test-log-%d-XXXXXX", (int)getpid());
    int fd = mkstemp(buf);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(buf);  /* log_setup creates it */
}

/* Each line of a log file starts "YYYY-MM-DDTHH:MM:SS.mmmZ [PID] ": check it (today's date
 * in UTC, our pid) and strip it, leaving what was logged. */
static void unstamp(char *text)
{
    char today[16], pid[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%dT", &tm);
    snprintf(pid, sizeof pid, "Z [%ld] ", (long)getpid());
    char *r = text, *w = text;
    while (*r) {
        ck_assert_msg(strlen(r) > 23 && strncmp(r, today, 11) == 0 && r[13] == ':' &&
                      r[16] == ':' && r[19] == '.' && strncmp(r + 23, pid, strlen(pid)) == 0,
                      "unstamped line: %s", r);
        r += 23 + strlen(pid);
        char *nl = strchr(r, '\n');
        size_t n = nl ? (size_t)(nl - r + 1) : strlen(r);
        memmove(w, r, n);
        w += n;
        r += n;
    }
    *w = '\0';
}

START_TEST(file_target)
{
    char path[64], out[4096], err[256];
    temp_path(path, sizeof path);
    capture_stderr();
    log_setup(BG_LOG_FILE, path);
    errno = EACCES;
    log_line("hello %d", 42);
    ck_assert_int_eq(errno, EACCES);  /* the caller's errno survives logging */
    read_file(path, out, sizeof out);
    unstamp(out);
    ck_assert_str_eq(out, "bindguard: hello 42\n");
    log_line("second");
    read_file(path, out, sizeof out);
    unstamp(out);
    ck_assert_str_eq(out, "bindguard: hello 42\nbindguard: second\n");

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(st.st_mode & 0777, 0644 & ~mask);
    log_setup(BG_LOG_STDERR, NULL);
    captured(err, sizeof err);
    ck_assert_str_eq(err, "");
    unlink(path);
}
END_TEST

START_TEST(file_descriptor_taken_over)
{
    char path[64], decoy[64], out[4096];
    temp_path(path, sizeof path);
    temp_path(decoy, sizeof decoy);
    log_setup(BG_LOG_FILE, path);
    log_line("one");

    /* A daemonizing host closes every descriptor, then opens its own file, which gets
     * the number bindguard's log file had (dup2 makes that certain). */
    struct stat want, st;
    ck_assert_int_eq(stat(path, &want), 0);
    int ours = -1;
    for (int fd = 3; fd < 1024 && ours < 0; fd++)
        if (fstat(fd, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev)
            ours = fd;
    ck_assert_int_ge(ours, 0);
    int opened = open(decoy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(opened, 0);
    int theirs = dup2(opened, ours);
    ck_assert_int_eq(theirs, ours);
    close(opened);

    log_line("two");
    read_file(decoy, out, sizeof out);
    ck_assert_str_eq(out, "");
    read_file(path, out, sizeof out);
    unstamp(out);
    ck_assert_str_eq(out, "bindguard: one\nbindguard: two\n");

    /* Setting up again must not close the host's descriptor either. */
    log_setup(BG_LOG_OFF, NULL);
    ck_assert_int_eq(fstat(theirs, &st), 0);
    close(theirs);
    unlink(decoy);
    unlink(path);
}
END_TEST

START_TEST(file_unopenable_falls_back)
{
    char err[1024];
    capture_stderr();
    log_setup(BG_LOG_FILE, "/nonexistent-bindguard-dir/x.log");
    log_line("first");
    log_line("second");
    captured(err, sizeof err);
    ck_assert_str_eq(err, "bindguard: cannot open log file /nonexistent-bindguard-dir/x.log "
                          "(No such file or directory); logging to stderr\n"
                          "bindguard: first\nbindguard: second\n");
}
END_TEST

START_TEST(stderr_and_off)
{
    char err[1024];
    capture_stderr();
    log_setup(BG_LOG_STDERR, NULL);
    log_line("to %s", "stderr");
    log_setup(BG_LOG_OFF, NULL);
    log_line("nowhere");
    log_once(LOG_TOPIC_KERNEL, "nowhere either");
    log_setup(BG_LOG_FILE, NULL);  /* no path: stderr */
    log_line("back");
    captured(err, sizeof err);
    ck_assert_str_eq(err, "bindguard: to stderr\nbindguard: back\n");
}
END_TEST

START_TEST(off_writes_nothing_to_file)
{
    char path[64];
    struct stat st;
    temp_path(path, sizeof path);
    log_setup(BG_LOG_FILE, path);
    log_setup(BG_LOG_OFF, NULL);
    log_line("nothing");
    ck_assert_int_ne(stat(path, &st), 0);  /* not even created */
}
END_TEST

START_TEST(long_line_truncated)
{
    char path[64], out[4 * LOG_LINE_MAX];
    static char big[100000];
    memset(big, 'x', sizeof big - 1);
    temp_path(path, sizeof path);
    log_setup(BG_LOG_FILE, path);
    log_line("%s", big);
    log_line("after");
    read_file(path, out, sizeof out);
    unstamp(out);   /* the stamp comes on top of a line's LOG_LINE_MAX */
    size_t len = strlen(out);
    ck_assert_uint_eq(len, LOG_LINE_MAX + strlen("bindguard: after\n"));
    ck_assert_int_eq(strncmp(out, "bindguard: xxx", 14), 0);
    ck_assert_int_eq(out[LOG_LINE_MAX - 2], 'x');
    ck_assert_int_eq(out[LOG_LINE_MAX - 1], '\n');
    ck_assert_str_eq(out + LOG_LINE_MAX, "bindguard: after\n");

    /* Exactly at the limit: nothing lost, one newline. */
    char fits[LOG_LINE_MAX];
    size_t text = LOG_LINE_MAX - strlen("bindguard: ") - 1;
    memset(fits, 'y', text);
    fits[text] = '\0';
    unlink(path);
    log_setup(BG_LOG_FILE, path);
    log_line("%s", fits);
    read_file(path, out, sizeof out);
    unstamp(out);
    ck_assert_uint_eq(strlen(out), LOG_LINE_MAX);
    ck_assert_int_eq(out[LOG_LINE_MAX - 2], 'y');
    ck_assert_int_eq(out[LOG_LINE_MAX - 1], '\n');
    log_setup(BG_LOG_STDERR, NULL);
    unlink(path);
}
END_TEST

START_TEST(control_characters_defanged)
{
    char err[256];
    capture_stderr();
    log_setup(BG_LOG_STDERR, NULL);
    log_line("comm %s done", "evil\nbindguard: forged\033[2J");
    captured(err, sizeof err);
    ck_assert_str_eq(err, "bindguard: comm evil?bindguard: forged?[2J done\n");
}
END_TEST

START_TEST(c1_controls_defanged)
{
    /* C1 as UTF-8 (U+0085, U+009B) and as single bytes; U+0101 (c4 81) and U+00A0
     * (c2 a0) are characters, and an invalid byte that is not C1 passes. */
    char s[] = "a\xc2\x85" "b\x9b[2Jc\xc4\x81\xc2\xa0\xff\x7f";
    size_t n = text_defang(s, strlen(s));
    ck_assert_str_eq(s, "a?b?[2Jc\xc4\x81\xc2\xa0\xff?");
    ck_assert_uint_eq(n, strlen(s));
    /* A truncated sequence at the end: its lead byte alone is not C1. */
    char t[] = "x\xc2";
    ck_assert_uint_eq(text_defang(t, strlen(t)), 2);
    ck_assert_str_eq(t, "x\xc2");

    char err[256];
    capture_stderr();
    log_setup(BG_LOG_STDERR, NULL);
    log_line("comm %s done", "\xc2\x9b" "31m\x9b" "0m");
    captured(err, sizeof err);
    ck_assert_str_eq(err, "bindguard: comm ?31m?0m done\n");

    /* The refusal line names a holder's command defanged, wherever it is printed. */
    utc();
    struct log_refusal r = example();
    r.comm = "ng\xc2\x9b" "2J\x1b";
    assert_refusal(&r, "bind 0.0.0.0:8080/tcp refused (EACCES): held exclusively by pid 4242 "
                       "(ng?2J?, uid 33) on 0.0.0.0:8080 since 14:03:07 [ws2003 "
                       "different-user, exclusive wildcard vs default wildcard]");
}
END_TEST

START_TEST(once_per_topic)
{
    char err[1024];
    log_reset_once();
    capture_stderr();
    log_setup(BG_LOG_STDERR, NULL);
    for (int i = 0; i < 3; i++) {
        log_once(LOG_TOPIC_TABLE_LOCK, "lock %d", i);
        log_once(LOG_TOPIC_TABLE_FULL, "full %d", i);
    }
    log_reset_once();
    log_once(LOG_TOPIC_TABLE_LOCK, "lock again");
    log_once(LOG_TOPIC_TABLE_LOCK, "lock not again");
    captured(err, sizeof err);
    ck_assert_str_eq(err, "bindguard: lock 0\nbindguard: full 0\nbindguard: lock again\n");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log");
    TCase *fmt = tcase_create("format");
    tcase_add_test(fmt, refusal_example);
    tcase_add_test(fmt, refusal_audit);
    tcase_add_test(fmt, refusal_inuse_no_comm);
    tcase_add_test(fmt, refusal_unknown_holder);
    tcase_add_test(fmt, refusal_huge_inputs);
    suite_add_tcase(s, fmt);
    TCase *out = tcase_create("targets");
    tcase_add_test(out, file_target);
    tcase_add_test(out, file_descriptor_taken_over);
    tcase_add_test(out, file_unopenable_falls_back);
    tcase_add_test(out, stderr_and_off);
    tcase_add_test(out, off_writes_nothing_to_file);
    tcase_add_test(out, long_line_truncated);
    tcase_add_test(out, control_characters_defanged);
    tcase_add_test(out, c1_controls_defanged);
    tcase_add_test(out, once_per_topic);
    suite_add_tcase(s, out);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
