/* layout - where the parts of a table file lie, for a given capacity, and whether a file's
 * ident is one this build would have written (table.h "Shared layout"). Also the bucket
 * hash. No I/O. */
#include "table_private.h"

#include <string.h>
#include <pthread.h>

#include "config.h"
#include "why.h"

#define ALIGN_PARTS 64u

_Static_assert(sizeof(struct table_ident) == 64, "ident fills one cache line");
_Static_assert(TABLE_MAX_SLOTS < UINT32_MAX - 1, "links are index + 1 in 32 bits");
/* The environment's limits (config.h) are the table's. */
_Static_assert(CONFIG_MAX_SHARE == TABLE_MAX_SHARE, "share uids");
_Static_assert(CONFIG_DEFAULT_SLOTS == TABLE_DEFAULT_SLOTS && CONFIG_MIN_SLOTS == TABLE_MIN_SLOTS
               && CONFIG_MAX_SLOTS == TABLE_MAX_SLOTS, "slots");

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* splitmix64's finaliser: every input bit reaches every output bit, so sequential
 * namespace cookies and neighbouring ports spread over all buckets. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

uint32_t table_bucket_of(uint32_t nbuckets, uint64_t netns, uint8_t proto, uint16_t port)
{
    uint64_t key = netns * UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)proto << 16 | port);
    return (uint32_t)mix64(key) & (nbuckets - 1);
}

uint32_t table_bucket(const struct table *t, uint64_t netns, uint8_t proto, uint16_t port)
{
    return table_bucket_of(t->mask + 1, netns, proto, port);
}

uint32_t table_clamp_slots(uint32_t slots)
{
    if (slots == 0)
        return TABLE_DEFAULT_SLOTS;
    if (slots < TABLE_MIN_SLOTS)
        return TABLE_MIN_SLOTS;
    return slots > TABLE_MAX_SLOTS ? TABLE_MAX_SLOTS : slots;
}

static uint32_t buckets_for(uint32_t capacity)
{
    uint32_t n = 1;
    while (n < capacity)
        n <<= 1;
    return n;
}

/* The header a table of this capacity has, magic included. */
void table_make_ident(uint32_t capacity, struct table_ident *id)
{
    memset(id, 0, sizeof *id);
    id->magic = TABLE_MAGIC;
    id->abi = TABLE_ABI_VERSION;
    id->header_size = sizeof(struct table_header);
    id->entry_size = sizeof(struct table_entry);
    id->lock_size = sizeof(pthread_mutex_t);
    id->ptr_size = sizeof(void *);
    id->capacity = capacity;
    id->nbuckets = buckets_for(capacity);
    id->summary_off = (uint32_t)round_up(sizeof(struct table_header), ALIGN_PARTS);
    id->bucket_off = round_up(id->summary_off + 2ull * TABLE_SUMMARY_PORTS * sizeof(uint32_t),
                              ALIGN_PARTS);
    id->entry_off = round_up(id->bucket_off + (uint64_t)id->nbuckets * sizeof(uint32_t),
                             ALIGN_PARTS);
    id->file_size = id->entry_off + (uint64_t)capacity * sizeof(struct table_entry);
}

uint64_t table_file_size(uint32_t slots)
{
    struct table_ident id;
    table_make_ident(table_clamp_slots(slots), &id);
    return id.file_size;
}

#define IDENT_FIELD(f, what) \
    { what, offsetof(struct table_ident, f), sizeof(((struct table_ident *)0)->f) }
static const struct { const char *what; size_t off, size; } ident_fields[] = {
    IDENT_FIELD(header_size, "header size"),
    IDENT_FIELD(entry_size, "entry size"),
    IDENT_FIELD(lock_size, "lock size"),
    IDENT_FIELD(ptr_size, "pointer size"),
    IDENT_FIELD(nbuckets, "bucket count"),
    IDENT_FIELD(summary_off, "summary offset"),
    IDENT_FIELD(bucket_off, "bucket offset"),
    IDENT_FIELD(entry_off, "entry offset"),
    IDENT_FIELD(file_size, "recorded file size"),
};

static uint64_t field_value(const struct table_ident *id, size_t i)
{
    uint64_t v = 0;
    if (ident_fields[i].size == sizeof(uint32_t)) {
        uint32_t v32;
        memcpy(&v32, (const char *)id + ident_fields[i].off, sizeof v32);
        v = v32;
    } else {
        memcpy(&v, (const char *)id + ident_fields[i].off, sizeof v);
    }
    return v;
}

/* Compare a read ident with what this build would have written for its capacity. */
bool table_check_ident(const struct table_ident *id, off_t size, const char *path,
                        struct table_ident *want, char *why, size_t whylen)
{
    if (id->abi != TABLE_ABI_VERSION) {
        why_set(why, whylen, "table %s: ABI version %u, this build speaks %u", path, id->abi,
            TABLE_ABI_VERSION);
        return false;
    }
    if (id->capacity < TABLE_MIN_SLOTS || id->capacity > TABLE_MAX_SLOTS) {
        why_set(why, whylen, "table %s: capacity %u out of range", path, id->capacity);
        return false;
    }
    table_make_ident(id->capacity, want);
    for (size_t i = 0; i < sizeof ident_fields / sizeof ident_fields[0]; i++) {
        uint64_t got = field_value(id, i), exp = field_value(want, i);
        if (got != exp) {
            why_set(why, whylen, "table %s: %s is %llu, this process expects %llu", path,
                ident_fields[i].what, (unsigned long long)got, (unsigned long long)exp);
            return false;
        }
    }
    if ((uint64_t)size != want->file_size) {
        why_set(why, whylen, "table %s: file is %lld bytes, its header implies %llu", path,
            (long long)size, (unsigned long long)want->file_size);
        return false;
    }
    return true;
}

bool table_ident_usable(const struct table_ident *id, uint64_t file_size)
{
    struct table_ident want;
    return id->magic == TABLE_MAGIC && table_check_ident(id, (off_t)file_size, "", &want, NULL, 0);
}
