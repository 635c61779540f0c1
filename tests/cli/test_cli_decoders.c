/* muxplan simulate with decoders (docs/decoders.md): a plan of decoder groups, and one mixing
 * encoder and decoder groups, replayed through the command line; their summaries and results. */
#include "fixture.h"
#include "llm_case.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "spec_cluster.h"
#include "spec_llm.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Write c's profile, plan, cluster and trace into dir as p.json, plan.json, c.json, t.h5. */
static void write_case(const struct llm_case *c, const char *dir)
{
    cr_assert_eq(spec_profile_write_json(c->db, fx_path(dir, "p.json")), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(spec_plan_write(c->plan, fx_path(dir, "plan.json")), MX_OK);
    cr_assert_eq(spec_cluster_write(&c->cluster, fx_path(dir, "c.json")), MX_OK);
    cr_assert_eq(wl_trace_write_h5(c->trace, fx_path(dir, "t.h5")), MX_OK);
}

static json_t *simulate_json(const char *dir, const char *extra)
{
    struct fx_output r = fx_muxplan(
        "simulate --cluster %s --profile %s --plan %s --trace %s --json%s", fx_path(dir, "c.json"),
        fx_path(dir, "p.json"), fx_path(dir, "plan.json"), fx_path(dir, "t.h5"), extra);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_error_t err;
    json_t *doc = json_loads(r.out, 0, &err);
    cr_assert_not_null(doc, "%s", err.text);
    return doc;
}

static double number(json_t *o, const char *path)
{
    json_t *v = o;
    char key[64];
    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    cr_assert_not_null(v, "no %s", path);
    return json_number_value(v);
}

Test(decoders_cli, simulate_a_decoder_plan_and_write_its_requests)
{
    /* The hand case of one request alone (tests/sim/test_llm.c) and a second one a second later. */
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, (struct spec_scheduler){64, 8, SPEC_MM_SLACK});
    llm_case_requests(
        &c, 2, (struct llm_request[]){{0, 0, 10, 3, 20055, 0}, {1000000000, 0, 10, 3, 1, 0}});
    const char *dir = fx_tmpdir();
    write_case(&c, dir);
    json_t *doc;
    struct fx_output r = fx_muxplan(
        "simulate --cluster %s --profile %s --plan %s --trace %s --json --requests-out %s",
        fx_path(dir, "c.json"), fx_path(dir, "p.json"), fx_path(dir, "plan.json"),
        fx_path(dir, "t.h5"), fx_path(dir, "r.h5"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    doc = json_loads(r.out, 0, NULL);
    cr_assert_eq(number(doc, "decoder.requests"), 2);
    cr_assert_eq(number(doc, "decoder.good"), 1);
    cr_assert_eq(number(doc, "decoder.late"), 1);
    cr_assert_eq(number(doc, "overall.attainment"), 0.5);
    cr_assert_eq(number(doc, "decoder.iterations"), 6);
    cr_assert_float_eq(number(doc, "decoder.ttft_s.p50"), 20055e-9, 1e-15);
    cr_assert_null(json_object_get(doc, "latency_good_s"), "no encoder part");
    json_decref(doc);

    struct mx_h5 h;
    size_t dims[2];
    double *first = NULL;
    cr_assert_eq(mx_h5_open(fx_path(dir, "r.h5"), "results", 1, &h), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(mx_h5_read(&h, "/decoder/first_token_s", MX_H5_F64, 1, dims, (void **)&first),
                 MX_OK, "%s", mx_error_message());
    cr_assert_eq(dims[0], 2);
    cr_assert_float_eq(first[1], 1.000020055, 1e-12);
    free(first);
    mx_h5_abort(&h);

    struct fx_output text = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s",
                                       fx_path(dir, "c.json"), fx_path(dir, "p.json"),
                                       fx_path(dir, "plan.json"), fx_path(dir, "t.h5"));
    cr_assert_eq(text.status, 0, "%s", text.err);
    cr_assert(strstr(text.out, "decoders: SLO attainment 0.5000 (50.00%) over 2 requests"), "%s",
              text.out);
    llm_case_free(&c);
}

Test(decoders_cli, a_plan_may_mix_encoder_and_decoder_groups)
{
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, (struct spec_scheduler){64, 8, SPEC_MM_SLACK});
    fx_profile_add(c.db, "enc", 1, 1, (double[]){0.001}, 1);
    spec_plan_free(c.plan);
    c.plan = fx_plan_new(2, (const char *const[]){"b0", "enc"});
    fx_plan_add_group(c.plan, 1, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_group(c.plan, 1, 1, 1, 1, (uint32_t[]){1});
    c.plan->segments[0].groups[0].scheduler = (struct spec_scheduler){64, 8, SPEC_MM_SLACK};
    c.plan->segments[0].groups[0].has_scheduler = true;
    llm_case_requests(
        &c, 3, (struct llm_request[]){{0, 0, 10, 3, 0, 0}, {0, 1, 1, 1, 0, 0}, {5, 1, 1, 1, 0, 0}});
    c.trace->slo_s[1] = c.trace->slo_s[2] = 0.01;
    const char *dir = fx_tmpdir();
    write_case(&c, dir);
    json_t *doc = simulate_json(dir, "");
    cr_assert_eq(number(doc, "requests"), 2, "the encoder part");
    cr_assert_eq(number(doc, "good"), 2);
    cr_assert_eq(number(doc, "decoder.requests"), 1);
    cr_assert_eq(number(doc, "overall.requests"), 3);
    cr_assert_eq(number(doc, "overall.attainment"), 1);
    json_decref(doc);
    llm_case_free(&c);
}

Test(decoders_cli, a_decoder_trace_without_tokens_is_refused)
{
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, (struct spec_scheduler){64, 8, SPEC_MM_SLACK});
    c.trace = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    const char *dir = fx_tmpdir();
    write_case(&c, dir);
    char *trace = mx_strdup(fx_path(dir, "t.h5"));
    fx_expect_bad(NULL,
                  (const char *const[]){"t.h5: has no input_tokens and output_tokens, which the "
                                        "requests of decoder models need",
                                        NULL},
                  "simulate --cluster %s --profile %s --plan %s --trace %s", fx_path(dir, "c.json"),
                  fx_path(dir, "p.json"), fx_path(dir, "plan.json"), trace);
    free(trace);
    llm_case_free(&c);
}

Test(decoders_cli, a_decoder_plan_exports_as_vllm_commands)
{
    /* Two models sharing one group of two devices: two servers on devices 0,1 whose memory shares
     * add to 98%. */
    struct llm_case c = llm_case_new_with_context(2, 1 << 20, 64);
    struct llm_cost_spec two = llm_standard_cost(2);
    two.weight_bytes = 1000;
    llm_case_group(&c, 2, 2, (uint32_t[]){0, 1}, &two,
                   (struct spec_scheduler){64, 8, SPEC_MM_SLACK});
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 10, 3, 0, 0}});
    const char *dir = fx_tmpdir();
    write_case(&c, dir);
    struct fx_output r =
        fx_muxplan("export vllm --plan %s --cluster %s --profile %s", fx_path(dir, "plan.json"),
                   fx_path(dir, "c.json"), fx_path(dir, "p.json"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    double total = 0;
    int servers = 0;
    for (const char *at = r.out; (at = strstr(at, "CUDA_VISIBLE_DEVICES=0,1 vllm serve b")); at++) {
        const char *u = strstr(at, "--gpu-memory-utilization ");
        cr_assert(
            strstr(at, "--pipeline-parallel-size 2 --max-num-batched-tokens 64 --max-num-seqs 8"),
            "%s", r.out);
        total += atof(u + strlen("--gpu-memory-utilization "));
        servers++;
    }
    cr_assert_eq(servers, 2, "%s", r.out);
    cr_assert_float_eq(total, 0.98, 0.002, "%s", r.out);
    llm_case_free(&c);
}

/* Planning decoders from the command line, as tools/demo does: five minutes of the Azure
 * conversation trace over the six LLMs of examples/llm; compare prints the decoder columns, a
 * sweep plans with plan's KV margin, and capacity answers in devices and writes the plan and
 * cluster at the count it found. */
Test(decoders_cli, compare_and_capacity_plan_decoders)
{
    const char *dir = fx_tmpdir();
    char llm[1024];
    snprintf(llm, sizeof llm, "--cluster %s --profile %s --models %s",
             fx_source_path("examples/llm/cluster.json"),
             fx_source_path("data/profiles/h100-llm.h5"),
             fx_source_path("examples/llm/models.json"));
    struct fx_output r = fx_muxplan(
        "trace import azure-llm-2023 %s --model-set %s --profile %s --map split:1 --to 300 "
        "--seed 1 -o %s",
        fx_source_path("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv"),
        fx_source_path("examples/llm/models.json"), fx_source_path("data/profiles/h100-llm.h5"),
        fx_path(dir, "t.h5"));
    cr_assert_eq(r.status, 0, "%s", r.err);

    r = fx_muxplan("compare %s --trace %s --policies dedicated,spatial", llm, fx_path(dir, "t.h5"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "TTFT p99") && strstr(r.out, "TPOT p99") && strstr(r.out, "goodput/s"),
              "%s", r.out);
    cr_assert(strstr(r.out, "\ndedicated ") && strstr(r.out, "\nspatial "), "%s", r.out);

    /* A sweep plans them as plan does, with the same KV margin (recorded in every plan). */
    char spec[4096];
    snprintf(spec, sizeof spec,
             "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"%s\", \"profile\": \"%s\", "
             "\"models\": \"%s\", \"workload\": {\"trace\": {\"train\": \"%s\"}}, "
             "\"sweep\": {\"devices\": [16]}, \"policies\": [\"dedicated\"], \"seed\": 1}",
             fx_source_path("examples/llm/cluster.json"),
             fx_source_path("data/profiles/h100-llm.h5"),
             fx_source_path("examples/llm/models.json"), fx_path(dir, "t.h5"));
    fx_write_file(fx_path(dir, "sweep.json"), spec);
    r = fx_muxplan("sweep %s -o %s", fx_path(dir, "sweep.json"), fx_path(dir, "sweep"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *plan = json_load_file(fx_path(dir, "sweep/plans/case-0-dedicated.json"), 0, NULL);
    cr_assert_not_null(plan);
    cr_assert_float_eq(number(plan, "parameters.kv_margin"), 0.5, 1e-12);
    json_decref(plan);

    const char *out = fx_path(dir, "cap");
    r = fx_muxplan("capacity %s --trace %s --policy dedicated --target 0.9 -o %s", llm,
                   fx_path(dir, "t.h5"), out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *found = strstr(r.out, "dedicated reaches ");
    cr_assert(found, "%s", r.out);
    unsigned devices = 0;
    cr_assert_eq(sscanf(strstr(found, " with ") + 6, "%u", &devices), 1, "%s", r.out);
    cr_assert(devices >= 2 && devices <= 16, "%s", r.out);
    /* One device holds no 70B model: counts below the answer still planned (the models that fit).
     */
    cr_assert(strstr(r.out, "\n1 "), "%s", r.out);
    r = fx_muxplan("simulate --cluster %s/cluster.json --profile %s --plan %s/plan.json --trace %s",
                   out, fx_source_path("data/profiles/h100-llm.h5"), out, fx_path(dir, "t.h5"));
    cr_assert_eq(r.status, 0, "%s", r.err);
}
