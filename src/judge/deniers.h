/* deniers - judging a wanted binding against one table and the kernel
 * (doc/design.md "What happens on bind", step 3).
 *
 * The table proposes, the kernel disposes: deniers are collected under the table lock,
 * each is confirmed with the kernel (sock_diag) outside it, and entries whose socket is
 * gone are reaped before judging again. Used by the shim's bind flow and by guard_check;
 * every function here must run inside fault_call (the table may be truncated under us). */
#ifndef BG_DENIERS_H
#define BG_DENIERS_H

#include <stdint.h>

#include "rules/rules.h"
#include "table.h"

/* A table entry that refuses the wanted binding, and how. */
struct denier {
    struct table_entry e;
    uint32_t idx;            /* its slot (TABLE_NO_INDEX: from another user's table) */
    enum bg_verdict verdict;
};

/* The rule book's verdict on `want` beside `held` (share list included). */
enum bg_verdict judge_one(const struct table_entry *held, const struct table_entry *want);

/* What judging found. */
enum judgement {
    JUDGED_CLEAR,    /* nothing denies; the lock is still held */
    JUDGED_CORRUPT,  /* the table can't be judged; the lock is still held */
    JUDGED_NO_LOCK,  /* the lock could not be taken */
    JUDGED_DENIED,   /* *denier is the most severe denier the kernel confirmed */
    JUDGED_UNKNOWN,  /* the kernel could not be asked about the deniers */
    JUDGED_CHURN,    /* the port kept changing between rounds */
};

/* Judge want on t (locks through budget.h). fd is the socket being bound (-1: none, for
 * `bindguard check`): a denial is checked against its own namespace key, and want->netns
 * corrected when the key it came with was stale. */
enum judgement judge_port(struct table *t, int fd, struct table_entry *want,
                          struct denier *denier);

/* A fault_call on t's mapping was cut short (t truncated): give t up and say so once.
 * The caller must not touch t's mapping again. */
void judge_table_faulted(struct table *t);

#endif
