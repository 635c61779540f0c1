/* muxplan trace with token counts from the command line: gen's lengths (byte-identical whatever
 * the threads), import's summary of dropped rows, stats of lengths and their plots, and every bad
 * length, token and SLO input exiting with status 2, its place named and no output left. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A model set of decoder "chat" (lengths given) and decoder "code" (none: --lengths or nothing). */
static const char *decoder_models(const char *dir, const char *chat_lengths)
{
    const char *path = fx_path(dir, "models.json");
    char text[512];
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-models/1\", \"models\": ["
             "{\"name\": \"chat\", \"base\": \"llm\", \"ttft_slo_s\": 1, \"tpot_slo_s\": 0.1, "
             "\"lengths\": \"%s\"},"
             "{\"name\": \"code\", \"base\": \"llm\", \"ttft_slo_s\": 0.5}]}",
             chat_lengths);
    fx_write_file(path, text);
    return path;
}

Test(trace_tokens_cli, gen_draws_lengths_byte_identically_whatever_the_threads)
{
    const char *dir = fx_tmpdir(), *models = decoder_models(dir, "lognormal:1000,1/zipf:1.1,500");
    const char *one = fx_path(dir, "one.h5"), *four = fx_path(dir, "four.h5");
    const char *csv = fx_path(dir, "one.csv");
    struct fx_output o = fx_muxplan("trace gen --models %s --total-rate 20 --duration 60 --seed 3 "
                                    "--lengths uniform:10,20/5 --max-context 2048 -o %s",
                                    models, one);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.err, "models with token counts over 60 s"), "%s", o.err);
    o = fx_muxplan("trace gen --models %s --total-rate 20 --duration 60 --seed 3 --lengths "
                   "uniform:10,20/5 --max-context 2048 --threads 4 -o %s",
                   models, four);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(fx_same_file(one, four));
    o = fx_muxplan("trace export csv %s -o %s", one, csv);
    cr_assert_eq(o.status, 0, "%s", o.err);
    char *text = fx_read_file(csv, NULL);
    static const char header[] =
        "arrival_s,model,slo_s,input_tokens,output_tokens,ttft_slo_s,tpot_slo_s\n";
    cr_assert(strncmp(text, header, strlen(header)) == 0, "%.100s", text);
    cr_assert(strstr(text, ",code,,1"), "code's inputs are 10 to 20 tokens: %.200s", text);
    cr_assert(strstr(text, ",5,0.5,\n"), "code's outputs are 5 tokens, its TTFT SLO 0.5 s");
    free(text);
    o = fx_muxplan("trace gen --help");
    cr_assert(strstr(o.out, "--lengths SPEC") && strstr(o.out, "empirical:TRACE.h5[:MODEL]"));
}

Test(trace_tokens_cli, bad_lengths_exit_2_naming_the_member_or_option)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "t.h5");
    const char *models = decoder_models(dir, "64/8");
    fx_expect_bad(out,
                  (const char *const[]){"models.json: models[1] (\"code\", base \"llm\") is a "
                                        "decoder and has no \"lengths\"",
                                        NULL},
                  "trace gen --models %s --total-rate 5 --duration 10 -o %s", models, out);
    fx_expect_bad(out,
                  (const char *const[]){"--lengths: output: expected N, fixed:N, uniform:LO,HI",
                                        "got \"many\"", NULL},
                  "trace gen --models %s --total-rate 5 --duration 10 --lengths 5/many -o %s",
                  models, out);
    fx_expect_bad(out,
                  (const char *const[]){"models.json: models[0].lengths: the shortest request (64 "
                                        "input plus 8 output tokens) is over the maximum context "
                                        "of model \"chat\" (50 tokens)",
                                        NULL},
                  "trace gen --models %s --total-rate 5 --duration 10 --lengths 5/5 "
                  "--max-context 50 -o %s",
                  models, out);
    /* Empirical lengths need a trace with token counts. */
    const char *plain = fx_path(dir, "plain.h5");
    const char *one_model = fx_path(dir, "one.json");
    fx_write_file(one_model, "{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m\", "
                             "\"base\": \"b\", \"slo_s\": 1}]}");
    struct fx_output o =
        fx_muxplan("trace gen --models %s --total-rate 5 --duration 10 -o %s", one_model, plain);
    cr_assert_eq(o.status, 0, "%s", o.err);
    fx_expect_bad(out,
                  (const char *const[]){"--lengths: trace ", "plain.h5 has no token counts", NULL},
                  "trace gen --models %s --total-rate 5 --duration 10 --lengths empirical:%s -o "
                  "%s",
                  models, plain, out);
    /* A negative SLO in the model set. */
    fx_write_file(one_model, "{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m\", "
                             "\"base\": \"b\", \"ttft_slo_s\": -1, \"lengths\": \"5/5\"}]}");
    fx_expect_bad(out, (const char *const[]){"one.json: models[0].ttft_slo_s", NULL},
                  "trace gen --models %s --total-rate 5 --duration 10 -o %s", one_model, out);
}

Test(trace_tokens_cli, import_summary_counts_rows_of_0_tokens)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "b.h5");
    struct fx_output o =
        fx_muxplan("trace import burstgpt %s --slo 2 -o %s",
                   fx_source_path("traces/burstgpt_head_slices/BurstGPT_1_first400.csv"), out);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.err, "read 400 rows (17 of 0 input or output tokens, dropped) of 2 keys, "
                            "kept 2; wrote 383 requests of 2 models with token counts"),
              "%s", o.err);
}

Test(trace_tokens_cli, bad_tokens_and_slos_exit_2_naming_the_place)
{
    const char *dir = fx_tmpdir(), *in = fx_path(dir, "t.csv"), *out = fx_path(dir, "t.h5");
    fx_write_file(in, "t,in,out\n0,5,5\n1,-3,5\n");
    fx_expect_bad(out, (const char *const[]){"t.csv:3: in: \"-3\" is not a token count", NULL},
                  "trace import csv %s --time-column t --input-column in --output-column out "
                  "--slo 1 -o %s",
                  in, out);
    fx_expect_bad(out,
                  (const char *const[]){"t.csv:1: the header has no output token column "
                                        "\"gen\"",
                                        NULL},
                  "trace import csv %s --time-column t --input-column in --output-column gen "
                  "--slo 1 -o %s",
                  in, out);
    fx_expect_bad(out,
                  (const char *const[]){"--input-column and --output-column go together", NULL},
                  "trace import csv %s --time-column t --input-column in --slo 1 -o %s", in, out);
    /* A decoder model needs token counts. */
    const char *models = decoder_models(dir, "5/5");
    fx_write_file(in, "t\n0\n1\n");
    fx_expect_bad(out,
                  (const char *const[]){"t.csv: requests go to model \"chat\" of ",
                                        "a decoder, and this import has no token counts", NULL},
                  "trace import csv %s --time-column t --model-set %s -o %s", in, models, out);
    /* muxplan's own form is read exactly: 0 tokens and negative SLOs are errors there. */
    fx_write_file(in, "arrival_s,model,slo_s,input_tokens,output_tokens,ttft_slo_s,tpot_slo_s\n"
                      "0,m,1,5,0,,\n");
    fx_expect_bad(
        out,
        (const char *const[]){"t.csv:2: output_tokens: output tokens are not at least 1", NULL},
        "trace import csv %s -o %s", in, out);
    fx_write_file(in, "arrival_s,model,slo_s,input_tokens,output_tokens,ttft_slo_s,tpot_slo_s\n"
                      "0,m,1,5,1,-0.5,\n");
    fx_expect_bad(out,
                  (const char *const[]){"t.csv:2: ttft_slo_s: SLO is not a positive number", NULL},
                  "trace import csv %s -o %s", in, out);
    fx_write_file(in, "arrival_s,model,slo_s,input_tokens,output_tokens\n0,m,-1,5,1\n");
    fx_expect_bad(out, (const char *const[]){"t.csv:2: slo_s: SLO is not a positive number", NULL},
                  "trace import csv %s -o %s", in, out);
}

Test(trace_tokens_cli, stats_of_lengths_in_json_text_and_plots)
{
    const char *dir = fx_tmpdir(), *trace = fx_path(dir, "k.h5"), *plots = fx_path(dir, "plots");
    struct fx_output o =
        fx_muxplan("trace import mooncake %s --spread 0 --slo 1 -o %s",
                   fx_source_path("tests/data/traces/mooncake_head40.jsonl"), trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("trace stats %s --json --plot %s", trace, plots);
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_error_t error;
    json_t *root = json_loads(o.out, 0, &error);
    cr_assert(root, "%s", error.text);
    json_t *in = json_object_get(root, "input_tokens"),
           *rate = json_object_get(root, "tokens_per_s");
    cr_assert(json_is_object(in) && json_is_object(json_object_get(root, "output_tokens")));
    cr_assert(json_real_value(json_object_get(in, "max")) >= 6760);
    cr_assert(json_real_value(json_object_get(in, "p50")) <=
              json_real_value(json_object_get(in, "p90")));
    cr_assert(json_is_object(
        json_object_get(json_array_get(json_object_get(root, "models"), 0), "output_tokens")));
    size_t windows = json_array_size(json_object_get(rate, "input"));
    cr_assert(windows > 1 && windows <= 50);
    cr_assert_eq(json_array_size(json_object_get(rate, "output")), windows);
    cr_assert(json_real_value(json_object_get(rate, "window_s")) > 0);
    json_decref(root);
    static const char *const files[] = {"tokens.png",     "tokens.svg",     "tokens.tsv",
                                        "token_rate.png", "token_rate.svg", "token_rate.tsv"};
    for (size_t f = 0; f < 6; f++) {
        size_t len = 0;
        char *bytes = fx_read_file(fx_path(plots, files[f]), &len);
        cr_assert(bytes && len > 20, "%s", files[f]);
        free(bytes);
    }
    o = fx_muxplan("trace stats %s", trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "in mean") && strstr(o.out, "tokens/s in "), "%s", o.out);
}
