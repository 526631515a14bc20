/* checker - no two conflicting claims are ever alive together (test_stress).
 *
 * checker_sample lists a port's sockets twice in a row with sock_diag: two sockets in
 * both lists were alive together at the moment between the two. JUDGE_DELAY_MS later,
 * once late claims (tbind's) are in, checker_judge_due judges each pair by
 * claims_conflict. A conflicting pair alive together is a violation, unless one side was
 * inside close() then (counted apart; none is expected: bindguard lets go of an entry
 * once the real close returned). A
 * claim counts only at the address sock_diag has its socket bound to. Right after the
 * listings it notes whether the table had both sockets, who held them and whether their
 * workers lived, which is what a violation's description shows. */
#ifndef BG_STRESS_CHECKER_H
#define BG_STRESS_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "table.h"

#define MAX_ON_PORT 64  /* sockets judged on one port at once */

struct checker {
    long rounds, pairs, sightings, crowded, in_close;
    long misplaced;        /* claims not where the kernel has their socket: not judged */
    long violations;
    char first[4][700];    /* the first violations, described */
};
/* What it has judged since checker_reset; rounds is the caller's to count. */
extern struct checker checker;

/* Start afresh; `table` is the one whose entries a description looks up. */
void checker_reset(struct table *table);
/* Sample the sockets on proto/port now (proc_now_ms). */
void checker_sample(uint8_t proto, uint16_t port, int64_t now);
/* Judge the samples due by now, or all of them. */
void checker_judge_due(int64_t now, bool all);

/* The inodes (and, if asked, TCP states and local addresses) of up to max sockets
 * sock_diag lists on proto/port, once each; -errno if it could not. */
int checker_list_port(uint8_t proto, uint16_t port, uint32_t *inodes, uint8_t *states,
                      struct bg_addr *locals, int max);
/* Has the table an entry for this socket? (true if it can't be locked) */
bool checker_in_table(uint32_t inode);

#endif
