/* policy - profiles (BINDGUARD_PROFILE names and aliases) and the rule book in words.
 *
 * The verdicts themselves are rules/verdict.h's, a pure libc-free table shared with the
 * kernel backend; this module names profiles, cells, verdicts and errnos for messages,
 * `explain` and `matrix`. No I/O, no globals written. */
#ifndef BG_POLICY_H
#define BG_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/verdict.h"

struct bg_profile {
    const char   *name;                  /* canonical lower-case name, e.g. "win7" */
    const char   *platform;              /* as seed 000's availability table names it */
    enum bg_rules rules;
    bool          has_exclusive;         /* SO_EXCLUSIVEADDRUSE exists (not win9x) */
    bool          exclusive_needs_admin; /* XP and earlier: Administrators only */
};

/* Case-insensitive lookup; NULL for an unknown name. */
const struct bg_profile *policy_profile(const char *name);
/* "ws2003, vista, ws2008, win7, xp, nt4, win2000, win95, win98, winme, wsk" */
const char *policy_profile_names(void);

/* rules_verdict under the profile's rule set (NULL: the default profile). */
enum bg_verdict policy_verdict(const struct bg_profile *p, bool same_user,
                               struct bg_side first, struct bg_side second);

/* Which table, which cell, which seed the verdict comes from, in one line, e.g.
 * "ws2003 different-user table (seed 000): first exclusive wildcard, second default
 * wildcard -> INUSE". Returns what snprintf returns. */
int policy_describe(const struct bg_profile *p, bool same_user,
                    struct bg_side first, struct bg_side second, char *buf, size_t len);

/* The short form used in refusal messages: "ws2003 different-user". */
const char *policy_table_name(const struct bg_profile *p, bool same_user);

/* 0 for SUCCESS/CHECK, EADDRINUSE for INUSE, EACCES for ACCESS. */
int policy_errno(enum bg_verdict v);

const char *policy_verdict_name(enum bg_verdict v);  /* "SUCCESS", "INUSE", ... */
const char *policy_class_name(enum bg_class c);      /* "default", "reuseaddr", "exclusive" */
const char *policy_kind_name(enum bg_kind k);        /* "wildcard", "specific", "specific2" */
/* Parse the names above back (case-insensitive); -1 if unknown. */
int policy_class_parse(const char *s);
int policy_kind_parse(const char *s);
int policy_verdict_parse(const char *s);

#endif
