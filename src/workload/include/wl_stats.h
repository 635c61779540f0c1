/* Trace statistics: request counts, rates, burstiness (CV of gaps, per window and overall, index of
 * dispersion of counts) and peak-to-mean rates; for traces with token counts, the distributions of
 * input and output tokens, tokens per second over time, and a histogram of lengths. */
#ifndef WL_STATS_H
#define WL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wl_trace;

/* Window lengths (seconds) of the peak-to-mean and dispersion figures. */
#define WL_STATS_N_WINDOWS 3
extern const double wl_stats_windows_s[WL_STATS_N_WINDOWS]; /* 1, 10, 60 */

/* The window (seconds) of the per-window CV, and the fewest arrivals a window needs for its CV. */
#define WL_STATS_CV_WINDOW_S 60.0
#define WL_STATS_CV_MIN_ARRIVALS 3

/* The most windows of the tokens-per-second series of the statistics. */
#define WL_STATS_TOKEN_WINDOWS 50

/* How a token count is distributed over requests (nearest-rank percentiles, mx_stats.h); NaN
 * without requests. per_s is the count summed over requests per second of the trace's window. */
struct wl_token_summary {
    double mean, p50, p90, p99, max;
    double per_s;
};

/* Figures for one stream of arrivals. Undefined values are NaN. */
struct wl_stream_stats {
    size_t requests;
    double rate;                             /* requests / duration */
    double cv;                               /* CV of gaps between consecutive arrivals */
    double peak_to_mean[WL_STATS_N_WINDOWS]; /* max window count / mean window count; NaN when
                                                the duration holds no whole window */
    double dispersion[WL_STATS_N_WINDOWS];   /* index of dispersion: variance / mean of the
                                                window counts (1 for Poisson); NaN likewise */
    double window_cv_mean, window_cv_median; /* CV of gaps inside each WL_STATS_CV_WINDOW_S window
                                                with enough arrivals; NaN when none has */
    size_t cv_windows;                       /* windows that had a CV */
    struct wl_token_summary input, output;   /* traces with token counts only */
};

/* Input and output tokens per second of all models in n windows of window_s seconds from start_s
 * (requests of the trace's window; a request counts in the window of its arrival; the last window
 * is cut at the trace's end, and its rate is over the part inside). */
struct wl_token_rate {
    double start_s, window_s;
    size_t n;
    double *input_per_s, *output_per_s; /* [n] */
};

struct wl_trace_stats {
    double start_s, duration_s;   /* the trace's window */
    struct wl_stream_stats total; /* all models together */
    uint32_t n_models;
    struct wl_stream_stats *models;  /* [n_models], in the trace's model order */
    bool tokens;                     /* the trace has token counts: the token figures are set */
    struct wl_token_rate token_rate; /* at most WL_STATS_TOKEN_WINDOWS windows (wl_stats_bin_s) */
};

/* Compute statistics of t over its window [start_s, start_s + duration_s): windows of w seconds
 * start at start_s, and a trailing partial window is left out of the peak-to-mean. Release with
 * wl_trace_stats_release(). */
void wl_trace_stats_compute(const struct wl_trace *t, struct wl_trace_stats *out);
void wl_trace_stats_release(struct wl_trace_stats *s);

/* The smallest window of a 1-2-5 series of seconds (1 ms, 2 ms, 5 ms, 10 ms, ...) that cuts
 * duration_s (> 0) into at most max_windows. */
double wl_stats_bin_s(double duration_s, size_t max_windows);

/* Tokens per second of t (which has token counts) over its window in windows of a 1-2-5 width, at
 * most max_windows of them. Release with wl_token_rate_release(). */
void wl_token_rate_compute(const struct wl_trace *t, size_t max_windows, struct wl_token_rate *out);
void wl_token_rate_release(struct wl_token_rate *r);

/* A histogram of the token counts of t's requests (t has token counts) over bins a quarter octave
 * wide with whole-number edges: bin k holds counts in [lower[k], lower[k + 1]), the edges being
 * ceil(2^(j/4)) for j = 0, 1, ..., without repeats, up to past the largest count. input_share and
 * output_share are the fractions of requests in each bin. Release with
 * wl_token_histogram_release().
 */
struct wl_token_histogram {
    size_t n;
    double *lower;                      /* [n + 1] edges */
    double *input_share, *output_share; /* [n] */
};
void wl_token_histogram_compute(const struct wl_trace *t, struct wl_token_histogram *out);
void wl_token_histogram_release(struct wl_token_histogram *h);

#endif
