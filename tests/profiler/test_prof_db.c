/* src/profiler: the profile DB's JSON and HDF5 forms, their round trip, the bundled reference DB,
 * and every bad-input path. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "spec_profile.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void assert_same_db(const struct spec_profile *a, const struct spec_profile *b)
{
    cr_assert_str_eq(spec_profile_hardware(a), spec_profile_hardware(b));
    cr_assert_eq(spec_profile_model_count(a), spec_profile_model_count(b));
    for (uint32_t m = 0; m < spec_profile_model_count(a); m++) {
        const struct spec_profile_model *x = spec_profile_model(a, m),
                                        *y = spec_profile_model(b, m);
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->n_configs, y->n_configs);
        for (uint32_t c = 0; c < x->n_configs; c++) {
            const struct spec_config *p = &x->configs[c], *q = &y->configs[c];
            size_t cells = (size_t)p->n_batches * (size_t)p->pp;
            cr_assert(p->dp == q->dp && p->op == q->op && p->pp == q->pp);
            cr_assert_eq(p->n_batches, q->n_batches);
            cr_assert_eq(memcmp(p->batch, q->batch, p->n_batches * sizeof(int32_t)), 0);
            cr_assert_eq(memcmp(p->stage_latency_s, q->stage_latency_s, cells * sizeof(double)), 0);
            cr_assert_eq(memcmp(p->weight_bytes, q->weight_bytes, (size_t)p->pp * 8), 0);
            cr_assert_eq(!p->act_bytes, !q->act_bytes);
            if (p->act_bytes)
                cr_assert_eq(memcmp(p->act_bytes, q->act_bytes, cells * 8), 0);
            cr_assert_eq(!p->layer_ranges, !q->layer_ranges);
            if (p->layer_ranges)
                cr_assert_eq(memcmp(p->layer_ranges, q->layer_ranges, (size_t)p->pp * 8), 0);
            cr_assert_eq(!p->note, !q->note);
        }
    }
}

static const char full_profile[] =
    "{\"format\": \"muxplan-profile/1\", \"hardware\": \"toy\", \"provenance\": {\"by\": "
    "\"hand\"},\n"
    " \"models\": [{\"name\": \"a\", \"configs\": [\n"
    "   {\"dp\": 1, \"op\": 1, \"pp\": 2, \"weight_bytes\": [10, 12], \"layer_ranges\": [[0, 3], "
    "[3, 6]],\n"
    "    \"note\": \"made up\", \"batches\": [\n"
    "     {\"batch\": 1, \"stage_latency_s\": [0.01, 0.02], \"act_bytes\": [5, 6]},\n"
    "     {\"batch\": 4, \"stage_latency_s\": [0.03, 0.05], \"act_bytes\": [20, 24]}]},\n"
    "   {\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [22],\n"
    "    \"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.03]}]}]},\n"
    "  {\"name\": \"b\", \"configs\": [{\"dp\": 1, \"op\": 2, \"pp\": 1, \"weight_bytes\": [7],\n"
    "    \"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.5]}]}]}]}\n";

Test(prof_db, json_and_hdf5_round_trip)
{
    const char *dir = fx_tmpdir();
    fx_write_file(fx_path(dir, "p.json"), full_profile);
    struct spec_profile *json = NULL, *h5 = NULL, *again = NULL;
    cr_assert_eq(spec_profile_read_json(fx_path(dir, "p.json"), &json), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(spec_profile_write_h5(json, fx_path(dir, "p.h5")), MX_OK);
    cr_assert_eq(spec_profile_load(fx_path(dir, "p.h5"), &h5), MX_OK, "%s", mx_error_message());
    assert_same_db(json, h5);
    cr_assert_str_eq(spec_profile_provenance(h5), "{\"by\":\"hand\"}");
    cr_assert_eq(spec_profile_write_json(h5, fx_path(dir, "back.json")), MX_OK);
    cr_assert_eq(spec_profile_load(fx_path(dir, "back.json"), &again), MX_OK);
    assert_same_db(json, again);

    const struct spec_config *cfg = spec_profile_find(h5, "a", 1, 1, 2);
    cr_assert_not_null(cfg);
    cr_assert_eq(spec_config_latency(cfg, 1)[1], 0.05);
    cr_assert_eq(cfg->layer_ranges[3], 6);
    cr_assert_str_eq(cfg->note, "made up");
    cr_assert_null(spec_profile_find(h5, "a", 1, 2, 2));
    cr_assert_float_eq(spec_profile_single_device_latency_s(h5, "a"), 0.03, 1e-15);
    cr_assert_lt(spec_profile_single_device_latency_s(h5, "b"), 0, "b has no (1, 1, 1)");
    spec_profile_free(json);
    spec_profile_free(h5);
    spec_profile_free(again);
}

Test(prof_db, bundled_reference_matches_its_source_and_the_published_numbers)
{
    struct spec_profile *h5 = NULL, *json = NULL;
    cr_assert_eq(spec_profile_load(fx_source_path("data/profiles/v100-reference.h5"), &h5), MX_OK,
                 "%s", mx_error_message());
    cr_assert_eq(spec_profile_load(fx_source_path("data/profiles/v100-reference.json"), &json),
                 MX_OK, "%s", mx_error_message());
    assert_same_db(json, h5);
    cr_assert_str_eq(spec_profile_hardware(h5), "v100-16gb");
    /* Spot checks against data/reference/v100-published.json. */
    const struct spec_config *one = spec_profile_find(h5, "bert-1.3b", 1, 1, 1);
    cr_assert_eq(one->stage_latency_s[0], 0.099);
    cr_assert_eq(one->weight_bytes[0], 2791728742);
    const struct spec_config *eight = spec_profile_find(h5, "bert-1.3b", 1, 1, 8);
    cr_assert_eq(eight->stage_latency_s[7], 0.016);
    cr_assert_not_null(spec_profile_find(h5, "bert-2.6b", 1, 2, 1));
    spec_profile_free(h5);
    spec_profile_free(json);
}

struct bad_profile {
    const char *config; /* one config object for model "a" */
    const char *message;
};

Test(prof_db, bad_json_names_file_and_place)
{
    static const struct bad_profile cases[] = {
        {"{\"dp\": 1, \"op\": 1, \"pp\": 2, \"weight_bytes\": [1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [0.1, 0.1]}]}",
         "models[0].configs[0].weight_bytes: expected 2 values (one per stage), got 1"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [-0.1]}]}",
         "models[0].configs[0]: batch 1: stage_latency_s[0] is -0.1, expected a positive"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [1], \"batches\": [{\"batch\": 2, "
         "\"stage_latency_s\": [0.1]}]}",
         "batch sizes must include 1"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [0.1]}, {\"batch\": 1, \"stage_latency_s\": [0.1]}]}",
         "strictly ascending"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [-1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [0.1]}]}",
         "weight_bytes[0] is -1, expected 0 to 2^50 bytes"},
        {"{\"dp\": 1, \"op\": 0, \"pp\": 1, \"weight_bytes\": [1], \"batches\": []}",
         "models[0].configs[0].op: 0 is out of range [1, 4096]"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [0.1]}], \"speed\": 3}",
         "models[0].configs[0]: unknown member \"speed\""},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 2, \"weight_bytes\": [1, 1], \"layer_ranges\": [[0, 2], "
         "[3, "
         "4]], \"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.1, 0.1]}]}",
         "layer_ranges[1] is [3, 4), expected contiguous"},
        {"{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [1], \"batches\": [{\"batch\": 1, "
         "\"stage_latency_s\": [0.1], \"act_bytes\": [1]}, {\"batch\": 2, \"stage_latency_s\": "
         "[0.1]}]}",
         "act_bytes must be given for every batch or for none"},
    };
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.json");
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *text =
            mx_strfmt("{\"format\": \"muxplan-profile/1\", \"hardware\": \"x\", \"models\": "
                      "[{\"name\": \"a\", \"configs\": [%s]}]}",
                      cases[k].config);
        fx_write_file(path, text);
        free(text);
        struct spec_profile *db = NULL;
        cr_assert_eq(spec_profile_load(path, &db), MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
        cr_assert_null(db);
    }
    fx_write_file(path, "{\"format\": \"muxplan-profile/1\", \"hardware\": \"x\", \"models\": "
                        "[{\"name\": \"a/b\", \"configs\": []}]}");
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(path, &db), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "models[0].name: \"a/b\" is not a model name"), "%s",
              mx_error_message());
}

Test(prof_db, bad_hdf5_names_the_dataset)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.h5");
    struct mx_h5 h;
    cr_assert_eq(mx_h5_create(path, "profile", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_attr_write_str(&h, "/", "hardware", "x"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models/a"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models/a/dp1_op1_pp2"), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/dp1_op1_pp2", "dp", 1), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/dp1_op1_pp2", "op", 1), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/dp1_op1_pp2", "pp", 2), MX_OK);
    int32_t batch[1] = {1};
    double latency[3] = {0.1, 0.1, 0.1};
    cr_assert_eq(
        mx_h5_write(&h, "/models/a/dp1_op1_pp2/batch", MX_H5_I32, 1, (size_t[2]){1, 0}, batch),
        MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/models/a/dp1_op1_pp2/stage_latency_s", MX_H5_F64, 2,
                             (size_t[2]){1, 3}, latency),
                 MX_OK);
    cr_assert_eq(mx_h5_close(&h), MX_OK);
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(path, &db), MX_EINPUT);
    cr_assert(strstr(mx_error_message(),
                     "/models/a/dp1_op1_pp2/stage_latency_s: expected shape [1, 2], got [1, 3]"),
              "%s", mx_error_message());
}

Test(prof_db, config_groups_are_named_by_their_config)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "misnamed.h5");
    struct mx_h5 h;
    cr_assert_eq(mx_h5_create(path, "profile", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_attr_write_str(&h, "/", "hardware", "x"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models/a"), MX_OK);
    cr_assert_eq(mx_h5_group(&h, "/models/a/fast"), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/fast", "dp", 1), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/fast", "op", 1), MX_OK);
    cr_assert_eq(mx_h5_attr_write_i64(&h, "/models/a/fast", "pp", 1), MX_OK);
    cr_assert_eq(mx_h5_close(&h), MX_OK);
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(path, &db), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/models/a/fast: the group of config (1, 1, 1) must be "
                                         "named dp1_op1_pp1"),
              "%s", mx_error_message());
    const char *bad[] = {".", "..", "tab\there", ""};
    for (size_t k = 0; k < 4; k++)
        cr_assert_not(spec_profile_name_valid(bad[k]), "%s", bad[k]);
    cr_assert(spec_profile_name_valid("bert-1.3b"));
}

/* A decoder model (docs/decoders.md): its description and each config's tokens and costs per
 * stage, in both forms. */
static const char decoder_profile[] =
    "{\"format\": \"muxplan-profile/1\", \"hardware\": \"toy\", \"models\": [\n"
    " {\"name\": \"llm\", \"kind\": \"decoder\", \"context_tokens\": 4096,\n"
    "  \"reference_input_tokens\": 1024, \"reference_ttft_s\": 0.08, \"reference_tpot_s\": 0.012,\n"
    "  \"configs\": [{\"dp\": 1, \"op\": 1, \"pp\": 2, \"weight_bytes\": [100, 120],\n"
    "   \"kv_bytes_per_token\": [8, 8], \"act_bytes_per_token\": [4, 4], \"tokens\": [1, 2, 8],\n"
    "   \"dense_s\": [[0.001, 0.0015, 0.004], [0.001, 0.0016, 0.005]],\n"
    "   \"prefill_pair_s\": [1e-9, 1e-9], \"decode_token_s\": [2e-8, 2e-8],\n"
    "   \"iteration_s\": [0.0001, 0.0002]}]},\n"
    " {\"name\": \"enc\", \"configs\": [{\"dp\": 1, \"op\": 1, \"pp\": 1, \"weight_bytes\": [7],\n"
    "   \"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.5]}]}]}]}\n";

Test(prof_db, decoder_models_round_trip)
{
    const char *dir = fx_tmpdir();
    fx_write_file(fx_path(dir, "d.json"), decoder_profile);
    struct spec_profile *json = NULL, *h5 = NULL;
    cr_assert_eq(spec_profile_read_json(fx_path(dir, "d.json"), &json), MX_OK, "%s",
                 mx_error_message());
    const struct spec_profile_model *m = spec_profile_find_model(json, "llm");
    cr_assert_eq(m->kind, SPEC_DECODER);
    cr_assert_eq(m->decoder.context_tokens, 4096);
    const struct spec_config *cfg = spec_profile_find(json, "llm", 1, 1, 2);
    cr_assert_eq(cfg->decoder.n_tokens, 3);
    /* Interpolated between grid points, exact at them. */
    cr_assert_float_eq(spec_decoder_dense_s(&cfg->decoder, 1, 2), 0.0016, 1e-15);
    cr_assert_float_eq(spec_decoder_dense_s(&cfg->decoder, 0, 5), 0.0015 + 0.0025 * 3 / 6, 1e-15);
    cr_assert_eq(spec_profile_find_model(json, "enc")->kind, SPEC_ENCODER);
    cr_assert_eq(spec_profile_write_h5(json, fx_path(dir, "d.h5")), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(spec_profile_read_h5(fx_path(dir, "d.h5"), &h5), MX_OK, "%s", mx_error_message());
    cr_assert_eq(spec_profile_write_json(json, fx_path(dir, "a.json")), MX_OK);
    cr_assert_eq(spec_profile_write_json(h5, fx_path(dir, "b.json")), MX_OK);
    cr_assert(fx_same_file(fx_path(dir, "a.json"), fx_path(dir, "b.json")),
              "the HDF5 form lost something");
    spec_profile_free(json);
    spec_profile_free(h5);
}

Test(prof_db, bad_decoder_models_name_the_place)
{
    static const struct {
        const char *from, *to, *fragment;
    } cases[] = {
        {"\"tokens\": [1, 2, 8]", "\"tokens\": [2, 4, 8]", "configs[0]: tokens must start at 1"},
        {"\"tokens\": [1, 2, 8]", "\"tokens\": [1, 8, 2]", "tokens must be strictly ascending"},
        {"[[0.001, 0.0015, 0.004], [0.001, 0.0016, 0.005]]", "[[0.001, 0.0015, 0.004]]",
         "dense_s: expected 2 rows (one per stage), got 1"},
        {"\"decode_token_s\": [2e-8, 2e-8]", "\"decode_token_s\": [2e-8, -1]",
         "decode_token_s[1] is -1, expected 0 or more seconds"},
        {"\"kind\": \"decoder\"", "\"kind\": \"llm\"", "models[0].kind: expected \"encoder\""},
        {"\"context_tokens\": 4096,", "", "models[0]: missing member \"context_tokens\""},
        {"\"reference_input_tokens\": 1024", "\"reference_input_tokens\": 4096",
         "reference_input_tokens is 4096, expected 1 to context_tokens - 1 (4095)"},
        {"\"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.5]}]", "\"tokens\": [1]",
         "models[1].configs[0]: unknown member \"tokens\""},
    };
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "bad.json");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *at = strstr(decoder_profile, cases[c].from);
        cr_assert_not_null(at, "case %zu", c);
        char text[4096];
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - decoder_profile), decoder_profile,
                 cases[c].to, at + strlen(cases[c].from));
        fx_write_file(path, text);
        struct spec_profile *db = NULL;
        int rc = spec_profile_read_json(path, &db);
        cr_assert_eq(rc, MX_EINPUT, "case %zu: %s", c, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[c].fragment), "case %zu: %s", c,
                  mx_error_message());
    }
}
