/* netns_bind - a bind in a network namespace of its own (test_bind, as root).
 *
 *   netns_bind PORT OTHER HOW
 *
 * Binds 127.0.0.1:OTHER here (bindguard caches this namespace's key), moves to a new
 * network namespace with lo up -- through libc's unshare(), or HOW=raw with the bare
 * system call bindguard never sees -- then binds 127.0.0.1:PORT exclusively there and
 * says "BOUND". */
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bindguard.h"
#include "proc_child.h"

int main(int argc, char **argv)
{
    if (argc != 4)
        return proc_child_usage("netns_bind PORT OTHER libc|raw");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_OUTCOME(proc_bind(fd, "127.0.0.1", atoi(argv[2])), "ok");
    if (strcmp(argv[3], "raw") == 0)
        EXPECT_OUTCOME(syscall(SYS_unshare, CLONE_NEWNET), "ok");
    else
        EXPECT_OUTCOME(unshare(CLONE_NEWNET), "ok");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    EXPECT_OUTCOME(ioctl(ctl, SIOCSIFFLAGS, &ifr), "ok");
    int other = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(other, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, &one, sizeof one);
    EXPECT_OUTCOME(proc_bind(other, "127.0.0.1", atoi(argv[1])), "ok");
    proc_child_say("BOUND");
    return proc_child_status();
}
