/* lock - a robust, process-shared lock whose only shared state is one futex word.
 *
 * Not a glibc robust pthread mutex, on purpose (doc/design.md "The table lock"): glibc
 * keeps a robust mutex's list links inside the mutex and, on unlock, writes through
 * them: anyone able to write the table could rewrite them while a process (root's, say)
 * holds the lock, and aim that write anywhere in it. This lock speaks the kernel's
 * robust-futex protocol itself: a holder that dies leaves FUTEX_OWNER_DIED in the word
 * and a waiter is woken. The kernel learns which word to release through the thread's
 * own robust-list head (list_op_pending), so no pointer is ever stored in, or read
 * from, shared memory.
 *
 * Tampering with the word can cost waiting (a bogus owner: every waiter waits out its
 * bound) or a needless repair (a bogus FUTEX_OWNER_DIED), never a write elsewhere.
 *
 * The kernel does not release a dead holder's word (doc/kernel-notes.md "Robust futexes")
 * when: a signal handler took and gave back a glibc robust mutex during the hold (glibc
 * then leaves list_op_pending NULL); a thread other than the main one exec'd (the id
 * check fails); the thread's own robust list has an entry the kernel cannot read (it
 * stops before list_op_pending); or the holder was a raw clone() child, which still uses
 * its parent's id (a _Fork child is fine under the shim, which wraps _Fork). A glibc
 * robust mutex has the first three gaps too, or worse. Then the word names a thread that
 * is gone (or the parent), every waiter waits out its bound and goes on without the lock,
 * and shm_lock_orphaned() says so. */
#ifndef BG_LOCK_H
#define BG_LOCK_H

#include <stdbool.h>
#include <stdint.h>

/* In shared memory: the futex word, alone on its cache line. */
struct shm_lock {
    uint32_t word;          /* 0 free, else owner tid | FUTEX_WAITERS | FUTEX_OWNER_DIED */
    uint32_t reserved[15];
};

/* Process-local, per lock: written by the thread that takes it, read when it lets go. */
struct shm_lock_hold {
    void *pending;          /* what this thread's list_op_pending says while it holds it */
    void *before;           /* what it said before */
};

/* Wait at most timeout_ms (0: only take a free lock). 0: taken. EOWNERDEAD: taken, but
 * the last holder died holding it, so what it guards may be half-written. ETIMEDOUT.
 * EDEADLK: this thread holds it already. */
int shm_lock_acquire(struct shm_lock *l, struct shm_lock_hold *hold, unsigned timeout_ms);
/* Before a fork, and in the child of one that ran no atfork handlers (_Fork): the
 * thread's cached id is not the child's. */
void shm_lock_forget_thread(void);
/* 0, or EPERM (and nothing done) when this thread does not hold it. */
int shm_lock_release(struct shm_lock *l, struct shm_lock_hold *hold);
/* After ETIMEDOUT: does the word name a thread that no longer exists? Then no release
 * will ever come (a word written by hand, or a holder the kernel could not release).
 * A thread of another pid namespace looks gone too: this is advice, not a license to
 * take the lock. */
bool shm_lock_orphaned(const struct shm_lock *l);
/* Whether the kernel will release the lock when this thread dies holding it: false
 * without a registered robust list (not glibc); then a dead holder costs every waiter
 * its bound, until the table is rebuilt (`bindguard gc`). */
bool shm_lock_robust(void);

#endif
