/* measure - see measure.h. */
#include "measure.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_time_ops(void (*one)(int i), int n, int group)
{
    int groups = group > 0 && n / group > 0 ? n / group : 1;
    group = n / groups;
    double mean[groups];
    for (int g = 0; g < groups; g++) {
        double t0 = bench_now_ns();
        for (int i = g * group; i < (g + 1) * group; i++)
            one(i);
        mean[g] = (bench_now_ns() - t0) / group;
    }
    return bench_quantile(mean, groups, 0.5);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, int n, double q)
{
    for (int i = 0; i < n; i++)
        if (isnan(v[i]))
            return NAN;
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double at = q * (n - 1);
    int lo = (int)at;
    return lo + 1 < n ? v[lo] + (at - lo) * (v[lo + 1] - v[lo]) : v[lo];
}
