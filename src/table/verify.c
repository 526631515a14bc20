/* verify - table_check: every invariant the index over the entry array must hold. */
#include "table_private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "why.h"

struct check {
    struct table *t;
    uint8_t *seen;      /* one byte per slot: 0 unseen, 1 chained, 2 free-listed */
    uint32_t hwm, chained, freed;
    char *why;
    size_t whylen;
};

static int check_fail(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int check_fail(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    why_vset(c->why, c->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_header(struct check *c)
{
    struct table_header *h = c->t->h;
    if (memcmp(&h->ident, &c->t->ident, sizeof h->ident) != 0)
        return check_fail(c, "header changed since open");
    if (h->hwm > c->t->capacity)
        return check_fail(c, "high-water mark %u above capacity %u", h->hwm, c->t->capacity);
    if (h->next_id == 0)
        return check_fail(c, "next id is 0");
    if (load_u32(&h->repair))
        return check_fail(c, "a repair is pending");
    return 0;
}

static int check_chain(struct check *c, uint32_t b)
{
    struct table *t = c->t;
    struct table_walk w = table_walk_start(t, b);
    for (uint32_t i; (i = table_walk_step(t, &w)) != TABLE_WALK_END;) {
        if (i == TABLE_WALK_CORRUPT)
            return check_fail(c, "bucket %u: chain has %s", b, w.bad);
        const struct table_entry *e = &t->entries[i];
        if (i >= c->hwm || c->seen[i])
            return check_fail(c, "bucket %u: entry %u above hwm or in two chains", b, i);
        if (!fields_ok(e) || bucket_of(t, e) != b)
            return check_fail(c, "bucket %u: entry %u invalid or in the wrong chain", b, i);
        if (e->id >= t->h->next_id)
            return check_fail(c, "entry %u: id %llu not below next id", i,
                              (unsigned long long)e->id);
        c->seen[i] = 1;
        c->chained++;
    }
    return 0;
}

static int check_free_list(struct check *c)
{
    uint32_t link = c->t->h->free_head;
    for (; link != TABLE_LINK_NONE; link = c->t->entries[link - 1].next) {
        uint32_t i = link - 1;
        if (link > c->hwm || c->seen[i])
            return check_fail(c, "free list: bad link %u, a cycle or a chained entry", link);
        if (load_u32(&c->t->entries[i].state) == TABLE_STATE_LIVE)
            return check_fail(c, "free list: entry %u is live", i);
        c->seen[i] = 2;
        c->freed++;
    }
    return 0;
}

/* Foreign readers skip a port whose count is 0: a count below the truth hides entries. */
static int check_summary(struct check *c)
{
    uint32_t *want = calloc(2 * TABLE_SUMMARY_PORTS, sizeof *want);
    if (!want)
        return check_fail(c, "out of memory");
    for (uint32_t i = 0; i < c->hwm; i++)
        if (c->seen[i] == 1)
            want[table_summary_slot(c->t->entries[i].proto, c->t->entries[i].addr.port)]++;
    int r = 0;
    for (uint32_t i = 0; i < 2 * TABLE_SUMMARY_PORTS && r == 0; i++)
        if (c->t->summary[i] != want[i])
            r = check_fail(c, "summary of %s port %u says %u, chains hold %u",
                           i < TABLE_SUMMARY_PORTS ? "tcp" : "udp", i % TABLE_SUMMARY_PORTS,
                           c->t->summary[i], want[i]);
    free(want);
    return r;
}

static int check_all(struct check *c)
{
    if (check_header(c))
        return -1;
    for (uint32_t b = 0; b <= c->t->mask; b++)
        if (check_chain(c, b))
            return -1;
    for (uint32_t i = 0; i < c->hwm; i++)
        if (load_u32(&c->t->entries[i].state) == TABLE_STATE_LIVE && c->seen[i] != 1)
            return check_fail(c, "entry %u is live but not in its chain", i);
    if (c->chained != c->t->h->count)
        return check_fail(c, "count says %u, chains hold %u", c->t->h->count, c->chained);
    if (check_free_list(c))
        return -1;
    if (c->chained + c->freed != c->hwm)
        return check_fail(c, "%u of %u used slots neither live nor free (leaked)",
                          c->hwm - c->chained - c->freed, c->hwm);
    return check_summary(c);
}

int table_check(struct table *t, char *why, size_t whylen)
{
    struct check c = { .t = t, .hwm = hwm_of(t), .why = why, .whylen = whylen };
    c.seen = calloc(t->capacity, 1);
    if (!c.seen)
        return check_fail(&c, "out of memory");
    int r = check_all(&c);
    free(c.seen);
    return r;
}
