/* procname - this process's name as the kernel has it, for the entry a bind records.
 *
 * The kernel's name (the main thread's comm, as `ps` and /proc/PID/comm show it), not
 * program_invocation_short_name: that points into argv, which servers rewrite for their
 * title (nginx's reloaded master showed as "ter process /us"). */
#ifndef BG_PROCNAME_H
#define BG_PROCNAME_H

#define PROCNAME_LEN 16  /* TASK_COMM_LEN, NUL included */

/* Copy the name into out (NUL-terminated). Cached per thread and read again at most once
 * a second, so an allowed bind pays a vDSO clock read, and a rename (prctl(PR_SET_NAME),
 * a write to /proc/self/comm, node's process.title) shows within a second. */
void procname_get(char out[PROCNAME_LEN]);
/* In a fork child: its main thread is the forking thread, whose name it now has. */
void procname_forget(void);

#endif
