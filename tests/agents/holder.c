/* holder - a bound socket that lives on in another process after its binder's
 * descriptor went (test_fork).
 *
 * The holding scenarios take PROTO OPTS LISTEN PORT: a PROTO socket with OPTS (as
 * named_opts.h takes them) bound to 127.0.0.1:PORT, listening if LISTEN is 1. Each says
 * "HELD <pid>", naming the process that holds the socket now, and holds on until stdin
 * closes.
 *
 *   holder fork ...     a forked child keeps it; the parent closes its descriptor
 *   holder _Fork ...    the same with glibc's _Fork, which runs no atfork handlers
 *   holder pass ...     sent over a UNIX socket to a child made beforehand (so fork
 *                       itself marks nothing), closed once the child has it
 *   holder exec ...     this program exec'd again as `holder held_fd`, which holds a
 *                       socket its own shim never saw being made
 *   holder spawn ...    a posix_spawn'ed child inherits it (open across exec); closed here
 *   holder spawn_cloexec PORT   the same with a close-on-exec socket, which the child
 *                       cannot inherit: the close here is its last, "CLOSED"
 *   holder held_fd, holder held_quietly   the exec'd and spawned sides
 *
 * Exit status as proc_child.h says. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bg_config.h"
#include "named_opts.h"
#include "proc_child.h"

/* PROTO OPTS LISTEN PORT */
static int bound_socket(char **a)
{
    int fd = named_opts_socket(a[0], a[1]);
    EXPECT_OUTCOME(proc_bind(fd, "127.0.0.1", atoi(a[3])), "ok");
    if (atoi(a[2]))
        EXPECT_OUTCOME(listen(fd, 8), "ok");
    return fd;
}

static void hold_forked(char **a, pid_t (*make_child)(void))
{
    int fd = bound_socket(a);
    pid_t child = make_child();
    if (child == 0) {
        proc_child_wait_eof();
        _exit(0);
    }
    EXPECT(child > 0, "fork: %s", strerror(errno));
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    proc_child_wait_eof();
    waitpid(child, NULL, 0);
}

static void hold_fork(char **a)
{
    hold_forked(a, fork);
}

static void hold__Fork(char **a)
{
#ifdef HAVE__FORK
    hold_forked(a, _Fork);
#else
    hold_forked(a, fork);  /* not run: no _Fork in this libc */
#endif
}

static void hold_pass(char **a)
{
    int sv[2];
    char byte = 0;
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    union {
        struct cmsghdr h;
        char room[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.room,
                       .msg_controllen = sizeof ctl.room};
    pid_t child = fork();
    if (child == 0) {
        /* Say "got it" only once the descriptor is ours, so the holder is findable. */
        if (recvmsg(sv[1], &m, 0) == 1 && write(sv[1], &byte, 1) == 1)
            proc_child_wait_eof();
        _exit(0);
    }
    EXPECT(child > 0, "fork: %s", strerror(errno));
    int fd = bound_socket(a);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fd);
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    EXPECT_OUTCOME(sendmsg(sv[0], &m, 0), "ok");
    EXPECT(read(sv[0], &byte, 1) == 1, "the child did not take the socket");
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    proc_child_wait_eof();
    waitpid(child, NULL, 0);
}

static void hold_exec(char **a)
{
    bound_socket(a);
    fflush(NULL);
    execl("/proc/self/exe", "holder", "held_fd", (char *)NULL);
    EXPECT(0, "exec: %s", strerror(errno));
}

static pid_t spawn_quiet_child(void)
{
    char *argv[] = {"holder", "held_quietly", NULL};
    pid_t child = -1;
    fflush(NULL);
    int r = posix_spawn(&child, "/proc/self/exe", NULL, NULL, argv, environ);
    EXPECT(r == 0, "posix_spawn: %s", strerror(r));
    return child;
}

static void hold_spawn(char **a)
{
    int fd = bound_socket(a);
    pid_t child = spawn_quiet_child();
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("HELD %d", (int)child);
    proc_child_wait_eof();
    waitpid(child, NULL, 0);
}

static void spawn_cloexec(char **a)
{
    char *args[] = {"tcp", "reuseaddr", "0", a[0]};
    int fd = bound_socket(args);
    EXPECT(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0, "FD_CLOEXEC: %s", strerror(errno));
    pid_t child = spawn_quiet_child();
    EXPECT_OUTCOME(close(fd), "ok");
    proc_child_say("CLOSED");
    proc_child_wait_eof();
    waitpid(child, NULL, 0);
}

static void held_quietly(char **a)
{
    (void)a;
    proc_child_wait_eof();
}

static void held_fd(char **a)
{
    (void)a;
    proc_child_say("HELD %d", (int)getpid());
    proc_child_wait_eof();
}

int main(int argc, char **argv)
{
    static const struct proc_child_scenario scenarios[] = {
        {"fork", 4, hold_fork},         {"_Fork", 4, hold__Fork},
        {"pass", 4, hold_pass},         {"exec", 4, hold_exec},
        {"spawn", 4, hold_spawn},       {"spawn_cloexec", 1, spawn_cloexec},
        {"held_fd", 0, held_fd},        {"held_quietly", 0, held_quietly},
    };
    return proc_child_dispatch(scenarios, sizeof scenarios / sizeof scenarios[0], argc, argv);
}
