/* What a plan of decoder groups records beyond the placement (docs/planner.md): each group's
 * scheduler settings, the KV pool its stages keep, and its predicted figures on the training
 * workload (attainment, TTFT and TPOT p99), from one run of the iteration-level simulator. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "sim_llm.h"
#include "spec_memory.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

bool plan_has_decoders(const struct plan_problem *pb)
{
    const struct spec_model_set *set = pb->models;
    return set->n > 0 && spec_profile_find_model(pb->db, set->models[0].base)->kind == SPEC_DECODER;
}

/* The KV pool of each stage of group g of plan (bytes per device). */
static json_t *pool_json(const struct plan_problem *pb, const struct spec_plan *plan,
                         const struct spec_plan_group *g)
{
    const struct spec_config **cfgs = MX_NEW_ARRAY(const struct spec_config *, g->n_models + 1);
    for (uint32_t j = 0; j < g->n_models; j++)
        cfgs[j] = spec_profile_find(pb->db, plan->models[g->models[j]].base, g->dp, g->op, g->pp);
    json_t *pools = json_array();
    for (int32_t k = 0; k < g->pp; k++)
        mx_json_append(pools, json_integer(spec_decoder_pool_bytes(cfgs, g->n_models, k,
                                                                   pb->cluster->mem_budget_bytes,
                                                                   g->scheduler.max_batch_tokens)));
    free(cfgs);
    return pools;
}

/* Group g's predicted figures from the simulation of the whole plan. */
static json_t *group_prediction(const struct sim_llm *w, const struct sim_llm_results *r,
                                uint32_t plan_index)
{
    size_t n = 0, good = 0, done = 0;
    double *ttft = MX_NEW_ARRAY(double, r->n ? r->n : 1),
           *tpot = MX_NEW_ARRAY(double, r->n ? r->n : 1);
    const struct wl_trace *t = sim_llm_trace(w);
    for (size_t i = 0; i < r->n; i++) {
        if (r->group[i] != (int32_t)plan_index)
            continue;
        n++;
        good += r->status[i] == SIM_GOOD;
        if (r->status[i] != SIM_GOOD && r->status[i] != SIM_LATE)
            continue;
        size_t row = sim_llm_request(w, i);
        uint32_t gaps = (uint32_t)t->output_tokens[row] - 1;
        ttft[done] = mx_ns_to_s(r->first_token_ns[i] - mx_s_to_ns(t->arrival_s[row]));
        tpot[done++] = gaps ? mx_ns_to_s(r->finish_ns[i] - r->first_token_ns[i]) / gaps : 0;
    }
    mx_sort_f64(ttft, done);
    mx_sort_f64(tpot, done);
    json_t *o = json_object();
    mx_json_set(o, "requests", json_integer((json_int_t)n));
    mx_json_set(o, "attainment", mx_json_real_or_null(n ? (double)good / (double)n : NAN));
    mx_json_set(o, "ttft_p99_s", mx_json_real_or_null(mx_quantile_sorted(ttft, done, 0.99)));
    mx_json_set(o, "tpot_p99_s", mx_json_real_or_null(mx_quantile_sorted(tpot, done, 0.99)));
    free(ttft);
    free(tpot);
    return o;
}

int pl_record_decoder_groups(struct spec_plan *plan, const struct plan_problem *pb)
{
    struct spec_plan_segment *s = &plan->segments[0];
    for (uint32_t g = 0; g < s->n_groups; g++)
        s->groups[g].has_scheduler = true;
    struct sim_llm *w = NULL;
    struct sim_llm_results *r = NULL;
    int rc = sim_llm_new(pb->cluster, pb->cluster_path, pb->db, pb->db_path, plan, pb->train, &w);
    if (rc == MX_OK)
        rc = sim_llm_run(w, 0, &r);
    for (uint32_t g = 0; g < s->n_groups && rc == MX_OK; g++) {
        struct spec_plan_group *grp = &s->groups[g];
        json_decref(grp->info);
        grp->info = json_object();
        mx_json_set(grp->info, "kv_pool_bytes", pool_json(pb, plan, grp));
        mx_json_set(grp->info, "predicted", group_prediction(w, r, g));
    }
    sim_llm_results_free(r);
    sim_llm_free(w);
    return rc;
}
