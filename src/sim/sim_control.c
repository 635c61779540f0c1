/* The simulator's controller, run online (sim_control.h). */
#include "sim_control.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_correct.h"
#include "sim_dispatch.h"
#include "sim_int.h"
#include "sim_outstanding.h"
#include "sim_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sim_control {
    const struct sim_world *w;
    const struct sim_dispatch_policy *policy;
    struct sim__corrected clocks; /* [w->n_stages] predicted, corrected by measured finishes */
    struct sim_outstanding out;   /* per group; its lists hold the refused requests */
    mx_ns *predicted;             /* [w->max_stages] the last decision's stage finishes */
    mx_ns *latency;               /* [w->max_stages] the last decision's latencies */
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
    size_t deepest = w->max_stages ? w->max_stages : 1;
    struct sim_control *c = MX_NEW(struct sim_control);
    c->w = w;
    c->policy = policy;
    sim__corrected_init(&c->clocks, w->n_stages);
    sim__outstanding_init(&c->out, w->n, w->n_groups);
    c->predicted = MX_NEW_ARRAY(mx_ns, deepest);
    c->latency = MX_NEW_ARRAY(mx_ns, deepest);
    for (uint32_t g = 0; g < w->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++)
            sim__corrected_start_at(&c->clocks, w->groups[g].stage_base + k, w->groups[g].ready_ns);
    *out = c;
    return MX_OK;
}

void sim_control_free(struct sim_control *c)
{
    if (!c)
        return;
    sim__corrected_release(&c->clocks);
    sim__outstanding_release(&c->out);
    free(c->predicted);
    free(c->latency);
    free(c);
}

void sim_control_decide(struct sim_control *c, size_t i, mx_ns decided_ns, struct sim_decision *d)
{
    const struct sim_world *w = c->w;
    const struct sim_segment *seg = &w->segments[0];
    const uint32_t m = (uint32_t)w->model[i];
    const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
    const struct sim_replica *reps = seg->replicas + begin;
    const struct sim_dispatch_query q =
        sim__query(sim__delays(w->overhead_ns), decided_ns, w->deadline_ns[i]);
    const mx_ns ready = q.ready_ns;
    const struct sim_delays delays = sim__delays(w->overhead_ns);
    const struct sim_view view = {w->groups, c->clocks.clock, c->out.count};

    *d = (struct sim_decision){.group = -1,
                               .no_replica = n == 0,
                               .ready_ns = ready,
                               .refused_ns = decided_ns,
                               .predicted_ns = c->predicted};
    for (uint32_t k = 0; k < n; k++)
        sim__outstanding_retire(&c->out, reps[k].group, decided_ns);
    int32_t chosen = n == 0 ? -1 : c->policy->choose(&view, reps, n, &q);
    if (chosen < 0)
        return;
    const struct sim_replica *rep = &reps[chosen];
    mx_ns *clock = c->clocks.clock + rep->stage_base;
    d->group = (int32_t)rep->group;
    d->n_stages = rep->n_stages;
    d->latency_ns = rep->latency_ns;
    sim__corrected_scale(&c->clocks, rep->stage_base, rep->latency_ns, rep->n_stages, c->latency);
    mx_ns last = sim__predict(clock, c->latency, rep->n_stages, ready, c->predicted);
    d->admitted = sim__admits(last, q.latest_ns);
    if (!d->admitted) {
        /* Its group refuses it when it gets there: outstanding until then. */
        d->refused_ns = sim__received_ns(delays, decided_ns);
        if (d->refused_ns > decided_ns)
            sim__outstanding_push(&c->out, SIM_OUT_REFUSED, rep->group, (uint32_t)i, d->refused_ns);
        return;
    }
    sim__corrected_admit(&c->clocks, rep->stage_base, rep->n_stages, (uint32_t)i, ready,
                         c->predicted, c->latency);
    c->out.count[rep->group]++;
}

void sim_control_stage_done(struct sim_control *c, uint32_t g, uint32_t k, size_t i,
                            mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns)
{
    const struct sim_group *grp = &c->w->groups[g];
    const uint32_t stage = grp->stage_base + k;
    sim__corrected_stage_done(&c->clocks, stage, k + 1 < grp->n_stages ? stage + 1 : UINT32_MAX,
                              (uint32_t)i, actual_ns, measured_ns, world_ns);
}

void sim_control_request_done(struct sim_control *c, uint32_t g, size_t i, bool completed)
{
    if (c->out.count[g] > 0)
        c->out.count[g]--;
    if (completed)
        return;
    /* It will not reach its remaining stages: predict them again without it. */
    const struct sim_group *grp = &c->w->groups[g];
    sim__corrected_forget(&c->clocks, grp->stage_base, grp->n_stages, (uint32_t)i);
}

mx_ns sim_control_decision_due(const struct sim_control *c, size_t i)
{
    return sim__decided_ns(sim__delays(c->w->overhead_ns), c->w->arrival_ns[i]);
}

mx_ns sim_control_ready_due(const struct sim_control *c, size_t i)
{
    const struct sim_delays d = sim__delays(c->w->overhead_ns);
    return sim__ready_ns(d, sim__received_ns(d, sim__decided_ns(d, c->w->arrival_ns[i])));
}

enum sim_status sim_control_outcome(const struct sim_control *c, size_t i, mx_ns last_stage_ns,
                                    mx_ns *finish_ns)
{
    *finish_ns = sim__finish_ns(sim__delays(c->w->overhead_ns), last_stage_ns);
    return sim__good(*finish_ns, c->w->deadline_ns[i]) ? SIM_GOOD : SIM_LATE;
}
