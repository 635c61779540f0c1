/* The decoder runtime (rt_llm.h), in-process on this machine's cores: real forward passes of
 * tiny-llama-2l-256 generate tokens. A pipeline split and a tensor-parallel split generate what
 * one device does; a request preempted and recomputed for real generates what it does
 * unpreempted; every request ends exactly once, with exactly its output tokens, and no stage
 * holds more KV blocks than the scheduler's pool. No timing is asserted: the costs come from the
 * roofline (the scheduler needs some), and requests that arrive together are batched the same way
 * whatever the machine's speed, so the tokens are reproducible. */
#include "fixture.h"
#include "kern_decoder.h"
#include "kern_kv.h"
#include "kern_weights.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "rt_backend.h"
#include "rt_llm.h"
#include "sim_llm.h"
#include "spec_cluster.h"
#include "spec_memory.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL "tiny-llama-2l-256"

/* The roofline profile of tiny-llama-2l-256 on the H100 spec, op 1 and 2, pp 1 and 2. */
static struct spec_profile *roofline_profile(void)
{
    static const int32_t ops[] = {1, 2}, pps[] = {1, 2};
    int32_t tokens[PROF_DECODER_MAX_TOKENS];
    struct prof_hw *hw;
    struct prof_backend *be;
    struct prof_arch *a;
    cr_assert_eq(prof_hw_read(fx_source_path("data/hardware/h100-80gb.json"), &hw), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(prof_backend_open("roofline", hw, &be), MX_OK);
    cr_assert_eq(prof_arch_find(fx_source_path("data/models"), MODEL, &a), MX_OK);
    struct prof_decoder_grid grid = {
        2, 2, prof_decoder_default_tokens(16384, tokens), 1, ops, pps, tokens, 16384};
    struct spec_profile *db = spec_profile_new(hw->name);
    json_t *raw = json_array();
    cr_assert_eq(prof_build_decoder(db, a, hw, be, &grid, raw), MX_OK, "%s", mx_error_message());
    json_decref(raw);
    prof_arch_free(a);
    be->free(be);
    prof_hw_free(hw);
    return db;
}

/* One run's inputs: a cluster of this machine's 2 cores, the profile, a plan of one group of
 * (op, pp) hosting model m0 (tiny-llama-2l-256; m1 too, unplaced, when the trace has it), and a
 * trace. */
struct llm_setup {
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_plan *plan;
    struct wl_trace *trace;
};

static struct llm_setup setup(int op, int pp, uint32_t max_batch_tokens, int64_t budget_bytes,
                              size_t n, const double *arrival_s, const int32_t *model,
                              const int32_t *input, const int32_t *output, uint32_t n_models)
{
    static const char *const bases[] = {MODEL, MODEL};
    struct llm_setup s = {fx_cluster(2, 2), roofline_profile(), fx_plan_new(n_models, bases), NULL};
    s.cluster.mem_budget_bytes = budget_bytes;
    fx_plan_add_group(s.plan, op, pp, 0, 1, (uint32_t[]){0});
    struct spec_plan_group *g = &s.plan->segments[0].groups[0];
    g->scheduler.max_batch_tokens = max_batch_tokens;
    g->scheduler.max_seqs = 64;
    g->has_scheduler = true;
    double *slo = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        slo[i] = INFINITY;
    s.trace = fx_trace(n, arrival_s, model, slo, n_models);
    free(slo);
    wl_trace_add_tokens(s.trace);
    for (size_t i = 0; i < n; i++) {
        s.trace->input_tokens[i] = input[i];
        s.trace->output_tokens[i] = output[i];
        s.trace->ttft_slo_s[i] = 1.0;
    }
    return s;
}

static void setup_free(struct llm_setup *s)
{
    spec_profile_free(s->db);
    spec_plan_free(s->plan);
    wl_trace_free(s->trace);
}

/* The budget that leaves a pool of `blocks` KV blocks on each device of (op, pp)'s stage 0 (the
 * stage holding the most besides its pool, for these configs). */
static int64_t budget_for_blocks(const struct spec_profile *db, int op, int pp, int64_t blocks,
                                 uint32_t max_batch_tokens)
{
    const struct spec_config *cfg = spec_profile_find(db, MODEL, 1, op, pp);
    int64_t large = INT64_C(1) << 30;
    int64_t fixed = large - spec_decoder_pool_bytes(&cfg, 1, 0, large, max_batch_tokens);
    return fixed + blocks * KERN_KV_BLOCK_TOKENS * cfg->decoder.kv_bytes_per_token[0];
}

/* The blocks of the scheduler's pool of stage k of r's group (of (op, pp) in db). */
static int64_t pool_blocks(const struct spec_profile *db, int op, int pp,
                           const struct rt_llm_report *r, uint32_t k)
{
    const struct spec_config *cfg = spec_profile_find(db, MODEL, 1, op, pp);
    return r->stages[k].kv_pool_bytes / (KERN_KV_BLOCK_TOKENS * cfg->decoder.kv_bytes_per_token[k]);
}

/* Serve s for real; the world is compiled here and freed by the caller with the report. */
static int serve(struct llm_setup *s, struct sim_llm **w, struct rt_llm_report *out)
{
    struct rt_options o = {
        .backend = &rt_backend_cpu, .zoo_dir = fx_source_path("data/models"), .seed = 7};
    cr_assert_eq(sim_llm_new(&s->cluster, "cluster", s->db, "profile", s->plan, s->trace, w), MX_OK,
                 "%s", mx_error_message());
    return rt_llm_serve(*w, s->plan, "plan", s->db, &o, out);
}

/* Every request ended once: completed ones with exactly their output tokens, each token in the
 * vocabulary; refused ones with none. Returns the completed. */
static size_t expect_every_request_ended_once(const struct sim_llm *w,
                                              const struct rt_llm_report *r)
{
    size_t completed = 0;
    cr_assert_eq(r->released, sim_llm_requests(w));
    for (size_t i = 0; i < sim_llm_requests(w); i++) {
        uint8_t status = r->results->status[i];
        cr_assert(status < SIM_N_STATUS, "request %zu never ended", i);
        if (status == SIM_GOOD || status == SIM_LATE) {
            completed++;
            cr_assert_eq(r->results->generated[i], sim_llm_request_output(w, i),
                         "request %zu: %u tokens of %u", i, r->results->generated[i],
                         sim_llm_request_output(w, i));
            cr_assert(r->results->first_token_ns[i] <= r->results->finish_ns[i]);
            for (uint32_t k = 0; k < r->results->generated[i]; k++) {
                int32_t tok = r->tokens[r->token_start[i] + k];
                cr_assert(tok >= 0 && tok < 2048, "request %zu token %u: %d", i, k, tok);
            }
        } else {
            cr_assert(status == SIM_REJECTED || status == SIM_NO_REPLICA, "request %zu: %d", i,
                      status);
            cr_assert_eq(r->results->generated[i], 0);
        }
    }
    return completed;
}

/* The tokens of every request of a and b are the same. */
static void expect_same_tokens(const struct sim_llm *w, const struct rt_llm_report *a,
                               const struct rt_llm_report *b, const char *what)
{
    for (size_t i = 0; i < sim_llm_requests(w); i++) {
        size_t n = sim_llm_request_output(w, i), at = a->token_start[i];
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(a->tokens[at + k], b->tokens[at + k],
                         "%s: request %zu token %zu: %d, not %d", what, i, k, b->tokens[at + k],
                         a->tokens[at + k]);
    }
}

/* What greedy decoding of request i of w generates with the runtime's weights (seed, and the
 * plan model's name) and prompt, computed here directly: one prefill of the whole prompt, then
 * one decode at a time, alone, on one device. */
static void reference_tokens(const struct sim_llm *w, size_t i, uint64_t seed, int32_t *out)
{
    struct prof_arch *a;
    cr_assert_eq(prof_arch_find(fx_source_path("data/models"), MODEL, &a), MX_OK);
    struct kern_dec_shape shape = {a->hidden, a->heads, a->kv_heads, a->ffn, a->vocab, 1, 0};
    uint64_t model_seed = mx_rng_derive(seed, "m0", 0);
    uint64_t token_seed = seed ^ (uint64_t)sim_llm_request(w, i);
    int64_t input = sim_llm_request_input(w, i), output = sim_llm_request_output(w, i);
    struct kern_dec_layer layers[2];
    struct kern_dec_ends ends;
    for (int l = 0; l < 2; l++)
        kern_dec_layer_init(&layers[l], &shape, model_seed, l);
    kern_dec_ends_init(&ends, &shape, model_seed, true, true);
    struct kern_kv_pool *pool =
        kern_kv_pool_new(2, 2, 64, (int32_t)kern_kv_blocks_for(input + output));
    struct kern_kv_table table = {0};
    while (kern_kv_free_blocks(pool) > 0)
        kern_kv_table_append(&table, kern_kv_alloc(pool));
    struct kern_dec_scratch *t = kern_dec_scratch_new(&shape);
    float *x = malloc((size_t)(input * a->hidden) * sizeof(float));
    int64_t *ids = malloc((size_t)input * sizeof(int64_t)), next;
    for (int64_t p = 0; p < input; p++)
        ids[p] = kern_token(token_seed, p, a->vocab);
    int64_t cached = 0, tokens = input;
    for (int64_t k = 0; k < output; k++) {
        struct kern_dec_seq seq = {&table, cached, tokens};
        int64_t row = tokens - 1;
        kern_dec_embed(&shape, &ends, ids, tokens, x, t, NULL);
        kern_dec_layers_forward(&shape, layers, 2, pool, &seq, 1, x, t, NULL);
        kern_dec_next_tokens(&shape, &ends, x, &row, 1, &next, t, NULL);
        out[k] = (int32_t)next;
        cached += tokens;
        tokens = 1;
        ids[0] = next;
    }
    free(x);
    free(ids);
    kern_dec_scratch_free(t);
    kern_kv_table_free(&table);
    kern_kv_pool_free(pool);
    for (int l = 0; l < 2; l++)
        kern_dec_layer_release(&layers[l]);
    kern_dec_ends_release(&ends);
    prof_arch_free(a);
}

/* Six requests arriving together, of prompts from 5 to 100 tokens: one iteration holds all their
 * prefills, then all their decodes, until each has its tokens. */
static const double together_s[] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
static const int32_t one_model[] = {0, 0, 0, 0, 0, 0};
static const int32_t inputs[] = {5, 17, 33, 40, 64, 100};
static const int32_t outputs[] = {12, 20, 3, 17, 9, 16};

Test(rt_llm, pipeline_and_tensor_parallel_splits_generate_what_one_device_does, .timeout = 120)
{
    static const int splits[][2] = {{1, 1}, {1, 2}, {2, 1}}; /* (op, pp) */
    struct rt_llm_report r[3];
    struct sim_llm *w[3];
    struct llm_setup s[3];
    for (int k = 0; k < 3; k++) {
        s[k] = setup(splits[k][0], splits[k][1], 512, INT64_C(1) << 30, 6, together_s, one_model,
                     inputs, outputs, 1);
        cr_assert_eq(serve(&s[k], &w[k], &r[k]), MX_OK, "%s", mx_error_message());
        cr_assert_eq(expect_every_request_ended_once(w[k], &r[k]), 6);
        cr_assert_eq(r[k].n_stages, (size_t)splits[k][1]);
        for (size_t st = 0; st < r[k].n_stages; st++)
            cr_assert_gt(r[k].stages[st].iterations, 0);
    }
    /* One device's tokens are greedy decoding of the model, done here directly. */
    for (size_t i = 0; i < 6; i++) {
        int32_t want[32];
        reference_tokens(w[0], i, 7, want);
        for (uint32_t k = 0; k < sim_llm_request_output(w[0], i); k++)
            cr_assert_eq(r[0].tokens[r[0].token_start[i] + k], want[k],
                         "request %zu token %u: %d, greedy decoding gives %d", i, k,
                         r[0].tokens[r[0].token_start[i] + k], want[k]);
    }
    expect_same_tokens(w[0], &r[0], &r[1], "pp 2");
    expect_same_tokens(w[0], &r[0], &r[2], "op 2");
    /* Greedy decoding of random weights is not constant: the tokens say something. */
    size_t distinct = 0;
    for (size_t k = 1; k < r[0].token_start[6]; k++)
        distinct += r[0].tokens[k] != r[0].tokens[k - 1];
    cr_assert_gt(distinct, 10);
    for (int k = 0; k < 3; k++) {
        rt_llm_report_release(&r[k]);
        sim_llm_free(w[k]);
        setup_free(&s[k]);
    }
}

Test(rt_llm, a_preempted_request_generates_what_it_does_unpreempted, .timeout = 120)
{
    /* Four requests of 40 + 60 tokens hold 7 blocks each at the end: 28 in a pool of 16. */
    static const double at_s[] = {0.1, 0.1, 0.1, 0.1};
    static const int32_t in[] = {40, 40, 40, 40}, out[] = {60, 60, 60, 60}, model[] = {0, 0, 0, 0};
    struct llm_setup roomy = setup(1, 1, 512, INT64_C(1) << 30, 4, at_s, model, in, out, 1);
    struct llm_setup tight = setup(1, 1, 512, INT64_C(1) << 30, 4, at_s, model, in, out, 1);
    tight.cluster.mem_budget_bytes = budget_for_blocks(tight.db, 1, 1, 16, 512);
    struct sim_llm *w_roomy, *w_tight;
    struct rt_llm_report r_roomy, r_tight;
    cr_assert_eq(serve(&roomy, &w_roomy, &r_roomy), MX_OK, "%s", mx_error_message());
    cr_assert_eq(serve(&tight, &w_tight, &r_tight), MX_OK, "%s", mx_error_message());
    cr_assert_eq(expect_every_request_ended_once(w_roomy, &r_roomy), 4);
    cr_assert_eq(expect_every_request_ended_once(w_tight, &r_tight), 4);
    cr_assert_eq(r_roomy.results->preempted[0], 0);
    cr_assert_gt(r_tight.results->preempted[0], 0, "the tight pool preempted nothing");
    size_t preempted = 0;
    for (size_t i = 0; i < 4; i++)
        preempted += r_tight.results->preemptions[i] > 0;
    cr_assert_gt(preempted, 0);
    expect_same_tokens(w_roomy, &r_roomy, &r_tight, "preempted and recomputed");
    /* The runtime's blocks never outnumber the scheduler's pool of 16. */
    size_t block = kern_kv_block_bytes(2, 2, 64);
    cr_assert_eq(pool_blocks(tight.db, 1, 1, &r_tight, 0), 16);
    cr_assert_leq(r_tight.stages[0].kv_peak_bytes, 16 * (int64_t)block, "%lld bytes",
                  (long long)r_tight.stages[0].kv_peak_bytes);
    cr_assert_gt(r_tight.stages[0].kv_peak_bytes, 8 * (int64_t)block);
    rt_llm_report_release(&r_roomy);
    rt_llm_report_release(&r_tight);
    sim_llm_free(w_roomy);
    sim_llm_free(w_tight);
    setup_free(&roomy);
    setup_free(&tight);
}

Test(rt_llm, every_request_ends_once_under_a_burst, .timeout = 120)
{
    /* 40 requests over 0.4 s into a pool of 24 blocks, pipelined over both cores: preemptions,
     * two requests too long for the pool (refused), and a model without a replica. */
    enum { N = 40 };
    double at_s[N];
    int32_t model[N], in[N], out[N];
    for (int i = 0; i < N; i++) {
        at_s[i] = 0.01 * i;
        model[i] = i % 10 == 9 ? 1 : 0;
        in[i] = 8 + (i * 37) % 90;
        out[i] = 1 + (i * 53) % 40;
    }
    in[5] = in[17] = 400; /* 400 + out tokens: over 24 blocks of 16 */
    struct llm_setup s = setup(1, 2, 256, INT64_C(1) << 30, N, at_s, model, in, out, 2);
    s.cluster.mem_budget_bytes = budget_for_blocks(s.db, 1, 2, 24, 256);
    struct sim_llm *w;
    struct rt_llm_report r;
    cr_assert_eq(serve(&s, &w, &r), MX_OK, "%s", mx_error_message());
    size_t completed = expect_every_request_ended_once(w, &r);
    size_t no_replica = 0, rejected = 0;
    for (size_t i = 0; i < N; i++) {
        no_replica += r.results->status[i] == SIM_NO_REPLICA;
        rejected += r.results->status[i] == SIM_REJECTED;
    }
    cr_assert_eq(no_replica, 4);
    cr_assert_eq(rejected, 2);
    cr_assert_eq(completed + no_replica + rejected, N);
    /* Two stages, each of one layer, never over their pools (24 blocks on stage 0). */
    cr_assert_eq(pool_blocks(s.db, 1, 2, &r, 0), 24);
    for (uint32_t k = 0; k < 2; k++)
        cr_assert_leq(r.stages[k].kv_peak_bytes,
                      pool_blocks(s.db, 1, 2, &r, k) * (int64_t)kern_kv_block_bytes(1, 2, 64),
                      "stage %u: %lld bytes", k, (long long)r.stages[k].kv_peak_bytes);
    json_t *j = rt_llm_report_json(w, &r);
    cr_assert_eq(json_array_size(json_object_get(j, "stages")), 2);
    json_decref(j);
    rt_llm_report_release(&r);
    sim_llm_free(w);
    setup_free(&s);
}

Test(rt_llm, refuses_what_it_cannot_run)
{
    struct llm_setup s =
        setup(1, 1, 512, INT64_C(1) << 30, 6, together_s, one_model, inputs, outputs, 1);
    struct sim_llm *w;
    struct rt_llm_report r;
    s.cluster.decoder.block_tokens = 8;
    fx_expect_error(serve(&s, &w, &r), MX_EINPUT,
                    "the cluster's decoder.block_tokens is 8: the runtime's KV cache keeps blocks "
                    "of 16 tokens");
    sim_llm_free(w);
    s.cluster.decoder.block_tokens = 16;
    struct rt_options cuda = {.backend = &rt_backend_cuda,
                              .zoo_dir = fx_source_path("data/models")};
    cr_assert_eq(sim_llm_new(&s.cluster, "cluster", s.db, "profile", s.plan, s.trace, &w), MX_OK);
    fx_expect_error(rt_llm_serve(w, s.plan, "plan.json", s.db, &cuda, &r), MX_EINPUT,
                    "plan.json: the cuda backend does not run decoder models yet");
    sim_llm_free(w);
    /* A budget whose pools pass the machine's memory: refused, not an allocation that fails. */
    s.cluster.mem_budget_bytes = INT64_C(1) << 50;
    cr_assert_eq(sim_llm_new(&s.cluster, "cluster", s.db, "profile", s.plan, s.trace, &w), MX_OK);
    struct rt_options cpu = {.backend = &rt_backend_cpu, .zoo_dir = fx_source_path("data/models")};
    fx_expect_error(rt_llm_serve(w, s.plan, "plan.json", s.db, &cpu, &r), MX_EINPUT,
                    "plan.json: the cluster's mem_budget_bytes leaves KV pools of");
    sim_llm_free(w);
    setup_free(&s);
}
