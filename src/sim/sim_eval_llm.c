/* The planner's evaluator for decoder models (sim_eval_llm.h). */
#include "sim_eval_llm.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_llm_int.h"
#include "spec_cluster.h"
#include "spec_memory.h"
#include "spec_placement.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <stdlib.h>
#include <string.h>

/* A model's config, compiled. */
struct eval_llm_config {
    int32_t op, pp;
    const struct spec_config *cfg;
    struct llm_cost cost;
};

struct eval_llm {
    struct sim_llm base; /* requests, settings, overheads; no groups */
    int64_t budget_bytes;
    uint32_t *config_begin; /* [n_models + 1] */
    struct eval_llm_config *configs;
    void *store;
};

void sim__eval_llm_free(struct eval_llm *e)
{
    if (!e)
        return;
    sim_llm__release_requests(&e->base);
    free(e->config_begin);
    free(e->configs);
    free(e->store);
    free(e);
}

/* Compile every dp = 1 config of every model at the default batch budget. */
static int compile_configs(struct eval_llm *e, const struct spec_cluster *cluster,
                           const struct spec_profile *db, const char *db_path,
                           const char *const *bases)
{
    const struct spec_overheads *o = &cluster->overheads;
    uint32_t budget = spec_scheduler_default().max_batch_tokens, n = 0;
    size_t bytes = 0;
    for (uint32_t m = 0; m < e->base.n_models; m++) {
        const struct spec_profile_model *pm = spec_profile_find_model(db, bases[m]);
        for (uint32_t c = 0; c < pm->n_configs; c++)
            bytes += sim_llm__cost_bytes((uint32_t)pm->configs[c].pp, budget);
        n += pm->n_configs;
    }
    e->configs = MX_NEW_ARRAY(struct eval_llm_config, n ? n : 1);
    e->store = mx_malloc_array(bytes ? bytes : 1, 1);
    struct llm_store st = {e->store, 0};
    uint32_t k = 0;
    for (uint32_t m = 0; m < e->base.n_models; m++) {
        const struct spec_profile_model *pm = spec_profile_find_model(db, bases[m]);
        for (uint32_t c = 0; c < pm->n_configs; c++) {
            const struct spec_config *cfg = &pm->configs[c];
            if (cfg->dp != 1 || (uint32_t)cfg->decoder.tokens[cfg->decoder.n_tokens - 1] < budget)
                continue;
            double factor = o->stage_factor * (1 + o->stage_factor_per_pp * cfg->pp);
            struct eval_llm_config *ec = &e->configs[k++];
            *ec = (struct eval_llm_config){cfg->op, cfg->pp, cfg, {0}};
            int rc = sim_llm__compile_cost(&e->base.settings, cfg, factor, budget, m, bases[m],
                                           db_path, &st, &ec->cost);
            if (rc < 0)
                return rc;
        }
        e->config_begin[m + 1] = k;
    }
    return MX_OK;
}

int sim__eval_llm_new(const struct spec_cluster *cluster, const struct spec_profile *db,
                      const char *db_path, const struct wl_trace *trace, const char *const *bases,
                      struct eval_llm **out)
{
    struct eval_llm *e = MX_NEW(struct eval_llm);
    struct sim_llm *w = &e->base;
    sim_llm__setup(w, cluster, trace, trace->n_models);
    e->budget_bytes = cluster->mem_budget_bytes;
    e->config_begin = MX_NEW_ARRAY(uint32_t, (size_t)trace->n_models + 1);
    int32_t *identity = MX_NEW_ARRAY(int32_t, trace->n_models ? trace->n_models : 1);
    for (uint32_t m = 0; m < trace->n_models; m++)
        identity[m] = (int32_t)m;
    int rc = sim_llm__gather(w, db, identity, bases, (const char *const *)trace->model_names,
                             trace->path ? trace->path : "trace");
    free(identity);
    if (rc == MX_OK)
        rc = compile_configs(e, cluster, db, db_path, bases);
    if (rc < 0) {
        sim__eval_llm_free(e);
        return rc;
    }
    *out = e;
    return MX_OK;
}

static const struct eval_llm_config *find_config(const struct eval_llm *e, uint32_t m, int32_t op,
                                                 int32_t pp)
{
    for (uint32_t c = e->config_begin[m]; c < e->config_begin[m + 1]; c++)
        if (e->configs[c].op == op && e->configs[c].pp == pp)
            return &e->configs[c];
    MX_BUG("decoder model %u has no compiled config (1, %d, %d) to evaluate", m, op, pp);
}

/* A world of p's groups over the evaluator's requests: borrowed requests and costs; the groups,
 * their cost lists, pools and the replica index are w's own (release_world). */
static void place(const struct eval_llm *e, const struct spec_placement *p, struct sim_llm *w)
{
    *w = e->base;
    struct spec_scheduler sch = spec_scheduler_default();
    w->n_groups = p->n_groups;
    w->n_costs = spec_placement_replicas(p);
    w->groups = MX_NEW_ARRAY(struct llm_group, p->n_groups ? p->n_groups : 1);
    w->costs = MX_NEW_ARRAY(struct llm_cost, w->n_costs ? w->n_costs : 1);
    size_t stages = 0;
    for (uint32_t g = 0; g < p->n_groups; g++)
        stages += (size_t)p->groups[g].pp;
    int64_t *pools = MX_NEW_ARRAY(int64_t, stages + 1), *pool = pools;
    const struct spec_config **cfgs = MX_NEW_ARRAY(const struct spec_config *, w->n_costs + 1);
    uint32_t next = 0;
    for (uint32_t g = 0; g < p->n_groups; g++) {
        const struct spec_group *pg = &p->groups[g];
        for (uint32_t j = 0; j < pg->n_models; j++) {
            const struct eval_llm_config *ec = find_config(e, pg->models[j], pg->op, pg->pp);
            w->costs[next + j] = ec->cost;
            cfgs[j] = ec->cfg;
        }
        for (int32_t s = 0; s < pg->pp; s++)
            pool[s] = spec_decoder_pool_bytes(cfgs, pg->n_models, s, e->budget_bytes,
                                              sch.max_batch_tokens);
        w->groups[g] = (struct llm_group){
            g,    (int32_t)g,           (uint32_t)pg->pp, pg->n_models, w->costs + next,
            pool, sch.max_batch_tokens, sch.max_seqs,     sch.policy};
        next += pg->n_models;
        pool += pg->pp;
    }
    free(cfgs);
    w->store = pools;
    sim_llm__index_replicas(w);
}

static void release_world(struct sim_llm *w)
{
    free(w->groups);
    free(w->costs);
    free(w->store);
    free(w->rep_begin);
    free(w->replicas);
}

void sim__eval_llm_run(const struct eval_llm *e, const struct spec_placement *p,
                       uint64_t *model_requests, uint64_t *model_good, uint64_t *group_requests,
                       struct sim_eval_result *out)
{
    struct sim_llm w;
    struct sim_llm_results *r = NULL;
    place(e, p, &w);
    sim_llm_run(&w, 0, &r);
    memset(model_requests, 0, e->base.n_models * sizeof(uint64_t));
    memset(model_good, 0, e->base.n_models * sizeof(uint64_t));
    if (p->n_groups) /* group_requests may be NULL without groups */
        memset(group_requests, 0, p->n_groups * sizeof(uint64_t));
    uint64_t good = 0;
    mx_ns latency = 0;
    for (size_t i = 0; i < w.n; i++) {
        uint32_t m = w.model[i];
        bool ok = r->status[i] == SIM_GOOD;
        model_requests[m]++;
        model_good[m] += ok;
        good += ok;
        if (r->group[i] >= 0)
            group_requests[r->group[i]]++;
        if (r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE)
            latency += r->finish_ns[i] - w.arrival_ns[i];
    }
    *out = (struct sim_eval_result){
        .requests = w.n,
        .good = good,
        .attainment = w.n ? (double)good / (double)w.n : 0,
        .mean_latency_s = w.n ? mx_ns_to_s(latency) / (double)w.n : 0,
        .model_requests = model_requests,
        .model_good = model_good,
        .group_requests = group_requests,
        .simulated = w.n,
    };
    sim_llm_results_free(r);
    release_world(&w);
}
