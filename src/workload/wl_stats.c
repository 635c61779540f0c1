/* Trace statistics. Per-model arrival times are gathered once, then each stream is summarised the
 * same way: rate over the trace's window, CV of gaps overall and per window, and the peak-to-mean
 * and dispersion of counts per window size. */
#include "wl_stats.h"

#include "mx_alloc.h"
#include "mx_stats.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

const double wl_stats_windows_s[WL_STATS_N_WINDOWS] = {1, 10, 60};

/* Peak-to-mean and index of dispersion of the counts in whole windows of w seconds. */
static void window_counts(const double *t, size_t n, double start_s, double duration_s, double w,
                          double *peak_to_mean, double *dispersion)
{
    double full = floor(duration_s / w);
    *peak_to_mean = *dispersion = NAN;
    if (full < 1 || full > 1e8)
        return;
    size_t windows = (size_t)full;
    uint64_t *counts = MX_NEW_ARRAY(uint64_t, windows);
    uint64_t counted = 0, peak = 0;
    for (size_t i = 0; i < n; i++) {
        double k = floor((t[i] - start_s) / w);
        if (k >= 0 && k < full) {
            counts[(size_t)k]++;
            counted++;
        }
    }
    double mean = (double)counted / (double)windows, square_sum = 0;
    for (size_t k = 0; k < windows; k++) {
        if (counts[k] > peak)
            peak = counts[k];
        square_sum += ((double)counts[k] - mean) * ((double)counts[k] - mean);
    }
    free(counts);
    if (counted == 0)
        return;
    *peak_to_mean = (double)peak / mean;
    *dispersion = square_sum / (double)windows / mean;
}

/* Mean and median of the gap CV inside each window that holds enough arrivals. */
static void window_cvs(const double *t, size_t n, double start_s, struct wl_stream_stats *out)
{
    size_t cap = 64, count = 0;
    double *cvs = mx_malloc_array(cap, sizeof(double));
    for (size_t i = 0; i < n;) {
        double k = floor((t[i] - start_s) / WL_STATS_CV_WINDOW_S);
        size_t j = i;
        while (j < n && floor((t[j] - start_s) / WL_STATS_CV_WINDOW_S) == k)
            j++;
        double cv = j - i >= WL_STATS_CV_MIN_ARRIVALS ? mx_gap_cv(t + i, j - i) : NAN;
        if (isfinite(cv)) {
            if (count == cap)
                cvs = mx_realloc_array(cvs, cap *= 2, sizeof(double));
            cvs[count++] = cv;
        }
        i = j;
    }
    out->cv_windows = count;
    out->window_cv_mean = mx_mean(cvs, count);
    mx_sort_f64(cvs, count);
    out->window_cv_median = mx_quantile_sorted(cvs, count, 0.5);
    free(cvs);
}

static void summarise(const double *t, size_t n, double start_s, double duration_s,
                      struct wl_stream_stats *out)
{
    out->requests = n;
    out->rate = duration_s > 0 ? (double)n / duration_s : NAN;
    out->cv = mx_gap_cv(t, n);
    for (int w = 0; w < WL_STATS_N_WINDOWS; w++)
        window_counts(t, n, start_s, duration_s, wl_stats_windows_s[w], &out->peak_to_mean[w],
                      &out->dispersion[w]);
    window_cvs(t, n, start_s, out);
}

void wl_trace_stats_compute(const struct wl_trace *t, struct wl_trace_stats *out)
{
    out->start_s = t->start_s;
    out->duration_s = t->duration_s;
    out->n_models = t->n_models;
    out->models = MX_NEW_ARRAY(struct wl_stream_stats, t->n_models);
    summarise(t->arrival_s, t->n, t->start_s, t->duration_s, &out->total);

    /* Counting sort of the requests by model keeps each model's arrivals in time order. */
    size_t *offset = MX_NEW_ARRAY(size_t, (size_t)t->n_models + 1);
    double *by_model = mx_malloc_array(t->n, sizeof(double));
    for (size_t i = 0; i < t->n; i++)
        offset[t->model[i] + 1]++;
    for (uint32_t m = 0; m < t->n_models; m++)
        offset[m + 1] += offset[m];
    size_t *fill = MX_NEW_ARRAY(size_t, t->n_models);
    for (size_t i = 0; i < t->n; i++) {
        uint32_t m = (uint32_t)t->model[i];
        by_model[offset[m] + fill[m]++] = t->arrival_s[i];
    }
    for (uint32_t m = 0; m < t->n_models; m++)
        summarise(by_model + offset[m], offset[m + 1] - offset[m], t->start_s, t->duration_s,
                  &out->models[m]);
    free(fill);
    free(by_model);
    free(offset);
}

void wl_trace_stats_release(struct wl_trace_stats *s)
{
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
}
