/* Checking a plan against the cluster it runs on and the profile that prices it. */
#include "spec_plan.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_cluster.h"
#include "spec_memory.h"
#include "spec_profile.h"

#include <stdlib.h>

/* "groups[3]" or "schedule[1].groups[3]", for messages. */
static void group_place(const struct spec_plan *p, uint32_t s, uint32_t g, char *buf, size_t size)
{
    if (p->static_form)
        snprintf(buf, size, "groups[%u] (id %d)", g, p->segments[s].groups[g].id);
    else
        snprintf(buf, size, "schedule[%u].groups[%u] (id %d)", s, g, p->segments[s].groups[g].id);
}

static int check_devices(const struct spec_plan *p, uint32_t s, uint32_t gi,
                         const struct spec_cluster *c, const char *cluster_path, int32_t *owner,
                         const char *place)
{
    const struct spec_plan_group *g = &p->segments[s].groups[gi];
    if (g->dp != 1)
        return mx_error(MX_EINPUT,
                        "%s: %s: dp is %d; plans use dp = 1 and replicate by placing "
                        "more replicas",
                        p->path, place, g->dp);
    for (uint32_t d = 0; d < g->n_devices; d++) {
        uint32_t dev = g->devices[d];
        if (dev >= c->devices)
            return mx_error(MX_EINPUT, "%s: %s: device %u does not exist (cluster %s has %u)",
                            p->path, place, dev, cluster_path, c->devices);
        if (owner[dev] >= 0)
            return mx_error(MX_EINPUT, "%s: %s: device %u is also in group id %d", p->path, place,
                            dev, p->segments[s].groups[owner[dev]].id);
        owner[dev] = (int32_t)gi;
        uint32_t stage_first = g->devices[d - d % (uint32_t)g->op];
        if (dev / c->devices_per_node != stage_first / c->devices_per_node)
            return mx_error(MX_EINPUT,
                            "%s: %s: stage %u spans devices %u and %u on different nodes "
                            "(%u devices per node); tensor parallelism stays within a node",
                            p->path, place, d / (uint32_t)g->op, stage_first, dev,
                            c->devices_per_node);
    }
    return MX_OK;
}

/* A decoder group: its configs' token grids cover its batch budget, and every stage keeps a KV
 * pool (spec_decoder_pool_bytes). */
static int check_decoder_group(const struct spec_plan *p, const struct spec_plan_group *g,
                               const struct spec_config *const *cfgs, const struct spec_cluster *c,
                               const char *cluster_path, const char *db_path, const char *place)
{
    uint32_t budget = g->scheduler.max_batch_tokens;
    for (uint32_t i = 0; i < g->n_models; i++) {
        const struct spec_decoder_cost *d = &cfgs[i]->decoder;
        if ((uint32_t)d->tokens[d->n_tokens - 1] < budget)
            return mx_error(MX_EINPUT,
                            "%s: %s: profile %s: the token grid of \"%s\" (%d, %d, %d) ends at %d, "
                            "short of the group's max_batch_tokens %u",
                            p->path, place, db_path, p->models[g->models[i]].base, g->dp, g->op,
                            g->pp, d->tokens[d->n_tokens - 1], budget);
    }
    for (int32_t k = 0; k < g->pp; k++)
        if (spec_decoder_pool_bytes(cfgs, g->n_models, k, c->mem_budget_bytes, budget) <= 0)
            return mx_error(MX_EINPUT,
                            "%s: %s: stage %d: the weights of its %u models and the activations of "
                            "%u tokens leave no KV cache within the budget of %lld bytes (cluster "
                            "%s)",
                            p->path, place, k, g->n_models, budget, (long long)c->mem_budget_bytes,
                            cluster_path);
    return MX_OK;
}

static int check_models(const struct spec_plan *p, uint32_t s, uint32_t gi,
                        const struct spec_cluster *c, const char *cluster_path,
                        const struct spec_profile *db, const char *db_path, const char *place)
{
    const struct spec_plan_group *g = &p->segments[s].groups[gi];
    const struct spec_config **cfgs = MX_NEW_ARRAY(const struct spec_config *, g->n_models + 1);
    int64_t used = 0;
    int rc = MX_OK;
    for (uint32_t i = 0; i < g->n_models && rc == MX_OK; i++) {
        const struct spec_plan_model *m = &p->models[g->models[i]];
        const struct spec_plan_model *first = &p->models[g->models[0]];
        cfgs[i] = spec_profile_find(db, m->base, g->dp, g->op, g->pp);
        if (!cfgs[i])
            rc = mx_error(MX_EINPUT,
                          "%s: %s: profile %s has no config (%d, %d, %d) for base \"%s\" (model "
                          "\"%s\")",
                          p->path, place, db_path, g->dp, g->op, g->pp, m->base, m->name);
        else if (spec_profile_find_model(db, m->base)->kind !=
                 spec_profile_find_model(db, first->base)->kind)
            rc = mx_error(MX_EINPUT,
                          "%s: %s: hosts \"%s\" and \"%s\", one a decoder and one not; a group "
                          "serves one kind of model",
                          p->path, place, first->name, m->name);
        /* Saturating: a corrupt profile cannot wrap the sum below the budget. */
        int64_t bytes = cfgs[i] ? spec_model_device_bytes(cfgs[i], false) : 0;
        used = bytes > INT64_MAX - used ? INT64_MAX : used + bytes;
    }
    if (rc == MX_OK && g->n_models > 0 && cfgs[0]->decoder.n_tokens > 0)
        rc = check_decoder_group(p, g, cfgs, c, cluster_path, db_path, place);
    else if (rc == MX_OK && used > c->mem_budget_bytes)
        rc = mx_error(MX_EINPUT,
                      "%s: %s: its %u models need %lld bytes per device, over the budget of %lld "
                      "bytes (cluster %s)",
                      p->path, place, g->n_models, (long long)used, (long long)c->mem_budget_bytes,
                      cluster_path);
    free(cfgs);
    return rc;
}

int spec_plan_validate(const struct spec_plan *p, const struct spec_cluster *c,
                       const char *cluster_path, const struct spec_profile *db, const char *db_path)
{
    int rc = MX_OK;
    for (uint32_t m = 0; m < p->n_models; m++)
        if (!spec_profile_find_model(db, p->models[m].base))
            return mx_error(MX_EINPUT,
                            "%s: models[%u]: base \"%s\" (of model \"%s\") is not in "
                            "profile %s",
                            p->path, m, p->models[m].base, p->models[m].name, db_path);
    int32_t *owner = MX_NEW_ARRAY(int32_t, c->devices);
    for (uint32_t s = 0; s < p->n_segments && rc == MX_OK; s++) {
        for (uint32_t d = 0; d < c->devices; d++)
            owner[d] = -1;
        for (uint32_t g = 0; g < p->segments[s].n_groups && rc == MX_OK; g++) {
            char place[96];
            group_place(p, s, g, place, sizeof(place));
            double load_s = p->segments[s].groups[g].load_s;
            if (!(load_s >= 0 && load_s <= SPEC_PLAN_MAX_LOAD_S))
                rc = mx_error(MX_EINPUT, "%s: %s: load_s %g is outside [0, %g]", p->path, place,
                              load_s, SPEC_PLAN_MAX_LOAD_S);
            if (rc == MX_OK)
                rc = check_devices(p, s, g, c, cluster_path, owner, place);
            if (rc == MX_OK)
                rc = check_models(p, s, g, c, cluster_path, db, db_path, place);
        }
    }
    free(owner);
    return rc;
}
