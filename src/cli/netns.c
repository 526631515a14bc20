/* netns - entries of other network namespaces, confirmed from inside them.
 *
 * sock_diag answers for the asker's namespace only. A way into another one is a process
 * in it (the entry's binder, if it is still there) or an `ip netns` name (/run/netns);
 * both are nsfs files, told apart by inode. Each namespace found is entered by a child
 * process (setns needs CAP_SYS_ADMIN), which learns its cookie and confirms every entry
 * of that cookie as cli_snapshot_take does at home, then reports over a pipe. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns"
#define MAX_WAYS  64

/* A way into a namespace: an nsfs file, and what it says about the namespace. */
struct way {
    char path[300];
    ino_t ino;           /* the namespace's inode: the same for every way into it */
    char name[64];       /* its `ip netns` name, or "" */
    int pid;             /* a process in it, or 0 */
};

struct ways {
    struct way v[MAX_WAYS];
    int n;
    int denied;          /* EPERM/EACCES met on a way in: only privilege would help */
};

static struct way *add_way(struct ways *w, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == EPERM || errno == EACCES)
            w->denied = errno;
        return NULL;
    }
    for (int i = 0; i < w->n; i++)
        if (w->v[i].ino == st.st_ino)
            return &w->v[i];
    if (w->n == MAX_WAYS)
        return NULL;
    struct way *x = &w->v[w->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->path, sizeof x->path, "%s", path);
    x->ino = st.st_ino;
    return x;
}

/* Binders of other namespaces' entries, then every `ip netns` name. */
static void find_ways(const struct cli_snapshot *s, uint64_t here, struct ways *w)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct table_entry *e = &s->v[i].e;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)e->pid);
        struct way *x = e->netns != here && e->pid > 0 ? add_way(w, path) : NULL;
        if (x && !x->pid)
            x->pid = e->pid;
    }
    DIR *d = opendir(NETNS_DIR);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, NETNS_DIR "/%.200s", de->d_name);
        struct way *x = add_way(w, path);
        if (x && !x->name[0])
            snprintf(x->name, sizeof x->name, "%.63s", de->d_name);
    }
    if (d)
        closedir(d);
}

/* What the child reports: the namespace's cookie, then one record per entry of it. */
struct report {
    uint64_t cookie;     /* 0: could not enter (err says why) */
    int err;
};
struct confirmed {
    uint32_t i;
    uint8_t live, listening;
};

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void inside(const struct way *x, struct cli_snapshot *s, int out)
{
    struct report r = { 0, 0 };
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        r.err = errno;
        write_all(out, &r, sizeof r);
        return;
    }
    r.cookie = cli_netns();
    write_all(out, &r, sizeof r);
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].e.netns != r.cookie || r.cookie == 0)
            continue;
        cli_entry_confirm(&s->v[i]);
        struct confirmed c = { (uint32_t)i, (uint8_t)s->v[i].live, s->v[i].listening };
        write_all(out, &c, sizeof c);
    }
}

/* Enter one namespace; its cookie (0: not entered, *err why). Entries found are
 * updated and described. */
static uint64_t visit(const struct way *x, struct cli_snapshot *s, int *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return *err = errno, 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        inside(x, s, p[1]);
        _exit(0);
    }
    close(p[1]);
    struct report r = { 0, pid < 0 ? errno : EIO };
    struct confirmed c;
    if (pid > 0 && read(p[0], &r, sizeof r) == (ssize_t)sizeof r && r.cookie)
        while (read(p[0], &c, sizeof c) == (ssize_t)sizeof c)
            if (c.i < s->n && s->v[c.i].e.netns == r.cookie) {
                struct cli_entry *e = &s->v[c.i];
                e->live = (enum guard_liveness)c.live;
                e->listening = c.listening;
                snprintf(e->ns_name, sizeof e->ns_name, "%s", x->name);
                e->ns_pid = x->pid;
            }
    close(p[0]);
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *err = r.err;
    return r.cookie;
}

void cli_netns_confirm(struct cli_snapshot *s)
{
    uint64_t here = cli_netns();
    bool others = false;
    for (size_t i = 0; i < s->n; i++)
        others |= s->v[i].e.netns != here;
    if (!others)
        return;
    struct ways *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(s->netns_why, sizeof s->netns_why, "out of memory");
        return;
    }
    find_ways(s, here, w);
    int denied = w->denied;
    for (int i = 0; i < w->n; i++) {
        int err = 0;
        if (!visit(&w->v[i], s, &err) && (err == EPERM || err == EACCES))
            denied = err;
    }
    free(w);
    if (denied)
        snprintf(s->netns_why, sizeof s->netns_why, "entering another network namespace "
                 "needs root (CAP_SYS_ADMIN): %s", strerror(denied));
    else
        snprintf(s->netns_why, sizeof s->netns_why, "no process of theirs and no `ip netns` "
                 "name leads into their network namespace");
}
