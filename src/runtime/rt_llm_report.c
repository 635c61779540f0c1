/* The decoder runtime's own figures: the warm-up calibration, measured iterations per stage
 * against the world's costs, KV use, and the report's JSON. */
#include "rt_llm_int.h"

#include "mx_alloc.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "spec_plan.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The trace's index of plan model pm (its name), or -1. */
static int32_t trace_model(const struct llm_run *r, uint32_t pm)
{
    const struct wl_trace *t = sim_llm_trace(r->w);
    for (uint32_t m = 0; m < t->n_models; m++)
        if (strcmp(t->model_names[m], r->plan->models[pm].name) == 0)
            return (int32_t)m;
    return -1;
}

void rt_llm__report_calibration(struct llm_run *r)
{
    const struct wl_trace *t = sim_llm_trace(r->w);
    struct rt_llm_report *rep = r->report;
    uint64_t *requests = MX_NEW_ARRAY(uint64_t, t->n_models ? t->n_models : 1);
    for (size_t i = 0; i < t->n; i++)
        requests[t->model[i]]++;
    size_t most = 1;
    for (uint32_t i = 0; i < r->n_workers; i++)
        most += r->workers[i].group->n_models;
    rep->warm = MX_NEW_ARRAY(struct rt_warm_report, most);
    double weighted = 0, weights = 0;
    for (uint32_t i = 0; i < r->n_workers; i++) {
        const struct llm_worker *wk = &r->workers[i];
        for (uint32_t j = 0; wk->rank == 0 && j < wk->group->n_models; j++) {
            int32_t m = trace_model(r, sim_llm_group_model(r->w, wk->g, j));
            double profiled = wk->models[j].profiled_s;
            if (m < 0 || !wk->warm_runs[j] || !isfinite(profiled) || profiled <= 0)
                continue;
            double *v = wk->warm_s + (size_t)j * RT_WARM_SAMPLES;
            size_t runs = wk->warm_runs[j] < RT_WARM_SAMPLES ? wk->warm_runs[j] : RT_WARM_SAMPLES;
            mx_sort_f64(v, runs);
            struct rt_warm_report *e = &rep->warm[rep->n_warm++];
            *e = (struct rt_warm_report){wk->g, wk->unit->stage, (uint32_t)m,
                                         mx_quantile_sorted(v, runs, 0.5), profiled};
            weighted += (double)requests[m] * e->median_s / profiled;
            weights += (double)requests[m];
        }
    }
    rep->calibration = weights > 0 ? weighted / weights : NAN;
    free(requests);
}

/* The rank-0 worker of stage k of group g. */
static const struct llm_worker *leader(const struct llm_run *r, uint32_t g, uint32_t k)
{
    for (uint32_t i = 0; i < r->n_workers; i++)
        if (r->workers[i].g == g && r->workers[i].unit->stage == k && r->workers[i].rank == 0)
            return &r->workers[i];
    return NULL;
}

void rt_llm__report_measurements(struct llm_run *r)
{
    struct rt_llm_report *rep = r->report;
    double measured = 0, predicted = 0;
    for (uint32_t g = 0; g < r->n_groups; g++)
        rep->n_stages += r->groups[g].pp;
    rep->stages = MX_NEW_ARRAY(struct rt_llm_stage_report, rep->n_stages ? rep->n_stages : 1);
    size_t at = 0;
    for (uint32_t g = 0; g < r->n_groups; g++)
        for (uint32_t k = 0; k < r->groups[g].pp; k++) {
            const struct llm_unit *u = &r->groups[g].units[k];
            struct rt_llm_stage_report *s = &rep->stages[at++];
            double *v = mx_malloc_array(u->n_runs ? u->n_runs : 1, sizeof(double));
            double sum_predicted = 0;
            for (size_t i = 0; i < u->n_runs; i++) {
                v[i] = mx_ns_to_s(u->run_ns[i]);
                sum_predicted += mx_ns_to_s(u->predicted_ns[i]);
                measured += (double)u->run_ns[i];
                predicted += (double)u->predicted_ns[i];
            }
            mx_sort_f64(v, u->n_runs);
            const struct llm_worker *wk = leader(r, g, k);
            *s = (struct rt_llm_stage_report){
                .group = g,
                .stage = k,
                .iterations = u->n_runs,
                .mean_s = u->n_runs ? mx_mean(v, u->n_runs) : NAN,
                .p50_s = mx_quantile_sorted(v, u->n_runs, 0.5),
                .p99_s = mx_quantile_sorted(v, u->n_runs, 0.99),
                .max_s = u->n_runs ? v[u->n_runs - 1] : NAN,
                .predicted_mean_s = u->n_runs ? sum_predicted / (double)u->n_runs : NAN,
                .kv_pool_bytes = sim_llm_group_pool_bytes(r->w, g, k),
                .kv_peak_bytes = wk ? wk->kv_peak_bytes : 0,
            };
            free(v);
        }
    rep->realized = predicted > 0 ? measured / predicted : NAN;
}

void rt_llm_report_release(struct rt_llm_report *r)
{
    sim_llm_results_free(r->results);
    free(r->stages);
    free(r->warm);
    free(r->token_start);
    free(r->tokens);
    *r = (struct rt_llm_report){0};
}

json_t *rt_llm_report_json(const struct sim_llm *w, const struct rt_llm_report *r)
{
    const struct wl_trace *t = sim_llm_trace(w);
    json_t *o = json_object();
    mx_json_set(o, "backend", json_string(r->backend));
    mx_json_set(o, "released", json_integer((json_int_t)r->released));
    mx_json_set(o, "interrupted", json_boolean(r->interrupted));
    mx_json_set(o, "realtime_controller", json_boolean(r->realtime));
    mx_json_set(o, "wall_s", mx_json_real_or_null(r->wall_s));
    mx_json_set(o, "calibration", mx_json_real_or_null(r->calibration));
    mx_json_set(o, "realized", mx_json_real_or_null(r->realized));
    uint64_t generated = 0;
    for (size_t i = 0; r->results && i < r->results->n; i++)
        generated += r->results->generated[i];
    mx_json_set(o, "tokens_generated", json_integer((json_int_t)generated));
    json_t *warm = json_array();
    for (size_t k = 0; k < r->n_warm; k++) {
        const struct rt_warm_report *e = &r->warm[k];
        json_t *j = json_object();
        mx_json_set(j, "group", json_integer(sim_llm_group_id(w, e->group)));
        mx_json_set(j, "stage", json_integer(e->stage));
        mx_json_set(j, "model", json_string(t->model_names[e->model]));
        mx_json_set(j, "median_s", mx_json_real_or_null(e->median_s));
        mx_json_set(j, "profiled_s", mx_json_real_or_null(e->profiled_s));
        mx_json_append(warm, j);
    }
    mx_json_set(o, "warm_up", warm);
    json_t *stages = json_array();
    for (size_t k = 0; k < r->n_stages; k++) {
        const struct rt_llm_stage_report *s = &r->stages[k];
        json_t *e = json_object();
        mx_json_set(e, "group", json_integer(sim_llm_group_id(w, s->group)));
        mx_json_set(e, "stage", json_integer(s->stage));
        mx_json_set(e, "iterations", json_integer((json_int_t)s->iterations));
        mx_json_set(e, "mean_s", mx_json_real_or_null(s->mean_s));
        mx_json_set(e, "p50_s", mx_json_real_or_null(s->p50_s));
        mx_json_set(e, "p99_s", mx_json_real_or_null(s->p99_s));
        mx_json_set(e, "max_s", mx_json_real_or_null(s->max_s));
        mx_json_set(e, "predicted_mean_s", mx_json_real_or_null(s->predicted_mean_s));
        mx_json_set(e, "kv_pool_bytes", json_integer((json_int_t)s->kv_pool_bytes));
        mx_json_set(e, "kv_peak_bytes", json_integer((json_int_t)s->kv_peak_bytes));
        mx_json_append(stages, e);
    }
    mx_json_set(o, "stages", stages);
    return o;
}
