/* muxplan trace import and stats from the command line: bad inputs (status 2, the place named, no
 * output left), reproducible imports, the stats JSON and the plots, degenerate traces plotted
 * cleanly, and a failed plot leaving nothing. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct bad_csv {
    const char *text;
    const char *fragment;
};

Test(trace_cli, bad_csv_rows_name_the_line_and_leave_nothing)
{
    const char *dir = fx_tmpdir(), *in = fx_path(dir, "t.csv"), *out = fx_path(dir, "t.h5");
    static const struct bad_csv cases[] = {
        {"t,k\n0,a\n1,a\nabc,b\n", "t.csv:4: t: \"abc\" is not a time (s)"},
        {"t,k\n0,a\n5,a\n4,b\n", "t.csv:4: t: time goes backwards (1 s before the previous row)"},
        {"t,k\n0,a\n1\n", "t.csv:3: the row has 1 fields, the header names 2 or more"},
        {"time,k\n0,a\n", "t.csv:1: the header has no time column \"t\""},
        {"", "t.csv: empty file (expected a header line)"},
        {"t,k\n", "t.csv: no requests"},
        {"t,k\n0,\n1,\n", "t.csv: no requests (every row has an empty key)"},
        {"t,k\n0,a\n1e300,a\n", "t.csv:3: t: 1e+300 s after the first row is out of range"},
        {"t,k\n0,a\n\"1,a\n", "t.csv:3: unterminated quoted field"},
        /* Decimal notation only; one name a column. */
        {"t,k\n0,a\n0x10,a\n", "t.csv:3: t: \"0x10\" is not a time (s)"},
        {"t,k\n0,a\ninf,a\n", "t.csv:3: t: \"inf\" is not a time (s)"},
        {"t,k,t\n0,a,1\n", "t.csv:1: the header names column \"t\" twice"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        fx_write_file(in, cases[c].text);
        fx_expect_bad(out, (const char *const[]){cases[c].fragment, NULL},
                      "trace import csv %s --time-column t --key-column k --slo 1 -o %s", in, out);
    }
    /* A NUL byte would cut a key short: "m\0x" is not "m". */
    FILE *fp = fopen(in, "wb");
    cr_assert_not_null(fp);
    fwrite("t,k\n0,m\0x\n", 1, 11, fp);
    fclose(fp);
    fx_expect_bad(out, (const char *const[]){"t.csv:2: a NUL byte in the text", NULL},
                  "trace import csv %s --time-column t --key-column k --slo 1 -o %s", in, out);
    const char *jsonl = fx_path(dir, "t.jsonl");
    fx_write_file(jsonl, "{\"t\": 0, \"k\": \"a\"}\n{\"t\": 1, \"k\": \"a\", \"t\": 2}\n");
    fx_expect_bad(out, (const char *const[]){"t.jsonl:2:", "duplicate object key", NULL},
                  "trace import jsonl %s --time-column t --key-column k --slo 1 -o %s", jsonl, out);
    fx_write_file(in, "t,k\n0,a\n");
    fx_expect_bad(out, (const char *const[]){"the header has no key column \"client\"", NULL},
                  "trace import csv %s --time-column t --key-column client --slo 1 -o %s", in, out);
    fx_expect_bad(out, (const char *const[]){"t.csv:2: t: \"0\" is not a time (datetime)", NULL},
                  "trace import csv %s --time-column t --time-unit datetime --slo 1 -o %s", in,
                  out);
}

Test(trace_cli, bad_options_and_other_formats)
{
    const char *dir = fx_tmpdir(), *in = fx_path(dir, "t.csv"), *out = fx_path(dir, "t.h5");
    fx_write_file(in, "t,k\n0,a\n1,c\n");
    fx_expect_bad(out, (const char *const[]){"give --slo S or --model-set M.json", NULL},
                  "trace import csv %s --time-column t -o %s", in, out);
    fx_expect_bad(out, (const char *const[]){"unknown format \"parquet\"", NULL},
                  "trace import parquet %s --slo 1 -o %s", in, out);
    fx_expect_bad(out, (const char *const[]){"--time-unit: expected s, ms", NULL},
                  "trace import csv %s --time-column t --time-unit days --slo 1 -o %s", in, out);
    fx_expect_bad(out, (const char *const[]){"--cv-scale needs --refit", NULL},
                  "trace import csv %s --time-column t --cv-scale 2 --slo 1 -o %s", in, out);
    fx_expect_bad(out, (const char *const[]){"no requests are left after the time window", NULL},
                  "trace import csv %s --time-column t --from 5 --slo 1 -o %s", in, out);
    const char *map = fx_path(dir, "map.json");
    fx_write_file(map, "{\"format\": \"muxplan-trace-map/1\", \"map\": {\"a\": \"m\"}}");
    fx_expect_bad(
        out, (const char *const[]){"map.json: map: key \"c\" (1 requests) has no model", NULL},
        "trace import csv %s --time-column t --key-column k --map %s --slo 1 -o %s", in, map, out);

    const char *jsonl = fx_path(dir, "t.jsonl");
    fx_write_file(jsonl, "{\"timestamp\": 0}\n{\"timestamp\": 1,}\n");
    fx_expect_bad(out, (const char *const[]){"t.jsonl:2:", NULL},
                  "trace import jsonl %s --slo 1 -o %s", jsonl, out);
    fx_write_file(jsonl, "{\"timestamp\": 0}\n{\"time\": 1}\n");
    fx_expect_bad(out, (const char *const[]){"t.jsonl:2: no field \"timestamp\"", NULL},
                  "trace import jsonl %s --slo 1 -o %s", jsonl, out);

    const char *counts = fx_path(dir, "f.csv");
    fx_write_file(counts, "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,3,-5\n");
    fx_expect_bad(out,
                  (const char *const[]){"f.csv:2: count column 2: \"-5\" is not a count", NULL},
                  "trace import azure-functions %s --slo 1 -o %s", counts, out);
    fx_write_file(counts, "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,3\n");
    fx_expect_bad(out, (const char *const[]){"f.csv:2: the row has 5 fields, the header 6", NULL},
                  "trace import azure-functions %s --slo 1 -o %s", counts, out);

    const char *chunk = fx_path(dir, "chunk-4-trace.csv");
    fx_write_file(chunk, "0,1e9,1,Gamma,1,1\n");
    fx_expect_bad(
        out, (const char *const[]){"chunk-4-trace.csv:1: rate: 1e+09 requests/s is absurd", NULL},
        "trace import servegen %s --slo 1 -o %s", chunk, out);
    fx_write_file(chunk, "0,1,1,Gamma,1,1\n600,1,1,Lognormal,1,1\n");
    fx_expect_bad(out,
                  (const char *const[]){"chunk-4-trace.csv:2: dist: expected Gamma, Weibull", NULL},
                  "trace import servegen %s --slo 1 -o %s", chunk, out);
    fx_write_file(chunk, "600,1,1,Gamma,1,1\n0,1,1,Gamma,1,1\n");
    fx_expect_bad(
        out,
        (const char *const[]){"chunk-4-trace.csv:2: window_start_s: time goes backwards", NULL},
        "trace import servegen %s --slo 1 -o %s", chunk, out);
    /* Two weeks of m-small is over a billion requests. */
    fx_expect_bad(out,
                  (const char *const[]){"requests (at most 2e+08); choose a shorter window", NULL},
                  "trace import servegen %s --slo 1 -o %s",
                  fx_source_path("traces/servegen/language/m-small"), out);
}

Test(trace_cli, imports_are_reproducible_and_seeded)
{
    const char *dir = fx_tmpdir();
    const char *in = fx_source_path("tests/data/traces/mooncake_head40.jsonl");
    const char *paths[3] = {fx_path(dir, "a.h5"), fx_path(dir, "b.h5"), fx_path(dir, "c.h5")};
    const int seeds[3] = {1, 1, 2};
    for (int k = 0; k < 3; k++) {
        struct fx_output o =
            fx_muxplan("trace import mooncake %s --slo 1 --seed %d -o %s", in, seeds[k], paths[k]);
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert(strstr(o.err, "read 40 rows of 1 keys, kept 1; wrote 40 requests of 1 models"),
                  "%s", o.err);
    }
    cr_assert(fx_same_file(paths[0], paths[1]));
    cr_assert(!fx_same_file(paths[0], paths[2]));
}

Test(trace_cli, stats_json_and_plots)
{
    const char *dir = fx_tmpdir(), *trace = fx_path(dir, "t.h5"), *plots = fx_path(dir, "plots");
    struct fx_output o =
        fx_muxplan("trace import burstgpt %s --no-tokens --slo 2 -o %s",
                   fx_source_path("traces/burstgpt_head_slices/BurstGPT_1_first400.csv"), trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("trace stats %s --json --plot %s", trace, plots);
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_error_t error;
    json_t *root = json_loads(o.out, 0, &error);
    cr_assert(root, "%s", error.text);
    cr_assert_eq(json_integer_value(json_object_get(root, "requests")), 400);
    cr_assert(json_real_value(json_object_get(root, "duration_s")) > 37000);
    cr_assert(json_real_value(json_object_get(root, "rate")) > 0.0105);
    cr_assert(json_real_value(json_object_get(root, "cv")) > 4.5);
    cr_assert(json_is_number(json_object_get(json_object_get(root, "dispersion"), "60s")));
    cr_assert(json_is_object(json_object_get(root, "window_cv")));
    json_t *models = json_object_get(root, "models");
    cr_assert_eq(json_array_size(models), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(models, 0), "name")),
                     "ChatGPT");
    json_decref(root);
    static const char *const files[] = {"rate.png",   "rate.svg",   "rate.tsv",
                                        "models.png", "models.svg", "models.tsv"};
    for (size_t f = 0; f < 6; f++) {
        size_t len = 0;
        char *bytes = fx_read_file(fx_path(plots, files[f]), &len);
        cr_assert(bytes && len > 20, "%s", files[f]);
        free(bytes);
    }
}

/* Import csv (a CSV text) into dir/name.h5 and return its path. */
static const char *import_csv(const char *dir, const char *name, const char *csv)
{
    char source[1024];
    snprintf(source, sizeof(source), "%s.csv", fx_path(dir, name));
    fx_write_file(source, csv);
    const char *trace = fx_path(dir, name);
    struct fx_output o = fx_muxplan("trace import csv %s -o %s", source, trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    return trace;
}

/* One request, and requests that all share one time: rates are undefined, every point of a plot
 * sits at one value; the plots still come out, without a word from gnuplot. */
Test(trace_cli, degenerate_traces_plot_cleanly)
{
    const char *dir = fx_tmpdir();
    const char *traces[2] = {
        import_csv(dir, "one.h5", "arrival_s,model,slo_s\n1.5,a,1\n"),
        import_csv(dir, "tied.h5", "arrival_s,model,slo_s\n1.5,a,1\n1.5,b,1\n1.5,a,1\n")};
    for (int k = 0; k < 2; k++) {
        const char *plots = fx_path(dir, k ? "tied" : "one");
        struct fx_output o = fx_muxplan("trace stats %s --plot %s", traces[k], plots);
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert_str_eq(o.err, "", "gnuplot's messages are not printed");
        static const char *const files[] = {"rate.png",   "rate.svg",   "rate.tsv",
                                            "models.png", "models.svg", "models.tsv"};
        for (size_t f = 0; f < 6; f++) {
            size_t len = 0;
            char *bytes = fx_read_file(fx_path(plots, files[f]), &len);
            cr_assert(bytes && len > 10, "%s", files[f]);
            free(bytes);
        }
        cr_assert_eq(fx_count_entries(plots, NULL), 6);
    }
}

/* A gnuplot that writes part of its images and fails: one message naming the image and gnuplot's
 * reason, and nothing left, neither the folder the command made nor a file in one it did not. */
Test(trace_cli, a_failed_plot_leaves_nothing)
{
    const char *dir = fx_tmpdir(), *bin = fx_path(dir, "bin");
    const char *trace = import_csv(dir, "t.h5", "arrival_s,model,slo_s\n1,a,1\n2,b,1\n3,a,1\n");
    cr_assert_eq(mkdir(bin, 0755), 0);
    const char *fake = fx_path(bin, "gnuplot");
    fx_write_file(
        fake, "#!/bin/sh\n"
              "while read -r line; do\n"
              "  case \"$line\" in\n"
              "    'set output \"'*) f=${line#set output \\\"}; printf partial > \"${f%\\\"}\" ;;\n"
              "  esac\n"
              "done\n"
              "echo 'gnuplot> plot' >&2\n"
              "echo '         line 9: the plot broke' >&2\n"
              "exit 1\n");
    cr_assert_eq(chmod(fake, 0755), 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s:%s", bin, getenv("PATH"));
    setenv("PATH", path, 1);
    const char *made = fx_path(dir, "made"), *kept = fx_path(dir, "kept");
    struct fx_output o = fx_muxplan("trace stats %s --plot %s", trace, made);
    cr_assert_eq(o.status, 1, "%s", o.err);
    char expect[1100];
    snprintf(expect, sizeof(expect),
             "muxplan: gnuplot failed drawing %s/rate.png: line 9: the plot broke\n", made);
    cr_assert_str_eq(o.err, expect);
    cr_assert(!fx_exists(made), "%zu entries left", fx_count_entries(made, NULL));
    cr_assert_eq(mkdir(kept, 0755), 0);
    fx_write_file(fx_path(kept, "rate.png"), "old");
    o = fx_muxplan("trace stats %s --plot %s", trace, kept);
    cr_assert_eq(o.status, 1, "%s", o.err);
    cr_assert_eq(fx_count_entries(kept, NULL), 1);
    char *old = fx_read_file(fx_path(kept, "rate.png"), NULL);
    cr_assert_str_eq(old, "old");
    free(old);
}
