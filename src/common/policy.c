/* policy - profiles, and the rule book's verdicts in words. See policy.h; the tables
 * themselves are in rules/verdict.h. */
#include "policy.h"

#include <errno.h>
#include <stdio.h>

#include "parse.h"

/* Where each set of rules comes from, for policy_describe(). */
static const char *const rules_source[] = {
    [BG_RULES_XP]     = "seed 000 \"Using SO_EXCLUSIVEADDRUSE\"",
    [BG_RULES_WS2003] = "seed 000 \"Enhanced Socket Security\"",
    [BG_RULES_WSK]    = "seed 003 \"Sharing Transport Addresses\", drawn with rows = second bind",
};
static const char specific2_source[] = "seed 001 \"Bind Behavior with Various Options Set\"";

/* One list drives the profile table and policy_profile_names(), so they cannot drift.
 * X(name, platform as seed 000's availability table names it, rules, has_exclusive,
 *   exclusive_needs_admin). */
#define BG_PROFILE_LIST(X)                                                          \
    X("ws2003",  "Windows Server 2003",  BG_RULES_WS2003, true,  false)             \
    X("vista",   "Windows Vista",        BG_RULES_WS2003, true,  false)             \
    X("ws2008",  "Windows Server 2008",  BG_RULES_WS2003, true,  false)             \
    X("win7",    "Windows 7 and newer",  BG_RULES_WS2003, true,  false)             \
    X("xp",      "Windows XP",           BG_RULES_XP,     true,  true)              \
    X("nt4",     "Windows NT 4.0",       BG_RULES_XP,     true,  true)              \
    X("win2000", "Windows 2000",         BG_RULES_XP,     true,  true)              \
    X("win95",   "Windows 95",           BG_RULES_XP,     false, false)             \
    X("win98",   "Windows 98",           BG_RULES_XP,     false, false)             \
    X("winme",   "Windows Me",           BG_RULES_XP,     false, false)             \
    X("wsk",     "Winsock Kernel (WSK)", BG_RULES_WSK,    true,  false)

/* policy_table_name() returns a constant string, so both spellings are built here. */
struct profile_entry {
    struct bg_profile pub;
    const char       *table_same;
    const char       *table_different;
};

#define PROFILE_ENTRY(n, plat, r, excl, admin) \
    { { n, plat, r, excl, admin }, n " same-user", n " different-user" },
static const struct profile_entry profiles[] = { BG_PROFILE_LIST(PROFILE_ENTRY) };

#define PROFILE_NAME(n, plat, r, excl, admin) ", " n
/* Every name is preceded by ", "; the leading one is skipped when returned. */
static const char profile_names[] = "" BG_PROFILE_LIST(PROFILE_NAME);

enum { NPROFILES = BG_COUNT(profiles) };

/* A NULL profile means the default, as BINDGUARD_PROFILE unset does. */
static const struct bg_profile *or_default(const struct bg_profile *p)
{
    return p ? p : &profiles[0].pub;
}

const struct bg_profile *policy_profile(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NPROFILES; i++)
        if (parse_caseeq(name, profiles[i].pub.name))
            return &profiles[i].pub;
    return NULL;
}

const char *policy_profile_names(void)
{
    return profile_names + 2;
}

enum bg_verdict policy_verdict(const struct bg_profile *p, bool same_user,
                               struct bg_side first, struct bg_side second)
{
    return rules_verdict(or_default(p)->rules, same_user, first, second);
}

/* Our own entries are found by address; a profile a caller built itself by name, and
 * failing that by rules. */
static const struct profile_entry *entry_of(const struct bg_profile *p)
{
    for (size_t i = 0; i < NPROFILES; i++)
        if (p == &profiles[i].pub)
            return &profiles[i];
    const struct bg_profile *named = p->name ? policy_profile(p->name) : NULL;
    if (named && named->rules == p->rules)
        return entry_of(named);
    for (size_t i = 0; i < NPROFILES; i++)
        if (profiles[i].pub.rules == p->rules)
            return &profiles[i];
    return &profiles[0];
}

const char *policy_table_name(const struct bg_profile *p, bool same_user)
{
    p = or_default(p);
    const struct profile_entry *e = entry_of(p);
    if (p->rules != BG_RULES_WS2003)
        return e->pub.name;
    return same_user ? e->table_same : e->table_different;
}

static const char *source_of(const struct bg_profile *p)
{
    if ((unsigned)p->rules < BG_COUNT(rules_source))
        return rules_source[p->rules];
    return "no seed";
}

/* How the second side was read: Specific2 under a wildcard first is the Specific cell. */
static const char *second_kind_text(struct bg_side first, struct bg_side second)
{
    if (second.kind == BG_SPECIFIC2 && first.kind == BG_WILDCARD)
        return "specific2 (read as specific, seed 001 note)";
    return policy_kind_name(second.kind);
}

int policy_describe(const struct bg_profile *p, bool same_user,
                    struct bg_side first, struct bg_side second, char *buf, size_t len)
{
    p = or_default(p);
    const char *table = policy_table_name(p, same_user);
    const char *source = rules_is_specific2_case(first, second) ? specific2_source : source_of(p);
    const char *why = rules_is_specific2_case(first, second)
                          ? " (a different specific address never conflicts)" : "";
    return snprintf(buf, len, "%s table (%s): first %s %s, second %s %s%s -> %s", table,
                    source, policy_class_name(first.cls), policy_kind_name(first.kind),
                    policy_class_name(second.cls), second_kind_text(first, second), why,
                    policy_verdict_name(policy_verdict(p, same_user, first, second)));
}

int policy_errno(enum bg_verdict v)
{
    switch (v) {
    case BG_INUSE:
        return EADDRINUSE;
    case BG_ACCESS:
        return EACCES;
    case BG_SUCCESS:
    case BG_CHECK:
        break;
    }
    return 0;
}

static const char *const verdict_names[] = {
    [BG_SUCCESS] = "SUCCESS", [BG_CHECK] = "CHECK", [BG_INUSE] = "INUSE", [BG_ACCESS] = "ACCESS",
};
static const char *const class_names[] = {
    [BG_CLASS_DEFAULT] = "default", [BG_CLASS_REUSEADDR] = "reuseaddr",
    [BG_CLASS_EXCLUSIVE] = "exclusive",
};
static const char *const kind_names[] = {
    [BG_WILDCARD] = "wildcard", [BG_SPECIFIC] = "specific", [BG_SPECIFIC2] = "specific2",
};

static const char *name_at(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : "?";
}

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (parse_caseeq(s, names[i]))
            return (int)i;
    return -1;
}

const char *policy_verdict_name(enum bg_verdict v)
{
    return name_at(verdict_names, BG_COUNT(verdict_names), (unsigned)v);
}

const char *policy_class_name(enum bg_class c)
{
    return name_at(class_names, BG_COUNT(class_names), (unsigned)c);
}

const char *policy_kind_name(enum bg_kind k)
{
    return name_at(kind_names, BG_COUNT(kind_names), (unsigned)k);
}

int policy_class_parse(const char *s)
{
    return index_of(class_names, BG_COUNT(class_names), s);
}

int policy_kind_parse(const char *s)
{
    return index_of(kind_names, BG_COUNT(kind_names), s);
}

int policy_verdict_parse(const char *s)
{
    return index_of(verdict_names, BG_COUNT(verdict_names), s);
}
