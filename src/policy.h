/* policy - the seed tables as a pure function. No I/O, no globals written.
 *
 * Given a profile, whether both binds come from the same user, and the Windows class and
 * address kind of a first (already bound) and a second (binding now) socket, say what
 * Windows would answer to the second bind. */
#ifndef BG_POLICY_H
#define BG_POLICY_H

#include <stdbool.h>
#include <stddef.h>

enum bg_verdict { BG_SUCCESS, BG_CHECK, BG_INUSE, BG_ACCESS };

/* A socket's class at bind time (DESIGN.md "Option mapping"). */
enum bg_class { BG_CLASS_DEFAULT, BG_CLASS_REUSEADDR, BG_CLASS_EXCLUSIVE };

/* SPECIFIC2: a specific address other than the first socket's (seed 001, Table 1).
 * Only meaningful for the second socket; for a wildcard first socket it reads as
 * SPECIFIC (seed 001: "the entry for Specific covers all specific address cases"). */
enum bg_kind { BG_WILDCARD, BG_SPECIFIC, BG_SPECIFIC2 };

enum bg_rules { BG_RULES_XP, BG_RULES_WS2003, BG_RULES_WSK };

struct bg_profile {
    const char   *name;                  /* canonical lower-case name, e.g. "win7" */
    const char   *platform;              /* as seed 000's availability table names it */
    enum bg_rules rules;
    bool          has_exclusive;         /* SO_EXCLUSIVEADDRUSE exists (not win9x) */
    bool          exclusive_needs_admin; /* XP and earlier: Administrators only */
};

struct bg_side {
    enum bg_class cls;
    enum bg_kind  kind;
};

/* Case-insensitive lookup; NULL for an unknown name. */
const struct bg_profile *policy_profile(const char *name);
/* "ws2003, vista, ws2008, win7, xp, nt4, win2000, win95, win98, winme, wsk" */
const char *policy_profile_names(void);

enum bg_verdict policy_verdict(const struct bg_profile *p, bool same_user,
                               struct bg_side first, struct bg_side second);

/* Which table, which cell, which seed the verdict comes from, in one line, e.g.
 * "ws2003 different-user table (seed 000): first exclusive wildcard, second default
 * wildcard -> INUSE". Returns what snprintf returns. */
int policy_describe(const struct bg_profile *p, bool same_user,
                    struct bg_side first, struct bg_side second, char *buf, size_t len);

/* The short form used in refusal messages: "ws2003 different-user". */
const char *policy_table_name(const struct bg_profile *p, bool same_user);

/* Denials compare by this order: ACCESS > INUSE > CHECK > SUCCESS. */
bool policy_more_severe(enum bg_verdict a, enum bg_verdict b);
/* wsk CHECK: the second owner passes the first socket's share list or is denied. */
enum bg_verdict policy_resolve_check(enum bg_verdict v, bool access_granted);
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
