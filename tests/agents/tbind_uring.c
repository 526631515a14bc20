/* tbind_uring - bind through io_uring's IORING_OP_BIND (Linux 6.11+), statically linked,
 * no liburing: what no LD_PRELOAD can see, and a path that is not bind(2).
 *
 *   tbind_uring ADDR PORT     (IPv4, TCP)
 *
 * Prints "OK", "ERR <ERRNO-NAME> bind" (the completion's error), or "UNSUPPORTED <why>"
 * when this kernel has no io_uring or no IORING_OP_BIND. Exits 0 (1 on usage). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OP_BIND 56  /* IORING_OP_BIND, newer than these headers */

static const char *errname(int e)
{
    switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    default: return "EOTHER";
    }
}

static int unsupported(const char *why)
{
    printf("UNSUPPORTED %s (%s)\n", why, strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
        return 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (ring < 0)
        return unsupported("io_uring_setup");
    struct io_uring_probe *probe = calloc(1, sizeof *probe + 256 * sizeof probe->ops[0]);
    if (syscall(SYS_io_uring_register, ring, IORING_REGISTER_PROBE, probe, 256) < 0 ||
        probe->last_op < OP_BIND || !(probe->ops[OP_BIND].flags & IO_URING_OP_SUPPORTED))
        return unsupported("IORING_OP_BIND");
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                    IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                    IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes,
                                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                                     IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
        return unsupported("mmap");
    memset(&sqes[0], 0, sizeof sqes[0]);
    sqes[0].opcode = OP_BIND;
    sqes[0].fd = fd;
    sqes[0].addr = (unsigned long)&a;
    sqes[0].addr2 = sizeof a;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    array[*tail & *(unsigned *)(sq + p.sq_off.ring_mask)] = 0;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
        return unsupported("io_uring_enter");
    unsigned head = *(unsigned *)(cq + p.cq_off.head);
    struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
                               (head & *(unsigned *)(cq + p.cq_off.ring_mask));
    if (cqe->res == 0)
        printf("OK\n");
    else
        printf("ERR %s bind\n", errname(-cqe->res));
    return 0;
}
