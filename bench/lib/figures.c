/* figures - each row's medians, ratio quartiles, growth and target, from its samples. */
#include "run.h"

#include <math.h>
#include <string.h>

static void figure_row(struct run *r, size_t i, struct figures *f)
{
    int n = r->b->rounds;
    double v[n], pair[n];
    for (int s = 0; s < SIDES; s++) {
        memcpy(v, run_sample_at(r, i, s, 0), sizeof v);
        f->side[s] = bench_quantile(v, n, 0.5);
    }
    for (int k = 0; k < n; k++)
        pair[k] = *run_sample_at(r, i, 1, k) / *run_sample_at(r, i, 0, k);
    memcpy(v, pair, sizeof v);
    f->ratio = bench_quantile(v, n, 0.5);
    f->q1 = bench_quantile(pair, n, 0.25);
    f->q3 = bench_quantile(pair, n, 0.75);
}

static void judge_row(const struct bench_row *row, const struct figures *base, struct figures *f)
{
    for (int s = 0; s < SIDES; s++)
        f->growth[s] = base ? f->side[s] / base->side[s] : NAN;
    f->ratio_growth = base ? f->ratio / base->ratio : NAN;
    double got;
    switch (row->goal) {
    case GOAL_RATIO_AT_MOST:
    case GOAL_RATIO_AT_LEAST:
        got = f->ratio;
        break;
    case GOAL_SHIM_AT_MOST:
        got = f->side[1];
        break;
    case GOAL_GROWTH_AT_MOST:
        got = f->ratio_growth;
        break;
    default:
        f->met = -1;
        return;
    }
    if (!isfinite(got))
        f->met = -1;
    else
        f->met = row->goal == GOAL_RATIO_AT_LEAST ? got >= row->limit : got <= row->limit;
}

void figures_of(struct run *r, struct figures *f)
{
    const struct bench *b = r->b;
    for (size_t i = 0; i < b->n_rows; i++)
        figure_row(r, i, &f[i]);
    for (size_t i = 0; i < b->n_rows; i++)
        judge_row(&b->rows[i], b->rows[i].base ? &f[b->rows[i].base - b->rows] : NULL, &f[i]);
}
