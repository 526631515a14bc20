/* walk - bounded walks along a bucket's chain, and finding a key's entries. */
#include "table_private.h"

#include <errno.h>

/* Links are range-checked and a cycle is caught by Brent's method (a saved link, re-saved
 * at power-of-two distances), so a corrupt chain costs a few steps more than its length,
 * never a hang. */
struct table_walk table_walk_start(const struct table *t, uint32_t bucket)
{
    return (struct table_walk){ .link = load_u32(&t->buckets[bucket]), .power = 1 };
}

uint32_t table_walk_step(const struct table *t, struct table_walk *w)
{
    uint32_t link = w->link;
    if (link == TABLE_LINK_NONE)
        return TABLE_WALK_END;
    if (link > t->capacity || link == w->saved) {
        w->bad = link == w->saved ? "a cycle" : "a link out of range";
        return TABLE_WALK_CORRUPT;
    }
    if (++w->lam == w->power) {
        w->saved = link;
        w->power <<= 1;
        w->lam = 0;
    }
    const struct table_entry *e = &t->entries[link - 1];
    if (load_u32(&e->state) != TABLE_STATE_LIVE) {
        w->bad = "an entry that is not live";
        return TABLE_WALK_CORRUPT;
    }
    w->link = load_u32(&e->next);
    return link - 1;
}

static bool key_is(const struct table_entry *e, uint64_t netns, uint8_t proto, uint16_t port)
{
    return e->addr.port == port && e->netns == netns && e->proto == proto;
}

int table_find(struct table *t, uint64_t netns, uint8_t proto, uint16_t port,
               uint32_t *idx, size_t max)
{
    struct table_walk w = table_walk_start(t, table_bucket(t, netns, proto, port));
    int n = 0;
    for (uint32_t i; (i = table_walk_step(t, &w)) != TABLE_WALK_END;) {
        if (i == TABLE_WALK_CORRUPT)
            goto corrupt;
        const struct table_entry *e = &t->entries[i];
        if (!key_is(e, netns, proto, port))
            continue;
        if (!fields_ok(e))
            goto corrupt;
        if ((size_t)n < max)
            idx[n] = i;
        n++;
    }
    return n;
corrupt:
    mark_corrupt(t);
    errno = EIO;
    return -1;
}

uint32_t *table_link_to(struct table *t, uint32_t b, uint32_t idx)
{
    uint32_t *at = &t->buckets[b];
    struct table_walk w = table_walk_start(t, b);
    for (uint32_t i; (i = table_walk_step(t, &w)) < TABLE_WALK_CORRUPT; at = &t->entries[i].next)
        if (i == idx)
            return at;
    return NULL;
}
