/* diag - NETLINK_SOCK_DIAG (inet_diag) as this directory uses it: one query written,
 * its reply read back and each reported socket on the asked port handed to a visitor.
 * doc/kernel-notes.md "sock_diag" has the measured facts this relies on. Private to
 * src/os/ (and its tests); kernel.h is the interface.
 *
 * A session is one netlink socket that a public call opens on its first query and closes
 * at its end (opening one costs ~5 µs, as much as an exact lookup); its queries go one
 * after another on it. Replies are untrusted input: every length is checked before it
 * is read. Raw system calls only (sys.h), and errno is the caller's again at
 * diag_session_end: this runs inside other programs' bind(). */
#ifndef BG_DIAG_H
#define BG_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <netinet/tcp.h>

#include "kernel.h"

/* Kernel socket states newer than some userland headers. */
enum { DIAG_ST_NEW_SYN_RECV = 12, DIAG_ST_BOUND_INACTIVE = 13 };
#define DIAG_BIT(s) (1u << (s))

#define DIAG_STATES_ALL         (~0u)
#define DIAG_STATES_BEFORE_6_8  (DIAG_BIT(DIAG_ST_BOUND_INACTIVE) - 1)
/* Request and TIME_WAIT sockets carry no inode or uid: they can never be a holder. */
#define DIAG_STATES_NOT_LISTENING \
    ((DIAG_STATES_BEFORE_6_8 & ~(DIAG_BIT(TCP_LISTEN) | DIAG_BIT(TCP_TIME_WAIT) \
                                 | DIAG_BIT(DIAG_ST_NEW_SYN_RECV))) \
     | DIAG_BIT(DIAG_ST_BOUND_INACTIVE))
#define DIAG_STATES_CONNECTED \
    (DIAG_STATES_BEFORE_6_8 & ~(DIAG_BIT(TCP_LISTEN) | DIAG_BIT(TCP_TIME_WAIT) \
                                | DIAG_BIT(TCP_CLOSE) | DIAG_BIT(DIAG_ST_NEW_SYN_RECV)))

struct diag_query {
    uint8_t  family;            /* AF_INET or AF_INET6: the lookup's or the dump's */
    uint8_t  proto;             /* IPPROTO_TCP or IPPROTO_UDP */
    uint32_t states;            /* dumps only */
    uint16_t port;              /* the local port every answer must have */
    const struct bg_addr *exact;/* non-NULL: exact lookup of this local address */
    uint32_t seq;               /* set by diag_run */
};

/* Returns true when it has seen enough. */
typedef bool (*diag_visit_fn)(const struct kernel_sock *k, void *ctx);

/* ---- diag.c: the wire format ---- */
struct diag_request {
    struct nlmsghdr         nh;
    struct inet_diag_req_v2 req;
    struct nlattr           bc_attr;   /* dumps only */
    struct inet_diag_bc_op  bc[2];
};
/* Write q into *r; returns the length to send. */
size_t diag_build_request(const struct diag_query *q, struct diag_request *r);
enum { DIAG_MORE = 1 };   /* the reply goes on; 0 = finished; < 0 = -errno */
/* The messages of one datagram (buf aligned for nlmsghdr), each socket on q's port
 * handed to visit. DIAG_MORE if the reply goes on; *ended: nothing more of it is queued. */
int diag_walk_datagram(const char *buf, size_t len, const struct diag_query *q,
                       diag_visit_fn visit, void *ctx, bool *ended);

/* ---- diag_session.c: asking ---- */
/* A session's socket. One whose last reply was not read to its end (the visitor stopped
 * early, or an error) is dropped, never reused: the rest of that dump would still be
 * queued, and a new dump would be refused with EBUSY. */
struct diag_session {
    int fd;          /* -1: open one when needed */
    uint32_t seq;
    int saved_errno; /* we run inside other programs' bind(): errno is theirs */
};
struct diag_session diag_session_begin(void);
void diag_session_end(struct diag_session *s);
/* 0 when the kernel answered (the visitor may have stopped it early), or -errno. */
int diag_run(struct diag_session *s, struct diag_query q, diag_visit_fn visit, void *ctx);
/* diag_run for a dump; a kernel that refuses state bit 13 (bound-inactive, < 6.8) is
 * asked again without it. */
int diag_run_dump(struct diag_session *s, struct diag_query q, diag_visit_fn visit,
                  void *ctx);

#endif
