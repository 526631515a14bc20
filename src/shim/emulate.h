/* emulate - `bindguard run --emulate`: have the kernel share a port the way Windows
 * shares it, where Linux alone would refuse (doc/design.md "Guard and emulate").
 *
 * Only called when the configuration asks for emulation; both calls are best effort (a
 * kernel that refuses leaves the socket as Linux would have it). */
#ifndef BG_EMULATE_H
#define BG_EMULATE_H

#include "fdstate.h"

/* Before libc's bind of a judged-and-allowed socket: SO_REUSEPORT, so the kernel lets
 * it beside the sockets bindguard let it share with. */
void emulate_sharing(int fd);
/* After a socket's first successful listen: every connection goes to the group's first
 * listener, as on Windows. */
void emulate_first_listener(int fd, const struct sock_record *s);

#endif
