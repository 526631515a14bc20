/* rules/judge - one bound binding against one binding being made: the whole rule.
 *
 * Pure, no libc. Both backends (the library's table, the kernel backend's map) judge a
 * bind by calling rules_judge on every binding of the same namespace, protocol and port
 * and keeping the most severe verdict (rules_more_severe). A CHECK (WSK) is resolved by
 * the caller against the first socket's share list (rules_resolve_check). */
#ifndef BG_RULES_JUDGE_H
#define BG_RULES_JUDGE_H

#include "claim.h"
#include "types.h"
#include "verdict.h"

struct bg_binding {
    struct bg_addr addr;
    bg_u32 uid;     /* effective uid of the socket's owner */
    bg_u8  cls;     /* enum bg_class; out of range reads as exclusive */
    bg_u8  linger;  /* a closed explicit-exclusive listener whose connections live on */
};

BG_RULES_INLINE enum bg_class rules_held_class(const struct bg_binding *held)
{
    return held->cls <= BG_CLASS_EXCLUSIVE ? (enum bg_class)held->cls : BG_CLASS_EXCLUSIVE;
}

BG_RULES_INLINE enum bg_verdict rules_judge(enum bg_rules rules, const struct bg_binding *held,
                                          const struct bg_binding *want)
{
    enum bg_class held_cls = rules_held_class(held);
    /* A closed exclusive listener's connections only keep out exclusive binds
     * (doc/design.md "Linger rule"). */
    if (held->linger && want->cls != BG_CLASS_EXCLUSIVE)
        return BG_SUCCESS;
    if (!rules_overlap(&held->addr, held_cls == BG_CLASS_EXCLUSIVE, &want->addr))
        return BG_SUCCESS;
    struct bg_side first = { held_cls, rules_addr_kind(&held->addr) };
    struct bg_side second = { (enum bg_class)want->cls, rules_addr_kind(&want->addr) };
    enum bg_verdict v = rules_verdict(rules, held->uid == want->uid, first, second);
    /* An IPv4 bind refused because an exclusive dual-stack wildcard holds the IPv4 side
     * gets ACCESS whatever its class (real Windows, per Wine's conformance cases X1, X10
     * and V2; doc/design.md "Dual stack"). */
    if ((v == BG_INUSE || v == BG_ACCESS) && rules_meets_across_stacks(&held->addr, &want->addr))
        return BG_ACCESS;
    return v;
}

#endif
