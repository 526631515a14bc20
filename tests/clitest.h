/* clitest - what the suites of the bindguard command share: running the command and
 * reading its answer, holding a port under it, and each test's own port table.
 *
 * Every test gets its own table (BINDGUARD_TABLE in our environment, set by
 * clitest_setup and inherited by every child) and ports the kernel just handed out.
 * Children (proc.h) die with the test process, so a failed assertion never leaves a
 * server holding a port. Waits are bounded. */
#ifndef BG_CLITEST_H
#define BG_CLITEST_H

#include <stdbool.h>

#include "proc.h"

#define WAIT_MS   10000u   /* a command or an agent answering */
#define START_MS  20000u   /* a real server coming up (python is slow to start) */
#define MAX_ARGS  24

#define ARGV PROC_ARGV
/* Children get this process's environment, which clitest_setup points at the table. */
#define AS_IS (&(const struct proc_how){.inherit_env = true})

/* The test's table name (BINDGUARD_TABLE). */
extern char table_name[128];
/* Checked fixtures: a fresh table, no BINDGUARD_LOG/MODE/PROFILE, LD_PRELOAD only the
 * sanitizer runtime if any; teardown removes the table. Suites call proc_init first and
 * proc_cleanup last, which also removes the tables of tests that failed. */
void clitest_setup(void);
void clitest_teardown(void);

/* A program, with this process's environment. */
struct proc *start(const char *const *argv);
/* The bindguard under test; a test program built beside the tests (tbind, tserver). */
const char *cli_path(void);
const char *prog(const char *name);

/* One finished run of bindguard: its status and output. */
struct result {
    int status;
    char out[65536], err[16384];
};
/* `bindguard ARGS...`, finished. The result stays valid until the next call. */
struct result *cli_how(const struct proc_how *h, const char *const *args);
struct result *cli(const char *const *args);

int count_lines(const char *s);
bool have_python(void);
/* python3 -m json.tool accepts it (skipped, visibly, without python3). */
void assert_json(const char *text);
/* "key":value in a JSON text, value as written (string quotes included). */
bool json_has(const char *json, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A port the kernel just considered free for TCP and UDP on every address. */
int free_port(void);
/* `bindguard run -- tbind ARGS... -h`, holding its socket until release(); asserts it
 * bound. */
struct proc *hold_how(const struct proc_how *h, const char *const *tbind_args);
struct proc *hold(const char *const *tbind_args);
/* Close the agent's stdin and wait for it (asserts exit 0). */
void release(struct proc *c);
/* Wait until a TCP connect to 127.0.0.1:port succeeds. */
void wait_listening(struct proc *server, int port);

#endif
