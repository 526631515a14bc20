/* workers - the stress workers as test_stress runs them: started under the shim,
 * replaced when dead, and killed at random moments and inside the table lock.
 *
 * Kills: workers_strike watches the lock word for a while and SIGKILLs the worker that
 * takes the lock; workers_probe stops a random worker's group for at most STOP_MS, kills
 * it if a thread is frozen holding the lock, now and then anyway, else lets it go.
 * workers_replace_dead starts a new worker for each that died, and counts those that
 * died unasked. */
#ifndef BG_STRESS_WORKERS_H
#define BG_STRESS_WORKERS_H

#include <stdint.h>

#include "proc.h"
#include "table.h"

#define WORKERS 6

struct worker {
    struct proc *p;
    int64_t started;       /* proc_now_ms */
};
extern struct worker workers[WORKERS];

/* How the workers run. */
struct workers_how {
    const char *table, *log;   /* BINDGUARD_TABLE, BINDGUARD_LOG */
    unsigned slots;            /* BINDGUARD_TABLE_SLOTS */
    unsigned lock_ms;          /* BINDGUARD_LOCK_TIMEOUT_MS */
    const char *env;           /* one more NAME=VALUE, or NULL */
    const int *ports;          /* NPORTS of them */
    int fd;                    /* where their records go (as STRESS_FD) */
    struct table *t;           /* the table, opened here: the lock word to watch */
    uint64_t seed;             /* of the workers' seeds and the kills' randomness */
};

struct workers_count {
    long spawned, probes, strikes, kills, kills_holding, died_unasked;
    char died[512];            /* the first worker that died unasked */
};
extern struct workers_count workers_count;

/* Start WORKERS workers as h says (h is kept). */
void workers_start(const struct workers_how *h);
void workers_replace_dead(void);
void workers_strike(void);
void workers_probe(void);

#endif
