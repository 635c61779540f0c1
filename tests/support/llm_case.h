/* Decoder simulation cases for tests: built by hand or drawn at random, run by the engine, and
 * written in the case format of the independent reference model (tests/sim/llm_reference.py),
 * whose results the engine's must equal request by request. */
#ifndef LLM_CASE_H
#define LLM_CASE_H

#include "fixture.h"
#include "sim_llm.h"
#include "spec_cluster.h"

#include <stdint.h>

/* A decoder config's cost: dense seconds on a token grid (per stage), attention coefficients and
 * fixed cost (the same on every stage), and bytes per device (the same on every stage). */
struct llm_cost_spec {
    uint32_t n_tokens;
    int32_t tokens[16];
    double dense_s[4][16]; /* [stage][grid point] */
    double pair_s, context_s, iteration_s;
    int64_t kv_bytes_per_token, weight_bytes, act_bytes_per_token;
};

/* The hand cases' cost: dense_s(T) = T microseconds on the grid 1, 2, 4, ..., 2048, 1 ns per
 * attention pair and per context token, 10 us per iteration; so one stage of an iteration costs
 * 1000 T + P + D + 10000 ns. kv bytes per token 1, no weights, no activations. */
struct llm_cost_spec llm_standard_cost(int pp);

struct llm_case {
    struct spec_profile *db;
    struct spec_plan *plan;
    struct spec_cluster cluster;
    struct wl_trace *trace;
};

/* A case of n_models decoder models "m0".. of bases "b0".. (context 1 << 20), no groups yet, the
 * cluster's budget (bytes per device) and zero overheads. */
struct llm_case llm_case_new(uint32_t n_models, int64_t budget_bytes);
/* The same with a longest context of context tokens for every base. */
struct llm_case llm_case_new_with_context(uint32_t n_models, int64_t budget_bytes,
                                          uint32_t context);
/* Profile config (1, op, pp) of base m with cost (unless profiled already). */
void llm_case_profile(struct llm_case *c, uint32_t m, int op, int pp,
                      const struct llm_cost_spec *cost);
/* Profile config (1, 1, pp) of base b with cost, and add a group of that config hosting the n
 * models listed, with its scheduler settings. Returns the group's index. */
uint32_t llm_case_group(struct llm_case *c, int pp, uint32_t n, const uint32_t *models,
                        const struct llm_cost_spec *cost, struct spec_scheduler scheduler);
/* The requests, sorted by arrival: arrival in ns, model, input and output tokens, TTFT and TPOT
 * SLOs in ns (0: none). */
struct llm_request {
    int64_t arrival_ns;
    int32_t model;
    int32_t input, output;
    int64_t ttft_ns, tpot_ns;
};
void llm_case_requests(struct llm_case *c, size_t n, const struct llm_request *requests);
void llm_case_free(struct llm_case *c);

/* Compile and run the engine; aborts the test on an error. Free both. */
struct sim_llm_results *llm_case_run(const struct llm_case *c, struct sim_llm **world_out);

/* A random small case from seed: 1 to 4 models, 1 to 3 groups of pp 1 to 3 hosting 1 to 3 models
 * each, tight KV pools, random settings, overheads and SLOs, 1 to 40 requests. */
struct llm_case llm_case_random(uint64_t seed);

/* Write c as the reference model's CASE.json at path. */
void llm_case_write_reference(const struct llm_case *c, const char *path);

/* Run the reference model on c and require the engine's results to equal its results on every
 * request (status, group, first-token and finish times, tokens, preemptions) and in iterations.
 * what names the case in messages. */
void llm_case_check_reference(const struct llm_case *c, const struct sim_llm *w,
                              const struct sim_llm_results *r, const char *what);

#endif
