/* The policy table, parameters, and what every policy does last: score the final placement and
 * record it in the plan. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_models.h"
#include "mx_json.h"
#include "mx_time.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "sim_llm.h"
#include "wl_trace.h"

#include <stdlib.h>
#include <string.h>

extern const struct plan_policy plan_policy_sr;
extern const struct plan_policy plan_policy_clockwork;
extern const struct plan_policy plan_policy_round_robin;
extern const struct plan_policy plan_policy_greedy;
extern const struct plan_policy plan_policy_alpaserve;
extern const struct plan_policy plan_policy_alpaserve_sep;
extern const struct plan_policy plan_policy_mux;
extern const struct plan_policy plan_policy_dedicated;
extern const struct plan_policy plan_policy_spatial;
extern const struct plan_policy plan_policy_mux_llm;

const struct plan_policy *const plan_policies[] = {
    &plan_policy_sr,
    &plan_policy_clockwork,
    &plan_policy_round_robin,
    &plan_policy_greedy,
    &plan_policy_alpaserve,
    &plan_policy_alpaserve_sep,
    &plan_policy_mux,
    &plan_policy_dedicated,
    &plan_policy_spatial,
    &plan_policy_mux_llm,
    NULL,
};

const struct plan_policy *plan_policy_find(const char *name, struct plan_params *params)
{
    if (strncmp(name, "greedy-", 7) == 0) {
        char *end;
        unsigned long size = strtoul(name + 7, &end, 10);
        if (end == name + 7 || *end || size < 1 || size > SPEC_MAX_DEVICES)
            return NULL;
        params->group_size = (uint32_t)size;
        return &plan_policy_greedy;
    }
    for (const struct plan_policy *const *p = plan_policies; *p; p++)
        if (strcmp((*p)->name, name) == 0)
            return *p;
    return NULL;
}

int plan_solve(const struct plan_policy *policy, const struct plan_problem *pb,
               const struct plan_params *pa, struct spec_plan **out, struct plan_outcome *outcome)
{
    memset(outcome, 0, sizeof(*outcome));
    bool decoders = plan_has_decoders(pb);
    if (decoders && policy->decoders == PLAN_ENCODERS_ONLY)
        return mx_error(MX_EUSAGE,
                        "policy %s places models served in one forward pass, and the models of %s "
                        "are decoders (policies for them: dedicated, spatial, sr, greedy-<s>, "
                        "round-robin, alpaserve)",
                        policy->name, pb->models->path);
    if (!decoders && policy->decoders == PLAN_DECODERS_ONLY)
        return mx_error(MX_EUSAGE, "policy %s places decoders, and the models of %s are not",
                        policy->name, pb->models->path);
    return policy->solve(policy, pb, pa, out, outcome);
}

int pl_finish(const struct pl_context *c, struct sim_eval_state *s, const struct spec_placement *p,
              uint32_t evaluations, struct spec_plan **out, struct plan_outcome *outcome)
{
    struct sim_eval_result r;
    pl_evaluate(s, p, &r);
    outcome->attainment = r.attainment;
    outcome->mean_latency_s = r.mean_latency_s;
    outcome->groups = p->n_groups;
    outcome->replicas = spec_placement_replicas(p);
    outcome->evaluations = evaluations + 1;
    *out = pl_to_plan(c, p);
    return MX_OK;
}

/* Run plan on trace as the planner scores: random overheads at their means, dispatch, batches of
 * up to max_batch (the fast path without batching, the event engine with it). The caller frees *w
 * and *r (also on failure). */
static int run_with(const struct plan_problem *pb, const struct spec_plan *plan,
                    const struct wl_trace *trace, const struct sim_dispatch_policy *dispatch,
                    uint32_t max_batch, unsigned threads, struct sim_world **w,
                    struct sim_results **r)
{
    struct spec_cluster cluster = *pb->cluster;
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        cluster.overheads.term[t].sd_s = 0;
    const struct sim_options o = {.engine = max_batch > 1 ? SIM_ENGINE_EVENT : SIM_ENGINE_FAST,
                                  .dispatch = dispatch,
                                  .max_batch = max_batch,
                                  .seed = pb->seed,
                                  .threads = threads};
    int rc = sim_world_new(&cluster, pb->cluster_path, pb->db, pb->db_path, plan, trace, w);
    if (rc == MX_OK)
        rc = sim_run(*w, &o, r);
    return rc;
}

/* run_with the dispatch policy and batch size the plan records (a policy may choose its own), else
 * pb's dispatch and no batching. */
static int run_at_means(const struct plan_problem *pb, const struct spec_plan *plan,
                        const struct wl_trace *trace, struct sim_world **w, struct sim_results **r)
{
    const struct sim_dispatch_policy *dispatch = pb->dispatch;
    int rc = spec_plan_dispatch(plan) ? sim_dispatch_of_plan(plan, &dispatch) : MX_OK;
    if (rc < 0)
        return rc;
    return run_with(pb, plan, trace, dispatch, spec_plan_max_batch(plan), pb->threads, w, r);
}

/* Good requests and AlpaServe's mean latency (refused requests counting 0) of results r on t. */
static void count_good(const struct wl_trace *t, const struct sim_results *r, uint64_t *good,
                       double *mean_latency_s)
{
    double latency = 0;
    *good = 0;
    for (size_t i = 0; i < r->n; i++) {
        *good += r->status[i] == SIM_GOOD;
        if (r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE)
            latency += mx_ns_to_s(r->finish_ns[i] - mx_s_to_ns(t->arrival_s[i]));
    }
    *mean_latency_s = r->n ? latency / (double)r->n : 0;
}

int pl_simulate(const struct plan_problem *pb, const struct spec_plan *plan,
                struct plan_outcome *outcome)
{
    const struct wl_trace *t = pb->train;
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    int rc = run_at_means(pb, plan, t, &w, &r);
    if (rc == MX_OK) {
        uint64_t good;
        count_good(t, r, &good, &outcome->mean_latency_s);
        outcome->attainment = (double)good / (double)r->n;
    }
    sim_results_free(r);
    sim_world_free(w);
    return rc;
}

int pl_simulate_with(const struct plan_problem *pb, const struct spec_plan *plan,
                     const struct wl_trace *trace, const struct sim_dispatch_policy *dispatch,
                     uint32_t max_batch, uint64_t *good, double *mean_latency_s)
{
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    int rc = run_with(pb, plan, trace, dispatch, max_batch, 1, &w, &r);
    if (rc == MX_OK)
        count_good(trace, r, good, mean_latency_s);
    sim_results_free(r);
    sim_world_free(w);
    return rc;
}

/* Each window's attainment: the kept span [first + warmup_s, last - warmup_s] of t's arrivals cut
 * into n windows of equal length (the last one closed), NAN for a window without requests; status
 * holds each request's enum sim_status. */
static void window_attainment(const struct wl_trace *t, const uint8_t *status, double warmup_s,
                              uint32_t n, double *attainment)
{
    uint64_t *requests = MX_NEW_ARRAY(uint64_t, n), *good = MX_NEW_ARRAY(uint64_t, n);
    const double lo = t->n ? t->arrival_s[0] + warmup_s : 0;
    const double hi = t->n ? t->arrival_s[t->n - 1] - warmup_s : 0;
    for (size_t i = 0; i < t->n; i++) {
        const double a = t->arrival_s[i];
        if (a < lo || a > hi)
            continue;
        uint32_t k = hi > lo ? (uint32_t)((a - lo) / (hi - lo) * n) : 0;
        k = k < n ? k : n - 1;
        requests[k]++;
        good[k] += status[i] == SIM_GOOD;
    }
    for (uint32_t k = 0; k < n; k++)
        attainment[k] = requests[k] ? (double)good[k] / (double)requests[k] : NAN;
    free(requests);
    free(good);
}

/* Score a decoder plan on the iteration-level simulator. */
static int score_decoders(const struct plan_problem *pb, const struct spec_plan *plan,
                          const struct wl_trace *test, double warmup_s, uint32_t n_windows,
                          double *attainment, struct plan_test *out)
{
    struct sim_llm *w = NULL;
    struct sim_llm_results *r = NULL;
    int rc = sim_llm_new(pb->cluster, pb->cluster_path, pb->db, pb->db_path, plan, test, &w);
    if (rc == MX_OK)
        rc = sim_llm_run(w, warmup_s, &r);
    if (rc == MX_OK) {
        sim_llm_summarize(w, r, warmup_s, &out->llm);
        out->attainment = out->llm.attainment;
        if (n_windows)
            window_attainment(test, r->status, warmup_s, n_windows, attainment);
    }
    sim_llm_results_free(r);
    sim_llm_free(w);
    return rc;
}

int plan_score_windows(const struct plan_problem *pb, const struct spec_plan *plan,
                       const struct wl_trace *test, double warmup_s, uint32_t n_windows,
                       double *attainment, struct plan_test *out)
{
    memset(out, 0, sizeof(*out));
    out->decoders = plan_has_decoders(pb);
    if (out->decoders)
        return score_decoders(pb, plan, test, warmup_s, n_windows, attainment, out);
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    int rc = run_at_means(pb, plan, test, &w, &r);
    if (rc == MX_OK)
        rc = sim_summarize(w, r, warmup_s, &out->encoders);
    out->attainment = out->encoders.attainment;
    if (rc == MX_OK && n_windows)
        window_attainment(test, r->status, warmup_s, n_windows, attainment);
    sim_results_free(r);
    sim_world_free(w);
    return rc;
}

int plan_score(const struct plan_problem *pb, const struct spec_plan *plan,
               const struct wl_trace *test, double warmup_s, struct plan_test *out)
{
    return plan_score_windows(pb, plan, test, warmup_s, 0, NULL, out);
}

void plan_test_release(struct plan_test *t)
{
    sim_summary_release(&t->encoders);
    sim_llm_summary_release(&t->llm);
}

void pl_record(struct spec_plan *plan, const struct plan_policy *policy, const char *name,
               const struct plan_problem *pb, const struct plan_params *pa,
               const struct plan_outcome *outcome)
{
    const struct wl_trace *train = pb->train;
    json_t *params = json_object();
    bool decoders = plan_has_decoders(pb);
    if (pb->activation_memory)
        mx_json_set(params, "activation_memory", json_true());
    if (decoders)
        mx_json_set(params, "kv_margin", json_real(pb->kv_margin));
    for (uint32_t k = 0; k < policy->n_params; k++) {
        const struct plan_param *p = &plan_param_table[policy->params[k]];
        double v = plan_param_get(pa, policy->params[k]);
        mx_json_set(params, p->key,
                    p->kind == PLAN_PARAM_COUNT  ? json_integer((json_int_t)v)
                    : p->kind == PLAN_PARAM_REAL ? json_real(v)
                                                 : json_boolean(v != 0));
    }
    json_t *predicted = json_object();
    mx_json_set(predicted, "attainment", json_real(outcome->attainment));
    mx_json_set(predicted, "mean_latency_s", json_real(outcome->mean_latency_s));
    mx_json_set(predicted, "groups", json_integer(outcome->groups));
    mx_json_set(predicted, "replicas", json_integer(outcome->replicas));
    mx_json_set(predicted, "evaluations", json_integer(outcome->evaluations));
    mx_json_set(predicted, "workload", json_string(train->path ? train->path : "generated"));
    mx_json_set(predicted, "requests", json_integer((json_int_t)train->n));
    mx_json_set(plan->extra, "policy", json_string(name));
    if (!decoders) /* decoder groups dispatch by the cluster's decoder settings */
        mx_json_set(plan->extra, "dispatch", json_string(pb->dispatch->name));
    mx_json_set(plan->extra, "parameters", params);
    mx_json_set(plan->extra, "predicted", predicted);
    if (decoders && pl_record_decoder_groups(plan, pb) < 0)
        MX_BUG("the planner's decoder plan does not simulate: %s", mx_error_message());
}
