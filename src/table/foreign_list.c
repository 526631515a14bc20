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
struct foreign_set set = { .lock = PTHREAD_MUTEX_INITIALIZER, .dirfd = -1 };

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
    snprintf(f->path, sizeof f->path, "%s/%s", set.dir, name);
    return true;
}

static int kept_index(uint64_t dev, uint64_t ino)
{
    for (int i = 0; i < set.n; i++)
        if (set.t[i].dev == dev && set.t[i].ino == ino)
            return i;
    return -1;
}

static void relist(int dirfd)
{
    struct ftable next[FOREIGN_MAX_TABLES];
    bool kept[FOREIGN_MAX_TABLES] = { false };
    int n = 0;
    set.overflow = false;
    DIR *d = fdopendir(dirfd);
    if (!d) {
        sys_close(dirfd);
        return;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!table_like(de->d_name, set.base))
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            ((uint64_t)st.st_dev == set.own_dev && (uint64_t)st.st_ino == set.own_ino))
            continue;
        if (n == FOREIGN_MAX_TABLES) {
            set.overflow = true;
            break;
        }
        int k = kept_index(st.st_dev, st.st_ino);
        if (k >= 0 && still_ours(&set.t[k])) {
            next[n++] = set.t[k];
            kept[k] = true;
        } else if (adopt(dirfd, de->d_name, &next[n])) {
            n++;
        }
    }
    closedir(d);
    /* Never close what is no longer ours, nor a number a new table just took (the host
     * may have closed the old one, and the new descriptor got its number). */
    for (int i = 0; i < set.n; i++) {
        bool reused = false;
        for (int k = 0; k < n; k++)
            reused |= next[k].fd == set.t[i].fd;
        if (!kept[i] && !reused && still_ours(&set.t[i]))
            sys_close(set.t[i].fd);
    }
    memcpy(set.t, next, sizeof next[0] * (size_t)n);
    set.n = n;
}

static bool split_prefix(const char *prefix)
{
    char path[PATH_MAX];
    if (!table_file_path(prefix, path, sizeof path, NULL, 0))
        return false;
    char *slash = strrchr(path, '/');
    if (!slash || strlen(slash + 1) > NAME_MAX)
        return false;
    snprintf(set.base, sizeof set.base, "%s", slash + 1);
    *slash = '\0';
    snprintf(set.dir, sizeof set.dir, "%s", path[0] ? path : "/");
    snprintf(set.prefix, sizeof set.prefix, "%s", prefix);
    return true;
}

static bool dir_unchanged(const struct stat *st)
{
    int64_t settled = (int64_t)(set.listed_at.tv_sec - st->st_mtim.tv_sec) * 1000000000LL +
                      (set.listed_at.tv_nsec - st->st_mtim.tv_nsec);
    return set.listed && st->st_mtim.tv_sec == set.mtime.tv_sec &&
           st->st_mtim.tv_nsec == set.mtime.tv_nsec && st->st_size == set.dir_size &&
           settled > FRESH_NS;
}

/* The directory's state through our descriptor to it, reopened if the host closed or
 * reused that number (the result is then another inode). false: no directory. */
static bool stat_dir(struct stat *st)
{
    if (set.dirfd >= 0 && fstat(set.dirfd, st) == 0 && S_ISDIR(st->st_mode) &&
        (uint64_t)st->st_ino == set.dir_ino && (uint64_t)st->st_dev == set.dir_dev)
        return true;
    int fd = open(set.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0) {
        if (fd >= 0)
            sys_close(fd);
        return false;
    }
    /* The old number is not closed: it is no longer ours (or is the same directory,
     * then kept by the host as its own). */
    set.dirfd = move_high(fd);
    set.dir_ino = st->st_ino;
    set.dir_dev = st->st_dev;
    set.listed = false;
    return true;
}

/* Every descriptor still the file it was? A stale one makes the directory be listed
 * again (which reopens what is still there). */
static void recheck_descriptors(void)
{
    int64_t now = mono_ns();
    if (now - set.checked_ns < RECHECK_NS)
        return;
    set.checked_ns = now;
    for (int i = 0; i < set.n; i++)
        if (!still_ours(&set.t[i]))
            set.listed = false;
}

int foreign_begin(const char *prefix, uint64_t own_dev, uint64_t own_ino)
{
    pthread_mutex_lock(&set.lock);
    if (strcmp(prefix, set.prefix) != 0 || own_dev != set.own_dev || own_ino != set.own_ino) {
        set.listed = false;
        set.dir_ino = set.dir_dev = 0;   /* reopen the directory */
        if (!split_prefix(prefix))
            return set.n = 0;
        set.own_dev = own_dev;
        set.own_ino = own_ino;
    }
    recheck_descriptors();
    int64_t now = mono_ns();
    if (set.listed && now - set.dir_checked_ns < DIR_CHECK_NS)
        return set.n;
    set.dir_checked_ns = now;
    struct stat st;
    if (!stat_dir(&st) || dir_unchanged(&st))
        return set.n;
    int dirfd = openat(set.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return set.n;
    clock_gettime(CLOCK_REALTIME, &set.listed_at);
    relist(dirfd);
    set.mtime = st.st_mtim;
    set.dir_size = st.st_size;
    set.listed = true;
    return set.n;
}

void foreign_end(void)
{
    pthread_mutex_unlock(&set.lock);
}

void foreign_after_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&set.lock, &fresh, sizeof fresh);
}

bool foreign_stale(void)
{
    return !set.listed;
}

bool foreign_churned(void)
{
    return set.churned;
}

bool foreign_overflow(void)
{
    return set.overflow;
}

uint32_t foreign_owner(int ti)
{
    return set.t[ti].owner;
}

const char *foreign_path(int ti)
{
    return set.t[ti].path;
}

void foreign_id(int ti, uint64_t *dev, uint64_t *ino)
{
    *dev = set.t[ti].dev;
    *ino = set.t[ti].ino;
}
