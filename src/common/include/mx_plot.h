/* Line charts through gnuplot: the data as a TSV file plus the same chart as PNG and SVG.
 *
 * gnuplot runs as a child process reading a script on its standard input; every file is written
 * atomically (a temporary in the destination folder, then rename). */
#ifndef MX_PLOT_H
#define MX_PLOT_H

#include <stdbool.h>
#include <stddef.h>

struct mx_plot_series {
    const char *name; /* borrowed; the legend */
    const double *y;  /* borrowed; [n_points], NaN leaves a gap */
};

struct mx_plot {
    const char *title, *x_label, *y_label; /* borrowed */
    bool log_x, log_y;
    bool points; /* draw points and lines instead of lines */
    size_t n_points;
    const double *x; /* borrowed; [n_points] */
    size_t n_series;
    const struct mx_plot_series *series; /* borrowed; [n_series] */
    double hline;                        /* a dashed horizontal line at this y; NaN for none */
};

/* Write DIR/STEM.tsv, DIR/STEM.png and DIR/STEM.svg; DIR must exist. All three appear, or none: a
 * missing gnuplot or a failed run is MX_EIO naming the image and gnuplot's reason (gnuplot's own
 * messages are not printed). An axis without a range (no point, or one value: a trace of one
 * request) gets one around its value. In an output set, the files appear at the set's commit. */
int mx_plot_write(const struct mx_plot *p, const char *dir, const char *stem);

#endif
