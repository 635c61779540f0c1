/* The search context: an evaluator over the workload, the weight each model needs in each config,
 * and the score AlpaServe's search maximises. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_memory.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <stdlib.h>

int pl_context_init(struct pl_context *c, const struct plan_problem *pb,
                    const struct wl_trace *workload)
{
    const struct spec_model_set *set = pb->models;
    const char **bases = MX_NEW_ARRAY(const char *, set->n);
    for (uint32_t m = 0; m < set->n; m++)
        bases[m] = set->models[m].base;
    c->pb = pb;
    c->n_models = set->n;
    c->eval = NULL;
    int rc =
        sim_eval_new(pb->cluster, pb->db, pb->db_path, workload, bases, pb->dispatch, &c->eval);
    free(bases);
    if (rc < 0)
        return rc;
    c->config_begin = MX_NEW_ARRAY(uint32_t, (size_t)set->n + 1);
    c->configs = NULL;
    uint32_t n = 0, batch = spec_scheduler_default().max_batch_tokens;
    for (uint32_t m = 0; m < set->n; m++) {
        const struct spec_profile_model *pm = spec_profile_find_model(pb->db, set->models[m].base);
        c->configs = mx_realloc_array(c->configs, n + pm->n_configs + 1, sizeof(*c->configs));
        for (uint32_t k = 0; k < pm->n_configs; k++) {
            const struct spec_config *cfg = &pm->configs[k];
            /* A decoder's groups iterate over up to the default batch budget. */
            if (cfg->dp != 1 || (pm->kind == SPEC_DECODER &&
                                 (uint32_t)cfg->decoder.tokens[cfg->decoder.n_tokens - 1] < batch))
                continue;
            c->configs[n++] = (struct pl_weight){
                cfg->op, cfg->pp,
                spec_model_fit_bytes(pm, cfg, pb->activation_memory,
                                     pb->cluster->decoder.block_tokens, batch, pb->kv_margin)};
        }
        c->config_begin[m + 1] = n;
    }
    return MX_OK;
}

void pl_context_release(struct pl_context *c)
{
    sim_eval_free(c->eval);
    free(c->config_begin);
    free(c->configs);
    c->eval = NULL;
    c->config_begin = NULL;
    c->configs = NULL;
}

int64_t pl_weight(const struct pl_context *c, uint32_t m, int32_t op, int32_t pp)
{
    for (uint32_t k = c->config_begin[m]; k < c->config_begin[m + 1]; k++)
        if (c->configs[k].op == op && c->configs[k].pp == pp)
            return c->configs[k].bytes;
    return -1;
}

int pl_check_fits(const struct pl_context *c, const struct spec_placement *layouts, uint32_t n)
{
    const struct spec_model_set *set = c->pb->models;
    int64_t budget = c->pb->cluster->mem_budget_bytes;
    for (uint32_t m = 0; m < c->n_models; m++) {
        int64_t smallest = -1;
        for (uint32_t l = 0; l < n; l++)
            for (uint32_t g = 0; g < layouts[l].n_groups; g++) {
                const struct spec_group *grp = &layouts[l].groups[g];
                int64_t w = pl_weight(c, m, grp->op, grp->pp);
                if (w >= 0 && (smallest < 0 || w < smallest))
                    smallest = w;
            }
        if (smallest < 0)
            return mx_error(MX_EINPUT,
                            "%s: model \"%s\" (base \"%s\"): profile %s has none of the configs "
                            "this policy's groups use",
                            set->path, set->models[m].name, set->models[m].base, c->pb->db_path);
        if (smallest > budget)
            return mx_error(
                MX_EINPUT,
                "%s: model \"%s\" (base \"%s\") needs at least %lld bytes per device in "
                "the groups this policy uses, over the budget of %lld bytes (cluster "
                "%s)",
                set->path, set->models[m].name, set->models[m].base, (long long)smallest,
                (long long)budget, c->pb->cluster_path);
    }
    return MX_OK;
}

int pl_score_compare(const struct pl_score *a, const struct pl_score *b)
{
    if (a->good != b->good)
        return a->good > b->good ? 1 : -1;
    if (a->mean_latency_s != b->mean_latency_s)
        return a->mean_latency_s < b->mean_latency_s ? 1 : -1;
    return (a->replicas > b->replicas) - (a->replicas < b->replicas);
}

struct pl_score pl_evaluate(struct sim_eval_state *s, const struct spec_placement *p,
                            struct sim_eval_result *result)
{
    sim_eval_run(s, p, result);
    return (struct pl_score){result->good, result->mean_latency_s, spec_placement_replicas(p)};
}

struct pl_score pl_evaluate_next(struct sim_eval_state *s, const struct spec_placement *p,
                                 struct sim_eval_result *result)
{
    sim_eval_run_next(s, p, result);
    return (struct pl_score){result->good, result->mean_latency_s, spec_placement_replicas(p)};
}
