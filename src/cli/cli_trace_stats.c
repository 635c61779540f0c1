/* muxplan trace stats: rates and burstiness of a trace, as a table or JSON, and its plots. */
#include "cli.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_plot.h"
#include "wl_stats.h"
#include "wl_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rate plot shows the whole trace and this many of the most requested models. */
#define PLOT_TOP_MODELS 5
/* The rate plot has at most about this many bins. */
#define PLOT_MAX_BINS 400

static const char stats_help[] =
    "usage: muxplan trace stats T.h5 [--json] [--plot DIR]\n"
    "\n"
    "For the whole trace and each model: requests, rate, CV of inter-arrival gaps (overall, and\n"
    "the mean and median over 60 s windows), the peak-to-mean request count and the index of\n"
    "dispersion (variance / mean of counts) over 1 s, 10 s and 60 s windows. --plot DIR writes\n"
    "rate.{png,svg,tsv} (the rate over time, total and the 5 busiest models) and\n"
    "models.{png,svg,tsv} (each model's rate by popularity rank) with gnuplot: all of them, or\n"
    "none. DIR is created if missing (its parent must exist).\n"
    "\n"
    "For a trace with token counts, also each model's input and output tokens (mean, p50, p90,\n"
    "p99, max, and per second) and the trace's input and output tokens per second in at most 50\n"
    "windows; --plot adds tokens.{png,svg,tsv} (a histogram of lengths, quarter-octave bins) and\n"
    "token_rate.{png,svg,tsv} (tokens per second over time).\n"
    "\n"
    "example:\n"
    "  muxplan trace stats train.h5 --json --plot plots\n";

static json_t *per_window_json(const double *v)
{
    json_t *o = json_object();
    for (int w = 0; w < WL_STATS_N_WINDOWS; w++) {
        char key[16];
        snprintf(key, sizeof(key), "%gs", wl_stats_windows_s[w]);
        mx_json_set(o, key, mx_json_real_or_null(v[w]));
    }
    return o;
}

static json_t *tokens_json(const struct wl_token_summary *t)
{
    json_t *o = json_object();
    mx_json_set(o, "mean", mx_json_real_or_null(t->mean));
    mx_json_set(o, "p50", mx_json_real_or_null(t->p50));
    mx_json_set(o, "p90", mx_json_real_or_null(t->p90));
    mx_json_set(o, "p99", mx_json_real_or_null(t->p99));
    mx_json_set(o, "max", mx_json_real_or_null(t->max));
    mx_json_set(o, "per_s", mx_json_real_or_null(t->per_s));
    return o;
}

static json_t *token_rate_json(const struct wl_token_rate *r)
{
    json_t *o = json_object();
    mx_json_set(o, "start_s", json_real(r->start_s));
    mx_json_set(o, "window_s", json_real(r->window_s));
    mx_json_set(o, "input", mx_json_f64_array(r->input_per_s, r->n));
    mx_json_set(o, "output", mx_json_f64_array(r->output_per_s, r->n));
    return o;
}

static json_t *stream_json(const struct wl_stream_stats *s, bool tokens)
{
    json_t *o = json_object(), *window_cv = json_object();
    mx_json_set(o, "requests", json_integer((json_int_t)s->requests));
    mx_json_set(o, "rate", mx_json_real_or_null(s->rate));
    mx_json_set(o, "cv", mx_json_real_or_null(s->cv));
    mx_json_set(window_cv, "window_s", json_real(WL_STATS_CV_WINDOW_S));
    mx_json_set(window_cv, "windows", json_integer((json_int_t)s->cv_windows));
    mx_json_set(window_cv, "mean", mx_json_real_or_null(s->window_cv_mean));
    mx_json_set(window_cv, "median", mx_json_real_or_null(s->window_cv_median));
    mx_json_set(o, "window_cv", window_cv);
    mx_json_set(o, "peak_to_mean", per_window_json(s->peak_to_mean));
    mx_json_set(o, "dispersion", per_window_json(s->dispersion));
    if (tokens) {
        mx_json_set(o, "input_tokens", tokens_json(&s->input));
        mx_json_set(o, "output_tokens", tokens_json(&s->output));
    }
    return o;
}

static void print_stream(const char *name, const struct wl_stream_stats *s)
{
    printf("%-24s %10zu %10.3f %8.3f %8.3f", name, s->requests, s->rate, s->cv, s->window_cv_mean);
    for (int w = 0; w < WL_STATS_N_WINDOWS; w++)
        printf(" %9.2f", s->peak_to_mean[w]);
    for (int w = 0; w < WL_STATS_N_WINDOWS; w++)
        printf(" %9.2f", s->dispersion[w]);
    putchar('\n');
}

static int print_json(const struct wl_trace *t, const struct wl_trace_stats *s)
{
    json_t *o = stream_json(&s->total, s->tokens), *models = json_array();
    mx_json_set(o, "format", json_string("muxplan-trace-stats/1"));
    mx_json_set(o, "start_s", json_real(s->start_s));
    mx_json_set(o, "duration_s", json_real(s->duration_s));
    if (s->tokens)
        mx_json_set(o, "tokens_per_s", token_rate_json(&s->token_rate));
    for (uint32_t m = 0; m < s->n_models; m++) {
        json_t *entry = stream_json(&s->models[m], s->tokens);
        mx_json_set(entry, "name", json_string(t->model_names[m]));
        mx_json_append(models, entry);
    }
    mx_json_set(o, "models", models);
    int rc = mx_json_print(stdout, o);
    json_decref(o);
    return rc;
}

static void print_token_row(const char *name, const struct wl_stream_stats *s)
{
    const struct wl_token_summary *side[2] = {&s->input, &s->output};
    printf("%-24s", name);
    for (int k = 0; k < 2; k++)
        printf(" %9.1f %8.0f %8.0f %8.0f %8.0f %10.1f", side[k]->mean, side[k]->p50, side[k]->p90,
               side[k]->p99, side[k]->max, side[k]->per_s);
    putchar('\n');
}

/* Token counts per model, then tokens per second window by window. */
static void print_tokens(const struct wl_trace *t, const struct wl_trace_stats *s)
{
    printf("\n%-24s %9s %8s %8s %8s %8s %10s %9s %8s %8s %8s %8s %10s\n", "tokens", "in mean",
           "in p50", "in p90", "in p99", "in max", "in/s", "out mean", "out p50", "out p90",
           "out p99", "out max", "out/s");
    print_token_row("(all)", &s->total);
    for (uint32_t m = 0; m < s->n_models; m++)
        print_token_row(t->model_names[m], &s->models[m]);
    const struct wl_token_rate *r = &s->token_rate;
    printf("\ntokens/s in %g s windows\n%14s %12s %12s\n", r->window_s, "from_s", "input/s",
           "output/s");
    for (size_t k = 0; k < r->n; k++)
        printf("%14.3f %12.1f %12.1f\n", r->start_s + (double)k * r->window_s, r->input_per_s[k],
               r->output_per_s[k]);
}

static void print_table(const struct wl_trace *t, const struct wl_trace_stats *s)
{
    printf("%zu requests of %u models over %.3f s from %.3f s\n\n", s->total.requests, s->n_models,
           s->duration_s, s->start_s);
    printf("%-24s %10s %10s %8s %8s %9s %9s %9s %9s %9s %9s\n", "model", "requests", "rate/s", "cv",
           "cv/60s", "p/m 1s", "p/m 10s", "p/m 60s", "disp 1s", "disp 10s", "disp 60s");
    print_stream("(all)", &s->total);
    for (uint32_t m = 0; m < s->n_models; m++)
        print_stream(t->model_names[m], &s->models[m]);
    if (s->tokens)
        print_tokens(t, s);
}

/* Models by requests, most first (ties: model order). */
static uint32_t *models_by_popularity(const struct wl_trace_stats *s)
{
    uint32_t *order = mx_malloc_array(s->n_models, sizeof(uint32_t));
    for (uint32_t m = 0; m < s->n_models; m++)
        order[m] = m;
    /* Insertion sort keeps it stable; traces have at most thousands of models. */
    for (uint32_t i = 1; i < s->n_models; i++)
        for (uint32_t j = i;
             j > 0 && s->models[order[j]].requests > s->models[order[j - 1]].requests; j--) {
            uint32_t swap = order[j];
            order[j] = order[j - 1];
            order[j - 1] = swap;
        }
    return order;
}

/* The smallest 1-2-5 step in seconds that cuts duration into at most PLOT_MAX_BINS bins. */
static double bin_width_s(double duration_s)
{
    double target = duration_s / PLOT_MAX_BINS, step = 1e-3;
    while (step < target) {
        static const double factors[3] = {2, 2.5, 2};
        for (int k = 0; k < 3 && step < target; k++)
            step *= factors[k];
    }
    return step;
}

static int plot_rate(const struct wl_trace *t, const struct wl_trace_stats *s,
                     const uint32_t *order, const char *dir)
{
    uint32_t shown = s->n_models < PLOT_TOP_MODELS ? s->n_models : PLOT_TOP_MODELS;
    double bin = bin_width_s(s->duration_s > 0 ? s->duration_s : 1);
    size_t bins = (size_t)ceil((s->duration_s > 0 ? s->duration_s : 1) / bin);
    double *x = mx_malloc_array(bins, sizeof(double));
    double *y = MX_NEW_ARRAY(double, (shown + 1) * bins);
    int32_t *column = mx_malloc_array(s->n_models, sizeof(int32_t));
    for (uint32_t m = 0; m < s->n_models; m++)
        column[m] = -1;
    for (uint32_t r = 0; r < shown; r++)
        column[order[r]] = (int32_t)r + 1;
    for (size_t i = 0; i < t->n; i++) {
        double k = floor((t->arrival_s[i] - s->start_s) / bin);
        size_t b = k < 0 ? 0 : k >= (double)bins ? bins - 1 : (size_t)k;
        y[b] += 1 / bin;
        if (column[t->model[i]] >= 0)
            y[(size_t)column[t->model[i]] * bins + b] += 1 / bin;
    }
    struct mx_plot_series series[PLOT_TOP_MODELS + 1] = {{"all", y}};
    for (uint32_t r = 0; r < shown; r++)
        series[r + 1] = (struct mx_plot_series){t->model_names[order[r]], y + (r + 1) * bins};
    for (size_t b = 0; b < bins; b++)
        x[b] = s->start_s + (double)b * bin;
    char title[64];
    snprintf(title, sizeof(title), "request rate (%g s bins)", bin);
    struct mx_plot plot = {.title = title,
                           .x_label = "time (s)",
                           .y_label = "requests/s",
                           .n_points = bins,
                           .x = x,
                           .n_series = shown + 1,
                           .series = series,
                           .hline = NAN};
    int rc = mx_plot_write(&plot, dir, "rate");
    free(column);
    free(y);
    free(x);
    return rc;
}

static int plot_models(const struct wl_trace_stats *s, const uint32_t *order, const char *dir)
{
    double *rank = mx_malloc_array(s->n_models, sizeof(double));
    double *rate = mx_malloc_array(s->n_models, sizeof(double));
    for (uint32_t r = 0; r < s->n_models; r++) {
        rank[r] = r + 1;
        rate[r] = s->models[order[r]].requests > 0 ? s->models[order[r]].rate : NAN;
    }
    struct mx_plot_series series = {"rate", rate};
    struct mx_plot plot = {.title = "per-model request rate by popularity rank",
                           .x_label = "rank",
                           .y_label = "requests/s",
                           .log_x = true,
                           .log_y = true,
                           .points = true,
                           .n_points = s->n_models,
                           .x = rank,
                           .n_series = 1,
                           .series = &series,
                           .hline = NAN};
    int rc = mx_plot_write(&plot, dir, "models");
    free(rate);
    free(rank);
    return rc;
}

/* The histogram of lengths: each side's share of requests per quarter-octave bin, log x. */
static int plot_token_histogram(const struct wl_trace *t, const char *dir)
{
    struct wl_token_histogram h;
    wl_token_histogram_compute(t, &h);
    double *x = mx_malloc_array(h.n, sizeof(double));
    for (size_t k = 0; k < h.n; k++)
        x[k] = h.lower[k];
    struct mx_plot_series series[2] = {{"input", h.input_share}, {"output", h.output_share}};
    struct mx_plot plot = {.title = "request lengths (quarter-octave bins from their lower edge)",
                           .x_label = "tokens",
                           .y_label = "share of requests",
                           .log_x = true,
                           .points = true,
                           .n_points = h.n,
                           .x = x,
                           .n_series = 2,
                           .series = series,
                           .hline = NAN};
    int rc = mx_plot_write(&plot, dir, "tokens");
    free(x);
    wl_token_histogram_release(&h);
    return rc;
}

static int plot_token_rate(const struct wl_trace *t, const char *dir)
{
    struct wl_token_rate r;
    wl_token_rate_compute(t, PLOT_MAX_BINS, &r);
    double *x = mx_malloc_array(r.n, sizeof(double));
    for (size_t k = 0; k < r.n; k++)
        x[k] = r.start_s + (double)k * r.window_s;
    struct mx_plot_series series[2] = {{"input", r.input_per_s}, {"output", r.output_per_s}};
    char title[64];
    snprintf(title, sizeof(title), "tokens per second (%g s bins)", r.window_s);
    struct mx_plot plot = {.title = title,
                           .x_label = "time (s)",
                           .y_label = "tokens/s",
                           .n_points = r.n,
                           .x = x,
                           .n_series = 2,
                           .series = series,
                           .hline = NAN};
    int rc = mx_plot_write(&plot, dir, "token_rate");
    free(x);
    wl_token_rate_release(&r);
    return rc;
}

/* The plots into dir (a folder of the output set). */
static int plot_all(const struct wl_trace *t, const struct wl_trace_stats *s, const char *dir)
{
    uint32_t *order = models_by_popularity(s);
    int rc = plot_rate(t, s, order, dir);
    if (rc == MX_OK)
        rc = plot_models(s, order, dir);
    if (rc == MX_OK && s->tokens)
        rc = plot_token_histogram(t, dir);
    if (rc == MX_OK && s->tokens)
        rc = plot_token_rate(t, dir);
    free(order);
    return rc;
}

int cli_trace_stats(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"plot", required_argument, NULL, 'p'},
                                            {NULL, 0, NULL, 0}};
    const char *plot_dir = NULL;
    bool as_json = false;
    int opt, rc = MX_OK;
    struct wl_trace *t = NULL;
    if (cli_wants_help(argc, argv)) {
        fputs(stats_help, stdout);
        return 0;
    }
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'j')
            as_json = true;
        else if (opt == 'p')
            plot_dir = optarg;
        else
            rc = cli_usage_error("trace stats", "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
    }
    if (rc == MX_OK && argc - optind != 1)
        rc = cli_usage_error("trace stats", "expected one trace file");
    /* The plots appear together, or none with the folder if the command made it. */
    mx_outset_begin();
    if (rc == MX_OK && plot_dir) {
        mx_input_note(argv[optind]);
        rc = mx_outset_dir(plot_dir);
    }
    if (rc == MX_OK)
        rc = wl_trace_read_h5(argv[optind], &t);
    if (rc != MX_OK) {
        mx_outset_abort();
        return cli_report(rc);
    }
    struct wl_trace_stats s;
    wl_trace_stats_compute(t, &s);
    if (as_json)
        rc = print_json(t, &s);
    else
        print_table(t, &s);
    if (rc == MX_OK && plot_dir)
        rc = plot_all(t, &s, plot_dir);
    if (rc == MX_OK)
        rc = mx_outset_commit();
    else
        mx_outset_abort();
    wl_trace_stats_release(&s);
    wl_trace_free(t);
    return rc == MX_OK ? 0 : cli_report(rc);
}
