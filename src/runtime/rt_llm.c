/* The decoder runtime's controller: checks, set-up, the open-loop release of requests through the
 * decoder scheduler's dispatch and admission, and tear-down (rt_llm.h). The workers, which form
 * and run the iterations, are rt_llm_worker.c; the report rt_llm_report.c. */
#define _GNU_SOURCE /* pthread_setschedparam's SCHED_FIFO */
#include "rt_llm_int.h"

#include "kern_kv.h"
#include "kern_weights.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "prof_arch.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The controller starts releasing this long after every worker is warm. */
#define LEAD_NS (50 * 1000 * 1000)
/* It stops sleeping this long before a release and polls the clock instead. */
#define SPIN_NS (100 * 1000)
/* While it waits for the last requests to end, it sleeps this long between looks. */
#define DRAIN_POLL_NS (1000 * 1000)

/* ---- checks ---- */

static const struct spec_plan_group *plan_group(const struct llm_run *r, uint32_t g)
{
    return &r->plan->segments[0].groups[sim_llm_group_plan_index(r->w, g)];
}

static int check(const struct llm_run *r, const char *plan_path, struct prof_arch **archs)
{
    const struct rt_options *o = r->o;
    if (o->backend != &rt_backend_cpu)
        return mx_error(MX_EINPUT,
                        "%s: the %s backend does not run decoder models yet: serve decoder plans "
                        "with --backend cpu",
                        plan_path, o->backend->name);
    if (r->plan->n_segments != 1)
        return mx_error(MX_EINPUT,
                        "%s: the plan changes over time (%u placements): the runtime serves "
                        "static plans only",
                        plan_path, r->plan->n_segments);
    if (sim_llm_block_tokens(r->w) != KERN_KV_BLOCK_TOKENS)
        return mx_error(MX_EINPUT,
                        "the cluster's decoder.block_tokens is %u: the runtime's KV cache keeps "
                        "blocks of %d tokens, so it serves clusters of block_tokens %d only",
                        sim_llm_block_tokens(r->w), KERN_KV_BLOCK_TOKENS, KERN_KV_BLOCK_TOKENS);
    /* Each device reserves its whole pool (written only as the scheduler allows): pools that
     * together pass the machine's memory cannot be reserved. */
    double pools = 0, memory = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    for (uint32_t g = 0; g < r->n_groups; g++)
        for (uint32_t k = 0; k < sim_llm_group_stages(r->w, g); k++)
            pools += (double)sim_llm_group_pool_bytes(r->w, g, k) * plan_group(r, g)->op;
    if (memory > 0 && pools > memory)
        return mx_error(MX_EINPUT,
                        "%s: the cluster's mem_budget_bytes leaves KV pools of %.1f GiB in all, "
                        "more than this machine's %.1f GiB: the cpu backend reserves each device's "
                        "pool in memory; give the cluster a smaller budget",
                        plan_path, pools / (1 << 30), memory / (1 << 30));
    int rc = rt__check_cores(r->plan, plan_path, o);
    for (uint32_t g = 0; rc == MX_OK && g < r->n_groups; g++)
        for (uint32_t j = 0; rc == MX_OK && j < sim_llm_group_model_count(r->w, g); j++) {
            uint32_t pm = sim_llm_group_model(r->w, g, j);
            const struct spec_plan_model *m = &r->plan->models[pm];
            if (!archs[pm] && prof_arch_find(o->zoo_dir, m->base, &archs[pm]) < 0) {
                char why[512];
                snprintf(why, sizeof(why), "%s", mx_error_message());
                return mx_error(MX_EINPUT, "%s: model \"%s\" cannot run: %s", plan_path, m->name,
                                why);
            }
            const struct prof_arch *a = archs[pm];
            int op = plan_group(r, g)->op;
            struct kern_dec_shape s = {a->hidden, a->heads, a->kv_heads, a->ffn, a->vocab, op, 0};
            if (a->kind != PROF_ARCH_DECODER || a->experts > 0)
                rc = mx_error(MX_EINPUT,
                              "%s: model \"%s\" (%s) is not a dense decoder: the decoder runtime "
                              "runs Llama-style decoders without experts",
                              plan_path, m->name, a->name);
            else if (kern_dec_shape_check(&s) < 0)
                rc = mx_error(MX_EINPUT, "%s: model \"%s\" cannot run at op %d: %s", plan_path,
                              m->name, op, mx_error_message());
        }
    return rc;
}

/* ---- set-up ---- */

static void flight_init(struct llm_flight *f, uint32_t max_tokens, int64_t hidden)
{
    *f = (struct llm_flight){0};
    f->req = MX_NEW_ARRAY(uint32_t, max_tokens);
    f->tokens = MX_NEW_ARRAY(uint32_t, max_tokens);
    f->cached = MX_NEW_ARRAY(uint32_t, max_tokens);
    f->emits = MX_NEW_ARRAY(bool, max_tokens);
    f->next = MX_NEW_ARRAY(int64_t, max_tokens);
    f->x = mx_malloc_array((size_t)max_tokens * (size_t)hidden, sizeof(float));
}

static void flight_release(struct llm_flight *f)
{
    free(f->req);
    free(f->tokens);
    free(f->cached);
    free(f->emits);
    free(f->next);
    free(f->release);
    free(f->x);
}

/* Stage k's layers of a model with config (1, op, pp): the profile's ranges, else an even split. */
static void stage_layers(const struct spec_config *cfg, const struct prof_arch *a, int32_t pp,
                         int32_t k, int32_t *begin, int32_t *end)
{
    if (cfg && cfg->layer_ranges) {
        *begin = cfg->layer_ranges[2 * k];
        *end = cfg->layer_ranges[2 * k + 1];
    } else {
        *begin = (int32_t)(a->layers * k / pp);
        *end = (int32_t)(a->layers * (k + 1) / pp);
    }
}

/* The warm-up iteration (rt_llm_worker.c runs it): one prefill chunk of this many tokens. */
uint32_t rt_llm__warm_tokens(const struct llm_run *r, uint32_t g)
{
    uint32_t t = sim_llm_group_max_batch_tokens(r->w, g);
    return t < 128 ? t : 128;
}

/* The profile's cost of stage k's warm-up iteration of cfg, stage factor 1 (NaN: no config). */
static double warm_profiled_s(const struct spec_config *cfg, uint32_t k, uint32_t tokens)
{
    if (!cfg || cfg->decoder.n_tokens == 0)
        return NAN;
    double t = (double)tokens;
    return spec_decoder_dense_s(&cfg->decoder, k, t) +
           cfg->decoder.prefill_pair_s[k] * t * (t + 1) / 2 + cfg->decoder.iteration_s[k];
}

/* The worker of rank `rank` of stage k of decoder group g: what it builds (it builds it itself,
 * on its own core). */
static void worker_init(struct llm_run *r, struct llm_worker *wk, uint32_t g, uint32_t k,
                        unsigned rank, struct prof_arch *const *archs)
{
    const struct spec_plan_group *pg = plan_group(r, g);
    struct llm_group_rt *grp = &r->groups[g];
    *wk = (struct llm_worker){.run = r, .group = grp, .unit = &grp->units[k], .g = g, .rank = rank};
    wk->device = pg->devices[k * (uint32_t)pg->op + rank];
    wk->core = r->o->cores ? r->o->cores[wk->device] : wk->device;
    wk->models = MX_NEW_ARRAY(struct llm_model_stage, grp->n_models);
    wk->warm_runs = MX_NEW_ARRAY(uint32_t, grp->n_models);
    wk->warm_s = MX_NEW_ARRAY(double, (size_t)grp->n_models *RT_WARM_SAMPLES);
    for (uint32_t j = 0; j < grp->n_models; j++) {
        uint32_t pm = sim_llm_group_model(r->w, g, j);
        const struct prof_arch *a = archs[pm];
        struct llm_model_stage *ms = &wk->models[j];
        const struct spec_config *cfg =
            spec_profile_find(r->db, r->plan->models[pm].base, 1, pg->op, pg->pp);
        ms->arch = a;
        ms->shape = (struct kern_dec_shape){a->hidden, a->heads, a->kv_heads,  a->ffn,
                                            a->vocab,  pg->op,   (int64_t)rank};
        stage_layers(cfg, a, pg->pp, (int32_t)k, &ms->layer_begin, &ms->layer_end);
        ms->first = k == 0;
        ms->last = k + 1 == grp->pp;
        ms->profiled_s = warm_profiled_s(cfg, k, rt_llm__warm_tokens(r, g));
    }
}

static void groups_init(struct llm_run *r, struct prof_arch *const *archs)
{
    r->groups = MX_NEW_ARRAY(struct llm_group_rt, r->n_groups ? r->n_groups : 1);
    for (uint32_t g = 0; g < r->n_groups; g++) {
        const struct spec_plan_group *pg = plan_group(r, g);
        struct llm_group_rt *grp = &r->groups[g];
        grp->pp = (uint32_t)pg->pp;
        grp->op = (uint32_t)pg->op;
        grp->n_models = sim_llm_group_model_count(r->w, g);
        grp->max_batch_tokens = sim_llm_group_max_batch_tokens(r->w, g);
        for (uint32_t j = 0; j < grp->n_models; j++) {
            const struct prof_arch *a = archs[sim_llm_group_model(r->w, g, j)];
            grp->max_hidden = a->hidden > grp->max_hidden ? a->hidden : grp->max_hidden;
        }
        atomic_init(&grp->wake, 0);
        grp->units = MX_NEW_ARRAY(struct llm_unit, grp->pp);
        grp->flights = MX_NEW_ARRAY(struct llm_flight, grp->pp);
        for (uint32_t k = 0; k < grp->pp; k++) {
            struct llm_unit *u = &grp->units[k];
            u->group = g;
            u->stage = k;
            rt_team_init(&u->team, grp->op);
            /* At most pp flights exist: the inbox never fills. */
            rt_queue_init(&u->inbox, grp->pp);
            atomic_init(&u->failed, false);
            flight_init(&grp->flights[k], grp->max_batch_tokens, grp->max_hidden);
        }
        r->n_workers += grp->pp * grp->op;
    }
    r->workers = MX_NEW_ARRAY(struct llm_worker, r->n_workers ? r->n_workers : 1);
    uint32_t next = 0;
    for (uint32_t g = 0; g < r->n_groups; g++)
        for (uint32_t k = 0; k < r->groups[g].pp; k++)
            for (unsigned rank = 0; rank < r->groups[g].op; rank++)
                worker_init(r, &r->workers[next++], g, k, rank, archs);
}

static void run_init(struct llm_run *r)
{
    const struct sim_llm *w = r->w;
    r->n = sim_llm_requests(w);
    r->n_groups = sim_llm_group_count(w);
    r->control = sim_llm_control_new(w);
    r->gen_start = MX_NEW_ARRAY(size_t, r->n + 1);
    for (size_t i = 0; i < r->n; i++)
        r->gen_start[i + 1] = r->gen_start[i] + sim_llm_request_output(w, i);
    r->gen = MX_NEW_ARRAY(int32_t, r->gen_start[r->n] ? r->gen_start[r->n] : 1);
    atomic_init(&r->closing, false);
    pthread_mutex_init(&r->lock, NULL);
}

static void worker_release(struct llm_worker *wk)
{
    const struct llm_group_rt *grp = wk->group;
    for (uint32_t j = 0; wk->models && j < grp->n_models; j++) {
        struct llm_model_stage *ms = &wk->models[j];
        for (int32_t l = 0; ms->layers && l < ms->layer_end - ms->layer_begin; l++)
            kern_dec_layer_release(&ms->layers[l]);
        free(ms->layers);
        kern_dec_ends_release(&ms->ends);
        kern_dec_scratch_free(ms->scratch);
    }
    for (size_t i = 0; wk->tables && i < wk->run->n; i++)
        kern_kv_table_free(&wk->tables[i]);
    for (uint32_t p = 0; p < wk->n_pools; p++)
        kern_kv_pool_free(wk->pools[p]);
    free(wk->pools);
    free(wk->pool_block_bytes);
    free(wk->tables);
    free(wk->models);
    free(wk->seqs);
    free(wk->ids);
    free(wk->rows);
    free(wk->next);
    free(wk->x);
    free(wk->warm_runs);
    free(wk->warm_s);
}

static void run_release(struct llm_run *r)
{
    for (uint32_t i = 0; r->workers && i < r->n_workers; i++)
        worker_release(&r->workers[i]);
    for (uint32_t g = 0; r->groups && g < r->n_groups; g++) {
        struct llm_group_rt *grp = &r->groups[g];
        for (uint32_t k = 0; k < grp->pp; k++) {
            struct llm_unit *u = &grp->units[k];
            rt_team_release(&u->team);
            rt_queue_release(&u->inbox);
            free(u->run_ns);
            free(u->predicted_ns);
            flight_release(&grp->flights[k]);
        }
        free(grp->units);
        free(grp->flights);
        free(grp->finished);
    }
    free(r->workers);
    free(r->groups);
    free(r->gen_start);
    free(r->gen);
    sim_llm_control_free(r->control);
    pthread_mutex_destroy(&r->lock);
}

int64_t rt_llm__token(const struct llm_run *r, uint32_t i, int64_t pos, int64_t vocab)
{
    int64_t input = sim_llm_request_input(r->w, i);
    if (pos >= input)
        return r->gen[r->gen_start[i] + (size_t)(pos - input)];
    return kern_token(r->o->seed ^ (uint64_t)sim_llm_request(r->w, i), pos, vocab);
}

/* ---- the run ---- */

/* Wait until wall time due, or a stop: sleep in slices of at most 100 ms until SPIN_NS before
 * it, then poll. */
static void wait_for(const struct llm_run *r, mx_ns due)
{
    mx_ns now;
    while ((now = rt__now()) < due - SPIN_NS && !(r->o->stop && *r->o->stop)) {
        mx_ns slice = due - SPIN_NS - now;
        rt__sleep_until(now + (slice < MX_NS_PER_S / 10 ? slice : MX_NS_PER_S / 10));
    }
    if (!(r->o->stop && *r->o->stop))
        rt__wait_until(due);
}

static void wake(struct llm_run *r, uint32_t g)
{
    atomic_fetch_add(&r->groups[g].wake, 1);
}

/* The requests' three steps at the controller, each in trace order (the overheads are constant):
 * reaching it (dispatch), reaching their group (admission), becoming ready there. */
struct cursors {
    size_t d, a, y;
    int32_t *group;  /* [n] the decoder group it was dispatched to, or -1 */
    mx_ns *ready_ns; /* [n] when admitted: it may be scheduled from then; else MX_NS_NEVER */
};

/* The next step's trace time, or MX_NS_NEVER. */
static mx_ns next_step(const struct llm_run *r, const struct cursors *c, bool releasing)
{
    const struct sim_llm_overheads oh = sim_llm_overheads(r->w);
    mx_ns t = MX_NS_NEVER;
    if (releasing && c->d < r->n)
        t = sim_llm_request_arrival_ns(r->w, c->d) + oh.client_ns;
    if (c->a < c->d) {
        mx_ns at = sim_llm_request_arrival_ns(r->w, c->a) + oh.client_ns + oh.dispatch_ns;
        t = at < t ? at : t;
    }
    size_t y = c->y; /* refused requests never become ready */
    while (y < c->a && c->ready_ns[y] == MX_NS_NEVER)
        y++;
    if (y < c->a && c->ready_ns[y] < t)
        t = c->ready_ns[y];
    return t;
}

/* Take every step due by now (trace time), under the lock: the scheduler sees requests at the
 * same time together, as the simulator does. */
static void take_steps(struct llm_run *r, struct cursors *c, mx_ns now, bool releasing)
{
    const struct sim_llm_overheads oh = sim_llm_overheads(r->w);
    for (; releasing && c->d < r->n && sim_llm_request_arrival_ns(r->w, c->d) + oh.client_ns <= now;
         c->d++)
        if ((c->group[c->d] = sim_llm_control_dispatch(r->control, (uint32_t)c->d, now)) < 0)
            r->ended++;
    for (; c->a < c->d &&
           sim_llm_request_arrival_ns(r->w, c->a) + oh.client_ns + oh.dispatch_ns <= now;
         c->a++) {
        c->ready_ns[c->a] = MX_NS_NEVER;
        if (c->group[c->a] < 0)
            continue;
        if (sim_llm_control_admit(r->control, (uint32_t)c->a, now))
            c->ready_ns[c->a] = now + oh.exec_ns;
        else
            r->ended++;
    }
    for (; c->y < c->a && (c->ready_ns[c->y] == MX_NS_NEVER || c->ready_ns[c->y] <= now); c->y++)
        if (c->ready_ns[c->y] != MX_NS_NEVER)
            wake(r, (uint32_t)c->group[c->y]);
}

/* Release every request at its time until the end or a stop, then wait for the released ones to
 * end. */
static void control_loop(struct llm_run *r)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* wake on time, not up to 50 us late */
    struct sched_param previous_param, realtime = {.sched_priority = 1};
    int previous_policy;
    pthread_getschedparam(pthread_self(), &previous_policy, &previous_param);
    r->report->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &realtime) == 0;
    size_t n = r->n ? r->n : 1;
    struct cursors c = {0, 0, 0, MX_NEW_ARRAY(int32_t, n), MX_NEW_ARRAY(mx_ns, n)};
    for (;;) {
        bool releasing = !(r->o->stop && *r->o->stop);
        mx_ns t = next_step(r, &c, releasing);
        if (t == MX_NS_NEVER)
            break;
        wait_for(r, rt_llm__wall_time(r, t));
        releasing = !(r->o->stop && *r->o->stop);
        pthread_mutex_lock(&r->lock);
        take_steps(r, &c, rt_llm__trace_time(r, rt__now()), releasing);
        pthread_mutex_unlock(&r->lock);
        r->report->released = c.d;
        mx_progress_report(&r->o->progress, r->n ? (double)c.d / (double)r->n : 1);
    }
    r->report->interrupted = c.d < r->n;
    pthread_setschedparam(pthread_self(), previous_policy, &previous_param);
    for (;;) {
        pthread_mutex_lock(&r->lock);
        size_t ended = r->ended;
        pthread_mutex_unlock(&r->lock);
        if (ended > c.d)
            MX_BUG("%zu requests ended of %zu released: one ended twice", ended, c.d);
        if (ended == c.d)
            break;
        rt__sleep_until(rt__now() + DRAIN_POLL_NS);
    }
    free(c.group);
    free(c.ready_ns);
}

/* Start every worker and wait until all are built and warm; a failed build is the first
 * worker's message. */
static int start_workers(struct llm_run *r)
{
    int rc = MX_OK;
    pthread_barrier_init(&r->ready, NULL, r->n_workers + 1);
    for (uint32_t i = 0; i < r->n_workers; i++) {
        int err = pthread_create(&r->workers[i].thread, NULL, rt_llm__worker_main, &r->workers[i]);
        if (err != 0) {
            /* The barrier counts on every worker: a missing one would hang it for good. */
            fprintf(stderr, "muxplan: cannot start a worker thread: %s\n", strerror(err));
            abort();
        }
        r->workers[i].started = true;
    }
    pthread_barrier_wait(&r->ready);
    for (uint32_t i = 0; i < r->n_workers && rc == MX_OK; i++)
        if (r->workers[i].rc < 0)
            rc = mx_error(r->workers[i].rc, "%s", r->workers[i].error);
    return rc;
}

/* Every released request ended (or none will run): the workers stop. */
static void stop_workers(struct llm_run *r)
{
    atomic_store(&r->closing, true);
    for (uint32_t g = 0; g < r->n_groups; g++)
        wake(r, g);
    for (uint32_t i = 0; i < r->n_workers; i++)
        if (r->workers[i].started)
            pthread_join(r->workers[i].thread, NULL);
    pthread_barrier_destroy(&r->ready);
}

/* Copy the scheduler's results and the generated tokens into the report. */
static void keep_results(struct llm_run *r)
{
    sim_llm_control_finish(
        r->control,
        rt_llm__trace_time(r, r->last_end_wall > r->wall0 ? r->last_end_wall : r->wall0));
    const struct sim_llm_results *src = sim_llm_control_results(r->control);
    struct rt_llm_report *rep = r->report;
    size_t n = r->n ? r->n : 1, g = src->n_groups ? src->n_groups : 1;
    struct sim_llm_results *dst = MX_NEW(struct sim_llm_results);
    *dst = *src;
#define COPY(field, count)                                                                         \
    do {                                                                                           \
        dst->field = mx_malloc_array((count), sizeof(*src->field));                                \
        memcpy(dst->field, src->field, (count) * sizeof(*src->field));                             \
    } while (0)
    COPY(status, n);
    COPY(group, n);
    COPY(first_token_ns, n);
    COPY(finish_ns, n);
    COPY(generated, n);
    COPY(preemptions, n);
    COPY(iterations, g);
    COPY(tokens, g);
    COPY(busy_ns, g);
    COPY(kv_mean, g);
    COPY(kv_max, g);
    COPY(preempted, g);
    COPY(gap_bins, (size_t)SIM_LLM_GAP_BINS);
#undef COPY
    /* Stage 0's busy time is what it measured. */
    for (uint32_t k = 0; k < r->n_groups; k++) {
        const struct llm_unit *u = &r->groups[k].units[0];
        dst->busy_ns[k] = 0;
        for (size_t i = 0; i < u->n_runs; i++)
            dst->busy_ns[k] += u->run_ns[i];
    }
    rep->results = dst;
    rep->token_start = MX_NEW_ARRAY(size_t, r->n + 1);
    memcpy(rep->token_start, r->gen_start, (r->n + 1) * sizeof(size_t));
    rep->tokens = mx_malloc_array(r->gen_start[r->n] ? r->gen_start[r->n] : 1, sizeof(int32_t));
    memcpy(rep->tokens, r->gen, r->gen_start[r->n] * sizeof(int32_t));
}

int rt_llm_serve(const struct sim_llm *w, const struct spec_plan *plan, const char *plan_path,
                 const struct spec_profile *db, const struct rt_options *o,
                 struct rt_llm_report *out)
{
    struct llm_run run = {.w = w, .plan = plan, .db = db, .o = o, .report = out};
    struct prof_arch **archs = MX_NEW_ARRAY(struct prof_arch *, plan->n_models);
    *out = (struct rt_llm_report){.backend = o->backend->name, .calibration = NAN, .realized = NAN};
    run_init(&run);
    int rc = check(&run, plan_path, archs);
    if (rc == MX_OK) {
        groups_init(&run, archs);
        rc = start_workers(&run);
        if (rc == MX_OK) {
            run.trace0 = mx_s_to_ns(sim_llm_trace(w)->arrival_s[0]);
            run.wall0 = rt__now() + LEAD_NS;
            rt_llm__report_calibration(&run);
            if (!o->calibrate_only)
                control_loop(&run);
        }
        mx_ns released_wall = rt__now();
        stop_workers(&run);
        mx_ns end = run.last_end_wall > released_wall ? run.last_end_wall : released_wall;
        out->wall_s = o->calibrate_only || rc < 0 ? 0 : mx_ns_to_s(end - run.wall0);
        if (rc == MX_OK) {
            keep_results(&run);
            rt_llm__report_measurements(&run);
        }
    }
    run_release(&run);
    for (uint32_t m = 0; m < plan->n_models; m++)
        prof_arch_free(archs[m]);
    free(archs);
    if (rc < 0)
        rt_llm_report_release(out);
    return rc;
}
