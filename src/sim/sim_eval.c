/* The planner's evaluator: one compiled workload shared by every thread, and per-thread states
 * that rebuild a one-segment world for each candidate placement and run the fast path, counting.
 * Where the dispatch policy allows (no outstanding counts), sim_eval_run_next() records a baseline
 * on its full runs (sim_eval_record.c) and re-simulates incrementally from it (sim_eval_next.c). */
#include "sim_eval.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_dispatch.h"
#include "sim_eval_int.h"
#include "sim_fast_step.h"
#include "spec_placement.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* List each model's requests in order: what an incremental run walks. */
static void order_by_model(struct sim_eval *e, const struct wl_trace *trace)
{
    const struct sim_world *w = &e->base;
    e->request_begin = MX_NEW_ARRAY(uint32_t, (size_t)trace->n_models + 1);
    e->request = mx_malloc_huge(w->n, sizeof(uint32_t));
    e->times = mx_malloc_huge(w->n, sizeof(*e->times));
    for (size_t i = 0; i < w->n; i++)
        e->request_begin[w->model[i] + 1]++;
    for (uint32_t m = 0; m < trace->n_models; m++)
        e->request_begin[m + 1] += e->request_begin[m];
    uint32_t *fill = MX_NEW_ARRAY(uint32_t, trace->n_models);
    for (size_t i = 0; i < w->n; i++) {
        uint32_t m = (uint32_t)w->model[i];
        e->request[e->request_begin[m] + fill[m]++] = (uint32_t)i;
        e->times[i] = (struct eval_times){w->arrival_ns[i], w->deadline_ns[i]};
    }
    free(fill);
}

int sim_eval_new(const struct spec_cluster *cluster, const struct spec_profile *db,
                 const char *db_path, const struct wl_trace *trace, const char *const *bases,
                 const struct sim_dispatch_policy *dispatch, struct sim_eval **out)
{
    if (trace->n == 0 || trace->n >= SIM_MAX_REQUESTS)
        return mx_error(MX_EINPUT, "%s: %zu requests; the simulator takes 1 to %u",
                        trace->path ? trace->path : "trace", trace->n, SIM_MAX_REQUESTS - 1);
    struct sim_eval *e = MX_NEW(struct sim_eval);
    int decoders = 0;
    for (uint32_t m = 0; m < trace->n_models; m++) {
        const struct spec_profile_model *pm = spec_profile_find_model(db, bases[m]);
        decoders += pm && pm->kind == SPEC_DECODER;
    }
    if (decoders > 0 && (uint32_t)decoders < trace->n_models) {
        free(e);
        return mx_error(MX_EINPUT,
                        "the models to place mix decoders and models served in one forward pass; "
                        "plan each kind in its own model set");
    }
    e->base.n_models = trace->n_models;
    if (decoders > 0) {
        int rc = sim__eval_llm_new(cluster, db, db_path, trace, bases, &e->llm);
        if (rc < 0) {
            free(e);
            return rc;
        }
        *out = e;
        return MX_OK;
    }
    e->overheads = cluster->overheads;
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        e->overheads.term[t].sd_s = 0;
    e->dispatch = dispatch;
    e->key_limit = cluster->devices;
    sim__world_requests(&e->base, trace);
    /* The incremental runs read it at random: a copy in huge pages. */
    e->model = mx_malloc_huge(trace->n, sizeof(int32_t));
    memcpy(e->model, trace->model, trace->n * sizeof(int32_t));
    e->base.model = e->model;
    sim__world_overheads(&e->base, &e->overheads);
    sim__tables_init(&e->base.tables, &e->overheads, db_path);
    e->config_begin = MX_NEW_ARRAY(uint32_t, (size_t)trace->n_models + 1);
    uint32_t n_configs = 0;
    for (uint32_t m = 0; m < trace->n_models; m++) {
        const struct spec_profile_model *pm = spec_profile_find_model(db, bases[m]);
        if (!pm) {
            sim_eval_free(e);
            return mx_error(MX_EINPUT, "profile %s has no model \"%s\" (the base of \"%s\")",
                            db_path, bases[m], trace->model_names[m]);
        }
        e->configs = mx_realloc_array(e->configs, n_configs + pm->n_configs, sizeof(*e->configs));
        for (uint32_t c = 0; c < pm->n_configs; c++) {
            const struct spec_config *cfg = &pm->configs[c];
            if (cfg->dp != 1)
                continue;
            struct eval_config *ec = &e->configs[n_configs];
            int rc = sim__tables_add(&e->base.tables, bases[m], cfg, &ec->entry);
            if (rc < 0) {
                sim_eval_free(e);
                return rc;
            }
            ec->op = cfg->op;
            ec->pp = cfg->pp;
            if ((uint32_t)cfg->pp > e->stride)
                e->stride = (uint32_t)cfg->pp;
            n_configs++;
        }
        e->config_begin[m + 1] = n_configs;
    }
    e->trace = trace;
    pthread_mutex_init(&e->order_lock, NULL);
    *out = e;
    return MX_OK;
}

/* The incremental runs' per-model request lists, made by the first of them (sim_eval_run_next):
 * evaluators that never run incrementally do not pay for them (a second on a 7 M request trace). */
static void ensure_order(const struct sim_eval *ce)
{
    struct sim_eval *e = (struct sim_eval *)ce; /* the lists only, under the lock */
    pthread_mutex_lock(&e->order_lock);
    if (!e->request_begin)
        order_by_model(e, e->trace);
    pthread_mutex_unlock(&e->order_lock);
}

void sim_eval_free(struct sim_eval *e)
{
    if (!e)
        return;
    sim__eval_llm_free(e->llm);
    if (e->trace)
        pthread_mutex_destroy(&e->order_lock);
    free(e->base.arrival_ns);
    free(e->base.deadline_ns);
    sim__tables_release(&e->base.tables);
    free(e->config_begin);
    free(e->configs);
    free(e->request_begin);
    free(e->request);
    free(e->times);
    free(e->model);
    free(e);
}

uint32_t sim_eval_model_count(const struct sim_eval *e)
{
    return e->base.n_models;
}

struct sim_eval_state *sim_eval_state_new(const struct sim_eval *e)
{
    struct sim_eval_state *s = MX_NEW(struct sim_eval_state);
    s->e = e;
    s->w = e->base;
    s->w.n_segments = 1;
    s->w.segments = MX_NEW(struct sim_segment);
    s->model_requests = MX_NEW_ARRAY(uint64_t, e->base.n_models);
    s->model_good = MX_NEW_ARRAY(uint64_t, e->base.n_models);
    s->spill = MX_NEW_ARRAY(mx_ns, e->stride ? e->stride : 1);
    return s;
}

void sim_eval_state_free(struct sim_eval_state *s)
{
    if (!s)
        return;
    free(s->w.segments[0].rep_begin);
    free(s->w.segments[0].replicas);
    free(s->w.segments);
    free(s->w.groups);
    free(s->specs);
    free(s->entries);
    free(s->model_requests);
    free(s->model_good);
    free(s->group_requests);
    free(s->keys);
    free(s->spill);
    sim__baseline_release(&s->b, s->e->key_limit);
    sim__streams_release(&s->streams, s->e->key_limit);
    free(s->ops);
    free(s->key_seen);
    free(s);
}

static uint32_t config_entry(const struct sim_eval *e, uint32_t m, int32_t op, int32_t pp)
{
    for (uint32_t c = e->config_begin[m]; c < e->config_begin[m + 1]; c++)
        if (e->configs[c].op == op && e->configs[c].pp == pp)
            return e->configs[c].entry;
    MX_BUG("model %u has no profiled config (1, %d, %d) to evaluate", m, op, pp);
}

static void reserve(struct sim_eval_state *s, uint32_t n_groups, uint32_t n_replicas)
{
    if (n_groups > s->groups_cap) {
        s->groups_cap = n_groups;
        s->specs = mx_realloc_array(s->specs, n_groups, sizeof(*s->specs));
        s->w.groups = mx_realloc_array(s->w.groups, n_groups, sizeof(*s->w.groups));
        s->group_requests = mx_realloc_array(s->group_requests, n_groups, sizeof(uint64_t));
        s->keys = mx_realloc_array(s->keys, n_groups, sizeof(uint32_t));
        s->ops = mx_realloc_array(s->ops, n_groups, sizeof(int32_t));
    }
    if (n_replicas > s->replicas_cap) {
        s->replicas_cap = n_replicas;
        s->entries = mx_realloc_array(s->entries, n_replicas, sizeof(uint32_t));
    }
}

void sim__eval_place(struct sim_eval_state *s, const struct spec_placement *p)
{
    const struct sim_eval *e = s->e;
    const uint32_t n_groups = p->n_groups;
    const struct spec_group *groups = p->groups;
    uint32_t n_replicas = 0;
    for (uint32_t g = 0; g < n_groups; g++)
        n_replicas += groups[g].n_models;
    reserve(s, n_groups ? n_groups : 1, n_replicas ? n_replicas : 1);
    uint32_t *entry = s->entries;
    if (!s->key_seen)
        s->key_seen = MX_NEW_ARRAY(uint32_t, e->key_limit ? e->key_limit : 1);
    s->key_epoch++;
    for (uint32_t g = 0; g < n_groups; g++) {
        const struct spec_group *pg = &groups[g];
        const uint32_t key = pg->first_device;
        if (key >= e->key_limit || s->key_seen[key] == s->key_epoch)
            MX_BUG("group key (first device) %u is repeated or not below %u", key, e->key_limit);
        s->key_seen[key] = s->key_epoch;
        for (uint32_t j = 0; j < pg->n_models; j++)
            entry[j] = config_entry(e, pg->models[j], pg->op, pg->pp);
        s->specs[g] =
            (struct sim_group_spec){(int32_t)g, (uint32_t)pg->pp, pg->n_models, pg->models, entry};
        s->keys[g] = key;
        s->ops[g] = pg->op;
        entry += pg->n_models;
    }
    struct sim_world *w = &s->w;
    struct sim_segment *seg = &w->segments[0];
    seg->first = 0;
    seg->end = w->n;
    seg->first_group = 0;
    seg->n_groups = n_groups;
    w->n_groups = n_groups;
    w->max_stages = 0;
    uint32_t n_stages = 0;
    sim__world_segment(w, 0, s->specs, n_groups, &n_stages);
    w->n_stages = n_stages;
}

void sim__eval_result(struct sim_eval_state *s, mx_ns latency_sum_ns, struct sim_eval_result *out)
{
    const struct sim_world *w = &s->w;
    uint64_t good = 0;
    for (uint32_t m = 0; m < w->n_models; m++)
        good += s->model_good[m];
    *out = (struct sim_eval_result){
        .requests = w->n,
        .good = good,
        .attainment = (double)good / (double)w->n,
        .mean_latency_s = mx_ns_to_s(latency_sum_ns) / (double)w->n,
        .model_requests = s->model_requests,
        .model_good = s->model_good,
        .group_requests = s->group_requests,
        .simulated = s->simulated,
    };
}

static bool incremental_policy(const struct sim_eval *e)
{
    return !e->dispatch->needs_outstanding;
}

/* Decoder mode: a full run of the iteration-level simulator. */
static void run_llm(struct sim_eval_state *s, const struct spec_placement *p,
                    struct sim_eval_result *out)
{
    if (p->n_groups > s->groups_cap) {
        s->groups_cap = p->n_groups;
        free(s->group_requests);
        s->group_requests = MX_NEW_ARRAY(uint64_t, s->groups_cap);
    }
    sim__eval_llm_run(s->e->llm, p, s->model_requests, s->model_good, s->group_requests, out);
    s->simulated = out->simulated;
}

void sim_eval_run_misses(struct sim_eval_state *s, const struct spec_placement *p,
                         const struct sim_dispatch_policy *dispatch, uint32_t *misses,
                         size_t miss_cap, struct sim_eval_result *out)
{
    if (s->e->llm)
        MX_BUG("sim_eval_run_misses on a decoder evaluator");
    sim__eval_place(s, p);
    s->simulated = s->w.n;
    s->b.valid = false; /* the baseline is another placement's now */
    struct sim_world *w = &s->w;
    memset(s->model_requests, 0, w->n_models * sizeof(uint64_t));
    memset(s->model_good, 0, w->n_models * sizeof(uint64_t));
    memset(s->group_requests, 0, s->groups_cap * sizeof(uint64_t));
    struct sim_counts counts = {
        s->model_requests, s->model_good, s->group_requests, 0, misses, misses ? miss_cap : 0, 0};
    sim__fast_count_segment(w, 0, dispatch ? dispatch : s->e->dispatch, &counts);
    sim__eval_result(s, counts.latency_sum_ns, out);
}

void sim_eval_run_ranges(struct sim_eval_state *s, const struct spec_placement *p,
                         const struct sim_dispatch_policy *dispatch, const size_t *ranges,
                         uint32_t n_ranges, uint64_t *good_out, struct sim_eval_result *out)
{
    if (s->e->llm)
        MX_BUG("sim_eval_run_ranges on a decoder evaluator");
    sim__eval_place(s, p);
    s->b.valid = false;
    struct sim_world *w = &s->w;
    struct sim_segment *seg = &w->segments[0];
    memset(s->model_requests, 0, w->n_models * sizeof(uint64_t));
    memset(s->model_good, 0, w->n_models * sizeof(uint64_t));
    memset(s->group_requests, 0, s->groups_cap * sizeof(uint64_t));
    struct sim_counts counts = {s->model_requests, s->model_good, s->group_requests, 0};
    uint64_t requests = 0, good = 0;
    for (uint32_t k = 0; k < n_ranges; k++) {
        const size_t first = ranges[2 * k], end = ranges[2 * k + 1];
        if (first > end || end > w->n)
            MX_BUG("range [%zu, %zu) of %zu requests", first, end, w->n);
        seg->first = first;
        seg->end = end;
        sim__fast_count_segment(w, 0, dispatch ? dispatch : s->e->dispatch, &counts);
        requests += end - first;
        if (good_out) {
            uint64_t sum = 0;
            for (uint32_t m = 0; m < w->n_models; m++)
                sum += s->model_good[m];
            good_out[k] = sum - good;
            good = sum;
        }
    }
    seg->first = 0;
    seg->end = w->n;
    s->simulated = requests;
    sim__eval_result(s, counts.latency_sum_ns, out);
    out->requests = requests;
    out->attainment = requests ? (double)out->good / (double)requests : 1;
    out->mean_latency_s = requests ? mx_ns_to_s(counts.latency_sum_ns) / (double)requests : 0;
}

void sim_eval_run(struct sim_eval_state *s, const struct spec_placement *p,
                  struct sim_eval_result *out)
{
    if (s->e->llm)
        run_llm(s, p, out);
    else
        sim_eval_run_misses(s, p, NULL, NULL, 0, out);
}

/* An incremental run stops paying once it re-simulates this share of the requests: then the next
 * evaluation is a full one. */
#define RERUN_LIMIT 0.3

/* Whether every key of groups that the baseline has too keeps its config there, and the baseline's
 * records can hold every group's state. */
static bool same_configs(const struct sim_eval_state *s, const struct spec_placement *p)
{
    const struct baseline *b = &s->b;
    const struct spec_group *groups = p->groups;
    for (uint32_t g = 0; g < p->n_groups; g++) {
        uint32_t k = groups[g].first_device;
        if (k >= s->e->key_limit)
            return false; /* the full run reports it */
        if (b->slot_pp[k] != 0 && (b->slot_pp[k] != groups[g].pp || b->slot_op[k] != groups[g].op))
            return false;
        if (!b->uniform && (uint32_t)groups[g].pp > b->stride)
            return false; /* deeper than the baseline's records hold */
    }
    return true;
}

/* Whether the placed world can go on from the baseline's form: a baseline in the general form takes
 * any placement; one in the uniform form, a placement in that form too. (A key whose models'
 * latency vector differs between the two hosts no model of the other's, keeping its config: every
 * request it admits in either run is then simulated again, from its last stage clock.) */
static bool same_form(const struct sim_eval_state *s)
{
    return !s->b.uniform || sim__uniform_form(&s->w.segments[0], s->e->dispatch);
}

void sim_eval_run_next(struct sim_eval_state *s, const struct spec_placement *p,
                       struct sim_eval_result *out)
{
    if (s->e->llm || !incremental_policy(s->e)) {
        sim_eval_run(s, p, out);
        return;
    }
    ensure_order(s->e);
    bool incremental =
        s->b.valid && (double)s->b.rerun <= RERUN_LIMIT * (double)s->w.n && same_configs(s, p);
    sim__eval_place(s, p);
    if (incremental && same_form(s)) {
        sim__eval_next(s);
        s->simulated = s->b.rerun;
    } else {
        sim__eval_record(s); /* a full run that starts a new baseline */
        s->simulated = s->w.n;
    }
    sim__eval_result(s, s->b.latency_sum_ns, out);
}
