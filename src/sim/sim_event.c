/* The event engine (docs/simulator.md): every mode, one timed event at a time.
 *
 * A request's life is ARRIVAL -> (client overhead) DISPATCH -> (dispatch overhead) RECV at its
 * group
 * -> admitted or refused. An admitted request becomes a job (with batching: waits in the group's
 * queue until ENQUEUE'd and a BATCH forms its job) that passes through the group's stages; each
 * stage serves jobs first-come first-served, so a job starts a stage when the stage is idle and the
 * job has left the previous stage (STAGE_READY wakes stage 0 when a job's exec overhead ends
 * later).
 *
 * The controller dispatches from its own view of each group: stage clocks it advances at every
 * dispatch by predicting the admission with the mean overheads, and raises to the group's real
 * clocks at every admission; and outstanding counts it raises at dispatch and lowers when a request
 * finishes or is refused. With constant overheads and no batching that view equals the group's
 * state, so decisions match the fast path's request by request.
 *
 * At equal times events run in kind order (enum below): stages finish before anything else, so a
 * request finishing at t no longer counts as outstanding for a decision at t; admissions and queue
 * entries at t come before the batch formed at t; decisions come before new arrivals, so requests
 * with equal arrival times are dispatched and admitted one after the other in trace order.
 *
 * With variability (docs/simulator.md), a job's time on a stage is its latency times a ratio drawn
 * from the stage's distribution (one stream per segment, drawn at each stage start), stretched by
 * interference (sim_busy.h: a start or end of work on a node moves the finishes of the work
 * running there; an event so replaced is skipped when it comes). Stage times then differ from the
 * predictions, so the groups' clocks are the runtime controller's (sim_correct.h): corrected at
 * every finish, with latencies scaled by each stage's learned speed; a correction moves the
 * controller's view of the clock by as much as the clock. */
#include "sim_int.h"

#include "mx_alloc.h"
#include "mx_rng.h"
#include "sim_busy.h"
#include "sim_correct.h"
#include "sim_dispatch.h"
#include "sim_heap.h"
#include "sim_rules.h"

#include <gsl/gsl_randist.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

enum event_kind {
    EV_LOADED,      /* `group` finished loading its weights: its stages are free */
    EV_STAGE_DONE,  /* a job finished stage `stage` of `group` */
    EV_STAGE_READY, /* the job at the head of stage 0 may start */
    EV_ENQUEUE,     /* batching: an admitted request joins its group's queue */
    EV_RECV,        /* a request reaches its group: admission */
    EV_BATCH,       /* batching: form a batch on `group`'s idle stage 0 */
    EV_DISPATCH,    /* a request reaches the controller: choose a group */
    EV_ARRIVAL,     /* a request leaves its client */
};

/* A unit of execution: one request, or a batch of requests of one model. */
struct job {
    mx_ns ready_ns;       /* when it may start its next stage */
    mx_ns predicted_ns;   /* last-stage finish predicted at admission or batch formation */
    uint32_t first;       /* first member request; the rest follow through member_next */
    uint32_t size;        /* members */
    uint32_t next;        /* next job in a stage FIFO */
    uint32_t batch_index; /* into the replica's batch sizes */
    const struct sim_replica *rep;
    mx_ns exec_ns; /* variability: the time its stages took so far */
};

struct engine {
    const struct sim_world *w;
    const struct sim_segment *seg;
    uint32_t first; /* the segment's first request: per-request arrays start there */
    const struct sim_dispatch_policy *policy;
    struct sim_results *r;
    uint32_t max_batch;
    struct sim_heap heap;

    mx_ns *clock;          /* [n_stages] the groups' committed stage clocks */
    mx_ns *view_clock;     /* [n_stages] the controller's view of them */
    uint32_t *outstanding; /* [n_groups] */
    mx_ns *scratch;        /* [max_stages] */

    bool *stage_busy;    /* [n_stages] */
    uint32_t *fifo_head; /* [n_stages] jobs waiting for the stage */
    uint32_t *fifo_tail;
    bool *ready_pending;  /* [n_groups] a STAGE_READY is scheduled for stage 0 */
    bool *batch_pending;  /* [n_groups] a BATCH is scheduled */
    uint32_t *queue_head; /* [n_groups] batching queue (request indices) */
    uint32_t *queue_tail;

    struct job *jobs; /* [requests of the segment] */
    uint32_t n_jobs;
    uint32_t *member_next;             /* [n] links of job members, by request index */
    uint32_t *queue_next;              /* [n] links of batching queues */
    const struct sim_replica **rep_of; /* [n] the replica each dispatched request went to */
    uint32_t *candidates;              /* [max_batch] members of the batch being formed */
    struct sim_delays *draw;           /* [n] each request's overheads, drawn at its arrival */
    gsl_rng *rng[SPEC_OH_COUNT];       /* NULL for constant terms */

    /* Variability (all unused without it). */
    bool vary;
    struct sim__corrected corr; /* the groups' clocks (e->clock is corr.clock) */
    struct sim__busy busy;      /* interference: when running work ends */
    gsl_rng *stage_rng;         /* stage-time draws; NULL when no distribution varies */
    uint32_t *stage_group;      /* [n_stages] the group of each stage of the segment */
    uint32_t *running;          /* [n_stages] the job each busy stage runs */
    mx_ns *started;             /* [n_stages] when it started it */
    mx_ns *scaled;              /* [max_stages] latencies scaled by the learned speeds */
};

static mx_ns draw_overhead(struct engine *e, int term)
{
    const struct sim_world *w = e->w;
    if (!e->rng[term])
        return w->overhead_ns[term];
    double sample = (double)w->overhead_ns[term] +
                    gsl_ran_gaussian(e->rng[term], (double)w->overhead_sd_ns[term]);
    return (mx_ns)(sample < 0 ? -sample : sample);
}

static void push(struct engine *e, mx_ns time, enum event_kind kind, uint32_t id, uint32_t group,
                 uint32_t stage)
{
    sim__heap_push(&e->heap, (struct sim_event){.time = time,
                                                .id = id,
                                                .group = group,
                                                .stage = (uint16_t)stage,
                                                .kind = (uint8_t)kind});
}

static const mx_ns *job_latency(const struct job *j)
{
    return j->rep->latency_ns + (size_t)j->batch_index * j->rep->n_stages;
}

/* The controller learns the group's real clocks at each admission and batch. */
static void raise_view(struct engine *e, uint32_t g)
{
    const struct sim_group *grp = &e->w->groups[g];
    for (uint32_t k = 0; k < grp->n_stages; k++) {
        uint32_t s = grp->stage_base + k;
        if (e->clock[s] > e->view_clock[s])
            e->view_clock[s] = e->clock[s];
    }
}

static void finish_request(struct engine *e, size_t i, uint8_t status, mx_ns when)
{
    e->r->status[i] = status;
    e->r->finish_ns[i] = when;
}

static void fifo_append(struct engine *e, uint32_t stage, uint32_t job)
{
    e->jobs[job].next = NIL;
    if (e->fifo_tail[stage] == NIL)
        e->fifo_head[stage] = job;
    else
        e->jobs[e->fifo_tail[stage]].next = job;
    e->fifo_tail[stage] = job;
}

/* Variability: the ratio of a job's time on stage s to its latency. */
static double draw_ratio(struct engine *e, uint32_t s)
{
    const struct spec_dist *d = &e->w->dists[e->w->stage_dist[s]];
    return e->stage_rng && spec_dist_varies(d) ? spec_dist_draw(d, e->stage_rng) : 1.0;
}

/* Variability: interference moved the end of stage s's job to finish; the event already queued
 * for it is skipped when it comes (stale_finish). */
static void moved(void *arg, uint32_t s, mx_ns finish)
{
    struct engine *e = arg;
    uint32_t g = e->stage_group[s];
    sim__heap_reserve(&e->heap, 1);
    push(e, finish, EV_STAGE_DONE, e->running[s], g, s - e->w->groups[g].stage_base);
}

/* Variability: whether a finish event of job jid on stage s at time t is no longer the job's end.
 */
static bool stale_finish(const struct engine *e, uint32_t s, uint32_t jid, mx_ns t)
{
    const struct sim__busy_stage *st = &e->busy.stage[s];
    return !st->running || e->running[s] != jid || st->finish_ns != t;
}

/* The latencies stage-by-stage of rep at batch index b as the controller predicts with them: the
 * world's, or with variability scaled by the stages' learned speeds. */
static const mx_ns *predicted_latency(struct engine *e, const struct sim_replica *rep, uint32_t b)
{
    const mx_ns *lat = rep->latency_ns + (size_t)b * rep->n_stages;
    if (!e->vary)
        return lat;
    sim__corrected_scale(&e->corr, rep->stage_base, lat, rep->n_stages, e->scaled);
    return e->scaled;
}

/* Variability: a correction moved stage s's clock from `before`: the controller's view moves by as
 * much (it may be ahead of the clock by the requests dispatched to the group and not there yet). */
static void move_view(struct engine *e, uint32_t s, mx_ns before)
{
    e->view_clock[s] += e->clock[s] - before;
}

/* Start the job at the head of stage k of group g if the stage is idle and the job is ready. */
static void try_start(struct engine *e, uint32_t g, uint32_t k, mx_ns now)
{
    uint32_t s = e->w->groups[g].stage_base + k;
    uint32_t jid = e->fifo_head[s];
    if (e->stage_busy[s] || jid == NIL)
        return;
    struct job *j = &e->jobs[jid];
    if (j->ready_ns > now) {
        if (!e->ready_pending[g]) {
            e->ready_pending[g] = true;
            push(e, j->ready_ns, EV_STAGE_READY, 0, g, 0);
        }
        return;
    }
    e->fifo_head[s] = j->next;
    if (j->next == NIL)
        e->fifo_tail[s] = NIL;
    e->stage_busy[s] = true;
    if (k == 0)
        for (uint32_t i = j->first; i != NIL; i = e->member_next[i - e->first])
            e->r->start_ns[i] = now;
    mx_ns end = now + job_latency(j)[k];
    if (e->vary) {
        e->running[s] = jid;
        e->started[s] = now;
        end = sim__busy_start(&e->busy, s, (double)job_latency(j)[k] * draw_ratio(e, s), now, moved,
                              e);
    }
    push(e, end, EV_STAGE_DONE, jid, g, k);
}

static uint32_t new_job(struct engine *e, const struct sim_replica *rep, uint32_t batch_index,
                        mx_ns ready_ns, mx_ns predicted_ns)
{
    uint32_t jid = e->n_jobs++;
    e->jobs[jid] = (struct job){.ready_ns = ready_ns,
                                .predicted_ns = predicted_ns,
                                .first = NIL,
                                .size = 0,
                                .next = NIL,
                                .batch_index = batch_index,
                                .rep = rep};
    return jid;
}

static void complete_job(struct engine *e, uint32_t jid, mx_ns now)
{
    const struct sim_world *w = e->w;
    struct job *j = &e->jobs[jid];
    if (!e->vary && now != j->predicted_ns)
        MX_BUG("job finished at %lld ns, predicted %lld ns", (long long)now,
               (long long)j->predicted_ns);
    mx_ns exec = 0;
    const mx_ns *lat = job_latency(j);
    for (uint32_t k = 0; k < j->rep->n_stages; k++)
        exec += lat[k];
    if (e->vary)
        exec = j->exec_ns;
    for (uint32_t i = j->first; i != NIL; i = e->member_next[i - e->first]) {
        mx_ns finish = sim__finish_ns(e->draw[i - e->first], now);
        finish_request(e, i, sim__good(finish, w->deadline_ns[i]) ? SIM_GOOD : SIM_LATE, finish);
        e->r->exec_ns[i] = exec;
        e->r->batch[i] = (uint16_t)j->size;
        e->outstanding[j->rep->group]--;
    }
}

static void on_arrival(struct engine *e, uint32_t i, mx_ns now)
{
    const struct sim_world *w = e->w;
    struct sim_delays *d = &e->draw[i - e->first];
    *d = (struct sim_delays){draw_overhead(e, SPEC_OH_CLIENT), draw_overhead(e, SPEC_OH_DISPATCH),
                             draw_overhead(e, SPEC_OH_EXEC), draw_overhead(e, SPEC_OH_FIXED),
                             draw_overhead(e, SPEC_OH_REPLY)};
    push(e, sim__decided_ns(*d, now), EV_DISPATCH, i, 0, 0);
    if (i + 1 < e->seg->end)
        push(e, w->arrival_ns[i + 1], EV_ARRIVAL, i + 1, 0, 0);
}

static void on_dispatch(struct engine *e, uint32_t i, mx_ns now)
{
    const struct sim_world *w = e->w;
    const struct sim_segment *seg = e->seg;
    uint32_t m = (uint32_t)w->model[i];
    uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
    if (n == 0) {
        finish_request(e, i, SIM_NO_REPLICA, now);
        return;
    }
    const struct sim_replica *reps = seg->replicas + begin;
    const struct sim_view view = {w->groups, e->view_clock, e->outstanding};
    /* The controller expects the mean overheads. */
    const struct sim_dispatch_query q =
        sim__query(sim__delays(w->overhead_ns), now, w->deadline_ns[i]);
    int32_t chosen = e->policy->choose(&view, reps, n, &q);
    if (chosen < 0) {
        finish_request(e, i, SIM_REJECTED, now);
        return;
    }
    const struct sim_replica *rep = &reps[chosen];
    uint32_t g = rep->group;
    mx_ns *view_clock = e->view_clock + w->groups[g].stage_base;
    e->r->group[i] = (int32_t)g;
    e->rep_of[i - e->first] = rep;
    e->outstanding[g]++;
    /* Without batching the controller predicts the admission; with batching it cannot know which
     * batch the request will join, and sees the clocks of the batches started (raise_view). */
    if (e->max_batch <= 1) {
        mx_ns last = sim__predict(view_clock, predicted_latency(e, rep, 0), rep->n_stages,
                                  q.ready_ns, e->scratch);
        if (sim__admits(last, q.latest_ns))
            memcpy(view_clock, e->scratch, rep->n_stages * sizeof(mx_ns));
    }
    push(e, sim__received_ns(e->draw[i - e->first], now), EV_RECV, i, g, 0);
}

static void on_recv(struct engine *e, uint32_t i, uint32_t g, mx_ns now)
{
    const struct sim_world *w = e->w;
    const struct sim_replica *rep = e->rep_of[i - e->first];
    mx_ns *clock = e->clock + w->groups[g].stage_base;
    const struct sim_delays d = e->draw[i - e->first];
    mx_ns ready = sim__ready_ns(d, now);
    const mx_ns *lat = predicted_latency(e, rep, 0);
    mx_ns last = sim__predict(clock, lat, rep->n_stages, ready, e->scratch);
    if (!sim__admits(last, sim__latest_ns(d, w->deadline_ns[i]))) {
        finish_request(e, i, SIM_REJECTED, now);
        e->outstanding[g]--;
        return;
    }
    if (e->max_batch > 1) {
        push(e, ready, EV_ENQUEUE, i, g, 0);
        return;
    }
    uint32_t jid = new_job(e, rep, 0, ready, last);
    if (e->vary)
        sim__corrected_admit(&e->corr, rep->stage_base, rep->n_stages, jid, ready, e->scratch, lat);
    else
        memcpy(clock, e->scratch, rep->n_stages * sizeof(mx_ns));
    raise_view(e, g);
    e->jobs[jid].first = i;
    e->jobs[jid].size = 1;
    e->member_next[i - e->first] = NIL;
    fifo_append(e, w->groups[g].stage_base, jid);
    try_start(e, g, 0, now);
}

static void schedule_batch(struct engine *e, uint32_t g, mx_ns now)
{
    uint32_t s0 = e->w->groups[g].stage_base;
    if (!e->batch_pending[g] && !e->stage_busy[s0] && e->queue_head[g] != NIL) {
        e->batch_pending[g] = true;
        push(e, now, EV_BATCH, 0, g, 0);
    }
}

static void on_enqueue(struct engine *e, uint32_t i, uint32_t g, mx_ns now)
{
    e->queue_next[i - e->first] = NIL;
    if (e->queue_tail[g] == NIL)
        e->queue_head[g] = i;
    else
        e->queue_next[e->queue_tail[g] - e->first] = i;
    e->queue_tail[g] = i;
    schedule_batch(e, g, now);
}

/* Unlink request i (whose predecessor in the queue is prev, or NIL) from group g's queue. */
static void queue_remove(struct engine *e, uint32_t g, uint32_t prev, uint32_t i)
{
    uint32_t next = e->queue_next[i - e->first];
    if (prev == NIL)
        e->queue_head[g] = next;
    else
        e->queue_next[prev - e->first] = next;
    if (e->queue_tail[g] == i)
        e->queue_tail[g] = prev;
}

/* Whether queued request i can no longer meet its deadline even alone, starting stage 0 now. */
static bool hopeless(struct engine *e, uint32_t g, uint32_t i, mx_ns now)
{
    const struct sim_replica *rep = e->rep_of[i - e->first];
    const mx_ns *clock = e->clock + e->w->groups[g].stage_base;
    mx_ns last = sim__predict_last(clock, predicted_latency(e, rep, 0), rep->n_stages, now);
    return !sim__admits(last, sim__latest_ns(e->draw[i - e->first], e->w->deadline_ns[i]));
}

static void drop(struct engine *e, uint32_t g, uint32_t prev, uint32_t i, mx_ns now)
{
    queue_remove(e, g, prev, i);
    finish_request(e, i, SIM_DROPPED, now);
    e->outstanding[g]--;
}

/* Form a batch on g's idle stage 0 (docs/simulator.md, batching): drop the hopeless requests at the
 * head of the queue; the oldest remaining one leads a batch of the queued requests of its model, in
 * arrival order, dropping those among them that are hopeless too; the batch grows through the
 * profiled sizes while its latency still lets the leader meet its deadline. */
static void on_batch(struct engine *e, uint32_t g, mx_ns now)
{
    const struct sim_world *w = e->w;
    const struct sim_group *grp = &w->groups[g];
    e->batch_pending[g] = false;
    if (e->stage_busy[grp->stage_base])
        return;
    uint32_t oldest;
    while ((oldest = e->queue_head[g]) != NIL && hopeless(e, g, oldest, now))
        drop(e, g, NIL, oldest, now);
    if (oldest == NIL)
        return;

    /* Candidates: the leader and the viable requests of its model behind it, in queue order. */
    uint32_t n = 0, prev = NIL;
    for (uint32_t i = oldest; i != NIL && n < e->max_batch;) {
        uint32_t next = e->queue_next[i - e->first];
        if (w->model[i] != w->model[oldest]) {
            prev = i;
        } else if (i != oldest && hopeless(e, g, i, now)) {
            drop(e, g, prev, i, now);
        } else {
            e->candidates[n++] = i;
            prev = i;
        }
        i = next;
    }

    const struct sim_replica *rep = e->rep_of[oldest - e->first];
    mx_ns *clock = e->clock + grp->stage_base;
    mx_ns latest = sim__latest_ns(e->draw[oldest - e->first], w->deadline_ns[oldest]);
    uint32_t chosen = 0;
    for (uint32_t b = 1; b < rep->n_batches && (uint32_t)rep->batch_sizes[b] <= n; b++) {
        const mx_ns *lat = predicted_latency(e, rep, b);
        if (!sim__admits(sim__predict_last(clock, lat, rep->n_stages, now), latest))
            break;
        chosen = b;
    }
    const mx_ns *lat = predicted_latency(e, rep, chosen);
    mx_ns last = sim__predict(clock, lat, rep->n_stages, now, e->scratch);
    uint32_t jid = new_job(e, rep, chosen, now, last);
    if (e->vary)
        sim__corrected_admit(&e->corr, grp->stage_base, rep->n_stages, jid, now, e->scratch, lat);
    else
        memcpy(clock, e->scratch, rep->n_stages * sizeof(mx_ns));
    raise_view(e, g);
    struct job *j = &e->jobs[jid];

    /* Move the first candidates from the queue to the job; both lists are in queue order. */
    uint32_t want = (uint32_t)rep->batch_sizes[chosen], tail = NIL;
    prev = NIL;
    for (uint32_t i = oldest; i != NIL && j->size < want;) {
        uint32_t next = e->queue_next[i - e->first];
        if (i == e->candidates[j->size]) {
            queue_remove(e, g, prev, i);
            e->member_next[i - e->first] = NIL;
            if (tail == NIL)
                j->first = i;
            else
                e->member_next[tail - e->first] = i;
            tail = i;
            j->size++;
        } else {
            prev = i;
        }
        i = next;
    }
    fifo_append(e, grp->stage_base, jid);
    try_start(e, g, 0, now);
}

static void on_stage_done(struct engine *e, uint32_t jid, uint32_t g, uint32_t k, mx_ns now)
{
    const struct sim_group *grp = &e->w->groups[g];
    uint32_t s = grp->stage_base + k;
    struct job *j = &e->jobs[jid];
    e->stage_busy[s] = false;
    if (e->vary) {
        mx_ns took = now - e->started[s];
        uint32_t next = k + 1 < grp->n_stages ? s + 1 : UINT32_MAX;
        mx_ns before = e->clock[s], next_before = next != UINT32_MAX ? e->clock[next] : 0;
        sim__busy_stop(&e->busy, s, now, moved, e);
        j->exec_ns += took;
        e->r->busy_ns[s] += took;
        sim__corrected_stage_done(&e->corr, s, next, jid, now, took, job_latency(j)[k]);
        move_view(e, s, before);
        if (next != UINT32_MAX)
            move_view(e, next, next_before);
    } else {
        e->r->busy_ns[s] += job_latency(j)[k];
    }
    if (k + 1 < grp->n_stages) {
        j->ready_ns = now;
        fifo_append(e, s + 1, jid);
        try_start(e, g, k + 1, now);
    } else {
        complete_job(e, jid, now);
    }
    if (k == 0 && e->max_batch > 1)
        schedule_batch(e, g, now);
    try_start(e, g, k, now);
}

/* Variability's state for the segment's stages. */
static void vary_init(struct engine *e, uint32_t segment, uint64_t seed)
{
    const struct sim_world *w = e->w;
    const struct sim_segment *seg = e->seg;
    const size_t stages = w->n_stages ? w->n_stages : 1;
    uint32_t first = seg->n_groups ? w->groups[seg->first_group].stage_base : 0, end = first;
    sim__corrected_init(&e->corr, w->n_stages);
    e->clock = e->corr.clock;
    e->stage_group = MX_NEW_ARRAY(uint32_t, stages);
    e->running = mx_malloc_array(stages, sizeof(uint32_t));
    e->started = MX_NEW_ARRAY(mx_ns, stages);
    e->scaled = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    for (uint32_t g = seg->first_group; g < seg->first_group + seg->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++) {
            e->stage_group[w->groups[g].stage_base + k] = g;
            e->running[w->groups[g].stage_base + k] = NIL;
            end = w->groups[g].stage_base + k + 1;
        }
    sim__busy_init(&e->busy, &w->interference, w->n_stages, first, end, w->stage_node,
                   w->stage_devices);
    bool draws = false;
    for (uint32_t s = first; s < end; s++)
        draws |= spec_dist_varies(&w->dists[w->stage_dist[s]]);
    if (draws)
        e->stage_rng = mx_rng_new(seed, "stage_time", segment);
}

static void engine_init(struct engine *e, const struct sim_world *w, uint32_t segment,
                        const struct sim_options *o, struct sim_results *r)
{
    memset(e, 0, sizeof(*e));
    e->w = w;
    e->seg = &w->segments[segment];
    e->first = (uint32_t)e->seg->first;
    e->policy = o->dispatch;
    e->r = r;
    e->max_batch = o->max_batch > 1 ? o->max_batch : 1;
    size_t n_requests = e->seg->end - e->seg->first;
    /* Pending events: one arrival, at most one of dispatch, recv or enqueue per request, at most
     * one done per stage, one ready (for stage 0), one batch and one loaded per group. */
    sim__heap_init(&e->heap, n_requests + 2 * (size_t)w->n_stages + 2 * (size_t)w->n_groups + 1);
    e->vary = o->variability && w->varies;
    if (e->vary)
        vary_init(e, segment, o->seed);
    else
        e->clock = MX_NEW_ARRAY(mx_ns, w->n_stages);
    e->view_clock = MX_NEW_ARRAY(mx_ns, w->n_stages);
    e->outstanding = MX_NEW_ARRAY(uint32_t, w->n_groups);
    e->scratch = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    e->stage_busy = MX_NEW_ARRAY(bool, w->n_stages);
    e->fifo_head = mx_malloc_array(w->n_stages, sizeof(uint32_t));
    e->fifo_tail = mx_malloc_array(w->n_stages, sizeof(uint32_t));
    for (uint32_t s = 0; s < w->n_stages; s++)
        e->fifo_head[s] = e->fifo_tail[s] = NIL;
    e->ready_pending = MX_NEW_ARRAY(bool, w->n_groups);
    e->batch_pending = MX_NEW_ARRAY(bool, w->n_groups);
    e->queue_head = mx_malloc_array(w->n_groups, sizeof(uint32_t));
    e->queue_tail = mx_malloc_array(w->n_groups, sizeof(uint32_t));
    for (uint32_t g = 0; g < w->n_groups; g++)
        e->queue_head[g] = e->queue_tail[g] = NIL;
    e->jobs = mx_malloc_array(n_requests ? n_requests : 1, sizeof(struct job));
    size_t slots = n_requests ? n_requests : 1;
    e->member_next = mx_malloc_array(slots, sizeof(uint32_t));
    e->queue_next = mx_malloc_array(slots, sizeof(uint32_t));
    e->rep_of = MX_NEW_ARRAY(const struct sim_replica *, slots);
    e->draw = mx_malloc_array(slots, sizeof(struct sim_delays));
    e->candidates = mx_malloc_array(e->max_batch, sizeof(uint32_t));
    for (int t = 0; t < SPEC_OH_COUNT; t++) {
        static const char *const streams[SPEC_OH_COUNT] = {"overhead/client", "overhead/dispatch",
                                                           "overhead/exec", "overhead/fixed",
                                                           "overhead/reply"};
        if (w->overhead_sd_ns[t] > 0)
            e->rng[t] = mx_rng_new(o->seed, streams[t], segment);
    }
}

/* Groups that load weights at the segment's start hold their stages busy until they are done: the
 * clocks, the controller's view and the stages all say so. */
static void start_loading(struct engine *e)
{
    const struct sim_world *w = e->w;
    for (uint32_t g = e->seg->first_group; g < e->seg->first_group + e->seg->n_groups; g++) {
        const struct sim_group *grp = &w->groups[g];
        if (grp->ready_ns <= 0)
            continue;
        for (uint32_t k = 0; k < grp->n_stages; k++) {
            e->clock[grp->stage_base + k] = e->view_clock[grp->stage_base + k] = grp->ready_ns;
            if (e->vary)
                sim__corrected_start_at(&e->corr, grp->stage_base + k, grp->ready_ns);
            e->stage_busy[grp->stage_base + k] = true;
        }
        push(e, grp->ready_ns, EV_LOADED, 0, g, 0);
    }
}

static void on_loaded(struct engine *e, uint32_t g, mx_ns now)
{
    const struct sim_group *grp = &e->w->groups[g];
    for (uint32_t k = 0; k < grp->n_stages; k++)
        e->stage_busy[grp->stage_base + k] = false;
    if (e->max_batch > 1)
        schedule_batch(e, g, now);
    for (uint32_t k = 0; k < grp->n_stages; k++)
        try_start(e, g, k, now);
}

static void engine_release(struct engine *e)
{
    sim__heap_release(&e->heap);
    if (e->vary) {
        sim__corrected_release(&e->corr);
        sim__busy_release(&e->busy);
        if (e->stage_rng)
            gsl_rng_free(e->stage_rng);
        free(e->stage_group);
        free(e->running);
        free(e->started);
        free(e->scaled);
    } else {
        free(e->clock);
    }
    free(e->view_clock);
    free(e->outstanding);
    free(e->scratch);
    free(e->stage_busy);
    free(e->fifo_head);
    free(e->fifo_tail);
    free(e->ready_pending);
    free(e->batch_pending);
    free(e->queue_head);
    free(e->queue_tail);
    free(e->jobs);
    free(e->member_next);
    free(e->queue_next);
    free(e->rep_of);
    free(e->draw);
    free(e->candidates);
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        if (e->rng[t])
            gsl_rng_free(e->rng[t]);
}

void sim__event_run_segment(const struct sim_world *w, uint32_t segment,
                            const struct sim_options *o, struct sim_results *r)
{
    struct engine e;
    engine_init(&e, w, segment, o, r);
    for (size_t i = e.seg->first; i < e.seg->end; i++) {
        r->group[i] = -1;
        r->start_ns[i] = MX_NS_NEVER;
        r->exec_ns[i] = 0;
        r->batch[i] = 0;
    }
    start_loading(&e);
    if (e.seg->first < e.seg->end)
        push(&e, w->arrival_ns[e.seg->first], EV_ARRIVAL, (uint32_t)e.seg->first, 0, 0);
    uint64_t events = 0;
    while (e.heap.n > 0) {
        struct sim_event ev = sim__heap_pop(&e.heap);
        events++;
        switch ((enum event_kind)ev.kind) {
        case EV_ARRIVAL:
            on_arrival(&e, ev.id, ev.time);
            break;
        case EV_DISPATCH:
            on_dispatch(&e, ev.id, ev.time);
            break;
        case EV_RECV:
            on_recv(&e, ev.id, ev.group, ev.time);
            break;
        case EV_ENQUEUE:
            on_enqueue(&e, ev.id, ev.group, ev.time);
            break;
        case EV_BATCH:
            on_batch(&e, ev.group, ev.time);
            break;
        case EV_STAGE_READY:
            e.ready_pending[ev.group] = false;
            try_start(&e, ev.group, 0, ev.time);
            break;
        case EV_STAGE_DONE:
            if (e.vary &&
                stale_finish(&e, w->groups[ev.group].stage_base + ev.stage, ev.id, ev.time))
                break;
            on_stage_done(&e, ev.id, ev.group, ev.stage, ev.time);
            break;
        case EV_LOADED:
            on_loaded(&e, ev.group, ev.time);
            break;
        }
    }
    atomic_fetch_add(&r->events, events);
    engine_release(&e);
}
