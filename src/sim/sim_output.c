/* Summary rendering (JSON and text) and the per-request HDF5 results file. */
#include "sim_output.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "mx_json.h"
#include "sim_int.h"
#include "sim_llm_output.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *latency_json(const struct sim_latency_stats *l)
{
    json_t *o = json_object();
    mx_json_set(o, "n", json_integer((json_int_t)l->n));
    mx_json_set(o, "mean", mx_json_real_or_null(l->mean_s));
    mx_json_set(o, "p50", mx_json_real_or_null(l->p50_s));
    mx_json_set(o, "p90", mx_json_real_or_null(l->p90_s));
    mx_json_set(o, "p99", mx_json_real_or_null(l->p99_s));
    mx_json_set(o, "p99.9", mx_json_real_or_null(l->p999_s));
    mx_json_set(o, "max", mx_json_real_or_null(l->max_s));
    return o;
}

json_t *sim_summary_json(const struct sim_world *w, const struct sim_summary *s,
                         const struct sim_run_info *info)
{
    json_t *o = json_object();
    mx_json_set(o, "format", json_string("muxplan-summary/1"));
    mx_json_set(o, "attainment", json_real(s->attainment));
    mx_json_set(o, "requests", json_integer((json_int_t)s->requests));
    for (int st = 0; st < SIM_N_STATUS; st++)
        mx_json_set(o, sim_status_names[st], json_integer((json_int_t)s->count[st]));
    mx_json_set(o, "rejected_total", json_integer((json_int_t)s->rejected_total));
    mx_json_set(o, "engine", json_string(info->engine));
    mx_json_set(o, "dispatch", json_string(info->dispatch));
    mx_json_set(o, "max_batch", json_integer(info->max_batch));
    mx_json_set(o, "warmup_s", json_real(s->warmup_s));
    mx_json_set(o, "window_s", json_pack("[ff]", s->window_start_s, s->window_end_s));
    mx_json_set(o, "latency_good_s", latency_json(&s->good_latency));
    mx_json_set(o, "latency_accepted_s", latency_json(&s->accepted_latency));
    json_t *misses = json_object();
    mx_json_set(misses, "rejected_total", json_integer((json_int_t)s->rejected_total));
    mx_json_set(misses, "late", json_integer((json_int_t)s->count[SIM_LATE]));
    mx_json_set(misses, "late_wait_mean_s", mx_json_real_or_null(s->late_wait_mean_s));
    mx_json_set(misses, "late_exec_mean_s", mx_json_real_or_null(s->late_exec_mean_s));
    mx_json_set(o, "misses", misses);
    json_t *models = json_array();
    for (uint32_t m = 0; m < s->n_models; m++) {
        const struct sim_model_summary *ms = &s->models[m];
        json_t *entry = json_object();
        mx_json_set(entry, "name", json_string(sim_world_model_name(w, m)));
        mx_json_set(entry, "requests", json_integer((json_int_t)ms->requests));
        mx_json_set(entry, "good", json_integer((json_int_t)ms->good));
        mx_json_set(entry, "rate", mx_json_real_or_null(ms->rate));
        mx_json_set(entry, "attainment", mx_json_real_or_null(ms->attainment));
        mx_json_set(entry, "p99_s", mx_json_real_or_null(ms->p99_s));
        mx_json_append(models, entry);
    }
    mx_json_set(o, "models", models);
    json_t *groups = json_array();
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct sim_group_summary *gs = &s->groups[g];
        json_t *entry = json_object();
        mx_json_set(entry, "id", json_integer(sim_world_group_id(w, g)));
        mx_json_set(entry, "segment", json_integer(sim_world_group_segment(w, g)));
        mx_json_set(entry, "requests", json_integer((json_int_t)gs->requests));
        mx_json_set(entry, "good", json_integer((json_int_t)gs->good));
        mx_json_set(entry, "busy_fraction",
                    mx_json_f64_array(gs->busy_fraction, sim_world_group_stages(w, g)));
        mx_json_append(groups, entry);
    }
    mx_json_set(o, "groups", groups);
    if (info->runtime)
        mx_json_set(o, "runtime", json_incref(info->runtime));
    if (info->provenance)
        mx_json_set(o, "provenance", json_incref(info->provenance));
    return o;
}

static void print_latency(FILE *fp, const char *label, const struct sim_latency_stats *l)
{
    if (l->n == 0) {
        fprintf(fp, "  %-22s none\n", label);
        return;
    }
    fprintf(fp, "  %-22s mean %8.1f  p50 %8.1f  p90 %8.1f  p99 %8.1f  p99.9 %8.1f  max %8.1f ms\n",
            label, l->mean_s * 1e3, l->p50_s * 1e3, l->p90_s * 1e3, l->p99_s * 1e3, l->p999_s * 1e3,
            l->max_s * 1e3);
}

void sim_summary_print(FILE *fp, const struct sim_world *w, const struct sim_summary *s,
                       const struct sim_run_info *info)
{
    fprintf(fp,
            "SLO attainment %.4f (%.2f%%) over %zu requests in [%.3f, %.3f] s "
            "(warmup %g s; %s engine, %s dispatch",
            s->attainment, 100 * s->attainment, s->requests, s->window_start_s, s->window_end_s,
            s->warmup_s, info->engine, info->dispatch);
    if (info->max_batch > 1)
        fprintf(fp, ", batches up to %u", info->max_batch);
    fprintf(fp, ")\n");
    fprintf(fp,
            "  good %zu, late %zu, rejected %zu (at admission %zu, dropped from queue %zu, "
            "no replica %zu)\n",
            s->count[SIM_GOOD], s->count[SIM_LATE], s->rejected_total, s->count[SIM_REJECTED],
            s->count[SIM_DROPPED], s->count[SIM_NO_REPLICA]);
    print_latency(fp, "latency, good", &s->good_latency);
    print_latency(fp, "latency, admitted", &s->accepted_latency);
    if (s->count[SIM_LATE])
        fprintf(fp, "  late requests: waiting %.1f ms and executing %.1f ms on average\n",
                s->late_wait_mean_s * 1e3, s->late_exec_mean_s * 1e3);

    fprintf(fp, "\n%-24s %10s %10s %11s %10s\n", "model", "requests", "rate/s", "attainment",
            "p99 ms");
    for (uint32_t m = 0; m < s->n_models; m++) {
        const struct sim_model_summary *ms = &s->models[m];
        fprintf(fp, "%-24s %10zu %10.3f %11.4f %10.1f\n", sim_world_model_name(w, m), ms->requests,
                ms->rate, ms->attainment, ms->p99_s * 1e3);
    }
    fprintf(fp, "\n%-8s %-8s %10s %10s %11s  %s\n", "group", "segment", "requests", "good",
            "attainment", "busy fraction per stage");
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct sim_group_summary *gs = &s->groups[g];
        fprintf(fp, "%-8d %-8u %10zu %10zu %11.4f ", sim_world_group_id(w, g),
                sim_world_group_segment(w, g), gs->requests, gs->good,
                gs->requests ? (double)gs->good / (double)gs->requests : NAN);
        for (uint32_t k = 0; k < sim_world_group_stages(w, g); k++)
            fprintf(fp, " %.3f", gs->busy_fraction[k]);
        fputc('\n', fp);
    }
}

static double *ns_column_s(const mx_ns *ns, size_t n)
{
    double *s = mx_malloc_array(n, sizeof(double));
    for (size_t i = 0; i < n; i++)
        s[i] = ns[i] == MX_NS_NEVER ? NAN : mx_ns_to_s(ns[i]);
    return s;
}

static int write_groups(struct mx_h5 *h, const struct sim_world *w)
{
    uint32_t n = sim_world_group_count(w);
    int32_t *column = MX_NEW_ARRAY(int32_t, n);
    size_t dims[2] = {n, 0};
    int rc = mx_h5_group(h, "/groups");
    for (int field = 0; field < 3 && rc == MX_OK; field++) {
        static const char *const paths[3] = {"/groups/id", "/groups/segment", "/groups/stages"};
        for (uint32_t g = 0; g < n; g++)
            column[g] = field == 0   ? sim_world_group_id(w, g)
                        : field == 1 ? (int32_t)sim_world_group_segment(w, g)
                                     : (int32_t)sim_world_group_stages(w, g);
        rc = mx_h5_write(h, paths[field], MX_H5_I32, 1, dims, column);
    }
    free(column);
    return rc;
}

static int write_summary_attrs(struct mx_h5 *h, const struct sim_summary *s, json_t *summary)
{
    char names[128] = "";
    size_t len = 0;
    for (int st = 0; st < SIM_N_STATUS; st++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%d %s", st ? ", " : "", st,
                                sim_status_names[st]);
    char *text = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(17));
    int rc = mx_h5_attr_write_f64(h, "/", "attainment", s->attainment);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, "/", "requests", (int64_t)s->requests);
    for (int st = 0; st < SIM_N_STATUS && rc == MX_OK; st++)
        rc = mx_h5_attr_write_i64(h, "/", sim_status_names[st], (int64_t)s->count[st]);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_f64(h, "/", "warmup_s", s->warmup_s);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_str(h, "/", "status_names", names);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_str(h, "/", "summary", text);
    free(text);
    return rc;
}

/* The encoder part of a results file: per-request datasets at the root, groups, attributes. */
static int write_encoder(struct mx_h5 *h, const struct sim_world *w, const struct sim_results *r,
                         const struct sim_summary *s, const struct sim_run_info *info)
{
    const struct wl_trace *t = sim_world_trace(w);
    size_t n = r->n, dims[2] = {n, 0};
    double *start = ns_column_s(r->start_ns, n), *finish = ns_column_s(r->finish_ns, n);
    double *exec = ns_column_s(r->exec_ns, n);
    int32_t *batch = mx_malloc_array(n, sizeof(int32_t));
    uint8_t *good = mx_malloc_array(n, 1);
    json_t *summary = sim_summary_json(w, s, info);
    for (size_t i = 0; i < n; i++) {
        batch[i] = r->batch[i];
        good[i] = r->status[i] == SIM_GOOD;
    }
    int rc;
    if ((rc = mx_h5_write(h, "/arrival_s", MX_H5_F64, 1, dims, t->arrival_s)) == MX_OK &&
        (rc = mx_h5_write(h, "/model", MX_H5_I32, 1, dims, t->model)) == MX_OK &&
        (rc = mx_h5_write(h, "/group", MX_H5_I32, 1, dims, r->group)) == MX_OK &&
        (rc = mx_h5_write(h, "/start_s", MX_H5_F64, 1, dims, start)) == MX_OK &&
        (rc = mx_h5_write(h, "/finish_s", MX_H5_F64, 1, dims, finish)) == MX_OK &&
        (rc = mx_h5_write(h, "/exec_s", MX_H5_F64, 1, dims, exec)) == MX_OK &&
        (rc = mx_h5_write(h, "/batch", MX_H5_I32, 1, dims, batch)) == MX_OK &&
        (rc = mx_h5_write(h, "/status", MX_H5_U8, 1, dims, r->status)) == MX_OK &&
        (rc = mx_h5_write(h, "/good", MX_H5_U8, 1, dims, good)) == MX_OK &&
        (rc = mx_h5_write_strings(h, "/model_names", t->n_models,
                                  (const char *const *)t->model_names)) == MX_OK &&
        (rc = write_groups(h, w)) == MX_OK && (rc = write_summary_attrs(h, s, summary)) == MX_OK &&
        (rc = mx_h5_attr_write_str(h, "/", "engine", info->engine)) == MX_OK)
        rc = mx_h5_attr_write_str(h, "/", "dispatch", info->dispatch);
    json_decref(summary);
    free(start);
    free(finish);
    free(exec);
    free(batch);
    free(good);
    return rc;
}

int sim_outcome_write_h5(const struct sim_outcome *o, const struct sim_run_info *info,
                         const char *path)
{
    struct mx_h5 h;
    int rc = mx_h5_create(path, "results", 1, &h);
    if (rc < 0)
        return rc;
    if (o->w)
        rc = write_encoder(&h, o->w, o->r, o->s, info);
    if (rc == MX_OK && o->llm)
        rc = sim_llm_results_write(&h, o->llm, o->llm_r, o->llm_s);
    if (rc == MX_OK && info->provenance) {
        char *text = json_dumps(info->provenance, JSON_COMPACT);
        rc = mx_h5_attr_write_str(&h, "/", "provenance", text);
        free(text);
    }
    if (rc == MX_OK)
        return mx_h5_close(&h);
    mx_h5_abort(&h);
    return rc;
}

int sim_results_write_h5(const struct sim_world *w, const struct sim_results *r,
                         const struct sim_summary *s, const struct sim_run_info *info,
                         const char *path)
{
    struct sim_outcome o = {w, r, s, NULL, NULL, NULL};
    return sim_outcome_write_h5(&o, info, path);
}

json_t *sim_outcome_json(const struct sim_outcome *o, const struct sim_run_info *info)
{
    if (!o->llm)
        return sim_summary_json(o->w, o->s, info);
    json_t *j;
    size_t requests = o->llm_s->requests, good = o->llm_s->count[SIM_GOOD];
    if (o->w) {
        j = sim_summary_json(o->w, o->s, info);
        requests += o->s->requests;
        good += o->s->count[SIM_GOOD];
    } else {
        j = json_object();
        mx_json_set(j, "format", json_string("muxplan-summary/1"));
        if (info->provenance)
            mx_json_set(j, "provenance", json_incref(info->provenance));
        /* A real run's (decoders alone): what ran it, and its own figures. */
        if (info->runtime) {
            mx_json_set(j, "engine", json_string(info->engine));
            mx_json_set(j, "runtime", json_incref(info->runtime));
        }
    }
    json_t *overall = json_object();
    mx_json_set(overall, "requests", json_integer((json_int_t)requests));
    mx_json_set(overall, "good", json_integer((json_int_t)good));
    mx_json_set(overall, "attainment",
                mx_json_real_or_null(requests ? (double)good / (double)requests : NAN));
    mx_json_set(j, "overall", overall);
    mx_json_set(j, "decoder", sim_llm_summary_json(o->llm, o->llm_s));
    return j;
}

void sim_outcome_print(FILE *fp, const struct sim_outcome *o, const struct sim_run_info *info)
{
    if (o->w)
        sim_summary_print(fp, o->w, o->s, info);
    if (o->w && o->llm)
        fputc('\n', fp);
    if (o->llm)
        sim_llm_summary_print(fp, o->llm, o->llm_s);
}
