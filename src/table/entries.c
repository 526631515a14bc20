/* entries - claiming, changing and releasing entries, and reading them back. Every
 * change is a sequence of single ordered stores whose crash points a rebuild repairs
 * (listed above each function); foreign readers see each entry under its sequence count. */
#include "table_private.h"

#include <errno.h>
#include <string.h>


struct table_entry *table_slot_entry(struct table *t, uint32_t idx)
{
    if (idx >= t->capacity || !entry_live(&t->entries[idx]))
        return NULL;
    return &t->entries[idx];
}

struct table_entry *table_entry_by_id(struct table *t, uint32_t idx, uint64_t id)
{
    struct table_entry *e = table_slot_entry(t, idx);
    return e && e->id == id ? e : NULL;
}

/* Take a slot: the head of the free list, else the next never-used one. EIO when the
 * free list or the high-water mark do not make sense. */
static int slot_pop_free(struct table *t, uint32_t *idx)
{
    struct table_header *h = t->h;
    uint32_t hwm = h->hwm, head = h->free_head;
    if (hwm > t->capacity || head > hwm)
        return EIO;
    if (head != TABLE_LINK_NONE) {
        struct table_entry *s = &t->entries[head - 1];
        uint32_t next = s->next;
        if (load_u32(&s->state) == TABLE_STATE_LIVE || next > hwm)
            return EIO;
        h->free_head = next;
        *idx = head - 1;
        return 0;
    }
    if (hwm == t->capacity)
        return ENOSPC;
    h->hwm = hwm + 1;
    *idx = hwm;
    return 0;
}

static int slot_allocate(struct table *t, uint32_t *idx)
{
    int r = slot_pop_free(t, idx);
    if (r != EIO)
        return r;
    /* We hold the lock, so repairing here is as safe as in table_lock, and it keeps
     * claims working on a table someone scribbled on. */
    table_rebuild(t);
    r = slot_pop_free(t, idx);
    return r == EIO ? ENOSPC : r;
}

/* Crash points, in order: slot taken (rebuild frees it) -> id consumed -> fields written
 * (not LIVE: rebuild frees them) -> LIVE (rebuild links it) -> linked -> counted. */
static int claim(struct table *t, const struct table_entry *e, int stop, uint32_t *idx_out)
{
    struct table_entry c = *e;
    c.id = 1;  /* so fields_ok judges the caller's fields only */
    if (!fields_ok(&c))
        return EINVAL;
    uint32_t idx;
    int r = slot_allocate(t, &idx);
    if (r != 0)
        return r;
    struct table_header *h = t->h;
    c.id = h->next_id ? h->next_id : 1;
    h->next_id = c.id + 1;  /* consumed before use: a death here never reissues an id */
    c.comm[TABLE_COMM_LEN - 1] = '\0';
    uint32_t b = bucket_of(t, &c);
    c.next = load_u32(&t->buckets[b]);
    c.state = TABLE_STATE_FREE;
    struct table_entry *s = &t->entries[idx];
    seq_begin(s);
    c.seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    c.reserved = 0;
    memcpy(s, &c, sizeof c);
    *idx_out = idx;
    if (stop == TABLE_STOP_FIELDS)
        return 0;
    store_u32(&s->state, TABLE_STATE_LIVE);
    seq_end(s);
    if (stop == TABLE_STOP_PUBLISHED)
        return 0;
    store_u32(&t->buckets[b], TABLE_LINK(idx));
    summary_add(t, s);
    h->count++;
    return 0;
}

int table_claim(struct table *t, const struct table_entry *e, uint32_t *idx_out)
{
    return claim(t, e, -1, idx_out);
}

int table_claim_partial(struct table *t, const struct table_entry *e, enum table_stop at,
                        uint32_t *idx_out)
{
    return claim(t, e, (int)at, idx_out);
}

/* Crash points: marked FREE while still chained (rebuild drops it) -> unlinked (rebuild
 * reclaims the slot) -> on the free list -> uncounted. */
static bool release(struct table *t, uint32_t idx, uint64_t id, bool stop)
{
    struct table_entry *e = table_entry_by_id(t, idx, id);
    if (!e)
        return false;
    uint32_t *at = table_link_to(t, bucket_of(t, e), idx);
    seq_begin(e);
    store_u32(&e->state, TABLE_STATE_FREE);
    seq_end(e);
    if (stop)
        return true;
    if (!at) {
        mark_corrupt(t);  /* released all the same: the rebuild will not keep a FREE entry */
        return true;
    }
    summary_sub(t, e);
    store_u32(at, load_u32(&e->next));
    struct table_header *h = t->h;
    e->next = h->free_head;
    h->free_head = TABLE_LINK(idx);
    if (h->count)
        h->count--;
    return true;
}

bool table_set_flags(struct table *t, uint32_t idx, uint64_t id, uint8_t set, uint8_t clear)
{
    struct table_entry *e = table_entry_by_id(t, idx, id);
    if (!e)
        return false;
    seq_begin(e);
    e->flags = (uint8_t)((e->flags | set) & ~clear);
    seq_end(e);
    return true;
}

uint64_t table_renew(struct table *t, uint32_t idx, uint64_t id)
{
    struct table_entry *e = table_entry_by_id(t, idx, id);
    if (!e)
        return 0;
    struct table_header *h = t->h;
    uint64_t fresh = h->next_id ? h->next_id : 1;
    h->next_id = fresh + 1;  /* consumed first, as in claim: ids stay below next_id */
    seq_begin(e);
    e->id = fresh;
    seq_end(e);
    return fresh;
}

bool table_set_intent(struct table *t, uint32_t idx, uint64_t id, int64_t ns)
{
    struct table_entry *e = table_entry_by_id(t, idx, id);
    if (!e)
        return false;
    seq_begin(e);
    e->intent_ns = ns;
    seq_end(e);
    return true;
}

bool table_release(struct table *t, uint32_t idx, uint64_t id)
{
    return release(t, idx, id, false);
}

bool table_release_partial(struct table *t, uint32_t idx, uint64_t id)
{
    return release(t, idx, id, true);
}

void table_each(struct table *t, bool (*fn)(struct table_entry *e, uint32_t idx, void *arg),
                void *arg)
{
    /* The entry array, not the chains: listing must show what a rebuild would keep, even
     * when a chain is broken. */
    for (uint32_t i = 0, hwm = hwm_of(t); i < hwm; i++) {
        struct table_entry *e = table_slot_entry(t, i);
        if (e && !fn(e, i, arg))
            return;
    }
}

size_t table_count(const struct table *t)
{
    uint32_t n = t->h->count;
    return n < t->capacity ? n : t->capacity;
}

uint32_t table_capacity(const struct table *t)
{
    return t->capacity;
}

const char *table_path(const struct table *t)
{
    return t->path;
}

struct table_header *table_header(struct table *t)
{
    return t->h;
}

void table_mapping(const struct table *t, const void **base, size_t *len)
{
    *base = t->h;
    *len = (size_t)t->ident.file_size;
}

void table_entry_comm(const struct table_entry *e, char *buf, size_t len)
{
    size_t n = strnlen(e->comm, TABLE_COMM_LEN);
    if (n >= len)
        n = len - 1;
    memcpy(buf, e->comm, n);
    buf[n] = '\0';
}
