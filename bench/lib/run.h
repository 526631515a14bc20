/* run - what the parts of the paired runner share (see benchlib.h for what it does).
 *
 * Parent and children speak lines over pipes: the parent writes a row number, the child
 * answers "v <value>", after any number of "n <note>" and "a <row> <value>" (a derived
 * row) lines. A child that breaks exits, and the parent sees end of file. */
#ifndef BG_BENCH_RUN_H
#define BG_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "benchlib.h"

#define CHILD_FLAG  "--bench-child"  /* argv[1] of a measuring child */
#define MAX_NOTES   32
#define NOTE_LEN    240
#define SIDES       2                /* 0 native, 1 under the shim */

extern const char *const bench_side_name[SIDES];

/* ---- child.c: the measuring child's loop --------------------------------------------- */

/* Answer the parent's requests until it closes our stdin; the exit status. */
int bench_serve(const struct bench *b);

/* ---- children.c: the parent's children and the rounds -------------------------------- */

struct child {
    pid_t pid;
    FILE *to, *from;
};

struct run {
    const struct bench *b;
    struct child kids[SIDES];
    char notes[MAX_NOTES][NOTE_LEN];
    int n_notes;
    double *samples;  /* [row][side][round] */
};

double *run_sample_at(struct run *r, size_t row, int side, int round);
/* Start this binary (argv0 names it) as the child of one side; env holds "NAME=value"
 * to set, NULL-ended. */
bool run_spawn(struct child *c, const char *argv0, int side, char *const env[]);
/* Every round of every row, phase by phase, each side first in turn; false if a child
 * died (said on stderr). */
bool run_sample_all(struct run *r);
/* Close its pipes and reap it; true if it exited 0. */
bool run_stop_child(struct child *c);

/* ---- figures.c: from samples to figures ---------------------------------------------- */

struct figures {
    double side[SIDES];           /* medians */
    double ratio, q1, q3;         /* of the per-round shim/native pairs */
    double growth[SIDES];         /* against the base row, NAN without one */
    double ratio_growth;          /* ratio over the base row's ratio */
    int met;                      /* 1 yes, 0 no, -1 no target or no figure */
};

/* Every row's figures, f[0..n_rows), with growths and targets judged. */
void figures_of(struct run *r, struct figures *f);

/* ---- report.c, report_json.c: what is printed and written ---------------------------- */

/* "<=1.05x", "shim<=30 us", ...; "-" without a target. */
void report_target(const struct bench_row *row, char *buf, size_t len);
void report_table(const struct run *r, const struct figures *f);
/* One JSON object (the bench, its rows, its notes) to path; false with errno set. */
bool report_json(const struct run *r, const struct figures *f, const char *path);

#endif
