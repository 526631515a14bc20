/* holder - name a live process that holds a socket now (INTERPOSER-NOTES "Naming the
 * holder"). Daemons bind and fork away, so the binder's pid may be gone; only the denial
 * path pays for looking further, through /proc. */
#ifndef BG_HOLDER_H
#define BG_HOLDER_H

#include "table.h"

struct holder {
    int  pid;                       /* 0: no live holder found that we may look at */
    char comm[TABLE_COMM_LEN];
};

/* The entry's own pid if it still holds the socket, else the first process found in
 * /proc holding socket:[inode] (bounded scan), else the entry's pid if it is alive. */
void holder_find(const struct table_entry *e, struct holder *h);

#endif
