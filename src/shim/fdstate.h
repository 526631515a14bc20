/* fdstate - this process's record of each inet socket descriptor.
 *
 * A flat array indexed by fd (allocated in chunks with mmap, never freed), read without
 * locks: `fdstate_get` on an fd that is not a tracked socket is a few loads and a branch,
 * and is safe from signal handlers. Only AF_INET/AF_INET6 stream and datagram sockets
 * created through wrapped calls are tracked. */
#ifndef BG_FDSTATE_H
#define BG_FDSTATE_H

#include <stdbool.h>
#include <stdint.h>

/* fd_state.opts: what the program set (as Windows would see it) */
enum {
    FD_OPT_REUSEADDR = 1u << 0,
    FD_OPT_REUSEPORT = 1u << 1,
    FD_OPT_EXCLUSIVE = 1u << 2,
    FD_OPT_V6ONLY    = 1u << 3,
};

/* fd_state.flags */
enum {
    FD_HAS_ENTRY = 1u << 0,  /* has a table entry (entry_idx/entry_id valid) */
    FD_SHARED    = 1u << 1,  /* may be held by another process (fork, SCM_RIGHTS, exec) */
    FD_DUPED     = 1u << 2,  /* another descriptor here may refer to the same socket */
    FD_LISTENING = 1u << 3,
    FD_ACCEPTED  = 1u << 4,
    FD_KERNEL_BOUND = 1u << 5, /* the kernel bound it (entry or not): bind again is EINVAL */
};

struct fd_state {
    uint8_t  tracked;   /* 1 when this slot describes a live tracked socket */
    uint8_t  family;    /* AF_INET / AF_INET6 */
    uint8_t  proto;     /* IPPROTO_TCP / IPPROTO_UDP */
    uint8_t  opts;      /* FD_OPT_* */
    uint8_t  flags;     /* FD_* */
    uint8_t  cls;       /* enum bg_class decided at bind */
    uint32_t entry_idx;
    uint64_t entry_id;
    uint32_t inode;
    uint64_t sock_id;   /* this process's name for the socket: shared by its dups */
};

#define FDSTATE_MAX_FD (1 << 20)

/* The slot of a tracked fd, or NULL (untracked, out of range). */
static inline struct fd_state *fdstate_get(int fd);
/* A cleared, tracked slot for fd (allocating its chunk), or NULL if fd is out of range
 * or memory is short; then the fd stays untracked and bindguard does not judge it. */
struct fd_state *fdstate_track(int fd);
/* Forget fd (it was closed, or its number was reused by a call we know about). */
void fdstate_forget(int fd);
/* `to` now refers to the same socket as `from` (dup): copies, marks both FD_DUPED. */
void fdstate_dup(int from, int to);
/* A socket's options and binding belong to the socket, not to one descriptor: after a
 * change to a FD_DUPED fd's record, copy it to the other descriptors of that socket.
 * O(tracked range), paid only by duped sockets. */
void fdstate_sync_aliases(int fd);
/* Does another descriptor here refer to fd's socket? (O(tracked range); dup only) */
bool fdstate_has_alias(int fd);
/* A tracked descriptor of the bound socket with this inode, or -1. O(tracked range). */
int fdstate_find_inode(uint32_t inode);
/* Call fn on every tracked fd (fork bookkeeping, close_range). */
void fdstate_each(void (*fn)(int fd, struct fd_state *s, void *arg), void *arg);
/* Highest fd number that may be tracked, +1 (0 if none). */
int fdstate_limit(void);

/* --- inline fast path ------------------------------------------------------------- */
#define FDSTATE_CHUNK_SHIFT 10
#define FDSTATE_CHUNK       (1 << FDSTATE_CHUNK_SHIFT)
extern struct fd_state *fdstate_chunks[FDSTATE_MAX_FD >> FDSTATE_CHUNK_SHIFT];

static inline struct fd_state *fdstate_get(int fd)
{
    if ((unsigned)fd >= FDSTATE_MAX_FD)
        return 0;
    struct fd_state *chunk =
        __atomic_load_n(&fdstate_chunks[fd >> FDSTATE_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    if (!chunk)
        return 0;
    struct fd_state *s = &chunk[fd & (FDSTATE_CHUNK - 1)];
    return s->tracked ? s : 0;
}

#endif
