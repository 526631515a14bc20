/* address - struct bg_addr (rules/claim.h) from and to sockaddrs and text.
 *
 * What an address claims and whether two overlap is the rule book's (rules/claim.h);
 * this module is the libc side: sockaddr conversion as Linux reads it, and text. */
#ifndef BG_ADDRESS_H
#define BG_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

#include "rules/claim.h"

/* sock_family is the socket's family (AF_INET/AF_INET6); sa must be of that family and
 * at least as long as its sockaddr. Returns 0, or -1 (EAFNOSUPPORT-like: not judged). */
int address_from_sockaddr(const struct sockaddr *sa, socklen_t len, int sock_family,
                          bool v6only, struct bg_addr *out);
/* Back to a sockaddr of a->family; returns its length. */
socklen_t address_to_sockaddr(const struct bg_addr *a, struct sockaddr_storage *ss);

/* a->ip becomes the IPv4 address ip4 (4 bytes, network order) as ::ffff:a.b.c.d. */
void address_set_v4(struct bg_addr *a, const void *ip4);

/* 127.0.0.0/8 (also v4-mapped), ::1: addresses a probe may bind on this host. */
bool address_is_loopback(const struct bg_addr *a);

/* "0.0.0.0:80", "[::1]:80", "[fe80::1%2]:80", "[::ffff:127.0.0.1]:80" (as the socket's
 * family wrote it). Returns what snprintf returns. */
int address_format(const struct bg_addr *a, char *buf, size_t len);
/* Inverse of address_format for the CLI and tests ("127.0.0.1:80", "[::]:0"). 0 or -1. */
int address_parse(const char *s, struct bg_addr *out);

#endif
