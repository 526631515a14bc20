/* sigclose - close() from a signal handler while the thread is inside bindguard
 * (test_signals).
 *
 *   sigclose PORT1 PORT2 MS
 *
 * Binds, listens and closes in a loop on 127.0.0.1:PORT1 (every 16th round also a second
 * bind, which must be refused, for the denial path) for MS milliseconds, while SIGALRM every
 * 100 µs closes a socket bound to PORT2: at any point of the loop, including while the
 * main thread holds the table lock. Says "DONE <rounds> <signals>". */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proc_child.h"

/* The tracked socket the main loop leaves the handler to close. */
static int victim = -1;
static int signals_seen;

static void close_victim(int sig)
{
    (void)sig;
    int fd = __atomic_exchange_n(&victim, -1, __ATOMIC_SEQ_CST);
    if (fd >= 0)
        close(fd);
    __atomic_fetch_add(&signals_seen, 1, __ATOMIC_SEQ_CST);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return proc_child_usage("sigclose PORT1 PORT2 MS");
    int p1 = atoi(argv[1]), p2 = atoi(argv[2]), ms = atoi(argv[3]);
    struct sigaction sa = {.sa_handler = close_victim, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 100}, {0, 100}}, stop = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &every, NULL);
    long rounds = 0;
    int64_t end = proc_now_ms() + ms;
    for (; proc_now_ms() < end && !proc_child_failures(); rounds++) {
        int v = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_OUTCOME(proc_bind(v, "127.0.0.1", p2), "ok");
        EXPECT_OUTCOME(listen(v, 1), "ok");
        __atomic_store_n(&victim, v, __ATOMIC_SEQ_CST);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_OUTCOME(proc_bind(s, "127.0.0.1", p1), "ok");
        EXPECT_OUTCOME(listen(s, 1), "ok");
        if (rounds % 16 == 0) {
            int second = socket(AF_INET, SOCK_STREAM, 0);
            EXPECT_OUTCOME(proc_bind(second, "127.0.0.1", p1), "EADDRINUSE");
            close(second);
        }
        close(s);
        int left = __atomic_exchange_n(&victim, -1, __ATOMIC_SEQ_CST);
        if (left >= 0)
            close(left);
    }
    setitimer(ITIMER_REAL, &stop, NULL);
    proc_child_say("DONE %ld %d", rounds, __atomic_load_n(&signals_seen, __ATOMIC_SEQ_CST));
    return proc_child_status();
}
