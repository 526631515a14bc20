/* bindflow - bind() of a tracked socket (doc/design.md "What happens on bind"): judge
 * under the table lock, confirm denials with the kernel outside it (deniers.h), bind and
 * record under it.
 *
 * bindguard's own trouble (no table, lock timeout, full table, kernel unreachable) never
 * refuses a bind: it is logged once and libc's bind decides. Runs inside bindguard
 * (inside.h), after guard_init. */
#ifndef BG_BINDFLOW_H
#define BG_BINDFLOW_H

#include <sys/socket.h>

#include "fdstate.h"

/* bind() on tracked fd with record s. Returns the bind's result with errno as the
 * program sees it: the refusal's (EADDRINUSE, EACCES), or libc's bind's; a success
 * leaves errno as it was. */
int bindflow_bind(int fd, struct sock_record *s, const struct sockaddr *sa, socklen_t len);

/* This thread's network namespace may have changed (setns, unshare): forget the key
 * binds are recorded under. */
void bindflow_forget_netns(void);

#endif
