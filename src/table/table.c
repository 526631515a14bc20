/* table - the cross-process port table in shared memory.
 *
 * Crash safety rests on write order, not on logging: every mutation is a sequence of
 * single aligned stores arranged so that a process killed between any two of them leaves
 * state that table_rebuild() turns back into a consistent table. The entry array is the
 * truth (an entry counts iff its state is LIVE and its fields validate); bucket chains,
 * the free list and the count are an index over it that rebuild can always recompute.
 *
 * Nothing read from the mapping is trusted: bounds come from the process-local copy of
 * the header taken at open, every link is range-checked, and chain walks stop on a cycle
 * (Brent's algorithm, so a cycle costs O(chain), not O(table)). A walk that meets
 * corruption fails the operation and sets header.repair; the next table_lock rebuilds. */
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

#define OPEN_ATTEMPTS  4     /* open-or-create rounds when others create/remove concurrently */
#define ALIGN_PARTS    64u

_Static_assert(sizeof(struct table_ident) == 64, "ident fills one cache line");
_Static_assert(TABLE_MAX_SLOTS < UINT32_MAX - 1, "links are index + 1 in 32 bits");

struct table {
    struct table_header *h;
    uint32_t            *summary;
    uint32_t            *buckets;
    struct table_entry  *entries;
    uint32_t             capacity;   /* local copies: the mapping's own may be tampered with */
    uint32_t             mask;
    int                  held;       /* this process holds the lock through this handle */
    struct table_ident   ident;
    dev_t                dev;        /* the file mapped, to notice it being replaced */
    ino_t                ino;
    char                 path[];
};

/* ---- small helpers ------------------------------------------------------------------ */

static void say(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
    if (!why || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static uint32_t load_u32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_u32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* splitmix64's finaliser: every input bit reaches every output bit, so sequential
 * namespace cookies and neighbouring ports spread over all buckets. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

uint32_t table_bucket_of(uint32_t nbuckets, uint64_t netns, uint8_t proto, uint16_t port)
{
    uint64_t key = netns * UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)proto << 16 | port);
    return (uint32_t)mix64(key) & (nbuckets - 1);
}

uint32_t table_bucket(const struct table *t, uint64_t netns, uint8_t proto, uint16_t port)
{
    return table_bucket_of(t->mask + 1, netns, proto, port);
}

static uint32_t bucket_of(const struct table *t, const struct table_entry *e)
{
    return table_bucket(t, e->netns, e->proto, e->addr.port);
}

/* What an entry must look like to be judged or kept by a rebuild. */
static bool fields_ok(const struct table_entry *e)
{
    return e->id != 0
        && (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP)
        && (e->addr.family == AF_INET || e->addr.family == AF_INET6)
        && e->cls <= BG_CLASS_EXCLUSIVE
        && e->n_share <= TABLE_MAX_SHARE;
}

static bool entry_live(const struct table_entry *e)
{
    return load_u32(&e->state) == TABLE_STATE_LIVE && fields_ok(e);
}

/* Foreign readers (foreign.h) take an entry only when they read the same even sequence
 * count before and after it: a rewrite is bracketed by seq_begin/seq_end. */
static void seq_begin(struct table_entry *e)
{
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (s | 1u), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void seq_end(struct table_entry *e)
{
    uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (s | 1u) + 1u, __ATOMIC_RELEASE);
}

/* The summary is what a foreign reader looks at first: sequentially consistent, so that
 * an intent published here and a racer's published in its own table are not both missed
 * (intent.h). */
static uint32_t *summary_of(struct table *t, const struct table_entry *e)
{
    return &t->summary[table_summary_slot(e->proto, e->addr.port)];
}

static void summary_add(struct table *t, const struct table_entry *e)
{
    __atomic_add_fetch(summary_of(t, e), 1u, __ATOMIC_SEQ_CST);
}

static void summary_sub(struct table *t, const struct table_entry *e)
{
    uint32_t *c = summary_of(t, e);
    if (__atomic_load_n(c, __ATOMIC_RELAXED))
        __atomic_sub_fetch(c, 1u, __ATOMIC_SEQ_CST);
}

static void mark_corrupt(struct table *t)
{
    store_u32(&t->h->repair, 1);
}

/* ---- layout ------------------------------------------------------------------------- */

static uint32_t clamp_slots(uint32_t slots)
{
    if (slots == 0)
        return TABLE_DEFAULT_SLOTS;
    if (slots < TABLE_MIN_SLOTS)
        return TABLE_MIN_SLOTS;
    return slots > TABLE_MAX_SLOTS ? TABLE_MAX_SLOTS : slots;
}

static uint32_t buckets_for(uint32_t capacity)
{
    uint32_t n = 1;
    while (n < capacity)
        n <<= 1;
    return n;
}

/* The header a table of this capacity has, magic included. */
static void make_ident(uint32_t capacity, struct table_ident *id)
{
    memset(id, 0, sizeof *id);
    id->magic = TABLE_MAGIC;
    id->abi = TABLE_ABI_VERSION;
    id->header_size = sizeof(struct table_header);
    id->entry_size = sizeof(struct table_entry);
    id->lock_size = sizeof(pthread_mutex_t);
    id->ptr_size = sizeof(void *);
    id->capacity = capacity;
    id->nbuckets = buckets_for(capacity);
    id->summary_off = (uint32_t)round_up(sizeof(struct table_header), ALIGN_PARTS);
    id->bucket_off = round_up(id->summary_off + 2ull * TABLE_SUMMARY_PORTS * sizeof(uint32_t),
                              ALIGN_PARTS);
    id->entry_off = round_up(id->bucket_off + (uint64_t)id->nbuckets * sizeof(uint32_t),
                             ALIGN_PARTS);
    id->file_size = id->entry_off + (uint64_t)capacity * sizeof(struct table_entry);
}

uint64_t table_file_size(uint32_t slots)
{
    struct table_ident id;
    make_ident(clamp_slots(slots), &id);
    return id.file_size;
}

/* ---- names -------------------------------------------------------------------------- */

static bool resolve_path(const char *name, char *buf, size_t len, char *why, size_t whylen)
{
    if (!name || !*name || !strcmp(name, "/")) {
        say(why, whylen, "empty table name");
        return false;
    }
    bool slash_inside = strchr(name + 1, '/') != NULL;
    if (name[0] != '/' && slash_inside) {
        say(why, whylen, "table name \"%s\" is a relative path: give a shm name "
            "(bindguard-v3) or an absolute path", name);
        return false;
    }
    int n = slash_inside ? snprintf(buf, len, "%s", name)
                         : snprintf(buf, len, "/dev/shm/%s", name + (name[0] == '/'));
    if (n < 0 || (size_t)n >= len) {
        say(why, whylen, "table name too long");
        return false;
    }
    return true;
}

bool table_file_path(const char *name, char *buf, size_t len, char *why, size_t whylen)
{
    return resolve_path(name, buf, len, why, whylen);
}

/* ---- attaching a mapping ------------------------------------------------------------ */

static struct table *handle_new(void *map, const struct table_ident *id, const char *path)
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

static void *map_file(int fd, uint64_t size, const char *path, char *why, size_t whylen)
{
    void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        say(why, whylen, "table %s: mmap: %s", path, strerror(errno));
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
        say(why, whylen, "table %s: not a regular file", path);
        return false;
    }
    memset(id, 0, sizeof *id);
    ssize_t n = st.st_size > 0 ? pread(fd, id, sizeof *id, 0) : 0;
    if (n < (ssize_t)sizeof id->magic || id->magic == 0) {
        say(why, whylen, "table %s: not initialised (%lld bytes); remove it", path,
            (long long)st.st_size);
        return false;
    }
    if (id->magic != TABLE_MAGIC) {
        say(why, whylen, "table %s: not a bindguard table (magic %016llx)", path,
            (unsigned long long)id->magic);
        return false;
    }
    if (n < (ssize_t)sizeof *id) {
        say(why, whylen, "table %s: truncated (%lld bytes)", path, (long long)st.st_size);
        return false;
    }
    *size = st.st_size;
    return true;
}

#define IDENT_FIELD(f, what) \
    { what, offsetof(struct table_ident, f), sizeof(((struct table_ident *)0)->f) }
static const struct { const char *what; size_t off, size; } ident_fields[] = {
    IDENT_FIELD(header_size, "header size"),
    IDENT_FIELD(entry_size, "entry size"),
    IDENT_FIELD(lock_size, "lock size"),
    IDENT_FIELD(ptr_size, "pointer size"),
    IDENT_FIELD(nbuckets, "bucket count"),
    IDENT_FIELD(summary_off, "summary offset"),
    IDENT_FIELD(bucket_off, "bucket offset"),
    IDENT_FIELD(entry_off, "entry offset"),
    IDENT_FIELD(file_size, "recorded file size"),
};

static uint64_t field_value(const struct table_ident *id, size_t i)
{
    uint64_t v = 0;
    if (ident_fields[i].size == sizeof(uint32_t)) {
        uint32_t v32;
        memcpy(&v32, (const char *)id + ident_fields[i].off, sizeof v32);
        v = v32;
    } else {
        memcpy(&v, (const char *)id + ident_fields[i].off, sizeof v);
    }
    return v;
}

/* Compare a read ident with what this build would have written for its capacity. */
static bool check_ident(const struct table_ident *id, off_t size, const char *path,
                        struct table_ident *want, char *why, size_t whylen)
{
    if (id->abi != TABLE_ABI_VERSION) {
        say(why, whylen, "table %s: ABI version %u, this build speaks %u", path, id->abi,
            TABLE_ABI_VERSION);
        return false;
    }
    if (id->capacity < TABLE_MIN_SLOTS || id->capacity > TABLE_MAX_SLOTS) {
        say(why, whylen, "table %s: capacity %u out of range", path, id->capacity);
        return false;
    }
    make_ident(id->capacity, want);
    for (size_t i = 0; i < sizeof ident_fields / sizeof ident_fields[0]; i++) {
        uint64_t got = field_value(id, i), exp = field_value(want, i);
        if (got != exp) {
            say(why, whylen, "table %s: %s is %llu, this process expects %llu", path,
                ident_fields[i].what, (unsigned long long)got, (unsigned long long)exp);
            return false;
        }
    }
    if ((uint64_t)size != want->file_size) {
        say(why, whylen, "table %s: file is %lld bytes, its header implies %llu", path,
            (long long)size, (unsigned long long)want->file_size);
        return false;
    }
    return true;
}

bool table_ident_usable(const struct table_ident *id, uint64_t file_size)
{
    struct table_ident want;
    return id->magic == TABLE_MAGIC && check_ident(id, (off_t)file_size, "", &want, NULL, 0);
}

static struct table *attach_existing(int fd, const char *path, char *why, size_t whylen)
{
    struct table_ident id, want;
    off_t size;
    if (!read_ident(fd, path, &id, &size, why, whylen) ||
        !check_ident(&id, size, path, &want, why, whylen))
        return NULL;
    void *map = map_file(fd, want.file_size, path, why, whylen);
    if (!map)
        return NULL;
    /* Acquire pairs with the creator's release of the magic; the ident is re-read from
     * the mapping in case the file changed between pread and mmap. */
    struct table_header *h = map;
    struct table *t = NULL;
    if (__atomic_load_n(&h->ident.magic, __ATOMIC_ACQUIRE) == TABLE_MAGIC &&
        memcmp(&h->ident, &want, sizeof want) == 0)
        t = handle_new(map, &want, path);
    if (!t) {
        say(why, whylen, "table %s: changed while being opened", path);
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
        say(why, whylen, "table %s: %s", path,
            err == ELOOP ? "is a symbolic link (refused)" : strerror(err));
        return err;
    }
    /* Only the owner's processes write a table: a file someone else owns under this name
     * is theirs to describe, not ours to use (own.h skips such names). */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid != geteuid())
        say(why, whylen, "table %s: owned by uid %u, not this user (%u)", path,
            (unsigned)st.st_uid, (unsigned)geteuid());
    else
        *out = attach_existing(fd, path, why, whylen);
    sys_close(fd);
    return 0;
}

/* ---- creating ----------------------------------------------------------------------- */

/* Robust: a holder's death hands the next taker EOWNERDEAD. Error-checking: a thread
 * that already holds it gets EDEADLK instead of hanging, and an unlock by a thread that
 * does not hold it is refused (table_abandon relies on that). */
static bool init_mutex(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return false;
    bool ok = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
              pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
              pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) == 0 &&
              pthread_mutex_init(m, &a) == 0;
    pthread_mutexattr_destroy(&a);
    return ok;
}

static bool init_header(struct table_header *h, const struct table_ident *want)
{
    struct table_ident id = *want;
    id.magic = 0;
    h->ident = id;
    h->next_id = 1;
    if (!init_mutex(&h->lock))
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
    make_ident(capacity, &want);
    /* fchmod, not the open mode: whatever the creator's umask, every user may read the
     * table (foreign.h) and only its owner may write it. */
    if (fchmod(fd, 0644) != 0 || ftruncate(fd, (off_t)want.file_size) != 0 ||
        (errno = posix_fallocate(fd, 0, (off_t)want.summary_off)) != 0) {  /* full: not SIGBUS */
        say(why, whylen, "table %s: creating: %s", path, strerror(errno));
        return NULL;
    }
    void *map = map_file(fd, want.file_size, path, why, whylen);
    if (!map)
        return NULL;
    struct table_header *h = map;
    struct table *t = handle_new(map, &want, path);  /* the lock is free as ftruncate left it */
    if (t) {
        if (!init_header(h, &want)) {
            say(why, whylen, "table %s: cannot initialise its robust process-shared mutex",
                path);
        } else if (link(tmp, path) == 0) {
            return t;
        } else {
            *link_err = errno;
            say(why, whylen, "table %s: creating: %s", path, strerror(errno));
        }
        free(t);
    } else {
        say(why, whylen, "table %s: %s", path, strerror(ENOMEM));
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
static struct table *create(const char *path, uint32_t slots, bool *lost,
                            char *why, size_t whylen)
{
    char tmp[PATH_MAX];
    if (!temp_name(path, tmp, sizeof tmp)) {
        say(why, whylen, "table %s: name too long", path);
        return NULL;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        say(why, whylen, "table %s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    int link_err = 0;
    struct table *t = build_and_link(fd, tmp, path, clamp_slots(slots), &link_err,
                                     why, whylen);
    unlink(tmp);
    sys_close(fd);
    *lost = link_err == EEXIST;
    return t;
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
    if (!resolve_path(name, path, sizeof path, why, whylen))
        return NULL;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        struct table *t = NULL;
        int err = open_existing(path, &t, why, whylen);
        if (err != ENOENT)
            return remember_file(t);
        bool lost = false;
        t = create(path, slots, &lost, why, whylen);
        if (t || !lost)
            return remember_file(t);
    }
    say(why, whylen, "table %s: keeps appearing and vanishing; gave up", path);
    return NULL;
}

struct table *table_attach(const char *name, char *why, size_t whylen)
{
    char path[PATH_MAX];
    struct table *t = NULL;
    int err = EINVAL;
    if (resolve_path(name, path, sizeof path, why, whylen))
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

/* ---- the lock ----------------------------------------------------------------------- */

static void deadline_in(unsigned ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int table_lock(struct table *t, unsigned timeout_ms)
{
    /* Never pthread_mutex_trylock: with glibc 2.36 it leaves an unrecoverable robust
     * mutex owned by the caller (doc/kernel-notes.md "Robust pthread mutexes"). A deadline
     * already reached still takes a free mutex. */
    struct timespec until;
    deadline_in(timeout_ms, &until);
    int r = pthread_mutex_clocklock(&t->h->lock, CLOCK_MONOTONIC, &until);
    if (r != 0 && r != EOWNERDEAD)
        return r == ETIMEDOUT || r == EDEADLK ? r : EIO;
    __atomic_store_n(&t->held, 1, __ATOMIC_RELEASE);
    if (memcmp(&t->h->ident, &t->ident, sizeof t->ident) != 0) {
        if (r == EOWNERDEAD) {
            __atomic_store_n(&t->h->repair, 1, __ATOMIC_RELEASE);
            pthread_mutex_consistent(&t->h->lock);
        }
        table_unlock(t);
        return EIO;
    }
    /* A holder died mid-operation: the index may be half-written. Repaired before the
     * mutex is made consistent, or the next taker would see the half-written state
     * without being told. */
    if (r == EOWNERDEAD || load_u32(&t->h->repair))
        table_rebuild(t);
    if (r == EOWNERDEAD && pthread_mutex_consistent(&t->h->lock) != 0) {
        table_unlock(t);
        return EIO;
    }
    return 0;
}

void table_unlock(struct table *t)
{
    __atomic_store_n(&t->held, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&t->h->lock);
}

/* A glibc robust mutex's futex word (__data.__lock) holds its holder's thread id in the
 * FUTEX_TID_MASK bits. The kernel releases a dead thread's robust mutexes, so a word naming
 * a thread that is gone is one it could not release (a raw clone, a non-main thread's
 * exec): no release will ever come. */
bool table_lock_orphaned(const struct table *t)
{
    int owner = __atomic_load_n(&t->h->lock.__data.__lock, __ATOMIC_RELAXED) & 0x3fffffff;
    return owner != 0 && kill(owner, 0) != 0 && errno == ESRCH;
}

void table_abandon(struct table *t)
{
    __atomic_store_n(&t->h->repair, 1, __ATOMIC_RELEASE);
    /* EPERM (error-checking mutex), and no harm, when this thread does not hold it. */
    if (pthread_mutex_unlock(&t->h->lock) == 0)
        __atomic_store_n(&t->held, 0, __ATOMIC_RELEASE);
}

/* ---- chain walks -------------------------------------------------------------------- */

/* One walk along a chain. Links are range-checked and a cycle is caught by Brent's
 * method (a saved link, re-saved at power-of-two distances), so a corrupt chain costs
 * a few steps more than its length, never a hang. */
struct walk {
    uint32_t link, saved, lam, power;
    const char *bad;  /* what was wrong, once a step returned WALK_CORRUPT */
};

enum { WALK_END = UINT32_MAX, WALK_CORRUPT = UINT32_MAX - 1 };

static struct walk walk_start(const struct table *t, uint32_t bucket)
{
    return (struct walk){ .link = load_u32(&t->buckets[bucket]), .power = 1 };
}

/* The next entry's index, WALK_END, or WALK_CORRUPT (a bad link, a cycle, or an entry
 * that is not live: once repaired, chains hold live entries only). */
static uint32_t walk_step(const struct table *t, struct walk *w)
{
    uint32_t link = w->link;
    if (link == TABLE_LINK_NONE)
        return WALK_END;
    if (link > t->capacity || link == w->saved) {
        w->bad = link == w->saved ? "a cycle" : "a link out of range";
        return WALK_CORRUPT;
    }
    if (++w->lam == w->power) {
        w->saved = link;
        w->power <<= 1;
        w->lam = 0;
    }
    const struct table_entry *e = &t->entries[link - 1];
    if (load_u32(&e->state) != TABLE_STATE_LIVE) {
        w->bad = "an entry that is not live";
        return WALK_CORRUPT;
    }
    w->link = load_u32(&e->next);
    return link - 1;
}

static bool key_is(const struct table_entry *e, uint64_t netns, uint8_t proto, uint16_t port)
{
    return e->addr.port == port && e->netns == netns && e->proto == proto;
}

int table_find(struct table *t, uint64_t netns, uint8_t proto, uint16_t port,
               uint32_t *idx, size_t max)
{
    struct walk w = walk_start(t, table_bucket(t, netns, proto, port));
    int n = 0;
    for (uint32_t i; (i = walk_step(t, &w)) != WALK_END;) {
        if (i == WALK_CORRUPT)
            goto corrupt;
        const struct table_entry *e = &t->entries[i];
        if (!key_is(e, netns, proto, port))
            continue;
        if (!fields_ok(e))
            goto corrupt;
        if ((size_t)n < max)
            idx[n] = i;
        n++;
    }
    return n;
corrupt:
    mark_corrupt(t);
    errno = EIO;
    return -1;
}

/* The link word that points at entry idx in bucket b (the bucket head or a predecessor's
 * next), or NULL if the chain is corrupt or does not hold it. */
static uint32_t *link_to(struct table *t, uint32_t b, uint32_t idx)
{
    uint32_t *at = &t->buckets[b];
    struct walk w = walk_start(t, b);
    for (uint32_t i; (i = walk_step(t, &w)) < WALK_CORRUPT; at = &t->entries[i].next)
        if (i == idx)
            return at;
    return NULL;
}

/* ---- entries ------------------------------------------------------------------------ */

struct table_entry *table_at(struct table *t, uint32_t idx)
{
    if (idx >= t->capacity || !entry_live(&t->entries[idx]))
        return NULL;
    return &t->entries[idx];
}

struct table_entry *table_get(struct table *t, uint32_t idx, uint64_t id)
{
    struct table_entry *e = table_at(t, idx);
    return e && e->id == id ? e : NULL;
}

/* Take a slot: the head of the free list, else the next never-used one. EIO when the
 * free list or the high-water mark do not make sense. */
static int slot_pop(struct table *t, uint32_t *idx)
{
    struct table_header *h = t->h;
    uint32_t hwm = h->hwm, head = h->free_head;
    if (hwm > t->capacity || head > hwm)
        return EIO;
    if (head != TABLE_LINK_NONE) {
        struct table_entry *s = &t->entries[head - 1];
        uint32_t next = s->next;
        if (load_u32(&s->state) == TABLE_STATE_LIVE || next > hwm)
            return EIO;
        h->free_head = next;
        *idx = head - 1;
        return 0;
    }
    if (hwm == t->capacity)
        return ENOSPC;
    h->hwm = hwm + 1;
    *idx = hwm;
    return 0;
}

static int slot_take(struct table *t, uint32_t *idx)
{
    int r = slot_pop(t, idx);
    if (r != EIO)
        return r;
    /* We hold the lock, so repairing here is as safe as in table_lock, and it keeps
     * claims working on a table someone scribbled on. */
    table_rebuild(t);
    r = slot_pop(t, idx);
    return r == EIO ? ENOSPC : r;
}

/* Crash points, in order: slot taken (rebuild frees it) -> id consumed -> fields written
 * (not LIVE: rebuild frees them) -> LIVE (rebuild links it) -> linked -> counted. */
static int claim(struct table *t, const struct table_entry *e, int stop, uint32_t *idx_out)
{
    struct table_entry c = *e;
    c.id = 1;  /* so fields_ok judges the caller's fields only */
    if (!fields_ok(&c))
        return EINVAL;
    uint32_t idx;
    int r = slot_take(t, &idx);
    if (r != 0)
        return r;
    struct table_header *h = t->h;
    c.id = h->next_id ? h->next_id : 1;
    h->next_id = c.id + 1;  /* consumed before use: a death here never reissues an id */
    c.comm[TABLE_COMM_LEN - 1] = '\0';
    uint32_t b = bucket_of(t, &c);
    c.next = load_u32(&t->buckets[b]);
    c.state = TABLE_STATE_FREE;
    struct table_entry *s = &t->entries[idx];
    seq_begin(s);
    c.seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    c.reserved = 0;
    memcpy(s, &c, sizeof c);
    *idx_out = idx;
    if (stop == TABLE_STOP_FIELDS)
        return 0;
    store_u32(&s->state, TABLE_STATE_LIVE);
    seq_end(s);
    if (stop == TABLE_STOP_PUBLISHED)
        return 0;
    store_u32(&t->buckets[b], TABLE_LINK(idx));
    summary_add(t, s);
    h->count++;
    return 0;
}

int table_claim(struct table *t, const struct table_entry *e, uint32_t *idx_out)
{
    return claim(t, e, -1, idx_out);
}

int table_claim_partial(struct table *t, const struct table_entry *e, enum table_stop at,
                        uint32_t *idx_out)
{
    return claim(t, e, (int)at, idx_out);
}

/* Crash points: marked FREE while still chained (rebuild drops it) -> unlinked (rebuild
 * reclaims the slot) -> on the free list -> uncounted. */
static bool release(struct table *t, uint32_t idx, uint64_t id, bool stop)
{
    struct table_entry *e = table_get(t, idx, id);
    if (!e)
        return false;
    uint32_t *at = link_to(t, bucket_of(t, e), idx);
    seq_begin(e);
    store_u32(&e->state, TABLE_STATE_FREE);
    seq_end(e);
    if (stop)
        return true;
    if (!at) {
        mark_corrupt(t);  /* released all the same: the rebuild will not keep a FREE entry */
        return true;
    }
    summary_sub(t, e);
    store_u32(at, load_u32(&e->next));
    struct table_header *h = t->h;
    e->next = h->free_head;
    h->free_head = TABLE_LINK(idx);
    if (h->count)
        h->count--;
    return true;
}

bool table_set_flags(struct table *t, uint32_t idx, uint64_t id, uint8_t set, uint8_t clear)
{
    struct table_entry *e = table_get(t, idx, id);
    if (!e)
        return false;
    seq_begin(e);
    e->flags = (uint8_t)((e->flags | set) & ~clear);
    seq_end(e);
    return true;
}

uint64_t table_renew(struct table *t, uint32_t idx, uint64_t id)
{
    struct table_entry *e = table_get(t, idx, id);
    if (!e)
        return 0;
    struct table_header *h = t->h;
    uint64_t fresh = h->next_id ? h->next_id : 1;
    h->next_id = fresh + 1;  /* consumed first, as in claim: ids stay below next_id */
    seq_begin(e);
    e->id = fresh;
    seq_end(e);
    return fresh;
}

bool table_set_intent(struct table *t, uint32_t idx, uint64_t id, int64_t ns)
{
    struct table_entry *e = table_get(t, idx, id);
    if (!e)
        return false;
    seq_begin(e);
    e->intent_ns = ns;
    seq_end(e);
    return true;
}

bool table_release(struct table *t, uint32_t idx, uint64_t id)
{
    return release(t, idx, id, false);
}

bool table_release_partial(struct table *t, uint32_t idx, uint64_t id)
{
    return release(t, idx, id, true);
}

static uint32_t hwm_of(const struct table *t)
{
    uint32_t hwm = t->h->hwm;
    return hwm < t->capacity ? hwm : t->capacity;
}

void table_each(struct table *t, bool (*fn)(struct table_entry *e, uint32_t idx, void *arg),
                void *arg)
{
    /* The entry array, not the chains: listing must show what a rebuild would keep, even
     * when a chain is broken. */
    for (uint32_t i = 0, hwm = hwm_of(t); i < hwm; i++) {
        struct table_entry *e = table_at(t, i);
        if (e && !fn(e, i, arg))
            return;
    }
}

size_t table_count(const struct table *t)
{
    uint32_t n = t->h->count;
    return n < t->capacity ? n : t->capacity;
}

uint32_t table_capacity(const struct table *t)
{
    return t->capacity;
}

const char *table_path(const struct table *t)
{
    return t->path;
}

struct table_header *table_header(struct table *t)
{
    return t->h;
}

void table_mapping(const struct table *t, const void **base, size_t *len)
{
    *base = t->h;
    *len = (size_t)t->ident.file_size;
}

void table_entry_comm(const struct table_entry *e, char *buf, size_t len)
{
    size_t n = strnlen(e->comm, TABLE_COMM_LEN);
    if (n >= len)
        n = len - 1;
    memcpy(buf, e->comm, n);
    buf[n] = '\0';
}

/* ---- repair and verification -------------------------------------------------------- */

void table_rebuild(struct table *t)
{
    struct table_header *h = t->h;
    uint32_t hwm = hwm_of(t), free_head = TABLE_LINK_NONE, count = 0;
    uint64_t max_id = 0;
    memset(t->buckets, 0, ((size_t)t->mask + 1) * sizeof *t->buckets);
    /* Only counts that are set are cleared: writing zeros would make tmpfs allocate the
     * whole summary. */
    for (uint32_t i = 0; i < 2 * TABLE_SUMMARY_PORTS; i++)
        if (t->summary[i])
            __atomic_store_n(&t->summary[i], 0u, __ATOMIC_SEQ_CST);
    /* Backwards, so the free list comes out ascending: low slots are reused first and
     * the used part of the file stays compact. */
    for (uint32_t i = hwm; i-- > 0;) {
        struct table_entry *e = &t->entries[i];
        uint32_t *head = &free_head;
        if (entry_live(e)) {
            /* A pending entry found by a rebuild is an intent whose binder died (its
             * bind ran under the lock). It may have died after the real bind, and the
             * socket outlive it (a forked child, an exec, the exit of its other
             * threads): kept as a plain entry, for the kernel to confirm or refute on
             * the next conflicting bind or gc, like any other claim. */
            if (e->flags & TABLE_F_PENDING) {
                seq_begin(e);
                e->flags &= (uint8_t)~TABLE_F_PENDING;
                seq_end(e);
            }
            head = &t->buckets[bucket_of(t, e)];
            summary_add(t, e);
            count++;
            max_id = e->id > max_id ? e->id : max_id;
        } else {
            seq_begin(e);
            store_u32(&e->state, TABLE_STATE_FREE);
            seq_end(e);
        }
        e->next = *head;
        *head = TABLE_LINK(i);
    }
    h->hwm = hwm;
    h->free_head = free_head;
    h->count = count;
    if (h->next_id <= max_id)
        h->next_id = max_id + 1;
    h->repairs++;
    store_u32(&h->repair, 0);
}

struct check {
    struct table *t;
    uint8_t *seen;      /* one byte per slot: 0 unseen, 1 chained, 2 free-listed */
    uint32_t hwm, chained, freed;
    char *why;
    size_t whylen;
};

static int check_fail(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int check_fail(struct check *c, const char *fmt, ...)
{
    if (c->why && c->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int check_header(struct check *c)
{
    struct table_header *h = c->t->h;
    if (memcmp(&h->ident, &c->t->ident, sizeof h->ident) != 0)
        return check_fail(c, "header changed since open");
    if (h->hwm > c->t->capacity)
        return check_fail(c, "high-water mark %u above capacity %u", h->hwm, c->t->capacity);
    if (h->next_id == 0)
        return check_fail(c, "next id is 0");
    if (load_u32(&h->repair))
        return check_fail(c, "a repair is pending");
    return 0;
}

static int check_chain(struct check *c, uint32_t b)
{
    struct table *t = c->t;
    struct walk w = walk_start(t, b);
    for (uint32_t i; (i = walk_step(t, &w)) != WALK_END;) {
        if (i == WALK_CORRUPT)
            return check_fail(c, "bucket %u: chain has %s", b, w.bad);
        const struct table_entry *e = &t->entries[i];
        if (i >= c->hwm || c->seen[i])
            return check_fail(c, "bucket %u: entry %u above hwm or in two chains", b, i);
        if (!fields_ok(e) || bucket_of(t, e) != b)
            return check_fail(c, "bucket %u: entry %u invalid or in the wrong chain", b, i);
        if (e->id >= t->h->next_id)
            return check_fail(c, "entry %u: id %llu not below next id", i,
                              (unsigned long long)e->id);
        c->seen[i] = 1;
        c->chained++;
    }
    return 0;
}

static int check_free_list(struct check *c)
{
    uint32_t link = c->t->h->free_head;
    for (; link != TABLE_LINK_NONE; link = c->t->entries[link - 1].next) {
        uint32_t i = link - 1;
        if (link > c->hwm || c->seen[i])
            return check_fail(c, "free list: bad link %u, a cycle or a chained entry", link);
        if (load_u32(&c->t->entries[i].state) == TABLE_STATE_LIVE)
            return check_fail(c, "free list: entry %u is live", i);
        c->seen[i] = 2;
        c->freed++;
    }
    return 0;
}

/* Foreign readers skip a port whose count is 0: a count below the truth hides entries. */
static int check_summary(struct check *c)
{
    uint32_t *want = calloc(2 * TABLE_SUMMARY_PORTS, sizeof *want);
    if (!want)
        return check_fail(c, "out of memory");
    for (uint32_t i = 0; i < c->hwm; i++)
        if (c->seen[i] == 1)
            want[table_summary_slot(c->t->entries[i].proto, c->t->entries[i].addr.port)]++;
    int r = 0;
    for (uint32_t i = 0; i < 2 * TABLE_SUMMARY_PORTS && r == 0; i++)
        if (c->t->summary[i] != want[i])
            r = check_fail(c, "summary of %s port %u says %u, chains hold %u",
                           i < TABLE_SUMMARY_PORTS ? "tcp" : "udp", i % TABLE_SUMMARY_PORTS,
                           c->t->summary[i], want[i]);
    free(want);
    return r;
}

static int check_all(struct check *c)
{
    if (check_header(c))
        return -1;
    for (uint32_t b = 0; b <= c->t->mask; b++)
        if (check_chain(c, b))
            return -1;
    for (uint32_t i = 0; i < c->hwm; i++)
        if (load_u32(&c->t->entries[i].state) == TABLE_STATE_LIVE && c->seen[i] != 1)
            return check_fail(c, "entry %u is live but not in its chain", i);
    if (c->chained != c->t->h->count)
        return check_fail(c, "count says %u, chains hold %u", c->t->h->count, c->chained);
    if (check_free_list(c))
        return -1;
    if (c->chained + c->freed != c->hwm)
        return check_fail(c, "%u of %u used slots neither live nor free (leaked)",
                          c->hwm - c->chained - c->freed, c->hwm);
    return check_summary(c);
}

int table_check(struct table *t, char *why, size_t whylen)
{
    struct check c = { .t = t, .hwm = hwm_of(t), .why = why, .whylen = whylen };
    c.seen = calloc(t->capacity, 1);
    if (!c.seen)
        return check_fail(&c, "out of memory");
    int r = check_all(&c);
    free(c.seen);
    return r;
}
