/* harness - what every bindguard test shares: running a Check suite, private tables,
 * paths handed over by meson, and running code in a child process (as another user). */
#ifndef BG_HARNESS_H
#define BG_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Run the suite, print Check's summary, return the process exit status. */
int harness_run(Suite *s);

/* Environment handed over by meson (tests/meson.build); abort the test if missing. */
const char *harness_env(const char *name);      /* BG_LIB, BG_CLI, BG_DATA, ... */
/* A path below tests/data. */
void harness_data_path(const char *file, char *buf, size_t len);
/* The path of the agent (a program of tests/agents/, built in BG_AGENTS) called `name`;
 * false if there is none by that name. */
bool harness_agent_path(const char *name, char *buf, size_t len);
/* A fresh private table name ("/bg-test-<tag>-<pid>-<n>"), its file removed first. */
void harness_table_name(const char *tag, char *buf, size_t len);
void harness_table_remove(const char *name);
/* Is there a table file under this name? */
bool harness_table_exists(const char *name);
/* The file of this user's table under prefix `name`, as own_open finds it (own.h):
 * "<name>.<euid>", an absolute path as it is, a POSIX shm name below /dev/shm. */
void harness_table_path(const char *name, char *path, size_t len);

bool harness_is_root(void);
/* uid/gid of `nobody` (65534 if not found). */
void harness_nobody(uid_t *uid, gid_t *gid);

/* The LD_PRELOAD value for a program under the shim (sanitizer runtime first if any). */
const char *harness_preload(void);

/* Fork; in the child drop to uid/gid if uid != (uid_t)-1, run fn(arg) and _exit with its
 * return value. Returns the child's pid. */
pid_t harness_fork(int (*fn)(void *), void *arg, uid_t uid, gid_t gid);
/* Wait for pid at most timeout_ms (then SIGKILL it); returns its exit status, or -1 if
 * it was killed by a signal or timed out. */
int harness_wait(pid_t pid, unsigned timeout_ms);

#endif
