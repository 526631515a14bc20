/* foreign_set - what foreign_list.c (finding and keeping other users' tables open) and
 * foreign.c (reading them) share: the process's one set of open foreign tables, and the
 * two checks every read goes through. Private to src/table/foreign*.c. */
#ifndef BG_FOREIGN_SET_H
#define BG_FOREIGN_SET_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "foreign.h"

/* A read of one key is reused for at most this long while the table looks unchanged on
 * it (foreign.h); REUSED reads are kept, the oldest replaced. */
#define REUSE_NS (FOREIGN_REUSE_MS * 1000000LL)
#define REUSED   8

struct ftable {
    int      fd;
    uint64_t dev, ino;
    uint32_t owner;
    uint32_t capacity, nbuckets;
    uint64_t summary_off, bucket_off, entry_off;
    char     path[PATH_MAX + NAME_MAX + 2];
};

struct foreign_set {
    pthread_mutex_t lock;
    char     prefix[PATH_MAX];   /* what the cache was built for */
    char     dir[PATH_MAX];
    char     base[NAME_MAX + 1];
    struct timespec mtime;
    uint64_t dir_ino, dir_dev;
    int64_t  dir_size;
    int      dirfd;          /* kept open (high, close-on-exec): fstat, not a path lookup */
    struct timespec listed_at;   /* CLOCK_REALTIME when the list was taken */
    uint64_t own_dev, own_ino;
    bool     listed, overflow;
    bool     churned;        /* the last foreign_find: changed since a read < REUSE_NS ago */
    int64_t  checked_ns;     /* CLOCK_MONOTONIC of the last full descriptor check */
    int64_t  dir_checked_ns; /* CLOCK_MONOTONIC of the last look at the directory */
    int      n;
    struct ftable t[FOREIGN_MAX_TABLES];
};

/* Guarded by its lock, between foreign_begin and foreign_end. */
extern struct foreign_set open_tables;

/* Is ti's descriptor still the file we validated? A wrong file must never be read as a
 * table: at best it costs a skipped table. */
static inline bool still_ours(const struct ftable *f)
{
    struct stat st;
    return f->fd >= 0 && fstat(f->fd, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
           (uint64_t)st.st_ino == f->ino;
}

static inline bool pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    return off <= (uint64_t)INT64_MAX && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
