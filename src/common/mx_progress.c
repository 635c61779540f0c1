/* The progress line (mx_progress.h). */
#include "mx_progress.h"

#include "mx_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Below this much work the line is not worth drawing; redrawn at most this often. */
static const double show_after_s = 1.0, redraw_every_s = 0.1;

void mx_progress_begin(struct mx_progress *p, const char *what)
{
    snprintf(p->what, sizeof(p->what), "%s", what);
    p->started_s = mx_wall_s();
    p->drawn_s = 0;
    p->terminal = isatty(STDERR_FILENO);
    p->shown = false;
    p->detail[0] = '\0';
}

void mx_progress_on(struct mx_progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
    va_end(ap);
}

void mx_progress_show(struct mx_progress *p, double share, const char *detail)
{
    if (!p->terminal)
        return;
    double now = mx_wall_s(), elapsed = now - p->started_s;
    if (elapsed < show_after_s || now - p->drawn_s < redraw_every_s)
        return;
    p->drawn_s = now;
    p->shown = true;
    if (!detail && p->detail[0])
        detail = p->detail;
    char left[48] = "";
    if (share > 0.01 && share < 1)
        snprintf(left, sizeof(left), ", about %.0f s left", elapsed / share * (1 - share));
    if (share >= 0)
        fprintf(stderr, "\r\033[Kmuxplan: %s%s%s: %.0f%%, %.0f s%s", p->what, detail ? " " : "",
                detail ? detail : "", 100 * share, elapsed, left);
    else
        fprintf(stderr, "\r\033[Kmuxplan: %s%s%s: %.0f s", p->what, detail ? " " : "",
                detail ? detail : "", elapsed);
    fflush(stderr);
}

void mx_progress_end(struct mx_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
    p->shown = false;
}

static void show_share(void *arg, double share)
{
    mx_progress_show(arg, share, NULL);
}

struct mx_progress_sink mx_progress_sink(struct mx_progress *p)
{
    return (struct mx_progress_sink){show_share, p};
}

static void report_within(void *arg, double share)
{
    const struct mx_progress_span *span = arg;
    mx_progress_report(&span->parent, span->lo + (span->hi - span->lo) * share);
}

struct mx_progress_sink mx_progress_within(struct mx_progress_span *span,
                                           const struct mx_progress_sink *parent, double lo,
                                           double hi)
{
    *span = (struct mx_progress_span){parent ? *parent : (struct mx_progress_sink){0}, lo, hi};
    return (struct mx_progress_sink){span->parent.report ? report_within : NULL, span};
}
