#include "workers.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "records.h"
#include "stress.h"

#define RANDOM_KILL     12      /* 1 in this many probes kills even outside the lock */
#define STRIKE_WATCH_MS 20      /* how long a strike may watch for a lock holder */
#define STOP_MS         10      /* how long a probe keeps a group stopped, at most */
#define KILLED_BY_US    (-2)    /* proc.status of a worker killed here: not a crash */

struct worker workers[WORKERS];
struct workers_count workers_count;
static struct workers_how how;
static uint64_t rng;

static void worker_setup(void *arg)
{
    (void)arg;
    dup2(how.fd, STRESS_FD);
    fcntl(STRESS_FD, F_SETFD, 0);
    setpriority(PRIO_PROCESS, 0, 0);  /* not the checker's boost */
}

static void spawn_worker(struct worker *w)
{
    char seed[32], pstr[NPORTS][16], lock[64];
    snprintf(seed, sizeof seed, "%u", stress_rnd(&rng));
    snprintf(lock, sizeof lock, "BINDGUARD_LOCK_TIMEOUT_MS=%u", how.lock_ms);
    const char *argv[2 + NPORTS + 1] = {"stress_worker", seed};
    for (int i = 0; i < NPORTS; i++) {
        snprintf(pstr[i], sizeof pstr[i], "%d", how.ports[i]);
        argv[2 + i] = pstr[i];
    }
    argv[2 + NPORTS] = NULL;
    struct proc_how ph = {.shim = true, .table = how.table, .log = how.log, .slots = how.slots,
                          .env = {lock, how.env}, .pre_exec = worker_setup};
    w->p = proc_spawn(&ph, argv);
    w->started = proc_now_ms();
    workers_count.spawned++;
}

/* A worker that exited without being killed crashed, or bindguard broke it. */
void workers_replace_dead(void)
{
    for (int i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        if (proc_alive(w->p))
            continue;
        bool ours = w->p->status == KILLED_BY_US;
        proc_finish(w->p, 1000);  /* takes in what it said on stderr */
        struct workers_count *n = &workers_count;
        if (!ours && n->died_unasked++ == 0)
            snprintf(n->died, sizeof n->died, "worker %d exited with %d: %.400s", (int)w->p->pid,
                     w->p->status, w->p->ebuf);
        spawn_worker(w);
    }
}

static void kill_worker(struct worker *w)
{
    proc_kill(w->p);
    w->p->status = KILLED_BY_US;
    workers_count.kills++;
}

/* The thread holding the table lock now (0: free): the lock word holds its id. */
static pid_t lock_owner(void)
{
    return (pid_t)(__atomic_load_n(&table_header(how.t)->lock.__data.__lock, __ATOMIC_ACQUIRE) &
                   0x3fffffff);
}

/* A thread's process group (0 if gone) and scheduling state letter. */
static pid_t thread_stat(pid_t tid, char *state)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    int ppid, pgrp;
    return paren && sscanf(paren + 1, " %c %d %d", state, &ppid, &pgrp) == 3 ? pgrp : 0;
}

static struct worker *worker_of_group(pid_t pgrp)
{
    for (int i = 0; pgrp && i < WORKERS; i++)
        if (!workers[i].p->done && workers[i].p->pid == pgrp)
            return &workers[i];
    return NULL;
}

/* Critical sections last microseconds, so a random moment rarely falls inside one:
 * watch the lock word for a while and go for whoever takes it. */
static struct worker *lock_taker(void)
{
    int64_t until = proc_now_ms() + STRIKE_WATCH_MS;
    do {
        pid_t owner = lock_owner();
        struct worker *w = owner ? worker_of_group(records_group_of_tid(owner)) : NULL;
        if (w)
            return w;
    } while (proc_now_ms() < until);
    return NULL;
}

/* Is thread `tid` of group `group` stopped while it owns the lock? Waits up to ms for
 * it to stop (a running thread stops at once; a preempted one when next scheduled, still
 * before it can unlock: unlocking is user code, after the system call it is in). */
static bool frozen_holding(pid_t group, unsigned ms)
{
    int64_t until = proc_now_ms() + ms;
    do {
        char state;
        pid_t owner = lock_owner();
        if (!owner || thread_stat(owner, &state) != group)
            return false;
        if (state == 'T' || state == 't')
            return true;
    } while (proc_now_ms() < until);
    return false;
}

/* Kills inside the critical section: a worker seen taking the lock is SIGKILLed at once.
 * Most such kills land while it still holds the lock (the table's repair count says how
 * many); the rest are random kills too. */
void workers_strike(void)
{
    struct worker *w = lock_taker();
    if (w) {
        kill_worker(w);
        workers_count.strikes++;
    }
}

/* Kills at random moments: a random worker is stopped for at most STOP_MS, killed if it
 * happens to be frozen holding the lock, now and then killed anyway, else let go. */
void workers_probe(void)
{
    struct worker *w = &workers[stress_rnd(&rng) % WORKERS];
    if (!proc_alive(w->p))
        return;
    workers_count.probes++;
    kill(-w->p->pid, SIGSTOP);
    if (frozen_holding(w->p->pid, STOP_MS)) {
        kill_worker(w);
        workers_count.kills_holding++;
    } else if (stress_rnd(&rng) % RANDOM_KILL == 0) {
        kill_worker(w);
    } else {
        /* Twice: a child forked just as the stop came can join it and miss the first
         * continue (seen with gdb: stuck in do_signal_stop from ret_from_fork), and a
         * stopped tbind would go silent. */
        kill(-w->p->pid, SIGCONT);
        usleep(2000);
        kill(-w->p->pid, SIGCONT);
    }
}

void workers_start(const struct workers_how *h)
{
    how = *h;
    rng = h->seed ? h->seed : 1;
    memset(&workers_count, 0, sizeof workers_count);
    for (int i = 0; i < WORKERS; i++)
        spawn_worker(&workers[i]);
}
