/* closefork - a fork in one thread while another closes a bound socket (test_fork).
 *
 *   closefork PORT [close|close_range|closefrom]
 *
 * Binds a socket (TCP, SO_REUSEADDR, exclusive by default) to 127.0.0.1:PORT as
 * descriptor CLOSEFORK_FD and says "BOUND <errno or 0>". Its close (by the call named,
 * close by default: close_range(CLOSEFORK_FD, CLOSEFORK_FD) or closefrom(CLOSEFORK_FD)
 * otherwise; both reach the kernel as close_range) then waits in seccomp for the test, which holds the listener (CLOSEFORK_NOTIFY_FD here, a
 * user notification) and lets the call go on when it chooses. Commands, one a line:
 *   close   a thread closes the socket by that call, then says "CLOSED"
 *   fork    the main thread forks a child that keeps every descriptor, says "FORKED"
 *   kill    the child is killed and reaped, "KILLED"
 * Ends with stdin (the child with it). */
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_child.h"

#define CLOSEFORK_FD        77
#define CLOSEFORK_NOTIFY_FD 78


enum how { BY_CLOSE, BY_CLOSE_RANGE, BY_CLOSEFROM };
static enum how how;

/* The system call `how` makes on CLOSEFORK_FD notifies; everything else is allowed. */
static bool notify_on_close(void)
{
    unsigned nr = how == BY_CLOSE ? __NR_close : __NR_close_range;
    int fd = proc_child_filter(nr, CLOSEFORK_FD, SECCOMP_RET_USER_NOTIF);
    return fd >= 0 && dup2(fd, CLOSEFORK_NOTIFY_FD) == CLOSEFORK_NOTIFY_FD;
}

static void *close_it(void *arg)
{
    (void)arg;
    if (how == BY_CLOSE)
        close(CLOSEFORK_FD);
    else if (how == BY_CLOSE_RANGE)
        close_range(CLOSEFORK_FD, CLOSEFORK_FD, 0);
    else
        closefrom(CLOSEFORK_FD);  /* CLOSEFORK_NOTIFY_FD too: the test has its copy */
    proc_child_say("CLOSED");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[2], "close_range") == 0)
        how = BY_CLOSE_RANGE;
    else if (argc == 3 && strcmp(argv[2], "closefrom") == 0)
        how = BY_CLOSEFROM;
    else if (argc != 2 && !(argc == 3 && strcmp(argv[2], "close") == 0))
        return proc_child_usage("closefork PORT [close|close_range|closefrom]");
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    dup2(fd, CLOSEFORK_FD);
    close(fd);
    int r = proc_bind(CLOSEFORK_FD, "127.0.0.1", atoi(argv[1]));
    int err = r == 0 ? 0 : errno;
    if (!notify_on_close()) {
        proc_child_say("NO SECCOMP %s", strerror(errno));
        return 0;
    }
    proc_child_say("BOUND %d", err);
    pid_t child = 0;
    pthread_t t;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "close", 5) == 0) {
            pthread_create(&t, NULL, close_it, NULL);
            pthread_detach(t);
        } else if (strncmp(line, "fork", 4) == 0) {
            fflush(NULL);
            child = fork();
            if (child == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                    pause();
            }
            proc_child_say("FORKED");
        } else if (strncmp(line, "kill", 4) == 0 && child > 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            child = 0;
            proc_child_say("KILLED");
        }
    }
    if (child > 0)
        kill(child, SIGKILL);
    return 0;
}
