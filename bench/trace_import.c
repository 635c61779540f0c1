/* bench/trace_import: import plus stats of a 10-million-row CSV (issue 5's target: 2 M rows/s).
 *
 * Writes a CSV of --rows rows (default 10,000,000) into --dir (default /tmp): a Gamma(1000 req/s,
 * CV 2) stream spread over 100 keys with power-law popularity, as "arrival_s,model,tokens" with
 * times in seconds to the microsecond, or with --datetime as ISO 8601 date-times with 7 fractional
 * digits (the Azure LLM 2023 form). With --tokens, a column "output" follows (1 to 1000) and the
 * import reads "tokens" and "output" as each request's input and output token counts (a row of 0
 * input tokens, one in 4000, is dropped). Then times, in one process, what `muxplan trace import
 * csv` and `muxplan trace stats` do: the import (read, parse, map), the HDF5 write, reading it
 * back, and the statistics. Prints one JSON line per run; "rows_per_s" is rows / (import + write +
 * read + stats).
 *
 * usage: trace_import [--rows N] [--dir DIR] [--datetime] [--tokens] [--repeat N] [--keep]
 * --keep leaves the CSV in DIR (its path on stderr), to time the command line on it too. */
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "mx_time.h"
#include "wl_import.h"
#include "wl_stats.h"
#include "wl_trace.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_KEYS 100

static void write_csv(const char *path, size_t rows, int datetime, int tokens)
{
    FILE *fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(1);
    }
    gsl_rng *rng = mx_rng_new(1, "bench", 0);
    double cumulative[N_KEYS], total = 0;
    for (int k = 0; k < N_KEYS; k++)
        cumulative[k] = total += pow(k + 1, -0.5);
    fputs(datetime ? "TIMESTAMP,model,tokens" : "arrival_s,model,tokens", fp);
    fputs(tokens ? ",output\n" : "\n", fp);
    double t = 0;
    for (size_t i = 0; i < rows; i++) {
        t += gsl_ran_gamma(rng, 0.25, 4e-3);
        double u = gsl_rng_uniform(rng) * total;
        int key = 0;
        while (cumulative[key] < u)
            key++;
        unsigned input = (unsigned)gsl_rng_uniform_int(rng, 4000);
        if (datetime) {
            /* 2023-11-16 00:00:00 plus t; t stays within a day per 86400 s. */
            long whole = (long)floor(t);
            long frac = (long)((t - (double)whole) * 1e7);
            long day = 16 + whole / 86400, s = whole % 86400;
            fprintf(fp, "2023-11-%02ld %02ld:%02ld:%02ld.%07ld,m%d,%u", day, s / 3600, s / 60 % 60,
                    s % 60, frac, key, input);
        } else {
            fprintf(fp, "%.6f,m%d,%u", t, key, input);
        }
        if (tokens)
            fprintf(fp, ",%u\n", 1 + (unsigned)gsl_rng_uniform_int(rng, 1000));
        else
            fputc('\n', fp);
    }
    gsl_rng_free(rng);
    fclose(fp);
}

int main(int argc, char **argv)
{
    size_t rows = 10000000;
    const char *dir = "/tmp";
    int datetime = 0, tokens = 0, repeat = 3, keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--datetime") == 0)
            datetime = 1;
        else if (strcmp(argv[i], "--tokens") == 0)
            tokens = 1;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(
                stderr,
                "usage: trace_import [--rows N] [--dir DIR] [--datetime] [--tokens] [--repeat N] "
                "[--keep]\n");
            return 2;
        }
    }
    char *csv = mx_strfmt("%s/muxplan-bench-%d.csv", dir, (int)getpid());
    char *h5 = mx_strfmt("%s/muxplan-bench-%d.h5", dir, (int)getpid());
    write_csv(csv, rows, datetime, tokens);
    for (int r = 0; r < repeat; r++) {
        struct wl_import_spec spec = wl_import_spec_default();
        spec.format = "csv";
        spec.time_column = datetime ? "TIMESTAMP" : "arrival_s";
        spec.time_unit = datetime ? "datetime" : "s";
        spec.key_column = "model";
        spec.input_column = tokens ? "tokens" : NULL;
        spec.output_column = tokens ? "output" : NULL;
        spec.slo_s = 1;
        struct wl_import_report report;
        struct wl_trace *t = NULL, *back = NULL;
        struct wl_trace_stats stats;
        double t0 = mx_wall_s();
        if (wl_import(csv, &spec, &t, &report) < 0) {
            fprintf(stderr, "trace_import: %s\n", mx_error_message());
            return 1;
        }
        double t1 = mx_wall_s();
        if (wl_trace_write_h5(t, h5) < 0 || wl_trace_read_h5(h5, &back) < 0) {
            fprintf(stderr, "trace_import: %s\n", mx_error_message());
            return 1;
        }
        double t2 = mx_wall_s();
        wl_trace_stats_compute(back, &stats);
        double t3 = mx_wall_s();
        printf("{\"bench\": \"trace_import\", \"time\": \"%s\", \"tokens\": %s, \"rows\": %zu, "
               "\"models\": %u, "
               "\"import_s\": %.3f, \"h5_write_read_s\": %.3f, \"stats_s\": %.3f, "
               "\"total_s\": %.3f, \"rows_per_s\": %.0f, \"cv\": %.4f}\n",
               datetime ? "iso8601" : "seconds", tokens ? "true" : "false", t->n, t->n_models,
               t1 - t0, t2 - t1, t3 - t2, t3 - t0, (double)rows / (t3 - t0), stats.total.cv);
        fflush(stdout);
        wl_trace_stats_release(&stats);
        wl_trace_free(back);
        wl_trace_free(t);
    }
    if (keep)
        fprintf(stderr, "trace_import: kept %s\n", csv);
    else
        unlink(csv);
    unlink(h5);
    free(csv);
    free(h5);
    return 0;
}
