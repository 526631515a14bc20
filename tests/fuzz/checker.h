/* checker - a fuzz case's three transcripts against each other and the model (test_fuzz).
 *
 * off must equal native line for line and log nothing. Each op of the enforcing run is
 * checked against the model (model.h): where bindguard answers by itself the answer must
 * be the model's; a refusal must come with exactly one log line whose cell maps to the
 * same errno, naming the binding socket's class and kind and a live binding that denies
 * it that much; a bind the model says must be refused must be, even where the kernel
 * refuses it too; everything else must equal native, unless tainted. After every op the
 * table must hold as many bindings as the model. */
#ifndef BG_FUZZ_CHECKER_H
#define BG_FUZZ_CHECKER_H

#include "case.h"
#include "model.h"
#include "transcript.h"

struct check {
    const struct fuzz_case *c;
    struct model m;
    const int *ports;          /* the enforcing run's */
    char why[2048];
    int at;                    /* the op that failed, -1 if none */
};

/* What the checked cases came to, for the summary line. */
struct totals {
    int cases, refusals, differences, ops;
};

/* The whole case (k->c, k->ports set); false with k->why and k->at on the first
 * unexplained line. Adds its refusals and differences from native to tot. */
bool check_case(struct check *k, struct transcript t[N_MODES], struct totals *tot);
/* Record a failure at op (-1: none in particular) in k; returns false. */
bool check_failed(struct check *k, int op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The whole story of a failed case on stderr, for the one reading the test log. */
void check_report(const struct check *k, struct transcript t[N_MODES]);

#endif
