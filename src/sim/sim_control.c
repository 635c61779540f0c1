/* The simulator's controller, run online (sim_control.h). */
#include "sim_control.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_dispatch.h"
#include "sim_int.h"
#include "sim_outstanding.h"
#include "sim_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A request admitted to a stage that has not finished there, as the controller predicts it. */
struct pending {
    size_t request;
    mx_ns input_ns;   /* when it may start on the stage: its ready time, or its predicted finish
                         on the previous stage */
    mx_ns latency_ns; /* the latency it was admitted with */
};

/* A stage's pending requests, in admission (= execution) order: a growable ring. */
struct pending_queue {
    struct pending *items;
    uint32_t head, count, capacity;
};

struct sim_control {
    const struct sim_world *w;
    const struct sim_dispatch_policy *policy;
    mx_ns *clock;                  /* [w->n_stages] predicted next-free time of each stage */
    mx_ns *free_ns;                /* [w->n_stages] the last measured finish on each stage */
    struct pending_queue *pending; /* [w->n_stages] */
    struct sim_outstanding out;    /* per group; its lists hold the refused requests */
    double *ratio;                 /* [w->n_stages] learned measured / world latency */
    mx_ns *predicted;              /* [w->max_stages] the last decision's stage finishes */
    mx_ns *latency;                /* [w->max_stages] the last decision's latencies */
};

static struct pending *pending_at(const struct pending_queue *q, uint32_t j)
{
    return &q->items[(q->head + j) % q->capacity];
}

static void pending_push(struct pending_queue *q, struct pending p)
{
    if (q->count == q->capacity) {
        uint32_t capacity = q->capacity ? 2 * q->capacity : 16;
        struct pending *items = mx_malloc_array(capacity, sizeof(*items));
        for (uint32_t j = 0; j < q->count; j++)
            items[j] = *pending_at(q, j);
        free(q->items);
        *q = (struct pending_queue){items, 0, q->count, capacity};
    }
    *pending_at(q, q->count++) = p;
}

/* Where request is in q (0: the head), or q->count if absent. */
static uint32_t pending_index(const struct pending_queue *q, size_t request)
{
    uint32_t j = 0;
    while (j < q->count && pending_at(q, j)->request != request)
        j++;
    return j;
}

/* Take request out of q: the head in the usual case, anywhere after a failure. False if absent. */
static bool pending_remove(struct pending_queue *q, size_t request)
{
    uint32_t j = pending_index(q, request);
    if (j == q->count)
        return false;
    if (j == 0) {
        q->head = (q->head + 1) % q->capacity;
    } else {
        for (uint32_t later = j; later + 1 < q->count; later++)
            *pending_at(q, later) = *pending_at(q, later + 1);
    }
    q->count--;
    return true;
}

/* The stage's clock from its pending requests, the first starting no earlier than free_ns. */
static mx_ns repredict(const struct pending_queue *q, mx_ns free_ns)
{
    mx_ns t = free_ns;
    for (uint32_t j = 0; j < q->count; j++) {
        const struct pending *p = pending_at(q, j);
        t = (p->input_ns > t ? p->input_ns : t) + p->latency_ns;
    }
    return t;
}

int sim_control_new(const struct sim_world *w, const struct sim_dispatch_policy *policy,
                    struct sim_control **out)
{
    *out = NULL;
    if (w->n_segments != 1)
        return mx_error(MX_EUSAGE,
                        "the plan changes over time (%u placements): only a static plan can be "
                        "served",
                        w->n_segments);
    size_t stages = w->n_stages ? w->n_stages : 1, deepest = w->max_stages ? w->max_stages : 1;
    struct sim_control *c = MX_NEW(struct sim_control);
    c->w = w;
    c->policy = policy;
    c->clock = MX_NEW_ARRAY(mx_ns, stages);
    c->free_ns = MX_NEW_ARRAY(mx_ns, stages);
    c->pending = MX_NEW_ARRAY(struct pending_queue, stages);
    sim__outstanding_init(&c->out, w->n, w->n_groups);
    c->ratio = mx_malloc_array(stages, sizeof(double));
    c->predicted = MX_NEW_ARRAY(mx_ns, deepest);
    c->latency = MX_NEW_ARRAY(mx_ns, deepest);
    for (uint32_t k = 0; k < w->n_stages; k++)
        c->ratio[k] = 1.0;
    for (uint32_t g = 0; g < w->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++)
            c->clock[w->groups[g].stage_base + k] = c->free_ns[w->groups[g].stage_base + k] =
                w->groups[g].ready_ns;
    *out = c;
    return MX_OK;
}

void sim_control_free(struct sim_control *c)
{
    if (!c)
        return;
    for (uint32_t k = 0; k < c->w->n_stages; k++)
        free(c->pending[k].items);
    free(c->pending);
    free(c->clock);
    free(c->free_ns);
    sim__outstanding_release(&c->out);
    free(c->ratio);
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
    const struct sim_view view = {w->groups, c->clock, c->out.count};

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
    mx_ns *clock = c->clock + rep->stage_base;
    d->group = (int32_t)rep->group;
    d->n_stages = rep->n_stages;
    d->latency_ns = rep->latency_ns;
    for (uint32_t k = 0; k < rep->n_stages; k++) {
        mx_ns scaled = llround((double)rep->latency_ns[k] * c->ratio[rep->stage_base + k]);
        c->latency[k] = scaled > 0 ? scaled : 1;
    }
    mx_ns last = sim__predict(clock, c->latency, rep->n_stages, ready, c->predicted);
    d->admitted = sim__admits(last, q.latest_ns);
    if (!d->admitted) {
        /* Its group refuses it when it gets there: outstanding until then. */
        d->refused_ns = sim__received_ns(delays, decided_ns);
        if (d->refused_ns > decided_ns)
            sim__outstanding_push(&c->out, SIM_OUT_REFUSED, rep->group, (uint32_t)i, d->refused_ns);
        return;
    }
    for (uint32_t k = 0; k < rep->n_stages; k++) {
        clock[k] = c->predicted[k];
        pending_push(&c->pending[rep->stage_base + k],
                     (struct pending){i, k == 0 ? ready : c->predicted[k - 1], c->latency[k]});
    }
    c->out.count[rep->group]++;
}

/* Request i's entry on stage (global index), or NULL. */
static struct pending *pending_find(const struct pending_queue *q, size_t request)
{
    uint32_t j = pending_index(q, request);
    return j < q->count ? pending_at(q, j) : NULL;
}

void sim_control_stage_done(struct sim_control *c, uint32_t g, uint32_t k, size_t i,
                            mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns)
{
    const struct sim_group *grp = &c->w->groups[g];
    const uint32_t stage = grp->stage_base + k;
    if (measured_ns >= 0 && world_ns > 0)
        c->ratio[stage] +=
            SIM_CONTROL_SMOOTHING * ((double)measured_ns / (double)world_ns - c->ratio[stage]);
    pending_remove(&c->pending[stage], i);
    c->free_ns[stage] = actual_ns;
    c->clock[stage] = repredict(&c->pending[stage], actual_ns);
    /* It reaches the next stage now, not when predicted. */
    struct pending *next = k + 1 < grp->n_stages ? pending_find(&c->pending[stage + 1], i) : NULL;
    if (next && measured_ns >= 0) {
        next->input_ns = actual_ns;
        c->clock[stage + 1] = repredict(&c->pending[stage + 1], c->free_ns[stage + 1]);
    }
}

void sim_control_request_done(struct sim_control *c, uint32_t g, size_t i, bool completed)
{
    if (c->out.count[g] > 0)
        c->out.count[g]--;
    if (completed)
        return;
    /* It will not reach its remaining stages: predict them again without it. */
    const struct sim_group *grp = &c->w->groups[g];
    for (uint32_t k = 0; k < grp->n_stages; k++) {
        uint32_t stage = grp->stage_base + k;
        if (pending_remove(&c->pending[stage], i))
            c->clock[stage] = repredict(&c->pending[stage], c->free_ns[stage]);
    }
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
