/* Summaries of simulation results: counts by status, attainment, latency percentiles, per-model and
 * per-group figures, and where the time of late requests went. */
#include "sim_metrics.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_stats.h"
#include "sim_int.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sorts values in place. */
static void latency_stats(double *values, size_t n, struct sim_latency_stats *out)
{
    mx_sort_f64(values, n);
    out->n = n;
    out->mean_s = mx_mean(values, n);
    out->p50_s = mx_quantile_sorted(values, n, 0.50);
    out->p90_s = mx_quantile_sorted(values, n, 0.90);
    out->p99_s = mx_quantile_sorted(values, n, 0.99);
    out->p999_s = mx_quantile_sorted(values, n, 0.999);
    out->max_s = n ? values[n - 1] : NAN;
}

/* Span of segment s: from its first arrival to its last finish (or arrival), in seconds. */
static double segment_span_s(const struct sim_world *w, const struct sim_results *r, uint32_t s)
{
    const struct sim_segment *seg = &w->segments[s];
    if (seg->first == seg->end)
        return 0;
    mx_ns begin = w->arrival_ns[seg->first], end = w->arrival_ns[seg->end - 1];
    for (size_t i = seg->first; i < seg->end; i++)
        if (r->finish_ns[i] > end)
            end = r->finish_ns[i];
    return mx_ns_to_s(end - begin);
}

static void group_figures(const struct sim_world *w, const struct sim_results *r,
                          struct sim_summary *s)
{
    s->n_groups = w->n_groups;
    s->groups = MX_NEW_ARRAY(struct sim_group_summary, w->n_groups);
    double *span = MX_NEW_ARRAY(double, w->n_segments);
    for (uint32_t seg = 0; seg < w->n_segments; seg++)
        span[seg] = segment_span_s(w, r, seg);
    for (uint32_t g = 0; g < w->n_groups; g++) {
        const struct sim_group *grp = &w->groups[g];
        s->groups[g].busy_fraction = MX_NEW_ARRAY(double, grp->n_stages);
        for (uint32_t k = 0; k < grp->n_stages; k++) {
            double busy = mx_ns_to_s(r->busy_ns[grp->stage_base + k]);
            s->groups[g].busy_fraction[k] = span[grp->segment] > 0 ? busy / span[grp->segment] : 0;
        }
    }
    free(span);
}

int sim_summarize(const struct sim_world *w, const struct sim_results *r, double warmup_s,
                  struct sim_summary *out)
{
    const struct wl_trace *t = w->trace;
    memset(out, 0, sizeof(*out));
    out->warmup_s = warmup_s;
    out->window_start_s = t->arrival_s[0] + warmup_s;
    out->window_end_s = t->arrival_s[t->n - 1] - warmup_s;
    size_t first = 0, end = t->n;
    while (first < end && t->arrival_s[first] < out->window_start_s)
        first++;
    while (end > first && t->arrival_s[end - 1] > out->window_end_s)
        end--;
    if (first == end)
        return mx_error(MX_EUSAGE,
                        "%s: a warmup of %g s at each end leaves no request of a trace spanning %g "
                        "s; lower --warmup",
                        t->path ? t->path : "trace", warmup_s,
                        t->arrival_s[t->n - 1] - t->arrival_s[0]);
    double window = out->window_end_s - out->window_start_s;

    out->n_models = t->n_models;
    out->models = MX_NEW_ARRAY(struct sim_model_summary, t->n_models);
    group_figures(w, r, out);
    double *good = mx_malloc_array(end - first, sizeof(double));
    double *accepted = mx_malloc_array(end - first, sizeof(double));
    size_t n_good = 0, n_accepted = 0;
    double late_wait = 0, late_exec = 0;
    for (size_t i = first; i < end; i++) {
        uint8_t status = r->status[i];
        struct sim_model_summary *m = &out->models[t->model[i]];
        double latency = mx_ns_to_s(r->finish_ns[i] - w->arrival_ns[i]);
        out->count[status]++;
        m->requests++;
        if (r->group[i] >= 0) {
            out->groups[r->group[i]].requests++;
            out->groups[r->group[i]].good += status == SIM_GOOD;
        }
        if (status == SIM_GOOD) {
            m->good++;
            good[n_good++] = latency;
        }
        if (status == SIM_GOOD || status == SIM_LATE)
            accepted[n_accepted++] = latency;
        if (status == SIM_LATE) {
            double exec = mx_ns_to_s(r->exec_ns[i]);
            late_exec += exec;
            late_wait += latency - exec;
        }
    }
    out->requests = end - first;
    out->rejected_total =
        out->count[SIM_REJECTED] + out->count[SIM_DROPPED] + out->count[SIM_NO_REPLICA];
    out->attainment = (double)out->count[SIM_GOOD] / (double)out->requests;
    size_t n_late = out->count[SIM_LATE];
    out->late_wait_mean_s = n_late ? late_wait / (double)n_late : NAN;
    out->late_exec_mean_s = n_late ? late_exec / (double)n_late : NAN;
    latency_stats(accepted, n_accepted, &out->accepted_latency);

    /* Per-model p99 over good requests: regroup the good latencies by model. */
    size_t *offset = MX_NEW_ARRAY(size_t, (size_t)t->n_models + 1);
    for (uint32_t m = 0; m < t->n_models; m++)
        offset[m + 1] = offset[m] + out->models[m].good;
    size_t *fill = MX_NEW_ARRAY(size_t, t->n_models);
    for (size_t i = first, k = 0; i < end; i++)
        if (r->status[i] == SIM_GOOD)
            accepted[offset[t->model[i]] + fill[t->model[i]]++] = good[k++];
    for (uint32_t m = 0; m < t->n_models; m++) {
        struct sim_model_summary *ms = &out->models[m];
        double *mine = accepted + offset[m];
        mx_sort_f64(mine, ms->good);
        ms->p99_s = mx_quantile_sorted(mine, ms->good, 0.99);
        ms->rate = window > 0 ? (double)ms->requests / window : NAN;
        ms->attainment = ms->requests ? (double)ms->good / (double)ms->requests : NAN;
    }
    latency_stats(good, n_good, &out->good_latency);
    free(fill);
    free(offset);
    free(good);
    free(accepted);
    return MX_OK;
}

void sim_summary_release(struct sim_summary *s)
{
    for (uint32_t g = 0; g < s->n_groups; g++)
        free(s->groups[g].busy_fraction);
    free(s->groups);
    free(s->models);
    memset(s, 0, sizeof(*s));
}
