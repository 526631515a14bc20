/* proc_child - the child side of proc.h: what the agents (tests/agents/) share, and the
 * clock and addresses the suites use too.
 *
 * No Check here. An agent runs under the shim, perhaps as another user, and reports only
 * by what it prints and how it exits: 0; 1 after saying on stderr what it did not like
 * (EXPECT); 2 for arguments it does not take. */
#ifndef BG_PROC_CHILD_H
#define BG_PROC_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t proc_now_ms(void);
/* ip ("127.0.0.1", "::1": IPv6 if it has a colon) and port as a sockaddr; its length. */
socklen_t proc_sockaddr(const char *ip, int port, struct sockaddr_storage *ss);

/* bind(fd) to ip:port (as proc_sockaddr reads them). */
int proc_bind(int fd, const char *ip, int port);

/* A line on stdout, flushed at once, for the test's proc_line. */
void proc_child_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Read stdin to its end: hold on to everything until the test lets go. */
void proc_child_wait_eof(void);
/* Say `word`, then wait for the test's go-ahead line. */
void proc_child_step(const char *word);
/* How a call came out, as agents print and compare it: "ok" (r >= 0) or errno's name. */
const char *proc_child_outcome(long r);

/* A seccomp filter on this process (and no new privileges): system call `nr` (only with
 * first argument `arg0`, or with any when arg0 < 0) gets `action` (a SECCOMP_RET_*
 * value), every other call is allowed. Returns the notification listener's descriptor
 * for SECCOMP_RET_USER_NOTIF, 0 for other actions, -1 (errno) where the machine can't. */
int proc_child_filter(unsigned nr, long arg0, uint32_t action);

/* A failed expectation: "FILE:LINE: message" on stderr; the exit status becomes 1. */
void proc_child_failed(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Expectations failed so far. */
int proc_child_failures(void);
/* What main returns once its scenario has run: 0, or 1 if an expectation failed. */
int proc_child_status(void);
/* "usage: ..." on stderr; returns 2, main's status for bad arguments. */
int proc_child_usage(const char *usage);

/* An agent that runs one of several scenarios: `AGENT NAME ARGS...`. */
struct proc_child_scenario {
    const char *name;
    int nargs;
    void (*run)(char **args);
};
/* Run the scenario argv[1] names with the arguments after it; main's status. */
int proc_child_dispatch(const struct proc_child_scenario *list, size_t n, int argc, char **argv);

#define EXPECT(cond, ...) ((cond) ? (void)0 : proc_child_failed(__FILE__, __LINE__, __VA_ARGS__))
#define EXPECT_OUTCOME(call, want)                                                     \
    do {                                                                               \
        const char *got_ = proc_child_outcome((long)(call));                           \
        EXPECT(strcmp(got_, (want)) == 0, "%s: %s, want %s", #call, got_, (want));     \
    } while (0)

#endif
