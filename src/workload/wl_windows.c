/* Rate windows: fitting them to arrivals (AlpaServe's windowed Gamma refit) and generating
 * requests from them. Each window is generated on its own, starting at the window's start: a
 * renewal process per window, so a window's requests depend only on its own rate and gaps. Each
 * key draws from its own stream ("import/arrivals", key), windows in time order, and its requests'
 * lengths from another ("import/lengths", key), so that lengths leave the arrivals as they were. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "mx_stats.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>

/* A window stops drawing past this multiple of its expected count: no runaway on a bad draw. */
#define MAX_WINDOW_OVERSHOOT 100.0

/* Indices of items grouped by key (counting sort; order within a key kept). offset[k] .. offset[k +
 * 1] are key k's. */
static void group_by_key(const uint32_t *key, size_t stride, size_t n, uint32_t n_keys,
                         size_t **offset_out, size_t **order_out)
{
    size_t *offset = MX_NEW_ARRAY(size_t, (size_t)n_keys + 1);
    size_t *order = mx_malloc_array(n, sizeof(size_t));
    size_t *fill = MX_NEW_ARRAY(size_t, n_keys);
    for (size_t i = 0; i < n; i++)
        offset[*(const uint32_t *)((const char *)key + i * stride) + 1]++;
    for (uint32_t k = 0; k < n_keys; k++)
        offset[k + 1] += offset[k];
    for (size_t i = 0; i < n; i++) {
        uint32_t k = *(const uint32_t *)((const char *)key + i * stride);
        order[offset[k] + fill[k]++] = i;
    }
    free(fill);
    *offset_out = offset;
    *order_out = order;
}

void wl__windows_fit(const struct wl_arrivals *a, double window_s, struct wl_windows *out)
{
    size_t *offset, *order;
    group_by_key(a->key, sizeof(uint32_t), a->n, a->keys.n, &offset, &order);
    double *times = mx_malloc_array(a->n ? a->n : 1, sizeof(double));
    for (uint32_t k = 0; k < a->keys.n; k++)
        wl__keys_intern(&out->keys, a->keys.names[k]);
    size_t n_windows = (size_t)ceil(a->end_s / window_s);
    if (n_windows == 0)
        n_windows = 1;
    for (uint32_t k = 0; k < a->keys.n; k++) {
        size_t first = offset[k], last = offset[k + 1], i = first;
        for (size_t j = first; j < last; j++)
            times[j] = a->time_s[order[j]];
        uint32_t lengths_id = 0;
        if (a->has_tokens && last > first) {
            /* The key's own (input, output) pairs, jointly: its generated requests draw them. */
            int32_t *input = mx_malloc_array(last - first, sizeof(int32_t));
            int32_t *output = mx_malloc_array(last - first, sizeof(int32_t));
            for (size_t j = first; j < last; j++) {
                input[j - first] = a->tokens[order[j]].input;
                output[j - first] = a->tokens[order[j]].output;
            }
            lengths_id = wl__windows_add_lengths(
                out, wl_lengths_empirical(last - first, input, output, a->keys.names[k]));
            free(input);
            free(output);
        }
        for (size_t w = 0; w < n_windows; w++) {
            double start = (double)w * window_s;
            double length = w + 1 < n_windows ? window_s : a->end_s - start;
            size_t begin = i;
            while (i < last && (times[i] < start + window_s || w + 1 == n_windows))
                i++;
            size_t count = i - begin;
            if (count == 0 || length <= 0)
                continue;
            double cv = count >= 3 ? mx_gap_cv(times + begin, count) : NAN;
            wl__windows_push(out, &(struct wl_window){.key = k,
                                                      .start_s = start,
                                                      .length_s = length,
                                                      .rate = (double)count / length,
                                                      .cv = isfinite(cv) ? cv : 1,
                                                      .dist = WL_GAPS_GAMMA_CV,
                                                      .lengths_id = lengths_id});
        }
    }
    out->end_s = a->end_s;
    free(times);
    free(order);
    free(offset);
}

/* One gap of window w at the scaled rate: mean 1 / rate. */
static double draw_gap(gsl_rng *rng, const struct wl_window *w, double rate, double cv_scale)
{
    double mean = 1.0 / rate;
    if (w->dist == WL_GAPS_GAMMA_FIT && cv_scale == 1)
        return gsl_ran_gamma(rng, w->shape, w->scale) * mean / (w->shape * w->scale);
    if (w->dist == WL_GAPS_WEIBULL_FIT && cv_scale == 1)
        return gsl_ran_weibull(rng, w->scale, w->shape) * mean /
               (w->scale * gsl_sf_gamma(1 + 1 / w->shape));
    double cv = w->cv * cv_scale;
    if (cv <= 0)
        return mean;
    return gsl_ran_gamma(rng, 1 / (cv * cv), cv * cv * mean);
}

int wl__windows_generate(const struct wl_windows *w, double rate_scale, double cv_scale,
                         uint64_t seed, const char *path, struct wl_arrivals *out)
{
    double expected = 0;
    for (size_t i = 0; i < w->n; i++)
        expected += w->w[i].rate * rate_scale * w->w[i].length_s;
    if (expected > WL_IMPORT_MAX_REQUESTS)
        return mx_error(MX_EINPUT,
                        "%s: the trace would hold about %.3g requests (at most %.3g); choose a "
                        "shorter window with --from/--to or a smaller --rate-scale",
                        path, expected, WL_IMPORT_MAX_REQUESTS);
    for (uint32_t k = 0; k < w->keys.n; k++)
        wl__keys_intern(&out->keys, w->keys.names[k]);
    out->has_tokens = w->n_lengths > 0;
    size_t *offset, *order;
    group_by_key(&w->w[0].key, sizeof(struct wl_window), w->n, w->keys.n, &offset, &order);
    int rc = MX_OK;
    for (uint32_t k = 0; rc == MX_OK && k < w->keys.n; k++) {
        gsl_rng *rng = mx_rng_new(seed, "import/arrivals", k);
        gsl_rng *lengths_rng = out->has_tokens ? mx_rng_new(seed, "import/lengths", k) : NULL;
        for (size_t j = offset[k]; rc == MX_OK && j < offset[k + 1]; j++) {
            const struct wl_window *window = &w->w[order[j]];
            double rate = window->rate * rate_scale, end = window->start_s + window->length_s;
            if (rate <= 0)
                continue;
            if (out->has_tokens && window->lengths_id == 0)
                MX_BUG("window %zu of key %u has traffic but no lengths", order[j], k);
            const struct wl_lengths *lengths =
                out->has_tokens ? w->lengths[window->lengths_id - 1] : NULL;
            double limit = MAX_WINDOW_OVERSHOOT * rate * window->length_s + 1000;
            double t = window->start_s + draw_gap(rng, window, rate, cv_scale);
            for (double drawn = 0; t < end && drawn < limit; drawn++) {
                struct wl_request_tokens tokens = {0};
                if (lengths &&
                    !wl_lengths_draw(lengths, lengths_rng, &tokens.input, &tokens.output)) {
                    rc = mx_error(MX_EINPUT,
                                  "%s: %d pairs in a row did not fit 1 <= tokens and input plus "
                                  "output <= %u",
                                  wl_lengths_where(lengths), WL_LENGTHS_MAX_REDRAWS,
                                  wl_lengths_max_tokens(lengths));
                    break;
                }
                wl__arrivals_push(out, t, k, &tokens);
                t += draw_gap(rng, window, rate, cv_scale);
            }
        }
        if (lengths_rng)
            gsl_rng_free(lengths_rng);
        gsl_rng_free(rng);
    }
    free(order);
    free(offset);
    if (rc < 0)
        return rc;
    wl__arrivals_sort(out);
    out->end_s = w->end_s;
    return MX_OK;
}
