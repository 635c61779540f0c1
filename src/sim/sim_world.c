/* Compiling a simulation input: validate the plan, map trace models onto plan models, split the
 * trace into schedule segments, and turn every profiled latency into integer nanoseconds with the
 * stage factor applied, once, so that runs never look anything up by name. */
#include "sim_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Map each plan model to its trace model index (-1: no requests in the trace); a trace model
 * missing from the plan is an error. */
static int map_models(const struct spec_plan *p, const struct wl_trace *t, const char *trace_path,
                      int32_t *trace_of)
{
    for (uint32_t m = 0; m < p->n_models; m++)
        trace_of[m] = -1;
    for (uint32_t m = 0; m < t->n_models; m++) {
        int32_t pm = spec_plan_find_model(p, t->model_names[m]);
        if (pm < 0)
            return mx_error(MX_EINPUT,
                            "%s: model \"%s\" of the trace is not among the models of %s",
                            trace_path, t->model_names[m], p->path);
        trace_of[pm] = (int32_t)m;
    }
    return MX_OK;
}

/* Every request of an encoder model needs a latency SLO. */
static int check_slos(const struct wl_trace *t, const char *trace_path)
{
    for (size_t i = 0; i < t->n; i++)
        if (isinf(t->slo_s[i]))
            return mx_error(MX_EINPUT,
                            "%s: /slo_s[%zu]: the request of model \"%s\" has no SLO, which a "
                            "request of a model served in one forward pass needs",
                            trace_path, i, t->model_names[t->model[i]]);
    return MX_OK;
}

/* The requests of each segment: [start_s of k, start_s of k + 1); the first takes earlier ones. */
static void split_requests(struct sim_world *w, const struct spec_plan *p)
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

void sim__world_segment(struct sim_world *w, uint32_t s, const struct sim_group_spec *specs,
                        uint32_t n_specs, uint32_t *next_stage)
{
    struct sim_segment *seg = &w->segments[s];
    free(seg->rep_begin);
    free(seg->replicas);
    seg->rep_begin = MX_NEW_ARRAY(uint32_t, (size_t)w->n_models + 1);
    /* Count each model's replicas, then fill them group by group: each model's list comes out in
     * group order, the order dispatch breaks ties in. */
    uint32_t total = 0;
    for (uint32_t g = 0; g < n_specs; g++)
        for (uint32_t j = 0; j < specs[g].n_models; j++)
            seg->rep_begin[specs[g].models[j] + 1]++;
    for (uint32_t m = 0; m < w->n_models; m++)
        seg->rep_begin[m + 1] += seg->rep_begin[m];
    total = seg->rep_begin[w->n_models];
    seg->replicas = MX_NEW_ARRAY(struct sim_replica, total);
    uint32_t *fill = MX_NEW_ARRAY(uint32_t, w->n_models);
    seg->uniform = true;
    for (uint32_t g = 0; g < n_specs; g++) {
        struct sim_group *sg = &w->groups[seg->first_group + g];
        *sg = (struct sim_group){specs[g].id, s, specs[g].n_stages, *next_stage, specs[g].ready_ns};
        for (uint32_t j = 0; j < specs[g].n_models; j++) {
            uint32_t m = specs[g].models[j];
            struct sim_replica *rep = &seg->replicas[seg->rep_begin[m] + fill[m]++];
            sim__tables_replica(&w->tables, specs[g].entry[j], rep);
            if (!sim__tables_same_batch1(&w->tables, specs[g].entry[0], specs[g].entry[j]))
                seg->uniform = false;
            rep->group = seg->first_group + g;
            rep->stage_base = sg->stage_base;
            rep->last_stage = rep->stage_base + rep->n_stages - 1;
            if (rep->n_stages != sg->n_stages)
                MX_BUG("group %d: a %u-stage replica on a %u-stage group", sg->id, rep->n_stages,
                       sg->n_stages);
        }
        *next_stage += sg->n_stages;
        if (sg->n_stages > w->max_stages)
            w->max_stages = sg->n_stages;
    }
    free(fill);
}

void sim__world_requests(struct sim_world *w, const struct wl_trace *t)
{
    w->trace = t;
    w->n = t->n;
    w->model = t->model;
    w->n_models = t->n_models;
    w->arrival_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    w->deadline_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    for (size_t i = 0; i < w->n; i++) {
        w->arrival_ns[i] = mx_s_to_ns(t->arrival_s[i]);
        w->deadline_ns[i] = w->arrival_ns[i] + mx_s_to_ns(t->slo_s[i]);
    }
}

void sim__world_overheads(struct sim_world *w, const struct spec_overheads *o)
{
    w->constant_overheads = spec_overheads_constant(o);
    for (int t = 0; t < SPEC_OH_COUNT; t++) {
        w->overhead_ns[t] = mx_s_to_ns(o->term[t].mean_s);
        w->overhead_sd_ns[t] = mx_s_to_ns(o->term[t].sd_s);
    }
}

/* Turn segment s of the plan into group specs over trace models (plan models without requests in
 * the trace are left out), adding their configs to the tables. Release with release_specs(). */
static int plan_specs(struct sim_world *w, const struct spec_plan *p, const struct spec_profile *db,
                      const int32_t *trace_of, uint32_t s, struct sim_group_spec **out)
{
    const struct spec_plan_segment *ps = &p->segments[s];
    struct sim_group_spec *specs = MX_NEW_ARRAY(struct sim_group_spec, ps->n_groups);
    int rc = MX_OK;
    for (uint32_t g = 0; g < ps->n_groups; g++) {
        const struct spec_plan_group *pg = &ps->groups[g];
        uint32_t *models = MX_NEW_ARRAY(uint32_t, pg->n_models);
        uint32_t *entry = MX_NEW_ARRAY(uint32_t, pg->n_models);
        mx_ns ready = pg->load_s > 0 ? w->segments[s].start_ns + mx_s_to_ns(pg->load_s) : 0;
        specs[g] = (struct sim_group_spec){pg->id, (uint32_t)pg->pp, 0, models, entry, ready};
        for (uint32_t j = 0; j < pg->n_models && rc == MX_OK; j++) {
            int32_t m = trace_of[pg->models[j]];
            if (m < 0)
                continue;
            const char *base = p->models[pg->models[j]].base;
            const struct spec_config *cfg = spec_profile_find(db, base, pg->dp, pg->op, pg->pp);
            rc = sim__tables_add(&w->tables, base, cfg, &entry[specs[g].n_models]);
            models[specs[g].n_models++] = (uint32_t)m;
        }
    }
    *out = specs;
    return rc;
}

static void release_specs(struct sim_group_spec *specs, uint32_t n)
{
    for (uint32_t g = 0; specs && g < n; g++) {
        free((void *)specs[g].models);
        free((void *)specs[g].entry);
    }
    free(specs);
}

/* Where each stage runs (its node and device count) and the distributions its times draw from. */
static void world_variability(struct sim_world *w, const struct spec_cluster *cluster,
                              const struct spec_plan *plan)
{
    size_t stages = w->n_stages ? w->n_stages : 1;
    w->interference = cluster->interference;
    w->stage_node = MX_NEW_ARRAY(uint32_t, stages);
    w->stage_devices = MX_NEW_ARRAY(uint32_t, stages);
    w->stage_dist = MX_NEW_ARRAY(uint32_t, stages);
    w->dists = MX_NEW_ARRAY(struct spec_dist, 1);
    w->dists[0] = cluster->stage_time;
    w->n_dists = 1;
    for (uint32_t s = 0; s < w->n_segments; s++)
        for (uint32_t g = 0; g < plan->segments[s].n_groups; g++) {
            const struct spec_plan_group *pg = &plan->segments[s].groups[g];
            const struct sim_group *sg = &w->groups[w->segments[s].first_group + g];
            for (uint32_t k = 0; k < sg->n_stages; k++) {
                w->stage_node[sg->stage_base + k] =
                    pg->devices[k * (uint32_t)pg->op] / cluster->devices_per_node;
                w->stage_devices[sg->stage_base + k] = (uint32_t)pg->op;
            }
        }
    w->varies = spec_cluster_varies(cluster);
}

bool sim_world_varies(const struct sim_world *w)
{
    return w->varies;
}

void sim_world_set_stage_time(struct sim_world *w, uint32_t group, uint32_t stage,
                              const struct spec_dist *d)
{
    if (!w->stage_dist || group >= w->n_groups || stage >= w->groups[group].n_stages)
        MX_BUG("no stage %u of group %u to give a distribution", stage, group);
    w->dists = mx_realloc_array(w->dists, (size_t)w->n_dists + 1, sizeof(*w->dists));
    w->dists[w->n_dists] = *d;
    w->stage_dist[w->groups[group].stage_base + stage] = w->n_dists++;
    w->varies |= spec_dist_varies(d);
}

int sim_world_set_stage_times(struct sim_world *w, const struct spec_stage_time *st, size_t n,
                              const char *path)
{
    for (size_t j = 0; j < n; j++) {
        bool found = false;
        for (uint32_t g = 0; g < w->n_groups; g++) {
            if (w->groups[g].id != st[j].group)
                continue;
            if (st[j].stage >= w->groups[g].n_stages)
                return mx_error(MX_EINPUT, "%s: stages[%zu]: group %d has %u stages, not stage %u",
                                path, j, st[j].group, w->groups[g].n_stages, st[j].stage);
            sim_world_set_stage_time(w, g, st[j].stage, &st[j].dist);
            found = true;
        }
        if (!found)
            return mx_error(MX_EINPUT, "%s: stages[%zu]: the plan has no group %d", path, j,
                            st[j].group);
    }
    return MX_OK;
}

int sim_world_new(const struct spec_cluster *cluster, const char *cluster_path,
                  const struct spec_profile *db, const char *db_path, const struct spec_plan *plan,
                  const struct wl_trace *trace, struct sim_world **out)
{
    int rc = spec_plan_validate(plan, cluster, cluster_path, db, db_path);
    if (rc < 0)
        return rc;
    if (trace->n == 0 || trace->n >= SIM_MAX_REQUESTS)
        return mx_error(MX_EINPUT, "%s: %zu requests; the simulator takes 1 to %u",
                        trace->path ? trace->path : "trace", trace->n, SIM_MAX_REQUESTS - 1);
    int32_t *trace_of = MX_NEW_ARRAY(int32_t, plan->n_models);
    const char *trace_path = trace->path ? trace->path : "trace";
    if ((rc = map_models(plan, trace, trace_path, trace_of)) < 0 ||
        (rc = check_slos(trace, trace_path)) < 0) {
        free(trace_of);
        return rc;
    }
    struct sim_world *w = MX_NEW(struct sim_world);
    sim__world_requests(w, trace);
    sim__world_overheads(w, &cluster->overheads);
    sim__tables_init(&w->tables, &cluster->overheads, db_path);
    w->n_segments = plan->n_segments;
    w->segments = MX_NEW_ARRAY(struct sim_segment, w->n_segments);
    for (uint32_t s = 0; s < w->n_segments; s++) {
        w->segments[s].first_group = w->n_groups;
        w->segments[s].n_groups = plan->segments[s].n_groups;
        w->n_groups += plan->segments[s].n_groups;
    }
    w->groups = MX_NEW_ARRAY(struct sim_group, w->n_groups);
    split_requests(w, plan);
    /* Every config first, then the replicas: building replicas takes pointers into the tables. */
    struct sim_group_spec **specs = MX_NEW_ARRAY(struct sim_group_spec *, w->n_segments);
    for (uint32_t s = 0; s < w->n_segments && rc == MX_OK; s++)
        rc = plan_specs(w, plan, db, trace_of, s, &specs[s]);
    uint32_t next_stage = 0;
    for (uint32_t s = 0; s < w->n_segments && rc == MX_OK; s++)
        sim__world_segment(w, s, specs[s], plan->segments[s].n_groups, &next_stage);
    for (uint32_t s = 0; s < w->n_segments; s++)
        release_specs(specs[s], plan->segments[s].n_groups);
    free(specs);
    free(trace_of);
    if (rc < 0) {
        sim_world_free(w);
        return rc;
    }
    w->n_stages = next_stage;
    world_variability(w, cluster, plan);
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
    sim__tables_release(&w->tables);
    free(w->stage_node);
    free(w->stage_devices);
    free(w->stage_dist);
    free(w->dists);
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

void sim_world_stage_place(const struct sim_world *w, uint32_t group, uint32_t stage,
                           uint32_t *node, uint32_t *devices)
{
    uint32_t s = w->groups[group].stage_base + stage;
    *node = w->stage_node ? w->stage_node[s] : 0;
    *devices = w->stage_devices ? w->stage_devices[s] : 1;
}

const struct wl_trace *sim_world_trace(const struct sim_world *w)
{
    return w->trace;
}
