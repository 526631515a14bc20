/* log - bindguard's only voice (see log.h).
 *
 * Every line is built in a stack buffer and leaves in one write(2): a line is never torn
 * by another thread or process writing to the same stderr or file (writes of up to
 * PIPE_BUF bytes to a pipe, and O_APPEND writes to a file, land whole), and nothing here
 * can deadlock a host that logs from a signal handler or between fork and exec.
 * The state below is atomics only; log_setup() is meant for start-up (and tests), before
 * other threads log. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"
#include "text.h"

#define PREFIX     "bindguard: "
#define PREFIX_LEN (sizeof PREFIX - 1)

static int target = BG_LOG_STDERR;
static char file_path[CONFIG_PATH_MAX];
/* The log file, opened on first use. The host may close our descriptor behind our back
 * (daemons close every fd at start-up) and reuse its number for something else, so the
 * file's identity is kept beside it and checked before each write. A file renamed away
 * by log rotation keeps receiving lines (rotate with copytruncate). */
static int file_fd = -1;
static unsigned long file_dev, file_ino;
static bool said_once[LOG_TOPIC_COUNT];

static bool is_our_file(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 &&
           (unsigned long)st.st_dev == __atomic_load_n(&file_dev, __ATOMIC_SEQ_CST) &&
           (unsigned long)st.st_ino == __atomic_load_n(&file_ino, __ATOMIC_SEQ_CST);
}

static void write_whole(int fd, const char *buf, size_t len)
{
    /* A short write is left short: a second write could interleave with other writers,
     * and a torn line is worse than a clipped one. */
    while (write(fd, buf, len) < 0 && errno == EINTR)
        ;
}

static void fall_back_to_stderr(int err)
{
    int expected = BG_LOG_FILE;
    if (!__atomic_compare_exchange_n(&target, &expected, BG_LOG_STDERR, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;  /* another thread already said why */
    char why[128];
    log_line("cannot open log file %s (%s); logging to stderr", file_path,
             strerror_r(err, why, sizeof why));
}

/* The log file's descriptor, opening it if needed; -1 if it cannot be opened. *temp says
 * the caller must close it after use (it lost a race to publish it). */
static int log_file(bool *temp)
{
    int fd = __atomic_load_n(&file_fd, __ATOMIC_SEQ_CST);
    *temp = false;
    if (is_our_file(fd))
        return fd;
    int nfd = open(file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (nfd < 0 || fstat(nfd, &st) != 0) {
        int err = errno;
        if (nfd >= 0)
            sys_close(nfd);
        fall_back_to_stderr(err);
        return -1;
    }
    /* Identity before descriptor: a thread that sees the new fd also sees its identity.
     * The old number is not closed: if it failed the check it is no longer ours. */
    __atomic_store_n(&file_dev, (unsigned long)st.st_dev, __ATOMIC_SEQ_CST);
    __atomic_store_n(&file_ino, (unsigned long)st.st_ino, __ATOMIC_SEQ_CST);
    *temp = !__atomic_compare_exchange_n(&file_fd, &fd, nfd, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
    return nfd;
}

/* "2026-12-05T16:06:01.123Z [4242] ": when, and which process spoke (for a refusal, the
 * refused one), for a log file that many processes share. UTC computed here rather than
 * with gmtime_r, which takes glibc's time-zone lock: a line may be logged from a signal
 * handler. */
static size_t file_stamp(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long days = ts.tv_sec / 86400, secs = ts.tv_sec % 86400;
    /* Civil date from days since 1970-01-01 (proleptic Gregorian, eras of 400 years). */
    long long z = days + 719468, era = z / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1), month = (int)(mp < 10 ? mp + 3 : mp - 9);
    long long year = yoe + era * 400 + (month <= 2);
    int n = snprintf(buf, len, "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03ldZ [%ld] ", year,
                     month, day, secs / 3600, secs / 60 % 60, secs % 60,
                     ts.tv_nsec / 1000000, (long)getpid());
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static void emit(const char *line, size_t len)
{
    bool temp;
    int fd;
    switch (__atomic_load_n(&target, __ATOMIC_SEQ_CST)) {
    case BG_LOG_OFF:
        return;
    case BG_LOG_SYSLOG:
        /* syslog(3) takes glibc's syslog lock, so a host logging from a signal handler
         * could deadlock on it; operators who ask for syslog accept that. openlog() is
         * not called: it would replace the host program's own ident and facility for
         * the rest of its life. The facility is given per message instead, and the
         * "bindguard: " prefix stays in the text to say who is speaking. */
        syslog(LOG_USER | LOG_WARNING, "%.*s", (int)(len - 1), line);
        return;
    case BG_LOG_FILE:
        fd = log_file(&temp);
        if (fd >= 0) {
            char stamped[LOG_LINE_MAX + 64];
            size_t n = file_stamp(stamped, sizeof stamped);
            memcpy(stamped + n, line, len);
            write_whole(fd, stamped, n + len);
            if (temp)
                sys_close(fd);
            return;
        }
        break;  /* fell back to stderr */
    default:
        break;
    }
    write_whole(STDERR_FILENO, line, len);
}

static void vlog(const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    int saved = errno;
    memcpy(line, PREFIX, PREFIX_LEN);
    /* Room for the text and its NUL, which the newline then replaces. */
    size_t room = sizeof line - PREFIX_LEN;
    int r = vsnprintf(line + PREFIX_LEN, room, fmt, ap);
    size_t text = r < 0 ? 0 : (size_t)r < room ? (size_t)r : room - 1;
    /* Text from other processes (a holder's comm) and the environment ends up in lines:
     * a control character there could forge a line or drive the terminal (text.h). */
    text = text_defang(line + PREFIX_LEN, text);
    line[PREFIX_LEN + text] = '\n';
    emit(line, PREFIX_LEN + text + 1);
    errno = saved;
}

void log_setup(enum bg_log t, const char *path)
{
    int saved = errno;
    int old = __atomic_exchange_n(&file_fd, -1, __ATOMIC_SEQ_CST);
    if (is_our_file(old))
        sys_close(old);
    if (t == BG_LOG_FILE && (!path || path[0] != '/'))
        t = BG_LOG_STDERR;
    snprintf(file_path, sizeof file_path, "%s", t == BG_LOG_FILE ? path : "");
    __atomic_store_n(&target, (int)t, __ATOMIC_SEQ_CST);
    errno = saved;
}

void log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void log_once(enum log_topic topic, const char *fmt, ...)
{
    unsigned t = (unsigned)topic < LOG_TOPIC_COUNT ? (unsigned)topic : LOG_TOPIC_INTERNAL;
    if (__atomic_exchange_n(&said_once[t], true, __ATOMIC_SEQ_CST))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void log_reset_once(void)
{
    for (unsigned t = 0; t < LOG_TOPIC_COUNT; t++)
        __atomic_store_n(&said_once[t], false, __ATOMIC_SEQ_CST);
}

/* Appends with snprintf's contract for the whole: always NUL-terminated within len,
 * and n counts what the complete text would need. */
struct out {
    char  *buf;
    size_t len;
    int    n;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->n < 0)
        return;
    size_t at = (size_t)o->n;
    va_list ap;
    va_start(ap, fmt);
    int r = at < o->len ? vsnprintf(o->buf + at, o->len - at, fmt, ap)
                        : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    o->n = (r < 0 || r > INT_MAX - o->n) ? -1 : o->n + r;
}

static const char *or_unknown(const char *s)
{
    return s && *s ? s : "?";
}

static void put_errno(struct out *o, int err)
{
    if (err == EADDRINUSE)
        put(o, "(EADDRINUSE)");
    else if (err == EACCES)
        put(o, "(EACCES)");
    else
        put(o, "(errno %d)", err);
}

/* Text from another process, each control shown as '?' (text.h). */
static void put_text(struct out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t left = strlen(s); left;) {
        struct text_unit u = text_next(p, left);
        if (u.control >= 0)
            put(o, "?");
        else
            put(o, "%.*s", (int)u.len, (const char *)p);
        p += u.len;
        left -= u.len;
    }
}

static void put_holder(struct out *o, const struct log_refusal *r)
{
    bool comm = r->comm && *r->comm, uid = r->uid != LOG_UID_UNKNOWN;
    if (r->pid > 0)
        put(o, " by pid %d", r->pid);
    else
        put(o, " by an unknown process");
    if (comm || uid)
        put(o, " (");
    /* Any process names itself: its name is defanged wherever the line goes,
     * `bindguard check` included. */
    if (comm)
        put_text(o, r->comm);
    if (comm && uid)
        put(o, ", ");
    if (uid)
        put(o, "uid %u", (unsigned)r->uid);
    if (comm || uid)
        put(o, ")");
}

/* Local time, because operators compare it with their own clock and other local logs.
 * glibc reads the zone (TZ, /etc/localtime) once, on first use, not on every call. */
static void put_since(struct out *o, int64_t since)
{
    time_t t = (time_t)since;
    struct tm tm;
    if (since <= 0 || (int64_t)t != since || !localtime_r(&t, &tm))
        return;
    put(o, " since %02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int log_format_refusal(const struct log_refusal *r, char *buf, size_t len)
{
    struct out o = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    put(&o, "bind %s/%s %s ", or_unknown(r->want_addr), or_unknown(r->proto),
        r->audit ? "would be refused" : "refused");
    put_errno(&o, r->err);
    put(&o, "%s: held", r->audit ? " [audit]" : "");
    if (r->held_how && *r->held_how)
        put(&o, " %s", r->held_how);
    put_holder(&o, r);
    put(&o, " on %s", or_unknown(r->held_addr));
    put_since(&o, r->since);
    put(&o, " [%s, %s vs %s%s%s]", or_unknown(r->table), or_unknown(r->first),
        or_unknown(r->second), r->rule ? ", " : "", r->rule ? r->rule : "");
    return o.n;
}
