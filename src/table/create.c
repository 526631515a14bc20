/* create - building a new table file and publishing it under its name, whole. */
#include "table_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"
#include "why.h"

static bool init_header(struct table_header *h, const struct table_ident *want)
{
    struct table_ident id = *want;
    id.magic = 0;
    h->ident = id;
    h->next_id = 1;
    if (!table_mutex_init(&h->lock))
        return false;
    __atomic_store_n(&h->ident.magic, TABLE_MAGIC, __ATOMIC_RELEASE);
    return true;
}

/* The table is built and published under a private name, then link(2)ed into place: the
 * name never shows a half-initialised table, and a creator killed part-way leaves at
 * worst a stray temporary file, not a table that everyone waits on and then refuses. */
static struct table *build_and_link(int fd, const char *tmp, const char *path,
                                    uint32_t capacity, int *link_err, char *why, size_t whylen)
{
    struct table_ident want;
    table_make_ident(capacity, &want);
    /* fchmod, not the open mode: whatever the creator's umask, every user may read the
     * table (foreign.h) and only its owner may write it. */
    if (fchmod(fd, 0644) != 0 || ftruncate(fd, (off_t)want.file_size) != 0 ||
        (errno = posix_fallocate(fd, 0, (off_t)want.summary_off)) != 0) {  /* full: not SIGBUS */
        why_set(why, whylen, "table %s: creating: %s", path, strerror(errno));
        return NULL;
    }
    void *map = table_map_file(fd, want.file_size, path, why, whylen);
    if (!map)
        return NULL;
    struct table_header *h = map;
    struct table *t = table_handle_new(map, &want, path);  /* the lock is free as ftruncate left it */
    if (t) {
        if (!init_header(h, &want)) {
            why_set(why, whylen, "table %s: cannot initialise its robust process-shared mutex",
                path);
        } else if (link(tmp, path) == 0) {
            return t;
        } else {
            *link_err = errno;
            why_set(why, whylen, "table %s: creating: %s", path, strerror(errno));
        }
        free(t);
    } else {
        why_set(why, whylen, "table %s: %s", path, strerror(ENOMEM));
    }
    munmap(map, (size_t)want.file_size);
    return NULL;
}

static bool temp_name(const char *path, char *buf, size_t len)
{
    static unsigned counter;
    const char *base = strrchr(path, '/');
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int n = snprintf(buf, len, "%.*s/.%s.tmp-%d-%u-%ld", (int)(base - path), path, base + 1,
                     (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
                     (long)now.tv_nsec);
    return n > 0 && (size_t)n < len;
}

/* NULL with *lost set when someone else published first. */
struct table *table_create(const char *path, uint32_t slots, bool *lost,
                            char *why, size_t whylen)
{
    char tmp[PATH_MAX];
    if (!temp_name(path, tmp, sizeof tmp)) {
        why_set(why, whylen, "table %s: name too long", path);
        return NULL;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        why_set(why, whylen, "table %s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    int link_err = 0;
    struct table *t = build_and_link(fd, tmp, path, table_clamp_slots(slots), &link_err,
                                     why, whylen);
    unlink(tmp);
    sys_close(fd);
    *lost = link_err == EEXIST;
    return t;
}
