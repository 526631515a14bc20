/* foreign_list - finding other users' tables (foreign.h): the directory listed when it
 * changed, each table validated and kept open on a high descriptor, re-checked by device
 * and inode. Reading them is foreign.c. */
#include "foreign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "foreign_set.h"
#include "sys.h"

/* tmpfs stamps directories with a coarse clock: two changes within one tick leave the
 * same mtime. A list taken less than this after the mtime may have missed a change made
 * later in the same tick, so it is taken again whatever the mtime says. */
#define FRESH_NS (20 * 1000000LL)
/* The host may close our descriptors (closefrom, close_range) or reuse their numbers
 * behind our back: a failed read re-lists at the next lookup, and every descriptor is
 * re-checked by device and inode at least this often. */
#define RECHECK_NS (1000 * 1000000LL)
/* The directory itself is looked at (one fstat) at most this often: a table created since
 * is read from the first lookup after that, so a new user's table goes unseen for at most
 * DIR_CHECK_NS plus the coarse clock's tick (doc/security.md). */
#define DIR_CHECK_NS (FOREIGN_DIR_CHECK_MS * 1000000LL)

/* The process's one set (foreign_set.h). */
struct foreign_set open_tables = { .lock = PTHREAD_MUTEX_INITIALIZER, .dirfd = -1 };

/* ---- descriptors -------------------------------------------------------------------- */

/* Out of the way of the host's descriptors: programs that assume small numbers (select,
 * fixed arrays) keep their low ones, and a high one is less likely to be reused. */
static int move_high(int fd)
{
    struct rlimit rl;
    long min = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 512)
        min = (long)(rl.rlim_cur > 4096 ? 4096 : rl.rlim_cur) / 2;
    int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min);
    if (high < 0)
        return fd;
    sys_close(fd);
    return high;
}

/* ---- discovery ---------------------------------------------------------------------- */

/* "<base>.<digits>" or "<base>.<digits>.<digits>": the names own.h gives. */
static bool table_like(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || name[bl] != '.')
        return false;
    const char *p = name + bl + 1;
    for (int part = 0; part < 2; part++) {
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '\0')
            return true;
        if (*p != '.')
            return false;
        p++;
    }
    return false;
}

/* Open and validate one candidate; false if it is not a table we may read. */
static bool adopt(int dirfd, const char *name, struct ftable *f)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    struct stat st;
    struct table_ident id;
    /* Writable by anyone but its owner: its entries would be someone else's words. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 022) ||
        !pread_all(fd, &id, sizeof id, 0) || !table_ident_usable(&id, (uint64_t)st.st_size)) {
        sys_close(fd);
        return false;
    }
    *f = (struct ftable){ .fd = move_high(fd), .dev = st.st_dev, .ino = st.st_ino,
                          .owner = st.st_uid, .capacity = id.capacity, .nbuckets = id.nbuckets,
                          .summary_off = id.summary_off, .bucket_off = id.bucket_off,
                          .entry_off = id.entry_off };
    snprintf(f->path, sizeof f->path, "%s/%s", open_tables.dir, name);
    return true;
}

static int kept_index(uint64_t dev, uint64_t ino)
{
    for (int i = 0; i < open_tables.n; i++)
        if (open_tables.t[i].dev == dev && open_tables.t[i].ino == ino)
            return i;
    return -1;
}

static void relist(int dirfd)
{
    struct ftable next[FOREIGN_MAX_TABLES];
    bool kept[FOREIGN_MAX_TABLES] = { false };
    int n = 0;
    open_tables.overflow = false;
    DIR *d = fdopendir(dirfd);
    if (!d) {
        sys_close(dirfd);
        return;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!table_like(de->d_name, open_tables.base))
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            ((uint64_t)st.st_dev == open_tables.own_dev && (uint64_t)st.st_ino == open_tables.own_ino))
            continue;
        if (n == FOREIGN_MAX_TABLES) {
            open_tables.overflow = true;
            break;
        }
        int k = kept_index(st.st_dev, st.st_ino);
        if (k >= 0 && still_ours(&open_tables.t[k])) {
            next[n++] = open_tables.t[k];
            kept[k] = true;
        } else if (adopt(dirfd, de->d_name, &next[n])) {
            n++;
        }
    }
    closedir(d);
    /* Never close what is no longer ours, nor a number a new table just took (the host
     * may have closed the old one, and the new descriptor got its number). */
    for (int i = 0; i < open_tables.n; i++) {
        bool reused = false;
        for (int k = 0; k < n; k++)
            reused |= next[k].fd == open_tables.t[i].fd;
        if (!kept[i] && !reused && still_ours(&open_tables.t[i]))
            sys_close(open_tables.t[i].fd);
    }
    memcpy(open_tables.t, next, sizeof next[0] * (size_t)n);
    open_tables.n = n;
}

static bool split_prefix(const char *prefix)
{
    char path[PATH_MAX];
    if (!table_file_path(prefix, path, sizeof path, NULL, 0))
        return false;
    char *slash = strrchr(path, '/');
    if (!slash || strlen(slash + 1) > NAME_MAX)
        return false;
    snprintf(open_tables.base, sizeof open_tables.base, "%s", slash + 1);
    *slash = '\0';
    snprintf(open_tables.dir, sizeof open_tables.dir, "%s", path[0] ? path : "/");
    snprintf(open_tables.prefix, sizeof open_tables.prefix, "%s", prefix);
    return true;
}

static bool dir_unchanged(const struct stat *st)
{
    int64_t settled = (int64_t)(open_tables.listed_at.tv_sec - st->st_mtim.tv_sec) * 1000000000LL +
                      (open_tables.listed_at.tv_nsec - st->st_mtim.tv_nsec);
    return open_tables.listed && st->st_mtim.tv_sec == open_tables.mtime.tv_sec &&
           st->st_mtim.tv_nsec == open_tables.mtime.tv_nsec && st->st_size == open_tables.dir_size &&
           settled > FRESH_NS;
}

/* The directory's state through our descriptor to it, reopened if the host closed or
 * reused that number (the result is then another inode). false: no directory. */
static bool stat_dir(struct stat *st)
{
    if (open_tables.dirfd >= 0 && fstat(open_tables.dirfd, st) == 0 && S_ISDIR(st->st_mode) &&
        (uint64_t)st->st_ino == open_tables.dir_ino && (uint64_t)st->st_dev == open_tables.dir_dev)
        return true;
    int fd = open(open_tables.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0) {
        if (fd >= 0)
            sys_close(fd);
        return false;
    }
    /* The old number is not closed: it is no longer ours (or is the same directory,
     * then kept by the host as its own). */
    open_tables.dirfd = move_high(fd);
    open_tables.dir_ino = st->st_ino;
    open_tables.dir_dev = st->st_dev;
    open_tables.listed = false;
    return true;
}

/* Every descriptor still the file it was? A stale one makes the directory be listed
 * again (which reopens what is still there). */
static void recheck_descriptors(void)
{
    int64_t now = mono_ns();
    if (now - open_tables.checked_ns < RECHECK_NS)
        return;
    open_tables.checked_ns = now;
    for (int i = 0; i < open_tables.n; i++)
        if (!still_ours(&open_tables.t[i]))
            open_tables.listed = false;
}

int foreign_begin(const char *prefix, uint64_t own_dev, uint64_t own_ino)
{
    pthread_mutex_lock(&open_tables.lock);
    if (strcmp(prefix, open_tables.prefix) != 0 || own_dev != open_tables.own_dev || own_ino != open_tables.own_ino) {
        open_tables.listed = false;
        open_tables.dir_ino = open_tables.dir_dev = 0;   /* reopen the directory */
        if (!split_prefix(prefix))
            return open_tables.n = 0;
        open_tables.own_dev = own_dev;
        open_tables.own_ino = own_ino;
    }
    recheck_descriptors();
    int64_t now = mono_ns();
    if (open_tables.listed && now - open_tables.dir_checked_ns < DIR_CHECK_NS)
        return open_tables.n;
    open_tables.dir_checked_ns = now;
    struct stat st;
    if (!stat_dir(&st) || dir_unchanged(&st))
        return open_tables.n;
    int dirfd = openat(open_tables.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return open_tables.n;
    clock_gettime(CLOCK_REALTIME, &open_tables.listed_at);
    relist(dirfd);
    open_tables.mtime = st.st_mtim;
    open_tables.dir_size = st.st_size;
    open_tables.listed = true;
    return open_tables.n;
}

void foreign_end(void)
{
    pthread_mutex_unlock(&open_tables.lock);
}

void foreign_after_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&open_tables.lock, &fresh, sizeof fresh);
}

bool foreign_stale(void)
{
    return !open_tables.listed;
}

bool foreign_churned(void)
{
    return open_tables.churned;
}

bool foreign_overflow(void)
{
    return open_tables.overflow;
}

uint32_t foreign_owner(int ti)
{
    return open_tables.t[ti].owner;
}

const char *foreign_path(int ti)
{
    return open_tables.t[ti].path;
}

void foreign_id(int ti, uint64_t *dev, uint64_t *ino)
{
    *dev = open_tables.t[ti].dev;
    *ino = open_tables.t[ti].ino;
}
