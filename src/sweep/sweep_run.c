/* Running sweep cases: the shared inputs, then per case the cluster, SLOs and workloads of its
 * parameters, and per policy a plan on the training workload scored on the test workload. */
#include "sweep.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_time.h"
#include "planner.h"
#include "sim_dispatch.h"
#include "spec_cluster.h"
#include "spec_models.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sweep_context {
    const struct sweep_spec *spec; /* borrowed */
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_model_set *set;    /* resolved */
    struct wl_trace *train, *test; /* trace workloads, mapped onto set; test may be train */
};

/* A case's device count must be one its cluster may have (at most a node, or whole nodes); 0 is
 * the cluster's own. arg: the context, whose cluster is read. */
static const char *devices_problem(double devices, const void *arg, char *buf, size_t size)
{
    const struct sweep_context *ctx = arg;
    uint32_t n = (uint32_t)devices, per_node = ctx->cluster.devices_per_node;
    if (n == 0 || n <= per_node || n % per_node == 0)
        return NULL;
    snprintf(buf, size, "%u devices do not fill whole nodes of %u (cluster %s)", n, per_node,
             ctx->spec->cluster_path);
    return buf;
}

int sweep_context_open(const struct sweep_spec *s, struct sweep_context **out)
{
    struct sweep_context *ctx = MX_NEW(struct sweep_context);
    ctx->spec = s;
    int rc;
    if ((rc = spec_cluster_read(s->cluster_path, &ctx->cluster)) < 0 ||
        (rc = sweep_spec_check(s, SWEEP_DEVICES, devices_problem, ctx)) < 0 ||
        (rc = spec_profile_load(s->profile_path, &ctx->db)) < 0 ||
        (rc = spec_models_read(s->models_path, &ctx->set)) < 0 ||
        (rc = spec_models_resolve(ctx->set, ctx->db, s->profile_path)) < 0)
        goto done;
    if (!s->generated) {
        if ((rc = wl_trace_read_for_models(ctx->set, s->train_path, &ctx->train)) < 0)
            goto done;
        ctx->test = ctx->train;
        if (strcmp(s->test_path, s->train_path) != 0 &&
            (rc = wl_trace_read_for_models(ctx->set, s->test_path, &ctx->test)) < 0)
            goto done;
    }
done:
    if (rc < 0) {
        sweep_context_free(ctx);
        return rc;
    }
    *out = ctx;
    return MX_OK;
}

void sweep_context_free(struct sweep_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->test != ctx->train)
        wl_trace_free(ctx->test);
    wl_trace_free(ctx->train);
    spec_models_free(ctx->set);
    spec_profile_free(ctx->db);
    free(ctx);
}

/* What one case works on: its own copies where its parameters change them. */
struct case_inputs {
    struct spec_cluster cluster;
    struct spec_model_set set; /* a shallow copy with its own models array (SLOs scaled) */
    struct wl_trace *train, *test;
    bool own_traces;
};

static int generate(const struct sweep_spec *s, const struct spec_model_set *set,
                    const double *params, uint64_t seed, struct wl_trace **out)
{
    struct wl_gen_spec g = {.process = WL_PROCESS_GAMMA,
                            .rate_dist = WL_RATES_EQUAL,
                            .total_rate = s->total_rate * params[SWEEP_RATE_SCALE],
                            .cv = s->cv * params[SWEEP_CV_SCALE],
                            .duration_s = s->duration_s,
                            .seed = seed,
                            .threads = 1};
    g.rate_dist = s->rate_dist;
    g.alpha = s->alpha;
    /* The spec's cv applies to every model: the model set's own cv is ignored here. */
    struct spec_model_set plain = *set;
    plain.models = mx_malloc_array(set->n, sizeof(struct spec_model));
    for (uint32_t m = 0; m < set->n; m++) {
        plain.models[m] = set->models[m];
        plain.models[m].cv = -1;
    }
    int rc = wl_gen(&plain, &g, out);
    free(plain.models);
    return rc;
}

/* A copy of a trace workload with this case's scales. */
static int trace_for_case(const struct sweep_spec *s, const struct wl_trace *t,
                          const double *params, uint64_t seed, struct wl_trace **out)
{
    if (params[SWEEP_RATE_SCALE] != 1 || params[SWEEP_CV_SCALE] != 1)
        return wl_trace_refit(t, s->refit_window_s, params[SWEEP_RATE_SCALE],
                              params[SWEEP_CV_SCALE], seed, out);
    const char **names = MX_NEW_ARRAY(const char *, t->n_models);
    int32_t *identity = MX_NEW_ARRAY(int32_t, t->n_models);
    for (uint32_t m = 0; m < t->n_models; m++) {
        names[m] = t->model_names[m];
        identity[m] = (int32_t)m;
    }
    *out = wl_trace_select(t, -INFINITY, INFINITY, identity, t->n_models, names);
    free(identity);
    free(names);
    return MX_OK;
}

static int case_inputs_make(const struct sweep_context *ctx, const double *params,
                            struct case_inputs *in)
{
    const struct sweep_spec *s = ctx->spec;
    int rc;
    memset(in, 0, sizeof(*in));
    in->cluster = ctx->cluster;
    if (params[SWEEP_DEVICES] > 0)
        in->cluster.devices = (uint32_t)params[SWEEP_DEVICES];
    in->set = *ctx->set;
    in->set.models = mx_malloc_array(ctx->set->n, sizeof(struct spec_model));
    for (uint32_t m = 0; m < ctx->set->n; m++) {
        in->set.models[m] = ctx->set->models[m];
        spec_model_scale_slos(&in->set.models[m], params[SWEEP_SLO_SCALE]);
    }
    in->own_traces = true;
    if (s->generated) {
        if ((rc = generate(s, &in->set, params, s->seed, &in->train)) < 0 ||
            (rc = generate(s, &in->set, params, s->seed + 1, &in->test)) < 0)
            return rc;
        return MX_OK; /* generated with the scaled SLOs already */
    }
    if ((rc = trace_for_case(s, ctx->train, params, s->seed, &in->train)) < 0 ||
        (rc = trace_for_case(s, ctx->test, params, s->seed + 1, &in->test)) < 0)
        return rc;
    wl_trace_scale_slos(in->train, params[SWEEP_SLO_SCALE]);
    wl_trace_scale_slos(in->test, params[SWEEP_SLO_SCALE]);
    return MX_OK;
}

static void case_inputs_release(struct case_inputs *in)
{
    wl_trace_free(in->train);
    wl_trace_free(in->test);
    free(in->set.models);
}

int sweep_run_case(const struct sweep_context *ctx, uint32_t c, unsigned threads,
                   const char *out_dir, struct sweep_row *rows)
{
    const struct sweep_spec *s = ctx->spec;
    struct case_inputs in;
    double params[SWEEP_PARAMS];
    sweep_case_params(s, c, params);
    int rc = case_inputs_make(ctx, params, &in);
    for (uint32_t p = 0; rc == MX_OK && p < s->n_policies; p++) {
        struct plan_params pa = plan_params_default();
        const struct plan_policy *policy = plan_policy_find(s->policies[p], &pa);
        struct plan_problem pb = {.cluster = &in.cluster,
                                  .cluster_path = s->cluster_path,
                                  .db = ctx->db,
                                  .db_path = s->profile_path,
                                  .models = &in.set,
                                  .train = in.train,
                                  .dispatch = plan_default_dispatch,
                                  .threads = threads,
                                  .seed = s->seed,
                                  .kv_margin = PLAN_DEFAULT_KV_MARGIN};
        struct spec_plan *plan = NULL;
        struct plan_outcome outcome = {0};
        struct plan_test summary = {0};
        struct sweep_row *row = &rows[p];
        *row = (struct sweep_row){.case_index = c, .policy = p};
        memcpy(row->params, params, sizeof(params));
        if (params[SWEEP_DEVICES] == 0)
            row->params[SWEEP_DEVICES] = in.cluster.devices;
        double start = mx_wall_s();
        rc = plan_solve(policy, &pb, &pa, &plan, &outcome);
        row->planning_s = mx_wall_s() - start;
        snprintf(row->plan_file, sizeof(row->plan_file), "plans/case-%u-%s.json", c,
                 s->policies[p]);
        if (rc == MX_OK) {
            char *path = mx_strfmt("%s/%s", out_dir, row->plan_file);
            json_t *where = json_object();
            mx_json_set(where, "spec", json_string(s->path));
            mx_json_set(where, "case", json_integer(c));
            for (int k = 0; k < SWEEP_PARAMS; k++)
                mx_json_set(where, sweep_param_names[k], json_real(row->params[k]));
            mx_json_set(plan->extra, "sweep", where);
            rc = spec_plan_write(plan, path);
            free(path);
        }
        if (rc == MX_OK)
            rc = plan_score(&pb, plan, in.test, 0, &summary);
        if (rc == MX_OK) {
            row->attainment = summary.attainment;
            row->predicted_attainment = outcome.attainment;
            /* Latency of good requests; for decoders, end-to-end of completed ones. */
            row->p50_s =
                summary.decoders ? summary.llm.e2e.p50_s : summary.encoders.good_latency.p50_s;
            row->p90_s =
                summary.decoders ? summary.llm.e2e.p90_s : summary.encoders.good_latency.p90_s;
            row->p99_s =
                summary.decoders ? summary.llm.e2e.p99_s : summary.encoders.good_latency.p99_s;
            row->groups = outcome.groups;
            row->replicas = outcome.replicas;
            char *describe = spec_plan_describe_groups(plan);
            snprintf(row->describe, sizeof(row->describe), "%s", describe);
            free(describe);
        }
        plan_test_release(&summary);
        spec_plan_free(plan);
    }
    case_inputs_release(&in);
    return rc;
}
