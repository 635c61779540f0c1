/* The simulator's controller, run online (sim_control.h). */
#include "sim_control.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_dispatch.h"
#include "sim_int.h"

#include <math.h>
#include <stdlib.h>

#define NO_REQUEST SIZE_MAX

struct sim_control {
    const struct sim_world *w;
    const struct sim_dispatch_policy *policy;
    mx_ns *clock;          /* [w->n_stages] predicted next-free time of each stage */
    size_t *last_request;  /* [w->n_stages] the last request admitted to each stage */
    uint32_t *outstanding; /* [w->n_groups] */
    mx_ns *predicted;      /* [w->max_stages] the last decision's stage finishes */
    double *ratio;         /* [w->n_stages] learned measured / world latency of each stage */
    mx_ns *latency;        /* [w->max_stages] a decision's latencies, with the ratios */
};

int sim_control_new(const struct sim_world *w, const struct sim_dispatch_policy *policy,
                    struct sim_control **out)
{
    *out = NULL;
    if (w->n_segments != 1)
        return mx_error(MX_EUSAGE,
                        "the plan changes over time (%u placements): only a static plan can be "
                        "served",
                        w->n_segments);
    struct sim_control *c = MX_NEW(struct sim_control);
    c->w = w;
    c->policy = policy;
    c->clock = MX_NEW_ARRAY(mx_ns, w->n_stages ? w->n_stages : 1);
    c->last_request = mx_malloc_array(w->n_stages ? w->n_stages : 1, sizeof(size_t));
    c->outstanding = MX_NEW_ARRAY(uint32_t, w->n_groups ? w->n_groups : 1);
    c->predicted = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    c->latency = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    c->ratio = mx_malloc_array(w->n_stages ? w->n_stages : 1, sizeof(double));
    for (uint32_t k = 0; k < w->n_stages; k++)
        c->ratio[k] = 1.0;
    for (uint32_t g = 0; g < w->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++) {
            c->clock[w->groups[g].stage_base + k] = w->groups[g].ready_ns;
            c->last_request[w->groups[g].stage_base + k] = NO_REQUEST;
        }
    *out = c;
    return MX_OK;
}

void sim_control_free(struct sim_control *c)
{
    if (!c)
        return;
    free(c->clock);
    free(c->last_request);
    free(c->outstanding);
    free(c->predicted);
    free(c->latency);
    free(c->ratio);
    free(c);
}

void sim_control_decide(struct sim_control *c, size_t i, mx_ns decided_ns, struct sim_decision *d)
{
    const struct sim_world *w = c->w;
    const struct sim_segment *seg = &w->segments[0];
    const uint32_t m = (uint32_t)w->model[i];
    const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
    const struct sim_replica *reps = seg->replicas + begin;
    const mx_ns ready = decided_ns + w->overhead_ns[SIM_OH_DISPATCH] + w->overhead_ns[SIM_OH_EXEC];
    const struct sim_dispatch_query q = {ready, w->deadline_ns[i] - w->overhead_ns[SIM_OH_FIXED]};
    const struct sim_view view = {w->groups, c->clock, c->outstanding};

    *d = (struct sim_decision){
        .group = -1, .no_replica = n == 0, .ready_ns = ready, .predicted_ns = c->predicted};
    int32_t chosen = n == 0 ? -1 : c->policy->choose(&view, reps, n, &q);
    if (chosen < 0)
        return;
    const struct sim_replica *rep = &reps[chosen];
    mx_ns *clock = c->clock + rep->stage_base;
    d->group = (int32_t)rep->group;
    d->n_stages = rep->n_stages;
    d->latency_ns = rep->latency_ns;
    for (uint32_t k = 0; k < rep->n_stages; k++) {
        mx_ns scaled = llround((double)rep->latency_ns[k] * c->ratio[rep->stage_base + k]);
        c->latency[k] = scaled > 0 ? scaled : 1;
    }
    mx_ns last = sim__predict(clock, c->latency, rep->n_stages, ready, c->predicted);
    d->admitted = last <= q.latest_ns;
    if (!d->admitted)
        return;
    for (uint32_t k = 0; k < rep->n_stages; k++) {
        clock[k] = c->predicted[k];
        c->last_request[rep->stage_base + k] = i;
    }
    c->outstanding[rep->group]++;
}

void sim_control_stage_done(struct sim_control *c, uint32_t g, uint32_t k, size_t i,
                            mx_ns predicted_ns, mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns)
{
    const uint32_t stage = c->w->groups[g].stage_base + k;
    if (world_ns > 0)
        c->ratio[stage] +=
            SIM_CONTROL_SMOOTHING * ((double)measured_ns / (double)world_ns - c->ratio[stage]);
    if (c->last_request[stage] == i) {
        c->clock[stage] = actual_ns;
        c->last_request[stage] = NO_REQUEST;
    } else if (actual_ns > predicted_ns) {
        c->clock[stage] += actual_ns - predicted_ns;
    }
}

void sim_control_request_done(struct sim_control *c, uint32_t g)
{
    if (c->outstanding[g] > 0)
        c->outstanding[g]--;
}

const mx_ns *sim_control_overheads(const struct sim_control *c)
{
    return c->w->overhead_ns;
}
