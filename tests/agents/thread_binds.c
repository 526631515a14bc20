/* thread_binds - bindguard inside one multi-threaded process, under the shim
 * (test_threads).
 *
 *   thread_binds churn PORT1..PORT8 | close_race PORT | one_winner PORT
 *
 * Checks what it can itself, complaining on stderr (the first few complaints; exit 1),
 * says what it saw and ends with "DONE <binds refused>".
 *
 * - churn: 8 threads bind, listen and close their own port as fast as they can for
 *   CHURN_MS (with dups, and a second socket that must be refused now and then). Each bind
 *   right after the close must succeed: nothing bindguard does may keep a closed socket
 *   bound.
 * - close_race: one thread binds a socket while another closes it (or dup2s over it),
 *   RACE_ROUNDS rounds. Whoever wins, afterwards no binding of the gone socket may keep
 *   another process off the port, and the table must be empty.
 * - one_winner: 8 threads bind the same port at once with SO_REUSEADDR, which the kernel
 *   alone would grant all of them: exactly one may win each of WIN_ROUNDS rounds. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_child.h"
#include "own.h"
#include "table.h"

#define THREADS       8
#define CHURN_MS      2000
#define RACE_ROUNDS   400
#define WIN_ROUNDS    300

/* Not proc_child's EXPECT: with 8 threads failing alike, the first few say enough. */
static int failures;
static int refusals;

/* The first few complaints are enough to see what went wrong. */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST) >= 10)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

static const char *errname(int r, int err)
{
    const char *n = r >= 0 ? "ok" : strerrorname_np(err);
    return n ? n : "E?";
}

static void expect(const char *what, int r, const char *want)
{
    const char *got = errname(r, errno);
    if (strcmp(got, want) != 0)
        complain("%s: %s, want %s", what, got, want);
}

/* An inet socket, with SO_REUSEADDR if asked: then the kernel would let a second such
 * TCP socket bind the same address while neither listens, so a refusal is bindguard's. */
static int new_socket(int family, int type, bool reuseaddr)
{
    int fd = socket(family, type, 0), one = 1;
    if (fd < 0)
        complain("socket: %s", strerror(errno));
    else if (reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        complain("SO_REUSEADDR: %s", strerror(errno));
    return fd;
}

static int bind_loopback(int fd, int family, int port)
{
    return proc_bind(fd, family == AF_INET6 ? "::1" : "127.0.0.1", port);
}

/* --- churn ------------------------------------------------------------------------------ */

struct churner {
    pthread_t th;
    int index, port;
    long rounds;
};

static void *churn(void *arg)
{
    struct churner *c = arg;
    /* Half TCP, half UDP; every fourth round IPv6, every third round the socket lives on
     * in a dup of it, every fifth a second socket tries the port and must be refused. */
    int type = c->index % 2 ? SOCK_DGRAM : SOCK_STREAM;
    bool tcp = type == SOCK_STREAM;
    for (int64_t end = proc_now_ms() + CHURN_MS; proc_now_ms() < end && !__atomic_load_n(&failures, __ATOMIC_SEQ_CST);
         c->rounds++) {
        int family = c->rounds % 4 == 3 ? AF_INET6 : AF_INET;
        int fd = new_socket(family, type, tcp);
        expect("bind", bind_loopback(fd, family, c->port), "ok");
        if (c->rounds % 3 == 1) {
            int d = dup(fd);
            expect("close after dup", close(fd), "ok");
            fd = d;
        }
        if (c->rounds % 5 == 0) {
            int second = new_socket(family, type, tcp);
            expect("second bind", bind_loopback(second, family, c->port), "EADDRINUSE");
            __atomic_fetch_add(&refusals, 1, __ATOMIC_SEQ_CST);
            close(second);
        }
        if (tcp)
            expect("listen", listen(fd, 4), "ok");
        expect("close", close(fd), "ok");
    }
    return NULL;
}

static void scn_churn(const int *ports)
{
    struct churner c[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct churner){.index = i, .port = ports[i]};
        pthread_create(&c[i].th, NULL, churn, &c[i]);
    }
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(c[i].th, NULL);
        total += c[i].rounds;
    }
    printf("churn: %ld rounds over %d threads\n", total, THREADS);
}

/* --- close racing bind ------------------------------------------------------------------ */

/* Both racers wait on `go`, so neither has a head start worth a system call. */
struct race {
    int ready, go;
    int fd, port, bind_result, bind_errno;
    bool by_dup2;
    int devnull;
};

static void wait_go(struct race *r)
{
    __atomic_fetch_add(&r->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST))
        ;
}

static void *race_binder(void *arg)
{
    struct race *r = arg;
    wait_go(r);
    r->bind_result = bind_loopback(r->fd, AF_INET, r->port);
    r->bind_errno = errno;
    return NULL;
}

static void *race_closer(void *arg)
{
    struct race *r = arg;
    wait_go(r);
    /* dup2 over a descriptor closes it too, through its own path in bindguard. */
    if (r->by_dup2)
        dup2(r->devnull, r->fd);
    else
        close(r->fd);
    return NULL;
}

/* The other process: binds the port (SO_REUSEADDR, so only a binding bindguard believes
 * in can refuse it), closes, and answers with how the bind went. */
static void helper(int cmd, int answer, int port)
{
    char c;
    while (read(cmd, &c, 1) == 1) {
        int fd = new_socket(AF_INET, SOCK_STREAM, true);
        int r = bind_loopback(fd, AF_INET, port), err = errno;
        close(fd);
        const char *name = errname(r, err);
        if (write(answer, name, strlen(name) + 1) < 0)
            break;
    }
    _exit(0);
}

/* Bindings in the table now: stale ones, since every socket of the round is gone. */
static size_t table_entries(void)
{
    char why[256];
    const char *slots = getenv("BINDGUARD_TABLE_SLOTS");
    struct table *t = own_open(getenv("BINDGUARD_TABLE"), slots ? (uint32_t)atoi(slots) : 0,
                               why, sizeof why, NULL, 0);
    if (!t) {
        complain("table: %s", why);
        return 0;
    }
    size_t n = 0;
    if (table_lock(t, 5000) == 0) {
        n = table_count(t);
        table_unlock(t);
    } else {
        complain("table lock failed");
    }
    table_close(t);
    return n;
}

static void scn_close_race(const int *ports)
{
    int to_helper[2], from_helper[2];
    if (pipe(to_helper) != 0 || pipe(from_helper) != 0) {
        complain("pipe: %s", strerror(errno));
        return;
    }
    /* Before any thread exists and before anything is bound: fork marks nothing. */
    pid_t pid = fork();
    if (pid == 0) {
        close(to_helper[1]);
        close(from_helper[0]);
        helper(to_helper[0], from_helper[1], ports[0]);
    }
    close(to_helper[0]);
    close(from_helper[1]);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    long won = 0, leaks = 0;
    for (int round = 0; round < RACE_ROUNDS && !__atomic_load_n(&failures, __ATOMIC_SEQ_CST); round++) {
        struct race r = {.fd = new_socket(AF_INET, SOCK_STREAM, true), .port = ports[0],
                         .by_dup2 = round % 2, .devnull = devnull};
        pthread_t a, b;
        pthread_create(&a, NULL, race_binder, &r);
        pthread_create(&b, NULL, race_closer, &r);
        while (__atomic_load_n(&r.ready, __ATOMIC_SEQ_CST) < 2)
            ;
        __atomic_store_n(&r.go, 1, __ATOMIC_SEQ_CST);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        if (r.by_dup2)
            close(r.fd);  /* now /dev/null's copy */
        /* Too late, the bind finds the number closed, or /dev/null's copy after dup2. */
        const char *how = errname(r.bind_result, r.bind_errno);
        if (strcmp(how, "ok") != 0 && strcmp(how, "EBADF") != 0 && strcmp(how, "ENOTSOCK") != 0)
            complain("round %d: the racing bind said %s", round, how);
        won += r.bind_result == 0;
        leaks += (long)table_entries();
        char answer[32] = "";
        if (write(to_helper[1], "b", 1) != 1 || read(from_helper[0], answer, sizeof answer) <= 0)
            complain("round %d: the helper is gone", round);
        else if (strcmp(answer, "ok") != 0)
            complain("round %d: another process binding the port after the race got %s",
                     round, answer);
        size_t left = table_entries();
        if (left)
            complain("round %d: %zu binding(s) still in the table after the other process "
                     "bound and closed", round, left);
    }
    close(to_helper[1]);
    waitpid(pid, NULL, 0);
    printf("close_race: %d rounds, the bind won %ld, %ld stale binding(s) seen before the "
           "other process reaped them\n", RACE_ROUNDS, won, leaks);
}

/* --- one winner -------------------------------------------------------------------------- */

struct contest {
    pthread_barrier_t start, done;
    int port;
    int wins, refused;
};

static void *contender(void *arg)
{
    struct contest *c = arg;
    for (int round = 0; round < WIN_ROUNDS; round++) {
        int fd = new_socket(AF_INET, SOCK_STREAM, true);
        /* Not before the main thread has counted the last round. */
        pthread_barrier_wait(&c->start);
        int r = bind_loopback(fd, AF_INET, c->port), err = errno;
        if (r == 0)
            __atomic_fetch_add(&c->wins, 1, __ATOMIC_SEQ_CST);
        else if (err == EADDRINUSE)
            __atomic_fetch_add(&c->refused, 1, __ATOMIC_SEQ_CST);
        else
            complain("round %d: bind said %s", round, errname(r, err));
        /* Everyone has bound or been refused before anyone closes. */
        pthread_barrier_wait(&c->done);
        close(fd);
        /* ...and everyone has closed before the main thread counts. */
        pthread_barrier_wait(&c->done);
    }
    return NULL;
}

static void scn_one_winner(const int *ports)
{
    struct contest c = {.port = ports[0]};
    pthread_barrier_init(&c.start, NULL, THREADS + 1);
    pthread_barrier_init(&c.done, NULL, THREADS + 1);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, contender, &c);
    int bad_rounds = 0;
    for (int round = 0; round < WIN_ROUNDS; round++) {
        pthread_barrier_wait(&c.start);
        pthread_barrier_wait(&c.done);
        pthread_barrier_wait(&c.done);
        int wins = __atomic_exchange_n(&c.wins, 0, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&refusals, __atomic_exchange_n(&c.refused, 0, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
        if (wins != 1 && bad_rounds++ < 5)
            complain("round %d: %d winners", round, wins);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    printf("one_winner: %d rounds of %d threads, %d without exactly one winner\n", WIN_ROUNDS,
           THREADS, bad_rounds);
}

static const struct {
    const char *name;
    int nports;
    void (*run)(const int *ports);
} scenarios[] = {
    {"churn", THREADS, scn_churn},
    {"close_race", 1, scn_close_race},
    {"one_winner", 1, scn_one_winner},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc >= 2 && i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(argv[1], scenarios[i].name) != 0 || argc - 2 != scenarios[i].nports)
            continue;
        int ports[THREADS];
        for (int k = 0; k < scenarios[i].nports; k++)
            ports[k] = atoi(argv[2 + k]);
        /* The first judged bind opens the table and the log; in the close race that
         * would hand a freshly closed descriptor number to bindguard's own files. */
        int warm = new_socket(AF_INET, SOCK_STREAM, false);
        expect("warm-up bind", bind_loopback(warm, AF_INET, 0), "ok");
        close(warm);
        scenarios[i].run(ports);
        printf("DONE %d\n", __atomic_load_n(&refusals, __ATOMIC_SEQ_CST));
        fflush(stdout);
        return __atomic_load_n(&failures, __ATOMIC_SEQ_CST) ? 1 : 0;
    }
    return proc_child_usage("thread_binds churn PORT*8 | close_race PORT | one_winner PORT");
}
