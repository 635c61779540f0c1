/* src/profiler: decoders on the cpu backend (prof_cpu_decoder.c through prof_build_decoder). The
 * tiny decoder timed on this machine gives a positive dense table that grows with the tokens, FP32
 * bytes as the runtime holds them, fitted attention coefficients, and a DB that round-trips; a
 * decoder too large for a core is refused. Timings are only compared across a factor of 16 in
 * tokens, so that a busy machine does not fail them. */
#include "fixture.h"
#include "mx_error.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "spec_profile.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

/* This machine as the cli describes it without --hardware: nominal links, 2 devices a node. */
static struct prof_hw local_hw(void)
{
    struct prof_hw hw = {0};
    hw.name = "cpu-test";
    hw.devices_per_node = 2;
    hw.intra_node_bytes_per_s = hw.inter_node_bytes_per_s = 1e10;
    hw.intra_node_latency_s = hw.inter_node_latency_s = 5e-6;
    hw.eff.gemm_max = hw.eff.attention_max = hw.eff.memory_efficiency = 1;
    hw.mem_bytes = 1LL << 30;
    return hw;
}

static const int32_t tokens[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const int32_t ops[] = {1}, pps[] = {1, 2};

/* tiny-llama-2l-256 profiled by the cpu backend over tokens 1 to 256, op 1, pp 1 and 2. */
static struct spec_profile *profile_tiny(struct prof_arch **arch)
{
    struct prof_hw hw = local_hw();
    struct prof_backend *be;
    struct spec_profile *db = spec_profile_new("cpu-test");
    cr_assert_eq(prof_arch_find(fx_source_path("data/models"), "tiny-llama-2l-256", arch), MX_OK,
                 "%s", mx_error_message());
    cr_assert_eq(prof_backend_cpu(&hw, &be), MX_OK, "%s", mx_error_message());
    struct prof_decoder_grid grid = {1, 2, 9, 1, ops, pps, tokens, 256};
    json_t *raw = json_array();
    cr_assert_eq(prof_build_decoder(db, *arch, &hw, be, &grid, raw), MX_OK, "%s",
                 mx_error_message());
    /* The measurements are kept: three rounds of the attention points and their fit, every grid
     * point. */
    json_t *degree = json_array_get(json_object_get(json_array_get(raw, 0), "degrees"), 0);
    cr_assert_eq(json_array_size(json_object_get(degree, "points")), 9);
    cr_assert_eq(json_array_size(json_object_get(degree, "attention")), 3 * 10 + 1);
    json_decref(raw);
    be->free(be);
    return db;
}

Test(prof_cpu_decoder, the_table_is_positive_grows_with_tokens_and_counts_fp32, .timeout = 120)
{
    struct prof_arch *a;
    struct spec_profile *db = profile_tiny(&a);
    const struct spec_profile_model *m = spec_profile_find_model(db, "tiny-llama-2l-256");
    cr_assert_not_null(m);
    cr_assert_eq(m->kind, SPEC_DECODER);
    cr_assert_eq(m->n_configs, 2);
    cr_assert_eq(m->decoder.context_tokens, 2048);
    cr_assert(m->decoder.reference_ttft_s > m->decoder.reference_tpot_s &&
              m->decoder.reference_tpot_s > 0);
    const struct spec_config *one = spec_profile_find(db, "tiny-llama-2l-256", 1, 1, 1);
    const struct spec_decoder_cost *d = &one->decoder;
    cr_assert_eq(d->n_tokens, 9);
    for (uint32_t j = 0; j < d->n_tokens; j++) {
        cr_assert(d->dense_s[j] > 0, "T %d: %g", d->tokens[j], d->dense_s[j]);
        if (j > 0)
            cr_assert(d->dense_s[j] >= d->dense_s[j - 1], "T %d: %g after %g", d->tokens[j],
                      d->dense_s[j], d->dense_s[j - 1]);
    }
    /* 256 tokens against 16: sixteen times the GEMM rows. */
    cr_assert(d->dense_s[8] > 4 * d->dense_s[4], "T 256: %g, T 16: %g", d->dense_s[8],
              d->dense_s[4]);
    cr_assert(d->prefill_pair_s[0] > 0 && d->decode_token_s[0] > 0, "pair %g, token %g",
              d->prefill_pair_s[0], d->decode_token_s[0]);
    cr_assert_eq(d->iteration_s[0], 0);
    /* FP32 K and V of 2 KV heads of 64 per layer, 2 layers; weights in FP32. */
    cr_assert_eq(d->kv_bytes_per_token[0], 2 * 2 * 2 * 64 * 4);
    struct prof_arch fp32 = *a;
    fp32.dtype_bytes = 4;
    cr_assert_eq(one->weight_bytes[0], 2 * prof_arch_layer_weight_bytes(&fp32, 1) +
                                           prof_arch_embedding_weight_bytes(&fp32, 1) +
                                           prof_arch_lm_head_weight_bytes(&fp32, 1));
    cr_assert_eq(d->act_bytes_per_token[0], prof_decoder_act_bytes_per_token(&fp32, 1));
    /* Two stages split the layers and each holds its layer's KV cache. */
    const struct spec_config *two = spec_profile_find(db, "tiny-llama-2l-256", 1, 1, 2);
    cr_assert_eq(two->layer_ranges[1], 1);
    cr_assert_eq(two->decoder.kv_bytes_per_token[0], 2 * 2 * 64 * 4);
    cr_assert_eq(two->decoder.kv_bytes_per_token[1], 2 * 2 * 64 * 4);
    cr_assert(two->decoder.dense_s[two->decoder.n_tokens - 1] > 0);
    spec_profile_free(db);
    prof_arch_free(a);
}

Test(prof_cpu_decoder, a_profile_round_trips, .timeout = 120)
{
    struct prof_arch *a;
    struct spec_profile *db = profile_tiny(&a), *back = NULL;
    const char *dir = fx_tmpdir();
    cr_assert_eq(spec_profile_write_h5(db, fx_path(dir, "cpu.h5")), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(spec_profile_read_h5(fx_path(dir, "cpu.h5"), &back), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(spec_profile_write_json(db, fx_path(dir, "a.json")), MX_OK);
    cr_assert_eq(spec_profile_write_json(back, fx_path(dir, "b.json")), MX_OK);
    cr_assert(fx_same_file(fx_path(dir, "a.json"), fx_path(dir, "b.json")),
              "the HDF5 form lost something");
    const struct spec_config *cfg = spec_profile_find(back, "tiny-llama-2l-256", 1, 1, 2);
    cr_assert_not_null(cfg);
    cr_assert_eq(cfg->decoder.n_tokens, 9);
    spec_profile_free(back);
    spec_profile_free(db);
    prof_arch_free(a);
}

Test(prof_cpu_decoder, a_decoder_a_core_cannot_hold_is_refused)
{
    struct prof_hw hw = local_hw();
    struct prof_backend *be;
    struct prof_arch *a;
    struct spec_profile *db = spec_profile_new("cpu-test");
    cr_assert_eq(prof_arch_find(fx_source_path("data/models"), "llama-2-7b", &a), MX_OK);
    cr_assert_eq(prof_backend_cpu(&hw, &be), MX_OK);
    struct prof_decoder_grid grid = {1, 1, 9, 1, ops, pps, tokens, 256};
    json_t *raw = json_array();
    fx_expect_error(prof_build_decoder(db, a, &hw, be, &grid, raw), MX_EINPUT,
                    "llama-2-7b.json: the cpu backend profiles decoders whose FP32 weights fit "
                    "in 1 GiB per device");
    cr_assert_eq(spec_profile_model_count(db), 0);
    json_decref(raw);
    be->free(be);
    prof_arch_free(a);
    spec_profile_free(db);
}
