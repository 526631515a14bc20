/* active - whether the shim acts, and on which descriptors.
 *
 * The configuration is parsed on the first inet socket() (the only way a descriptor
 * becomes tracked), not at load: most processes never make one. Until then, and for
 * good under BINDGUARD_MODE=off, active_now() is false and every wrapper passes straight
 * to libc. The inline checks are a load and a branch, safe in signal handlers. */
#ifndef BG_ACTIVE_H
#define BG_ACTIVE_H

#include <stdbool.h>

#include "fdstate.h"
#include "inside.h"

extern bool active_flag __attribute__((visibility("hidden")));

/* Configured, and not BINDGUARD_MODE=off. */
static inline bool active_now(void)
{
    return __atomic_load_n(&active_flag, __ATOMIC_ACQUIRE);
}

/* fd's record, if bindguard should act on this call at all: active, not inside
 * bindguard already, and fd a tracked socket. */
static inline struct sock_record *active_record(int fd)
{
    if (inside_bindguard() || !active_now())
        return 0;
    return fdstate_get(fd);
}

/* Is this a socket bindguard tracks (inet or inet6, TCP or UDP)? */
bool active_is_tracked_kind(int domain, int type, int protocol);

/* Configure on first use (the caller has a socket of a tracked kind); false: leave it
 * untracked (off, or a signal handler that interrupted bindguard itself, maybe inside
 * the configuration). errno is kept. */
bool active_configure(void);

/* Start a record for the new socket fd (of a tracked kind). errno is kept. */
void active_track(int fd, int domain, int type);

#endif
