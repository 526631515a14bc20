/* benchlib - native against libbindguard.so, measured in the same run.
 *
 * A bench is a list of rows and a function that takes one sample of a row. main()
 * starts the bench binary twice more as long-lived children, one natively and one under
 * LD_PRELOAD with a private table, and asks them for samples in alternation: native,
 * shim, shim, native, ... Each figure is the median of its samples, and each ratio the
 * median of the per-round shim/native pairs, so load that comes and goes on a busy
 * 2-core machine lands on both sides alike. It prints one table, writes one JSON object
 * to $BG_BENCH_JSON if set, and asserts nothing: a missed target is reported, and only
 * a broken bench exits non-zero. */
#ifndef BG_BENCHLIB_H
#define BG_BENCHLIB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "measure.h"

enum bench_unit {
    BENCH_NS,     /* nanoseconds per operation: lower is better */
    BENCH_PER_S,  /* operations per second: higher is better */
};

enum bench_goal {
    GOAL_NONE,
    GOAL_RATIO_AT_MOST,   /* shim/native <= limit */
    GOAL_RATIO_AT_LEAST,  /* shim/native >= limit */
    GOAL_SHIM_AT_MOST,    /* the shim figure itself <= limit (in the row's unit) */
    /* How much more the shim costs here than in row *base, measured in a later phase:
     * ratio / ratio of base <= limit. Load that changed between the phases moves both
     * sides, so the ratios cancel it where the raw shim figures (also printed) do not. */
    GOAL_GROWTH_AT_MOST,
};

struct bench_row {
    const char *name;
    enum bench_unit unit;
    int phase;            /* rows of one phase are sampled together; phases in order */
    enum bench_goal goal;
    double limit;
    const struct bench_row *base;  /* the row a growth is measured from, if any */
    bool derived;         /* never asked for: another row's sample reports it (bench_also) */
};

/* For rows written with designated initializers (unit BENCH_NS and phase 0 by default). */
#define RATIO_AT_MOST(x)   .goal = GOAL_RATIO_AT_MOST, .limit = (x)
#define RATIO_AT_LEAST(x)  .goal = GOAL_RATIO_AT_LEAST, .limit = (x)
#define SHIM_AT_MOST(x)    .goal = GOAL_SHIM_AT_MOST, .limit = (x)
#define GROWTH_AT_MOST(x, from) .goal = GOAL_GROWTH_AT_MOST, .limit = (x), .base = (from)

struct bench {
    const char *name;     /* "calls": the JSON's "bench", the table's and children's tag */
    const char *what;     /* printed above the table */
    const struct bench_row *rows;
    size_t n_rows;
    int rounds;           /* samples per row and side, after one discarded warm-up round */
    /* In each child: once before the first sample, when a row of a new phase comes up
     * (phases only grow), and at the end. Any may be NULL. */
    void (*setup)(void);
    void (*enter_phase)(int phase);
    void (*teardown)(void);
    /* In each child: one sample of row, in its unit. NAN: this side cannot measure it. */
    double (*sample)(size_t row);
};

/* Each bench program defines this one; lib/main.c has main(). */
extern const struct bench bench;
#define BENCH_ROWS(r) .rows = (r), .n_rows = sizeof(r) / sizeof((r)[0])

/* ---- for the sample functions, in the children --------------------------------------- */

/* Which child this is: 0 native, 1 under the shim. Both are alive at once, so a bench
 * gives each side its own addresses and ports. */
int bench_side(void);
bool bench_under_shim(void);
/* From a sample function: the figure of a derived row, measured by this same sample. */
void bench_also(size_t row, double v);
/* One line printed under the table (and put in the JSON). Duplicates are dropped, so
 * both sides may say the same thing. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Something is broken: say what and end the child (the parent then fails the bench). */
_Noreturn void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The loopback host (127.0.0.<n>) for this side's explicit-port binds: nothing else
 * uses it, so only another program's wildcard bind of the same port can get in the way. */
int bench_private_host(void);
/* An explicit-port bind failed with errno: another program holding the port is noted
 * (the bench goes on; that bind is counted as it went), anything else is broken. */
void bench_bind_failed(int port);
/* 127.0.0.<host>:port. Every 127/8 address is this host's loopback. */
struct sockaddr_in bench_loopback(int host, int port);
/* The port a socket is bound to. */
int bench_port_of(int fd);
/* A TCP socket (SOCK_STREAM) or UDP socket bound to 127.0.0.<host>:port (0: any free
 * port), listening if asked; -1 if any step fails (errno says why). */
int bench_bound_socket(int type, int host, int port, bool listening);
/* Close without TIME_WAIT: a bench that makes thousands of connections must not run
 * the loopback's ephemeral ports dry for whatever runs next. */
void bench_close_abort(int fd);
/* Raise RLIMIT_NOFILE toward n: past the hard limit only with CAP_SYS_RESOURCE, else up
 * to it. Returns the descriptors a process may now have (at most n), or -1. */
long bench_raise_nofile(long n);
/* A child of the measuring process that dies with it (servers, workers). */
int bench_fork_dependent(void);

#endif
