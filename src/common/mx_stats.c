/* Percentiles by nearest rank, means, the CV of inter-arrival gaps (Welford's update, so long
 * traces with tiny gaps keep their precision), and bootstrap intervals for means. */
#include "mx_stats.h"

#include "mx_alloc.h"
#include "mx_rng.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

static int compare_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void mx_sort_f64(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(double), compare_f64);
}

double mx_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double rank = ceil(q * (double)n);
    size_t index = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[index < n ? index : n - 1];
}

double mx_mean(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return sum / (double)n;
}

double mx_gap_cv(const double *t, size_t n)
{
    if (n < 3)
        return NAN;
    double mean = 0, m2 = 0;
    for (size_t i = 1; i < n; i++) {
        double gap = t[i] - t[i - 1];
        double delta = gap - mean;
        mean += delta / (double)i;
        m2 += delta * (gap - mean);
    }
    if (mean <= 0)
        return NAN;
    return sqrt(m2 / (double)(n - 1)) / mean;
}

void mx_bootstrap_mean_ci(const double *v, size_t n, uint32_t resamples, double level,
                          uint64_t seed, double *lo, double *hi)
{
    double *x = mx_malloc_array(n ? n : 1, sizeof(double));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            x[m++] = v[i];
    if (m <= 1 || resamples == 0) {
        *lo = *hi = m ? x[0] : NAN;
        free(x);
        return;
    }
    double *means = mx_malloc_array(resamples, sizeof(double));
    gsl_rng *rng = mx_rng_new(seed, "bootstrap", 0);
    for (uint32_t r = 0; r < resamples; r++) {
        double sum = 0;
        for (size_t i = 0; i < m; i++)
            sum += x[gsl_rng_uniform_int(rng, m)];
        means[r] = sum / (double)m;
    }
    gsl_rng_free(rng);
    mx_sort_f64(means, resamples);
    *lo = mx_quantile_sorted(means, resamples, (1 - level) / 2);
    *hi = mx_quantile_sorted(means, resamples, (1 + level) / 2);
    free(means);
    free(x);
}
