/* test_stress - processes and threads churning binds on a few ports under the shim, some
 * SIGKILLed at random moments and some inside the table lock, while this process, which
 * does not load the shim, checks against the kernel that no two conflicting claims are
 * ever alive together.
 *
 * Time: BG_STRESS_SECONDS seconds of churn in each of the two modes (guard, emulate),
 * default 15, so the file takes about 40 s; BG_LONG=1 makes it 300 s per mode (give
 * meson room: `meson test --timeout-multiplier 3 test_stress`). What it
 * prints (binds, kills, recoveries after a death inside the lock, the longest bind) is
 * the run's own account.
 *
 * Workers (`test_stress --child worker SEED PORT...`, under the shim with a private
 * table) run WORKER_THREADS threads that mix exclusive binds (SO_EXCLUSIVEADDRUSE and the
 * default class), sharing binds, listen, shutdown of a listener, close, dup, fork (the
 * child keeps or closes what it inherited) and exec of tbind (sometimes handing it a
 * bound socket). Every TCP socket carries SO_REUSEADDR: while none listens, the kernel
 * alone would let them all bind one address, so only bindguard keeps claims apart (in
 * emulate mode, listening or not). Before each bind a worker writes the socket's inode
 * and claim to a pipe (fd 3); after it, the outcome and how long the call took; around
 * each close, when it started and ended.
 *
 * The checker lists each port's sockets twice in a row with sock_diag: two sockets in
 * both lists were alive together at the moment between the two. A little later, once
 * late claims (tbind's) are in, the pair is judged with the ws2003 same-user table, all
 * the workers can meet: with an exclusive side, any overlapping pair conflicts except an
 * exclusive specific address beside a non-exclusive wildcard. A conflicting pair alive
 * together is a violation, unless one side was inside close() then (bindguard lets go
 * of an entry just before the real close). At sampling time it notes who held both
 * sockets and whether the table had them, which is what the failure message shows.
 *
 * Kills: every STRIKE_EVERY_MS the killer watches the lock word and SIGKILLs the worker
 * that takes the lock; every few ms it stops a random worker's group for at most
 * STOP_MS, kills it if a thread is frozen holding the lock, now and then anyway, else
 * lets it go. Dead workers are replaced; the table's repair count tells how many died
 * inside the lock (test_faults' holder_killed_inside_the_lock does that for certain).
 *
 * At the end the workers go idle: a gc (from here, with the table API) must confirm
 * every remaining entry, every granted socket still open must have its entry, and once
 * all are killed the gc must leave zero entries in a table that passes table_check. Any
 * bindguard trouble in the log, a worker that died unasked, a silent worker thread, or a
 * bind or close slower than the lock bound plus MARGIN_MS fails the test.
 *
 * Deterministic companions: fork_while_binding / fork_after_binding, a fork in one
 * thread while another is inside bind() (made so by holding the table lock from here);
 * shut_down_listener_keeps_its_claim, the shutdown op on its own. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bindguard.h"
#include "harness.h"
#include "kernel.h"
#include "proc.h"
#include "own.h"
#include "table.h"

#define WORKERS         6
#define WORKER_THREADS  3
#define NPORTS          8
#define HELD_MAX        4       /* sockets a worker thread keeps at once */
#define PACE_US         2000    /* a worker thread naps up to this long between ops */
#define REPORT_FD       3
#define SLOTS           4096u
#define LOCK_MS         1000u   /* BINDGUARD_LOCK_TIMEOUT_MS */
#define MARGIN_MS       2000u   /* scheduling on a loaded 2-CPU VM, sanitizers */
#define TBIND_WAIT_MS   3000
#define PROBE_MS        8       /* mean gap between SIGSTOP probes */
#define RANDOM_KILL     12      /* 1 in this many probes kills even outside the lock */
#define STRIKE_WATCH_MS 20      /* how long a strike may watch for a lock holder */
#define STRIKE_EVERY_MS 250
#define STOP_MS         10      /* how long a probe keeps a group stopped, at most */
#define JUDGE_DELAY_MS  300     /* claims announced after the bind (tbind) get this long */
#define HANG_MS         8000    /* a worker thread silent this long is hung */
#define MAX_ON_PORT     64

/* ===== the worker side (under the shim) ================================================= */

static atomic_bool w_stop;
static int w_ports[NPORTS], w_nports;
static char w_tbind[512];

struct held {
    int fd;
    uint32_t inode;
    bool listening;
};

struct wthread {
    int idx;
    uint64_t rng;
    struct held held[HELD_MAX];
    int n;
};

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

static long long us_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* One record, one write: pipe writes below PIPE_BUF are never interleaved. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(REPORT_FD, buf, (size_t)n) < 0)
        _exit(3);  /* the test is gone */
}

static uint32_t inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* Every op ends with a record: the checker's heartbeat and its duration. */
static void op_done(struct wthread *t, char op, const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("O %d %d %c %lld\n", (int)getpid(), t->idx, op, us_between(t0, &t1));
}

/* What happened to a held socket, for the checker to tell when it judges: L listened,
 * S shut down, D duplicated, F inherited by a fork, P handed to tbind. */
static void history(struct wthread *t, const struct held *h, char what)
{
    report("H %d %d %u %c\n", (int)getpid(), t->idx, h->inode, what);
}

static void forget(struct wthread *t, int i)
{
    t->held[i] = t->held[--t->n];
}

static long long mono_us(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

/* bindguard drops the entry just before the real close: a bind racing the close may
 * then get in while the socket still exists, until close returns. Z and z bracket the
 * call, so the checker can tell that window from a socket that outlives its entry. */
static void close_held(struct wthread *t, int i)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    report("Z %d %d %u %lld\n", (int)getpid(), t->idx, t->held[i].inode, mono_us(&t0));
    close(t->held[i].fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("z %d %d %u %lld\n", (int)getpid(), t->idx, t->held[i].inode, mono_us(&t1));
    forget(t, i);
    op_done(t, 'c', &t0);
}

static const struct {
    const char *ip;
    int family, v6only;
    bool exclusive_only;  /* a non-exclusive [::] holds only IPv6 once bound: left out */
} addrs[] = {
    {"0.0.0.0", AF_INET, 0, false},   {"127.0.0.1", AF_INET, 0, false},
    {"127.0.0.2", AF_INET, 0, false}, {"::1", AF_INET6, 1, false},
    {"::", AF_INET6, 0, true},
};
#define N_ADDRS (sizeof addrs / sizeof addrs[0])

/* Class letters on the wire: x explicit exclusive, d exclusive by default, r sharing. */
static int claim_socket(bool tcp, char cls, size_t a)
{
    int one = 1, fd = socket(addrs[a].family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (addrs[a].family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &addrs[a].v6only, sizeof(int));
    if (tcp)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (cls == 'x')
        setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one);
    if (cls == 'r')
        setsockopt(fd, SOL_SOCKET, tcp ? SO_REUSEPORT : SO_REUSEADDR, &one, sizeof one);
    return fd;
}

static void op_bind(struct wthread *t)
{
    bool tcp = rnd(&t->rng) % 5 != 0;
    char cls = "xdr"[rnd(&t->rng) % 3];
    size_t a = rnd(&t->rng) % N_ADDRS;
    if (addrs[a].exclusive_only && cls == 'r')
        a = rnd(&t->rng) % (N_ADDRS - 1);
    int port = w_ports[rnd(&t->rng) % (unsigned)w_nports];
    int fd = claim_socket(tcp, cls, a);
    if (fd < 0)
        return;
    uint32_t ino = inode_of(fd);
    report("A %d %d %u %c %c %s %d\n", (int)getpid(), t->idx, ino, tcp ? 't' : 'u', cls,
           addrs[a].ip, port);
    struct sockaddr_storage ss;
    socklen_t len = proc_sockaddr(addrs[a].ip, port, &ss);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = bind(fd, (struct sockaddr *)&ss, len);
    int err = r == 0 ? 0 : errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report("B %d %d %u %d %lld\n", (int)getpid(), t->idx, ino, err, us_between(&t0, &t1));
    if (r != 0) {
        close(fd);
        return;
    }
    if (t->n == HELD_MAX)
        close_held(t, 0);
    bool listening = false;
    if (tcp && rnd(&t->rng) % 100 < 40) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        listening = listen(fd, 8) == 0;
        op_done(t, 'l', &t0);
    }
    t->held[t->n++] = (struct held){fd, ino, listening};
    if (listening)
        history(t, &t->held[t->n - 1], 'L');
}

/* A second descriptor of a held socket replaces the first, which is closed. */
static void op_dup(struct wthread *t)
{
    if (!t->n)
        return;
    int i = (int)(rnd(&t->rng) % (unsigned)t->n);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int d = rnd(&t->rng) % 2 ? fcntl(t->held[i].fd, F_DUPFD_CLOEXEC, 20) : dup(t->held[i].fd);
    if (d >= 0) {
        close(t->held[i].fd);
        t->held[i].fd = d;
        history(t, &t->held[i], 'D');
    }
    op_done(t, 'd', &t0);
}

/* A listener shut down stops listening; while other sockets share its port it stays
 * bound there, and still holds its claim. */
static void op_shutdown(struct wthread *t)
{
    for (int i = 0; i < t->n; i++) {
        if (!t->held[i].listening)
            continue;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        shutdown(t->held[i].fd, SHUT_RDWR);
        t->held[i].listening = false;
        history(t, &t->held[i], 'S');
        op_done(t, 's', &t0);
        return;
    }
}

/* The child keeps every socket it inherited for a moment, or closes them at once; the
 * parent sometimes lets one go meanwhile: the entry must stay while the child holds it. */
static void op_fork(struct wthread *t)
{
    bool keep = rnd(&t->rng) % 2;
    unsigned nap = rnd(&t->rng) % 20000;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!keep)
            for (int i = 0; i < t->n; i++)
                close(t->held[i].fd);
        usleep(nap);
        _exit(0);
    }
    op_done(t, 'f', &t0);
    for (int i = 0; c > 0 && i < t->n; i++)
        history(t, &t->held[i], 'F');
    if (c > 0 && t->n && rnd(&t->rng) % 2)
        close_held(t, (int)(rnd(&t->rng) % (unsigned)t->n));
}

/* tbind binds a socket of its own (exclusive); it may also inherit one of ours at fd 100.
 * Its socket is the lowest free descriptor there, 3, whose inode we then announce. */
static void op_exec(struct wthread *t)
{
    static const char *const ips[] = {"127.0.0.1", "0.0.0.0", "127.0.0.2"};
    const char *ip = ips[rnd(&t->rng) % 3];
    char port[16];
    snprintf(port, sizeof port, "%d", w_ports[rnd(&t->rng) % (unsigned)w_nports]);
    bool do_listen = rnd(&t->rng) % 2;
    int pi = t->n && rnd(&t->rng) % 2 ? (int)(rnd(&t->rng) % (unsigned)t->n) : -1;
    int pass = pi >= 0 ? t->held[pi].fd : -1;
    if (pi >= 0)
        history(t, &t->held[pi], 'P');
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (pass >= 0)
            dup2(pass, 100);
        const char *argv[] = {"tbind", "-a", ip, "-o", "reuseaddr,exclusive", "-P", port,
                              "-h", do_listen ? "-l" : NULL, NULL};
        execv(w_tbind, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char line[128] = "";
    struct pollfd p = {out[0], POLLIN, 0};
    ssize_t n = c > 0 && poll(&p, 1, TBIND_WAIT_MS) == 1 ? read(out[0], line, sizeof line - 1) : -1;
    line[n > 0 ? n : 0] = '\0';
    char link[64], target[64] = "";
    snprintf(link, sizeof link, "/proc/%d/fd/3", (int)c);
    ssize_t tl = readlink(link, target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = '\0';
    unsigned ino = 0;
    if (strncmp(line, "OK ", 3) == 0 && sscanf(target, "socket:[%u]", &ino) == 1) {
        report("A %d %d %u t x %s %s\n", (int)getpid(), t->idx, ino, ip, port);
        report("B %d %d %u 0 -1\n", (int)getpid(), t->idx, ino);
    }
    /* T: tbind's outcome, OK / ERR ... / silent (a hang or a crash). */
    report("T %d %d %.*s\n", (int)getpid(), t->idx, (int)strcspn(line, "\n"),
           line[0] ? line : "silent");
    usleep(rnd(&t->rng) % 10000);
    close(in[1]);
    close(out[0]);
    op_done(t, 'e', &t0);
}

static void *worker_thread(void *arg)
{
    struct wthread *t = arg;
    /* Its thread id, so the killer can tell its own from the lock word at once. */
    report("I %d %d %d\n", (int)getpid(), t->idx, (int)gettid());
    while (!atomic_load(&w_stop)) {
        unsigned op = rnd(&t->rng) % 100;
        if (op < 45)
            op_bind(t);
        else if (op < 62 && t->n)
            close_held(t, (int)(rnd(&t->rng) % (unsigned)t->n));
        else if (op < 70)
            op_dup(t);
        else if (op < 76)
            op_shutdown(t);
        else if (op < 84)
            op_fork(t);
        else if (op < 88)
            op_exec(t);
        /* Paced, not flat out: a saturated machine would measure its scheduler, not
         * bindguard, and the checker would see the ports too rarely. */
        usleep(rnd(&t->rng) % PACE_US);
    }
    return NULL;
}

/* worker SEED PORT...: threads churn until stdin closes, then say IDLE and keep what they
 * hold until killed. */
static int worker_main(int argc, char **argv)
{
    if (argc < 2 || fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) != 0)
        return 2;
    /* Forked children and tbinds are reaped by the kernel; nobody waits for them. */
    signal(SIGCHLD, SIG_IGN);
    uint64_t seed = strtoull(argv[0], NULL, 10);
    for (int i = 1; i < argc && w_nports < NPORTS; i++)
        w_ports[w_nports++] = atoi(argv[i]);
    const char *progs = getenv("BG_PROGS");
    snprintf(w_tbind, sizeof w_tbind, "%s/tbind", progs ? progs : ".");
    static struct wthread th[WORKER_THREADS];
    pthread_t tid[WORKER_THREADS];
    for (int i = 0; i < WORKER_THREADS; i++) {
        th[i] = (struct wthread){.idx = i, .rng = seed * 2654435761u + (uint64_t)i * 97 + 1};
        pthread_create(&tid[i], NULL, worker_thread, &th[i]);
    }
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
    atomic_store(&w_stop, true);
    for (int i = 0; i < WORKER_THREADS; i++)
        pthread_join(tid[i], NULL);
    printf("IDLE\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* ===== a fork racing a bind, deterministically ========================================= */

static int fb_fd;
static struct sockaddr_storage fb_addr;
static socklen_t fb_len;
static int fb_result;

static void *fb_bind(void *arg)
{
    (void)arg;
    fb_result = bind(fb_fd, (struct sockaddr *)&fb_addr, fb_len) == 0 ? 0 : errno;
    return NULL;
}

static void say_line(const char *s)
{
    printf("%s\n", s);
    fflush(stdout);
}

/* forkbind PORT AFTER: a thread binds a fresh socket (exclusive by default) to
 * 127.0.0.1:PORT; the main thread forks a child that keeps every descriptor as long as
 * its parent lives, either while the bind waits for the table lock the test holds
 * (AFTER 0) or once it is done (AFTER 1). Says FORKED, then BOUND <errno or 0>; on
 * "close" closes the socket and says CLOSED; ends with stdin. */
static int forkbind_main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int one = 1;
    bool after = atoi(argv[1]) != 0;
    fb_fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fb_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    fb_len = proc_sockaddr("127.0.0.1", atoi(argv[0]), &fb_addr);
    pthread_t t;
    pthread_create(&t, NULL, fb_bind, NULL);
    if (after)
        pthread_join(t, NULL);
    else
        usleep(300 * 1000);  /* long enough to be waiting on the lock inside bind */
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            pause();
    }
    say_line("FORKED");
    if (!after)
        pthread_join(t, NULL);
    char line[64];
    snprintf(line, sizeof line, "BOUND %d", fb_result);
    say_line(line);
    if (fgets(line, sizeof line, stdin) && strncmp(line, "close", 5) == 0) {
        close(fb_fd);
        say_line("CLOSED");
    }
    while (fgets(line, sizeof line, stdin))
        ;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}

/* shutdown PORT: a listener on 127.0.0.1:PORT beside a socket on 127.0.0.2:PORT, shut
 * down; says SHUT and keeps both until stdin closes. */
static int shutdown_main(int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int one = 1, port = atoi(argv[0]), fds[2];
    const char *ips[] = {"127.0.0.2", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        struct sockaddr_storage ss;
        socklen_t len = proc_sockaddr(ips[i], port, &ss);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fds[i], (struct sockaddr *)&ss, len) != 0)
            return 3;
    }
    if (listen(fds[1], 8) != 0 || shutdown(fds[1], SHUT_RDWR) != 0)
        return 4;
    say_line("SHUT");
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
    return 0;
}

/* ===== what the workers claimed (test side) ============================================= */

struct caddr {
    uint8_t family;
    bool wild, dual;
    uint8_t ip[16];
};

struct claim {
    uint32_t inode;
    int32_t next;          /* chain in the hash, or the free list */
    int pid;
    char proto, cls;       /* 't'/'u'; 'x', 'd', 'r' */
    uint16_t port;
    struct caddr a;
    int64_t ms;            /* announced, or last seen by the kernel */
    int64_t born;          /* announced */
    long long close_from, close_to;  /* its close() call, CLOCK_MONOTONIC us; 0: none yet */
    char hist[8];          /* history() letters, in order, clipped */
};

#define HASH_BITS 16
static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static int32_t heads[1 << HASH_BITS];
static struct claim *pool;
static int32_t pool_used, pool_cap, pool_free;

static void claims_reset(void)
{
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        heads[i] = -1;
    free(pool);
    pool = NULL;
    pool_used = pool_cap = 0;
    pool_free = -1;
}

static int32_t *chain_of(uint32_t inode)
{
    return &heads[(inode * 2654435761u) >> (32 - HASH_BITS)];
}

/* The link that points at inode's claim (its chain's end if none); claims_lock held. */
static int32_t *link_to(uint32_t inode)
{
    int32_t *at = chain_of(inode);
    while (*at >= 0 && pool[*at].inode != inode)
        at = &pool[*at].next;
    return at;
}

static void claim_put(const struct claim *c)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(c->inode);
    if (*at < 0) {
        int32_t i = pool_free;
        if (i >= 0) {
            pool_free = pool[i].next;
        } else {
            if (pool_used == pool_cap) {
                pool_cap = pool_cap ? pool_cap * 2 : 65536;
                pool = realloc(pool, (size_t)pool_cap * sizeof *pool);
                if (!pool)
                    abort();
                at = link_to(c->inode);  /* the pool moved */
            }
            i = pool_used++;
        }
        pool[i] = *c;
        pool[i].next = -1;
        *at = i;
    } else {
        int32_t next = pool[*at].next;
        pool[*at] = *c;
        pool[*at].next = next;
    }
    pthread_mutex_unlock(&claims_lock);
}

static void unlink_claim(int32_t *at)
{
    int32_t i = *at;
    *at = pool[i].next;
    pool[i].next = pool_free;
    pool_free = i;
}

static void claim_closing(uint32_t inode, bool done, long long us)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    if (*at >= 0)
        *(done ? &pool[*at].close_to : &pool[*at].close_from) = us;
    pthread_mutex_unlock(&claims_lock);
}

static void claim_history(uint32_t inode, char what)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    size_t n = *at >= 0 ? strlen(pool[*at].hist) : sizeof pool[0].hist;
    if (n < sizeof pool[0].hist - 1)
        pool[*at].hist[n] = what;
    pthread_mutex_unlock(&claims_lock);
}

/* A refused or failed bind claims nothing. */
static void claim_drop(uint32_t inode)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    if (*at >= 0)
        unlink_claim(at);
    pthread_mutex_unlock(&claims_lock);
}

static bool claim_get(uint32_t inode, struct claim *out, int64_t seen_ms)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    bool found = *at >= 0;
    if (found) {
        pool[*at].ms = seen_ms;
        *out = pool[*at];
    }
    pthread_mutex_unlock(&claims_lock);
    return found;
}

/* Claims neither announced nor seen alive for a while belong to closed sockets. */
static void claims_prune(int64_t older_than)
{
    pthread_mutex_lock(&claims_lock);
    for (size_t b = 0; b < sizeof heads / sizeof heads[0]; b++)
        for (int32_t *at = &heads[b]; *at >= 0;)
            if (pool[*at].ms < older_than)
                unlink_claim(at);
            else
                at = &pool[*at].next;
    pthread_mutex_unlock(&claims_lock);
}

static bool parse_caddr(const char *ip, struct caddr *a)
{
    memset(a, 0, sizeof *a);
    if (strchr(ip, ':')) {
        a->family = AF_INET6;
        if (inet_pton(AF_INET6, ip, a->ip) != 1)
            return false;
        a->wild = a->dual = strcmp(ip, "::") == 0;  /* only exclusive claims use [::] */
        return true;
    }
    a->family = AF_INET;
    a->wild = strcmp(ip, "0.0.0.0") == 0;
    return inet_pton(AF_INET, ip, a->ip) == 1;
}

static bool overlap(const struct caddr *a, const struct caddr *b)
{
    if (a->dual || b->dual)
        return true;
    if (a->family != b->family)
        return false;
    return a->wild || b->wild || memcmp(a->ip, b->ip, 16) == 0;
}

/* ws2003 same-user: with an exclusive side, every overlapping pair conflicts except an
 * exclusive specific address beside a non-exclusive wildcard (either order). */
static bool conflict(const struct claim *a, const struct claim *b)
{
    bool ax = a->cls != 'r', bx = b->cls != 'r';
    if (a->proto != b->proto || a->port != b->port || (!ax && !bx) || !overlap(&a->a, &b->a))
        return false;
    if (ax && !bx && !a->a.wild && b->a.wild)
        return false;
    if (bx && !ax && !b->a.wild && a->a.wild)
        return false;
    return true;
}

/* ===== reading the workers' records ===================================================== */

struct wstat {
    pid_t pid;
    int64_t last_ms[WORKER_THREADS];
};

static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct wstat w[64];
    long long max_bind_us, max_close_us, max_other_us;
    long binds, bound, refused, failed, slow_binds, ops, tbind_ok, tbind_refused, tbind_odd;
    char odd[256];
} st;

/* Worker threads' ids, newest over oldest: which group a lock owner belongs to, without
 * reading /proc while the owner runs on. */
#define TIDS 256
static struct { _Atomic int tid, pid; } tids[TIDS];
static atomic_uint tids_next;

static pid_t group_of_tid(pid_t tid)
{
    for (unsigned i = 0; i < TIDS; i++)
        if (atomic_load(&tids[i].tid) == tid)
            return atomic_load(&tids[i].pid);
    return 0;
}

static int report_r = -1, report_w = -1;
static atomic_bool reader_stop;
static pthread_t reader_thread;
static bool reader_running;

static void heartbeat(int pid, int idx, int64_t now)
{
    if (idx < 0 || idx >= WORKER_THREADS)
        return;
    struct wstat *free_slot = NULL;
    for (size_t i = 0; i < 64; i++) {
        if (st.w[i].pid == pid) {
            st.w[i].last_ms[idx] = now;
            return;
        }
        if (!st.w[i].pid && !free_slot)
            free_slot = &st.w[i];
    }
    if (free_slot) {
        free_slot->pid = pid;
        free_slot->last_ms[idx] = now;
    }
}

static void take_record(const char *line, int64_t now)
{
    int pid, idx, err, tid;
    unsigned ino, port;
    long long us;
    char proto, cls, op, ip[64], rest[128];
    if (sscanf(line, "A %d %d %u %c %c %63s %u", &pid, &idx, &ino, &proto, &cls, ip, &port) == 7) {
        struct claim c = {.inode = ino, .pid = pid, .proto = proto, .cls = cls,
                          .port = (uint16_t)port, .ms = now, .born = now};
        if (parse_caddr(ip, &c.a))
            claim_put(&c);
    } else if (sscanf(line, "B %d %d %u %d %lld", &pid, &idx, &ino, &err, &us) == 5) {
        if (err)
            claim_drop(ino);
        pthread_mutex_lock(&st_lock);
        st.binds++;
        st.bound += err == 0;
        st.refused += err == EADDRINUSE || err == EACCES;
        st.failed += err && err != EADDRINUSE && err != EACCES;
        if (us > st.max_bind_us)
            st.max_bind_us = us;
        st.slow_binds += us > 100000;
        heartbeat(pid, idx, now);
        pthread_mutex_unlock(&st_lock);
    } else if (sscanf(line, "O %d %d %c %lld", &pid, &idx, &op, &us) == 4) {
        pthread_mutex_lock(&st_lock);
        st.ops++;
        /* exec waits for tbind, fork for nothing bindguard locks: not lock-bound */
        long long *max = op == 'c' ? &st.max_close_us : op == 'e' || op == 'f' ? NULL
                                                                               : &st.max_other_us;
        if (max && us > *max)
            *max = us;
        heartbeat(pid, idx, now);
        pthread_mutex_unlock(&st_lock);
    } else if (sscanf(line, "%c %d %d %u %lld", &op, &pid, &idx, &ino, &us) == 5 &&
               (op == 'Z' || op == 'z')) {
        claim_closing(ino, op == 'z', us);
    } else if (sscanf(line, "I %d %d %d", &pid, &idx, &tid) == 3) {
        unsigned at = atomic_fetch_add(&tids_next, 1) % TIDS;
        atomic_store(&tids[at].pid, pid);
        atomic_store(&tids[at].tid, tid);
    } else if (sscanf(line, "H %d %d %u %c", &pid, &idx, &ino, &op) == 4) {
        claim_history(ino, op);
    } else if (sscanf(line, "T %d %d %127[^\n]", &pid, &idx, rest) == 3) {
        pthread_mutex_lock(&st_lock);
        if (strncmp(rest, "OK ", 3) == 0)
            st.tbind_ok++;
        else if (!strcmp(rest, "ERR EADDRINUSE bind") || !strcmp(rest, "ERR EACCES bind") ||
                 !strcmp(rest, "ERR EADDRINUSE listen"))
            st.tbind_refused++;
        else if (st.tbind_odd++ == 0)
            snprintf(st.odd, sizeof st.odd, "tbind said: %s", rest);
        pthread_mutex_unlock(&st_lock);
    }
}

static void *reader(void *arg)
{
    (void)arg;
    static char buf[1 << 16];
    size_t len = 0;
    while (!atomic_load(&reader_stop)) {
        struct pollfd p = {report_r, POLLIN, 0};
        if (poll(&p, 1, 50) != 1)
            continue;
        ssize_t n = read(report_r, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            continue;
        len += (size_t)n;
        buf[len] = '\0';
        int64_t now = proc_now_ms();
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            take_record(line, now);
            line = nl + 1;
        }
        len = (size_t)(buf + len - line);
        memmove(buf, line, len);
    }
    return NULL;
}

/* ===== the checker ====================================================================== */

struct pending {
    int64_t due;
    long long at;          /* between the two listings (CLOCK_MONOTONIC us) */
    uint8_t proto;
    uint16_t port;
    int n;
    uint32_t inode[MAX_ON_PORT];
    uint8_t state[MAX_ON_PORT];   /* TCP_* as sock_diag said */
    char note[700];        /* a conflict as seen at sampling time, who held what */
};

#define PENDING 1024
static struct pending pend[PENDING];
static unsigned pend_head, pend_tail;

static struct {
    long rounds, pairs, sightings, crowded, in_close;
    long violations;
    char first[4][700];
} chk;

static int describe(char *buf, size_t len, const struct claim *a, const struct claim *b)
{
    char ia[64], ib[64];
    inet_ntop(a->a.family, a->a.ip, ia, sizeof ia);
    inet_ntop(b->a.family, b->a.ip, ib, sizeof ib);
    int64_t now = proc_now_ms();
    return snprintf(buf, len, "%s port %u: inode %u (pid %d, class %c, %s, %s, %lld ms old) and "
             "inode %u (pid %d, class %c, %s, %s, %lld ms old) alive together",
             a->proto == 't' ? "tcp" : "udp", a->port, a->inode, a->pid, a->cls, ia, a->hist,
             (long long)(now - a->born), b->inode, b->pid, b->cls, ib, b->hist,
             (long long)(now - b->born));
}

static struct table *table;

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    char state;
    int ppid;
    return paren && sscanf(paren + 1, " %c %d", &state, &ppid) == 2 ? ppid : 0;
}

/* Who holds socket:[inode] now, as "pid(parent pid)/fdN ..." in buf; the number of
 * holders, the first max of them in pids. */
static int holders_of(uint32_t inode, char *buf, size_t len, int *pids, int max)
{
    char want[32];
    snprintf(want, sizeof want, "socket:[%u]", inode);
    size_t n = 0;
    int found = 0;
    buf[0] = '\0';
    DIR *proc = opendir("/proc");
    for (struct dirent *d; proc && (d = readdir(proc));) {
        int pid = atoi(d->d_name);
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
        DIR *fds = pid > 0 ? opendir(dir) : NULL;
        for (struct dirent *f; fds && (f = readdir(fds));) {
            char path[320], target[64];
            snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
            ssize_t tl = readlink(path, target, sizeof target - 1);
            if (tl <= 0 || (target[tl] = '\0', strcmp(target, want) != 0))
                continue;
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%d(parent %d)/fd%s ", pid,
                                  (int)parent_of(pid), f->d_name);
            if (found < max)
                pids[found] = pid;
            found++;
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return found;
}

static bool has_entry(struct table_entry *e, uint32_t idx, void *arg)
{
    (void)idx;
    uint32_t *want = arg;
    if (e->inode == *want)
        *want = 0;
    return *want != 0;
}

static bool in_table(uint32_t inode)
{
    uint32_t want = inode;
    if (table_lock(table, 500) != 0)
        return true;
    table_each(table, has_entry, &want);
    table_unlock(table);
    return want == 0;
}

/* "held by pid(parent pid)/fd..., with(out) entry, state N", and a flag when only
 * children of the worker that bound it hold it while it has no entry: its entry went
 * with the parent's close though a forked child kept the socket. */
static size_t note_side(char *buf, size_t len, const struct claim *c, uint8_t state,
                        bool *orphaned)
{
    char held[200];
    int pids[8];
    int n = holders_of(c->inode, held, sizeof held, pids, 8);
    bool entry = in_table(c->inode), by_children = n > 0;
    for (int i = 0; i < n && i < 8; i++)
        by_children &= parent_of(pids[i]) == c->pid;
    *orphaned |= !entry && by_children;
    return (size_t)snprintf(buf, len, "inode %u held by [%s] %s entry, state %u", c->inode,
                            held, entry ? "with" : "without", state);
}

static void note_conflict(char *note, size_t len, const struct claim *a, uint8_t sa,
                          const struct claim *b, uint8_t sb)
{
    bool orphaned = false;
    size_t n = (size_t)describe(note, len, a, b);
    n += n < len ? (size_t)snprintf(note + n, len - n, "; then ") : 0;
    n += n < len ? note_side(note + n, len - n, a, sa, &orphaned) : 0;
    n += n < len ? (size_t)snprintf(note + n, len - n, "; ") : 0;
    n += n < len ? note_side(note + n, len - n, b, sb, &orphaned) : 0;
    if (orphaned && n < len)
        snprintf(note + n, len - n, " [entry lost while a forked child holds the socket: "
                 "see fork_while_binding]");
}

/* Was the claim's socket inside close() at `at`? Then bindguard had let go of it
 * already (see close_held), and a newcomer beside it is no violation. */
static bool closing(const struct claim *c, long long at)
{
    return c->close_from && c->close_from <= at && (!c->close_to || c->close_to >= at);
}

/* First pass (final false), at sampling time: note a conflict with who holds what while
 * the sockets still exist. Final pass, once late claims and close records are in: count
 * it, unless a side was being closed. */
static void judge(struct pending *p, int64_t now, bool final)
{
    struct claim c[MAX_ON_PORT];
    uint8_t state[MAX_ON_PORT];
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        /* A socket on the port that no worker announced is not ours to judge; one whose
         * claim names another port or protocol listened after a refusal (ephemeral). */
        state[n] = p->state[i];
        if (claim_get(p->inode[i], &c[n], now) && c[n].port == p->port &&
            c[n].proto == (p->proto == IPPROTO_TCP ? 't' : 'u'))
            n++;
    }
    if (final)
        chk.sightings += n;
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            chk.pairs += final;
            if (!conflict(&c[i], &c[j]))
                continue;
            if (!final) {
                if (!p->note[0])
                    note_conflict(p->note, sizeof p->note, &c[i], state[i], &c[j], state[j]);
                continue;
            }
            if (closing(&c[i], p->at) || closing(&c[j], p->at)) {
                chk.in_close++;
                continue;
            }
            if (chk.violations < 4) {
                char *d = chk.first[chk.violations];
                describe(d, sizeof chk.first[0], &c[i], &c[j]);
                if (p->note[0])
                    snprintf(d, sizeof chk.first[0], "%s", p->note);
            }
            chk.violations++;
        }
    }
}

static void judge_due(int64_t now, bool all)
{
    while (pend_tail != pend_head && (all || pend[pend_tail % PENDING].due <= now))
        judge(&pend[pend_tail++ % PENDING], now, true);
}

static int list_port(uint8_t proto, uint16_t port, uint32_t *inodes, uint8_t *states, int max)
{
    struct kernel_sock ks[MAX_ON_PORT * 2];
    int n = kernel_port_sockets(proto, port, ks, MAX_ON_PORT * 2);
    int out = 0;
    for (int i = 0; i < n && i < MAX_ON_PORT * 2 && out < max; i++) {
        /* TIME_WAIT has no inode; one listing can name a socket twice. */
        bool dup = !ks[i].inode || ks[i].local.port != port;
        for (int j = 0; j < out && !dup; j++)
            dup = inodes[j] == ks[i].inode;
        if (!dup) {
            if (states)
                states[out] = ks[i].state;
            inodes[out++] = ks[i].inode;
        }
    }
    return n < 0 ? n : out;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mono_us(&ts);
}

/* Two listings back to back; what is in both was alive between them. */
static void sample(uint8_t proto, uint16_t port, int64_t now)
{
    uint32_t a[MAX_ON_PORT], b[MAX_ON_PORT];
    uint8_t states[MAX_ON_PORT];
    int na = list_port(proto, port, a, NULL, MAX_ON_PORT);
    long long at = now_us();
    int nb = list_port(proto, port, b, states, MAX_ON_PORT);
    ck_assert_msg(na >= 0 && nb >= 0, "sock_diag: %s", strerror(-(na < 0 ? na : nb)));
    if (na == MAX_ON_PORT || nb == MAX_ON_PORT)
        chk.crowded++;
    if (pend_head - pend_tail == PENDING)
        judge(&pend[pend_tail++ % PENDING], now, true);
    struct pending *p = &pend[pend_head++ % PENDING];
    p->due = now + JUDGE_DELAY_MS;
    p->at = at;
    p->proto = proto;
    p->port = port;
    p->n = 0;
    p->note[0] = '\0';
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < na; j++)
            if (b[i] == a[j]) {
                p->state[p->n] = states[i];
                p->inode[p->n++] = b[i];
                break;
            }
    judge(p, now, false);
}

/* ===== workers and the killer =========================================================== */

struct worker {
    struct proc *p;
    int64_t started;
};

#define KILLED_BY_US (-2)  /* proc.status of a worker the killer took: not a crash */

static struct worker workers[WORKERS];
static int ports[NPORTS];
static char table_name[128], log_path[256];
static uint64_t rng_main;
static const char *mode_env;

static struct {
    long spawned, probes, strikes, kills, kills_holding, died_unasked, checker_lock_fail;
    long table_checks, max_entries;
    char died[512];
} kl;

static void worker_setup(void *arg)
{
    (void)arg;
    dup2(report_w, REPORT_FD);
    fcntl(REPORT_FD, F_SETFD, 0);
    setpriority(PRIO_PROCESS, 0, 0);  /* not the checker's boost */
}

static void spawn_worker(struct worker *w)
{
    char seed[32], pstr[NPORTS][16], lock[64];
    snprintf(seed, sizeof seed, "%u", rnd(&rng_main));
    snprintf(lock, sizeof lock, "BINDGUARD_LOCK_TIMEOUT_MS=%u", LOCK_MS);
    const char *argv[4 + NPORTS + 1] = {"self", "--child", "worker", seed};
    for (int i = 0; i < NPORTS; i++) {
        snprintf(pstr[i], sizeof pstr[i], "%d", ports[i]);
        argv[4 + i] = pstr[i];
    }
    argv[4 + NPORTS] = NULL;
    struct proc_how how = {.shim = true, .table = table_name, .log = log_path, .slots = SLOTS,
                           .env = {lock, mode_env}, .pre_exec = worker_setup};
    w->p = proc_spawn(&how, argv);
    w->started = proc_now_ms();
    kl.spawned++;
}

/* A worker that exited without being killed crashed, or bindguard broke it. */
static void replace_dead(void)
{
    for (int i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        if (proc_alive(w->p))
            continue;
        bool ours = w->p->status == KILLED_BY_US;
        proc_finish(w->p, 1000);  /* takes in what it said on stderr */
        if (!ours && kl.died_unasked++ == 0)
            snprintf(kl.died, sizeof kl.died, "worker %d exited with %d: %.400s",
                     (int)w->p->pid, w->p->status, w->p->ebuf);
        spawn_worker(w);
    }
}

static void kill_worker(struct worker *w)
{
    proc_kill(w->p);
    w->p->status = KILLED_BY_US;
    kl.kills++;
}

/* The thread holding the table lock now (0: free): the lock word holds its id. */
static pid_t lock_owner(void)
{
    return (pid_t)(__atomic_load_n(&table_header(table)->lock.__data.__lock, __ATOMIC_ACQUIRE) &
                   0x3fffffff);
}

/* A thread's process group (0 if gone) and scheduling state letter. */
static pid_t thread_stat(pid_t tid, char *state)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    int ppid, pgrp;
    return paren && sscanf(paren + 1, " %c %d %d", state, &ppid, &pgrp) == 3 ? pgrp : 0;
}

static struct worker *worker_of_group(pid_t pgrp)
{
    for (int i = 0; pgrp && i < WORKERS; i++)
        if (!workers[i].p->done && workers[i].p->pid == pgrp)
            return &workers[i];
    return NULL;
}

/* Critical sections last microseconds, so a random moment rarely falls inside one:
 * watch the lock word for a while and go for whoever takes it. */
static struct worker *lock_taker(void)
{
    int64_t until = proc_now_ms() + STRIKE_WATCH_MS;
    do {
        pid_t owner = lock_owner();
        struct worker *w = owner ? worker_of_group(group_of_tid(owner)) : NULL;
        if (w)
            return w;
    } while (proc_now_ms() < until);
    return NULL;
}

/* Is thread `tid` of group `group` stopped while it owns the lock? Waits up to ms for
 * it to stop (a running thread stops at once; a preempted one when next scheduled, still
 * before it can unlock: unlocking is user code, after the system call it is in). */
static bool frozen_holding(pid_t group, unsigned ms)
{
    int64_t until = proc_now_ms() + ms;
    do {
        char state;
        pid_t owner = lock_owner();
        if (!owner || thread_stat(owner, &state) != group)
            return false;
        if (state == 'T' || state == 't')
            return true;
    } while (proc_now_ms() < until);
    return false;
}

/* Kills inside the critical section: a worker seen taking the lock is SIGKILLed at once.
 * Most such kills land while it still holds the lock (the table's repair count says how
 * many); the rest are random kills too. */
static void strike(void)
{
    struct worker *w = lock_taker();
    if (w) {
        kill_worker(w);
        kl.strikes++;
    }
}

/* Kills at random moments: a random worker is stopped for at most STOP_MS, killed if it
 * happens to be frozen holding the lock, now and then killed anyway, else let go. */
static void probe(void)
{
    struct worker *w = &workers[rnd(&rng_main) % WORKERS];
    if (!proc_alive(w->p))
        return;
    kl.probes++;
    kill(-w->p->pid, SIGSTOP);
    if (frozen_holding(w->p->pid, STOP_MS)) {
        kill_worker(w);
        kl.kills_holding++;
    } else if (rnd(&rng_main) % RANDOM_KILL == 0) {
        kill_worker(w);
    } else {
        /* Twice: a child forked just as the stop came can join it and miss the first
         * continue (seen with gdb: stuck in do_signal_stop from ret_from_fork), and a
         * stopped tbind would go silent. */
        kill(-w->p->pid, SIGCONT);
        usleep(2000);
        kill(-w->p->pid, SIGCONT);
    }
}

static void check_table(void)
{
    char why[256];
    if (table_lock(table, 500) != 0) {
        kl.checker_lock_fail++;
        return;
    }
    int r = table_check(table, why, sizeof why);
    long n = (long)table_count(table);
    table_unlock(table);
    ck_assert_msg(r == 0, "table_check during the run: %s", why);
    kl.table_checks++;
    if (n > kl.max_entries)
        kl.max_entries = n;
}

static void check_hangs(int64_t now)
{
    pthread_mutex_lock(&st_lock);
    for (int i = 0; i < WORKERS; i++) {
        struct worker *w = &workers[i];
        if (w->p->done || now - w->started < HANG_MS)
            continue;
        struct wstat *s = NULL;
        for (size_t j = 0; j < 64; j++)
            if (st.w[j].pid == w->p->pid)
                s = &st.w[j];
        for (int t = 0; t < WORKER_THREADS; t++) {
            int64_t last = s ? s->last_ms[t] : 0;
            long long silent = (long long)(now - (last ? last : w->started));
            ck_assert_msg(last && silent < HANG_MS, "worker %d thread %d silent for %lld ms",
                          (int)w->p->pid, t, silent);
        }
    }
    /* Forget the dead, or the 64 slots fill up. */
    for (size_t j = 0; j < 64; j++) {
        bool live = false;
        for (int i = 0; i < WORKERS; i++)
            live |= !workers[i].p->done && workers[i].p->pid == st.w[j].pid;
        if (!live)
            st.w[j].pid = 0;
    }
    pthread_mutex_unlock(&st_lock);
}

/* ===== the run ========================================================================= */

static unsigned run_seconds(void)
{
    const char *s = getenv("BG_STRESS_SECONDS"), *l = getenv("BG_LONG");
    if (s && atoi(s) > 0)
        return (unsigned)atoi(s);
    return l && strcmp(l, "1") == 0 ? 300 : 15;
}

/* Also after a failed test under CK_FORK=no, where nothing else would stop it. */
static void stop_reader(void)
{
    atomic_store(&reader_stop, true);
    if (reader_running)
        pthread_join(reader_thread, NULL);
    reader_running = false;
}

static void setup(void)
{
    stop_reader();
    proc_table_name(table_name, sizeof table_name);
    proc_log_path(log_path, sizeof log_path);
    claims_reset();
    memset(&chk, 0, sizeof chk);
    memset(&kl, 0, sizeof kl);
    memset(&st, 0, sizeof st);
    for (unsigned i = 0; i < TIDS; i++)
        atomic_store(&tids[i].tid, 0);
    pend_head = pend_tail = 0;
    rng_main = (uint64_t)proc_now_ms() * 6364136223846793005u + (uint64_t)getpid();
}

static void teardown(void)
{
    stop_reader();
    proc_kill_all();
    harness_table_remove(table_name);
    unlink(log_path);
}

static void start(void)
{
    char why[256];
    proc_free_ports(ports, NPORTS);
    /* Made here, so its capacity is ours and its mapping is the killer's window into
     * the lock. */
    table = own_open(table_name, SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(table, "%s", why);
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    report_r = fds[0];
    report_w = fds[1];
    fcntl(report_w, F_SETPIPE_SZ, 1 << 20);
    atomic_store(&reader_stop, false);
    for (int i = 0; i < WORKERS; i++)
        spawn_worker(&workers[i]);
}

static void churn(unsigned seconds)
{
    int64_t now = proc_now_ms(), end = now + (int64_t)seconds * 1000;
    int64_t next_probe = now, next_strike = now, next_table = now, next_prune = now + 5000;
    while ((now = proc_now_ms()) < end) {
        for (int i = 0; i < NPORTS; i++) {
            for (int proto = 0; proto < 2; proto++) {
                sample(proto ? IPPROTO_UDP : IPPROTO_TCP, (uint16_t)ports[i], proc_now_ms());
                if ((now = proc_now_ms()) >= next_probe) {
                    probe();
                    next_probe = now + 1 + rnd(&rng_main) % (2 * PROBE_MS);
                }
                if (now >= next_strike) {
                    strike();
                    next_strike = now + STRIKE_EVERY_MS;
                }
                replace_dead();
            }
        }
        chk.rounds++;
        judge_due(now, false);
        if (now >= next_table) {
            check_table();
            next_table = now + 250;
        }
        if (now >= next_prune) {
            claims_prune(now - 10000);
            next_prune = now + 2000;
        }
        check_hangs(now);
    }
}

/* Workers stop churning and keep what they hold; every one must say so in time. */
static void quiesce(void)
{
    for (int i = 0; i < WORKERS; i++) {
        close(workers[i].p->in);
        workers[i].p->in = -1;
    }
    for (int i = 0; i < WORKERS; i++) {
        const char *line = proc_line(workers[i].p, LOCK_MS * 4 + TBIND_WAIT_MS);
        ck_assert_msg(line && strcmp(line, "IDLE") == 0, "worker %d did not go idle (%s): %s",
                      (int)workers[i].p->pid, proc_alive(workers[i].p) ? "hung" : "died",
                      workers[i].p->ebuf);
    }
    usleep(300 * 1000);  /* forked children nap at most 20 ms; the reader polls every 50 */
    judge_due(0, true);
}

/* Every granted socket the idle workers still hold is in the table: none lost its entry
 * while it lived. */
static long unprotected_sockets(char *example, size_t len)
{
    long missing = 0;
    for (int i = 0; i < NPORTS; i++) {
        for (int proto = 0; proto < 2; proto++) {
            uint32_t ino[MAX_ON_PORT];
            uint8_t pr = proto ? IPPROTO_UDP : IPPROTO_TCP;
            int n = list_port(pr, (uint16_t)ports[i], ino, NULL, MAX_ON_PORT);
            for (int j = 0; j < n; j++) {
                struct claim c;
                if (!claim_get(ino[j], &c, proc_now_ms()) || c.port != ports[i] ||
                    c.proto != (proto ? 'u' : 't'))
                    continue;
                if (!in_table(ino[j]) && missing++ == 0)
                    snprintf(example, len, "inode %u (pid %d, class %c) on %s port %d",
                             ino[j], c.pid, c.cls, proto ? "udp" : "tcp", ports[i]);
            }
        }
    }
    return missing;
}

/* The log from its first line that is not a refusal. */
static const char *first_trouble(const char *log)
{
    for (const char *line = log; *line;) {
        size_t len = strcspn(line, "\n");
        if (!memmem(line, len, "refused (", 9))
            return line;
        line += len + (line[len] != '\0');
    }
    return "";
}

static void stress(const char *mode, const char *env)
{
    mode_env = env;
    unsigned seconds = run_seconds();
    /* A sock_diag listing that walks the bind hash is CPU-bound in the kernel: on a busy
     * machine the checker would see each port a few times a run. Root can boost it. */
    setpriority(PRIO_PROCESS, 0, -5);
    start();
    ck_assert_int_eq(pthread_create(&reader_thread, NULL, reader, NULL), 0);
    reader_running = true;
    int64_t t0 = proc_now_ms();
    churn(seconds);
    quiesce();

    char why[256], example[256] = "";
    struct proc_gc idle, dead;
    ck_assert_msg(proc_gc(table_name, &idle, why, sizeof why), "gc with idle workers: %s", why);
    long missing = unprotected_sockets(example, sizeof example);
    for (int i = 0; i < WORKERS; i++)
        proc_kill(workers[i].p);
    usleep(100 * 1000);
    ck_assert_msg(proc_gc(table_name, &dead, why, sizeof why), "gc after the end: %s", why);
    stop_reader();

    char *log = proc_slurp(log_path);
    int trouble = proc_trouble_lines(log);
    printf("stress %s: %u s, %ld workers started, %ld binds (%ld bound, %ld refused, %ld other "
           "errors), %ld other ops; tbind %ld ok / %ld refused / %ld odd\n", mode,
           (unsigned)((proc_now_ms() - t0) / 1000), kl.spawned, st.binds, st.bound, st.refused,
           st.failed, st.ops, st.tbind_ok, st.tbind_refused, st.tbind_odd);
    printf("stress %s: %ld kills: %ld strikes at a lock taker, %ld frozen holding it, the "
           "rest at random (%ld probes); %u recoveries after a death inside the lock; max %ld "
           "entries; %ld table checks\n", mode, kl.kills, kl.strikes, kl.kills_holding,
           kl.probes, dead.repairs, kl.max_entries, kl.table_checks);
    printf("stress %s: longest bind %.1f ms (%ld over 100 ms), close %.1f ms, "
           "listen/dup/shutdown %.1f ms (lock bound %u ms)\n", mode,
           (double)st.max_bind_us / 1000, st.slow_binds, (double)st.max_close_us / 1000,
           (double)st.max_other_us / 1000, LOCK_MS);
    printf("stress %s: %ld check rounds, %ld sightings, %ld pairs judged, %ld crowded ports; "
           "%ld conflicts inside a close; gc idle: %u kept, %u reaped, %u unknown; gc after: "
           "%u reaped, %u left\n", mode, chk.rounds, chk.sightings, chk.pairs, chk.crowded,
           chk.in_close, idle.kept, idle.reaped,
           idle.unknown, dead.reaped, dead.left);
    if (trouble)
        printf("stress %s: bindguard trouble:\n%.1500s\n", mode, first_trouble(log));
    fflush(stdout);  /* a failed check ends this process at once */

    ck_assert_msg(chk.violations == 0, "%ld conflicting claims alive together, e.g.\n%s\n%s\n"
                  "(a side held by [] without entry was last held by a process that has "
                  "exited since, typically a forked child: see fork_while_binding)",
                  chk.violations, chk.first[0], chk.violations > 1 ? chk.first[1] : "");
    ck_assert_msg(kl.died_unasked == 0, "%ld worker(s) died unasked: %s", kl.died_unasked,
                  kl.died);
    ck_assert_msg(trouble == 0, "bindguard logged %d line(s) of trouble, e.g.:\n%.1500s",
                  trouble, first_trouble(log));
    ck_assert_msg(st.tbind_odd == 0, "%ld odd tbind outcomes, e.g. %s", st.tbind_odd, st.odd);
    ck_assert_msg(st.max_bind_us < (LOCK_MS + MARGIN_MS) * 1000LL &&
                  st.max_close_us < (LOCK_MS + MARGIN_MS) * 1000LL &&
                  st.max_other_us < (LOCK_MS + MARGIN_MS) * 1000LL,
                  "a call took longer than the lock bound + %u ms", MARGIN_MS);
    ck_assert_msg(kl.checker_lock_fail == 0, "the checker missed the lock %ld times",
                  kl.checker_lock_fail);
    ck_assert_msg(idle.unknown == 0 && idle.left == idle.kept,
                  "gc with idle workers: %u entries the kernel could not confirm",
                  idle.unknown);
    ck_assert_msg(missing == 0, "%ld granted socket(s) alive without an entry, e.g. %s",
                  missing, example);
    ck_assert_msg(dead.left == 0 && dead.unknown == 0, "after every worker died and gc: "
                  "%u entries left, %u unknown", dead.left, dead.unknown);
    ck_assert_msg(st.bound > 100 && st.refused > 100, "too little happened to mean anything");
    ck_assert_msg(kl.kills > 0, "the killer never killed anyone");
    free(log);
    close(report_r);
    close(report_w);
    table_close(table);
}

/* The socket a forked child keeps must keep its entry when the parent closes it, even if
 * the fork came while another thread of the parent was inside bind(). */
static void fork_and_bind(bool fork_after_bind)
{
    int port;
    char why[256], p[16], after[4];
    proc_free_ports(&port, 1);
    snprintf(p, sizeof p, "%d", port);
    snprintf(after, sizeof after, "%d", fork_after_bind);
    table = own_open(table_name, SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(table, "%s", why);
    if (!fork_after_bind)
        ck_assert_int_eq(table_lock(table, 1000), 0);
    struct proc_how how = {.shim = true, .table = table_name, .log = log_path, .slots = SLOTS,
                           .env = {"BINDGUARD_LOCK_TIMEOUT_MS=5000"}};
    struct proc *h = proc_spawn(&how, PROC_ARGV("self", "--child", "forkbind", p, after));
    const char *line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "FORKED") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    if (!fork_after_bind)
        table_unlock(table);
    line = proc_line(h, 10000);
    ck_assert_msg(line && strcmp(line, "BOUND 0") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    ck_assert(proc_say(h, "close"));
    line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "CLOSED") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);

    struct proc *t = proc_spawn(&how, PROC_ARGV("tbind", "-a", "127.0.0.1", "-o", "reuseaddr",
                                                "-P", p));
    line = proc_line(t, 5000);
    char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    proc_finish(t, 5000);
    ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "fork %s the bind: with the socket "
                  "still held by the forked child, an exclusive bind beside it said '%s' (its "
                  "entry went with the parent's close)", fork_after_bind ? "after" : "during", got);
    ck_assert_int_eq(proc_finish(h, 5000), 0);
    table_close(table);
}

START_TEST(fork_after_binding)
{
    fork_and_bind(true);
}
END_TEST

START_TEST(fork_while_binding)
{
    fork_and_bind(false);
}
END_TEST

/* A listener shut down while another socket shares its port goes back to bound-only and
 * keeps the port (a plain bind natively says EADDRINUSE); its claim must hold too, though
 * its entry says it listened (sock_diag finds it only as bound-inactive). */
START_TEST(shut_down_listener_keeps_its_claim)
{
    int port;
    char p[16];
    proc_free_ports(&port, 1);
    snprintf(p, sizeof p, "%d", port);
    struct proc_how how = {.shim = true, .table = table_name, .log = log_path, .slots = SLOTS};
    struct proc *h = proc_spawn(&how, PROC_ARGV("self", "--child", "shutdown", p));
    const char *line = proc_line(h, 5000);
    ck_assert_msg(line && strcmp(line, "SHUT") == 0, "said '%s' (%s)", line ? line : "",
                  h->ebuf);
    struct sockaddr_storage ss;
    socklen_t len = proc_sockaddr("127.0.0.1", port, &ss);
    int plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    errno = 0;
    ck_assert_msg(bind(plain, (struct sockaddr *)&ss, len) != 0 && errno == EADDRINUSE,
                  "premise: natively the shut-down listener should still hold the port (%s)",
                  strerror(errno));
    close(plain);

    struct proc *t = proc_spawn(&how, PROC_ARGV("tbind", "-a", "127.0.0.1", "-o", "reuseaddr",
                                                "-P", p));
    line = proc_line(t, 5000);
    char got[64];
    snprintf(got, sizeof got, "%s", line ? line : "(nothing)");
    proc_finish(t, 5000);
    ck_assert_msg(strcmp(got, "ERR EADDRINUSE bind") == 0, "an exclusive bind beside the "
                  "shut-down listener said '%s'", got);
    ck_assert_int_eq(proc_finish(h, 5000), 0);
}
END_TEST

START_TEST(stress_guard)
{
    stress("guard", NULL);
}
END_TEST

/* Emulate puts SO_REUSEPORT on every managed socket, so the kernel lets even listeners
 * share: only bindguard keeps exclusive claims apart, listening or not. */
START_TEST(stress_emulate)
{
    stress("emulate", "BINDGUARD_EMULATE=1");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "worker") == 0)
        return worker_main(argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "forkbind") == 0)
        return forkbind_main(argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "shutdown") == 0)
        return shutdown_main(argc - 3, argv + 3);
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_stress: %s not built\n", harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN);
    proc_init("stress");
    proc_cleanup_on_signals();
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("churn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, (double)run_seconds() + 60);
    tcase_add_test(tc, stress_guard);
    tcase_add_test(tc, stress_emulate);
    suite_add_tcase(s, tc);
    tc = tcase_create("deterministic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fork_after_binding);
    tcase_add_test(tc, fork_while_binding);
    tcase_add_test(tc, shut_down_listener_keeps_its_claim);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
