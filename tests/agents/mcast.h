/* mcast - a multicast receiver on the loopback, as the mcast_recv agent makes it under the
 * shim and test_bind's probe makes it natively (does this machine loop multicast back?). */
#ifndef BG_MCAST_H
#define BG_MCAST_H

#include <stdbool.h>
#include <stddef.h>

#define MCAST_GROUP "239.255.0.1"

/* A UDP socket sharing `port` with SO_REUSEADDR, as real receivers do, bound to 0.0.0.0
 * and a member of MCAST_GROUP on 127.0.0.1; -1 with errno. */
int mcast_receiver(int port);
/* A datagram within ms, NUL-terminated in buf. */
bool mcast_recv_within(int fd, int ms, char *buf, size_t len);

#endif
