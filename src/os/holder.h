/* holder - name a live process that holds a socket now
 * (doc/design.md "Naming the holder"). Daemons bind and fork away, so the binder's pid may be gone; only the denial
 * path pays for looking further, through /proc. */
#ifndef BG_HOLDER_H
#define BG_HOLDER_H

#include "table.h"

struct holder {
    int  pid;                       /* 0: no live holder found that we may look at */
    char comm[TABLE_COMM_LEN];
};

/* The entry's own pid if it still holds the socket (at the recorded descriptor, then at
 * any other), else the first process found in /proc holding socket:[inode] (bounded
 * scan), else the entry's pid if it is alive. Linger entries (socket closed) skip the
 * scan.
 *
 * Reading /proc/PID/fd/N pins that descriptor's file for the length of the call: a
 * socket its owner closes meanwhile stays bound until we let go, and a bind of its port
 * at that instant gets the kernel's EADDRINUSE (lsof and `ss -p` do the same). Hence the
 * scan looks at the likely holder first and never at the caller's own descriptors,
 * which other threads may be closing: callers name their own sockets from their
 * records (holder_self). */
void holder_find(const struct table_entry *e, struct holder *h);
/* The entry names a socket the caller (process `self`) holds: no /proc lookup. */
void holder_self(const struct table_entry *e, int self, struct holder *h);

#endif
