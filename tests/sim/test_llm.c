/* The decoder simulator (docs/decoders.md): hand-computed cases, invariants on random cases, and
 * agreement with an independent reference model (tests/sim/llm_reference.py) request by request.
 * Hand cases use llm_standard_cost: a stage of an iteration costs 1000 T + P + D + 10000 ns. */
#include "llm_case.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "sim_llm_control.h"
#include "sim_llm_int.h"
#include "spec_llm.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

static struct spec_scheduler scheduler(uint32_t max_batch_tokens, uint32_t max_seqs,
                                       enum spec_mm_policy policy)
{
    return (struct spec_scheduler){max_batch_tokens, max_seqs, policy};
}

/* Expected outcome of one request. */
struct expect {
    enum sim_status status;
    int64_t first_ns, finish_ns;
    uint32_t preemptions;
};

static void expect_results(const struct llm_case *c, const struct expect *e, size_t n,
                           uint64_t iterations)
{
    struct sim_llm *w;
    struct sim_llm_results *r = llm_case_run(c, &w);
    uint64_t total = 0;
    for (uint32_t g = 0; g < r->n_groups; g++)
        total += r->iterations[g];
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(r->status[i], e[i].status, "request %zu status", i);
        cr_expect_eq(r->first_token_ns[i], e[i].first_ns, "request %zu first token", i);
        cr_expect_eq(r->finish_ns[i], e[i].finish_ns, "request %zu finish", i);
        cr_expect_eq(r->preemptions[i], e[i].preemptions, "request %zu preemptions", i);
    }
    cr_expect_eq(total, iterations, "iterations");
    llm_case_check_reference(c, w, r, "hand case");
    sim_llm_results_free(r);
    sim_llm_free(w);
}

Test(llm, one_request_alone)
{
    /* Prefill of 10: 10000 + 55 + 10000; decodes after 10 and 11 computed: 1000 + 11 + 10000 and
     * 1000 + 12 + 10000. */
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 10, 3, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 20055, 42078, 0}}, 1, 3);
    llm_case_free(&c);
}

Test(llm, two_requests_batched)
{
    /* Both prefills in one iteration: T 10, P 10 + 21; then A's decode after 4: 1000 + 5 +
     * 10000. B wants one token: its prefill gives it. */
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 2, (struct llm_request[]){{0, 0, 4, 2, 0, 0}, {0, 0, 6, 1, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 20031, 31036, 0}, {SIM_GOOD, 20031, 20031, 0}},
                   2, 2);
    llm_case_free(&c);
}

Test(llm, chunked_prefill_across_iterations)
{
    /* Budget 8: chunks of 8, 8 and 4 tokens: P = 36, 8 * 8 + 36, 4 * 16 + 10. */
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(8, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 20, 1, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 50210, 50210, 0}}, 1, 3);
    llm_case_free(&c);
}

Test(llm, a_shortage_then_a_preemption_and_its_recompute)
{
    /* A pool of 3 blocks of 4 tokens. A and B prefill 4 tokens each (one block each). A's first
     * decode takes the last block; B lacks one and, nothing coming after it, sits out (a shortage)
     * while A decodes alone. A's decode after 8 needs a third block: B, after A, is preempted.
     * A finishes; B recomputes its prompt and first token (L = 5) and decodes to the end. */
    struct llm_case c = llm_case_new(1, 12);
    c.cluster.decoder.block_tokens = 4;
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 2, (struct llm_request[]){{0, 0, 4, 6, 0, 0}, {0, 0, 4, 6, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 18020, 73055, 0}, {SIM_GOOD, 18020, 132100, 1}},
                   2, 11);
    llm_case_free(&c);
}

Test(llm, two_models_share_a_group_in_turn)
{
    struct llm_case c = llm_case_new(2, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 2, (uint32_t[]){0, 1}, &cost, scheduler(64, 8, SPEC_MM_ROUND_ROBIN));
    llm_case_requests(&c, 2, (struct llm_request[]){{0, 0, 4, 2, 0, 0}, {0, 1, 4, 2, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 14010, 39025, 0}, {SIM_GOOD, 28020, 50030, 0}},
                   2, 4);
    llm_case_free(&c);
}

Test(llm, a_two_stage_pipeline_holds_two_models_in_flight)
{
    /* Each stage costs as one stage of the standard cost. A's prefill leaves stage 0 at 14010 and
     * B's enters it; A's decode waits for stage 1 to finish B's prefill. */
    struct llm_case c = llm_case_new(2, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(2);
    llm_case_group(&c, 2, 2, (uint32_t[]){0, 1}, &cost, scheduler(64, 8, SPEC_MM_ROUND_ROBIN));
    llm_case_requests(&c, 2, (struct llm_request[]){{0, 0, 4, 2, 0, 0}, {0, 1, 4, 2, 0, 0}});
    expect_results(&c, (struct expect[]){{SIM_GOOD, 28020, 53035, 0}, {SIM_GOOD, 42030, 64040, 0}},
                   2, 4);
    llm_case_free(&c);
}

Test(llm, slos_decide_good_and_late)
{
    /* The one request alone: TTFT 20055, TPOT ceil((42078 - 20055) / 2) = 11012. */
    static const struct {
        int64_t ttft, tpot;
        enum sim_status status;
    } cases[] = {{20055, 11012, SIM_GOOD}, {20054, 0, SIM_LATE}, {0, 11011, SIM_LATE}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct llm_case c = llm_case_new(1, 1 << 20);
        struct llm_cost_spec cost = llm_standard_cost(1);
        llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
        llm_case_requests(&c, 1,
                          (struct llm_request[]){{0, 0, 10, 3, cases[k].ttft, cases[k].tpot}});
        expect_results(&c, (struct expect[]){{cases[k].status, 20055, 42078, 0}}, 1, 3);
        llm_case_free(&c);
    }
}

/* Conservation and invariants on one random case; the results stay for the caller. */
static void check_invariants(const struct llm_case *c, const struct sim_llm *w,
                             const struct sim_llm_results *r, uint64_t seed)
{
    for (size_t i = 0; i < r->n; i++) {
        size_t t = sim_llm_request(w, i);
        const struct wl_trace *tr = c->trace;
        mx_ns arrival = mx_s_to_ns(tr->arrival_s[t]);
        cr_assert(r->status[i] < SIM_N_STATUS, "seed %llu request %zu has no end",
                  (unsigned long long)seed, i);
        if (r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE) {
            cr_assert_eq(r->generated[i], (uint32_t)tr->output_tokens[t], "seed %llu request %zu",
                         (unsigned long long)seed, i);
            cr_assert(arrival < r->first_token_ns[i] && r->first_token_ns[i] <= r->finish_ns[i],
                      "seed %llu request %zu", (unsigned long long)seed, i);
        } else {
            cr_assert_eq(r->generated[i], 0);
            cr_assert_eq(r->first_token_ns[i], MX_NS_NEVER);
        }
    }
}

/* Two runs' every figure, request and group. */
static void assert_same_results(const struct sim_llm_results *a, const struct sim_llm_results *b,
                                uint64_t seed)
{
    size_t n = a->n, g = a->n_groups;
    cr_assert_eq(memcmp(a->status, b->status, n), 0, "seed %llu: statuses",
                 (unsigned long long)seed);
    cr_assert_eq(memcmp(a->first_token_ns, b->first_token_ns, n * sizeof(mx_ns)), 0,
                 "seed %llu: first tokens", (unsigned long long)seed);
    cr_assert_eq(memcmp(a->finish_ns, b->finish_ns, n * sizeof(mx_ns)), 0, "seed %llu: finishes",
                 (unsigned long long)seed);
    cr_assert_eq(memcmp(a->generated, b->generated, n * sizeof(uint32_t)), 0);
    cr_assert_eq(memcmp(a->preemptions, b->preemptions, n * sizeof(uint32_t)), 0);
    cr_assert_eq(memcmp(a->iterations, b->iterations, g * sizeof(uint64_t)), 0,
                 "seed %llu: iterations", (unsigned long long)seed);
    cr_assert_eq(memcmp(a->tokens, b->tokens, g * sizeof(uint64_t)), 0);
    cr_assert_eq(memcmp(a->busy_ns, b->busy_ns, g * sizeof(mx_ns)), 0);
    cr_assert_eq(memcmp(a->kv_max, b->kv_max, g * sizeof(double)), 0);
    for (size_t k = 0; k < g; k++)
        cr_assert_float_eq(a->kv_mean[k], b->kv_mean[k], 1e-12 * (1 + a->kv_mean[k]), "seed %llu",
                           (unsigned long long)seed);
    cr_assert_eq(a->gaps, b->gaps, "seed %llu: gaps", (unsigned long long)seed);
    cr_assert_eq(a->gap_sum_ns, b->gap_sum_ns);
    cr_assert_eq(memcmp(a->gap_bins, b->gap_bins, SIM_LLM_GAP_BINS * sizeof(uint64_t)), 0);
}

Test(llm, random_cases_conserve_and_repeat)
{
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        struct llm_case c = llm_case_random(seed);
        struct sim_llm *w;
        struct sim_llm_results *r = llm_case_run(&c, &w), *again = NULL;
        check_invariants(&c, w, r, seed);
        /* Without the steady-decoding shortcut: the same results, record for record. */
        cr_assert_eq(sim_llm__run(w, 0, false, &again), MX_OK);
        assert_same_results(r, again, seed);
        sim_llm_results_free(again);
        sim_llm_results_free(r);
        sim_llm_free(w);
        llm_case_free(&c);
    }
}

Test(llm, bad_inputs_name_the_file_and_place)
{
    struct llm_cost_spec cost = llm_standard_cost(1);
    struct sim_llm *w = NULL;

    struct llm_case c = llm_case_new(1, 1 << 20);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    c.trace = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    fx_expect_error(sim_llm_new(&c.cluster, "c.json", c.db, "db.h5", c.plan, c.trace, &w),
                    MX_EINPUT,
                    "trace: has no input_tokens and output_tokens, which the requests of decoder "
                    "models need");
    llm_case_free(&c);

    c = llm_case_new(1, 1 << 20);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 2,
                      (struct llm_request[]){{0, 0, 10, 3, 0, 0}, {0, 0, (1 << 20) - 1, 2, 0, 0}});
    fx_expect_error(sim_llm_new(&c.cluster, "c.json", c.db, "db.h5", c.plan, c.trace, &w),
                    MX_EINPUT,
                    "trace: /input_tokens[1]: 1048575 input and 2 output tokens exceed the context "
                    "of 1048576 tokens of model \"m0\" (base \"b0\")");
    llm_case_free(&c);

    c = llm_case_new(1, 1 << 20);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(4096, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 10, 3, 0, 0}});
    fx_expect_error(sim_llm_new(&c.cluster, "c.json", c.db, "db.h5", c.plan, c.trace, &w),
                    MX_EINPUT,
                    "groups[0] (id 0): profile db.h5: the token grid of \"b0\" (1, 1, 1) ends at "
                    "2048, short of the group's max_batch_tokens 4096");
    llm_case_free(&c);

    c = llm_case_new(1, 64);
    cost.act_bytes_per_token = 1;
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 10, 3, 0, 0}});
    fx_expect_error(sim_llm_new(&c.cluster, "c.json", c.db, "db.h5", c.plan, c.trace, &w),
                    MX_EINPUT,
                    "groups[0] (id 0): stage 0: the weights of its 1 models and the activations of "
                    "64 tokens leave no KV cache within the budget of 64 bytes (cluster c.json)");
    llm_case_free(&c);
    cr_assert_null(w);
}

Test(llm, a_group_serves_one_kind_of_model)
{
    struct llm_case c = llm_case_new(1, 1 << 20);
    struct llm_cost_spec cost = llm_standard_cost(1);
    llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost, scheduler(64, 8, SPEC_MM_SLACK));
    spec_profile_add_model(c.db, "enc");
    fx_profile_add(c.db, "enc", 1, 1, (double[]){0.01}, 1);
    spec_plan_free(c.plan);
    c.plan = fx_plan_new(2, (const char *const[]){"b0", "enc"});
    fx_plan_add_group(c.plan, 1, 1, 0, 2, (uint32_t[]){0, 1});
    llm_case_requests(&c, 1, (struct llm_request[]){{0, 0, 10, 3, 0, 0}});
    struct sim_llm *w = NULL;
    fx_expect_error(sim_llm_new(&c.cluster, "c.json", c.db, "db.h5", c.plan, c.trace, &w),
                    MX_EINPUT,
                    "groups[0] (id 0): hosts \"m0\" and \"m1\", one a decoder and one not; a group "
                    "serves one kind of model");
    llm_case_free(&c);
}

/* Drive the controller as the engine would on a one-group, one-stage case without overheads,
 * pricing each iteration with the world's costs: every result must equal the engine's. */
static void replay_through_the_controller(const struct llm_case *c, const struct sim_llm *w,
                                          const struct sim_llm_results *expected)
{
    struct sim_llm_control *ctl = sim_llm_control_new(w);
    const struct llm_cost *cost = &w->groups[0].costs[0];
    size_t next = 0, n = sim_llm_requests(w);
    mx_ns end = MX_NS_NEVER;
    uint64_t preempted = 0;
    for (;;) {
        mx_ns now = next < n ? w->arrival_ns[next] : MX_NS_NEVER;
        if (end < now)
            now = end;
        if (now == MX_NS_NEVER)
            break;
        if (end == now) {
            sim_llm_control_stage0_free(ctl, 0, now);
            sim_llm_control_end(ctl, 0, now);
            end = MX_NS_NEVER;
        }
        for (; next < n && w->arrival_ns[next] == now; next++)
            if (sim_llm_control_dispatch(ctl, (uint32_t)next, now) >= 0)
                sim_llm_control_admit(ctl, (uint32_t)next, now);
        struct sim_llm_iteration it;
        if (end == MX_NS_NEVER && sim_llm_control_form(ctl, 0, now, &it)) {
            uint64_t tokens = 0, pairs = 0, context = 0;
            for (uint32_t k = 0; k < it.n; k++) {
                uint64_t t = it.tokens[k], before = it.cached[k];
                tokens += t;
                if (it.decode[k])
                    context += before + 1;
                else
                    pairs += t * before + t * (t + 1) / 2;
            }
            preempted += it.n_preempted;
            end = now + sim_llm__stage_ns(cost, 0, (uint32_t)tokens, pairs, context);
        }
    }
    const struct sim_llm_results *r = sim_llm_control_results(ctl);
    for (size_t i = 0; i < n; i++) {
        cr_assert(sim_llm_control_done(ctl, (uint32_t)i));
        cr_assert_eq(r->status[i], expected->status[i], "request %zu: %d vs %d", i, r->status[i],
                     expected->status[i]);
        cr_assert_eq(r->first_token_ns[i], expected->first_token_ns[i], "request %zu: %lld vs %lld",
                     i, (long long)r->first_token_ns[i], (long long)expected->first_token_ns[i]);
        cr_assert_eq(r->finish_ns[i], expected->finish_ns[i], "request %zu", i);
        cr_assert_eq(r->preemptions[i], expected->preemptions[i], "request %zu", i);
    }
    cr_assert_eq(preempted, expected->preempted[0]);
    cr_assert_eq(r->iterations[0], expected->iterations[0]);
    (void)c;
    sim_llm_control_free(ctl);
}

Test(llm, the_controller_repeats_the_engine)
{
    for (uint64_t seed = 1; seed <= 300; seed++) {
        gsl_rng *rng = mx_rng_new(seed, "test/llm-control", 0);
        uint32_t pool = 40 + (uint32_t)gsl_rng_uniform_int(rng, 200);
        struct llm_case c = llm_case_new(1, pool);
        struct llm_cost_spec cost = llm_standard_cost(1);
        c.cluster.decoder.block_tokens = 1 + (uint32_t)gsl_rng_uniform_int(rng, 8);
        llm_case_group(&c, 1, 1, (uint32_t[]){0}, &cost,
                       scheduler(8 << gsl_rng_uniform_int(rng, 4),
                                 1 + (uint32_t)gsl_rng_uniform_int(rng, 6), SPEC_MM_SLACK));
        struct llm_request req[30];
        int64_t t = 0;
        for (int i = 0; i < 30; i++) {
            t += (int64_t)gsl_rng_uniform_int(rng, 50000);
            req[i] = (struct llm_request){t,
                                          0,
                                          1 + (int32_t)gsl_rng_uniform_int(rng, 30),
                                          1 + (int32_t)gsl_rng_uniform_int(rng, 20),
                                          0,
                                          0};
        }
        llm_case_requests(&c, 30, req);
        struct sim_llm *w;
        struct sim_llm_results *r = llm_case_run(&c, &w);
        replay_through_the_controller(&c, w, r);
        sim_llm_results_free(r);
        sim_llm_free(w);
        llm_case_free(&c);
        gsl_rng_free(rng);
    }
}

/* An independent model of the same rules (tests/sim/llm_reference.py, written from
 * docs/decoders.md alone) agrees request by request on random cases. */
Test(llm, random_cases_agree_with_the_reference, .timeout = 600)
{
    for (uint64_t seed = 1;
         seed <= (getenv("LLM_REF_SEEDS") ? strtoull(getenv("LLM_REF_SEEDS"), 0, 10) : 120);
         seed++) {
        struct llm_case c = llm_case_random(seed);
        struct sim_llm *w;
        struct sim_llm_results *r = llm_case_run(&c, &w);
        char what[32];
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        llm_case_check_reference(&c, w, r, what);
        sim_llm_results_free(r);
        sim_llm_free(w);
        llm_case_free(&c);
    }
}
