/* lock - see lock.h. The protocol is the kernel's robust-futex one
 * (Documentation/locking/robust-futex-ABI.rst): the word holds the owner's thread id; a
 * waiter sets FUTEX_WAITERS before it sleeps; when a thread dies, or execs, the kernel
 * looks at the word its list_op_pending names and, if it still holds the thread's id,
 * stores FUTEX_OWNER_DIED and wakes one waiter.
 *
 * A thread may hold several of these locks if it lets go in the reverse order: each
 * release puts back the list_op_pending its acquire found. */
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct shm_lock) == 64, "the lock fills one cache line");

/* ---- the thread's robust list -------------------------------------------------------- */

/* glibc registers one robust-list head per thread, in the thread's own memory. The lock
 * never goes on the list itself: that would put links to the thread's memory in the
 * table, readable and writable by everyone. Instead the head's list_op_pending names it
 * for as long as it is held. The kernel handles that one entry at the thread's death (it
 * looks at the word only, at the entry + futex_offset), and nothing is shared but the
 * word. glibc uses list_op_pending only inside its own robust-mutex calls, and puts back
 * NULL; the value found there is restored on release, for a bind made from a signal
 * handler that interrupted one. */
static __thread struct robust_list_head *tls_head __attribute__((tls_model("initial-exec")));

/* Not cached while absent: a vfork child (which has none, and borrows its parent's
 * thread-local storage) must not leave "none" behind for the parent. */
static struct robust_list_head *robust_head(void)
{
    if (!tls_head) {
        struct robust_list_head *h = NULL;
        size_t len = 0;
        if (syscall(SYS_get_robust_list, 0, &h, &len) == 0 && len == sizeof *h)
            tls_head = h;
    }
    return tls_head;
}

/* The thread id is cached: gettid() is a system call, and the uncontended lock must
 * cost tens of nanoseconds. Only a thread with its own robust list caches it, for the
 * same vfork reason. A forked child's thread has a new id: the atfork handler forgets
 * it (and the shim's _Fork wrapper; a raw clone child keeps its parent's: lock.h). */
static __thread pid_t tls_tid __attribute__((tls_model("initial-exec")));

void shm_lock_forget_thread(void)
{
    tls_tid = 0;
}

/* Registered before the first id is cached, not at load: registering costs every
 * process that never takes a lock page faults in libc. Child handlers run in the order
 * they were registered, so one registered before ours that took a lock in the child
 * would see a stale id; the shim's fork wrapper forgets the id before the fork (lock.h). */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, shm_lock_forget_thread);
}

static uint32_t my_tid(void)
{
    if (tls_tid)
        return (uint32_t)tls_tid;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (robust_head()) {
        pthread_once(&atfork_once, register_atfork);
        tls_tid = tid;
    }
    return (uint32_t)tid;
}

/* The entry the kernel maps to this lock's word (bit 0 would mean a PI futex). */
static void *entry_of(struct shm_lock *l, const struct robust_list_head *h)
{
    uintptr_t at = (uintptr_t)&l->word - (uintptr_t)h->futex_offset;
    return at & 1 ? NULL : (void *)at;
}

bool shm_lock_robust(void)
{
    static struct shm_lock probe;
    struct robust_list_head *h = robust_head();
    return h && entry_of(&probe, h);
}

static void set_pending(struct robust_list_head *h, void *entry)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->list_op_pending = entry;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* ---- the word ------------------------------------------------------------------------ */

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *abs)
{
    /* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. Without
     * FUTEX_CLOCK_REALTIME, a FUTEX_WAIT_BITSET deadline is on CLOCK_MONOTONIC. */
    return syscall(SYS_futex, word, op, val, abs, NULL, FUTEX_BITSET_MATCH_ANY);
}

static struct timespec deadline_in(unsigned ms)
{
    struct timespec d;
    clock_gettime(CLOCK_MONOTONIC, &d);
    d.tv_sec += ms / 1000;
    d.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    return d;
}

static bool cas(uint32_t *word, uint32_t *seen, uint32_t want)
{
    return __atomic_compare_exchange_n(word, seen, want, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static bool past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Set FUTEX_WAITERS in *seen's word; false if the word changed (*seen then says how). */
static bool mark_waiters(uint32_t *word, uint32_t *seen)
{
    if (*seen & FUTEX_WAITERS)
        return true;
    if (!__atomic_compare_exchange_n(word, seen, *seen | FUTEX_WAITERS, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return false;
    *seen |= FUTEX_WAITERS;
    return true;
}

/* Take the word. A thread that has slept keeps FUTEX_WAITERS set when it takes it:
 * others may still sleep, and the release must wake one of them. Every way round the
 * loop looks at the clock (a vDSO read, on the contended path only): neither a word
 * rewritten as fast as we read it nor a futex call that fails may keep us past the
 * bound. */
static int take(uint32_t *word, uint32_t tid, unsigned timeout_ms)
{
    uint32_t seen = 0;
    if (cas(word, &seen, tid))
        return 0;
    struct timespec deadline = deadline_in(timeout_ms);
    bool slept = false;
    for (;;) {
        if ((seen & FUTEX_TID_MASK) == 0) {
            uint32_t want = tid | (seen & FUTEX_WAITERS) | (slept ? FUTEX_WAITERS : 0);
            if (cas(word, &seen, want))
                return (seen & FUTEX_OWNER_DIED) ? EOWNERDEAD : 0;
        } else if ((seen & FUTEX_TID_MASK) == tid) {
            return EDEADLK;
        } else if (timeout_ms > 0 && !past(&deadline) && mark_waiters(word, &seen)) {
            /* 0, or EAGAIN (the word changed first), EINTR, ETIMEDOUT: look again.
             * Anything else (seccomp?) means we cannot sleep on it: give up. */
            if (futex(word, FUTEX_WAIT_BITSET, seen, &deadline) != 0 && errno != EAGAIN &&
                errno != EINTR && errno != ETIMEDOUT)
                return ETIMEDOUT;
            slept = true;
            seen = __atomic_load_n(word, __ATOMIC_RELAXED);
            continue;
        }
        if (timeout_ms == 0 || past(&deadline))
            return ETIMEDOUT;
    }
}

int shm_lock_acquire(struct shm_lock *l, struct shm_lock_hold *hold, unsigned timeout_ms)
{
    int saved_errno = errno;
    uint32_t tid = my_tid();
    struct robust_list_head *h = robust_head();
    void *entry = h ? entry_of(l, h) : NULL, *before = h ? h->list_op_pending : NULL;
    if (entry)
        set_pending(h, entry);  /* before the word is ours: a death right after counts */
    int r = take(&l->word, tid, timeout_ms);
    if (r == 0 || r == EOWNERDEAD) {
        hold->pending = entry;
        hold->before = before;
    } else if (entry) {
        set_pending(h, before);
    }
    errno = saved_errno;
    return r;
}

bool shm_lock_orphaned(const struct shm_lock *l)
{
    int saved_errno = errno;
    uint32_t word = __atomic_load_n(&l->word, __ATOMIC_ACQUIRE);
    pid_t tid = (pid_t)(word & FUTEX_TID_MASK);
    /* kill takes thread ids. The word read again: a holder that let go and exited
     * between the two looks are not an orphan. */
    bool gone = tid > 0 && kill(tid, 0) != 0 && errno == ESRCH &&
                __atomic_load_n(&l->word, __ATOMIC_ACQUIRE) == word;
    errno = saved_errno;
    return gone;
}

int shm_lock_release(struct shm_lock *l, struct shm_lock_hold *hold)
{
    if ((__atomic_load_n(&l->word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) != my_tid())
        return EPERM;
    int saved_errno = errno;
    void *entry = hold->pending, *before = hold->before;
    if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS)
        futex(&l->word, FUTEX_WAKE, 1, NULL);
    /* Only now: dying between the two, the kernel finds the word free and just wakes a
     * waiter (the pending entry's own rule). */
    if (entry)
        set_pending(robust_head(), before);
    errno = saved_errno;
    return 0;
}
