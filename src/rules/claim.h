/* rules/claim - what a bound address claims, and whether two bindings overlap.
 *
 * Pure, no libc. IPv4 addresses are kept IPv4-mapped (::ffff:a.b.c.d) so that both
 * families compare as one. A binding claims the IPv4 stack, the IPv6 stack or both
 * (doc/design.md "Dual stack"). Converting from and to a sockaddr, and text, is the
 * library's job (address.h). */
#ifndef BG_RULES_CLAIM_H
#define BG_RULES_CLAIM_H

#include "types.h"
#include "verdict.h"

/* Fixed-width: stored in the shared table as is. 24 bytes. */
struct bg_addr {
    bg_u8  ip[16];    /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    bg_u32 scope_id;  /* IPv6 link-local scope, else 0 */
    bg_u16 port;      /* host byte order */
    bg_u8  family;    /* the socket's family: BG_AF_INET or BG_AF_INET6 */
    bg_u8  v6only;    /* BG_AF_INET6: IPV6_V6ONLY was on at bind */
};

enum { BG_STACK_V4 = 1, BG_STACK_V6 = 2 };

/* The address as four 32-bit words in memory order. The predicates below combine words
 * without a branch per byte: the kernel backend's verifier walks every branch. */
BG_RULES_INLINE bg_u32 rules_ip_word(const struct bg_addr *a, int i)
{
    bg_u32 w;
    __builtin_memcpy(&w, &a->ip[4 * i], sizeof w);
    return w;
}

BG_RULES_INLINE _Bool rules_addr_is_v4mapped(const struct bg_addr *a)
{
    bg_u32 zeros = rules_ip_word(a, 0) | rules_ip_word(a, 1) | a->ip[8] | a->ip[9];
    return (zeros == 0) & ((a->ip[10] & a->ip[11]) == 0xff);
}

/* 0.0.0.0, ::, ::ffff:0.0.0.0 */
BG_RULES_INLINE _Bool rules_addr_is_wildcard(const struct bg_addr *a)
{
    bg_u32 low = rules_ip_word(a, 3);
    if (rules_addr_is_v4mapped(a))
        return low == 0;
    return (rules_ip_word(a, 0) | rules_ip_word(a, 1) | rules_ip_word(a, 2) | low) == 0;
}

BG_RULES_INLINE enum bg_kind rules_addr_kind(const struct bg_addr *a)
{
    return rules_addr_is_wildcard(a) ? BG_WILDCARD : BG_SPECIFIC;
}

/* `::` on a socket that also speaks IPv4 (Linux's default, IPV6_V6ONLY off). */
BG_RULES_INLINE _Bool rules_addr_is_dual_wildcard(const struct bg_addr *a)
{
    return a->family == BG_AF_INET6 && !a->v6only && rules_addr_is_wildcard(a) &&
           !rules_addr_is_v4mapped(a);
}

/* Stacks (BG_STACK_* bits) a binding is checked on when it binds: a dual-stack
 * wildcard on both (seed 000: "the port is reserved on both stacks"). */
BG_RULES_INLINE unsigned rules_stacks_checked(const struct bg_addr *a)
{
    if (a->family == BG_AF_INET)
        return BG_STACK_V4;
    if (a->family != BG_AF_INET6)
        return 0;
    if (a->v6only)
        return BG_STACK_V6;
    if (rules_addr_is_dual_wildcard(a))
        return BG_STACK_V4 | BG_STACK_V6;
    /* A dual-stack socket reaches IPv4 only through a v4-mapped address. */
    return rules_addr_is_v4mapped(a) ? BG_STACK_V4 : BG_STACK_V6;
}

/* Stacks a bound binding holds against later binds. Windows (Wine's conformance tests
 * on real Windows): a non-exclusive `[::]` lets a later 0.0.0.0 bind succeed; only an
 * exclusive one keeps IPv4 too. A v4-mapped address always holds IPv4. */
BG_RULES_INLINE unsigned rules_stacks_held(const struct bg_addr *a, _Bool exclusive)
{
    if (rules_addr_is_dual_wildcard(a) && !exclusive)
        return BG_STACK_V6;
    return rules_stacks_checked(a);
}

/* The same specific address; a scope of 0 is not pinned to a link, so it meets any. */
BG_RULES_INLINE _Bool rules_same_specific(const struct bg_addr *x, const struct bg_addr *y)
{
    bg_u32 diff = 0;
    for (int i = 0; i < 4; i++)
        diff |= rules_ip_word(x, i) ^ rules_ip_word(y, i);
    return diff == 0 &&
           (x->scope_id == 0 || y->scope_id == 0 || x->scope_id == y->scope_id);
}

/* Whether `want` (binding now) meets `held` (bound, of class held_exclusive) on some
 * stack, port aside: wildcards overlap everything on their stacks, specifics only the
 * same address. Every binding claims one stack except the dual-stack wildcard, which
 * is the wildcard on both; so on a shared stack a specific is compared as is. */
BG_RULES_INLINE _Bool rules_overlap(const struct bg_addr *held, _Bool held_exclusive,
                                  const struct bg_addr *want)
{
    if ((rules_stacks_held(held, held_exclusive) & rules_stacks_checked(want)) == 0)
        return 0;
    return rules_addr_is_wildcard(held) || rules_addr_is_wildcard(want) ||
           rules_same_specific(held, want);
}

/* Does `held` meet `want` only through the IPv4 side of a dual-stack wildcard? */
BG_RULES_INLINE _Bool rules_meets_across_stacks(const struct bg_addr *held,
                                              const struct bg_addr *want)
{
    return rules_addr_is_dual_wildcard(held) &&
           rules_stacks_checked(want) == BG_STACK_V4;
}

#endif
