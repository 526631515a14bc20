/* Built with -nostdinc -ffreestanding (src/meson.build): proves the rule book includes
 * nothing from libc, as the kernel backend's BPF object needs. Never linked. */
#include "rules.h"

enum bg_verdict rules_freestanding_probe(enum bg_rules r, const struct bg_binding *held,
                                         const struct bg_binding *want,
                                         const struct bg_classing *c,
                                         const struct bg_sockopts *o);

enum bg_verdict rules_freestanding_probe(enum bg_rules r, const struct bg_binding *held,
                                         const struct bg_binding *want,
                                         const struct bg_classing *c,
                                         const struct bg_sockopts *o)
{
    struct bg_binding w = *want;
    w.cls = (bg_u8)rules_class(c, o);
    return rules_resolve_check(rules_judge(r, held, &w), 0);
}
