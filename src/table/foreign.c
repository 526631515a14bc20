/* foreign - reading other users' tables (foreign.h). Everything read here was written by
 * someone who may wish the reader harm: lengths, offsets and links come from our own
 * validated copy of the ident or are range-checked, short reads mean "nothing", and no
 * read result can make us write anywhere but our own buffers. Finding the tables is
 * foreign_list.c. */
#include "foreign.h"

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "foreign_set.h"

/* ---- entries ------------------------------------------------------------------------ */

static bool fields_ok(const struct table_entry *e, uint32_t owner)
{
    return __atomic_load_n(&e->state, __ATOMIC_RELAXED) == TABLE_STATE_LIVE && e->id != 0 &&
           (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP) &&
           (e->addr.family == AF_INET || e->addr.family == AF_INET6) &&
           e->cls <= BG_CLASS_EXCLUSIVE && e->n_share <= TABLE_MAX_SHARE && e->uid == owner;
}

/* One slot, read until two reads agree with an even sequence count. false: torn too
 * often, or unreadable (truncated). */
static bool read_slot(const struct ftable *f, uint32_t idx, struct table_entry *e)
{
    if (idx >= f->capacity)
        return false;
    uint64_t off = f->entry_off + (uint64_t)idx * sizeof *e;
    struct table_entry again;
    for (int i = 0; i < FOREIGN_TORN_RETRIES; i++) {
        if (!pread_all(f->fd, e, sizeof *e, off) || !pread_all(f->fd, &again, sizeof again, off))
            return false;
        if (!(e->seq & 1u) && memcmp(e, &again, sizeof again) == 0) {
            e->comm[TABLE_COMM_LEN - 1] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- reads reused ------------------------------------------------------------------ */

/* What a table looked like on one key when it was read: its bucket's head link and the
 * head entry's id. Owners link every new entry at its bucket's head with a new id, so an
 * insert changes one of them; releases only take claims away. */
struct shape {
    uint64_t dev, ino, netns, head_id;
    uint32_t head;
    uint16_t port;
    uint8_t  proto;
};

static struct {
    struct shape shape;
    int64_t  at_ns;              /* 0: empty */
    size_t   max;
    int      n;
    uint32_t idx[FOREIGN_REUSE_HITS];
    struct table_entry e[FOREIGN_REUSE_HITS];
} reused[REUSED];

static bool same_key(const struct shape *a, const struct shape *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->netns == b->netns &&
           a->port == b->port && a->proto == b->proto;
}

/* A recent read of this key asking for as many entries, or -1. */
static int reused_read(const struct shape *key, size_t max)
{
    int64_t now = mono_ns();
    for (int i = 0; i < REUSED; i++)
        if (reused[i].at_ns && now - reused[i].at_ns < REUSE_NS && reused[i].max == max &&
            same_key(&reused[i].shape, key))
            return i;
    return -1;
}

/* Intents change in place (stamped, then bound): a read holding one is never reused. */
static void keep_read(const struct shape *sh, size_t max, const struct table_entry *out,
                      const uint32_t *idx, int n)
{
    if (max > FOREIGN_REUSE_HITS)
        return;
    for (int i = 0; i < n; i++)
        if (out[i].flags & TABLE_F_PENDING)
            return;
    int at = reused_read(sh, max);   /* this key's earlier read, else the oldest */
    if (at < 0) {
        at = 0;
        for (int i = 1; i < REUSED; i++)
            if (reused[i].at_ns < reused[at].at_ns)
                at = i;
    }
    reused[at].shape = *sh;
    reused[at].at_ns = mono_ns() | 1;
    reused[at].max = max;
    reused[at].n = n;
    memcpy(reused[at].e, out, sizeof *out * (size_t)n);
    memcpy(reused[at].idx, idx, sizeof *idx * (size_t)n);
}

/* ---- reading ------------------------------------------------------------------------ */

/* The key's bucket head and its entry's id into *sh; false if unreadable. */
static bool read_head(const struct ftable *f, uint32_t b, struct shape *sh)
{
    struct table_entry head;
    if (!pread_all(f->fd, &sh->head, sizeof sh->head, f->bucket_off + 4ull * b))
        return false;
    sh->head_id = 0;
    if (sh->head == TABLE_LINK_NONE)
        return true;
    if (sh->head > f->capacity ||
        !pread_all(f->fd, &head, sizeof head, f->entry_off + (uint64_t)(sh->head - 1) * sizeof head))
        return false;
    sh->head_id = head.id;
    return true;
}

int foreign_find(int ti, uint64_t netns, uint8_t proto, uint16_t port,
                 struct table_entry *out, uint32_t *idx, size_t max)
{
    struct ftable *f = &open_tables.t[ti];
    uint32_t b = table_bucket_of(f->nbuckets, netns, proto, port), used = 0;
    struct shape sh = { .dev = f->dev, .ino = f->ino, .netns = netns, .port = port,
                        .proto = proto };
    /* Read recently: two reads say whether the table changed there since. A descriptor
     * the host reused would not give the same shape, and goes the long way below. */
    int r = reused_read(&sh, max);
    open_tables.churned = false;
    if (r >= 0) {
        if (read_head(f, b, &sh) && sh.head == reused[r].shape.head &&
            sh.head_id == reused[r].shape.head_id) {
            memcpy(out, reused[r].e, sizeof *out * (size_t)reused[r].n);
            memcpy(idx, reused[r].idx, sizeof *idx * (size_t)reused[r].n);
            return reused[r].n;
        }
        reused[r].at_ns = 0;
        open_tables.churned = true;
    }
    /* The common case: one read says the table has nothing on this port. */
    if (!pread_all(f->fd, &used, sizeof used,
                   f->summary_off + 4ull * table_summary_slot(proto, port))) {
        if (!still_ours(f))   /* closed or reused by the host: list again next time */
            open_tables.listed = false;
        return 0;
    }
    if (used == 0)
        return 0;
    if (!still_ours(f)) {
        open_tables.listed = false;
        return 0;
    }
    if (!read_head(f, b, &sh))
        return 0;
    uint32_t link = sh.head;
    int n = 0;
    /* One read per link; a second (read_slot) only for an entry on our key. A torn read
     * of another key's entry can only misdirect the walk: that hides its owner's sockets,
     * nobody else's. */
    for (int step = 0; link != TABLE_LINK_NONE && step < FOREIGN_MAX_STEPS &&
                       (size_t)n < max; step++) {
        struct table_entry e;
        if (link > f->capacity ||
            !pread_all(f->fd, &e, sizeof e, f->entry_off + (uint64_t)(link - 1) * sizeof e) ||
            e.state != TABLE_STATE_LIVE)
            break;
        if (e.addr.port == port && e.proto == proto && e.netns == netns &&
            (!read_slot(f, link - 1, &e) || e.state != TABLE_STATE_LIVE))
            break;
        if (e.addr.port == port && e.proto == proto && e.netns == netns &&
            fields_ok(&e, f->owner)) {
            out[n] = e;
            idx[n++] = link - 1;
        }
        link = e.next;
    }
    keep_read(&sh, max, out, idx, n);
    return n;
}

bool foreign_reread(int ti, uint32_t idx, uint64_t id, struct table_entry *e)
{
    const struct ftable *f = &open_tables.t[ti];
    return still_ours(f) && read_slot(f, idx, e) && e->id == id && fields_ok(e, f->owner);
}

void foreign_each(int ti, uint32_t max_slots,
                  bool (*fn)(const struct table_entry *e, void *arg), void *arg)
{
    const struct ftable *f = &open_tables.t[ti];
    uint32_t hwm = 0;
    if (!still_ours(f) ||
        !pread_all(f->fd, &hwm, sizeof hwm, offsetof(struct table_header, hwm)))
        return;
    if (hwm > f->capacity)
        hwm = f->capacity;
    if (hwm > max_slots)
        hwm = max_slots;
    for (uint32_t i = 0; i < hwm; i++) {
        struct table_entry e;
        if (read_slot(f, i, &e) && fields_ok(&e, f->owner) && !fn(&e, arg))
            return;
    }
}
