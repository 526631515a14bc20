/* fdstate - this process's record of each tracked inet socket, and the fd -> record
 * index.
 *
 * One record per socket, shared by all of its descriptors here (dup, dup2, fcntl
 * F_DUPFD): a change made through one descriptor is the socket's, and the record counts
 * the descriptors that refer to it. The index is a flat array of record pointers by fd
 * (allocated in chunks with mmap, never freed), read without locks: fdstate_get() on an
 * fd that is not a tracked socket is a few loads and a branch, and is safe from signal
 * handlers, as is fdstate_forget(). Only AF_INET/AF_INET6 stream and datagram sockets
 * created through wrapped calls are tracked.
 *
 * A record is valid while its caller's descriptor is open: once the last descriptor of
 * a socket is forgotten, its record may be reused for another socket. */
#ifndef BG_FDSTATE_H
#define BG_FDSTATE_H

#include <stdbool.h>
#include <stdint.h>

/* sock_record.opts: what the program set (as Windows would see it) */
enum {
    FD_OPT_REUSEADDR = 1u << 0,
    FD_OPT_REUSEPORT = 1u << 1,
    FD_OPT_EXCLUSIVE = 1u << 2,
    FD_OPT_V6ONLY    = 1u << 3,
};

/* sock_record.flags */
enum {
    FD_HAS_ENTRY = 1u << 0,  /* has a table entry (entry_idx/entry_id valid) */
    FD_SHARED    = 1u << 1,  /* may be held by another process (fork, SCM_RIGHTS, exec) */
    FD_LISTENING = 1u << 3,
    FD_ACCEPTED  = 1u << 4,
    FD_KERNEL_BOUND = 1u << 5, /* the kernel bound it (entry or not): bind again is EINVAL */
};

/* The record of one socket. */
struct sock_record {
    uint32_t refs;      /* descriptors here that refer to it; 0: free */
    uint32_t pool_idx;  /* its place in the record pool */
    uint8_t  tracked;   /* 1 once the record describes a live tracked socket */
    uint8_t  family;    /* AF_INET / AF_INET6 */
    uint8_t  proto;     /* IPPROTO_TCP / IPPROTO_UDP */
    uint8_t  opts;      /* FD_OPT_* */
    uint8_t  flags;     /* FD_*: set only with sock_record_mark (threads race on it) */
    uint8_t  cls;       /* enum bg_class decided at bind */
    uint32_t entry_idx;
    uint64_t entry_id;
    uint32_t inode;
};

/* Set flag bits atomically: the fork and spawn scans mark FD_SHARED while other threads
 * bind, listen or accept on the same record, and a plain |= of either could lose the
 * other's bit (a lost FD_SHARED releases an entry a child still holds). */
static inline void sock_record_mark(struct sock_record *s, uint8_t bits)
{
    __atomic_or_fetch(&s->flags, bits, __ATOMIC_SEQ_CST);
}

#define FDSTATE_MAX_FD (1 << 20)

/* The record of a tracked fd, or NULL (untracked, out of range). */
static inline struct sock_record *fdstate_get(int fd);
/* A cleared record for a new socket at fd, indexed there (whatever fd had before is
 * forgotten); the caller fills it and then sets `tracked` (release order). NULL if fd is
 * out of range or memory is short: then fd stays untracked and bindguard does not judge
 * it. */
struct sock_record *fdstate_track(int fd);
/* fd no longer refers to its socket (closed, or its number reused by a call we know
 * about). true if that was the socket's last descriptor here: the caller read what it
 * needed of the record before, and must not touch it after. */
bool fdstate_forget(int fd);
/* `to` now refers to the same socket as `from` (dup): both index the one record. An
 * untracked `from` leaves `to` untracked. */
void fdstate_dup(int from, int to);
/* Does another descriptor here refer to fd's socket? */
bool fdstate_has_alias(int fd);
/* A tracked descriptor of the socket with a table entry and this inode, or -1.
 * O(tracked range). */
int fdstate_find_inode(uint32_t inode);
/* Call fn on every tracked fd (a socket with several descriptors: once for each). */
void fdstate_each(void (*fn)(int fd, struct sock_record *s, void *arg), void *arg);
/* Highest fd number that may be tracked, +1 (0 if none). */
int fdstate_limit(void);

/* --- inline fast path ------------------------------------------------------------- */
#define FDSTATE_CHUNK_SHIFT 10
#define FDSTATE_CHUNK       (1 << FDSTATE_CHUNK_SHIFT)
extern struct sock_record **fdstate_index[FDSTATE_MAX_FD >> FDSTATE_CHUNK_SHIFT];

static inline struct sock_record *fdstate_get(int fd)
{
    if ((unsigned)fd >= FDSTATE_MAX_FD)
        return 0;
    struct sock_record **chunk =
        __atomic_load_n(&fdstate_index[fd >> FDSTATE_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    if (!chunk)
        return 0;
    struct sock_record *s = __atomic_load_n(&chunk[fd & (FDSTATE_CHUNK - 1)], __ATOMIC_ACQUIRE);
    return s && __atomic_load_n(&s->tracked, __ATOMIC_ACQUIRE) ? s : 0;
}

#endif
