/* lifecycle - a tracked socket's table entry through listen, shutdown, accept and close
 * (doc/design.md "What happens on bind", "Linger rule").
 *
 * Each takes the socket's descriptor and its record (fdstate_get), runs inside
 * bindguard (inside.h), and never refuses anything: table trouble is logged once and
 * libc's call still runs. Return values and errno are libc's call's. */
#ifndef BG_LIFECYCLE_H
#define BG_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "fdstate.h"

/* libc's listen()/shutdown(), made under the table lock when the socket has an entry (a
 * binder confirming it meanwhile must never see it between two states), renewing the
 * entry's id there; listen also marks the entry listening, and under emulate makes the
 * socket its group's first listener. */
int lifecycle_listen(int fd, struct sock_record *s, int backlog);
int lifecycle_shutdown(int fd, struct sock_record *s, int how);
/* After a successful accept on listener s: an explicit exclusive listener that served
 * a connection lingers after its close. */
void lifecycle_accepted(struct sock_record *s);
/* After libc's dup2/dup3 closed fd by putting another socket there: forget fd, and
 * drop its socket's entry (or turn it into a linger entry) when this was the last
 * descriptor of a socket this process alone holds and no fork or spawn overlapped since
 * `stamp` (process_fork_generation() read before libc's call: a child may hold it). */
void lifecycle_release(int fd, struct sock_record *s, unsigned long stamp);

/* close(): libc's close of fd, then the release as above, unless a fork or spawn in
 * another thread overlapped the call (its child may hold the socket now: the kernel
 * confirms the entry on the next conflicting bind instead). Return and errno: libc's. */
int lifecycle_close(int fd, struct sock_record *s);

/* close_range/closefrom, the same way: start a batch; add each tracked fd the call will
 * close (forgotten at once; false: the batch is full, fd was left as it was: close what
 * was added, finish, start again); make libc's call; finish (`closed`: the call closed
 * them; else no entry is touched). errno is kept. */
#define LIFECYCLE_BATCH 32
struct release_plan {
    uint32_t idx;
    bool linger;
    uint64_t id;
};
struct release_batch {
    unsigned long stamp;
    unsigned n;
    struct release_plan plans[LIFECYCLE_BATCH];
};
void lifecycle_batch_start(struct release_batch *b);
bool lifecycle_batch_add(struct release_batch *b, int fd, struct sock_record *s);
void lifecycle_batch_finish(struct release_batch *b, bool closed);

#endif
