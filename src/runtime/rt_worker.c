/* The runtime's device workers: each runs one rank of one pipeline stage of a group, for every
 * model the group hosts. The stage's rank 0 (its leader) takes requests from the stage's queue,
 * shares each with the other ranks, and after the stage ran reports to the controller and hands
 * the activations on. Also the runtime's clock (rt_int.h). */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include "rt_int.h"

#include "mx_error.h"
#include "prof_arch.h"
#include "sim.h"
#include "wl_trace.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

mx_ns rt__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (mx_ns)ts.tv_sec * MX_NS_PER_S + ts.tv_nsec;
}

void rt__sleep_until(mx_ns t)
{
    struct timespec ts = {.tv_sec = t / MX_NS_PER_S, .tv_nsec = t % MX_NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        if (rt__now() >= t)
            break;
}

void rt__wait_until(mx_ns t)
{
    while (rt__now() < t)
        sched_yield();
}

/* Whether u is the last stage of its group. */
static bool unit_is_last(const struct rt_run *r, const struct rt_unit *u)
{
    return u->stage + 1 == sim_world_group_stages(r->w, u->group);
}

/* Record the end of request i after its last stage (under the lock). */
static void finish_request(struct rt_run *r, size_t i, mx_ns end_trace)
{
    struct sim_results *res = r->report->results;
    mx_ns finish, exec = 0;
    res->status[i] = (uint8_t)sim_control_outcome(r->control, i, end_trace, &finish);
    for (uint32_t k = 0; k < r->max_stages; k++)
        exec += r->stage_ns[i * r->max_stages + k] > 0 ? r->stage_ns[i * r->max_stages + k] : 0;
    res->finish_ns[i] = finish;
    res->exec_ns[i] = exec;
    res->batch[i] = 1;
}

/* After the stage ran request i until end (wall ns) with result rc, having been able to start it
 * at `from` (when it was free and the request had reached it): report, then hand the output
 * (buffer slot) on or give it back. */
static void stage_done(struct rt_run *r, struct rt_unit *u, uint32_t i, uint32_t slot, mx_ns from,
                       mx_ns end, int rc)
{
    struct rt_unit *prev = u->stage > 0 ? u - 1 : NULL;
    const bool last = unit_is_last(r, u);
    const size_t at = (size_t)i * r->max_stages + u->stage;
    u->last_end_wall = end;
    if (prev && !rt_queue_push(&prev->free_acts, r->act[i]))
        assert(!"a buffer pool overflowed");
    r->act[i] = slot;
    r->stage_ns[at] = end - from;
    r->report->results->busy_ns[u->global_stage] += end - from;
    r->input_wall[i] = end;

    pthread_mutex_lock(&r->lock);
    sim_control_stage_done(r->control, u->group, u->stage, i, rt__trace_time(r, end),
                           rc == MX_OK ? end - from : -1, r->world_ns[at]);
    r->last_end_wall = end > r->last_end_wall ? end : r->last_end_wall;
    if (rc == MX_OK && last)
        finish_request(r, i, rt__trace_time(r, end));
    if (rc < 0 || last)
        sim_control_request_done(r->control, u->group, i, rc == MX_OK);
    pthread_mutex_unlock(&r->lock);

    if (rc < 0)
        rt__fail(r, i, mx_error_message());
    /* Neither queue can be full: each holds at most this stage's buffers. */
    bool pushed =
        rc < 0 || last ? rt_queue_push(&u->free_acts, slot) : rt_queue_push(&(u + 1)->waiting, i);
    assert(pushed);
    (void)pushed;
}

static int run_rank(struct rt_worker *wk, uint32_t i)
{
    const struct wl_trace *t = sim_world_trace(wk->run->w);
    struct rt_stage *s = wk->stages[t->model[i]];
    return s->backend->forward(s, wk->run->o->seed ^ (uint64_t)i, wk->unit->job_in,
                               wk->unit->job_out);
}

static void leader_loop(struct rt_worker *wk)
{
    struct rt_run *r = wk->run;
    struct rt_unit *u = wk->unit, *prev = u->stage > 0 ? u - 1 : NULL;
    uint32_t i, slot;
    while (rt_queue_poll(&u->waiting, &i, NULL)) {
        if (u->stage == 0)
            rt__wait_until(r->input_wall[i]);
        bool got = rt_queue_poll(&u->free_acts, &slot, NULL);
        assert(got); /* the pool never closes */
        (void)got;
        mx_ns start = rt__now();
        /* The stage could have started it when both it was free and the request was there: what
         * the stage takes is counted from then, the hand-off to this thread included. */
        mx_ns from = r->input_wall[i] > u->last_end_wall ? r->input_wall[i] : u->last_end_wall;
        if (u->stage == 0 && u->last_end_wall <= r->due_wall[i])
            r->overhead_ns[i] = start - r->due_wall[i];
        if (u->stage == 0)
            r->report->results->start_ns[i] = rt__trace_time(r, start);
        u->job = i;
        u->job_in = prev ? prev->acts[r->act[i]] : NULL;
        u->job_out = u->acts[slot];
        rt_team_sync(&u->team); /* the job is out */
        int rc = run_rank(wk, i);
        rt_team_sync(&u->team); /* every rank is done with it */
        mx_ns end = rt__now();
        r->run_start[(size_t)i * r->max_stages + u->stage] = rt__trace_time(r, start);
        r->run_end[(size_t)i * r->max_stages + u->stage] = rt__trace_time(r, end);
        stage_done(r, u, i, slot, from, end, rc);
    }
    u->job = RT_STOP;
    rt_team_sync(&u->team);
    if (!unit_is_last(r, u))
        rt_queue_close(&(u + 1)->waiting);
}

static void follower_loop(struct rt_worker *wk)
{
    struct rt_unit *u = wk->unit;
    for (;;) {
        rt_team_sync(&u->team);
        if (u->job == RT_STOP)
            return;
        run_rank(wk, u->job);
        rt_team_sync(&u->team);
    }
}

/* Pin the thread to its core (cpu backend). */
static int pin(const struct rt_worker *wk)
{
    if (wk->run->o->backend != &rt_backend_cpu)
        return MX_OK;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(wk->core, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (err != 0)
        return mx_error(MX_EIO, "device %u: cannot pin its worker to core %u: %s", wk->device,
                        wk->core, strerror(err));
    return MX_OK;
}

/* Build this rank's stages and, on the leader, the unit's buffers, sized for the hosted model
 * with the largest activations (models of several shapes share them). */
static int build(struct rt_worker *wk)
{
    const struct rt_backend *be = wk->run->o->backend;
    struct rt_unit *u = wk->unit;
    int rc = pin(wk);
    struct rt_stage *largest = NULL;
    int64_t largest_elems = 0;
    for (uint32_t m = 0; rc == MX_OK && m < wk->n_specs; m++) {
        const struct prof_arch *a = wk->specs[m].arch;
        if (!a || (rc = be->stage_new(&wk->specs[m], &wk->stages[m])) < 0)
            continue;
        if (a->seq * a->hidden > largest_elems) {
            largest = wk->stages[m];
            largest_elems = a->seq * a->hidden;
        }
    }
    for (uint32_t k = 0; rc == MX_OK && wk->rank == 0 && k < u->n_acts; k++)
        if ((rc = be->act_new(largest, &u->acts[k])) == MX_OK)
            rt_queue_push(&u->free_acts, k);
    return rc;
}

/* Run every hosted model in turn until `until`, timing each run into phase p's rings (leader). The
 * ranks of a stage decide together when to stop: the leader's clock rules, shared through the
 * unit between two syncs. */
static void run_models(struct rt_worker *wk, uint32_t p, mx_ns until)
{
    struct rt_unit *u = wk->unit;
    uint32_t *runs = wk->warm_runs + (size_t)p * wk->n_specs;
    double *times = wk->warm_s + (size_t)p * wk->n_specs * RT_WARM_SAMPLES;
    for (;;) {
        for (uint32_t m = 0; m < wk->n_specs; m++) {
            if (!wk->stages[m])
                continue;
            mx_ns start = rt__now();
            wk->stages[m]->backend->forward(wk->stages[m], m, u->stage > 0 ? u->acts[0] : NULL,
                                            u->acts[1]);
            if (wk->rank == 0) /* the last RT_WARM_SAMPLES runs: the warmest */
                times[m * RT_WARM_SAMPLES + runs[m]++ % RT_WARM_SAMPLES] =
                    mx_ns_to_s(rt__now() - start);
        }
        if (wk->rank == 0)
            u->warming = rt__now() < until;
        rt_team_sync(&u->team);
        bool again = u->warming;
        rt_team_sync(&u->team);
        if (!again)
            return;
    }
}

/* The warm-up's phases (rt_int.h), in their rounds: every worker starts each one with all the
 * others; a unit that is not active in it waits as an idle device does, polling. The first phase
 * runs every unit, so that the first requests do not pay for first touches and cores still ramping
 * up; the calibration's further phases time each unit alone and several of a node at once. */
static void run_phases(struct rt_worker *wk)
{
    struct rt_run *r = wk->run;
    struct rt_unit *u = wk->unit;
    for (uint32_t k = 0; k < r->n_steps; k++) {
        uint32_t p = r->step_phase[k];
        rt_team_sync(&r->all);
        mx_ns until = rt__now() + r->phases[p].duration_ns;
        if (r->phases[p].active[u->global_stage] && !u->failed)
            run_models(wk, p, until);
        else
            rt__wait_until(until);
    }
    rt_team_sync(&r->all);
}

void *rt__worker_main(void *arg)
{
    struct rt_worker *wk = arg;
    struct rt_unit *u = wk->unit;
    if ((wk->rc = build(wk)) < 0) {
        snprintf(wk->error, sizeof(wk->error), "%s", mx_error_message());
        u->failed = true;
    }
    rt_team_sync(&u->team); /* every rank built, or the unit failed */
    run_phases(wk);
    pthread_barrier_wait(&wk->run->ready);
    if (wk->rank == 0)
        leader_loop(wk);
    else
        follower_loop(wk);
    return NULL;
}
