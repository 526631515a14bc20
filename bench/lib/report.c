/* report - the table a paired bench prints. */
#include "run.h"

#include <math.h>
#include <stdio.h>

static void format_value(enum bench_unit u, double v, char *buf, size_t len)
{
    if (!isfinite(v))
        snprintf(buf, len, "-");
    else if (u == BENCH_PER_S)
        snprintf(buf, len, "%.0f/s", v);
    else if (v >= 100000)
        snprintf(buf, len, "%.0f us", v / 1000);
    else
        snprintf(buf, len, "%.0f ns", v);
}

void report_target(const struct bench_row *row, char *buf, size_t len)
{
    char v[32];
    switch (row->goal) {
    case GOAL_RATIO_AT_MOST:
        snprintf(buf, len, "<=%.2fx", row->limit);
        return;
    case GOAL_RATIO_AT_LEAST:
        snprintf(buf, len, ">=%.2fx", row->limit);
        return;
    case GOAL_SHIM_AT_MOST:
        format_value(row->unit, row->limit, v, sizeof v);
        snprintf(buf, len, "shim<=%s", v);
        return;
    case GOAL_GROWTH_AT_MOST:
        snprintf(buf, len, "growth<=%.2fx", row->limit);
        return;
    case GOAL_NONE:
        break;
    }
    snprintf(buf, len, "-");
}

static const char *met_word(int met)
{
    return met < 0 ? "-" : met ? "yes" : "MISSED";
}

void report_table(const struct run *r, const struct figures *f)
{
    const struct bench *b = r->b;
    printf("\nbench %s: %s\n", b->name, b->what);
    printf("(%d alternating rounds after a warm-up; medians; ratio = median of the per-round "
           "shim/native pairs, [quartiles])\n", b->rounds);
    printf("%-46s %12s %12s %7s %15s %14s %6s\n", "", "native", "shim", "ratio",
           "[q1 - q3]", "target", "met");
    for (size_t i = 0; i < b->n_rows; i++) {
        char nat[32], shim[32], target[48], spread[32];
        format_value(b->rows[i].unit, f[i].side[0], nat, sizeof nat);
        format_value(b->rows[i].unit, f[i].side[1], shim, sizeof shim);
        report_target(&b->rows[i], target, sizeof target);
        snprintf(spread, sizeof spread, "[%.2f - %.2f]", f[i].q1, f[i].q3);
        printf("%-46s %12s %12s %6.2fx %15s %14s %6s\n", b->rows[i].name, nat, shim,
               f[i].ratio, spread, target, met_word(f[i].met));
    }
    for (size_t i = 0; i < b->n_rows; i++)
        if (b->rows[i].base)
            printf("  growth of \"%s\" over \"%s\": shim %.2fx, native %.2fx, "
                   "ratio %.2fx\n", b->rows[i].name, b->rows[i].base->name,
                   f[i].growth[1], f[i].growth[0], f[i].ratio_growth);
    for (int i = 0; i < r->n_notes; i++)
        printf("  note: %s\n", r->notes[i]);
    fflush(stdout);
}
