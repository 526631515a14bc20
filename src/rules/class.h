/* rules/class - which Windows class a Linux socket binds with.
 *
 * Pure, no libc (doc/design.md "Option mapping"). Linux has no SO_EXCLUSIVEADDRUSE, and
 * its SO_REUSEADDR on TCP means "reuse a TIME_WAIT port", not "share my port". So:
 * - exclusive: the program set SO_EXCLUSIVEADDRUSE, or the run forces it
 *   (force_exclusive), or it opted into nothing and the default class is exclusive;
 * - reuseaddr (sharing opted in): SO_REUSEPORT, or SO_REUSEADDR on a datagram socket,
 *   or SO_REUSEADDR on TCP when reuseaddr_shares_tcp (BINDGUARD_REUSEADDR=windows);
 * - default: otherwise. */
#ifndef BG_RULES_CLASS_H
#define BG_RULES_CLASS_H

#include "types.h"
#include "verdict.h"

/* What the program set on the socket before bind. */
struct bg_sockopts {
    _Bool exclusive;  /* SO_EXCLUSIVEADDRUSE */
    _Bool reuseaddr;  /* SO_REUSEADDR */
    _Bool reuseport;  /* SO_REUSEPORT */
    _Bool dgram;      /* a datagram (UDP) socket */
};

/* How this run maps them: from the environment (library) or the loader (BPF). */
struct bg_classing {
    _Bool default_exclusive;     /* BINDGUARD_DEFAULT=exclusive (the default) */
    _Bool reuseaddr_shares_tcp;  /* BINDGUARD_REUSEADDR=windows */
    _Bool force_exclusive;       /* bindguard run --exclusive: every socket exclusive */
    _Bool has_exclusive;         /* the profile has SO_EXCLUSIVEADDRUSE (not win9x) */
};

/* Would SO_REUSEADDR make this socket a sharer? */
BG_RULES_INLINE _Bool rules_reuseaddr_shares(const struct bg_classing *c, _Bool dgram)
{
    return dgram || c->reuseaddr_shares_tcp;
}

/* Did the program opt into sharing the port? Setting SO_EXCLUSIVEADDRUSE then fails
 * with EINVAL, and so does the reverse order (as on Windows). */
BG_RULES_INLINE _Bool rules_opted_into_sharing(const struct bg_classing *c,
                                             const struct bg_sockopts *o)
{
    return o->reuseport || (o->reuseaddr && rules_reuseaddr_shares(c, o->dgram));
}

BG_RULES_INLINE enum bg_class rules_class(const struct bg_classing *c,
                                        const struct bg_sockopts *o)
{
    if (o->exclusive)
        return BG_CLASS_EXCLUSIVE;
    /* Forced exclusive wins over sharing the program set out of habit; the options
     * still reach the kernel. Profiles without the option (win9x) have no exclusive
     * class to fall back to. */
    if (c->force_exclusive && c->has_exclusive)
        return BG_CLASS_EXCLUSIVE;
    if (rules_opted_into_sharing(c, o))
        return BG_CLASS_REUSEADDR;
    if (c->default_exclusive && c->has_exclusive)
        return BG_CLASS_EXCLUSIVE;
    return BG_CLASS_DEFAULT;
}

#endif
