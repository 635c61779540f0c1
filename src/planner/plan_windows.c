/* Windows of a workload: stretches of consecutive requests that mux simulates alone, from idle
 * groups (sim_eval_run_ranges), instead of the whole workload: around misses, around each model's
 * busiest moment, and evenly spread samples. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

size_t pl_request_at(const struct wl_trace *t, double t_s)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->arrival_s[mid] < t_s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The requests arriving in [from_s, to_s]. */
static void stretch(const struct wl_trace *t, double from_s, double to_s, size_t *range)
{
    range[0] = pl_request_at(t, from_s);
    range[1] = pl_request_at(t, nextafter(to_s, INFINITY));
}

struct counted {
    uint64_t misses;
    uint32_t window;
};

static int by_misses_desc(const void *a, const void *b)
{
    const struct counted *x = a, *y = b;
    if (x->misses != y->misses)
        return x->misses > y->misses ? -1 : 1;
    return (x->window > y->window) - (x->window < y->window);
}

uint32_t pl_miss_windows(const struct wl_trace *t, const uint32_t *miss, size_t n_miss,
                         double lead_s, double tail_s, size_t cap, size_t **ranges)
{
    size_t *r = MX_NEW_ARRAY(size_t, 2 * (n_miss ? n_miss : 1));
    struct counted *count = MX_NEW_ARRAY(struct counted, n_miss ? n_miss : 1);
    uint32_t n = 0;
    double from = 0, to = -INFINITY;
    for (size_t k = 0; k < n_miss; k++) {
        const double at = t->arrival_s[miss[k]];
        if (n == 0 || at - lead_s > to) {
            if (n)
                stretch(t, from, to, &r[2 * (n - 1)]);
            count[n] = (struct counted){0, n};
            n++;
            from = at - lead_s;
        }
        to = at + tail_s;
        count[n - 1].misses++;
    }
    if (n)
        stretch(t, from, to, &r[2 * (n - 1)]);
    size_t total = 0;
    for (uint32_t w = 0; w < n; w++)
        total += r[2 * w + 1] - r[2 * w];
    if (total > cap) {
        qsort(count, n, sizeof(*count), by_misses_desc);
        bool *keep = MX_NEW_ARRAY(bool, n);
        size_t held = 0;
        for (uint32_t k = 0; k < n; k++) {
            const uint32_t w = count[k].window;
            const size_t size = r[2 * w + 1] - r[2 * w];
            if (k == 0 || held + size <= cap) {
                keep[w] = true;
                held += size;
            }
        }
        uint32_t kept = 0;
        for (uint32_t w = 0; w < n; w++)
            if (keep[w]) {
                r[2 * kept] = r[2 * w];
                r[2 * kept + 1] = r[2 * w + 1];
                kept++;
            }
        n = kept;
        free(keep);
    }
    free(count);
    *ranges = r;
    return n;
}

void pl_model_peaks(const struct wl_trace *t, double width_s, double lead_s, double tail_s,
                    size_t *ranges)
{
    const uint32_t n_models = t->n_models;
    uint32_t *oldest = MX_NEW_ARRAY(uint32_t, n_models ? n_models : 1);
    uint32_t *count = MX_NEW_ARRAY(uint32_t, n_models ? n_models : 1);
    uint32_t *best = MX_NEW_ARRAY(uint32_t, n_models ? n_models : 1);
    uint32_t *last = MX_NEW_ARRAY(uint32_t, n_models ? n_models : 1);
    double *peak_s = MX_NEW_ARRAY(double, n_models ? n_models : 1);
    /* next[i]: the next request of request i's model, to move a model's oldest request on */
    uint32_t *next = MX_NEW_ARRAY(uint32_t, t->n ? t->n : 1);
    for (uint32_t m = 0; m < n_models; m++)
        last[m] = UINT32_MAX;
    for (size_t i = 0; i < t->n; i++) {
        const uint32_t m = (uint32_t)t->model[i];
        if (last[m] != UINT32_MAX)
            next[last[m]] = (uint32_t)i;
        last[m] = (uint32_t)i;
        if (count[m]++ == 0)
            oldest[m] = (uint32_t)i;
        while (t->arrival_s[oldest[m]] < t->arrival_s[i] - width_s) {
            oldest[m] = next[oldest[m]];
            count[m]--;
        }
        if (count[m] > best[m]) {
            best[m] = count[m];
            peak_s[m] = t->arrival_s[i];
        }
    }
    for (uint32_t m = 0; m < n_models; m++) {
        if (best[m])
            stretch(t, peak_s[m] - width_s - lead_s, peak_s[m] + tail_s, &ranges[2 * m]);
        else
            ranges[2 * m] = ranges[2 * m + 1] = 0;
    }
    free(oldest);
    free(count);
    free(best);
    free(last);
    free(peak_s);
    free(next);
}

uint32_t pl_sample_windows(const struct wl_trace *t, uint32_t n, double share, double min_s,
                           size_t **ranges, double *scale)
{
    size_t *r = MX_NEW_ARRAY(size_t, 2 * (size_t)(n ? n : 1));
    double len = share * t->duration_s / (n ? n : 1);
    if (len < min_s)
        len = min_s;
    uint32_t kept = 0;
    for (uint32_t k = 0; k < n; k++) {
        const double from = t->start_s + (t->duration_s - len) * k / (n > 1 ? n - 1 : 1);
        size_t range[2];
        stretch(t, from, from + len, range);
        if (kept && range[0] < r[2 * kept - 1])
            range[0] = r[2 * kept - 1];
        if (range[1] > range[0] || kept == 0) {
            r[2 * kept] = range[0];
            r[2 * kept + 1] = range[1] > range[0] ? range[1] : range[0];
            kept++;
        }
    }
    size_t rest = 0;
    for (uint32_t k = 1; k < kept; k++)
        rest += r[2 * k + 1] - r[2 * k];
    *scale = rest ? (double)(t->n - r[1]) / (double)rest : 0;
    *ranges = r;
    return kept;
}
