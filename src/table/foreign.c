/* foreign - see foreign.h. Everything read here was written by someone who may wish the
 * reader harm: lengths, offsets and links come from our own validated copy of the ident
 * or are range-checked, short reads mean "nothing", and no read result can make us
 * write anywhere but our own buffers. */
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

static struct {
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
} set = { .lock = PTHREAD_MUTEX_INITIALIZER, .dirfd = -1 };

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

/* Is ti's descriptor still the file we validated? A wrong file must never be read as a
 * table: at best it costs a skipped table. */
static bool still_ours(const struct ftable *f)
{
    struct stat st;
    return f->fd >= 0 && fstat(f->fd, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
           (uint64_t)st.st_ino == f->ino;
}

static bool pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    return off <= (uint64_t)INT64_MAX && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
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

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

/* ---- entries ------------------------------------------------------------------------ */

static bool fields_ok(const struct table_entry *e, uint32_t owner)
{
    return __atomic_load_n(&e->state, __ATOMIC_RELAXED) == TABLE_STATE_LIVE && e->id != 0 &&
           (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP) &&
           (e->addr.family == AF_INET || e->addr.family == AF_INET6) &&
           e->cls <= BG_CLASS_EXCLUSIVE && e->n_share <= TABLE_MAX_SHARE && e->uid == owner;
}

/* One slot, read until two reads agree with an even sequence count. false: torn too
 * often, or unreadable (truncated). */
static bool read_slot(const struct ftable *f, uint32_t idx, struct table_entry *e)
{
    if (idx >= f->capacity)
        return false;
    uint64_t off = f->entry_off + (uint64_t)idx * sizeof *e;
    struct table_entry again;
    for (int i = 0; i < FOREIGN_TORN_RETRIES; i++) {
        if (!pread_all(f->fd, e, sizeof *e, off) || !pread_all(f->fd, &again, sizeof again, off))
            return false;
        if (!(e->seq & 1u) && memcmp(e, &again, sizeof again) == 0) {
            e->comm[TABLE_COMM_LEN - 1] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- reads reused ------------------------------------------------------------------ */

/* What a table looked like on one key when it was read: its bucket's head link and the
 * head entry's id. Owners link every new entry at its bucket's head with a new id, so an
 * insert changes one of them; releases only take claims away. */
struct shape {
    uint64_t dev, ino, netns, head_id;
    uint32_t head;
    uint16_t port;
    uint8_t  proto;
};

static struct {
    struct shape shape;
    int64_t  at_ns;              /* 0: empty */
    size_t   max;
    int      n;
    uint32_t idx[FOREIGN_REUSE_HITS];
    struct table_entry e[FOREIGN_REUSE_HITS];
} reused[REUSED];

static bool same_key(const struct shape *a, const struct shape *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->netns == b->netns &&
           a->port == b->port && a->proto == b->proto;
}

/* A recent read of this key asking for as many entries, or -1. */
static int reused_read(const struct shape *key, size_t max)
{
    int64_t now = mono_ns();
    for (int i = 0; i < REUSED; i++)
        if (reused[i].at_ns && now - reused[i].at_ns < REUSE_NS && reused[i].max == max &&
            same_key(&reused[i].shape, key))
            return i;
    return -1;
}

/* Intents change in place (stamped, then bound): a read holding one is never reused. */
static void keep_read(const struct shape *sh, size_t max, const struct table_entry *out,
                      const uint32_t *idx, int n)
{
    if (max > FOREIGN_REUSE_HITS)
        return;
    for (int i = 0; i < n; i++)
        if (out[i].flags & TABLE_F_PENDING)
            return;
    int at = reused_read(sh, max);   /* this key's earlier read, else the oldest */
    if (at < 0) {
        at = 0;
        for (int i = 1; i < REUSED; i++)
            if (reused[i].at_ns < reused[at].at_ns)
                at = i;
    }
    reused[at].shape = *sh;
    reused[at].at_ns = mono_ns() | 1;
    reused[at].max = max;
    reused[at].n = n;
    memcpy(reused[at].e, out, sizeof *out * (size_t)n);
    memcpy(reused[at].idx, idx, sizeof *idx * (size_t)n);
}

/* ---- reading ------------------------------------------------------------------------ */

/* The key's bucket head and its entry's id into *sh; false if unreadable. */
static bool read_head(const struct ftable *f, uint32_t b, struct shape *sh)
{
    struct table_entry head;
    if (!pread_all(f->fd, &sh->head, sizeof sh->head, f->bucket_off + 4ull * b))
        return false;
    sh->head_id = 0;
    if (sh->head == TABLE_LINK_NONE)
        return true;
    if (sh->head > f->capacity ||
        !pread_all(f->fd, &head, sizeof head, f->entry_off + (uint64_t)(sh->head - 1) * sizeof head))
        return false;
    sh->head_id = head.id;
    return true;
}

int foreign_find(int ti, uint64_t netns, uint8_t proto, uint16_t port,
                 struct table_entry *out, uint32_t *idx, size_t max)
{
    struct ftable *f = &set.t[ti];
    uint32_t b = table_bucket_of(f->nbuckets, netns, proto, port), used = 0;
    struct shape sh = { .dev = f->dev, .ino = f->ino, .netns = netns, .port = port,
                        .proto = proto };
    /* Read recently: two reads say whether the table changed there since. A descriptor
     * the host reused would not give the same shape, and goes the long way below. */
    int r = reused_read(&sh, max);
    set.churned = false;
    if (r >= 0) {
        if (read_head(f, b, &sh) && sh.head == reused[r].shape.head &&
            sh.head_id == reused[r].shape.head_id) {
            memcpy(out, reused[r].e, sizeof *out * (size_t)reused[r].n);
            memcpy(idx, reused[r].idx, sizeof *idx * (size_t)reused[r].n);
            return reused[r].n;
        }
        reused[r].at_ns = 0;
        set.churned = true;
    }
    /* The common case: one read says the table has nothing on this port. */
    if (!pread_all(f->fd, &used, sizeof used,
                   f->summary_off + 4ull * table_summary_slot(proto, port))) {
        if (!still_ours(f))   /* closed or reused by the host: list again next time */
            set.listed = false;
        return 0;
    }
    if (used == 0)
        return 0;
    if (!still_ours(f)) {
        set.listed = false;
        return 0;
    }
    if (!read_head(f, b, &sh))
        return 0;
    uint32_t link = sh.head;
    int n = 0;
    /* One read per link; a second (read_slot) only for an entry on our key. A torn read
     * of another key's entry can only misdirect the walk: that hides its owner's sockets,
     * nobody else's. */
    for (int step = 0; link != TABLE_LINK_NONE && step < FOREIGN_MAX_STEPS &&
                       (size_t)n < max; step++) {
        struct table_entry e;
        if (link > f->capacity ||
            !pread_all(f->fd, &e, sizeof e, f->entry_off + (uint64_t)(link - 1) * sizeof e) ||
            e.state != TABLE_STATE_LIVE)
            break;
        if (e.addr.port == port && e.proto == proto && e.netns == netns &&
            (!read_slot(f, link - 1, &e) || e.state != TABLE_STATE_LIVE))
            break;
        if (e.addr.port == port && e.proto == proto && e.netns == netns &&
            fields_ok(&e, f->owner)) {
            out[n] = e;
            idx[n++] = link - 1;
        }
        link = e.next;
    }
    keep_read(&sh, max, out, idx, n);
    return n;
}

bool foreign_reread(int ti, uint32_t idx, uint64_t id, struct table_entry *e)
{
    const struct ftable *f = &set.t[ti];
    return still_ours(f) && read_slot(f, idx, e) && e->id == id && fields_ok(e, f->owner);
}

void foreign_each(int ti, uint32_t max_slots,
                  bool (*fn)(const struct table_entry *e, void *arg), void *arg)
{
    const struct ftable *f = &set.t[ti];
    uint32_t hwm = 0;
    if (!still_ours(f) ||
        !pread_all(f->fd, &hwm, sizeof hwm, offsetof(struct table_header, hwm)))
        return;
    if (hwm > f->capacity)
        hwm = f->capacity;
    if (hwm > max_slots)
        hwm = max_slots;
    for (uint32_t i = 0; i < hwm; i++) {
        struct table_entry e;
        if (read_slot(f, i, &e) && fields_ok(&e, f->owner) && !fn(&e, arg))
            return;
    }
}
