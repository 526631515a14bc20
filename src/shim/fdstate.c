/* fdstate - one record per tracked socket, and the fd -> record index (fdstate.h).
 *
 * Index chunks and records come from mmap, not malloc: close() may run in a signal
 * handler or inside an allocator, and must not re-enter one. Chunks, once published,
 * are never freed, so a reader that loaded a pointer can always dereference it. A
 * record is free when its count of descriptors is 0; taking one is a compare-and-swap
 * of that count from 0 to 1, so no lock is held anywhere (signal handlers included). A
 * free record is in no index slot, so fdstate_get never returns it. */
#include "fdstate.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

struct sock_record **fdstate_index[FDSTATE_MAX_FD >> FDSTATE_CHUNK_SHIFT];
static int tracked_limit;  /* highest tracked fd + 1, only grows */

/* The record pool: chunks of records, the first pool_used of them in use. */
#define POOL_CHUNK  1024
#define POOL_CHUNKS (FDSTATE_MAX_FD / POOL_CHUNK)
static struct sock_record *pool[POOL_CHUNKS];
static unsigned pool_used;
static unsigned pool_hint;  /* where a free record was last seen */

/* The chunk at *slot, mapping it if it is not there yet. Two threads may race to create
 * the same chunk: one wins, the other unmaps. */
static void *chunk_at(void **slot, size_t size)
{
    void *chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (chunk)
        return chunk;
    void *fresh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    if (__atomic_compare_exchange_n(slot, &chunk, fresh, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    munmap(fresh, size);
    return chunk;
}

static struct sock_record *pool_record(unsigned idx)
{
    struct sock_record *chunk = __atomic_load_n(&pool[idx / POOL_CHUNK], __ATOMIC_ACQUIRE);
    return &chunk[idx % POOL_CHUNK];
}

static bool take_free(struct sock_record *r)
{
    uint32_t free_refs = 0;
    return __atomic_compare_exchange_n(&r->refs, &free_refs, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

/* A free record, its count of descriptors now 1; NULL when memory is short. */
static struct sock_record *claim_record(void)
{
    for (;;) {
        unsigned used = __atomic_load_n(&pool_used, __ATOMIC_ACQUIRE);
        unsigned n = used * POOL_CHUNK;
        unsigned start = __atomic_load_n(&pool_hint, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < n; i++) {
            unsigned idx = (start + i) % n;
            struct sock_record *r = pool_record(idx);
            if (__atomic_load_n(&r->refs, __ATOMIC_RELAXED) == 0 && take_free(r)) {
                __atomic_store_n(&pool_hint, (idx + 1) % n, __ATOMIC_RELAXED);
                return r;
            }
        }
        if (used == POOL_CHUNKS)
            return NULL;
        struct sock_record *chunk = chunk_at((void **)&pool[used],
                                          POOL_CHUNK * sizeof(struct sock_record));
        if (!chunk)
            return NULL;
        for (unsigned i = 0; i < POOL_CHUNK; i++)  /* the same values for every racer */
            __atomic_store_n(&chunk[i].pool_idx, used * POOL_CHUNK + i, __ATOMIC_RELAXED);
        __atomic_compare_exchange_n(&pool_used, &used, used + 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    }
}

/* Drop one descriptor's reference; true if it was the last. */
static bool unref(struct sock_record *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return false;
    __atomic_store_n(&pool_hint, r->pool_idx, __ATOMIC_RELAXED);
    return true;
}

static struct sock_record **index_slot(int fd)
{
    struct sock_record **chunk = chunk_at((void **)&fdstate_index[fd >> FDSTATE_CHUNK_SHIFT],
                                       FDSTATE_CHUNK * sizeof(struct sock_record *));
    return chunk ? &chunk[fd & (FDSTATE_CHUNK - 1)] : NULL;
}

static void raise_limit(int fd)
{
    int cur = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    while (fd + 1 > cur &&
           !__atomic_compare_exchange_n(&tracked_limit, &cur, fd + 1, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Point fd's slot at r (NULL: nothing); drop the reference the slot held before. */
static void set_slot(struct sock_record **slot, struct sock_record *r)
{
    struct sock_record *old = __atomic_exchange_n(slot, r, __ATOMIC_ACQ_REL);
    if (old)
        unref(old);
}

struct sock_record *fdstate_track(int fd)
{
    if ((unsigned)fd >= FDSTATE_MAX_FD)
        return NULL;
    struct sock_record **slot = index_slot(fd);
    struct sock_record *r = slot ? claim_record() : NULL;
    if (!r)
        return NULL;
    /* Cleared from `tracked` on: refs is ours already, and pool_idx stays. */
    memset(&r->tracked, 0, sizeof *r - offsetof(struct sock_record, tracked));
    r->entry_idx = UINT32_MAX;
    set_slot(slot, r);
    raise_limit(fd);
    return r;
}

bool fdstate_forget(int fd)
{
    if ((unsigned)fd >= FDSTATE_MAX_FD)
        return false;
    struct sock_record **chunk =
        __atomic_load_n(&fdstate_index[fd >> FDSTATE_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    if (!chunk)
        return false;
    struct sock_record *old = __atomic_exchange_n(&chunk[fd & (FDSTATE_CHUNK - 1)], NULL,
                                               __ATOMIC_ACQ_REL);
    return old && unref(old);
}

void fdstate_dup(int from, int to)
{
    if (from == to)
        return;
    struct sock_record *r = fdstate_get(from);
    uint32_t refs = r ? __atomic_load_n(&r->refs, __ATOMIC_RELAXED) : 0;
    /* A reference is taken only while the record is in use: a `from` closed meanwhile
     * leaves `to` untracked. */
    while (refs && !__atomic_compare_exchange_n(&r->refs, &refs, refs + 1, false,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        ;
    if (!refs) {
        fdstate_forget(to);
        return;
    }
    struct sock_record **slot = (unsigned)to < FDSTATE_MAX_FD ? index_slot(to) : NULL;
    if (!slot) {
        unref(r);  /* not the last: `from` still holds it */
        fdstate_forget(to);
        return;
    }
    set_slot(slot, r);
    raise_limit(to);
}

bool fdstate_has_alias(int fd)
{
    struct sock_record *s = fdstate_get(fd);
    return s && __atomic_load_n(&s->refs, __ATOMIC_RELAXED) > 1;
}

int fdstate_find_inode(uint32_t inode)
{
    int limit = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    for (int fd = 0; fd < limit; fd++) {
        const struct sock_record *s = fdstate_get(fd);
        if (s && (s->flags & FD_HAS_ENTRY) && s->inode == inode)
            return fd;
    }
    return -1;
}

void fdstate_each(void (*fn)(int fd, struct sock_record *s, void *arg), void *arg)
{
    int limit = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    for (int fd = 0; fd < limit; fd++) {
        struct sock_record *s = fdstate_get(fd);
        if (s)
            fn(fd, s, arg);
    }
}

int fdstate_limit(void)
{
    return __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
}
