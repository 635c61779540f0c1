/* Compiling a simulation input: validate the plan, map trace models onto plan models, split the
 * trace into schedule segments, and turn every profiled latency into integer nanoseconds with the
 * stage factor applied, once, so that runs never look anything up by name. */
#include "sim_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "plan.h"
#include "prof_db.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One distinct profile config compiled into the latency store (the stage factor is the cluster's,
 * the same for all). */
struct compiled_config {
    const struct prof_config *cfg;
    size_t latency_offset, batch_offset;
};

struct compiler {
    struct sim_world *w;
    const struct sim_overheads *overheads;
    const char *db_path;
    struct compiled_config *configs;
    size_t n_configs, latency_used, batch_used;
};

static const struct compiled_config *compile_config(struct compiler *cc,
                                                    const struct prof_config *cfg)
{
    for (size_t i = 0; i < cc->n_configs; i++)
        if (cc->configs[i].cfg == cfg)
            return &cc->configs[i];
    struct sim_world *w = cc->w;
    size_t cells = (size_t)cfg->n_batches * (size_t)cfg->pp;
    cc->configs = mx_realloc_array(cc->configs, cc->n_configs + 1, sizeof(*cc->configs));
    struct compiled_config *c = &cc->configs[cc->n_configs++];
    c->cfg = cfg;
    c->latency_offset = cc->latency_used;
    c->batch_offset = cc->batch_used;
    w->latency_store = mx_realloc_array(w->latency_store, cc->latency_used + cells, sizeof(mx_ns));
    w->batch_store =
        mx_realloc_array(w->batch_store, cc->batch_used + cfg->n_batches, sizeof(int32_t));
    double factor =
        cc->overheads->stage_factor * (1 + cc->overheads->stage_factor_per_pp * cfg->pp);
    for (size_t i = 0; i < cells; i++) {
        mx_ns ns = mx_s_to_ns(cfg->stage_latency_s[i] * factor);
        w->latency_store[c->latency_offset + i] = ns > 0 ? ns : 1;
    }
    memcpy(w->batch_store + c->batch_offset, cfg->batch, cfg->n_batches * sizeof(int32_t));
    cc->latency_used += cells;
    cc->batch_used += cfg->n_batches;
    return c;
}

/* Map each trace model to its plan model index; a trace model missing from the plan is an error. */
static int map_models(const struct plan *p, const struct wl_trace *t, const char *trace_path,
                      int32_t *plan_of)
{
    for (uint32_t m = 0; m < t->n_models; m++) {
        plan_of[m] = plan_find_model(p, t->model_names[m]);
        if (plan_of[m] < 0)
            return mx_error(MX_EINPUT, "%s: model \"%s\" of the trace is not in plan %s",
                            trace_path, t->model_names[m], p->path);
    }
    return MX_OK;
}

/* The requests of each segment: [start_s of k, start_s of k + 1); the first takes earlier ones. */
static void split_requests(struct sim_world *w, const struct plan *p)
{
    size_t i = 0;
    for (uint32_t s = 0; s < w->n_segments; s++) {
        struct sim_segment *seg = &w->segments[s];
        seg->start_ns = mx_s_to_ns(p->segments[s].start_s);
        seg->first = i;
        mx_ns end = s + 1 < w->n_segments ? mx_s_to_ns(p->segments[s + 1].start_s) : MX_NS_NEVER;
        while (i < w->n && w->arrival_ns[i] < end)
            i++;
        seg->end = i;
    }
}

/* Build the groups and replica lists of segment s; its stages are numbered from *next_stage. */
static void compile_segment(struct compiler *cc, const struct plan *p, const struct prof_db *db,
                            const int32_t *plan_of, uint32_t s, uint32_t *next_stage)
{
    struct sim_world *w = cc->w;
    const struct plan_segment *ps = &p->segments[s];
    struct sim_segment *seg = &w->segments[s];
    seg->rep_begin = MX_NEW_ARRAY(uint32_t, (size_t)w->n_models + 1);

    /* Count replicas per trace model, then fill them in plan group order (the tie order). */
    uint32_t total = 0;
    for (uint32_t m = 0; m < w->n_models; m++) {
        for (uint32_t g = 0; g < ps->n_groups; g++)
            for (uint32_t j = 0; j < ps->groups[g].n_models; j++)
                if ((int32_t)ps->groups[g].models[j] == plan_of[m])
                    total++;
        seg->rep_begin[m + 1] = total;
    }
    seg->replicas = MX_NEW_ARRAY(struct sim_replica, total);
    for (uint32_t g = 0; g < ps->n_groups; g++) {
        const struct plan_group *pg = &ps->groups[g];
        struct sim_group *sg = &w->groups[seg->first_group + g];
        *sg = (struct sim_group){pg->id, s, (uint32_t)pg->pp, *next_stage};
        *next_stage += (uint32_t)pg->pp;
        if ((uint32_t)pg->pp > w->max_stages)
            w->max_stages = (uint32_t)pg->pp;
    }
    for (uint32_t m = 0; m < w->n_models; m++) {
        uint32_t r = seg->rep_begin[m];
        for (uint32_t g = 0; g < ps->n_groups; g++) {
            const struct plan_group *pg = &ps->groups[g];
            for (uint32_t j = 0; j < pg->n_models; j++) {
                if ((int32_t)pg->models[j] != plan_of[m])
                    continue;
                const char *base = p->models[pg->models[j]].base;
                const struct prof_config *cfg = prof_db_find(db, base, pg->dp, pg->op, pg->pp);
                const struct compiled_config *c = compile_config(cc, cfg);
                struct sim_replica *rep = &seg->replicas[r++];
                rep->group = seg->first_group + g;
                rep->stage_base = w->groups[rep->group].stage_base;
                rep->n_stages = (uint32_t)cfg->pp;
                rep->last_stage = rep->stage_base + rep->n_stages - 1;
                rep->n_batches = cfg->n_batches;
                rep->latency_ns = w->latency_store + c->latency_offset;
                rep->batch_sizes = w->batch_store + c->batch_offset;
                rep->sum_ns = 0;
                for (uint32_t k = 0; k < rep->n_stages; k++)
                    rep->sum_ns += rep->latency_ns[k];
            }
        }
    }
}

/* Scaled stage latencies must keep every sum of times far from int64 overflow: with at most 4096
 * stages of 1e5 s, a finish is at most 4.1e8 s after a deadline of at most 6.2e9 s. */
#define MAX_STAGE_LATENCY_S 1e5

static int check_scaled_latency(const struct compiler *cc, const char *base,
                                const struct prof_config *cfg)
{
    double factor =
        cc->overheads->stage_factor * (1 + cc->overheads->stage_factor_per_pp * cfg->pp);
    for (size_t i = 0; i < (size_t)cfg->n_batches * (size_t)cfg->pp; i++)
        if (cfg->stage_latency_s[i] * factor > MAX_STAGE_LATENCY_S)
            return mx_error(MX_EINPUT,
                            "profile %s: %s (%d, %d, %d): a stage latency of %g s times the "
                            "cluster's stage factor %g exceeds %g s",
                            cc->db_path, base, cfg->dp, cfg->op, cfg->pp, cfg->stage_latency_s[i],
                            factor, MAX_STAGE_LATENCY_S);
    return MX_OK;
}

/* Compile every config the plan uses before any replica points into the stores, so that the
 * stores no longer move once replicas are built. */
static int compile_all_configs(struct compiler *cc, const struct plan *p, const struct prof_db *db)
{
    for (uint32_t s = 0; s < p->n_segments; s++)
        for (uint32_t g = 0; g < p->segments[s].n_groups; g++) {
            const struct plan_group *pg = &p->segments[s].groups[g];
            for (uint32_t j = 0; j < pg->n_models; j++) {
                const char *base = p->models[pg->models[j]].base;
                const struct prof_config *cfg = prof_db_find(db, base, pg->dp, pg->op, pg->pp);
                int rc = check_scaled_latency(cc, base, cfg);
                if (rc < 0)
                    return rc;
                compile_config(cc, cfg);
            }
        }
    return MX_OK;
}

static void compile_overheads(struct sim_world *w, const struct sim_overheads *o)
{
    w->constant_overheads = sim_overheads_constant(o);
    for (int t = 0; t < SIM_OH_COUNT; t++) {
        w->overhead_ns[t] = mx_s_to_ns(o->term[t].mean_s);
        w->overhead_sd_ns[t] = mx_s_to_ns(o->term[t].sd_s);
    }
}

int sim_world_new(const struct sim_cluster *cluster, const char *cluster_path,
                  const struct prof_db *db, const char *db_path, const struct plan *plan,
                  const struct wl_trace *trace, struct sim_world **out)
{
    int rc = plan_validate(plan, cluster, cluster_path, db, db_path);
    if (rc < 0)
        return rc;
    if (trace->n == 0 || trace->n >= SIM_MAX_REQUESTS)
        return mx_error(MX_EINPUT, "%s: %zu requests; the simulator takes 1 to %u",
                        trace->path ? trace->path : "trace", trace->n, SIM_MAX_REQUESTS - 1);
    int32_t *plan_of = MX_NEW_ARRAY(int32_t, trace->n_models);
    if ((rc = map_models(plan, trace, trace->path ? trace->path : "trace", plan_of)) < 0) {
        free(plan_of);
        return rc;
    }
    struct sim_world *w = MX_NEW(struct sim_world);
    w->trace = trace;
    w->n = trace->n;
    w->model = trace->model;
    w->n_models = trace->n_models;
    w->arrival_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    w->deadline_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    for (size_t i = 0; i < w->n; i++) {
        w->arrival_ns[i] = mx_s_to_ns(trace->arrival_s[i]);
        w->deadline_ns[i] = w->arrival_ns[i] + mx_s_to_ns(trace->slo_s[i]);
    }
    compile_overheads(w, &cluster->overheads);
    w->n_segments = plan->n_segments;
    w->segments = MX_NEW_ARRAY(struct sim_segment, w->n_segments);
    for (uint32_t s = 0; s < w->n_segments; s++) {
        w->segments[s].first_group = w->n_groups;
        w->segments[s].n_groups = plan->segments[s].n_groups;
        w->n_groups += plan->segments[s].n_groups;
    }
    w->groups = MX_NEW_ARRAY(struct sim_group, w->n_groups);
    split_requests(w, plan);
    struct compiler cc = {.w = w, .overheads = &cluster->overheads, .db_path = db_path};
    if ((rc = compile_all_configs(&cc, plan, db)) < 0) {
        free(cc.configs);
        free(plan_of);
        sim_world_free(w);
        return rc;
    }
    uint32_t next_stage = 0;
    for (uint32_t s = 0; s < w->n_segments; s++)
        compile_segment(&cc, plan, db, plan_of, s, &next_stage);
    w->n_stages = next_stage;
    free(cc.configs);
    free(plan_of);
    *out = w;
    return MX_OK;
}

void sim_world_free(struct sim_world *w)
{
    if (!w)
        return;
    for (uint32_t s = 0; s < w->n_segments; s++) {
        free(w->segments[s].rep_begin);
        free(w->segments[s].replicas);
    }
    free(w->segments);
    free(w->groups);
    free(w->arrival_ns);
    free(w->deadline_ns);
    free(w->latency_store);
    free(w->batch_store);
    free(w);
}

size_t sim_world_requests(const struct sim_world *w)
{
    return w->n;
}

uint32_t sim_world_model_count(const struct sim_world *w)
{
    return w->n_models;
}

const char *sim_world_model_name(const struct sim_world *w, uint32_t model)
{
    return w->trace->model_names[model];
}

uint32_t sim_world_group_count(const struct sim_world *w)
{
    return w->n_groups;
}

int32_t sim_world_group_id(const struct sim_world *w, uint32_t group)
{
    return w->groups[group].id;
}

uint32_t sim_world_group_segment(const struct sim_world *w, uint32_t group)
{
    return w->groups[group].segment;
}

uint32_t sim_world_group_stages(const struct sim_world *w, uint32_t group)
{
    return w->groups[group].n_stages;
}

const struct wl_trace *sim_world_trace(const struct sim_world *w)
{
    return w->trace;
}
