/* Transforms of imported traces: spreading coarse timestamps, the time window and speed-up, and
 * rate scaling by seeded thinning or cloning. Each random transform draws from its own stream. A
 * request's token counts move with it; a clone has its original's. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_rng.h"

#include <math.h>
#include <stdlib.h>

void wl__arrivals_spread(struct wl_arrivals *a, double spread_s, uint64_t seed)
{
    if (spread_s <= 0)
        return;
    gsl_rng *rng = mx_rng_new(seed, "import/spread", 0);
    for (size_t i = 0; i < a->n; i++)
        a->time_s[i] += spread_s * gsl_rng_uniform(rng);
    gsl_rng_free(rng);
    wl__arrivals_sort(a);
    /* The last step covers [end, end + spread). */
    a->end_s += spread_s;
}

void wl__arrivals_window(struct wl_arrivals *a, double from_s, double to_s, double speed_up)
{
    bool bounded = to_s > 0;
    double end = bounded && to_s < a->end_s ? to_s : a->end_s;
    size_t kept = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->time_s[i] >= from_s && (!bounded || a->time_s[i] < to_s)) {
            wl__arrivals_move(a, kept, i);
            a->time_s[kept] = (a->time_s[i] - from_s) / speed_up;
            kept++;
        }
    a->n = kept;
    a->end_s = end > from_s ? (end - from_s) / speed_up : 0;
}

void wl__windows_clip(struct wl_windows *w, double from_s, double to_s, double speed_up)
{
    double first = INFINITY;
    for (size_t i = 0; i < w->n; i++)
        first = fmin(first, w->w[i].start_s);
    double origin = (w->n ? first : 0) + from_s;
    double end = w->end_s;
    if (to_s > 0 && first + to_s < end)
        end = first + to_s;
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct wl_window x = w->w[i];
        double lo = fmax(x.start_s, origin), hi = fmin(x.start_s + x.length_s, end);
        if (hi <= lo)
            continue;
        x.start_s = (lo - origin) / speed_up;
        x.length_s = (hi - lo) / speed_up;
        x.rate *= speed_up;
        w->w[kept++] = x;
    }
    w->n = kept;
    w->end_s = end > origin ? (end - origin) / speed_up : 0;
}

/* Clone: the extra copies of request i fall uniformly in the gap to the next request of its key
 * (the end of the trace for the last one), so the rate follows the trace's own shape. A copy has
 * its original's lengths but no block hashes: sharing them would make its whole prompt a prefix
 * hit, which no real repeat of a prompt promises. */
static void clone(struct wl_arrivals *a, double rate_scale, gsl_rng *rng)
{
    wl__arrivals_drop_hashes(a);
    size_t n = a->n;
    double *next = mx_malloc_array(n ? n : 1, sizeof(double));
    double *last_seen = mx_malloc_array(a->keys.n ? a->keys.n : 1, sizeof(double));
    for (uint32_t k = 0; k < a->keys.n; k++)
        last_seen[k] = a->end_s;
    for (size_t i = n; i-- > 0;) {
        next[i] = last_seen[a->key[i]];
        last_seen[a->key[i]] = a->time_s[i];
    }
    double whole = floor(rate_scale), frac = rate_scale - whole;
    for (size_t i = 0; i < n; i++) {
        unsigned extra = (unsigned)whole - 1 + (gsl_rng_uniform(rng) < frac);
        struct wl_request_tokens tokens =
            a->has_tokens ? a->tokens[i] : (struct wl_request_tokens){0};
        for (unsigned c = 0; c < extra; c++)
            wl__arrivals_push(a, a->time_s[i] + (next[i] - a->time_s[i]) * gsl_rng_uniform(rng),
                              a->key[i], &tokens);
    }
    free(last_seen);
    free(next);
    wl__arrivals_sort(a);
}

void wl__arrivals_rescale(struct wl_arrivals *a, double rate_scale, uint64_t seed)
{
    if (rate_scale == 1)
        return;
    gsl_rng *rng = mx_rng_new(seed, "import/rescale", 0);
    if (rate_scale > 1) {
        clone(a, rate_scale, rng);
    } else {
        size_t kept = 0;
        for (size_t i = 0; i < a->n; i++)
            if (gsl_rng_uniform(rng) < rate_scale)
                wl__arrivals_move(a, kept++, i);
        a->n = kept;
    }
    gsl_rng_free(rng);
}
