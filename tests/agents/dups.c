/* dups - the last descriptor of a bound socket releases its port, however it goes
 * (test_dup).
 *
 *   dups METHOD PORT
 *
 * Binds 127.0.0.1:PORT (SO_REUSEADDR), makes a second descriptor by METHOD (dup, dup2,
 * dup3, F_DUPFD, F_DUPFD_CLOEXEC; close_range, closefrom and cloexec use dup), closes
 * the first (close_range: with close_range; cloexec: after marking the second
 * close-on-exec, which closes nothing) and says "HOLD". On the go-ahead line the second
 * goes the METHOD's way (dup2/dup3 onto it, close_range, closefrom, else close), "FREE".
 * Exit status as proc_child.h says. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "named_opts.h"
#include "proc_child.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* This file is built with _FILE_OFFSET_BITS=64, so its fcntl() calls fcntl64; programs
 * built without it call plain fcntl, which bindguard wraps on its own. */
static int plain_fcntl(int fd, int cmd, int arg)
{
    int (*f)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_DEFAULT, "fcntl");
    EXPECT(f != NULL, "no fcntl: %s", dlerror());
    return f ? f(fd, cmd, arg) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return proc_child_usage("dups METHOD PORT");
    const char *m = argv[1];
    int fd = named_opts_socket("tcp", "reuseaddr");
    EXPECT_OUTCOME(proc_bind(fd, "127.0.0.1", atoi(argv[2])), "ok");
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int d = strcmp(m, "dup2") == 0              ? dup2(fd, 100)
            : strcmp(m, "dup3") == 0            ? dup3(fd, 101, O_CLOEXEC)
            : strcmp(m, "F_DUPFD") == 0         ? plain_fcntl(fd, F_DUPFD, 200)
            : strcmp(m, "F_DUPFD_CLOEXEC") == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 300)
                                                : dup(fd);
    EXPECT(d >= 0 && devnull >= 0, "%s: %s", m, strerror(errno));
    /* Marking for close-on-exec closes nothing: the entry must stay. */
    if (strcmp(m, "cloexec") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, (unsigned)d, CLOSE_RANGE_CLOEXEC), "ok");
    if (strcmp(m, "close_range") == 0)
        EXPECT_OUTCOME(close_range((unsigned)fd, (unsigned)fd, 0), "ok");
    else
        EXPECT_OUTCOME(close(fd), "ok");
    proc_child_step("HOLD");
    if (strcmp(m, "dup2") == 0)
        EXPECT_OUTCOME(dup2(devnull, d), "ok");
    else if (strcmp(m, "dup3") == 0)
        EXPECT_OUTCOME(dup3(devnull, d, 0), "ok");
    else if (strcmp(m, "F_DUPFD_CLOEXEC") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, (unsigned)d, 0), "ok");
    else if (strcmp(m, "close_range") == 0)
        EXPECT_OUTCOME(close_range((unsigned)d, ~0u, 0), "ok");
    else if (strcmp(m, "closefrom") == 0)
        closefrom(d);
    else
        EXPECT_OUTCOME(close(d), "ok");
    proc_child_step("FREE");
    return proc_child_status();
}
