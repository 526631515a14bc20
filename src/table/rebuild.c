/* rebuild - the repair: chains, free list, count and summary recomputed from the entry
 * array, which is the truth. */
#include "table_private.h"

#include <string.h>


void table_rebuild(struct table *t)
{
    struct table_header *h = t->h;
    uint32_t hwm = hwm_of(t), free_head = TABLE_LINK_NONE, count = 0;
    uint64_t max_id = 0;
    memset(t->buckets, 0, ((size_t)t->mask + 1) * sizeof *t->buckets);
    /* Only counts that are set are cleared: writing zeros would make tmpfs allocate the
     * whole summary. */
    for (uint32_t i = 0; i < 2 * TABLE_SUMMARY_PORTS; i++)
        if (t->summary[i])
            __atomic_store_n(&t->summary[i], 0u, __ATOMIC_SEQ_CST);
    /* Backwards, so the free list comes out ascending: low slots are reused first and
     * the used part of the file stays compact. */
    for (uint32_t i = hwm; i-- > 0;) {
        struct table_entry *e = &t->entries[i];
        uint32_t *head = &free_head;
        if (entry_live(e)) {
            /* A pending entry found by a rebuild is an intent whose binder died (its
             * bind ran under the lock). It may have died after the real bind, and the
             * socket outlive it (a forked child, an exec, the exit of its other
             * threads): kept as a plain entry, for the kernel to confirm or refute on
             * the next conflicting bind or gc, like any other claim. */
            if (e->flags & TABLE_F_PENDING) {
                seq_begin(e);
                e->flags &= (uint8_t)~TABLE_F_PENDING;
                seq_end(e);
            }
            head = &t->buckets[bucket_of(t, e)];
            summary_add(t, e);
            count++;
            max_id = e->id > max_id ? e->id : max_id;
        } else {
            seq_begin(e);
            store_u32(&e->state, TABLE_STATE_FREE);
            seq_end(e);
        }
        e->next = *head;
        *head = TABLE_LINK(i);
    }
    h->hwm = hwm;
    h->free_head = free_head;
    h->count = count;
    if (h->next_id <= max_id)
        h->next_id = max_id + 1;
    h->repairs++;
    store_u32(&h->repair, 0);
}
