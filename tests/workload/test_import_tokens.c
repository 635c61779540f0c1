/* src/workload importers with token counts: the presets' columns, generic columns, rows of 0
 * tokens dropped and counted, every transform keeping each request's lengths (spread, window,
 * speed-up, thinning, cloning, mapping), refits drawing a key's own pairs, ServeGen's length
 * distributions, decoder models refusing a trace without tokens, and every bad token field named.
 */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "spec_models.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wl_trace *import_report(const char *format, const char *path,
                                      struct wl_import_spec spec, struct wl_import_report *report)
{
    struct wl_trace *t = NULL;
    spec.format = format;
    if (spec.slo_s <= 0 && !spec.set)
        spec.slo_s = 1;
    int rc = wl_import(path, &spec, &t, report);
    cr_assert_eq(rc, MX_OK, "%s %s: %s", format, path, mx_error_message());
    return t;
}

static struct wl_trace *import(const char *format, const char *path, struct wl_import_spec spec)
{
    struct wl_import_report report;
    return import_report(format, path, spec, &report);
}

static int import_error(const char *format, const char *path, struct wl_import_spec spec)
{
    struct wl_trace *t = NULL;
    struct wl_import_report report;
    spec.format = format;
    if (spec.slo_s <= 0 && !spec.set)
        spec.slo_s = 1;
    int rc = wl_import(path, &spec, &t, &report);
    cr_assert_null(t);
    return rc;
}

Test(import_tokens, presets_keep_their_token_counts)
{
    struct wl_import_spec spec = wl_import_spec_default();
    struct wl_trace *t =
        import("azure-llm-2023", fx_source_path("tests/data/traces/azure_code_head20.csv"), spec);
    cr_assert(wl_trace_has_tokens(t));
    cr_assert(t->input_tokens[0] == 4808 && t->output_tokens[0] == 10);
    cr_assert(t->input_tokens[1] == 3180 && t->output_tokens[1] == 8);
    cr_assert(isinf(t->ttft_slo_s[0]) && isinf(t->tpot_slo_s[0]));
    cr_assert_eq(t->slo_s[0], 1);
    wl_trace_free(t);

    spec.spread_s = 0;
    t = import("mooncake", fx_source_path("tests/data/traces/mooncake_head40.jsonl"), spec);
    cr_assert(t->input_tokens[0] == 6758 && t->output_tokens[0] == 500);
    cr_assert(t->input_tokens[4] == 6760 && t->output_tokens[4] == 3);
    wl_trace_free(t);

    spec.no_tokens = true;
    t = import("mooncake", fx_source_path("tests/data/traces/mooncake_head40.jsonl"), spec);
    cr_assert_not(wl_trace_has_tokens(t));
    cr_assert_eq(t->n, 40);
    wl_trace_free(t);
}

Test(import_tokens, burstgpt_drops_failed_requests_and_counts_them)
{
    struct wl_import_spec spec = wl_import_spec_default();
    struct wl_import_report report;
    struct wl_trace *t = import_report(
        "burstgpt", fx_source_path("traces/burstgpt_head_slices/BurstGPT_1_first400.csv"), spec,
        &report);
    cr_assert_eq(report.rows, 400);
    cr_assert_eq(report.zero_token_rows, 17);
    cr_assert_eq(t->n, 383);
    /* The first row: 472 request tokens, 18 response tokens. */
    cr_assert(t->input_tokens[0] == 472 && t->output_tokens[0] == 18);
    for (size_t i = 0; i < t->n; i++)
        cr_assert(t->input_tokens[i] >= 1 && t->output_tokens[i] >= 1);
    wl_trace_free(t);
    t = import_report("burstgpt",
                      fx_source_path("traces/burstgpt_head_slices/BurstGPT_3_first400.csv"), spec,
                      &report);
    cr_assert_eq(report.zero_token_rows, 1);
    cr_assert_eq(t->n, 399);
    wl_trace_free(t);
}

Test(import_tokens, generic_columns_in_csv_tsv_and_jsonl)
{
    const char *dir = fx_tmpdir();
    const char *csv = fx_path(dir, "t.csv"), *jsonl = fx_path(dir, "t.jsonl");
    fx_write_file(csv, "t,k,prompt,gen\n0,a,10,1\n1,b,0,5\n2,a,30,3\n3,b,40,0\n");
    struct wl_import_spec spec = wl_import_spec_default();
    struct wl_import_report report;
    spec.time_column = "t";
    spec.key_column = "k";
    spec.input_column = "prompt";
    spec.output_column = "gen";
    struct wl_trace *t = import_report("csv", csv, spec, &report);
    cr_assert_eq(t->n, 2);
    cr_assert_eq(report.zero_token_rows, 2);
    cr_assert(t->input_tokens[1] == 30 && t->output_tokens[1] == 3);
    cr_assert_float_eq(t->duration_s, 2, 1e-12, "the trace ends at its last request kept");
    wl_trace_free(t);

    fx_write_file(jsonl,
                  "{\"ts\": 0, \"in\": 7, \"out\": 2}\n{\"ts\": 2, \"in\": 9.0, \"out\": 4}\n");
    spec.time_column = "ts";
    spec.key_column = NULL;
    spec.input_column = "in";
    spec.output_column = "out";
    t = import("jsonl", jsonl, spec);
    cr_assert(t->input_tokens[1] == 9 && t->output_tokens[1] == 4);
    wl_trace_free(t);

    /* Without token columns, the generic formats read none. */
    spec.input_column = spec.output_column = NULL;
    t = import("jsonl", jsonl, spec);
    cr_assert_not(wl_trace_has_tokens(t));
    wl_trace_free(t);
}

struct bad_tokens {
    const char *text, *fragment;
};

Test(import_tokens, bad_token_fields_name_the_line_and_column)
{
    const char *dir = fx_tmpdir(), *csv = fx_path(dir, "t.csv"), *jsonl = fx_path(dir, "t.jsonl");
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.input_column = "in";
    spec.output_column = "out";
    static const struct bad_tokens cases[] = {
        {"t,in,out\n0,5,5\n1,-3,5\n",
         "t.csv:3: in: \"-3\" is not a token count (a whole number from 0 to 16777216)"},
        {"t,in,out\n0,5,2.5\n", "t.csv:2: out: \"2.5\" is not a token count"},
        {"t,in,out\n0,5,\n", "t.csv:2: out: \"\" is not a token count"},
        {"t,in,out\n0,16777217,1\n", "t.csv:2: in: \"16777217\" is not a token count"},
        {"t,in,out\n0,16777216,1\n", "t.csv:2: in plus out: 16777217 tokens, over the limit of "
                                     "16777216"},
        {"t,in\n0,5\n", "t.csv:1: the header has no output token column \"out\""},
        {"t,out\n0,5\n", "t.csv:1: the header has no input token column \"in\""},
        {"t,in,out\n0,1,0\n1,0,1\n", "t.csv: no requests (every row has 0 input or 0 output "
                                     "tokens)"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        fx_write_file(csv, cases[c].text);
        fx_expect_error(import_error("csv", csv, spec), MX_EINPUT, cases[c].fragment);
    }
    spec.time_column = "ts";
    fx_write_file(jsonl,
                  "{\"ts\": 0, \"in\": 7, \"out\": 2}\n{\"ts\": 1, \"in\": \"7\", \"out\": 2}\n");
    fx_expect_error(import_error("jsonl", jsonl, spec), MX_EINPUT,
                    "t.jsonl:2: in: not a token count (a whole number from 0 to 16777216)");
    fx_write_file(jsonl, "{\"ts\": 0, \"in\": 7}\n");
    fx_expect_error(import_error("jsonl", jsonl, spec), MX_EINPUT, "t.jsonl:1: no field \"out\"");
    fx_write_file(jsonl, "{\"timestamp\": 0, \"input_length\": 7, \"output_length\": 2, "
                         "\"hash_ids\": [0, -1]}\n");
    fx_expect_error(import_error("mooncake", jsonl, wl_import_spec_default()), MX_EINPUT,
                    "t.jsonl:1: hash_ids[1]: expected a block hash (a whole number >= 0)");

    /* The pair goes together; --no-tokens excludes it; rate traces have no columns. */
    spec.output_column = NULL;
    fx_expect_error(import_error("jsonl", jsonl, spec), MX_EUSAGE,
                    "--input-column and --output-column go together");
    spec.output_column = "out";
    spec.no_tokens = true;
    fx_expect_error(import_error("jsonl", jsonl, spec), MX_EUSAGE,
                    "--no-tokens excludes --input-column and --output-column");
    spec.no_tokens = false;
    fx_expect_error(import_error("servegen", jsonl, spec), MX_EUSAGE,
                    "servegen is a rate trace: it has no token columns to name");
}

/* Rows at t = 0, 1, ..., n - 1 of one key with input i + 1 and output 2 (i + 1). */
static const char *indexed_csv(const char *dir, size_t n)
{
    const char *path = fx_path(dir, "indexed.csv");
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("t,in,out\n", fp);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%zu,%zu,%zu\n", i, i + 1, 2 * (i + 1));
    fclose(fp);
    return path;
}

Test(import_tokens, every_transform_keeps_each_requests_lengths)
{
    const char *dir = fx_tmpdir(), *path = indexed_csv(dir, 1000);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.input_column = "in";
    spec.output_column = "out";
    spec.seed = 4;
    /* Spread by less than a step, a window [100, 900), a speed-up of 2, thinning: a request at t
     * came from row floor(2 t + 100). */
    spec.spread_s = 0.999;
    spec.from_s = 100;
    spec.to_s = 900;
    spec.speed_up = 2;
    spec.rate_scale = 0.5;
    struct wl_trace *t = import("csv", path, spec);
    cr_assert(t->n > 300 && t->n < 500, "%zu", t->n);
    for (size_t i = 0; i < t->n; i++) {
        int32_t row = (int32_t)floor(2 * t->arrival_s[i] + 100 + 1e-9);
        cr_assert_eq(t->input_tokens[i], row + 1, "request %zu at %.9g", i, t->arrival_s[i]);
        cr_assert_eq(t->output_tokens[i], 2 * (row + 1));
    }
    wl_trace_free(t);

    /* Cloning: a copy lies in the gap after its original and has its lengths. */
    spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.input_column = "in";
    spec.output_column = "out";
    spec.rate_scale = 2.5;
    t = import("csv", path, spec);
    cr_assert(t->n > 2300 && t->n < 2700, "%zu", t->n);
    for (size_t i = 0; i < t->n; i++) {
        int32_t row = (int32_t)floor(t->arrival_s[i] + 1e-9);
        cr_assert_eq(t->input_tokens[i], row + 1);
        cr_assert_eq(t->output_tokens[i], 2 * (row + 1));
    }
    wl_trace_free(t);
}

Test(import_tokens, refits_draw_the_pairs_of_each_key)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "two.csv");
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("t,k,in,out\n", fp);
    /* Key a: pairs (10 j, j) for j = 1..5; key b: (1000, 7). */
    for (int i = 0; i < 2000; i++)
        fprintf(fp, "%g,%s,%d,%d\n", i * 0.1, i % 3 ? "a" : "b", i % 3 ? 10 * (i % 5 + 1) : 1000,
                i % 3 ? i % 5 + 1 : 7);
    fclose(fp);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "k";
    spec.input_column = "in";
    spec.output_column = "out";
    spec.refit_window_s = 20;
    spec.rate_scale = 3;
    spec.seed = 8;
    struct wl_trace *t = import("csv", path, spec);
    cr_assert(wl_trace_has_tokens(t));
    int32_t a = strcmp(t->model_names[0], "a") == 0 ? 0 : 1;
    size_t seen[6] = {0};
    for (size_t i = 0; i < t->n; i++) {
        if (t->model[i] == a) {
            cr_assert_eq(t->input_tokens[i], 10 * t->output_tokens[i], "a pair is drawn whole");
            cr_assert(t->output_tokens[i] >= 1 && t->output_tokens[i] <= 5);
            seen[t->output_tokens[i]]++;
        } else {
            cr_assert(t->input_tokens[i] == 1000 && t->output_tokens[i] == 7);
        }
    }
    for (int j = 1; j <= 5; j++)
        cr_assert(seen[j] > 500, "pair %d drawn %zu times", j, seen[j]);
    /* The same seed, the same lengths; the arrivals are those of a refit without tokens. */
    struct wl_trace *again = import("csv", path, spec);
    spec.no_tokens = true;
    spec.input_column = spec.output_column = NULL;
    struct wl_trace *plain = import("csv", path, spec);
    cr_assert_eq(again->n, t->n);
    cr_assert_eq(plain->n, t->n);
    for (size_t i = 0; i < t->n; i++) {
        cr_assert_eq(again->input_tokens[i], t->input_tokens[i]);
        cr_assert_eq(plain->arrival_s[i], t->arrival_s[i]);
    }
    wl_trace_free(plain);
    wl_trace_free(again);

    /* wl_trace_refit, the sweeps' refit: pairs of each model, SLOs of its first request. */
    t->ttft_slo_s[0] = 0.25;
    t->tpot_slo_s[0] = 0.05;
    int32_t first_model = t->model[0];
    struct wl_trace *r = NULL;
    cr_assert_eq(wl_trace_refit(t, 30, 0.5, 1, 3, &r), MX_OK, "%s", mx_error_message());
    cr_assert(wl_trace_has_tokens(r));
    cr_assert(r->n > 0.3 * t->n && r->n < 0.7 * t->n, "%zu of %zu", r->n, t->n);
    for (size_t i = 0; i < r->n; i++) {
        if (r->model[i] == a)
            cr_assert_eq(r->input_tokens[i], 10 * r->output_tokens[i]);
        else
            cr_assert(r->input_tokens[i] == 1000 && r->output_tokens[i] == 7);
        if (r->model[i] == first_model)
            cr_assert(r->ttft_slo_s[i] == 0.25 && r->tpot_slo_s[i] == 0.05);
        else
            cr_assert(isinf(r->ttft_slo_s[i]));
    }
    wl_trace_free(r);
    wl_trace_free(t);
}

/* A model set of a decoder "chat" (it gives a TTFT SLO) and an encoder "enc". */
static struct spec_model_set *decoder_set(const char *dir)
{
    const char *path = fx_path(dir, "models.json");
    fx_write_file(path, "{\"format\": \"muxplan-models/1\", \"models\": ["
                        "{\"name\": \"chat\", \"base\": \"llm\", \"ttft_slo_s\": 0.5, "
                        "\"tpot_slo_s\": 0.05, \"slo_s\": 30},"
                        "{\"name\": \"enc\", \"base\": \"bert\", \"slo_s\": 0.2}]}");
    struct spec_model_set *set = NULL;
    cr_assert_eq(spec_models_read(path, &set), MX_OK, "%s", mx_error_message());
    return set;
}

Test(import_tokens, model_sets_give_decoder_slos_and_decoders_need_tokens)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "t.csv");
    fx_write_file(path, "t,k,in,out\n0,x,10,1\n1,x,20,2\n2,y,30,3\n");
    struct spec_model_set *set = decoder_set(dir);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "k";
    spec.input_column = "in";
    spec.output_column = "out";
    spec.set = set;
    struct wl_trace *t = import("csv", path, spec);
    cr_assert_eq(t->model[0], 0, "x is the busiest: chat");
    cr_assert(t->ttft_slo_s[0] == 0.5 && t->tpot_slo_s[0] == 0.05 && t->slo_s[0] == 30);
    cr_assert(t->model[2] == 1 && isinf(t->ttft_slo_s[2]) && t->slo_s[2] == 0.2);
    cr_assert(t->input_tokens[2] == 30 && t->output_tokens[2] == 3);
    wl_trace_free(t);

    /* Split mapping keeps every request's lengths. */
    spec.map = WL_MAP_SPLIT;
    t = import("csv", path, spec);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(t->input_tokens[i], 10 * t->output_tokens[i]);
    wl_trace_free(t);

    spec.map = WL_MAP_DEFAULT;
    spec.input_column = spec.output_column = NULL;
    fx_expect_error(import_error("csv", path, spec), MX_EINPUT,
                    "t.csv: requests go to model \"chat\" of ");
    cr_assert(strstr(mx_error_message(),
                     "models.json, a decoder, and this import has no token counts for them"),
              "%s", mx_error_message());
    spec_models_free(set);
}

/* A ServeGen client: chunk-<i>-trace.csv with the given windows and its dataset file. */
static void servegen_client(const char *dir, int i, const char *trace, const char *dataset)
{
    char name[64];
    snprintf(name, sizeof(name), "chunk-%d-trace.csv", i);
    fx_write_file(fx_path(dir, name), trace);
    if (!dataset)
        return;
    snprintf(name, sizeof(name), "chunk-%d-dataset.json", i);
    fx_write_file(fx_path(dir, name), dataset);
}

Test(import_tokens, servegen_draws_each_windows_length_distributions)
{
    const char *dir = fx_tmpdir();
    /* Client 0, language: windows from 0 s are empty ("{}" skips them), from 1200 s short, from
     * 2400 s long. Client 1, multimodal: 20 text tokens plus 1 or 2 images of 100 or 200. */
    servegen_client(dir, 0,
                    "0,0,0,,0,0\n600,0,0,,0,0\n1200,2,1,Gamma,1,0.5\n1800,2,1,Gamma,1,0.5\n"
                    "2400,2,1,Gamma,1,0.5\n3000,0,0,,0,0\n",
                    "{\"0\": {\"input_tokens\": \"{}\", \"output_tokens\": \"{}\"},\n"
                    " \"2400\": {\"input_tokens\": \"{1000: 1.0}\", "
                    "\"output_tokens\": \"{0: 0.5, 300: 0.5}\", \"reason_ratio\": \"{0.5: 1}\"},\n"
                    " \"1200\": {\"input_tokens\": \"{5: 0.25, 6: 0.75}\", "
                    "\"output_tokens\": \"{2: 1.0}\"}}\n");
    servegen_client(dir, 1, "0,1,1,Weibull,1,1\n600,1,1,Weibull,1,1\n",
                    "{\"0\": {\"text_tokens\": \"{20: 1.0}\", \"image_tokens\": \"{100: 0.5, "
                    "200: 0.5}\", \"image_count\": \"{1: 0.5, 2: 0.5}\", \"audio_tokens\": \"{0: "
                    "1.0}\", \"audio_count\": \"{0: 1.0}\", \"video_tokens\": \"{0: 1.0}\", "
                    "\"video_count\": \"{0: 1.0}\", \"output_tokens\": \"{4: 1.0}\"}}\n");
    struct wl_import_spec spec = wl_import_spec_default();
    spec.seed = 6;
    struct wl_trace *t = import("servegen", dir, spec);
    cr_assert(wl_trace_has_tokens(t));
    size_t sixes = 0, zeros_left = 0, short_ones = 0;
    int32_t c0 = strcmp(t->model_names[0], "client-0") == 0 ? 0 : 1;
    for (size_t i = 0; i < t->n; i++) {
        int32_t in = t->input_tokens[i], out = t->output_tokens[i];
        if (t->model[i] != c0) {
            cr_assert(out == 4);
            cr_assert(in == 120 || in == 220 || in == 320 || in == 420 || in == 520, "%d", in);
        } else if (t->arrival_s[i] < 2400) {
            cr_assert(in == 5 || in == 6, "%d at %g", in, t->arrival_s[i]);
            cr_assert(out == 2);
            sixes += in == 6;
            short_ones++;
        } else {
            /* 0 output tokens is not a request: the pair is drawn again. */
            cr_assert(in == 1000 && out == 300, "%d/%d at %g", in, out, t->arrival_s[i]);
            zeros_left += out == 0;
        }
    }
    cr_assert(short_ones > 1000);
    cr_assert_float_eq(sixes / (double)short_ones, 0.75, 0.05);
    cr_assert_eq(zeros_left, 0);
    wl_trace_free(t);

    spec.no_tokens = true;
    t = import("servegen", dir, spec);
    cr_assert_not(wl_trace_has_tokens(t));
    wl_trace_free(t);
}

Test(import_tokens, servegen_bad_length_distributions_are_named)
{
    const char *dir = fx_tmpdir();
    struct wl_import_spec spec = wl_import_spec_default();
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n", NULL);
    servegen_client(dir, 1, "0,1,1,Gamma,1,1\n",
                    "{\"0\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: missing, while 1 other clients have their length "
                    "distributions");
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n600,1,1,Gamma,1,1\n",
                    "{\"600\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: no length distribution starts at or before "
                    "window_start_s 0 of ");
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n",
                    "{\"0\": {\"input_tokens\": \"{5: 1, x: 2}\", \"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: 0.input_tokens: expected a whole number of tokens");
    /* A window whose outputs are all 0 tokens is refused only when requests need it. */
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n600,0,0,,0,0\n",
                    "{\"0\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}, "
                    "\"600\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{0: 1}\"}}");
    servegen_client(dir, 1, "0,1,1,Gamma,1,1\n",
                    "{\"0\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}}");
    struct wl_trace *t = NULL;
    struct wl_import_report report;
    spec.format = "servegen";
    spec.slo_s = 1;
    cr_assert_eq(wl_import(dir, &spec, &t, &report), MX_OK, "%s", mx_error_message());
    wl_trace_free(t);
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n600,1,1,Gamma,1,1\n",
                    "{\"0\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}, "
                    "\"600\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{0: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: 600: no output of at least 1 token, for window_start_s "
                    "600 of ");
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n",
                    "{\"0\": {\"input_tokens\": \"{5: 0x1}\", \"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: 0.input_tokens: expected");
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n", "{\"0\": {\"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: 0: no field \"text_tokens\"");
    servegen_client(dir, 0, "0,1,1,Gamma,1,1\n",
                    "{\"soon\": {\"input_tokens\": \"{5: 1}\", \"output_tokens\": \"{5: 1}\"}}");
    fx_expect_error(import_error("servegen", dir, spec), MX_EINPUT,
                    "chunk-0-dataset.json: soon: expected a window start in whole seconds");
}

Test(import_tokens, mooncake_block_hashes_travel_with_real_requests_only)
{
    const char *dir = fx_tmpdir();
    struct wl_import_spec spec = wl_import_spec_default();
    spec.spread_s = 0;
    struct wl_trace *t =
        import("mooncake", fx_source_path("tests/data/traces/mooncake_head40.jsonl"), spec);
    cr_assert(wl_trace_has_block_hashes(t));
    cr_assert_eq(t->block_hash_tokens, 512);
    /* The first two lines: hash_ids [0, 1, ..., 13] and [0, 14, 15, ..., 27]. */
    cr_assert(t->block_hash_start[0] == 0 && t->block_hash_start[1] == 14);
    cr_assert_eq(t->block_hash_start[2], 29);
    for (int64_t k = 0; k < 14; k++)
        cr_assert_eq(t->block_hashes[k], k);
    cr_assert(t->block_hashes[14] == 0 && t->block_hashes[15] == 14);

    /* HDF5 keeps them; a selection keeps its requests' own; CSV has none. */
    struct wl_trace *back = NULL;
    cr_assert_eq(wl_trace_write_h5(t, fx_path(dir, "k.h5")), MX_OK, "%s", mx_error_message());
    cr_assert_eq(wl_trace_read_h5(fx_path(dir, "k.h5"), &back), MX_OK, "%s", mx_error_message());
    cr_assert_eq(back->block_hash_start[t->n], t->block_hash_start[t->n]);
    for (int64_t k = 0; k < t->block_hash_start[t->n]; k++)
        cr_assert_eq(back->block_hashes[k], t->block_hashes[k]);
    struct wl_trace *part =
        wl_trace_select(t, 2.5, 1e9, (int32_t[]){0}, 1, (const char *const *)t->model_names);
    cr_assert_eq(part->n, 30, "the requests of the steps from 3 s on");
    for (size_t i = 0; i < part->n; i++) {
        size_t j = i + 10, n = (size_t)(t->block_hash_start[j + 1] - t->block_hash_start[j]);
        cr_assert_eq((size_t)(part->block_hash_start[i + 1] - part->block_hash_start[i]), n);
        cr_assert_eq(part->block_hashes[part->block_hash_start[i]],
                     t->block_hashes[t->block_hash_start[j]]);
    }
    cr_assert_eq(wl_trace_write_csv(t, fx_path(dir, "k.csv")), MX_OK);
    struct wl_trace *csv = NULL;
    cr_assert_eq(wl_trace_read_csv(fx_path(dir, "k.csv"), &csv), MX_OK, "%s", mx_error_message());
    cr_assert(wl_trace_has_tokens(csv) && !wl_trace_has_block_hashes(csv));
    wl_trace_free(csv);
    wl_trace_free(part);
    wl_trace_free(back);

    /* Clones and generated requests are not real prompts: no hashes at all. */
    struct wl_trace *r = NULL;
    cr_assert_eq(wl_trace_refit(t, 5, 1, 1, 1, &r), MX_OK, "%s", mx_error_message());
    cr_assert(wl_trace_has_tokens(r) && !wl_trace_has_block_hashes(r));
    wl_trace_free(r);
    wl_trace_free(t);
    spec.rate_scale = 1.5;
    t = import("mooncake", fx_source_path("tests/data/traces/mooncake_head40.jsonl"), spec);
    cr_assert(wl_trace_has_tokens(t) && !wl_trace_has_block_hashes(t));
    wl_trace_free(t);
    spec.rate_scale = 0.5;
    t = import("mooncake", fx_source_path("tests/data/traces/mooncake_head40.jsonl"), spec);
    cr_assert(wl_trace_has_block_hashes(t), "thinning keeps real requests");
    wl_trace_free(t);
}

/* A two-request trace with tokens and the given block hash datasets (NULL: left out). */
static void write_hash_h5(const char *path, const int64_t *start, size_t n_hashes,
                          const int64_t *hashes, int64_t block_tokens, bool tokens)
{
    struct mx_h5 h;
    size_t two[2] = {2, 0}, three[2] = {3, 0}, h_dims[2] = {n_hashes, 0};
    cr_assert_eq(mx_h5_create(path, "trace", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/arrival_s", MX_H5_F64, 1, two, (double[]){0, 1}), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/model", MX_H5_I32, 1, two, (int32_t[]){0, 0}), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/slo_s", MX_H5_F64, 1, two, (double[]){1, 1}), MX_OK);
    cr_assert_eq(mx_h5_write_strings(&h, "/model_names", 1, (const char *const[]){"m0"}), MX_OK);
    if (tokens) {
        cr_assert_eq(mx_h5_write(&h, "/input_tokens", MX_H5_I32, 1, two, (int32_t[]){600, 9}),
                     MX_OK);
        cr_assert_eq(mx_h5_write(&h, "/output_tokens", MX_H5_I32, 1, two, (int32_t[]){1, 1}),
                     MX_OK);
    }
    if (start)
        cr_assert_eq(mx_h5_write(&h, "/block_hash_start", MX_H5_I64, 1, three, start), MX_OK);
    if (hashes) {
        cr_assert_eq(mx_h5_write(&h, "/block_hashes", MX_H5_I64, 1, h_dims, hashes), MX_OK);
        cr_assert_eq(mx_h5_attr_write_i64(&h, "/block_hashes", "block_tokens", block_tokens),
                     MX_OK);
    }
    cr_assert_eq(mx_h5_close(&h), MX_OK);
}

Test(import_tokens, bad_block_hashes_name_the_dataset_and_row)
{
    const char *path = fx_path(fx_tmpdir(), "bad.h5");
    struct wl_trace *t = NULL;
    const int64_t good[3] = {0, 2, 3}, hashes[3] = {5, 6, 5};
    write_hash_h5(path, good, 3, hashes, 512, true);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_OK, "%s", mx_error_message());
    cr_assert(t->block_hash_start[2] == 3 && t->block_hashes[2] == 5);
    wl_trace_free(t);
    t = NULL;
    write_hash_h5(path, good, 3, NULL, 512, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hash_start: present without /block_hashes");
    write_hash_h5(path, good, 3, hashes, 512, false);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hash_start: present without /input_tokens");
    write_hash_h5(path, (int64_t[]){1, 2, 3}, 3, hashes, 512, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hash_start[0]: 1 is not 0");
    write_hash_h5(path, (int64_t[]){0, 3, 2}, 3, hashes, 512, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hash_start[2]: 2 is not between the one before and the count "
                    "of /block_hashes");
    write_hash_h5(path, (int64_t[]){0, 1, 2}, 3, hashes, 512, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hash_start[2]: 2, but /block_hashes has 3");
    write_hash_h5(path, good, 3, (int64_t[]){5, -6, 5}, 512, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hashes[1]: -6 is negative");
    write_hash_h5(path, good, 3, hashes, 0, true);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "bad.h5: /block_hashes: block_tokens is 0, not 1 to 16777216");
    cr_assert_null(t);
}
