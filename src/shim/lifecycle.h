/* lifecycle - a tracked socket's table entry through listen, shutdown, accept and close
 * (doc/design.md "What happens on bind", "Linger rule").
 *
 * Each takes the socket's descriptor and its record (fdstate_get), runs inside
 * bindguard (inside.h), and never refuses anything: table trouble is logged once and
 * libc's call still runs. Return values and errno are libc's call's. */
#ifndef BG_LIFECYCLE_H
#define BG_LIFECYCLE_H

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
/* Before libc closes fd (close, dup2/dup3 over it, close_range): forget fd, and drop its
 * socket's entry (or turn it into a linger entry) when this was the last descriptor of
 * a socket this process alone holds. */
void lifecycle_release(int fd, struct sock_record *s);

#endif
