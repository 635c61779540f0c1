/* Small statistics shared by trace stats and simulator metrics. */
#ifndef MX_STATS_H
#define MX_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Sort v ascending in place. */
void mx_sort_f64(double *v, size_t n);

/* The q-quantile (0 <= q <= 1) of sorted data by nearest rank: sorted[ceil(q n) - 1], the smallest
 * value with at least a fraction q of the data at or below it; q = 0 gives the minimum. NaN when
 * n == 0. */
double mx_quantile_sorted(const double *sorted, size_t n, double q);

/* Mean of v; NaN when n == 0. */
double mx_mean(const double *v, size_t n);

/* Coefficient of variation (population standard deviation / mean) of the n - 1 gaps between
 * consecutive sorted times t. NaN with fewer than two gaps or a zero mean gap. */
double mx_gap_cv(const double *t, size_t n);

/* A percentile bootstrap confidence interval for the mean of v (NaN values left out): the mean of
 * each of `resamples` resamples of the values with replacement, drawn from the stream of seed, and
 * the (1 - level) / 2 and (1 + level) / 2 quantiles of those means in *lo and *hi. With no value,
 * both NaN; with one, both that value. Cost: O(resamples x n). */
void mx_bootstrap_mean_ci(const double *v, size_t n, uint32_t resamples, double level,
                          uint64_t seed, double *lo, double *hi);

#endif
