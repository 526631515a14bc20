/* mcast_recv - one of several multicast receivers sharing a port (test_bind).
 *
 *   mcast_recv PORT MS
 *
 * A receiver as mcast.h makes it; says "READY", then "GOT <datagram>", or "TIMEOUT" if
 * none came within MS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mcast.h"
#include "proc_child.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        return proc_child_usage("mcast_recv PORT MS");
    int fd = mcast_receiver(atoi(argv[1]));
    EXPECT(fd >= 0, "receiver: %s", strerror(errno));
    proc_child_say("READY");
    char buf[64];
    if (fd >= 0 && mcast_recv_within(fd, atoi(argv[2]), buf, sizeof buf))
        proc_child_say("GOT %s", buf);
    else
        proc_child_say("TIMEOUT");
    return proc_child_status();
}
