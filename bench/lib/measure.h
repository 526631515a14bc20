/* measure - clocks and quantiles, for every bench. */
#ifndef BG_BENCH_MEASURE_H
#define BG_BENCH_MEASURE_H

double bench_now_ns(void);   /* wall clock (CLOCK_MONOTONIC) */
/* This thread's CPU time, user and system: what a call costs, without the time other
 * processes had the CPU meanwhile (a loaded 2-core machine preempts batches often). */
double bench_cpu_ns(void);
/* Time one(0) .. one(n-1) in groups of `group` calls; the median of the groups' mean
 * ns per call. A group is short enough that most run unpreempted, and the median drops
 * those that did not. */
double bench_time_ops(void (*one)(int i), int n, int group);
/* The q-quantile (0..1) of v[0..n), interpolated; NAN if n is 0 or any v is NAN.
 * Sorts v. */
double bench_quantile(double *v, int n, double q);

#endif
