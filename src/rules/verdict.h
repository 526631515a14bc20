/* rules/verdict - the seed tables: what Windows answers to a second bind.
 *
 * Pure: no I/O, no globals written, no libc. Given the rule set of a profile, whether
 * both binds come from the same user, and the class and address kind of the first
 * (bound) and second (binding) socket, say what Windows answers the second bind.
 * The tables are transcribed from the seed documents (doc/design.md "Sources"), not
 * from tests/data/bind-rules.tsv, so that the TSV test catches a transcription error. */
#ifndef BG_RULES_VERDICT_H
#define BG_RULES_VERDICT_H

#include "types.h"

enum bg_verdict { BG_SUCCESS, BG_CHECK, BG_INUSE, BG_ACCESS };

/* A socket's class at bind time (doc/design.md "Option mapping"; rules/class.h). */
enum bg_class { BG_CLASS_DEFAULT, BG_CLASS_REUSEADDR, BG_CLASS_EXCLUSIVE };

/* SPECIFIC2: a specific address other than the first socket's (seed 001, Table 1).
 * Only meaningful for the second socket; under a wildcard first socket it reads as
 * SPECIFIC (seed 001: "the entry for Specific covers all specific address cases"). */
enum bg_kind { BG_WILDCARD, BG_SPECIFIC, BG_SPECIFIC2 };

/* Which seed table a profile follows. */
enum bg_rules { BG_RULES_XP, BG_RULES_WS2003, BG_RULES_WSK };

struct bg_side {
    enum bg_class cls;
    enum bg_kind  kind;
};

/* Rows and columns of every table are (class, kind) pairs in the seeds' order: default
 * wildcard, default specific, reuseaddr wildcard, reuseaddr specific, exclusive
 * wildcard, exclusive specific. Stored as bytes so that one copy per user is small. */
enum { BG_CELLS = 6 };
#define S_ BG_SUCCESS
#define C_ BG_CHECK
#define U_ BG_INUSE
#define A_ BG_ACCESS   /* also the WSK seed's STATUS_ACCESS_DENIED */

/* Seed 000, "Using SO_EXCLUSIVEADDRUSE": Windows XP and earlier. Rows = first bind. */
static const bg_u8 bg_table_xp[BG_CELLS][BG_CELLS] = {
    /*                  default     reuseaddr   exclusive */
    /*                  W   S       W   S       W   S     */
    /* default   W */ { U_, U_,     S_, S_,     U_, U_ },
    /* default   S */ { U_, U_,     S_, S_,     U_, U_ },
    /* reuseaddr W */ { U_, U_,     S_, S_,     U_, U_ },
    /* reuseaddr S */ { U_, U_,     S_, S_,     U_, U_ },
    /* exclusive W */ { U_, U_,     A_, A_,     U_, U_ },
    /* exclusive S */ { U_, U_,     A_, A_,     U_, U_ },
};

/* Seed 000, "Enhanced Socket Security", first table: Windows Server 2003 and later,
 * both binds by the same user. Rows = first bind. */
static const bg_u8 bg_table_ws2003_same[BG_CELLS][BG_CELLS] = {
    /* default   W */ { U_, S_,     A_, S_,     U_, S_ },
    /* default   S */ { S_, U_,     S_, A_,     U_, U_ },
    /* reuseaddr W */ { U_, S_,     S_, S_,     U_, S_ },
    /* reuseaddr S */ { S_, U_,     S_, S_,     U_, U_ },
    /* exclusive W */ { U_, A_,     A_, A_,     U_, A_ },
    /* exclusive S */ { S_, U_,     S_, A_,     U_, U_ },
};

/* Seed 000, "Enhanced Socket Security", second table: different users. Rows = first. */
static const bg_u8 bg_table_ws2003_different[BG_CELLS][BG_CELLS] = {
    /* default   W */ { U_, A_,     A_, A_,     U_, A_ },
    /* default   S */ { S_, U_,     S_, A_,     U_, U_ },
    /* reuseaddr W */ { U_, A_,     S_, S_,     U_, A_ },
    /* reuseaddr S */ { S_, U_,     S_, S_,     U_, U_ },
    /* exclusive W */ { U_, A_,     A_, A_,     U_, A_ },
    /* exclusive S */ { S_, U_,     S_, A_,     U_, U_ },
};

/* Seed 003, "Sharing Transport Addresses": Winsock Kernel. Drawn as the seed draws it,
 * the other way round from seed 000: ROWS = SECOND bind, columns = first bind. */
static const bg_u8 bg_table_wsk_by_second[BG_CELLS][BG_CELLS] = {
    /* default   W */ { U_, S_,     U_, S_,     U_, S_ },
    /* default   S */ { C_, U_,     C_, A_,     A_, U_ },
    /* reuseaddr W */ { A_, S_,     S_, S_,     A_, S_ },
    /* reuseaddr S */ { C_, A_,     S_, S_,     A_, A_ },
    /* exclusive W */ { U_, U_,     U_, U_,     U_, U_ },
    /* exclusive S */ { C_, U_,     C_, U_,     A_, U_ },
};
#undef S_
#undef C_
#undef U_
#undef A_

BG_RULES_INLINE _Bool rules_side_valid(struct bg_side s)
{
    return (unsigned)s.cls <= BG_CLASS_EXCLUSIVE && (unsigned)s.kind <= BG_SPECIFIC2;
}

/* Seed 001 alone decides Specific2 after a specific first: they never meet. */
BG_RULES_INLINE _Bool rules_is_specific2_case(struct bg_side first, struct bg_side second)
{
    return second.kind == BG_SPECIFIC2 && first.kind != BG_WILDCARD;
}

BG_RULES_INLINE unsigned rules_cell(struct bg_side s)
{
    return (unsigned)s.cls * 2 + (s.kind == BG_WILDCARD ? 0 : 1);
}

/* The verdict for the second bind. An invalid side or rule set (a corrupt input) reads
 * as INUSE: a rule book never turns garbage into an allowance. */
BG_RULES_INLINE enum bg_verdict rules_verdict(enum bg_rules rules, _Bool same_user,
                                            struct bg_side first, struct bg_side second)
{
    if (!rules_side_valid(first) || !rules_side_valid(second))
        return BG_INUSE;
    if (rules_is_specific2_case(first, second))
        return BG_SUCCESS;
    unsigned f = rules_cell(first), s = rules_cell(second);
    if (f >= BG_CELLS || s >= BG_CELLS)
        return BG_INUSE;
    switch (rules) {
    case BG_RULES_XP:
        return (enum bg_verdict)bg_table_xp[f][s];
    case BG_RULES_WS2003:
        return (enum bg_verdict)(same_user ? bg_table_ws2003_same[f][s]
                                           : bg_table_ws2003_different[f][s]);
    case BG_RULES_WSK:
        return (enum bg_verdict)bg_table_wsk_by_second[s][f];
    }
    return BG_INUSE;
}

/* Denials compare by ACCESS > INUSE > CHECK > SUCCESS; anything outside the enum ranks
 * with ACCESS, so it can never make a denial look milder. */
BG_RULES_INLINE int rules_severity(enum bg_verdict v)
{
    switch (v) {
    case BG_SUCCESS: return 0;
    case BG_CHECK:   return 1;
    case BG_INUSE:   return 2;
    case BG_ACCESS:  return 3;
    }
    return 3;
}

BG_RULES_INLINE _Bool rules_more_severe(enum bg_verdict a, enum bg_verdict b)
{
    return rules_severity(a) > rules_severity(b);
}

/* WSK's CHECK: the second owner passes the first socket's share list, or is denied
 * (seed 003: a failed access check is STATUS_ACCESS_DENIED). */
BG_RULES_INLINE enum bg_verdict rules_resolve_check(enum bg_verdict v, _Bool access_granted)
{
    if (v != BG_CHECK)
        return v;
    return access_granted ? BG_SUCCESS : BG_ACCESS;
}

#endif
