/* table - the cross-process port table in shared memory.
 *
 * One file (default /dev/shm/bindguard-v1) shared by every user's processes, mode 0666.
 * A header (magic, ABI, sizes), one robust process-shared mutex, a bucket array and a
 * fixed array of entries chained per bucket, keyed by (netns cookie, protocol, port).
 * Everything read from it is untrusted: indices and strings are bounds-checked, chain
 * walks are bounded, and a table that fails validation is reported and not used.
 * All entry functions except table_open/table_close require the lock. */
#ifndef BG_TABLE_H
#define BG_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "address.h"

#define TABLE_COMM_LEN     16
#define TABLE_MAX_SHARE    8
#define TABLE_DEFAULT_SLOTS 65536u
#define TABLE_MIN_SLOTS    16u
#define TABLE_MAX_SLOTS    (1u << 22)
#define TABLE_NO_INDEX     UINT32_MAX

/* entry.flags */
enum {
    TABLE_F_LISTENING = 1u << 0,  /* listen() succeeded on it */
    TABLE_F_EXPLICIT  = 1u << 1,  /* the class came from setting SO_EXCLUSIVEADDRUSE */
    TABLE_F_ACCEPTED  = 1u << 2,  /* accepted at least one connection */
    TABLE_F_LINGER    = 1u << 3,  /* socket closed; kept while its connections live */
};

/* One live binding, fixed width (the layout is pinned by a test). */
struct table_entry {
    uint64_t id;          /* unique per insert; 0 never used */
    uint64_t netns;       /* SO_NETNS_COOKIE of the socket's namespace */
    int64_t  since;       /* CLOCK_REALTIME seconds at bind */
    uint32_t inode;       /* socket inode (fstat st_ino) */
    uint32_t uid;         /* socket owner (fstat st_uid) */
    int32_t  pid;         /* a process known to hold the socket */
    int32_t  fd;          /* its descriptor number there, to re-check the holder */
    struct bg_addr addr;  /* bound address (real port after bind) */
    uint8_t  proto;       /* IPPROTO_TCP or IPPROTO_UDP */
    uint8_t  cls;         /* enum bg_class */
    uint8_t  flags;       /* TABLE_F_* */
    uint8_t  n_share;     /* valid entries of share_uids (wsk) */
    uint32_t share_uids[TABLE_MAX_SHARE];
    char     comm[TABLE_COMM_LEN];  /* NUL-terminated within the array, when read back */
    /* table-private, maintained by table.c: */
    uint32_t next;        /* chain link */
    uint32_t state;       /* free / live; written last on insert */
};

struct table;  /* process-local handle: mapping, capacity, path */

/* Open (creating race-free if absent) the table `name`: a POSIX shm name ("/bindguard-v1"
 * or "bindguard-v1" -> /dev/shm/...) or an absolute path. `slots` is the capacity if this
 * call creates it. On failure returns NULL and writes one line of why into `why`. The
 * mapping is kept for the life of the process (never unmapped while locked). */
struct table *table_open(const char *name, uint32_t slots, char *why, size_t whylen);
void table_close(struct table *t);  /* for tests and the CLI; never while locked */

/* Bounded lock. 0 on success (a dead holder's half-written state repaired first), else
 * ETIMEDOUT, ENOTRECOVERABLE, or EIO (the table failed validation). */
int  table_lock(struct table *t, unsigned timeout_ms);
void table_unlock(struct table *t);

/* Live entries on (netns, proto, port): their indices into idx[] (at most max), returns
 * the number found (which may exceed max), or -1 (EIO) if the chain is corrupt. */
int table_find(struct table *t, uint64_t netns, uint8_t proto, uint16_t port,
               uint32_t *idx, size_t max);
/* Bounds-checked access to a live entry; NULL if idx is out of range or free. */
struct table_entry *table_at(struct table *t, uint32_t idx);
/* Insert a copy of *e (id, next, state assigned here). 0 and *idx_out, or ENOSPC. */
int table_claim(struct table *t, const struct table_entry *e, uint32_t *idx_out);
/* Remove the entry at idx if it is still the one with this id. true if removed. */
bool table_release(struct table *t, uint32_t idx, uint64_t id);
/* Find a live entry by (idx, id); NULL if it was released or replaced. */
struct table_entry *table_get(struct table *t, uint32_t idx, uint64_t id);

/* Walk every live entry (for list/gc); stop when fn returns false. */
void table_each(struct table *t, bool (*fn)(struct table_entry *e, uint32_t idx, void *arg),
                void *arg);

size_t   table_count(const struct table *t);     /* live entries */
uint32_t table_capacity(const struct table *t);
const char *table_path(const struct table *t);

/* Verify chains, counts and bounds; 0 if consistent, else -1 and one line in why. */
int table_check(struct table *t, char *why, size_t whylen);
/* Rebuild chains and the free list from the entry array (repair after owner death). */
void table_rebuild(struct table *t);

#endif
