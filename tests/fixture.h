/* fixture - what the suites that put agents and real programs under the shim share
 * (test_options, test_bind, test_dup, test_fork, test_hosts, test_modes, test_parity,
 * test_programs, test_races, test_signals).
 *
 * Each test gets a private table and log (fixture_tcase installs the setup and
 * teardown). Its children run under the shim with both (SHIM, SHIM_WITH) or natively
 * (NATIVE). Only children load the shim: the suite itself never does, so it can run the
 * same agent both ways and compare. The teardown fails a test whose log shows bindguard
 * in trouble (a table it could not use, a lock it could not get, a kernel it could not
 * ask): each quietly turns judging off, which no other assertion would notice. */
#ifndef BG_FIXTURE_H
#define BG_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

#include "proc.h"

#define FIXTURE_WAIT_MS  10000u  /* any single step of a child; only a hang comes near it */
#define FIXTURE_START_MS 15000u  /* a real server coming up (python is slow to start) */
#define FIXTURE_SLOTS    1024u   /* BINDGUARD_TABLE_SLOTS */

/* This test's table name and log path. */
extern char fixture_table[128], fixture_log[256];

/* How a child runs: natively, or under the shim with this test's table and log. */
#define UNDER_SHIM     .shim = true, .table = fixture_table, .log = fixture_log, \
                       .slots = FIXTURE_SLOTS
#define NATIVE         (&(const struct proc_how){.shim = false})
#define SHIM           (&(const struct proc_how){UNDER_SHIM})
#define SHIM_WITH(...) (&(const struct proc_how){UNDER_SHIM, .env = {__VA_ARGS__}})
#define ARGV           PROC_ARGV

/* main of such a suite: the shim must be built; runs it. */
int fixture_main(Suite *s);
/* A test case of s with the fixture and a per-test timeout of 60 s. */
TCase *fixture_tcase(Suite *s, const char *name);
/* A fresh, empty table for the rest of the test (the old one is removed). */
void fixture_new_table(void);

/* An agent started as argv says (its name first), or run to completion: it must exit 0,
 * else its stderr says why. */
struct proc *fixture_agent_start(const struct proc_how *h, const char *const *argv);
struct proc *fixture_agent(const struct proc_how *h, const char *const *argv);
#define AGENT_START(h, ...) fixture_agent_start((h), ARGV(__VA_ARGS__))
#define AGENT(h, ...)       fixture_agent((h), ARGV(__VA_ARGS__))

/* Its next line must be `want`. */
void fixture_expect_line(struct proc *p, const char *want);
/* Write s to its stdin as it is (agents read some words a byte at a time). */
void fixture_send(struct proc *p, const char *s);
/* SIGTERM, then as proc_finish. */
void fixture_terminate(struct proc *p);

/* tbind (tests/agents/tbind.c) with `spec` (its options, space-separated) and -P port:
 * its one line, once it has exited 0. */
const char *fixture_tbind(const struct proc_how *h, const char *spec, int port);
/* The same, the finished process (its line in ->line, its stderr in ->ebuf). */
struct proc *fixture_tbind_run(const struct proc_how *h, const char *spec, int port);
/* tbind holding its socket (-h) until fixture_let_go; it must have said OK. */
struct proc *fixture_tbind_hold(const struct proc_how *h, const char *spec, int port);
void fixture_let_go(struct proc *p);
/* Hold `holder_spec` on a fresh port and run `spec` against it: the second's line; the
 * port in *port_out if not NULL. */
const char *fixture_pair(const struct proc_how *h, const char *holder_spec, const char *spec,
                         int *port_out);

/* tbind's line is "OK <port>". */
void fixture_assert_ok(const char *line, int port);
/* tbind's line is a refused bind (EADDRINUSE or EACCES). */
bool fixture_refused(const char *line);
/* The same result, whatever port it was on. */
bool fixture_same_outcome(const char *a, const char *b);

int fixture_free_port(void);
/* Is `port` bound (TCP: listening)? Read from /proc/net, because probing with a bind of
 * our own could take the port from the very program we wait for. */
bool fixture_port_in_use(int proto, int port);
/* Until p has bound port (FIXTURE_START_MS at most); fails if p exits first. */
void fixture_wait_port(struct proc *p, int proto, int port);
/* The premise of the sharpest tests: Linux lets two SO_REUSEADDR TCP sockets bind the
 * same address while neither listens, so a refusal there can only be bindguard's. */
void fixture_assert_kernel_would_share(void);
/* Live entries of this test's table, as bindguard left them. */
size_t fixture_live_entries(void);
/* Is prog an executable on PATH? */
bool fixture_on_path(const char *prog);

/* This test's whole log, valid until the next call. */
const char *fixture_log_text(void);
/* Its lines containing a and, if given, b. */
int fixture_log_lines(const char *a, const char *b);
/* Refusals of `port` logged, naming `holder` as the process holding it now (0: any). */
int fixture_refusals(const char *proto, int port, pid_t holder);
void fixture_assert_refusal_logged(const char *proto, int port, pid_t holder);

#endif
