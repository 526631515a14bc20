/* table - one user's port table in shared memory, as its owner's processes see it.
 *
 * One file per uid (own.h names it), written only by processes of its owner (mode 0644),
 * read by everyone else through foreign.h, never mapped by them. A header (magic, ABI,
 * sizes), a robust process-shared pthread mutex, a per-(protocol, port) summary that
 * foreign readers check first, a bucket array and a fixed array of entries chained per
 * bucket, keyed by (netns cookie, protocol, port). Indices and strings read back are still
 * bounds-checked and chain walks bounded: a crash mid-write must cost a repair, never a
 * wild access. All entry functions except table_open/table_close require the lock. */
#ifndef BG_TABLE_H
#define BG_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "address.h"
#include <pthread.h>

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
    TABLE_F_PENDING   = 1u << 4,  /* an intent: judged and about to bind (intent.h) */
};

/* One live binding, fixed width (the layout is pinned by a test). */
struct table_entry {
    uint64_t id;          /* unique per insert; 0 never used */
    uint64_t netns;       /* SO_NETNS_COOKIE of the socket's namespace */
    int64_t  since;       /* CLOCK_REALTIME seconds at bind */
    int64_t  intent_ns;   /* CLOCK_MONOTONIC when the intent was published (PENDING) */
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
    /* table-private, maintained by src/table/: */
    uint32_t next;        /* chain link */
    uint32_t state;       /* free / live; written last on insert */
    uint32_t seq;         /* odd while the owner rewrites the entry (foreign readers) */
    uint32_t reserved;
};

struct table;        /* process-local handle: mapping, capacity, path */
struct table_ident;  /* the shared layout, below */

/* Open (creating race-free if absent) the table file `name`: a POSIX shm name
 * ("/bindguard-v3.0" or "bindguard-v3.0" -> /dev/shm/...) or an absolute path. Libraries
 * and the CLI go through own.h, which picks the name for a uid; this opens exactly `name`
 * and refuses a file this process's euid does not own. `slots` is the capacity if this
 * call creates it. On failure returns NULL and writes one line of why into `why`. The
 * mapping is kept for the life of the process (never unmapped while locked). */
struct table *table_open(const char *name, uint32_t slots, char *why, size_t whylen);
/* table_open for readers, which must not leave a table behind for a mistyped name: never
 * creates one. NULL with why, and errno ENOENT when there is no file under the name. */
struct table *table_attach(const char *name, char *why, size_t whylen);
void table_close(struct table *t);  /* for tests and the CLI; never while locked */
/* Is the file under the table's name no longer the one this handle maps (removed or
 * replaced)? Then processes opening the name from now on use another table. */
bool table_replaced(const struct table *t);
/* The device and inode of the file this handle maps (to tell it from foreign tables). */
void table_file_id(const struct table *t, uint64_t *dev, uint64_t *ino);
/* The file a table name stands for ("/x" -> "/dev/shm/x"; absolute paths as given). */
bool table_file_path(const char *name, char *buf, size_t len, char *why, size_t whylen);
/* Would this build use a table with this ident in a file of this size? (foreign.h) */
bool table_ident_usable(const struct table_ident *id, uint64_t file_size);

/* Bounded lock. 0 on success (a dead holder's half-written state repaired first), else
 * ETIMEDOUT, EDEADLK (this thread holds it), or EIO (the table failed validation). */
int  table_lock(struct table *t, unsigned timeout_ms);
void table_unlock(struct table *t);
/* After ETIMEDOUT: the mutex names a thread that no longer exists. */
bool table_lock_orphaned(const struct table *t);
/* table_lock, except that a lock still held by a thread that no longer exists once the
 * wait is over gets one more try without waiting, then ENOTRECOVERABLE: waiting will
 * never help. */
int  table_lock_or_orphaned(struct table *t, unsigned timeout_ms);
/* Why a table can't be used now, for an error of table_lock_or_orphaned (or EFAULT: the
 * table shrank during the work, ENOMEM), as one phrase: "lock held too long". */
const char *table_lock_trouble(int err);
/* After work on the table was cut short (SIGBUS: fault.h): ask the next holder to
 * rebuild, and let go of the lock if this thread holds it, so that others don't wait out
 * their bound. May fault itself: call it through fault_call. */
void table_abandon(struct table *t);

/* Live entries on (netns, proto, port): their indices into idx[] (at most max), returns
 * the number found (which may exceed max), or -1 (EIO) if the chain is corrupt. */
int table_find(struct table *t, uint64_t netns, uint8_t proto, uint16_t port,
               uint32_t *idx, size_t max);
/* Whatever live entry is in slot idx (bounds-checked); NULL if idx is out of range or
 * the slot is free. */
struct table_entry *table_slot_entry(struct table *t, uint32_t idx);
/* Insert a copy of *e (id, next, state assigned here). 0 and *idx_out, or ENOSPC. */
int table_claim(struct table *t, const struct table_entry *e, uint32_t *idx_out);
/* Remove the entry at idx if it is still the one with this id. true if removed. */
bool table_release(struct table *t, uint32_t idx, uint64_t id);
/* The live entry (idx, id) names: slot idx, if it still holds the entry with this id;
 * NULL if that entry was released, replaced or renewed. */
struct table_entry *table_entry_by_id(struct table *t, uint32_t idx, uint64_t id);
/* Give the live entry (idx, id) a fresh id (under its sequence count), so that every
 * (idx, id) taken before no longer finds it: what was decided about it meanwhile no
 * longer applies. The new id, or 0 if (idx, id) is not live. */
uint64_t table_renew(struct table *t, uint32_t idx, uint64_t id);
/* Change a live entry's flags (set, then clear) under its sequence count, so a foreign
 * reader never sees half of it. false if (idx, id) is gone. */
bool table_set_flags(struct table *t, uint32_t idx, uint64_t id, uint8_t set, uint8_t clear);
/* Stamp a PENDING entry's intent (CLOCK_MONOTONIC ns), under its sequence count. */
bool table_set_intent(struct table *t, uint32_t idx, uint64_t id, int64_t ns);

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

/* ---- Shared layout (pinned by tests/test_table.c; change it only with TABLE_ABI_VERSION,
 * and the default table name with it: bindguard.h) ----
 * The file is: struct table_header | summary (uint32_t x 2 x 65536) | bucket heads
 * (uint32_t, power of two >= capacity) | entries (struct table_entry x capacity), each
 * part 64-byte aligned. The summary counts live entries (pending ones included) per
 * (protocol, port) whatever the namespace, so a foreign reader learns from one 4-byte
 * read that a table has nothing on a port. Links (bucket heads,
 * entry.next, free list) hold index + 1 so that 0, what ftruncate gives, means "none":
 * creating a table touches one page, and tmpfs allocates the rest as it is used. */
#define TABLE_MAGIC        UINT64_C(0x01454c4241544742)  /* "BGTABLE\1"; stored last: "ready" */
#define TABLE_ABI_VERSION  3u  /* 3: one table per uid, pthread mutex, summary, seq, intents */
#define TABLE_SUMMARY_PORTS 65536u  /* per protocol (TCP, then UDP) */
#define TABLE_STATE_FREE   0u
#define TABLE_STATE_LIVE   0x4556494cu                   /* "LIVE": unlikely from stray bytes */
#define TABLE_LINK_NONE    0u
#define TABLE_LINK(idx)    ((uint32_t)(idx) + 1u)

/* Written once by the creator, never after; compared whole under every lock. 64 bytes. */
struct table_ident {
    uint64_t magic;
    uint32_t abi;
    uint32_t header_size;
    uint32_t entry_size;
    uint32_t lock_size;    /* sizeof(pthread_mutex_t): 32- and 64-bit lay it out apart */
    uint32_t ptr_size;
    uint32_t capacity;
    uint32_t nbuckets;
    uint32_t summary_off;  /* uint32_t live+pending entries per (protocol, port) */
    uint64_t bucket_off;
    uint64_t entry_off;
    uint64_t file_size;
};

struct table_header {
    struct table_ident ident;
    /* Under the lock; on its own cache line so ident reads never contend with writers. */
    _Alignas(64) uint64_t next_id;
    uint32_t count;        /* live entries */
    uint32_t hwm;          /* slots [0, hwm) have ever been used */
    uint32_t free_head;    /* link of the first free slot below hwm */
    uint32_t repair;       /* nonzero: corruption seen, the next table_lock rebuilds */
    uint32_t repairs;      /* how many rebuilds so far (diagnostics) */
    uint32_t reserved;
    /* robust, process-shared, error-checking; only its owner's uid can write it */
    _Alignas(64) pthread_mutex_t lock;
};

/* Details of the functions above:
 * - table_open: slots 0 means TABLE_DEFAULT_SLOTS, others are clamped to
 *   [TABLE_MIN_SLOTS, TABLE_MAX_SLOTS]. A creator builds the table under a temporary name
 *   and link(2)s it into place, so a half-built table is never visible under `name`.
 * - table_lock: EIO when the ident block in the mapping no longer matches what was
 *   validated at open, or the mutex is unrecoverable. It repairs before returning 0:
 *   after the last holder died holding the lock (EOWNERDEAD: repaired, then made
 *   consistent before anyone else can take it), and when an earlier operation flagged
 *   corruption (header.repair) -- a rebuild is O(used slots + buckets + summary), paid
 *   only after a death or corruption. A rebuild keeps a PENDING entry (its binder died,
 *   maybe after its real bind) as a plain entry, for the kernel to confirm or refute.
 * - table_find -1 / table_release on a broken chain set header.repair; table_claim
 *   rebuilds at once when the free list is broken, then retries.
 * - table_claim: also EINVAL for an entry that would not validate (proto not TCP/UDP,
 *   family not AF_INET/AF_INET6, class out of range, n_share > TABLE_MAX_SHARE).
 * - table_slot_entry/table_entry_by_id return only entries that validate as above;
 *   fields other than those (comm, share_uids beyond n_share) are still shared memory:
 *   read comm with table_entry_comm. */

/* The shared mapping (for fault.c: anyone may truncate the file under it). */
void table_mapping(const struct table *t, const void **base, size_t *len);

/* Size of the file a table of `slots` capacity needs (slots clamped as table_open does). */
uint64_t table_file_size(uint32_t slots);
/* Copy e->comm into buf (len >= 1), stopping at the array's end even without a NUL. */
void table_entry_comm(const struct table_entry *e, char *buf, size_t len);

/* ---- For tests only: stop an operation where a process killed there would stop ---- */
enum table_stop {
    TABLE_STOP_FIELDS,     /* claim: slot taken, fields written, not published */
    TABLE_STOP_PUBLISHED,  /* claim: state LIVE, not yet linked into its chain */
};
/* table_claim, stopped at `at` (requires the lock). 0 and *idx_out, or as table_claim. */
int table_claim_partial(struct table *t, const struct table_entry *e, enum table_stop at,
                        uint32_t *idx_out);
/* table_release stopped after marking the entry free, before unlinking it. */
bool table_release_partial(struct table *t, uint32_t idx, uint64_t id);
/* The mapped header and the bucket of a key, to corrupt a table on purpose. */
struct table_header *table_header(struct table *t);
uint32_t table_bucket(const struct table *t, uint64_t netns, uint8_t proto, uint16_t port);
/* The same hash for a reader that has only the bucket count (a power of two). */
uint32_t table_bucket_of(uint32_t nbuckets, uint64_t netns, uint8_t proto, uint16_t port);
/* Index of (proto, port) in the summary; proto must be TCP or UDP. */
static inline uint32_t table_summary_slot(uint8_t proto, uint16_t port)
{
    return (proto == 17 /* IPPROTO_UDP */ ? TABLE_SUMMARY_PORTS : 0u) + port;
}

#endif
