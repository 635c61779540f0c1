/* The runtime's own figures: measured stage latencies and the controller's overhead. */
#include "rt_int.h"

#include "mx_alloc.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Mean, median, p90, p99 and max of n samples in seconds (sorted in place). */
static void describe(double *v, size_t n, double *mean, double *p50, double *p90, double *p99,
                     double *max)
{
    mx_sort_f64(v, n);
    *mean = n ? mx_mean(v, n) : NAN;
    *p50 = mx_quantile_sorted(v, n, 0.5);
    *p90 = mx_quantile_sorted(v, n, 0.9);
    *p99 = mx_quantile_sorted(v, n, 0.99);
    *max = n ? v[n - 1] : NAN;
}

/* The profile's batch-1 latency of stage k of group g for trace model m (NaN: none). */
static double profiled_s(const struct rt_run *r, const struct spec_plan *plan,
                         const struct spec_profile *db, uint32_t g, uint32_t k, int32_t m)
{
    const struct spec_plan_group *pg = &plan->segments[0].groups[g];
    int32_t pm = spec_plan_find_model(plan, sim_world_trace(r->w)->model_names[m]);
    const struct spec_config *cfg =
        pm < 0 ? NULL : spec_profile_find(db, plan->models[pm].base, 1, pg->op, pg->pp);
    return cfg ? spec_config_latency(cfg, 0)[k] : NAN;
}

void rt__report_measurements(struct rt_run *r, const struct spec_plan *plan,
                             const struct spec_profile *db)
{
    struct rt_report *rep = r->report;
    const struct wl_trace *t = sim_world_trace(r->w);
    const size_t released = rep->released;
    double *v = mx_malloc_array(released ? released : 1, sizeof(double));
    double *model_profiled = mx_malloc_array(t->n_models ? t->n_models : 1, sizeof(double));
    rep->n_stages = r->n_units;
    rep->stages = MX_NEW_ARRAY(struct rt_stage_report, r->n_units);
    for (uint32_t u = 0; u < r->n_units; u++) {
        struct rt_stage_report *s = &rep->stages[u];
        s->group = r->units[u].group;
        s->stage = r->units[u].stage;
        for (uint32_t m = 0; m < t->n_models; m++)
            model_profiled[m] = profiled_s(r, plan, db, s->group, s->stage, (int32_t)m);
        size_t n = 0;
        double profiled = 0;
        for (size_t i = 0; i < released; i++) {
            mx_ns ns = r->stage_ns[i * r->max_stages + s->stage];
            if (rep->results->group[i] != (int32_t)s->group || ns <= 0)
                continue;
            v[n++] = mx_ns_to_s(ns);
            profiled += model_profiled[t->model[i]];
        }
        s->runs = n;
        describe(v, n, &s->mean_s, &s->p50_s, &s->p90_s, &s->p99_s, &s->max_s);
        s->profiled_s = n ? profiled / (double)n : NAN;
    }
    double measured = 0, world = 0;
    for (size_t i = 0; i < released * r->max_stages; i++)
        if (r->stage_ns[i] > 0 && r->world_ns[i] > 0) {
            measured += (double)r->stage_ns[i];
            world += (double)r->world_ns[i];
        }
    rep->realized = world > 0 ? measured / world : NAN;
    size_t n = 0;
    for (size_t i = 0; i < released; i++)
        if (r->overhead_ns[i] >= 0)
            v[n++] = mx_ns_to_s(r->overhead_ns[i]);
    struct rt_overhead_report *o = &rep->overhead;
    double p90;
    o->idle_runs = n;
    describe(v, n, &o->mean_s, &o->p50_s, &p90, &o->p99_s, &o->max_s);
    free(model_profiled);
    free(v);
}

/* The median of the runs leader wk timed for model m in phase p (NaN: none). Sorts the ring. */
static double phase_median(const struct rt_worker *wk, uint32_t p, uint32_t m)
{
    uint32_t runs = wk->warm_runs[(size_t)p * wk->n_specs + m];
    double *v = wk->warm_s + ((size_t)p * wk->n_specs + m) * RT_WARM_SAMPLES;
    size_t n = runs < RT_WARM_SAMPLES ? runs : RT_WARM_SAMPLES;
    mx_sort_f64(v, n);
    return n ? mx_quantile_sorted(v, n, 0.5) : NAN;
}

/* Phase p's busy devices on unit u's node. */
static uint32_t phase_busy(const struct rt_run *r, uint32_t p, uint32_t u)
{
    uint32_t busy = 0;
    for (uint32_t v = 0; v < r->n_units; v++)
        if (r->phases[p].active[v] && r->unit_node[v] == r->unit_node[u])
            busy += r->unit_busy[v];
    return busy;
}

/* The interference the calibration's phases show: in each phase of several units, each active
 * (unit, model) ran median(phase) / median(alone) = slowdown(busy) / slowdown(op) times slower
 * (spec_variability.h), averaged over them with the models' shares of the trace as weights;
 * slowdown(1) is 1, counts not measured between two that are are interpolated. */
static void measure_interference(struct rt_run *r, const uint64_t *requests)
{
    struct spec_interference *f = &r->report->interference;
    double *sum = MX_NEW_ARRAY(double, SPEC_MAX_BUSY + 1),
           *weight = MX_NEW_ARRAY(double, SPEC_MAX_BUSY + 1);
    uint32_t top = 0;
    memset(f, 0, sizeof(*f));
    /* Passes by busy count, so that slowdown(op) is known before an op-device unit needs it. */
    for (uint32_t b = 2; b <= SPEC_MAX_BUSY; b++) {
        for (uint32_t p = 1 + r->n_units; p < r->n_phases; p++)
            for (uint32_t i = 0; i < r->n_workers; i++) {
                const struct rt_worker *wk = &r->workers[i];
                uint32_t u = wk->unit->global_stage;
                if (wk->rank != 0 || !r->phases[p].active[u] || phase_busy(r, p, u) != b)
                    continue;
                for (uint32_t m = 0; m < wk->n_specs; m++) {
                    double alone = phase_median(wk, 1 + u, m), busy = phase_median(wk, p, m);
                    if (!isfinite(alone) || !isfinite(busy) || alone <= 0)
                        continue;
                    double own = spec_interference_slowdown(f, r->unit_busy[u]);
                    double w = (double)requests[m] + 1e-9;
                    sum[b] += w * busy / alone * own;
                    weight[b] += w;
                }
            }
        if (weight[b] > 0) {
            /* Fill from the last measured count up to b, linearly. */
            uint32_t from = top ? top : 1;
            double s_from = from == 1 ? 1.0 : f->busy_slowdown[from - 1], s_b = sum[b] / weight[b];
            for (uint32_t c = from + 1; c <= b; c++)
                f->busy_slowdown[c - 1] =
                    s_from + (s_b - s_from) * (double)(c - from) / (double)(b - from);
            f->busy_slowdown[0] = 1.0;
            f->n = b;
            top = b;
        }
    }
    free(sum);
    free(weight);
}

void rt__report_calibration(struct rt_run *r, const struct spec_plan *plan,
                            const struct spec_profile *db)
{
    const struct wl_trace *t = sim_world_trace(r->w);
    struct rt_report *rep = r->report;
    const bool alone_phases = r->n_phases > 1;
    const bool together_phase = r->n_phases > 1 + r->n_units;
    uint64_t *requests = MX_NEW_ARRAY(uint64_t, t->n_models);
    for (size_t i = 0; i < t->n; i++)
        requests[t->model[i]]++;
    rep->warm = MX_NEW_ARRAY(struct rt_warm_report, (size_t)r->n_workers * t->n_models + 1);
    double weighted = 0, weights = 0;
    size_t n_samples = 0;
    for (uint32_t i = 0; i < r->n_workers; i++) {
        const struct rt_worker *wk = &r->workers[i];
        uint32_t u = wk->unit->global_stage;
        for (uint32_t m = 0; wk->rank == 0 && m < wk->n_specs; m++) {
            double profiled = profiled_s(r, plan, db, wk->unit->group, wk->unit->stage, (int32_t)m);
            if (!wk->warm_runs[m] || !isfinite(profiled))
                continue;
            struct rt_warm_report *e = &rep->warm[rep->n_warm++];
            *e = (struct rt_warm_report){
                .group = wk->unit->group,
                .stage = wk->unit->stage,
                .model = m,
                .warm_up_s = phase_median(wk, 0, m),
                .alone_s = alone_phases ? phase_median(wk, 1 + u, m) : NAN,
                .together_s = together_phase ? phase_median(wk, r->n_phases - 1, m) : NAN,
                .profiled_s = profiled};
            e->median_s = isfinite(e->alone_s) ? e->alone_s : e->warm_up_s;
            weighted += (double)requests[m] * e->median_s / profiled;
            weights += (double)requests[m];
            if (alone_phases) {
                uint32_t runs = wk->warm_runs[(size_t)(1 + u) * wk->n_specs + m];
                n_samples += runs < RT_WARM_SAMPLES ? runs : RT_WARM_SAMPLES;
            }
        }
    }
    rep->calibration = weights > 0 ? weighted / weights : NAN;
    rep->stage_time = (struct spec_dist){.kind = SPEC_DIST_CONSTANT};
    if (alone_phases && n_samples > 0 && isfinite(rep->calibration)) {
        /* Every alone run over its calibrated latency, pooled. */
        double *v = mx_malloc_array(n_samples, sizeof(double));
        size_t n = 0;
        for (size_t k = 0; k < rep->n_warm; k++) {
            const struct rt_warm_report *e = &rep->warm[k];
            const struct rt_worker *wk = NULL;
            for (uint32_t i = 0; i < r->n_workers && !wk; i++)
                if (r->workers[i].rank == 0 && r->workers[i].unit->group == e->group &&
                    r->workers[i].unit->stage == e->stage)
                    wk = &r->workers[i];
            uint32_t u = wk->unit->global_stage;
            uint32_t runs = wk->warm_runs[(size_t)(1 + u) * wk->n_specs + e->model];
            const double *ring =
                wk->warm_s + ((size_t)(1 + u) * wk->n_specs + e->model) * RT_WARM_SAMPLES;
            for (uint32_t j = 0; j < runs && j < RT_WARM_SAMPLES; j++)
                v[n++] = ring[j] / (e->profiled_s * rep->calibration);
        }
        spec_dist_from_samples(v, n, RT_STAGE_TIME_QUANTILES, &rep->stage_time);
        free(v);
    }
    if (together_phase)
        measure_interference(r, requests);
    free(requests);
}

void rt_report_release(struct rt_report *r)
{
    sim_results_free(r->results);
    free(r->first_failure);
    free(r->stages);
    free(r->warm);
    free(r->decided_ns);
    free(r->stage_ns);
    free(r->world_ns);
    free(r->run_start_ns);
    free(r->run_end_ns);
    *r = (struct rt_report){0};
}

json_t *rt_report_json(const struct sim_world *w, const struct rt_report *r)
{
    json_t *o = json_object();
    mx_json_set(o, "backend", json_string(r->backend));
    mx_json_set(o, "released", json_integer((json_int_t)r->released));
    mx_json_set(o, "interrupted", json_boolean(r->interrupted));
    mx_json_set(o, "realtime_controller", json_boolean(r->realtime));
    mx_json_set(o, "controller",
                json_pack("{sosb}", "core",
                          r->controller_core >= 0 ? json_integer(r->controller_core) : json_null(),
                          "shared", r->controller_shared));
    mx_json_set(o, "failed", json_integer((json_int_t)r->failed));
    if (r->first_failure)
        mx_json_set(o, "first_failure", json_string(r->first_failure));
    mx_json_set(o, "wall_s", mx_json_real_or_null(r->wall_s));
    mx_json_set(o, "calibration", mx_json_real_or_null(r->calibration));
    mx_json_set(o, "realized", mx_json_real_or_null(r->realized));
    json_t *warm = json_array();
    for (size_t k = 0; k < r->n_warm; k++) {
        const struct rt_warm_report *e = &r->warm[k];
        json_t *j = json_object();
        mx_json_set(j, "group", json_integer(sim_world_group_id(w, e->group)));
        mx_json_set(j, "stage", json_integer(e->stage));
        mx_json_set(j, "model", json_string(sim_world_model_name(w, e->model)));
        mx_json_set(j, "median_s", mx_json_real_or_null(e->median_s));
        mx_json_set(j, "warm_up_s", mx_json_real_or_null(e->warm_up_s));
        mx_json_set(j, "alone_s", mx_json_real_or_null(e->alone_s));
        mx_json_set(j, "together_s", mx_json_real_or_null(e->together_s));
        mx_json_set(j, "profiled_s", mx_json_real_or_null(e->profiled_s));
        mx_json_append(warm, j);
    }
    mx_json_set(o, "warm_up", warm);
    if (r->interference.n > 0)
        mx_json_set(o, "interference", spec_interference_json(&r->interference));
    if (r->stage_time.kind != SPEC_DIST_CONSTANT)
        mx_json_set(o, "stage_time", spec_dist_json(&r->stage_time));
    json_t *stages = json_array();
    for (size_t k = 0; k < r->n_stages; k++) {
        const struct rt_stage_report *s = &r->stages[k];
        json_t *e = json_object();
        mx_json_set(e, "group", json_integer(sim_world_group_id(w, s->group)));
        mx_json_set(e, "stage", json_integer(s->stage));
        mx_json_set(e, "runs", json_integer((json_int_t)s->runs));
        mx_json_set(e, "mean_s", mx_json_real_or_null(s->mean_s));
        mx_json_set(e, "p50_s", mx_json_real_or_null(s->p50_s));
        mx_json_set(e, "p90_s", mx_json_real_or_null(s->p90_s));
        mx_json_set(e, "p99_s", mx_json_real_or_null(s->p99_s));
        mx_json_set(e, "max_s", mx_json_real_or_null(s->max_s));
        mx_json_set(e, "profiled_s", mx_json_real_or_null(s->profiled_s));
        mx_json_append(stages, e);
    }
    mx_json_set(o, "stages", stages);
    json_t *oh = json_object();
    mx_json_set(oh, "idle_runs", json_integer((json_int_t)r->overhead.idle_runs));
    mx_json_set(oh, "mean_s", mx_json_real_or_null(r->overhead.mean_s));
    mx_json_set(oh, "p50_s", mx_json_real_or_null(r->overhead.p50_s));
    mx_json_set(oh, "p99_s", mx_json_real_or_null(r->overhead.p99_s));
    mx_json_set(oh, "max_s", mx_json_real_or_null(r->overhead.max_s));
    mx_json_set(o, "controller_overhead", oh);
    return o;
}
