/* emulate - the kernel options that make Linux share as Windows does (emulate.h). */
#include "emulate.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "libc.h"

void emulate_sharing(int fd)
{
    int on = 1;
    libc_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
}

/* Emulate, after a successful listen: every connection goes to the group's first
 * listener, as on Windows (a reuseport program that always picks socket 0). Only a
 * listening socket is in its group: attached earlier, the program gives the socket a
 * private group, and the kernel then refuses it a place in the shared one at bind or at
 * listen. Attached now, it becomes the whole group's program. */
void emulate_first_listener(int fd, const struct sock_record *s)
{
    if (s->proto != IPPROTO_TCP)
        return;
    struct sock_filter first_socket[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog prog = { 1, first_socket };
    libc_setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}
