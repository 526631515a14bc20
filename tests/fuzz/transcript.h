/* transcript - what one run of a fuzz case printed (tests/agents/fuzz_run.c), cut into
 * per-op results, log lines and table counts for the checker. */
#ifndef BG_FUZZ_TRANSCRIPT_H
#define BG_FUZZ_TRANSCRIPT_H

#include "case.h"

/* The three runs of every case. */
enum mode { MODE_NATIVE, MODE_OFF, MODE_ENFORCE, N_MODES };
extern const char *const mode_names[N_MODES];  /* as fuzz_run takes them */

struct transcript {
    char *text;               /* the whole stdout, NUL-terminated */
    char *parsed;             /* a copy of it, cut into the pieces below */
    char *stderr_text;
    int status;
    const char *res[MAX_OPS]; /* per op: what came after " => " (NULL: line missing) */
    char *log[MAX_OPS];       /* per op: its "# log" lines, joined by '\n' (NULL: none) */
    char *log_first;          /* one logged before any op ran */
    int entries[MAX_OPS];     /* per op: bindings in the table after it (-1: not said) */
    int nlog;
};

/* A transcript of a run of n_ops ops from what it printed: text and stderr_text
 * (malloc'd; the transcript owns them now) and its exit status. */
void transcript_parse(struct transcript *t, char *text, char *stderr_text, int status,
                      int n_ops);
void transcript_free(struct transcript *t);

#endif
