/* refusal - a refusal in words (refusal.h). */
#include "refusal.h"

#include <netinet/in.h>
#include <stdio.h>

#include "address.h"
#include "guard.h"
#include "log.h"
#include "policy.h"

static const char *held_how(enum bg_class c)
{
    return c == BG_CLASS_EXCLUSIVE ? "exclusively" : c == BG_CLASS_REUSEADDR ? "for sharing"
                                                                              : "by default";
}

/* Did the rule book turn the cell's verdict into ACCESS across stacks (rules/judge.h)? */
static bool refused_across_stacks(const struct table_entry *want, const struct denier *d)
{
    struct bg_side first = { rules_held_class(&(struct bg_binding){ .cls = d->e.cls }),
                             rules_addr_kind(&d->e.addr) };
    struct bg_side second = { (enum bg_class)want->cls, rules_addr_kind(&want->addr) };
    const struct bg_profile *p = guard_config()->profile;
    return d->verdict == BG_ACCESS &&
           policy_verdict(p, d->e.uid == want->uid, first, second) != BG_ACCESS &&
           rules_meets_across_stacks(&d->e.addr, &want->addr);
}

void refusal_format(const struct table_entry *want, const struct denier *d, bool audit,
                    const struct holder *h, char *line, size_t len)
{
    char want_s[64], held_s[64], first_s[40], second_s[40], comm[TABLE_COMM_LEN + 1];
    address_format(&want->addr, want_s, sizeof want_s);
    address_format(&d->e.addr, held_s, sizeof held_s);
    snprintf(comm, sizeof comm, "%.*s", TABLE_COMM_LEN, h->comm);
    snprintf(first_s, sizeof first_s, "%s %s", policy_class_name((enum bg_class)d->e.cls),
             policy_kind_name(rules_addr_kind(&d->e.addr)));
    snprintf(second_s, sizeof second_s, "%s %s", policy_class_name((enum bg_class)want->cls),
             policy_kind_name(rules_addr_kind(&want->addr)));
    struct log_refusal r = {
        .want_addr = want_s,
        .proto = want->proto == IPPROTO_TCP ? "tcp" : "udp",
        .err = policy_errno(d->verdict),
        .held_how = held_how((enum bg_class)d->e.cls),
        .pid = h->pid,
        .comm = comm,
        .uid = d->e.uid,
        .held_addr = held_s,
        .since = d->e.since,
        .table = policy_table_name(guard_config()->profile, d->e.uid == want->uid),
        .first = first_s,
        .second = second_s,
        .rule = refused_across_stacks(want, d) ? "across stacks" : NULL,
        .audit = audit ? "audit" : NULL,
    };
    log_format_refusal(&r, line, len);
}
