/* bindprobe - ask the kernel itself what it does with a bind, on a throwaway socket.
 *
 * Raw system calls only (sys.h): inside the preloaded library, and in a CLI that runs
 * under it, a probe must never be judged or recorded by bindguard's own wrappers. */
#ifndef BG_BINDPROBE_H
#define BG_BINDPROBE_H

#include <stdint.h>

#include "address.h"

enum {
    BINDPROBE_REUSEADDR = 1u << 0,  /* SO_REUSEADDR before the bind */
    BINDPROBE_REUSEPORT = 1u << 1,  /* SO_REUSEPORT before the bind */
    BINDPROBE_LISTEN    = 1u << 2,  /* listen() after it (TCP only; ignored for UDP) */
};

/* A fresh close-on-exec socket of a->family (IPPROTO_TCP: stream, else datagram), with
 * IPV6_V6ONLY set to a->v6only on AF_INET6 and the options in opts, bound to *a. Returns
 * 0, or the errno of the step that failed (EAFNOSUPPORT for a family it cannot express).
 * On success with fd_out the socket stays open in *fd_out for the caller to close
 * (sys_close); in every other case it is closed here. errno is left as it was. */
int bindprobe(const struct bg_addr *a, uint8_t proto, unsigned opts, int *fd_out);

/* The local port a socket is bound to (getsockname), or 0. errno is left as it was. */
uint16_t bindprobe_port(int fd);

#endif
