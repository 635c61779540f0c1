/* Percentiles by nearest rank, means, and the CV of inter-arrival gaps (Welford's update, so long
 * traces with tiny gaps keep their precision). */
#include "mx_stats.h"

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
