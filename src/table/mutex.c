/* mutex - the table's robust process-shared lock: a bounded wait, and the repair a dead
 * holder leaves due before anyone else may take it. */
#include "table_private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>


/* Robust: a holder's death hands the next taker EOWNERDEAD. Error-checking: a thread
 * that already holds it gets EDEADLK instead of hanging, and an unlock by a thread that
 * does not hold it is refused (table_abandon relies on that). */
bool table_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return false;
    bool ok = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
              pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
              pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) == 0 &&
              pthread_mutex_init(m, &a) == 0;
    pthread_mutexattr_destroy(&a);
    return ok;
}

static void deadline_in(unsigned ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int table_lock(struct table *t, unsigned timeout_ms)
{
    /* Never pthread_mutex_trylock: with glibc 2.36 it leaves an unrecoverable robust
     * mutex owned by the caller (doc/kernel-notes.md "Robust pthread mutexes"). A deadline
     * already reached still takes a free mutex. */
    struct timespec until;
    deadline_in(timeout_ms, &until);
    int r = pthread_mutex_clocklock(&t->h->lock, CLOCK_MONOTONIC, &until);
    if (r != 0 && r != EOWNERDEAD)
        return r == ETIMEDOUT || r == EDEADLK ? r : EIO;
    __atomic_store_n(&t->held, 1, __ATOMIC_RELEASE);
    if (memcmp(&t->h->ident, &t->ident, sizeof t->ident) != 0) {
        if (r == EOWNERDEAD) {
            __atomic_store_n(&t->h->repair, 1, __ATOMIC_RELEASE);
            pthread_mutex_consistent(&t->h->lock);
        }
        table_unlock(t);
        return EIO;
    }
    /* A holder died mid-operation: the index may be half-written. Repaired before the
     * mutex is made consistent, or the next taker would see the half-written state
     * without being told. */
    if (r == EOWNERDEAD || load_u32(&t->h->repair))
        table_rebuild(t);
    if (r == EOWNERDEAD && pthread_mutex_consistent(&t->h->lock) != 0) {
        table_unlock(t);
        return EIO;
    }
    return 0;
}

void table_unlock(struct table *t)
{
    __atomic_store_n(&t->held, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&t->h->lock);
}

/* A glibc robust mutex's futex word (__data.__lock) holds its holder's thread id in the
 * FUTEX_TID_MASK bits. The kernel releases a dead thread's robust mutexes, so a word naming
 * a thread that is gone is one it could not release (a raw clone, a non-main thread's
 * exec): no release will ever come. */
bool table_lock_orphaned(const struct table *t)
{
    int owner = __atomic_load_n(&t->h->lock.__data.__lock, __ATOMIC_RELAXED) & 0x3fffffff;
    return owner != 0 && kill(owner, 0) != 0 && errno == ESRCH;
}

void table_abandon(struct table *t)
{
    __atomic_store_n(&t->h->repair, 1, __ATOMIC_RELEASE);
    /* EPERM (error-checking mutex), and no harm, when this thread does not hold it. */
    if (pthread_mutex_unlock(&t->h->lock) == 0)
        __atomic_store_n(&t->held, 0, __ATOMIC_RELEASE);
}

int table_lock_or_orphaned(struct table *t, unsigned timeout_ms)
{
    int err = table_lock(t, timeout_ms);
    /* It may have let go just now: one more try, then say so. */
    if (err == ETIMEDOUT && table_lock_orphaned(t) && (err = table_lock(t, 0)) == ETIMEDOUT)
        err = ENOTRECOVERABLE;
    return err;
}

const char *table_lock_trouble(int err)
{
    switch (err) {
    case ETIMEDOUT:
        return "lock held too long";
    case ENOTRECOVERABLE:
        return "lock held by a thread that no longer exists (or that lives in another pid "
               "namespace)";
    case EDEADLK:
        return "lock word already names this thread's id (a raw clone() child using its "
               "parent's, or an id shared across pid namespaces)";
    case EFAULT:
        return "table shrank while being read (truncated?)";
    case ENOMEM:
        return "out of memory";
    default:
        return "table failed validation";
    }
}
