/* holder - find a live process holding socket:[inode] through /proc. Raw directory reads
 * (getdents64 into a stack buffer) keep malloc out of the bind path. */
#include "holder.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "parse.h"
#include "sys.h"

#define SCAN_MAX_PROCS 4096  /* bound on the /proc walk: a denial must stay cheap */

struct linux_dirent64 {
    uint64_t       d_ino;
    int64_t        d_off;
    unsigned short d_reclen;
    unsigned char  d_type;
    char           d_name[];
};

/* A /proc directory entry named by a number (a pid, a descriptor): the number, else 0. */
static int pid_of(const char *s)
{
    uint32_t v;
    return parse_u32_str(s, 0, INT32_MAX, &v) ? (int)v : 0;
}

static bool holds(int pid, const char *fd_name, const char *want)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%s", pid, fd_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, want) == 0;
}

/* Call fn(name, arg) for each entry of directory `path` until it returns true. */
static bool each_dirent(const char *path, bool (*fn)(const char *name, void *arg), void *arg)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return false;
    char buf[4096] __attribute__((aligned(8)));
    bool stop = false;
    long n;
    while (!stop && (n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n && !stop;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            if (d->d_reclen == 0)
                break;
            stop = fn(d->d_name, arg);
            off += d->d_reclen;
        }
    }
    sys_close(dfd);
    return stop;
}

struct scan {
    char want[40];  /* "socket:[inode]" */
    int  pid;       /* process being looked at, then the holder found */
    int  procs;
    int  skip[2];   /* not scanned: our own pid (see holder.h), and the binder's once done */
    bool found;
};

static bool fd_matches(const char *name, void *arg)
{
    struct scan *sc = arg;
    return pid_of(name) > 0 || strcmp(name, "0") == 0 ? holds(sc->pid, name, sc->want) : false;
}

static bool pid_holds(struct scan *sc, int pid)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    sc->pid = pid;
    sc->found = each_dirent(path, fd_matches, sc);
    return sc->found;
}

static bool proc_holds(const char *name, void *arg)
{
    struct scan *sc = arg;
    int pid = pid_of(name);
    if (pid <= 0 || pid == sc->skip[0] || pid == sc->skip[1])
        return false;
    if (++sc->procs > SCAN_MAX_PROCS)
        return true;
    return pid_holds(sc, pid);
}

static void read_comm(int pid, char *comm, size_t len)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, comm, len - 1);
    sys_close(fd);
    if (n <= 0)
        return;
    comm[n] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
}

static void holder_init(const struct table_entry *e, struct holder *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->comm, e->comm, sizeof h->comm);
    h->comm[sizeof h->comm - 1] = '\0';
}

void holder_self(const struct table_entry *e, int self, struct holder *h)
{
    holder_init(e, h);
    h->pid = self;
}

void holder_find(const struct table_entry *e, struct holder *h)
{
    struct scan sc = { .pid = 0, .skip = { getpid(), 0 } };
    snprintf(sc.want, sizeof sc.want, "socket:[%u]", e->inode);
    holder_init(e, h);
    /* A linger entry's socket is closed: no descriptor anywhere can show it. */
    bool look = !(e->flags & TABLE_F_LINGER);

    /* The binder itself, at the descriptor it bound, then under another (a dup). */
    char fd_name[16];
    snprintf(fd_name, sizeof fd_name, "%d", e->fd);
    bool binder = look && e->pid > 0 && e->pid != sc.skip[0];
    if (binder && ((e->fd >= 0 && holds(e->pid, fd_name, sc.want)) || pid_holds(&sc, e->pid))) {
        h->pid = e->pid;
        return;
    }
    /* Someone it handed the socket to: a forked child, an exec'd server, a receiver. */
    sc.skip[1] = e->pid;
    if (look && each_dirent("/proc", proc_holds, &sc) && sc.found) {
        h->pid = sc.pid;
        read_comm(sc.pid, h->comm, sizeof h->comm);
        return;
    }
    /* We may not look into other users' processes: trust a live binder's pid. */
    if (e->pid > 0 && (kill(e->pid, 0) == 0 || errno == EPERM))
        h->pid = e->pid;
}
