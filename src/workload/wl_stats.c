/* Trace statistics. Per-model arrival times are gathered once, then each stream is summarised the
 * same way: rate over the trace's window, CV of gaps overall and per window, and the peak-to-mean
 * and dispersion of counts per window size; with token counts, each side's distribution. */
#include "wl_stats.h"

#include "mx_alloc.h"
#include "mx_stats.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Sort token counts (0 to 2^24: 25 bits) ascending: least significant digit radix
 * sort, three passes of 9 bits, through tmp[n]. A comparison sort of the 10 million counts of a
 * large trace took seconds; this takes a fraction of one. */
static void sort_tokens(uint32_t *v, size_t n, uint32_t *tmp)
{
    enum { BITS = 9, BUCKETS = 1 << BITS };
    for (int shift = 0; shift < 27; shift += BITS) {
        size_t count[BUCKETS + 1] = {0};
        for (size_t i = 0; i < n; i++)
            count[((v[i] >> shift) & (BUCKETS - 1)) + 1]++;
        for (int b = 0; b < BUCKETS; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            tmp[count[(v[i] >> shift) & (BUCKETS - 1)]++] = v[i];
        memcpy(v, tmp, n * sizeof(uint32_t));
    }
}

/* The nearest-rank q-quantile of n sorted counts (as mx_quantile_sorted). */
static double token_quantile(const uint32_t *sorted, size_t n, double q)
{
    double rank = ceil(q * (double)n);
    size_t index = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[index < n ? index : n - 1];
}

/* The distribution of n token counts (sorted in place) over a window of duration_s. */
static void summarise_tokens(uint32_t *v, uint32_t *tmp, size_t n, double duration_s,
                             struct wl_token_summary *out)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    if (n == 0) {
        *out = (struct wl_token_summary){NAN, NAN, NAN, NAN, NAN, duration_s > 0 ? 0 : NAN};
        return;
    }
    sort_tokens(v, n, tmp);
    out->mean = sum / (double)n;
    out->p50 = token_quantile(v, n, 0.5);
    out->p90 = token_quantile(v, n, 0.9);
    out->p99 = token_quantile(v, n, 0.99);
    out->max = v[n - 1];
    out->per_s = duration_s > 0 ? sum / duration_s : NAN;
}

/* Each side's distribution, overall and per model (offset: the counting sort's model ranges,
 * order: request indices by model). */
static void token_stats(const struct wl_trace *t, const size_t *offset, const size_t *order,
                        struct wl_trace_stats *out)
{
    uint32_t *v = mx_malloc_array(t->n, sizeof(uint32_t));
    uint32_t *tmp = mx_malloc_array(t->n, sizeof(uint32_t));
    for (int side = 0; side < 2; side++) {
        const int32_t *tokens = side ? t->output_tokens : t->input_tokens;
        for (size_t i = 0; i < t->n; i++)
            v[i] = (uint32_t)tokens[i];
        summarise_tokens(v, tmp, t->n, t->duration_s,
                         side ? &out->total.output : &out->total.input);
        for (uint32_t m = 0; m < t->n_models; m++) {
            size_t first = offset[m], n = offset[m + 1] - first;
            for (size_t j = 0; j < n; j++)
                v[j] = (uint32_t)tokens[order[first + j]];
            struct wl_stream_stats *s = &out->models[m];
            summarise_tokens(v, tmp, n, t->duration_s, side ? &s->output : &s->input);
        }
    }
    free(tmp);
    free(v);
}

void wl_trace_stats_compute(const struct wl_trace *t, struct wl_trace_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->start_s = t->start_s;
    out->duration_s = t->duration_s;
    out->n_models = t->n_models;
    out->models = MX_NEW_ARRAY(struct wl_stream_stats, t->n_models);
    summarise(t->arrival_s, t->n, t->start_s, t->duration_s, &out->total);

    /* Counting sort of the requests by model keeps each model's arrivals in time order. */
    size_t *offset = MX_NEW_ARRAY(size_t, (size_t)t->n_models + 1);
    double *by_model = mx_malloc_array(t->n, sizeof(double));
    /* Request indices by model, for the token figures alone. */
    size_t *order = wl_trace_has_tokens(t) ? mx_malloc_array(t->n, sizeof(size_t)) : NULL;
    for (size_t i = 0; i < t->n; i++)
        offset[t->model[i] + 1]++;
    for (uint32_t m = 0; m < t->n_models; m++)
        offset[m + 1] += offset[m];
    size_t *fill = MX_NEW_ARRAY(size_t, t->n_models);
    for (size_t i = 0; i < t->n; i++) {
        uint32_t m = (uint32_t)t->model[i];
        if (order)
            order[offset[m] + fill[m]] = i;
        by_model[offset[m] + fill[m]++] = t->arrival_s[i];
    }
    for (uint32_t m = 0; m < t->n_models; m++)
        summarise(by_model + offset[m], offset[m + 1] - offset[m], t->start_s, t->duration_s,
                  &out->models[m]);
    out->tokens = wl_trace_has_tokens(t);
    if (out->tokens) {
        token_stats(t, offset, order, out);
        wl_token_rate_compute(t, WL_STATS_TOKEN_WINDOWS, &out->token_rate);
    }
    free(order);
    free(fill);
    free(by_model);
    free(offset);
}

void wl_trace_stats_release(struct wl_trace_stats *s)
{
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
    wl_token_rate_release(&s->token_rate);
}

double wl_stats_bin_s(double duration_s, size_t max_windows)
{
    double target = duration_s / (double)max_windows, step = 1e-3;
    while (step < target) {
        static const double factors[3] = {2, 2.5, 2};
        for (int k = 0; k < 3 && step < target; k++)
            step *= factors[k];
    }
    return step;
}

void wl_token_rate_compute(const struct wl_trace *t, size_t max_windows, struct wl_token_rate *out)
{
    double duration = t->duration_s > 0 ? t->duration_s : 1;
    out->start_s = t->start_s;
    out->window_s = wl_stats_bin_s(duration, max_windows);
    out->n = (size_t)ceil(duration / out->window_s);
    if (out->n > max_windows) /* rounding of duration / window */
        out->n = max_windows;
    out->input_per_s = MX_NEW_ARRAY(double, out->n);
    out->output_per_s = MX_NEW_ARRAY(double, out->n);
    for (size_t i = 0; i < t->n; i++) {
        double k = floor((t->arrival_s[i] - t->start_s) / out->window_s);
        if (!(k >= 0 && k < (double)out->n))
            continue;
        out->input_per_s[(size_t)k] += t->input_tokens[i];
        out->output_per_s[(size_t)k] += t->output_tokens[i];
    }
    /* The last window may end past the trace's: its rate is over the part inside. */
    for (size_t k = 0; k < out->n; k++) {
        double inside = fmin(out->window_s, duration - (double)k * out->window_s);
        out->input_per_s[k] /= inside;
        out->output_per_s[k] /= inside;
    }
}

void wl_token_rate_release(struct wl_token_rate *r)
{
    free(r->input_per_s);
    free(r->output_per_s);
    r->input_per_s = r->output_per_s = NULL;
    r->n = 0;
}

/* The bin of count v >= 1: the last edge at or below it. */
static size_t histogram_bin(const double *lower, size_t n, double v)
{
    size_t lo = 0, hi = n; /* lower[lo] <= v < lower[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (lower[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void wl_token_histogram_compute(const struct wl_trace *t, struct wl_token_histogram *out)
{
    int32_t largest = 1;
    for (size_t i = 0; i < t->n; i++) {
        largest = t->input_tokens[i] > largest ? t->input_tokens[i] : largest;
        largest = t->output_tokens[i] > largest ? t->output_tokens[i] : largest;
    }
    /* Edges ceil(2^(j/4)) without repeats, up to the first past the largest count. */
    size_t cap = 128;
    double *edges = mx_malloc_array(cap, sizeof(double));
    size_t n_edges = 0;
    for (int j = 0; n_edges == 0 || edges[n_edges - 1] <= largest; j++) {
        double e = ceil(pow(2, j / 4.0) - 1e-9);
        if (n_edges > 0 && e <= edges[n_edges - 1])
            continue;
        if (n_edges == cap)
            edges = mx_realloc_array(edges, cap *= 2, sizeof(double));
        edges[n_edges++] = e;
    }
    out->n = n_edges - 1;
    out->lower = edges;
    out->input_share = MX_NEW_ARRAY(double, out->n);
    out->output_share = MX_NEW_ARRAY(double, out->n);
    for (size_t i = 0; i < t->n; i++) {
        out->input_share[histogram_bin(edges, n_edges, t->input_tokens[i])] += 1.0 / (double)t->n;
        out->output_share[histogram_bin(edges, n_edges, t->output_tokens[i])] += 1.0 / (double)t->n;
    }
}

void wl_token_histogram_release(struct wl_token_histogram *h)
{
    free(h->lower);
    free(h->input_share);
    free(h->output_share);
    memset(h, 0, sizeof(*h));
}
