/* address - what a bound address claims, and whether two bindings overlap.
 *
 * IPv4 addresses are kept IPv4-mapped (::ffff:a.b.c.d) so both families compare as one.
 * A binding claims the IPv4 stack, the IPv6 stack, or both (DESIGN.md "Dual stack"). */
#ifndef BG_ADDRESS_H
#define BG_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

#include "policy.h"

/* Fixed-width: this struct is stored in the shared table as is. 24 bytes. */
struct bg_addr {
    uint8_t  ip[16];    /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    uint32_t scope_id;  /* IPv6 link-local scope, else 0 */
    uint16_t port;      /* host byte order */
    uint8_t  family;    /* the socket's family: AF_INET or AF_INET6 */
    uint8_t  v6only;    /* AF_INET6: IPV6_V6ONLY was on at bind */
};

enum { BG_STACK_V4 = 1, BG_STACK_V6 = 2 };

/* sock_family is the socket's family (AF_INET/AF_INET6); sa must be of that family and
 * at least as long as its sockaddr. Returns 0, or -1 (EAFNOSUPPORT-like: not judged). */
int address_from_sockaddr(const struct sockaddr *sa, socklen_t len, int sock_family,
                          bool v6only, struct bg_addr *out);
/* Back to a sockaddr of a->family; returns its length. */
socklen_t address_to_sockaddr(const struct bg_addr *a, struct sockaddr_storage *ss);

bool address_is_wildcard(const struct bg_addr *a);   /* 0.0.0.0, ::, ::ffff:0.0.0.0 */
bool address_is_v4mapped(const struct bg_addr *a);   /* ::ffff:a.b.c.d, incl. AF_INET */
enum bg_kind address_kind(const struct bg_addr *a);  /* BG_WILDCARD or BG_SPECIFIC */
bool address_is_loopback(const struct bg_addr *a);   /* 127.0.0.0/8 (also v4-mapped), ::1 */

/* Stacks (BG_STACK_* bits) a binding is checked on when it binds: a dual-stack
 * wildcard is checked on both. */
unsigned address_stacks_checked(const struct bg_addr *a);
/* Stacks a bound binding holds against later binds: a dual-stack wildcard holds IPv4
 * only if it is exclusive; a v4-mapped address always holds IPv4. */
unsigned address_stacks_held(const struct bg_addr *a, bool exclusive);

/* Whether `want` (binding now) conflicts with `held` (bound, of class held_exclusive)
 * on some stack, port aside: wildcards overlap everything on their stacks, specifics
 * only the same address (and the same scope, where both have one). */
bool address_overlap(const struct bg_addr *held, bool held_exclusive, const struct bg_addr *want);

/* "0.0.0.0:80", "[::1]:80", "[fe80::1%2]:80", "[::ffff:127.0.0.1]:80" (as the socket's
 * family wrote it). Returns what snprintf returns. */
int address_format(const struct bg_addr *a, char *buf, size_t len);
/* Inverse of address_format for the CLI and tests ("127.0.0.1:80", "[::]:0"). 0 or -1. */
int address_parse(const char *s, struct bg_addr *out);

#endif
