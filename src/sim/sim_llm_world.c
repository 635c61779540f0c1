/* Compiling a decoder simulation: pick the plan's decoder groups, turn every cost into integer
 * nanoseconds with the cluster's stage factor (docs/decoders.md, "Cost of an iteration"), size each
 * stage's KV pool, and gather the trace's decoder requests with their SLOs in nanoseconds. */
#include "sim_llm_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_cluster.h"
#include "spec_memory.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A stage's dense cost may be at most this after the stage factor, as for encoders: sums of times
 * stay far from int64 overflow. */
#define MAX_STAGE_S 1e5

/* round(x) = floor(x + 0.5), as docs/decoders.md writes it. */
static mx_ns round_ns(double x)
{
    return (mx_ns)floor(x + 0.5);
}

static bool is_decoder(const struct spec_profile *db, const char *base)
{
    const struct spec_profile_model *m = spec_profile_find_model(db, base);
    return m && m->kind == SPEC_DECODER;
}

static bool group_is_decoder(const struct spec_plan *p, const struct spec_profile *db,
                             const struct spec_plan_group *g)
{
    return g->n_models > 0 && is_decoder(db, p->models[g->models[0]].base);
}

static void *take(struct llm_store *s, size_t bytes)
{
    void *p = s->base + s->used;
    s->used += (bytes + 15) & ~(size_t)15;
    return p;
}

size_t sim_llm__cost_bytes(uint32_t pp, uint32_t max_batch_tokens)
{
    size_t per_stage = (max_batch_tokens + 1) * sizeof(mx_ns) + 2 * sizeof(double) + sizeof(mx_ns) +
                       sizeof(int64_t);
    return pp * per_stage + 5 * 16;
}

int sim_llm__compile_cost(const struct spec_llm_settings *settings, const struct spec_config *cfg,
                          double factor, uint32_t max_batch_tokens, uint32_t model,
                          const char *base, const char *db_path, struct llm_store *st,
                          struct llm_cost *out)
{
    const struct spec_decoder_cost *d = &cfg->decoder;
    uint32_t pp = (uint32_t)cfg->pp, width = max_batch_tokens + 1;
    double scale = factor * 1e9;
    mx_ns *dense = take(st, (size_t)pp * width * sizeof(mx_ns));
    double *pair = take(st, pp * sizeof(double)), *ctx = take(st, pp * sizeof(double));
    mx_ns *fixed = take(st, pp * sizeof(mx_ns));
    int64_t *block = take(st, pp * sizeof(int64_t));
    for (uint32_t s = 0; s < pp; s++) {
        if (spec_decoder_dense_s(d, s, max_batch_tokens) * factor > MAX_STAGE_S ||
            d->iteration_s[s] * factor > MAX_STAGE_S)
            return mx_error(MX_EINPUT,
                            "profile %s: %s (%d, %d, %d): stage %u costs over %g s per iteration "
                            "after the cluster's stage factor %g",
                            db_path, base, cfg->dp, cfg->op, cfg->pp, s, MAX_STAGE_S, factor);
        dense[s * width] = 0;
        for (uint32_t t = 1; t < width; t++)
            dense[s * width + t] = round_ns(scale * spec_decoder_dense_s(d, s, t));
        pair[s] = scale * d->prefill_pair_s[s];
        ctx[s] = scale * d->decode_token_s[s];
        fixed[s] = round_ns(scale * d->iteration_s[s]);
        block[s] = (int64_t)settings->block_tokens * d->kv_bytes_per_token[s];
    }
    *out = (struct llm_cost){model, width, dense, pair, ctx, fixed, block, 0};
    uint64_t b = max_batch_tokens;
    for (uint32_t s = 0; s < pp; s++)
        out->full_batch_ns += sim_llm__stage_ns(out, s, max_batch_tokens, b * (b + 1) / 2, 0);
    return MX_OK;
}

/* The plan model of each trace model (-1: not in the plan, an error). */
static int map_models(const struct spec_plan *p, const struct wl_trace *t, const char *trace_path,
                      int32_t *plan_of)
{
    for (uint32_t m = 0; m < t->n_models; m++)
        if ((plan_of[m] = spec_plan_find_model(p, t->model_names[m])) < 0)
            return mx_error(MX_EINPUT,
                            "%s: model \"%s\" of the trace is not among the models of %s",
                            trace_path, t->model_names[m], p->path);
    return MX_OK;
}

static mx_ns slo_ns(double s)
{
    return isinf(s) ? MX_NS_NEVER : mx_s_to_ns(s);
}

/* Chain each request to the next of its model. */
static void link_models(struct sim_llm *w)
{
    uint32_t *next = MX_NEW_ARRAY(uint32_t, w->n_models ? w->n_models : 1);
    w->next_same_model = MX_NEW_ARRAY(uint32_t, w->n ? w->n : 1);
    for (uint32_t m = 0; m < w->n_models; m++)
        next[m] = (uint32_t)w->n;
    for (size_t i = w->n; i-- > 0;) {
        w->next_same_model[i] = next[w->model[i]];
        next[w->model[i]] = (uint32_t)i;
    }
    free(next);
}

int sim_llm__gather(struct sim_llm *w, const struct spec_profile *db, const int32_t *model_of,
                    const char *const *bases, const char *const *names, const char *trace_path)
{
    const struct wl_trace *t = w->trace;
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += is_decoder(db, bases[model_of[t->model[i]]]);
    if (n > 0 && !wl_trace_has_tokens(t))
        return mx_error(MX_EINPUT,
                        "%s: has no input_tokens and output_tokens, which the requests of decoder "
                        "models need",
                        trace_path);
    w->trace_index = MX_NEW_ARRAY(size_t, n ? n : 1);
    w->model = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    w->arrival_ns = MX_NEW_ARRAY(mx_ns, n ? n : 1);
    w->input = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    w->output = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    w->ttft_slo_ns = MX_NEW_ARRAY(mx_ns, n ? n : 1);
    w->tpot_slo_ns = MX_NEW_ARRAY(mx_ns, n ? n : 1);
    w->e2e_slo_ns = MX_NEW_ARRAY(mx_ns, n ? n : 1);
    for (size_t i = 0; i < t->n; i++) {
        int32_t m = model_of[t->model[i]];
        if (!is_decoder(db, bases[m]))
            continue;
        uint32_t context = spec_profile_find_model(db, bases[m])->decoder.context_tokens;
        if ((uint64_t)t->input_tokens[i] + (uint64_t)t->output_tokens[i] > context)
            return mx_error(MX_EINPUT,
                            "%s: /input_tokens[%zu]: %d input and %d output tokens exceed the "
                            "context of %u tokens of model \"%s\" (base \"%s\")",
                            trace_path, i, t->input_tokens[i], t->output_tokens[i], context,
                            names[m], bases[m]);
        size_t k = w->n++;
        w->trace_index[k] = i;
        w->model[k] = (uint32_t)m;
        w->arrival_ns[k] = mx_s_to_ns(t->arrival_s[i]);
        w->input[k] = (uint32_t)t->input_tokens[i];
        w->output[k] = (uint32_t)t->output_tokens[i];
        w->ttft_slo_ns[k] = slo_ns(t->ttft_slo_s[i]);
        w->tpot_slo_ns[k] = slo_ns(t->tpot_slo_s[i]);
        w->e2e_slo_ns[k] = slo_ns(t->slo_s[i]);
    }
    link_models(w);
    return MX_OK;
}

void sim_llm__release_requests(struct sim_llm *w)
{
    free(w->trace_index);
    free(w->model);
    free(w->arrival_ns);
    free(w->input);
    free(w->output);
    free(w->ttft_slo_ns);
    free(w->tpot_slo_ns);
    free(w->e2e_slo_ns);
    free(w->next_same_model);
}

/* sim_llm__gather over the plan's models. */
static int gather_requests(struct sim_llm *w, const struct spec_plan *p,
                           const struct spec_profile *db, const int32_t *plan_of,
                           const char *trace_path)
{
    const char **bases = MX_NEW_ARRAY(const char *, p->n_models ? p->n_models : 1);
    const char **names = MX_NEW_ARRAY(const char *, p->n_models ? p->n_models : 1);
    for (uint32_t m = 0; m < p->n_models; m++) {
        bases[m] = p->models[m].base;
        names[m] = p->models[m].name;
    }
    int rc = sim_llm__gather(w, db, plan_of, bases, names, trace_path);
    free(bases);
    free(names);
    return rc;
}

void sim_llm__index_replicas(struct sim_llm *w)
{
    w->rep_begin = MX_NEW_ARRAY(uint32_t, (size_t)w->n_models + 1);
    for (uint32_t c = 0; c < w->n_costs; c++)
        w->rep_begin[w->costs[c].model + 1]++;
    for (uint32_t m = 0; m < w->n_models; m++)
        w->rep_begin[m + 1] += w->rep_begin[m];
    w->replicas = MX_NEW_ARRAY(struct llm_replica, w->n_costs ? w->n_costs : 1);
    uint32_t *fill = MX_NEW_ARRAY(uint32_t, w->n_models ? w->n_models : 1);
    for (uint32_t g = 0; g < w->n_groups; g++)
        for (uint32_t j = 0; j < w->groups[g].n_models; j++) {
            uint32_t m = w->groups[g].costs[j].model;
            w->replicas[w->rep_begin[m] + fill[m]++] = (struct llm_replica){g, j};
        }
    free(fill);
}

/* The decoder groups with their pools and costs. */
static int compile_groups(struct sim_llm *w, const struct spec_cluster *c,
                          const struct spec_profile *db, const char *db_path,
                          const struct spec_plan *p)
{
    const struct spec_plan_segment *seg = &p->segments[0];
    size_t bytes = 0;
    for (uint32_t g = 0; g < seg->n_groups; g++) {
        const struct spec_plan_group *pg = &seg->groups[g];
        if (!group_is_decoder(p, db, pg))
            continue;
        w->n_groups++;
        w->n_costs += pg->n_models;
        bytes +=
            pg->n_models * sim_llm__cost_bytes((uint32_t)pg->pp, pg->scheduler.max_batch_tokens) +
            (size_t)pg->pp * sizeof(int64_t) + 16;
    }
    w->groups = MX_NEW_ARRAY(struct llm_group, w->n_groups ? w->n_groups : 1);
    w->costs = MX_NEW_ARRAY(struct llm_cost, w->n_costs ? w->n_costs : 1);
    w->store = mx_malloc_array(bytes ? bytes : 1, 1);
    struct llm_store st = {w->store, 0};
    const struct spec_overheads *o = &c->overheads;
    uint32_t k = 0, next_cost = 0;
    for (uint32_t g = 0; g < seg->n_groups; g++) {
        const struct spec_plan_group *pg = &seg->groups[g];
        if (!group_is_decoder(p, db, pg))
            continue;
        struct llm_group *lg = &w->groups[k++];
        const struct spec_config **cfgs = MX_NEW_ARRAY(const struct spec_config *, pg->n_models);
        int64_t *pool = take(&st, (size_t)pg->pp * sizeof(int64_t));
        *lg = (struct llm_group){g,
                                 pg->id,
                                 (uint32_t)pg->pp,
                                 pg->n_models,
                                 w->costs + next_cost,
                                 pool,
                                 pg->scheduler.max_batch_tokens,
                                 pg->scheduler.max_seqs,
                                 pg->scheduler.policy};
        double factor = o->stage_factor * (1 + o->stage_factor_per_pp * pg->pp);
        int rc = MX_OK;
        for (uint32_t j = 0; j < pg->n_models && rc == MX_OK; j++) {
            const char *base = p->models[pg->models[j]].base;
            cfgs[j] = spec_profile_find(db, base, pg->dp, pg->op, pg->pp);
            rc = sim_llm__compile_cost(&w->settings, cfgs[j], factor, lg->max_batch_tokens,
                                       pg->models[j], base, db_path, &st, &w->costs[next_cost++]);
        }
        for (int32_t s = 0; s < pg->pp && rc == MX_OK; s++)
            pool[s] = spec_decoder_pool_bytes(cfgs, pg->n_models, s, c->mem_budget_bytes,
                                              pg->scheduler.max_batch_tokens);
        free(cfgs);
        if (rc < 0)
            return rc;
    }
    return MX_OK;
}

void sim_llm__setup(struct sim_llm *w, const struct spec_cluster *cluster,
                    const struct wl_trace *trace, uint32_t n_models)
{
    const struct spec_overheads *o = &cluster->overheads;
    w->trace = trace;
    w->settings = cluster->decoder;
    w->client_ns = mx_s_to_ns(o->term[SPEC_OH_CLIENT].mean_s);
    w->dispatch_ns = mx_s_to_ns(o->term[SPEC_OH_DISPATCH].mean_s);
    w->exec_ns = mx_s_to_ns(o->term[SPEC_OH_EXEC].mean_s);
    w->fixed_ns = mx_s_to_ns(o->term[SPEC_OH_FIXED].mean_s);
    w->reply_ns = mx_s_to_ns(o->term[SPEC_OH_REPLY].mean_s);
    w->n_models = n_models;
}

int sim_llm_new(const struct spec_cluster *cluster, const char *cluster_path,
                const struct spec_profile *db, const char *db_path, const struct spec_plan *plan,
                const struct wl_trace *trace, struct sim_llm **out)
{
    const char *trace_path = trace->path ? trace->path : "trace";
    int rc = spec_plan_validate(plan, cluster, cluster_path, db, db_path);
    if (rc < 0)
        return rc;
    for (uint32_t s = 1; s < plan->n_segments; s++)
        for (uint32_t g = 0; g < plan->segments[s].n_groups; g++)
            if (group_is_decoder(plan, db, &plan->segments[s].groups[g]))
                return mx_error(MX_EINPUT,
                                "%s: a schedule of placements hosts decoders; decoder groups are "
                                "simulated in static plans only",
                                plan->path);
    if (cluster->decoder.block_tokens < 1)
        MX_BUG("a cluster without decoder settings (spec_cluster_defaults)");
    struct sim_llm *w = MX_NEW(struct sim_llm);
    sim_llm__setup(w, cluster, trace, plan->n_models);
    int32_t *plan_of = MX_NEW_ARRAY(int32_t, trace->n_models ? trace->n_models : 1);
    if ((rc = map_models(plan, trace, trace_path, plan_of)) == MX_OK &&
        (rc = gather_requests(w, plan, db, plan_of, trace_path)) == MX_OK &&
        (rc = compile_groups(w, cluster, db, db_path, plan)) == MX_OK)
        sim_llm__index_replicas(w);
    free(plan_of);
    if (rc < 0) {
        sim_llm_free(w);
        return rc;
    }
    *out = w;
    return MX_OK;
}

void sim_llm_free(struct sim_llm *w)
{
    if (!w)
        return;
    free(w->groups);
    free(w->costs);
    free(w->rep_begin);
    free(w->replicas);
    sim_llm__release_requests(w);
    free(w->store);
    free(w);
}

size_t sim_llm_requests(const struct sim_llm *w)
{
    return w->n;
}

size_t sim_llm_request(const struct sim_llm *w, size_t i)
{
    return w->trace_index[i];
}

uint32_t sim_llm_group_count(const struct sim_llm *w)
{
    return w->n_groups;
}

uint32_t sim_llm_group_plan_index(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].plan_index;
}

int32_t sim_llm_group_id(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].id;
}

const struct wl_trace *sim_llm_trace(const struct sim_llm *w)
{
    return w->trace;
}

uint32_t sim_llm_request_model(const struct sim_llm *w, size_t i)
{
    return (uint32_t)w->trace->model[w->trace_index[i]];
}

uint32_t sim_llm_block_tokens(const struct sim_llm *w)
{
    return w->settings.block_tokens;
}

uint32_t sim_llm_group_stages(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].pp;
}

uint32_t sim_llm_group_model_count(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].n_models;
}

uint32_t sim_llm_group_model(const struct sim_llm *w, uint32_t g, uint32_t slot)
{
    return w->groups[g].costs[slot].model;
}

uint32_t sim_llm_group_max_batch_tokens(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].max_batch_tokens;
}

uint32_t sim_llm_group_max_seqs(const struct sim_llm *w, uint32_t g)
{
    return w->groups[g].max_seqs;
}

int64_t sim_llm_group_pool_bytes(const struct sim_llm *w, uint32_t g, uint32_t s)
{
    return w->groups[g].pool_bytes[s];
}

int64_t sim_llm_block_bytes(const struct sim_llm *w, uint32_t g, uint32_t slot, uint32_t s)
{
    return w->groups[g].costs[slot].block_bytes[s];
}

mx_ns sim_llm_stage_ns(const struct sim_llm *w, uint32_t g, uint32_t slot, uint32_t s,
                       uint32_t tokens, uint64_t pairs, uint64_t context)
{
    return sim_llm__stage_ns(&w->groups[g].costs[slot], s, tokens, pairs, context);
}

mx_ns sim_llm_request_arrival_ns(const struct sim_llm *w, size_t i)
{
    return w->arrival_ns[i];
}

uint32_t sim_llm_request_plan_model(const struct sim_llm *w, size_t i)
{
    return w->model[i];
}

uint32_t sim_llm_request_input(const struct sim_llm *w, size_t i)
{
    return w->input[i];
}

uint32_t sim_llm_request_output(const struct sim_llm *w, size_t i)
{
    return w->output[i];
}

struct sim_llm_overheads sim_llm_overheads(const struct sim_llm *w)
{
    return (struct sim_llm_overheads){w->client_ns, w->dispatch_ns, w->exec_ns, w->reply_ns};
}

struct wl_trace *sim_encoder_requests(const struct spec_plan *plan, const struct spec_profile *db,
                                      const struct wl_trace *trace)
{
    int32_t *map = MX_NEW_ARRAY(int32_t, trace->n_models ? trace->n_models : 1);
    const char **names = MX_NEW_ARRAY(const char *, trace->n_models ? trace->n_models : 1);
    uint32_t kept = 0;
    for (uint32_t m = 0; m < trace->n_models; m++) {
        int32_t pm = spec_plan_find_model(plan, trace->model_names[m]);
        map[m] = -1;
        if (pm >= 0 && is_decoder(db, plan->models[pm].base))
            continue;
        names[kept] = trace->model_names[m];
        map[m] = (int32_t)kept++;
    }
    struct wl_trace *out = NULL;
    if (kept > 0) {
        out = wl_trace_select(trace, -INFINITY, INFINITY, map, kept, names);
        if (out->n == 0) {
            wl_trace_free(out);
            out = NULL;
        }
    }
    free(map);
    free(names);
    return out;
}
