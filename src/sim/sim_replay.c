/* Replaying a served run (sim_replay.h): sim_control over a discrete-event model of the runtime's
 * stage workers. */
#include "sim_replay.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim.h"
#include "sim_control.h"
#include "sim_heap.h"
#include "sim_int.h"

#include <stdlib.h>

#define NIL UINT32_MAX

/* Event kinds, in the order they go at equal times. */
enum { EV_FINISH, EV_DECIDE };

struct replay {
    const struct sim_world *w;
    const struct sim_service *service;
    const mx_ns *decided_ns;
    struct sim_control *control;
    struct sim_results *r;
    struct sim_heap heap;
    /* Per global stage: its FIFO of requests that reached it, and whether it is running one. */
    uint32_t *head, *tail;
    bool *busy;
    uint32_t *next; /* [n] the FIFO link of the stage a request waits at (one at a time) */
    mx_ns *ready;   /* [n] earliest stage-0 start */
    mx_ns *world;   /* [n][max_stages] world latencies of the replica each request went to */
    mx_ns *taken;   /* [n][max_stages] service times */
};

static mx_ns decided_at(const struct replay *p, size_t i)
{
    return p->decided_ns ? p->decided_ns[i] : sim_control_decision_due(p->control, i);
}

static void enqueue(struct replay *p, uint32_t stage, uint32_t i)
{
    p->next[i] = NIL;
    if (p->tail[stage] == NIL)
        p->head[stage] = i;
    else
        p->next[p->tail[stage]] = i;
    p->tail[stage] = i;
}

/* Start the next request waiting at group g's stage k if the stage is free. */
static void try_start(struct replay *p, uint32_t g, uint32_t k, mx_ns now)
{
    const struct sim_group *grp = &p->w->groups[g];
    const uint32_t stage = grp->stage_base + k, i = p->head[stage];
    if (p->busy[stage] || i == NIL)
        return;
    p->head[stage] = p->next[i];
    if (p->head[stage] == NIL)
        p->tail[stage] = NIL;
    const size_t at = (size_t)i * p->w->max_stages + k;
    /* Stage 0 waits for the request's ready time; every stage for its group's weights. */
    mx_ns start = k == 0 && p->ready[i] > now ? p->ready[i] : now;
    start = grp->ready_ns > start ? grp->ready_ns : start;
    mx_ns took = p->service->time_ns(p->service->arg, i, g, k, p->world[at]);
    p->taken[at] = took > 0 ? took : 0;
    if (k == 0)
        p->r->start_ns[i] = start;
    p->busy[stage] = true;
    sim__heap_push(&p->heap, (struct sim_event){.time = start + p->taken[at],
                                                .id = i,
                                                .group = g,
                                                .stage = (uint16_t)k,
                                                .kind = EV_FINISH});
}

static void on_decide(struct replay *p, uint32_t i, mx_ns now)
{
    const struct sim_world *w = p->w;
    struct sim_results *r = p->r;
    struct sim_decision d;
    sim_control_decide(p->control, i, now, &d);
    r->group[i] = d.group;
    if (!d.admitted) {
        r->status[i] = d.no_replica ? SIM_NO_REPLICA : SIM_REJECTED;
        r->finish_ns[i] = d.refused_ns;
        return;
    }
    p->ready[i] = d.ready_ns;
    for (uint32_t k = 0; k < d.n_stages; k++)
        p->world[(size_t)i * w->max_stages + k] = d.latency_ns[k];
    enqueue(p, w->groups[d.group].stage_base, i);
    try_start(p, (uint32_t)d.group, 0, now);
}

static void on_finish(struct replay *p, uint32_t i, uint32_t g, uint32_t k, mx_ns now)
{
    const struct sim_world *w = p->w;
    struct sim_results *r = p->r;
    const struct sim_group *grp = &w->groups[g];
    const size_t at = (size_t)i * w->max_stages + k;
    p->busy[grp->stage_base + k] = false;
    r->busy_ns[grp->stage_base + k] += p->taken[at];
    r->exec_ns[i] += p->taken[at];
    sim_control_stage_done(p->control, g, k, i, now, p->taken[at], p->world[at]);
    if (k + 1 == grp->n_stages) {
        r->status[i] = (uint8_t)sim_control_outcome(p->control, i, now, &r->finish_ns[i]);
        r->batch[i] = 1;
        sim_control_request_done(p->control, g, i, true);
    } else {
        enqueue(p, grp->stage_base + k + 1, i);
        try_start(p, g, k + 1, now);
    }
    try_start(p, g, k, now);
}

int sim_replay(const struct sim_world *w, const struct sim_dispatch_policy *policy,
               const mx_ns *decided_ns, const struct sim_service *service, struct sim_results **out)
{
    *out = NULL;
    struct replay p = {.w = w, .service = service, .decided_ns = decided_ns};
    int rc = sim_control_new(w, policy, &p.control);
    if (rc < 0)
        return rc;
    const size_t n = w->n, stages = w->n_stages ? w->n_stages : 1;
    const size_t cells = n * (w->max_stages ? w->max_stages : 1);
    p.r = sim_results_new(w);
    p.r->engine = "replay";
    for (size_t i = 0; i < n; i++) {
        p.r->group[i] = -1;
        p.r->start_ns[i] = MX_NS_NEVER;
        p.r->exec_ns[i] = 0;
        p.r->batch[i] = 0;
    }
    for (size_t s = 0; s < p.r->n_stages; s++)
        p.r->busy_ns[s] = 0;
    p.head = mx_malloc_array(stages, sizeof(uint32_t));
    p.tail = mx_malloc_array(stages, sizeof(uint32_t));
    for (size_t s = 0; s < stages; s++)
        p.head[s] = p.tail[s] = NIL;
    p.busy = MX_NEW_ARRAY(bool, stages);
    p.next = mx_malloc_array(n, sizeof(uint32_t));
    p.ready = MX_NEW_ARRAY(mx_ns, n);
    p.world = MX_NEW_ARRAY(mx_ns, cells);
    p.taken = MX_NEW_ARRAY(mx_ns, cells);
    /* At most one finish per stage is pending, and one decision. */
    sim__heap_init(&p.heap, stages + 1);
    sim__heap_push(&p.heap,
                   (struct sim_event){.time = decided_at(&p, 0), .id = 0, .kind = EV_DECIDE});
    while (p.heap.n > 0) {
        struct sim_event ev = sim__heap_pop(&p.heap);
        if (ev.kind == EV_FINISH) {
            on_finish(&p, ev.id, ev.group, ev.stage, ev.time);
            continue;
        }
        on_decide(&p, ev.id, ev.time);
        if (ev.id + 1 < n) {
            mx_ns next = decided_at(&p, ev.id + 1);
            sim__heap_push(&p.heap, (struct sim_event){.time = next > ev.time ? next : ev.time,
                                                       .id = ev.id + 1,
                                                       .kind = EV_DECIDE});
        }
    }
    sim__heap_release(&p.heap);
    free(p.head);
    free(p.tail);
    free(p.busy);
    free(p.next);
    free(p.ready);
    free(p.world);
    free(p.taken);
    sim_control_free(p.control);
    *out = p.r;
    return MX_OK;
}
