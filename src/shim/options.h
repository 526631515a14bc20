/* options - the socket options bindguard answers or mirrors
 * (doc/design.md "Option mapping").
 *
 * SO_EXCLUSIVEADDRUSE exists only here, so bindguard answers it itself. The kernel
 * options that decide a socket's class (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY) go to
 * the kernel, and a successful set is mirrored into the fd state, where bind judges it. */
#ifndef BG_OPTIONS_H
#define BG_OPTIONS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"
#include "fdstate.h"
#include "rules/class.h"

void options_init(const struct bg_config *cfg);

/* What the program set on s, as the rule book's class input (rules/class.h). */
struct bg_sockopts options_of(const struct sock_record *s);

/* Before libc's setsockopt/getsockopt. `handled` says whether the call was answered
 * here (SO_EXCLUSIVEADDRUSE) rather than by the kernel. */
int options_set(struct sock_record *s, int level, int name, const void *val,
                socklen_t len, bool *handled);
int options_get(struct sock_record *s, int level, int name, void *val,
                socklen_t *len, bool *handled);
/* After a successful real setsockopt: mirror SO_REUSEADDR/SO_REUSEPORT/IPV6_V6ONLY. */
void options_mirror(struct sock_record *s, int level, int name, const void *val,
                    socklen_t len);

#endif
