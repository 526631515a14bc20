/* child - a program run by a test with its stdio piped to us, read with bounded waits.
 *
 * Children run in their own process group and die with the test process (a failed
 * assertion must not leave a server holding a port). */
#ifndef BG_TEST_CHILD_H
#define BG_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct child {
    pid_t pid;
    int in, out, err;          /* our ends of its stdio; -1 once closed */
    size_t olen, opos, elen;
    char obuf[65536];          /* all of stdout (clipped); lines are taken from opos */
    char ebuf[16384];          /* all of stderr (clipped) */
    char line[1024];           /* the last line taken */
};

/* How a child starts, besides its argv. */
struct child_how {
    const char *const *env;    /* NAME=VALUE added to the test's environment */
    bool as_nobody;            /* setuid nobody first (callers check for root) */
    bool new_netns;            /* in a network namespace of its own (root) */
};

int64_t child_now_ms(void);   /* CLOCK_MONOTONIC */

/* Start argv (argv[0] a path or a name on PATH); h may be NULL. Asserts it forked. */
struct child *child_start(const struct child_how *h, const char *const *argv);
/* Read what it wrote, until the deadline (child_now_ms() based) or some output. */
void child_pump(struct child *c, int64_t deadline_ms);
/* Its next stdout line (no newline), or NULL at EOF or after timeout_ms. */
const char *child_line(struct child *c, unsigned timeout_ms);
/* Close its stdin, read everything, wait: its exit status, 128+N for signal N, or -1 if
 * it did not end in time (it is then killed). */
int child_finish(struct child *c, unsigned timeout_ms);
/* Signal its process group. */
void child_kill(struct child *c, int sig);
void child_free(struct child *c);

#endif
