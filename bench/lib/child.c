/* child - the measuring child: which side it is, what its sample functions may say,
 * and its loop (the protocol is in run.h). */
#include "run.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

const char *const bench_side_name[SIDES] = { "native", "shim" };

static int my_side = -1;

int bench_side(void)
{
    if (my_side < 0) {
        const char *s = getenv("BG_BENCH_SIDE");
        my_side = s && strcmp(s, "1") == 0;
    }
    return my_side;
}

bool bench_under_shim(void)
{
    return bench_side() == 1;
}

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    char text[NOTE_LEN];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';  /* one line is one message in the protocol */
    fprintf(f, "%s%s\n", prefix, text);
    fflush(f);
}

void bench_also(size_t row, double v)
{
    printf("a %zu %.17g\n", row, v);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(stdout, "n ", fmt, ap);
    va_end(ap);
}

_Noreturn void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bench (%s side): ", bench_side_name[bench_side()]);
    vline(stderr, prefix, fmt, ap);
    va_end(ap);
    exit(1);
}

int bench_fork_dependent(void)
{
    pid_t parent = getpid();
    fflush(NULL);  /* or the child would write our pending output a second time */
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
    }
    return pid;
}

int bench_serve(const struct bench *b)
{
    if (b->setup)
        b->setup();
    int phase = INT_MIN;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        char *end;
        unsigned long row = strtoul(line, &end, 10);
        if (end == line || row >= b->n_rows)
            bench_fail("bad request '%s'", line);
        if (b->rows[row].phase != phase) {
            phase = b->rows[row].phase;
            if (b->enter_phase)
                b->enter_phase(phase);
        }
        double v = b->sample(row);
        printf("v %.17g\n", v);
        fflush(stdout);
    }
    if (b->teardown)
        b->teardown();
    return 0;
}
