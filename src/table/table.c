/* table - opening a table by name: attach to the file under the name if it validates,
 * else create one (create.c); remember which file it was, to notice it being replaced. */
#include "table_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"
#include "why.h"

#define OPEN_ATTEMPTS 4  /* open-or-create rounds when others create/remove concurrently */

/* ---- attaching a mapping ------------------------------------------------------------ */

struct table *table_handle_new(void *map, const struct table_ident *id, const char *path)
{
    size_t plen = strlen(path) + 1;
    struct table *t = calloc(1, sizeof *t + plen);
    if (!t)
        return NULL;
    t->h = map;
    t->summary = (uint32_t *)((char *)map + id->summary_off);
    t->buckets = (uint32_t *)((char *)map + id->bucket_off);
    t->entries = (struct table_entry *)((char *)map + id->entry_off);
    t->capacity = id->capacity;
    t->mask = id->nbuckets - 1;
    t->ident = *id;
    memcpy(t->path, path, plen);
    return t;
}

void *table_map_file(int fd, uint64_t size, const char *path, char *why, size_t whylen)
{
    void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        why_set(why, whylen, "table %s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    return m;
}

/* Read the ident. Creators publish a table whole with link(2), so a file under the name
 * that doesn't start with our magic is broken or foreign, never a table still being
 * built: fail at once instead of making every process wait for it. */
static bool read_ident(int fd, const char *path, struct table_ident *id, off_t *size,
                       char *why, size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why_set(why, whylen, "table %s: not a regular file", path);
        return false;
    }
    memset(id, 0, sizeof *id);
    ssize_t n = st.st_size > 0 ? pread(fd, id, sizeof *id, 0) : 0;
    if (n < (ssize_t)sizeof id->magic || id->magic == 0) {
        why_set(why, whylen, "table %s: not initialised (%lld bytes); remove it", path,
            (long long)st.st_size);
        return false;
    }
    if (id->magic != TABLE_MAGIC) {
        why_set(why, whylen, "table %s: not a bindguard table (magic %016llx)", path,
            (unsigned long long)id->magic);
        return false;
    }
    if (n < (ssize_t)sizeof *id) {
        why_set(why, whylen, "table %s: truncated (%lld bytes)", path, (long long)st.st_size);
        return false;
    }
    *size = st.st_size;
    return true;
}

static struct table *attach_existing(int fd, const char *path, char *why, size_t whylen)
{
    struct table_ident id, want;
    off_t size;
    if (!read_ident(fd, path, &id, &size, why, whylen) ||
        !table_check_ident(&id, size, path, &want, why, whylen))
        return NULL;
    void *map = table_map_file(fd, want.file_size, path, why, whylen);
    if (!map)
        return NULL;
    /* Acquire pairs with the creator's release of the magic; the ident is re-read from
     * the mapping in case the file changed between pread and mmap. */
    struct table_header *h = map;
    struct table *t = NULL;
    if (__atomic_load_n(&h->ident.magic, __ATOMIC_ACQUIRE) == TABLE_MAGIC &&
        memcmp(&h->ident, &want, sizeof want) == 0)
        t = table_handle_new(map, &want, path);
    if (!t) {
        why_set(why, whylen, "table %s: changed while being opened", path);
        munmap(map, (size_t)want.file_size);
    }
    return t;
}

/* 0 and *out (maybe NULL with why), or the open(2) errno for the caller to act on. */
static int open_existing(const char *path, struct table **out, char *why, size_t whylen)
{
    /* O_NONBLOCK: a FIFO or a device planted under the name must not block the open. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        why_set(why, whylen, "table %s: %s", path,
            err == ELOOP ? "is a symbolic link (refused)" : strerror(err));
        return err;
    }
    /* Only the owner's processes write a table: a file someone else owns under this name
     * is theirs to describe, not ours to use (own.h skips such names). */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid != geteuid())
        why_set(why, whylen, "table %s: owned by uid %u, not this user (%u)", path,
            (unsigned)st.st_uid, (unsigned)geteuid());
    else
        *out = attach_existing(fd, path, why, whylen);
    sys_close(fd);
    return 0;
}

static struct table *remember_file(struct table *t)
{
    struct stat st;
    if (t && stat(t->path, &st) == 0) {
        t->dev = st.st_dev;
        t->ino = st.st_ino;
    }
    return t;
}

void table_file_id(const struct table *t, uint64_t *dev, uint64_t *ino)
{
    *dev = (uint64_t)t->dev;
    *ino = (uint64_t)t->ino;
}

bool table_replaced(const struct table *t)
{
    struct stat st;
    return stat(t->path, &st) != 0 || st.st_dev != t->dev || st.st_ino != t->ino;
}

struct table *table_open(const char *name, uint32_t slots, char *why, size_t whylen)
{
    char path[PATH_MAX];
    if (!table_file_path(name, path, sizeof path, why, whylen))
        return NULL;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        struct table *t = NULL;
        int err = open_existing(path, &t, why, whylen);
        if (err != ENOENT)
            return remember_file(t);
        bool lost = false;
        t = table_create(path, slots, &lost, why, whylen);
        if (t || !lost)
            return remember_file(t);
    }
    why_set(why, whylen, "table %s: keeps appearing and vanishing; gave up", path);
    return NULL;
}

struct table *table_attach(const char *name, char *why, size_t whylen)
{
    char path[PATH_MAX];
    struct table *t = NULL;
    int err = EINVAL;
    if (table_file_path(name, path, sizeof path, why, whylen))
        err = open_existing(path, &t, why, whylen);
    if (!t)
        errno = err ? err : EINVAL;
    return remember_file(t);
}

void table_close(struct table *t)
{
    /* The kernel releases a dead holder's lock through the holder's own mapping: a
     * handle closed while locked is simply kept. */
    if (!t || __atomic_load_n(&t->held, __ATOMIC_ACQUIRE))
        return;
    munmap(t->h, (size_t)t->ident.file_size);
    free(t);
}
