/* refuted - see refuted.h. Fixed-size, direct-mapped: what falls out costs one dump. */
#include "refuted.h"

#include <string.h>

#define CLAIMS  256   /* refuted claims, all tables together */
#define TABLES  64    /* tables with strikes (foreign.h reads at most 64) */
#define WINDOW_NS ((int64_t)REFUTED_WINDOW_MS * 1000000LL)

struct claim {
    uint64_t dev, ino, id;
    struct bg_addr addr;
    uint32_t idx, inode;
    uint8_t  proto, flags, used;
};

struct record {
    uint64_t dev, ino;
    int64_t  window_ns;      /* start of the current window; 0: unused */
    unsigned strikes;
};

static struct claim claims[CLAIMS];
static struct record records[TABLES];

static struct claim key(uint64_t dev, uint64_t ino, uint32_t idx, const struct table_entry *e)
{
    struct claim c;
    memset(&c, 0, sizeof c);   /* padding too: claims are compared whole */
    c.dev = dev;
    c.ino = ino;
    c.id = e->id;
    c.addr = e->addr;
    c.idx = idx;
    c.inode = e->inode;
    c.proto = e->proto;
    c.flags = e->flags & (TABLE_F_LISTENING | TABLE_F_LINGER | TABLE_F_PENDING);
    c.used = 1;
    return c;
}

static struct claim *slot(const struct claim *c)
{
    uint64_t h = c->id * 0x9e3779b97f4a7c15ull ^ c->ino ^ ((uint64_t)c->idx << 20) ^ c->inode;
    return &claims[(h >> 32) % CLAIMS];
}

bool refuted_known(uint64_t dev, uint64_t ino, uint32_t idx, const struct table_entry *e)
{
    struct claim c = key(dev, ino, idx, e);
    return memcmp(slot(&c), &c, sizeof c) == 0;
}

void refuted_add(uint64_t dev, uint64_t ino, uint32_t idx, const struct table_entry *e)
{
    struct claim c = key(dev, ino, idx, e);
    *slot(&c) = c;
}

/* The table's record, or (take) a free or the stalest one reset for it. */
static struct record *record_of(uint64_t dev, uint64_t ino, bool take)
{
    struct record *old = &records[0];
    for (int i = 0; i < TABLES; i++) {
        if (records[i].window_ns && records[i].dev == dev && records[i].ino == ino)
            return &records[i];
        if (records[i].window_ns < old->window_ns)
            old = &records[i];
    }
    if (!take)
        return NULL;
    *old = (struct record){ .dev = dev, .ino = ino };
    return old;
}

bool refuted_strike(uint64_t dev, uint64_t ino, int64_t now_ns)
{
    struct record *r = record_of(dev, ino, true);
    if (r->window_ns == 0 || now_ns - r->window_ns >= WINDOW_NS) {
        r->window_ns = now_ns ? now_ns : 1;
        r->strikes = 0;
    }
    return ++r->strikes == REFUTED_STRIKES + 1;
}

bool refuted_discredited(uint64_t dev, uint64_t ino, int64_t now_ns)
{
    const struct record *r = record_of(dev, ino, false);
    return r && r->strikes > REFUTED_STRIKES && now_ns - r->window_ns < WINDOW_NS;
}
