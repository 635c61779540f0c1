/* muxplan profile --backend from the command line: reproducible roofline DBs, bad options and
 * specs (status 2, the field named, nothing written), and a backend without its device. */
#include "fixture.h"
#include "mx_config.h"
#include "mx_error.h"

#include <jansson.h>

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define V100 "data/hardware/v100-16gb.json"

Test(profile_cli, roofline_dbs_are_reproducible_and_read_back)
{
    const char *dir = fx_tmpdir(), *a = fx_path(dir, "a.h5"), *b = fx_path(dir, "b.h5");
    setenv("SOURCE_DATE_EPOCH", "1795651200", 1);
    for (int k = 0; k < 2; k++) {
        struct fx_output o = fx_muxplan(
            "profile --backend roofline --hardware %s --models bert-1.3b,moe-1.3b,tiny-2l-128 "
            "--batches 1,4 -o %s",
            fx_source_path(V100), k ? b : a);
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert(strstr(o.err, "wrote 3 models profiled by roofline on v100-16gb"), "%s", o.err);
    }
    cr_assert(fx_same_file(a, b));
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(a, &db), 0);
    /* bert-1.3b: op 1, 2, 4, 8 x pp 1, 2, 4, 8, 16 (24 layers); tiny-2l-128: op 1, 2, 4 x pp 1, 2.
     */
    cr_assert_eq(spec_profile_find_model(db, "bert-1.3b")->n_configs, 20);
    cr_assert_eq(spec_profile_find_model(db, "tiny-2l-128")->n_configs, 6);
    cr_assert_eq(spec_profile_find(db, "bert-1.3b", 1, 2, 4)->n_batches, 2);
    cr_assert(strstr(spec_profile_provenance(db), "\"backend\":\"roofline\""));
    cr_assert(strstr(spec_profile_provenance(db), "\"date\":\"2026-11-26T00:00:00Z\""));
    cr_assert(strstr(spec_profile_provenance(db), "\"attn_scores\""), "raw per-layer numbers");
    spec_profile_free(db);
    unsetenv("SOURCE_DATE_EPOCH");
}

Test(profile_cli, bad_options_and_specs_exit_2)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "p.h5"), *hw = fx_source_path(V100);
    fx_expect_bad(out, (const char *const[]){"--backend: expected roofline, cpu or cuda", NULL},
                  "profile --backend tpu --hardware %s --models bert-1.3b -o %s", hw, out);
    fx_expect_bad(out, (const char *const[]){"the roofline backend needs --hardware", NULL},
                  "profile --backend roofline --models bert-1.3b -o %s", out);
    fx_expect_bad(out, (const char *const[]){"no model \"bert-9t\" in the zoo", NULL},
                  "profile --backend roofline --hardware %s --models bert-9t -o %s", hw, out);
    fx_expect_bad(out, (const char *const[]){"bert-1.3b: --ops 3 does not divide heads", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b --ops 3 -o %s", hw,
                  out);
    fx_expect_bad(out, (const char *const[]){"--batches must start at 1", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b --batches 2,4 -o %s",
                  hw, out);
    const char *zoo = fx_path(dir, "zoo");
    cr_assert_eq(mkdir(zoo, 0755), 0);
    fx_write_file(fx_path(zoo, "m.json"),
                  "{\"format\": \"muxplan-arch/1\", \"name\": \"m\", \"kind\": \"encoder\", "
                  "\"seq\": 8, \"hidden\": 64, \"layers\": 0, \"heads\": 4, \"vocab\": 10}");
    fx_expect_bad(out, (const char *const[]){"m.json: layers: ", NULL},
                  "profile --backend roofline --hardware %s --zoo %s --models m -o %s", hw, zoo,
                  out);
    const char *bad_hw = fx_path(dir, "hw.json");
    fx_write_file(bad_hw, "{\"format\": \"muxplan-hardware/1\", \"name\": \"x\", \"device\": "
                          "{\"peak_flops\": 1e12, \"mem_bandwidth_bytes_per_s\": 1e11, "
                          "\"mem_bytes\": 1000000}, \"devices_per_node\": 8, \"links\": "
                          "{\"intra_node_bytes_per_s\": 1e9, \"intra_node_latency_s\": 0, "
                          "\"inter_node_bytes_per_s\": -5, \"inter_node_latency_s\": 0}}");
    fx_expect_bad(out, (const char *const[]){"hw.json: links.inter_node_bytes_per_s: ", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b -o %s", bad_hw, out);
}

/* Without a GPU, or in a build without CUDA, the cuda backend says which. */
Test(profile_cli, cuda_without_a_gpu_says_so)
{
    FX_SKIP_WITH_GPU();
    const char *out = fx_path(fx_tmpdir(), "p.h5");
    fx_expect_bad(
        out, (const char *const[]){MX_HAVE_CUDA ? "no GPU is visible" : "built without CUDA", NULL},
        "profile --backend cuda --models tiny-2l-128 -o %s", out);
}

/* profile show lists a DB's hardware, provenance and, per model, its configs and batches; a file
 * that is not a profile is named. */
Test(profile_cli, show_says_what_a_db_holds)
{
    struct fx_output o = fx_muxplan("profile show %s", fx_source_path("data/profiles/v100.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    for (const char *const *f =
             (const char *const[]){"hardware v100-16gb", "backend: \"roofline\"",
                                   "op 1,2,4,8 x pp 1,2,4,8,16", "1,2,4,8,16", "bert-6.7b", NULL};
         *f; f++)
        cr_assert(strstr(o.out, *f), "no \"%s\" in:\n%s", *f, o.out);
    cr_assert_null(strstr(o.out, "raw"), "the raw per-layer numbers are left out:\n%s", o.out);
    o = fx_muxplan("profile show --json %s", fx_source_path("data/profiles/v100-reference.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"single_device_latency_s\": 0.099"), "%s", o.out);
    const char *dir = fx_tmpdir(), *bad = fx_path(dir, "bad.h5");
    fx_write_file(bad, "not a profile\n");
    o = fx_muxplan("profile show %s", bad);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "bad.h5: not a profile DB: neither HDF5"), "%s", o.err);
    fx_write_file(bad, "");
    o = fx_muxplan("profile show %s", bad);
    cr_assert(strstr(o.err, "bad.h5: not a profile DB: the file is empty"), "%s", o.err);
}

#define H100 "data/hardware/h100-80gb.json"

Test(profile_cli, decoders_get_iteration_costs_and_reference_figures)
{
    const char *dir = fx_tmpdir(), *a = fx_path(dir, "a.h5"), *b = fx_path(dir, "b.h5");
    setenv("SOURCE_DATE_EPOCH", "1795651200", 1);
    for (int k = 0; k < 2; k++) {
        struct fx_output o = fx_muxplan(
            "profile --backend roofline --hardware %s --models llama-2-7b,tiny-llama-2l-256,"
            "bert-125m -o %s",
            fx_source_path(H100), k ? b : a);
        cr_assert_eq(o.status, 0, "%s", o.err);
    }
    cr_assert(fx_same_file(a, b));
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(a, &db), 0, "%s", mx_error_message());
    const struct spec_profile_model *m = spec_profile_find_model(db, "llama-2-7b");
    cr_assert(m && m->kind == SPEC_DECODER);
    cr_assert_eq(m->n_configs, 16); /* op 1, 2, 4, 8 x pp 1, 2, 4, 8 */
    cr_assert_eq(m->decoder.context_tokens, 4096);
    cr_assert_eq(m->decoder.reference_input_tokens, 1024);
    /* The tiny decoder: 4 heads (op 1, 2, 4), 2 layers (pp 1, 2). */
    cr_assert_eq(spec_profile_find_model(db, "tiny-llama-2l-256")->n_configs, 6);
    cr_assert_eq(spec_profile_find_model(db, "bert-125m")->kind, SPEC_ENCODER);
    const struct spec_config *c = spec_profile_find(db, "llama-2-7b", 1, 2, 4);
    cr_assert(c);
    const int32_t *t = c->decoder.tokens;
    cr_assert_eq(t[0], 1);
    cr_assert_geq(t[c->decoder.n_tokens - 1], 16384);
    /* 8 layers a stage; 16 KV heads of 128 on each device, K and V in fp16. */
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(c->layer_ranges[2 * k + 1] - c->layer_ranges[2 * k], 8);
        cr_assert_eq(c->decoder.kv_bytes_per_token[k], 8 * 2 * 16 * 128 * 2);
        cr_assert_gt(c->decoder.prefill_pair_s[k], 0);
        cr_assert_gt(c->decoder.decode_token_s[k], 0);
    }
    /* The first stage holds the embedding, the last the LM head: both more than the inner. */
    cr_assert_gt(c->weight_bytes[0], c->weight_bytes[1]);
    cr_assert_gt(c->weight_bytes[3], c->weight_bytes[1]);
    spec_profile_free(db);
    /* show lists the decoders' grid and reference figures. */
    struct fx_output o = fx_muxplan("profile show %s", a);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "T 1..16384"), "%s", o.out);
    cr_assert(strstr(o.out, "reference TTFT"), "%s", o.out);
    o = fx_muxplan("profile show %s --json", a);
    cr_assert(strstr(o.out, "\"reference_tpot_s\""), "%s", o.out);
    unsetenv("SOURCE_DATE_EPOCH");
}

Test(profile_cli, decoder_bad_input_exits_2_naming_file_and_place)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "p.h5"), *hw = fx_source_path(H100);
    const char *zoo = fx_path(dir, "zoo");
    cr_assert_eq(mkdir(zoo, 0755), 0);
    fx_write_file(fx_path(zoo, "d.json"),
                  "{\"format\": \"muxplan-arch/1\", \"name\": \"d\", \"kind\": \"decoder\", "
                  "\"hidden\": 64, \"layers\": 2, \"heads\": 4, \"ffn\": 128, \"vocab\": 10, "
                  "\"context_tokens\": 64}");
    fx_expect_bad(out, (const char *const[]){"d.json: kv_heads: missing: a decoder needs it", NULL},
                  "profile --backend roofline --hardware %s --zoo %s --models d -o %s", hw, zoo,
                  out);
    fx_expect_bad(
        out, (const char *const[]){"llama-2-13b.json: --ops 16 does not divide heads (40)", NULL},
        "profile --backend roofline --hardware %s --models llama-2-13b --ops 16 -o %s", hw, out);
    fx_expect_bad(
        out,
        (const char *const[]){"--tokens: the grid ends at 4096 tokens, below --max-batch-tokens "
                              "8192",
                              NULL},
        "profile --backend roofline --hardware %s --models llama-2-7b --tokens 1,2,4096 "
        "--max-batch-tokens 8192 -o %s",
        hw, out);
    /* A hardware spec without the decoder cost model: the roofline cannot cost decoders. */
    const char *bare = fx_path(dir, "bare.json");
    fx_write_file(bare, "{\"format\": \"muxplan-hardware/1\", \"name\": \"x\", \"device\": "
                        "{\"peak_flops\": 1e14, \"mem_bandwidth_bytes_per_s\": 1e12, "
                        "\"mem_bytes\": 1000000000}, \"devices_per_node\": 8, \"links\": "
                        "{\"intra_node_bytes_per_s\": 1e11, \"intra_node_latency_s\": 1e-5, "
                        "\"inter_node_bytes_per_s\": 1e10, \"inter_node_latency_s\": 1e-5}}");
    fx_expect_bad(out, (const char *const[]){"bare.json: decoder: missing", NULL},
                  "profile --backend roofline --hardware %s --models llama-2-7b -o %s", bare, out);
    struct fx_output o =
        fx_muxplan("profile ops --hardware %s --models llama-2-7b --tokens 1 --json", bare);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "bare.json: decoder: missing"), "%s", o.err);
    o = fx_muxplan("profile ops --hardware %s --models llama-2-13b --tokens 1 --op 16", hw);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "llama-2-13b.json: --op 16 does not divide heads (40)"), "%s", o.err);
    o = fx_muxplan("profile ops --hardware %s --models bert-125m --tokens 1", hw);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "bert-125m.json: kind is not \"decoder\""), "%s", o.err);
    /* A decoder a core cannot hold: an input error naming the model, not a half-written DB. */
    fx_expect_bad(out,
                  (const char *const[]){"llama-2-7b.json: the cpu backend profiles decoders whose "
                                        "FP32 weights fit in 1 GiB per device",
                                        "at op 1 each device holds 25.1 GiB", NULL},
                  "profile --backend cpu --models tiny-2l-128,llama-2-7b -o %s", out);
}

Test(profile_cli, ops_prints_the_prediction_per_operator)
{
    struct fx_output o = fx_muxplan("profile ops --hardware %s --models llama-2-7b --tokens "
                                    "1,16,256,4096 --op 2 --json",
                                    fx_source_path(H100));
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_error_t error;
    json_t *doc = json_loads(o.out, 0, &error);
    cr_assert(doc, "%s", error.text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "unit")), "s");
    cr_assert_eq(json_integer_value(json_object_get(doc, "op")), 2);
    json_t *ops = json_object_get(json_array_get(json_object_get(doc, "models"), 0), "ops");
    static const char *const names[] = {
        "attn_pre_proj", "attn_rope",     "attn_post_proj",  "mlp_up_proj",
        "mlp_act",       "mlp_down_proj", "input_layernorm", "post_attention_layernorm",
        "add",           "all_reduce",    "layer_sum",       "lm_head"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = json_object_get(ops, names[i]);
        cr_assert_eq(json_array_size(v), 4, "%s", names[i]);
        /* More tokens never cost less. */
        for (size_t j = 1; j < 4; j++)
            cr_assert_geq(json_real_value(json_array_get(v, j)),
                          json_real_value(json_array_get(v, j - 1)), "%s", names[i]);
    }
    json_decref(doc);
    o = fx_muxplan("profile ops --hardware %s --models llama-2-7b --tokens 1,16",
                   fx_source_path(H100));
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "milliseconds per operator"), "%s", o.out);
}
