/* children - the parent's two measuring children and the rounds it asks them for. */
#include "run.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

double *run_sample_at(struct run *r, size_t row, int side, int round)
{
    return &r->samples[(row * SIDES + (size_t)side) * (size_t)r->b->rounds + (size_t)round];
}

static void keep_note(struct run *r, const char *text)
{
    for (int i = 0; i < r->n_notes; i++)
        if (strcmp(r->notes[i], text) == 0)
            return;
    if (r->n_notes < MAX_NOTES)
        snprintf(r->notes[r->n_notes++], NOTE_LEN, "%.*s", NOTE_LEN - 1, text);
}

static void close_open(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Requests go down p[1] -> p[0] (its stdin), answers up p[3] -> p[2] (its stdout). */
bool run_spawn(struct child *c, const char *argv0, int side, char *const env[])
{
    /* Close-on-exec, so the other side's child holds no copy of our ends: closing its
     * request pipe must reach it as end of file. dup2 clears the flag on 0 and 1, and
     * exec closes the rest. */
    int p[4] = { -1, -1, -1, -1 };
    if (pipe2(p, O_CLOEXEC) != 0 || pipe2(p + 2, O_CLOEXEC) != 0) {
        close_open(p, 4);
        return false;
    }
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (dup2(p[0], 0) < 0 || dup2(p[3], 1) < 0)
            _exit(127);
        unsetenv("LD_PRELOAD");
        for (char *const *e = env; *e; e++)
            putenv(*e);
        setenv("BG_BENCH_SIDE", side ? "1" : "0", 1);
        execl("/proc/self/exe", argv0, CHILD_FLAG, (char *)NULL);
        _exit(127);
    }
    int theirs[2] = { p[0], p[3] }, ours[2] = { p[1], p[2] };
    close_open(theirs, 2);
    if (c->pid < 0) {
        close_open(ours, 2);
        return false;
    }
    c->to = fdopen(p[1], "w");
    c->from = fdopen(p[2], "r");
    return c->to && c->from;
}

/* Keep a sample, unless it is from the warm-up round. */
static void keep(struct run *r, size_t row, int side, int round, double v)
{
    if (round >= 0 && row < r->b->n_rows)
        *run_sample_at(r, row, side, round) = v;
}

/* One sample of row from one side, with the rows reported along with it; false if the
 * child is gone. */
static bool ask(struct run *r, int side, size_t row, int round)
{
    struct child *c = &r->kids[side];
    if (fprintf(c->to, "%zu\n", row) < 0 || fflush(c->to) != 0)
        return false;
    char line[NOTE_LEN + 8];
    while (fgets(line, sizeof line, c->from)) {
        line[strcspn(line, "\n")] = '\0';
        char *end;
        if (strncmp(line, "n ", 2) == 0) {
            keep_note(r, line + 2);
        } else if (strncmp(line, "a ", 2) == 0) {
            size_t also = strtoul(line + 2, &end, 10);
            keep(r, also, side, round, strtod(end, NULL));
        } else if (strncmp(line, "v ", 2) == 0) {
            keep(r, row, side, round, strtod(line + 2, NULL));
            return true;
        }
    }
    return false;
}

bool run_stop_child(struct child *c)
{
    if (c->to)
        fclose(c->to);
    if (c->from)
        fclose(c->from);
    int st = 0;
    if (c->pid > 0 && waitpid(c->pid, &st, 0) != c->pid)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool run_sample_all(struct run *r)
{
    const struct bench *b = r->b;
    int phase = INT_MIN;
    for (;;) {
        int next = INT_MAX;
        for (size_t i = 0; i < b->n_rows; i++)
            if (b->rows[i].phase > phase && b->rows[i].phase < next)
                next = b->rows[i].phase;
        if (next == INT_MAX)
            return true;
        phase = next;
        for (int round = -1; round < b->rounds; round++) {  /* -1: warm-up, discarded */
            for (size_t i = 0; i < b->n_rows; i++) {
                if (b->rows[i].phase != phase || b->rows[i].derived)
                    continue;
                int first = (int)(((size_t)round + 1 + i) & 1);
                for (int k = 0; k < SIDES; k++) {
                    int side = k ? 1 - first : first;
                    if (!ask(r, side, i, round)) {
                        fprintf(stderr, "bench %s: the %s child died\n", b->name,
                                bench_side_name[side]);
                        return false;
                    }
                }
            }
        }
    }
}
