/* forkbind - a fork in one thread while another binds (test_fork).
 *
 *   forkbind PORT AFTER
 *
 * A thread binds a fresh socket (exclusive by default; SO_REUSEADDR) to 127.0.0.1:PORT;
 * the main thread forks a child that keeps every descriptor as long as its parent lives,
 * either while the bind waits for the table lock the test holds (AFTER 0) or once it is
 * done (AFTER 1). Says "FORKED", then "BOUND <errno or 0>"; on "close" closes the socket
 * and says "CLOSED"; ends with stdin. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_child.h"

static int fd, result;
static struct sockaddr_storage addr;
static socklen_t addr_len;

static void *bind_it(void *arg)
{
    (void)arg;
    result = bind(fd, (struct sockaddr *)&addr, addr_len) == 0 ? 0 : errno;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return proc_child_usage("forkbind PORT 0|1");
    int one = 1;
    bool after = atoi(argv[2]) != 0;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr_len = proc_sockaddr("127.0.0.1", atoi(argv[1]), &addr);
    pthread_t t;
    pthread_create(&t, NULL, bind_it, NULL);
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
    proc_child_say("FORKED");
    if (!after)
        pthread_join(t, NULL);
    proc_child_say("BOUND %d", result);
    char line[64];
    if (fgets(line, sizeof line, stdin) && strncmp(line, "close", 5) == 0) {
        close(fd);
        proc_child_say("CLOSED");
    }
    while (fgets(line, sizeof line, stdin))
        ;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
