/* Trace statistics. Per-model arrival times are gathered once, then each stream is summarised the
 * same way: rate over the trace's window, CV of gaps, and peak-to-mean counts per window size. */
#include "wl_stats.h"

#include "mx_alloc.h"
#include "mx_stats.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

const double wl_stats_windows_s[WL_STATS_N_WINDOWS] = {1, 10, 60};

static double peak_to_mean(const double *t, size_t n, double start_s, double duration_s, double w)
{
    double full = floor(duration_s / w);
    if (full < 1 || full > 1e8)
        return NAN;
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
    for (size_t k = 0; k < windows; k++)
        if (counts[k] > peak)
            peak = counts[k];
    free(counts);
    if (counted == 0)
        return NAN;
    return (double)peak / ((double)counted / (double)windows);
}

static void summarise(const double *t, size_t n, double start_s, double duration_s,
                      struct wl_stream_stats *out)
{
    out->requests = n;
    out->rate = duration_s > 0 ? (double)n / duration_s : NAN;
    out->cv = mx_gap_cv(t, n);
    for (int w = 0; w < WL_STATS_N_WINDOWS; w++)
        out->peak_to_mean[w] = peak_to_mean(t, n, start_s, duration_s, wl_stats_windows_s[w]);
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
