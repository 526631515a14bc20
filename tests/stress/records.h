/* records - reading what the stress workers write (stress.h), in a thread of its own:
 * claims go to claims.h, counts and heartbeats to `records`, thread ids to
 * records_group_of_tid (test_stress). */
#ifndef BG_STRESS_RECORDS_H
#define BG_STRESS_RECORDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "stress.h"

#define RECORDS_WORKERS 64  /* workers whose heartbeats are kept at once */

/* When each thread of a worker last finished an op (proc_now_ms), 0: not yet. */
struct wstat {
    pid_t pid;             /* 0: free */
    int64_t last_ms[WORKER_THREADS];
};

struct records {
    struct wstat w[RECORDS_WORKERS];
    long long max_bind_us, max_close_us, max_other_us;
    long binds, bound, refused, failed, slow_binds, ops, tbind_ok, tbind_refused, tbind_odd;
    char odd[256];         /* the first odd tbind outcome */
};

/* What the records said so far; records_lock held to read or change it while the
 * reader runs. */
extern struct records records;
extern pthread_mutex_t records_lock;

/* Forget everything read. */
void records_reset(void);
/* Read records from fd (polled at least every 50 ms) until records_stop; false if the
 * thread could not start. */
bool records_start(int fd);
/* Stop the reader, if it runs; also after a failed test, where nothing else would. */
void records_stop(void);
/* The worker (process group) a thread id named in an I record belongs to, 0 if none
 * did. Newest over oldest, and without reading /proc while the thread runs on. */
pid_t records_group_of_tid(pid_t tid);

#endif
