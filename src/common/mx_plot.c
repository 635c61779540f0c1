/* mx_plot_write(): data file, gnuplot script, and the three files committed only when gnuplot
 * succeeded. */
#include "mx_plot.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Write the data file into out (begun, with a stream) and flush it, so that gnuplot can read it
 * before it is committed. */
static int write_data(const struct mx_plot *p, struct mx_out *out)
{
    char number[32];
    fputs("x", out->fp);
    for (size_t s = 0; s < p->n_series; s++) {
        fputc('\t', out->fp);
        mx_csv_write_field(out->fp, p->series[s].name, '\t');
    }
    fputc('\n', out->fp);
    for (size_t i = 0; i < p->n_points; i++) {
        mx_format_f64(number, p->x[i]);
        fputs(number, out->fp);
        for (size_t s = 0; s < p->n_series; s++) {
            double y = p->series[s].y[i];
            if (isfinite(y))
                mx_format_f64(number, y);
            fprintf(out->fp, "\t%s", isfinite(y) ? number : "NaN");
        }
        fputc('\n', out->fp);
    }
    if (fflush(out->fp) != 0 || ferror(out->fp))
        return mx_out_fail(out);
    return MX_OK;
}

/* Whether v can be drawn on an axis (a logarithmic one takes positive values only). */
static bool drawable(double v, bool log)
{
    return isfinite(v) && (!log || v > 0);
}

/* gnuplot refuses to draw an axis without a range ("x range is invalid": no point, or every point
 * at one value, as for a trace of one request): such an axis gets one explicitly, around its value
 * or the unit range. Other axes keep gnuplot's own. */
static void put_range(FILE *fp, const char *axis, double lo, double hi, bool log, bool force)
{
    if (lo < hi && !force)
        return;
    if (!(lo <= hi)) {
        lo = log ? 0.1 : 0;
        hi = log ? 10 : 1;
    } else if (lo < hi) {
    } else if (log) {
        lo /= 10;
        hi *= 10;
    } else {
        double half = lo != 0 ? fabs(lo) / 2 : 1;
        lo -= half;
        hi += half;
    }
    fprintf(fp, "set %srange [%.17g:%.17g]\n", axis, lo, hi);
}

static void put_ranges(FILE *fp, const struct mx_plot *p)
{
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    double any_lo = INFINITY, any_hi = -INFINITY; /* x of every point, drawn or not */
    for (size_t i = 0; i < p->n_points; i++) {
        if (!drawable(p->x[i], p->log_x))
            continue;
        any_lo = fmin(any_lo, p->x[i]);
        any_hi = fmax(any_hi, p->x[i]);
        for (size_t s = 0; s < p->n_series; s++) {
            double y = p->series[s].y[i];
            if (!drawable(y, p->log_y))
                continue;
            x_lo = fmin(x_lo, p->x[i]);
            x_hi = fmax(x_hi, p->x[i]);
            y_lo = fmin(y_lo, y);
            y_hi = fmax(y_hi, y);
        }
    }
    bool nothing = !(x_lo <= x_hi); /* gnuplot then autoscales no axis */
    if (nothing) {
        x_lo = any_lo;
        x_hi = any_hi;
    }
    if (drawable(p->hline, p->log_y)) {
        y_lo = fmin(y_lo, p->hline);
        y_hi = fmax(y_hi, p->hline);
    }
    put_range(fp, "x", x_lo, x_hi, p->log_x, nothing);
    put_range(fp, "y", y_lo, y_hi, p->log_y, nothing);
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
    put_ranges(fp, p);
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

/* The line of gnuplot's messages that says what went wrong: the first error naming a line of the
 * script, else the last line, without its indentation. Points into text. */
static const char *gnuplot_reason(char *text)
{
    const char *reason = "", *named = NULL;
    char *rest = NULL;
    for (char *line = strtok_r(text, "\n", &rest); line; line = strtok_r(NULL, "\n", &rest)) {
        line += strspn(line, " \t");
        if (!*line)
            continue;
        reason = line;
        if (!named && strstr(line, "line ") && !strstr(line, "warning:"))
            named = line;
    }
    return named ? named : reason;
}

/* Run gnuplot on the script, its messages (warnings included) kept for the error of a failed
 * run, not printed. The child is registered, so that an interrupted run stops it before removing
 * what it writes. */
static int run_gnuplot(const char *script, size_t script_len, const char *png)
{
    int in[2], err[2];
    if (pipe(in) != 0)
        return mx_error(MX_EIO, "cannot start gnuplot: %s", strerror(errno));
    if (pipe(err) != 0) {
        close(in[0]);
        close(in[1]);
        return mx_error(MX_EIO, "cannot start gnuplot: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(err[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(in[0]);
        close(in[1]);
        close(err[0]);
        close(err[1]);
        execlp("gnuplot", "gnuplot", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(err[1]);
    if (pid < 0) {
        close(in[1]);
        close(err[0]);
        return mx_error(MX_EIO, "cannot start gnuplot: %s", strerror(errno));
    }
    mx_out_set_writer(pid);
    /* A gnuplot that stops reading (not installed) must not kill this process with SIGPIPE. The
     * script is small: it fits the pipe before gnuplot's messages are read. */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, saved;
    sigaction(SIGPIPE, &ignore, &saved);
    for (size_t done = 0; done < script_len;) {
        ssize_t n = write(in[1], script + done, script_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(in[1]);
    sigaction(SIGPIPE, &saved, NULL);
    char messages[8192];
    size_t kept = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(err[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep the end: the reason comes last. */
        size_t add = (size_t)n, room = sizeof(messages) - 1;
        if (kept + add > room) {
            size_t drop = kept + add - room;
            memmove(messages, messages + drop, kept - drop);
            kept -= drop;
        }
        memcpy(messages + kept, chunk, add);
        kept += add;
    }
    messages[kept] = '\0';
    close(err[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    mx_out_set_writer(0);
    if (!WIFEXITED(status))
        return mx_error(MX_EIO, "gnuplot did not finish drawing %s", png);
    if (WEXITSTATUS(status) == 127)
        return mx_error(MX_EIO, "gnuplot is not installed (Debian: gnuplot-nox; tools/setup "
                                "installs it)");
    if (WEXITSTATUS(status) != 0)
        return mx_error(MX_EIO, "gnuplot failed drawing %s: %s", png, gnuplot_reason(messages));
    return MX_OK;
}

int mx_plot_write(const struct mx_plot *p, const char *dir, const char *stem)
{
    char *data = mx_strfmt("%s/%s.tsv", dir, stem);
    char *png = mx_strfmt("%s/%s.png", dir, stem);
    char *svg = mx_strfmt("%s/%s.svg", dir, stem);
    struct mx_out data_out = {0}, png_out = {0}, svg_out = {0};
    char *script = NULL;
    size_t script_len = 0;
    int rc = mx_out_begin(data, true, &data_out);
    if (rc == MX_OK)
        rc = write_data(p, &data_out);
    if (rc == MX_OK)
        rc = mx_out_begin(png, false, &png_out);
    if (rc == MX_OK)
        rc = mx_out_begin(svg, false, &svg_out);
    if (rc == MX_OK) {
        FILE *fp = open_memstream(&script, &script_len);
        if (!fp)
            MX_BUG("open_memstream failed");
        write_script(fp, p, data_out.tmp_path, png_out.tmp_path, svg_out.tmp_path);
        fclose(fp);
        rc = run_gnuplot(script, script_len, png);
    }
    /* All three or none. */
    if (rc == MX_OK)
        rc = mx_out_commit(&data_out);
    else
        mx_out_abort(&data_out);
    if (rc == MX_OK)
        rc = mx_out_commit(&png_out);
    else
        mx_out_abort(&png_out);
    if (rc == MX_OK)
        rc = mx_out_commit(&svg_out);
    else
        mx_out_abort(&svg_out);
    free(script);
    free(data);
    free(png);
    free(svg);
    return rc;
}
