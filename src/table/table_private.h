/* table_private - what the table's own files share: the process-local handle, the
 * ordered loads and stores every mutation is made of, and the steps each file offers
 * the others. Not for use outside src/table/.
 *
 * Crash safety rests on write order, not on logging: every mutation is a sequence of
 * single aligned stores arranged so that a process killed between any two of them leaves
 * state that table_rebuild() turns back into a consistent table. The entry array is the
 * truth (an entry counts iff its state is LIVE and its fields validate); bucket chains,
 * the free list and the count are an index over it that rebuild can always recompute.
 *
 * Nothing read from the mapping is trusted: bounds come from the process-local copy of
 * the header taken at open, every link is range-checked, and chain walks stop on a cycle
 * (table_walk_step). A walk that meets corruption fails the operation and sets
 * header.repair; the next table_lock rebuilds. */
#ifndef BG_TABLE_PRIVATE_H
#define BG_TABLE_PRIVATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "table.h"

struct table {
    struct table_header *h;
    uint32_t            *summary;
    uint32_t            *buckets;
    struct table_entry  *entries;
    uint32_t             capacity;   /* local copies: the mapping's own may be tampered with */
    uint32_t             mask;
    int                  held;       /* this process holds the lock through this handle */
    struct table_ident   ident;
    dev_t                dev;        /* the file mapped, to notice it being replaced */
    ino_t                ino;
    char                 path[];
};

static inline uint32_t load_u32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_u32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t bucket_of(const struct table *t, const struct table_entry *e)
{
    return table_bucket(t, e->netns, e->proto, e->addr.port);
}

/* What an entry must look like to be judged or kept by a rebuild. */
static inline bool fields_ok(const struct table_entry *e)
{
    return e->id != 0
        && (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP)
        && (e->addr.family == AF_INET || e->addr.family == AF_INET6)
        && e->cls <= BG_CLASS_EXCLUSIVE
        && e->n_share <= TABLE_MAX_SHARE;
}

static inline bool entry_live(const struct table_entry *e)
{
    return load_u32(&e->state) == TABLE_STATE_LIVE && fields_ok(e);
}

/* Foreign readers (foreign.h) take an entry only when they read the same even sequence
 * count before and after it: a rewrite is bracketed by seq_begin/seq_end. */
static inline void seq_begin(struct table_entry *e)
{
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (s | 1u), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void seq_end(struct table_entry *e)
{
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (s | 1u) + 1u, __ATOMIC_RELEASE);
}

/* The summary is what a foreign reader looks at first: sequentially consistent, so that
 * an intent published here and a racer's published in its own table are not both missed
 * (intent.h). */
static inline uint32_t *summary_of(struct table *t, const struct table_entry *e)
{
    return &t->summary[table_summary_slot(e->proto, e->addr.port)];
}

static inline void summary_add(struct table *t, const struct table_entry *e)
{
    __atomic_add_fetch(summary_of(t, e), 1u, __ATOMIC_SEQ_CST);
}

static inline void summary_sub(struct table *t, const struct table_entry *e)
{
    uint32_t *c = summary_of(t, e);
    if (__atomic_load_n(c, __ATOMIC_RELAXED))
        __atomic_sub_fetch(c, 1u, __ATOMIC_SEQ_CST);
}

static inline void mark_corrupt(struct table *t)
{
    store_u32(&t->h->repair, 1);
}

/* Slots [0, hwm) have ever been used; the mapping's hwm clamped to the capacity. */
static inline uint32_t hwm_of(const struct table *t)
{
    uint32_t hwm = t->h->hwm;
    return hwm < t->capacity ? hwm : t->capacity;
}

/* ---- layout.c ---- */
/* slots 0: TABLE_DEFAULT_SLOTS; others clamped to [TABLE_MIN_SLOTS, TABLE_MAX_SLOTS]. */
uint32_t table_clamp_slots(uint32_t slots);
/* The ident a table of this capacity has, magic included. */
void table_make_ident(uint32_t capacity, struct table_ident *id);
/* Compare a read ident (and the file's size) with what this build would have written for
 * its capacity, which *want receives. false with one line in why. */
bool table_check_ident(const struct table_ident *id, off_t size, const char *path,
                       struct table_ident *want, char *why, size_t whylen);

/* ---- open.c ---- */
/* A handle over a mapping whose ident is *id (already validated). NULL: out of memory. */
struct table *table_handle_new(void *map, const struct table_ident *id, const char *path);
/* mmap the whole table file read-write and shared; NULL with why. */
void *table_map_file(int fd, uint64_t size, const char *path, char *why, size_t whylen);

/* ---- create.c ---- */
/* Create the table file at path with `slots` (clamped) capacity, race-free: NULL with
 * *lost set when someone else published one under the name first. */
struct table *table_create(const char *path, uint32_t slots, bool *lost,
                           char *why, size_t whylen);

/* ---- mutex.c ---- */
/* Robust, process-shared, error-checking. false if the attributes are refused. */
bool table_mutex_init(pthread_mutex_t *m);

/* ---- walk.c: one walk along a bucket's chain ---- */
struct table_walk {
    uint32_t link, saved, lam, power;
    const char *bad;  /* what was wrong, once a step returned TABLE_WALK_CORRUPT */
};
enum { TABLE_WALK_END = UINT32_MAX, TABLE_WALK_CORRUPT = UINT32_MAX - 1 };
struct table_walk table_walk_start(const struct table *t, uint32_t bucket);
/* The next entry's index, TABLE_WALK_END, or TABLE_WALK_CORRUPT (a bad link, a cycle, or
 * an entry that is not live: once repaired, chains hold live entries only). */
uint32_t table_walk_step(const struct table *t, struct table_walk *w);
/* The link word that points at entry idx in bucket b (the bucket head or a predecessor's
 * next), or NULL if the chain is corrupt or does not hold it. */
uint32_t *table_link_to(struct table *t, uint32_t b, uint32_t idx);

#endif
