/* mx_plot_write(): data file, gnuplot script, and the two images committed only when gnuplot
 * succeeded. */
#include "mx_plot.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int write_data(const struct mx_plot *p, const char *path)
{
    struct mx_out out;
    char number[32];
    int rc = mx_out_begin(path, true, &out);
    if (rc < 0)
        return rc;
    fputs("x", out.fp);
    for (size_t s = 0; s < p->n_series; s++) {
        fputc('\t', out.fp);
        mx_csv_write_field(out.fp, p->series[s].name, '\t');
    }
    fputc('\n', out.fp);
    for (size_t i = 0; i < p->n_points; i++) {
        mx_format_f64(number, p->x[i]);
        fputs(number, out.fp);
        for (size_t s = 0; s < p->n_series; s++) {
            double y = p->series[s].y[i];
            if (isfinite(y))
                mx_format_f64(number, y);
            fprintf(out.fp, "\t%s", isfinite(y) ? number : "NaN");
        }
        fputc('\n', out.fp);
    }
    return mx_out_commit(&out);
}

/* gnuplot's double-quoted string of s. */
static void put_quoted(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void write_script(FILE *fp, const struct mx_plot *p, const char *data, const char *png,
                         const char *svg)
{
    fputs("set datafile separator \"\\t\"\nset datafile missing \"NaN\"\nset key outside right\n"
          "set grid\n",
          fp);
    fputs("set title ", fp);
    put_quoted(fp, p->title);
    fputs("\nset xlabel ", fp);
    put_quoted(fp, p->x_label);
    fputs("\nset ylabel ", fp);
    put_quoted(fp, p->y_label);
    fputc('\n', fp);
    if (p->log_x)
        fputs("set logscale x\n", fp);
    if (p->log_y)
        fputs("set logscale y\n", fp);
    if (isfinite(p->hline))
        fprintf(fp, "set arrow from graph 0, first %.17g to graph 1, first %.17g nohead dt 2\n",
                p->hline, p->hline);
    static const char *const terminals[2] = {"pngcairo noenhanced size 1000,600",
                                             "svg noenhanced size 1000,600"};
    const char *outputs[2] = {png, svg};
    for (int k = 0; k < 2; k++) {
        fprintf(fp, "set terminal %s\nset output ", terminals[k]);
        put_quoted(fp, outputs[k]);
        fputc('\n', fp);
        if (k == 0) {
            fprintf(fp, "plot for [i=2:%zu] ", p->n_series + 1);
            put_quoted(fp, data);
            fprintf(fp, " using 1:i with %s title columnheader(i)\n",
                    p->points ? "linespoints" : "lines");
        } else {
            fputs("replot\n", fp);
        }
        fputs("unset output\n", fp);
    }
}

static int run_gnuplot(const struct mx_plot *p, const char *data, const char *png, const char *svg)
{
    fflush(NULL);
    FILE *fp = popen("gnuplot", "w");
    if (!fp)
        return mx_error(MX_EIO, "cannot start gnuplot");
    write_script(fp, p, data, png, svg);
    int status = pclose(fp);
    if (status == -1 || !WIFEXITED(status))
        return mx_error(MX_EIO, "gnuplot did not finish");
    if (WEXITSTATUS(status) == 127)
        return mx_error(MX_EIO, "gnuplot is not installed (Debian: gnuplot-nox; tools/setup "
                                "installs it)");
    if (WEXITSTATUS(status) != 0)
        return mx_error(MX_EIO, "gnuplot failed (status %d) drawing %s", WEXITSTATUS(status), png);
    return MX_OK;
}

int mx_plot_write(const struct mx_plot *p, const char *dir, const char *stem)
{
    char *data = mx_strfmt("%s/%s.tsv", dir, stem);
    char *png = mx_strfmt("%s/%s.png", dir, stem);
    char *svg = mx_strfmt("%s/%s.svg", dir, stem);
    struct mx_out png_out = {0}, svg_out = {0};
    int rc = write_data(p, data);
    if (rc == MX_OK)
        rc = mx_out_begin(png, false, &png_out);
    if (rc == MX_OK)
        rc = mx_out_begin(svg, false, &svg_out);
    if (rc == MX_OK)
        rc = run_gnuplot(p, data, png_out.tmp_path, svg_out.tmp_path);
    if (rc == MX_OK)
        rc = mx_out_commit(&png_out);
    else
        mx_out_abort(&png_out);
    if (rc == MX_OK)
        rc = mx_out_commit(&svg_out);
    else
        mx_out_abort(&svg_out);
    free(data);
    free(png);
    free(svg);
    return rc;
}
