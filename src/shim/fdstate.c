/* fdstate - per-process socket descriptor records, a flat chunked array by fd.
 *
 * Chunks come from mmap, not malloc: close() may run in a signal handler or inside an
 * allocator, and must not re-enter one. A chunk, once published, is never freed, so a
 * reader that loaded its pointer can always dereference it. */
#include "fdstate.h"

#include <string.h>
#include <sys/mman.h>

struct fd_state *fdstate_chunks[FDSTATE_MAX_FD >> FDSTATE_CHUNK_SHIFT];
static int tracked_limit;  /* highest tracked fd + 1, only grows */

static struct fd_state *chunk_for(int fd)
{
    struct fd_state **slot = &fdstate_chunks[fd >> FDSTATE_CHUNK_SHIFT];
    struct fd_state *chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (chunk)
        return chunk;
    void *fresh = mmap(NULL, FDSTATE_CHUNK * sizeof(struct fd_state), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    /* Two threads may race to create the same chunk: one wins, the other unmaps. */
    if (__atomic_compare_exchange_n(slot, &chunk, (struct fd_state *)fresh, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    munmap(fresh, FDSTATE_CHUNK * sizeof(struct fd_state));
    return chunk;
}

static void raise_limit(int fd)
{
    int cur = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    while (fd + 1 > cur &&
           !__atomic_compare_exchange_n(&tracked_limit, &cur, fd + 1, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

struct fd_state *fdstate_track(int fd)
{
    if ((unsigned)fd >= FDSTATE_MAX_FD)
        return NULL;
    struct fd_state *chunk = chunk_for(fd);
    if (!chunk)
        return NULL;
    static uint64_t next_sock_id;
    struct fd_state *s = &chunk[fd & (FDSTATE_CHUNK - 1)];
    memset(s, 0, sizeof *s);
    s->entry_idx = UINT32_MAX;
    s->sock_id = __atomic_add_fetch(&next_sock_id, 1, __ATOMIC_RELAXED);
    raise_limit(fd);
    return s;
}

void fdstate_forget(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    if (s)
        s->tracked = 0;
}

void fdstate_dup(int from, int to)
{
    struct fd_state *src = fdstate_get(from);
    if (!src || from == to) {
        if (from != to)
            fdstate_forget(to);
        return;
    }
    struct fd_state copy = *src;
    struct fd_state *dst = fdstate_track(to);
    if (!dst)
        return;
    copy.flags |= FD_DUPED;
    src->flags |= FD_DUPED;
    *dst = copy;
}

/* Call fn on every other tracked descriptor of fd's socket; stop when it returns true. */
static bool each_alias(int fd, bool (*fn)(struct fd_state *alias, const struct fd_state *s),
                       const struct fd_state *s)
{
    int limit = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    for (int other = 0; other < limit; other++) {
        struct fd_state *a = fdstate_get(other);
        if (other != fd && a && a->sock_id == s->sock_id && fn(a, s))
            return true;
    }
    return false;
}

static bool found(struct fd_state *alias, const struct fd_state *s)
{
    (void)alias;
    (void)s;
    return true;
}

static bool copy_into(struct fd_state *alias, const struct fd_state *s)
{
    *alias = *s;
    return false;
}

bool fdstate_has_alias(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    return s && each_alias(fd, found, s);
}

void fdstate_sync_aliases(int fd)
{
    struct fd_state *s = fdstate_get(fd);
    if (s && (s->flags & FD_DUPED))
        each_alias(fd, copy_into, s);
}

int fdstate_find_inode(uint32_t inode)
{
    int limit = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    for (int fd = 0; fd < limit; fd++) {
        const struct fd_state *s = fdstate_get(fd);
        if (s && (s->flags & FD_HAS_ENTRY) && s->inode == inode)
            return fd;
    }
    return -1;
}

void fdstate_each(void (*fn)(int fd, struct fd_state *s, void *arg), void *arg)
{
    int limit = __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
    for (int fd = 0; fd < limit; fd++) {
        struct fd_state *s = fdstate_get(fd);
        if (s)
            fn(fd, s, arg);
    }
}

int fdstate_limit(void)
{
    return __atomic_load_n(&tracked_limit, __ATOMIC_RELAXED);
}
