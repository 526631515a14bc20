/* inside - "this thread is inside bindguard": the one re-entry guard of the shim.
 *
 * A libc call bindguard makes, or a signal handler that interrupts it, comes back to the
 * exported wrappers; inside_bindguard() tells them to pass straight to libc instead of
 * judging again (or waiting for a lock this thread already holds). INSIDE_BINDGUARD(call)
 * runs `call` with the mark set; it nests, and is async-signal-safe (a per-thread
 * counter). INSIDE_BINDGUARD_KEEP_ERRNO(call) also leaves errno as it was: for
 * bookkeeping after a call whose errno the program reads. */
#ifndef BG_INSIDE_H
#define BG_INSIDE_H

#include <errno.h>
#include <stdbool.h>

extern __thread int inside_depth
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline bool inside_bindguard(void)
{
    return inside_depth != 0;
}

#define INSIDE_BINDGUARD(call) \
    do { inside_depth++; call; inside_depth--; } while (0)

#define INSIDE_BINDGUARD_KEEP_ERRNO(call) \
    do { int inside_errno_ = errno; INSIDE_BINDGUARD(call); errno = inside_errno_; } while (0)

#endif
