/* Trace statistics: request counts, rates, burstiness (CV of gaps, per window and overall, index of
 * dispersion of counts) and peak-to-mean rates. */
#ifndef WL_STATS_H
#define WL_STATS_H

#include <stddef.h>
#include <stdint.h>

struct wl_trace;

/* Window lengths (seconds) of the peak-to-mean and dispersion figures. */
#define WL_STATS_N_WINDOWS 3
extern const double wl_stats_windows_s[WL_STATS_N_WINDOWS]; /* 1, 10, 60 */

/* The window (seconds) of the per-window CV, and the fewest arrivals a window needs for its CV. */
#define WL_STATS_CV_WINDOW_S 60.0
#define WL_STATS_CV_MIN_ARRIVALS 3

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
};

struct wl_trace_stats {
    double start_s, duration_s;   /* the trace's window */
    struct wl_stream_stats total; /* all models together */
    uint32_t n_models;
    struct wl_stream_stats *models; /* [n_models], in the trace's model order */
};

/* Compute statistics of t over its window [start_s, start_s + duration_s): windows of w seconds
 * start at start_s, and a trailing partial window is left out of the peak-to-mean. Release with
 * wl_trace_stats_release(). */
void wl_trace_stats_compute(const struct wl_trace *t, struct wl_trace_stats *out);
void wl_trace_stats_release(struct wl_trace_stats *s);

#endif
