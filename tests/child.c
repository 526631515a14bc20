/* child - see child.h. */
#include "child.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int64_t child_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* In the forked child, before exec: nothing here may return to the test. */
static void child_setup(const struct child_how *h)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    if (!h)
        return;
    for (const char *const *e = h->env; e && *e; e++)
        putenv((char *)*e);
    if (h->new_netns && unshare(CLONE_NEWNET) != 0) {
        perror("unshare(CLONE_NEWNET)");
        _exit(126);
    }
    if (h->as_nobody) {
        uid_t uid;
        gid_t gid;
        harness_nobody(&uid, &gid);
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
            perror("dropping to nobody");
            _exit(126);
        }
    }
}

struct child *child_start(const struct child_how *h, const char *const *argv)
{
    struct child *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    int in[2], out[2], err[2];
    ck_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
              pipe2(err, O_CLOEXEC) == 0);
    fflush(NULL);
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        child_setup(h);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    c->in = in[1];
    c->out = out[0];
    c->err = err[0];
    return c;
}

static void drain(int *fd, char *buf, size_t *len, size_t cap)
{
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

/* Both pipes at once, so that a full stderr never blocks the child while we wait for its
 * stdout. */
void child_pump(struct child *c, int64_t deadline_ms)
{
    struct pollfd fds[2] = {{c->out, POLLIN, 0}, {c->err, POLLIN, 0}};
    int64_t wait = deadline_ms - child_now_ms();
    if (poll(fds, 2, wait > 0 ? (int)wait : 0) <= 0)
        return;
    if (c->out >= 0 && fds[0].revents)
        drain(&c->out, c->obuf, &c->olen, sizeof c->obuf);
    if (c->err >= 0 && fds[1].revents)
        drain(&c->err, c->ebuf, &c->elen, sizeof c->ebuf);
}

const char *child_line(struct child *c, unsigned timeout_ms)
{
    int64_t deadline = child_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->obuf + c->opos, '\n', c->olen - c->opos);
        if (nl) {
            snprintf(c->line, sizeof c->line, "%.*s", (int)(nl - c->obuf - c->opos),
                     c->obuf + c->opos);
            c->opos = (size_t)(nl - c->obuf) + 1;
            return c->line;
        }
        if (c->out < 0 || child_now_ms() >= deadline)
            return NULL;
        child_pump(c, deadline);
    }
}

int child_finish(struct child *c, unsigned timeout_ms)
{
    if (c->in >= 0)
        close(c->in);
    c->in = -1;
    int64_t deadline = child_now_ms() + timeout_ms;
    while ((c->out >= 0 || c->err >= 0) && child_now_ms() < deadline)
        child_pump(c, deadline);
    for (;;) {
        int st;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (child_now_ms() >= deadline) {
            child_kill(c, SIGKILL);
            waitpid(c->pid, &st, 0);
            return -1;
        }
        usleep(2000);
    }
}

void child_kill(struct child *c, int sig)
{
    /* The group, and the child itself in case it left the group. */
    kill(-c->pid, sig);
    kill(c->pid, sig);
}

void child_free(struct child *c)
{
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    if (c->err >= 0)
        close(c->err);
    free(c);
}
