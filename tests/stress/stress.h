/* stress - what a stress worker (tests/agents/stress_worker.c) and test_stress agree on:
 * its command line, the records it writes, and the numbers both sides size things by.
 *
 *   stress_worker SEED PORT...
 *
 * runs WORKER_THREADS threads churning binds on the ports until stdin closes, then says
 * "IDLE" and keeps what it holds until killed. Every record is one line written in one
 * write(2) to descriptor STRESS_FD (a pipe: writes below PIPE_BUF never interleave). PID
 * is the worker's, T the thread's index, INO a socket's inode:
 *
 *   I PID T TID               thread T's kernel thread id (whose the lock word names)
 *   A PID T INO P C IP PORT   about to bind: P t/u; class C x (SO_EXCLUSIVEADDRUSE),
 *                             d (exclusive by default) or r (sharing)
 *   B PID T INO ERR US        the bind's errno (0: bound) and duration (-1: not timed)
 *   O PID T OP US             another op and its duration: l listen, d dup, s shutdown,
 *                             c close, f fork, e exec of tbind
 *   Z PID T INO MONO, z ...   a close starting, returned (CLOCK_MONOTONIC, µs)
 *   H PID T INO WHAT          a held socket L listened, S was shut down, D duplicated,
 *                             F inherited by a fork, P handed to tbind
 *   T PID T LINE              tbind's one line, or "silent" (a hang or a crash)
 *
 * Every op ends with a B or O record: the checker's heartbeat of each thread. */
#ifndef BG_STRESS_H
#define BG_STRESS_H

#include <stdint.h>
#include <time.h>

#define WORKER_THREADS  3
#define NPORTS          8       /* ports a worker binds on, at most */
#define STRESS_FD       3
#define TBIND_WAIT_MS   3000    /* how long a worker waits for tbind's line */

/* The random numbers both sides draw (xorshift; *s must not be 0). */
static inline uint32_t stress_rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

/* A CLOCK_MONOTONIC time in µs, as Z and z records carry it. */
static inline long long stress_us(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

#endif
