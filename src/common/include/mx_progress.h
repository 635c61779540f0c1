/* A progress line on standard error: shown only when standard error is a terminal and the work has
 * already taken more than a second, redrawn at most ten times a second, and erased or finished with
 * a line break at the end. Commands own one; library code reports into it through a callback
 * (struct mx_progress_sink), so it never prints. */
#ifndef MX_PROGRESS_H
#define MX_PROGRESS_H

#include <stdbool.h>

struct mx_progress {
    char what[64];    /* read-only: "plan alpaserve", "capacity" */
    char detail[64];  /* read-only: what on, now (mx_progress_on); "" for nothing */
    double started_s; /* private */
    double drawn_s;   /* private: when the line was last drawn */
    bool terminal;    /* private */
    bool shown;       /* private: a line is on the screen */
};

/* Where library code reports how far it is: report(arg, share) with share in [0, 1]. A NULL report
 * drops it. */
struct mx_progress_sink {
    void (*report)(void *arg, double share);
    void *arg;
};

/* Start timing work called what. */
void mx_progress_begin(struct mx_progress *p, const char *what);

/* The work is share done (in [0, 1]; negative: unknown); detail (NULL: mx_progress_on's) says on
 * what. The
 * line shows what, the share, the time so far and, from the share, the time left. Cheap when not
 * drawn: callers may report often. */
void mx_progress_show(struct mx_progress *p, double share, const char *detail);

/* Say what the work is on now ("12 devices"), for the reports that give no detail. */
void mx_progress_on(struct mx_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* End the line (a line break after the last drawing). */
void mx_progress_end(struct mx_progress *p);

/* A sink that shows into p (whose what and timing it keeps). */
struct mx_progress_sink mx_progress_sink(struct mx_progress *p);

/* A part of a sink's work: what reports into it maps its [0, 1] onto [lo, hi] of the parent. */
struct mx_progress_span {
    struct mx_progress_sink parent;
    double lo, hi;
};

/* A sink for the part [lo, hi] of parent (which may be NULL or have no report: then nothing is
 * reported). span holds it and must outlive the sink's use. */
struct mx_progress_sink mx_progress_within(struct mx_progress_span *span,
                                           const struct mx_progress_sink *parent, double lo,
                                           double hi);

/* Report share into a sink (nothing when it has no report). */
static inline void mx_progress_report(const struct mx_progress_sink *s, double share)
{
    if (s && s->report)
        s->report(s->arg, share);
}

#endif
