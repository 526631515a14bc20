#include "proc.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_PROCS 48

static struct proc procs[MAX_PROCS];
/* When each slot was last taken or freed, on a counter of those events (0: never used). */
static uint64_t slot_tick[MAX_PROCS], ticks;
static char tag_name[32] = "proc";
static pid_t runner;
static unsigned names;

void proc_preload_sanitizer(void)
{
    const char *san = getenv("BG_SAN_PRELOAD");
    if (san && *san)
        setenv("LD_PRELOAD", san, 1);
    else
        unsetenv("LD_PRELOAD");
}

void proc_init(const char *tag)
{
    snprintf(tag_name, sizeof tag_name, "%s", tag);
    runner = getpid();
}

/* Check forks each test from the runner, so the counter alone would repeat: the
 * caller's pid tells the tests apart, the runner's pid finds them all in cleanup. */
void proc_table_name(char *buf, size_t len)
{
    snprintf(buf, len, "/bg-test-%s-%d-%d-%u", tag_name, (int)runner, (int)getpid(), names++);
}

void proc_log_path(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/bg-%s-%d-%d-%u.log", tag_name, (int)runner, (int)getpid(), names++);
}

bool proc_scratch_dir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/bg-%s-%d-%d-XXXXXX", tag_name, (int)runner, (int)getpid());
    return mkdtemp(buf) != NULL;
}

/* Unlink every entry of dir whose name starts with one of the prefixes. */
static void remove_prefixed(const char *dir, const char *const *prefixes, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        for (size_t i = 0; i < n; i++) {
            if (strncmp(e->d_name, prefixes[i], strlen(prefixes[i])) != 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0 && errno == EISDIR)
                rmdir(path);
        }
    }
    closedir(d);
}

static void cleanup_and_die(int sig)
{
    proc_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

void proc_cleanup_on_signals(void)
{
    signal(SIGTERM, cleanup_and_die);
    signal(SIGINT, cleanup_and_die);
}

void proc_cleanup(void)
{
    char table[64], tmp[64], logs[64];
    snprintf(table, sizeof table, "bg-test-%s-%d-", tag_name, (int)runner);
    /* A creator killed between building and linking leaves its private name behind. */
    snprintf(tmp, sizeof tmp, ".bg-test-%s-%d-", tag_name, (int)runner);
    snprintf(logs, sizeof logs, "bg-%s-%d-", tag_name, (int)runner);
    remove_prefixed("/dev/shm", (const char *const[]){table, tmp}, 2);
    remove_prefixed("/tmp", (const char *const[]){logs}, 1);
}

/* ---- spawning ------------------------------------------------------------------------ */

struct exec_args {
    const char *file;
    char *const *argv, *const *envp;
    int in, out, err;
    pid_t parent;
    uid_t uid;             /* nobody's, if how->as_nobody (looked up before the fork) */
    gid_t gid;
    const struct proc_how *how;
};

/* Move the calling process into a cgroup v2 directory (while still root). */
static bool join_cgroup(const char *dir)
{
    char path[512], pid[24];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, pid, strlen(pid)) == (ssize_t)strlen(pid);
    if (!ok)
        dprintf(2, "joining %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return ok;
}

/* In the forked child: nothing here may return to the test. */
static int exec_child(void *arg)
{
    const struct exec_args *x = arg;
    const struct proc_how *h = x->how;
    if (h->new_netns && unshare(CLONE_NEWNET) != 0) {
        perror("unshare(CLONE_NEWNET)");
        return 126;
    }
    if (h->cgroup && !join_cgroup(h->cgroup))
        return 126;
    if (h->as_nobody && (setgroups(0, NULL) != 0 || setgid(x->gid) != 0 || setuid(x->uid) != 0)) {
        perror("dropping to nobody");
        return 126;
    }
    /* After the setuid, which would clear it; orphaned already, we would never get it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != x->parent)
        return 126;
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(x->in, 0) < 0 || dup2(x->out, 1) < 0 || dup2(x->err, 2) < 0)
        return 126;
    if (h->pre_exec)
        h->pre_exec(h->arg);
    execvpe(x->file, x->argv, x->envp);
    dprintf(2, "exec %s: %s\n", x->file, strerror(errno));
    return 127;
}

/* The free slot free the longest (or never used): a finished child stays readable for as
 * many spawns as can be, as callers that spawn before they look at it rely on. */
static struct proc *free_slot(void)
{
    struct proc *best = NULL;
    for (int i = 0; i < MAX_PROCS; i++) {
        struct proc *p = &procs[i];
        if ((p->pid == 0 || (p->done && p->in < 0 && p->out < 0 && p->err < 0)) &&
            (!best || slot_tick[i] < slot_tick[best - procs]))
            best = p;
    }
    return best;
}

/* Does the runner's variable `var` stay in a child's environment that starts with set[]? */
static bool passed_on(const struct proc_how *h, const char *var, char *const *set, size_t n_set)
{
    if (!h->inherit_env)
        return strncmp(var, "LD_PRELOAD=", 11) != 0 && strncmp(var, "BINDGUARD_", 10) != 0;
    for (size_t i = 0; i < n_set; i++) {
        size_t len = strcspn(set[i], "=");
        if (strncmp(var, set[i], len) == 0 && var[len] == '=')
            return false;
    }
    return true;
}

struct proc *proc_spawn(const struct proc_how *h, const char *const *argv)
{
    struct proc *p = free_slot();
    ck_assert_msg(p, "more than %d children at once", MAX_PROCS);
    memset(p, 0, sizeof *p);
    p->in = p->out = p->err = -1;
    slot_tick[p - procs] = ++ticks;

    char prog[512];
    const char *file = argv[0], *args[64];
    size_t n_args = 0;
    while (argv[n_args] && n_args < 63) {
        args[n_args] = argv[n_args];
        n_args++;
    }
    args[n_args] = NULL;
    if (harness_agent_path(file, prog, sizeof prog))
        file = prog;

    /* What we set comes first: the first of a name is the one getenv finds. */
    char own[4][600];
    char *envp[600];
    size_t n = 0, n_own = 0;
    for (size_t i = 0; i < 6 && h->env[i]; i++)
        envp[n++] = (char *)h->env[i];
    if (h->shim) {
        snprintf(own[n_own++], sizeof own[0], "LD_PRELOAD=%s", harness_preload());
        snprintf(own[n_own++], sizeof own[0], "BINDGUARD_TABLE=%s", h->table);
        snprintf(own[n_own++], sizeof own[0], "BINDGUARD_LOG=%s", h->log);
        if (h->slots)
            snprintf(own[n_own++], sizeof own[0], "BINDGUARD_TABLE_SLOTS=%u", h->slots);
        for (size_t i = 0; i < n_own; i++)
            envp[n++] = own[i];
    } else if (!h->inherit_env && getenv("BG_SAN_PRELOAD") && *getenv("BG_SAN_PRELOAD")) {
        /* A sanitized CLI preloads the sanitized shim into what it starts: the runtime
         * must come first there too (run appends to LD_PRELOAD). */
        snprintf(own[n_own++], sizeof own[0], "LD_PRELOAD=%s", getenv("BG_SAN_PRELOAD"));
        envp[n++] = own[0];
    }
    size_t n_set = n;
    for (char **e = environ; *e && n < sizeof envp / sizeof envp[0] - 1; e++)
        if (passed_on(h, *e, envp, n_set))
            envp[n++] = *e;
    envp[n] = NULL;

    int in[2], out[2], err[2];
    ck_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
              pipe2(err, O_CLOEXEC) == 0);
    struct exec_args x = {file, (char *const *)args, envp, in[0], out[1], err[1], getpid(),
                          (uid_t)-1, (gid_t)-1, h};
    if (h->as_nobody)
        harness_nobody(&x.uid, &x.gid);
    p->pid = harness_fork(exec_child, &x, (uid_t)-1, (gid_t)-1);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in = in[1];
    p->out = out[0];
    p->err = err[0];
    ck_assert_msg(p->pid > 0, "fork: %s", strerror(errno));
    return p;
}

const char *proc_num(long v)
{
    static char ring[8][24];
    static unsigned next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%ld", v);
    return s;
}

/* ---- talking to it ------------------------------------------------------------------- */

static void take(int *fd, short revents, char *buf, size_t *len, size_t cap)
{
    if (*fd < 0 || !(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    char tmp[4096];
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
    memcpy(buf + *len, tmp, keep);
    *len += keep;
    buf[*len] = '\0';
}

/* Both pipes at once, so a child never blocks on a full stderr while we wait on stdout. */
void proc_pump(struct proc *p, int64_t deadline)
{
    struct pollfd fds[2] = {{p->out, POLLIN, 0}, {p->err, POLLIN, 0}};
    int64_t wait = deadline - proc_now_ms();
    if (poll(fds, 2, wait > 0 ? (int)wait : 0) <= 0)
        return;
    take(&p->out, fds[0].revents, p->obuf, &p->olen, sizeof p->obuf);
    take(&p->err, fds[1].revents, p->ebuf, &p->elen, sizeof p->ebuf);
}

const char *proc_line(struct proc *p, unsigned timeout_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;
    for (;;) {
        char *start = p->obuf + p->opos;
        char *nl = memchr(start, '\n', p->olen - p->opos);
        if (nl) {
            snprintf(p->line, sizeof p->line, "%.*s", (int)(nl - start), start);
            p->opos += (size_t)(nl - start) + 1;
            if (p->opos == p->olen)
                p->opos = p->olen = 0;
            return p->line;
        }
        /* A full buffer without a newline would never make progress. */
        if (p->olen == sizeof p->obuf - 1)
            p->opos = p->olen = 0;
        if (p->out < 0 || proc_now_ms() >= deadline)
            return NULL;
        proc_pump(p, deadline);
    }
}

bool proc_say(struct proc *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf - 1 || p->in < 0)
        return false;
    buf[n++] = '\n';
    return write(p->in, buf, (size_t)n) == n;
}

static void reaped(struct proc *p, int st)
{
    p->done = true;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The slot is free afterwards, if it is done. */
static void close_pipes(struct proc *p)
{
    slot_tick[p - procs] = ++ticks;
    int *fds[] = {&p->in, &p->out, &p->err};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int proc_finish(struct proc *p, unsigned timeout_ms)
{
    if (p->in >= 0)
        close(p->in);
    p->in = -1;
    int64_t deadline = proc_now_ms() + timeout_ms;
    while ((p->out >= 0 || p->err >= 0) && proc_now_ms() < deadline)
        proc_pump(p, deadline);
    if (!p->done) {
        int64_t left = deadline - proc_now_ms();
        int st = harness_wait(p->pid, left > 1 ? (unsigned)left : 1);
        if (st < 0)
            kill(-p->pid, SIGKILL);  /* whatever it forked goes with it */
        p->done = true;
        p->status = st;
    }
    close_pipes(p);
    return p->status;
}

bool proc_alive(struct proc *p)
{
    int st;
    if (p->done)
        return false;
    if (waitpid(p->pid, &st, WNOHANG) != p->pid)
        return true;
    reaped(p, st);
    return false;
}

void proc_kill(struct proc *p)
{
    if (!p->done) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        int st = 0;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
            ;
        reaped(p, st);
        p->status = -1;
    }
    close_pipes(p);
}

void proc_kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].pid > 0)
            proc_kill(&procs[i]);
}

/* ---- ports and logs ------------------------------------------------------------------ */

pid_t proc_gone_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    ck_assert_int_gt(pid, 0);
    waitpid(pid, NULL, 0);
    return pid;
}

int proc_take_fd(pid_t pid, int fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int got = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int err = errno;
    if (pidfd >= 0)
        close(pidfd);
    errno = err;
    return got;
}

void proc_free_ports(int *ports, int n)
{
    int held[32], n_held = 0, off = 0;
    ck_assert_int_le(n, 16);
    for (int i = 0, tries = 0; i < n; tries++) {
        ck_assert_msg(tries < 200, "no free port found");
        int t = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int u = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        socklen_t len = sizeof sin6;
        ck_assert_msg(bind(t, (struct sockaddr *)&sin6, len) == 0, "bind [::]:0: %s",
                      strerror(errno));
        getsockname(t, (struct sockaddr *)&sin6, &len);
        /* Kept bound until all are chosen, or the kernel could pick one twice. */
        if (bind(u, (struct sockaddr *)&sin6, len) == 0) {
            ports[i++] = ntohs(sin6.sin6_port);
            held[n_held++] = t;
            held[n_held++] = u;
        } else {
            close(t);
            close(u);
        }
    }
    while (n_held > 0)
        close(held[--n_held]);
}

char *proc_slurp(const char *path)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ck_assert(buf);
    FILE *f = fopen(path, "re");
    for (size_t got = 1; f && got > 0; n += got) {
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert(buf);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
    }
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

int proc_count_lines(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        n += memmem(line, len, a, strlen(a)) && (!b || memmem(line, len, b, strlen(b)));
        line += len + (line[len] != '\0');
    }
    return n;
}

int proc_trouble_lines(const char *text)
{
    return proc_count_lines(text, "bindguard: ", NULL) -
           proc_count_lines(text, "bindguard: ", "refused (");
}
