/* proc - child processes for the tests: the one way a test starts a program.
 *
 * A child runs an agent (tests/agents/) or any program, under the shim with a private
 * table and log or natively, with its stdio piped to us and read with bounded waits.
 * Each one leads its own process group and dies with the thread that spawned it
 * (PR_SET_PDEATHSIG), so whatever it forks can be killed with it and a failed assertion
 * leaves nothing holding ports. Names of tables and logs carry the runner's pid, so
 * proc_cleanup() finds every leftover afterwards. */
#ifndef BG_PROC_H
#define BG_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proc_child.h"  /* proc_now_ms, proc_sockaddr */

/* Call once from main, before the suite runs: names below use this pid. */
void proc_init(const char *tag);
/* LD_PRELOAD for every child to come: the sanitizer runtime alone in a sanitized build (an
 * instrumented shim needs it loaded first; bindguard run appends to it), else nothing. */
void proc_preload_sanitizer(void);
/* A fresh table name "/bg-test-<tag>-<runner pid>-<pid>-<n>" (no file yet), a log path. */
void proc_table_name(char *buf, size_t len);
void proc_log_path(char *buf, size_t len);
/* A fresh empty directory named like the logs (proc_cleanup removes it if empty). */
bool proc_scratch_dir(char *buf, size_t len);
/* Remove every table, temporary table and log this runner's names could have left. */
void proc_cleanup(void);
/* The same when meson's timeout (SIGTERM) or ^C ends the runner. */
void proc_cleanup_on_signals(void);

/* How a child starts. */
struct proc_how {
    bool shim;             /* LD_PRELOAD the shim with the table, log and slots below */
    const char *table;     /* BINDGUARD_TABLE */
    const char *log;       /* BINDGUARD_LOG */
    unsigned slots;        /* BINDGUARD_TABLE_SLOTS, 0: unset */
    const char *env[6];    /* more NAME=VALUE, placed first so they win */
    /* After env[] and the shim's, the runner's environment: false, without LD_PRELOAD and
     * BINDGUARD_*; true, all of it (test_cli sets BINDGUARD_TABLE there) but for the
     * variables env[] and the shim set, as putenv would replace them. */
    bool inherit_env;
    bool as_nobody;        /* setuid nobody first (the caller checks for root) */
    bool new_netns;        /* in a network namespace of its own (root) */
    const char *cgroup;    /* join this cgroup v2 directory first (root), NULL: stay */
    void (*pre_exec)(void *arg);  /* in the child, stdio in place, just before exec */
    void *arg;
};

struct proc {
    pid_t pid;             /* 0: free slot */
    int in, out, err;      /* our ends of its stdio; -1 once closed */
    bool done;
    int status;            /* exit status, or -1 (killed by a signal, timed out) */
    size_t opos, olen, elen;
    char obuf[65536];      /* stdout not yet taken as lines (all of it if none were) */
    char ebuf[16384];      /* stderr (clipped) */
    char line[512];        /* the last line taken */
};

/* argv[0]: an agent's name (harness_agent_path), another name (looked up on PATH) or a
 * path. Of the free slots the one free longest (never used
 * first) is taken, so a finished child's *p stays readable until every slot that was
 * free before it has been taken again. */
struct proc *proc_spawn(const struct proc_how *h, const char *const *argv);
#define PROC_ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* A number as a string for such lists: the last eight stay valid. */
const char *proc_num(long v);

/* Read what it has written, both pipes, until some output or deadline_ms (proc_now_ms). */
void proc_pump(struct proc *p, int64_t deadline_ms);
/* The next line it writes (no newline), or NULL at EOF or after timeout_ms. */
const char *proc_line(struct proc *p, unsigned timeout_ms);
/* Write a line to its stdin; false if it is gone. */
bool proc_say(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close its stdin, read it out, wait at most timeout_ms (then SIGKILL its group).
 * Its exit status, or -1. The slot is free afterwards (see proc_spawn). */
int proc_finish(struct proc *p, unsigned timeout_ms);
/* Without waiting: has it exited? (reaps it) */
bool proc_alive(struct proc *p);
/* SIGKILL its whole group and reap it. */
void proc_kill(struct proc *p);
/* Every child still running, as proc_kill. */
void proc_kill_all(void);

/* n different ports (n <= 16) free on TCP and UDP, IPv4 and IPv6, at this moment. */
void proc_free_ports(int *ports, int n);
/* The pid of a child that has exited and been reaped: no process has it (for now). */
pid_t proc_gone_pid(void);
/* A copy of descriptor fd of process pid in this one (pidfd_getfd); -1 and errno if not. */
int proc_take_fd(pid_t pid, int fd);

/* The whole file (malloc'd, NUL-terminated; "" if missing). */
char *proc_slurp(const char *path);
/* Lines of text containing a and, if given, b. */
int proc_count_lines(const char *text, const char *a, const char *b);
/* bindguard's own trouble in a log: its lines that are not refusals. */
int proc_trouble_lines(const char *text);

#endif
