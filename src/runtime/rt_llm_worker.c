/* The decoder runtime's workers: each runs one rank of one stage of a decoder group, for every
 * model the group hosts. Stage 0's leader (its rank 0) asks the scheduler for the group's next
 * iteration whenever stage 0 is free and something changed, and shares it with the stage's other
 * ranks; every rank frees the KV blocks of the requests the iteration lists, takes the blocks its
 * entries need, embeds or takes the activations, and runs the stage's layers over the batch; the
 * leader hands the iteration on, and the last stage's leader gives the scheduler its end and the
 * emitted tokens. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include "rt_llm_int.h"

#include "kern_weights.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "mx_time.h"
#include "prof_arch.h"
#include "spec_plan.h"

#include <cblas.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ---- */

static void team_sum(void *ctx, float *buf, float *scratch, size_t n)
{
    struct llm_worker *wk = ctx;
    rt_team_allreduce(&wk->unit->team, wk->rank, buf, scratch, n);
}

static int pin(const struct llm_worker *wk)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(wk->core, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (err != 0)
        return mx_error(MX_EIO, "device %u: cannot pin its worker to core %u: %s", wk->device,
                        wk->core, strerror(err));
    return MX_OK;
}

/* The pools: one per KV shape (the stage's layers, the rank's KV heads, the head size) among the
 * hosted models, each with room for the most blocks the scheduler can give its models: the
 * stage's pool over their block size. The scheduler counts the stage's pool in bytes shared by
 * every model, so the blocks taken never hold more than that at once, whatever the shapes. */
static void build_pools(struct llm_worker *wk)
{
    const struct llm_run *r = wk->run;
    const struct llm_group_rt *grp = wk->group;
    uint32_t k = wk->unit->stage;
    int64_t pool_bytes = sim_llm_group_pool_bytes(r->w, wk->g, k);
    int64_t *most = MX_NEW_ARRAY(int64_t, grp->n_models);
    wk->pools = MX_NEW_ARRAY(struct kern_kv_pool *, grp->n_models);
    wk->pool_block_bytes = MX_NEW_ARRAY(int64_t, grp->n_models);
    for (uint32_t j = 0; j < grp->n_models; j++) {
        struct llm_model_stage *ms = &wk->models[j];
        int64_t layers = ms->layer_end - ms->layer_begin;
        int64_t heads = kern_dec_rank_kv_heads(&ms->shape), d = kern_dec_head_dim(&ms->shape);
        int64_t block = sim_llm_block_bytes(r->w, wk->g, j, k);
        int64_t blocks = block > 0 ? pool_bytes / block : 1;
        uint32_t p = 0;
        while (p < wk->n_pools && !(kern_kv_pool_layers(wk->pools[p]) == layers &&
                                    kern_kv_pool_kv_heads(wk->pools[p]) == heads &&
                                    kern_kv_pool_head_dim(wk->pools[p]) == d))
            p++;
        if (p == wk->n_pools) {
            /* A placeholder of one block, replaced once every model's need is known. */
            wk->pools[wk->n_pools++] = kern_kv_pool_new(layers, heads, d, 1);
            most[p] = 0;
        }
        most[p] = blocks > most[p] ? blocks : most[p];
        ms->pool = p;
    }
    for (uint32_t p = 0; p < wk->n_pools; p++) {
        struct kern_kv_pool *shape = wk->pools[p];
        int64_t blocks = most[p] < 1 ? 1 : most[p] > INT32_MAX ? INT32_MAX : most[p];
        wk->pools[p] = kern_kv_pool_new(kern_kv_pool_layers(shape), kern_kv_pool_kv_heads(shape),
                                        kern_kv_pool_head_dim(shape), (int32_t)blocks);
        wk->pool_block_bytes[p] = (int64_t)kern_kv_block_bytes(
            kern_kv_pool_layers(shape), kern_kv_pool_kv_heads(shape), kern_kv_pool_head_dim(shape));
        kern_kv_pool_free(shape);
    }
    free(most);
}

static int build(struct llm_worker *wk)
{
    const struct llm_run *r = wk->run;
    const struct llm_group_rt *grp = wk->group;
    int rc = pin(wk);
    if (rc < 0)
        return rc;
    /* A device is one core: OpenBLAS must not start threads of its own (process-wide). */
    openblas_set_num_threads(1);
    uint32_t seqs = sim_llm_group_max_seqs(r->w, wk->g);
    int64_t tokens = grp->max_batch_tokens, lm_rows = seqs < tokens ? seqs : tokens;
    for (uint32_t j = 0; j < grp->n_models; j++) {
        struct llm_model_stage *ms = &wk->models[j];
        const char *name = r->plan->models[sim_llm_group_model(r->w, wk->g, j)].name;
        uint64_t seed = mx_rng_derive(r->o->seed, name, 0);
        int32_t n_layers = ms->layer_end - ms->layer_begin;
        ms->layers = MX_NEW_ARRAY(struct kern_dec_layer, (size_t)n_layers);
        for (int32_t l = 0; l < n_layers; l++)
            kern_dec_layer_init(&ms->layers[l], &ms->shape, seed, ms->layer_begin + l);
        kern_dec_ends_init(&ms->ends, &ms->shape, seed, ms->first, ms->last);
        ms->scratch = kern_dec_scratch_new(&ms->shape);
        kern_dec_scratch_reserve(ms->scratch, tokens, ms->arch->context_tokens,
                                 ms->last ? lm_rows : 0);
    }
    build_pools(wk);
    wk->tables = MX_NEW_ARRAY(struct kern_kv_table, r->n ? r->n : 1);
    wk->seqs = MX_NEW_ARRAY(struct kern_dec_seq, (size_t)tokens);
    wk->ids = MX_NEW_ARRAY(int64_t, (size_t)tokens);
    wk->rows = MX_NEW_ARRAY(int64_t, (size_t)tokens);
    wk->next = MX_NEW_ARRAY(int64_t, (size_t)tokens);
    /* Activations of unit scale until a stage before writes some (the warm-up of inner stages). */
    wk->x = kern_weight_rows(kern_dec_weight_seed(r->o->seed, -1, KERN_DEC_EMBEDDING), 0, tokens,
                             grp->max_hidden, 1.0f);
    wk->reduce = (struct kern_allreduce){team_sum, wk};
    return MX_OK;
}

/* ---- running an iteration ---- */

/* The slot of request i's model in the group. */
static uint32_t slot_of(const struct llm_worker *wk, uint32_t i)
{
    uint32_t pm = sim_llm_request_plan_model(wk->run->w, i), j = 0;
    while (sim_llm_group_model(wk->run->w, wk->g, j) != pm)
        j++;
    return j;
}

/* Give request i's blocks back (it finished or was preempted). */
static void release_request(struct llm_worker *wk, uint32_t i)
{
    struct kern_kv_table *t = &wk->tables[i];
    if (t->n == 0)
        return;
    uint32_t p = wk->models[slot_of(wk, i)].pool;
    wk->kv_bytes -= t->n * wk->pool_block_bytes[p];
    kern_kv_table_release_blocks(t, wk->pools[p]);
    kern_kv_table_free(t);
}

/* Take the blocks request i lacks to hold upto tokens. The scheduler gave them: a pool that runs
 * dry means its accounting and this one differ, a bug. */
static void take_blocks(struct llm_worker *wk, uint32_t p, uint32_t i, int64_t upto)
{
    struct kern_kv_table *t = &wk->tables[i];
    for (int64_t need = kern_kv_blocks_for(upto); t->n < need;) {
        int32_t b = kern_kv_alloc(wk->pools[p]);
        if (b < 0)
            MX_BUG("group %u stage %u: the KV pool of %d blocks is full, though the scheduler "
                   "gave request %u its blocks",
                   wk->g, wk->unit->stage, (int)kern_kv_pool_blocks(wk->pools[p]), i);
        kern_kv_table_append(t, b);
        wk->kv_bytes += wk->pool_block_bytes[p];
    }
    if (wk->kv_bytes > wk->kv_peak_bytes)
        wk->kv_peak_bytes = wk->kv_bytes;
}

/* Run this rank's share of flight f on its stage. */
static void run_flight(struct llm_worker *wk, struct llm_flight *f)
{
    const struct llm_run *r = wk->run;
    struct llm_model_stage *ms = &wk->models[f->slot];
    const struct kern_dec_shape *s = &ms->shape;
    const struct kern_allreduce *reduce = s->op > 1 ? &wk->reduce : NULL;
    struct kern_kv_pool *pool = wk->pools[ms->pool];
    int64_t h = s->hidden;
    for (uint32_t k = 0; k < f->n_release; k++)
        release_request(wk, f->release[k]);
    for (uint32_t e = 0; e < f->n; e++) {
        uint32_t i = f->req[e];
        take_blocks(wk, ms->pool, i, (int64_t)f->cached[e] + f->tokens[e]);
        wk->seqs[e] = (struct kern_dec_seq){&wk->tables[i], f->cached[e], f->tokens[e]};
    }
    if (ms->first) {
        int64_t row = 0;
        for (uint32_t e = 0; e < f->n; e++)
            for (uint32_t t = 0; t < f->tokens[e]; t++)
                wk->ids[row++] = rt_llm__token(r, f->req[e], (int64_t)f->cached[e] + t, s->vocab);
        kern_dec_embed(s, &ms->ends, wk->ids, f->rows, wk->x, ms->scratch, reduce);
    } else {
        memcpy(wk->x, f->x, (size_t)f->rows * (size_t)h * sizeof(float));
    }
    kern_dec_layers_forward(s, ms->layers, ms->layer_end - ms->layer_begin, pool, wk->seqs, f->n,
                            wk->x, ms->scratch, reduce);
    if (ms->last) {
        /* Only the entries that emit a token go through the LM head. */
        kern_dec_last_rows(wk->seqs, f->n, wk->rows);
        int64_t n_rows = 0;
        for (uint32_t e = 0; e < f->n; e++)
            if (f->emits[e])
                wk->rows[n_rows++] = wk->rows[e];
        kern_dec_next_tokens(s, &ms->ends, wk->x, wk->rows, n_rows, wk->next, ms->scratch, reduce);
        if (wk->rank == 0)
            for (uint32_t e = 0, k = 0; e < f->n; e++)
                f->next[e] = f->emits[e] ? wk->next[k++] : -1;
    } else if (wk->rank == 0) {
        /* Every other rank has read its input: the layers' all-reduces met after that. */
        memcpy(f->x, wk->x, (size_t)f->rows * (size_t)h * sizeof(float));
    }
}

/* ---- the leaders ---- */

static void record(struct llm_unit *u, mx_ns took, mx_ns predicted)
{
    if (u->n_runs == u->runs_cap) {
        u->runs_cap = u->runs_cap ? 2 * u->runs_cap : 1024;
        u->run_ns = mx_realloc_array(u->run_ns, u->runs_cap, sizeof(mx_ns));
        u->predicted_ns = mx_realloc_array(u->predicted_ns, u->runs_cap, sizeof(mx_ns));
    }
    u->run_ns[u->n_runs] = took;
    u->predicted_ns[u->n_runs++] = predicted;
}

/* The next iteration of the worker's group into f, if the scheduler forms one now (under the
 * lock): its entries, and the requests whose blocks every stage frees first. */
static bool form(struct llm_worker *wk, struct llm_flight *f)
{
    struct llm_run *r = wk->run;
    struct llm_group_rt *grp = wk->group;
    struct sim_llm_iteration it;
    if (!sim_llm_control_form(r->control, wk->g, rt_llm__trace_time(r, rt__now()), &it))
        return false;
    f->slot = it.slot;
    f->n = it.n;
    f->rows = 0;
    f->pairs = f->context = 0;
    for (uint32_t e = 0; e < it.n; e++) {
        uint64_t t = it.tokens[e], k = it.cached[e];
        f->req[e] = it.request[e];
        f->tokens[e] = it.tokens[e];
        f->cached[e] = it.cached[e];
        f->emits[e] = it.emits[e];
        f->rows += it.tokens[e];
        if (it.decode[e])
            f->context += k + 1;
        else
            f->pairs += t * k + t * (t + 1) / 2;
    }
    uint32_t release = it.n_preempted + grp->n_finished;
    if (release > f->release_cap) {
        f->release_cap = release;
        f->release = mx_realloc_array(f->release, release, sizeof(uint32_t));
    }
    if (it.n_preempted)
        memcpy(f->release, it.preempted, it.n_preempted * sizeof(uint32_t));
    if (grp->n_finished)
        memcpy(f->release + it.n_preempted, grp->finished, grp->n_finished * sizeof(uint32_t));
    f->n_release = release;
    grp->n_finished = 0;
    return true;
}

/* The last stage finished f at end (wall): its emitted tokens, then its end to the scheduler. */
static void finish(struct llm_worker *wk, struct llm_flight *f, mx_ns end)
{
    struct llm_run *r = wk->run;
    struct llm_group_rt *grp = wk->group;
    pthread_mutex_lock(&r->lock);
    mx_ns t = rt_llm__trace_time(r, end);
    if (grp->pp == 1)
        sim_llm_control_stage0_free(r->control, wk->g, t);
    for (uint32_t e = 0; e < f->n; e++)
        if (f->emits[e]) {
            uint32_t i = f->req[e];
            r->gen[r->gen_start[i] + sim_llm_control_generated(r->control, i)] =
                (int32_t)f->next[e];
        }
    sim_llm_control_end(r->control, wk->g, t);
    for (uint32_t e = 0; e < f->n; e++) {
        uint32_t i = f->req[e];
        if (!f->emits[e] || !sim_llm_control_done(r->control, i))
            continue;
        r->ended++;
        if (grp->n_finished == grp->finished_cap) {
            grp->finished_cap = grp->finished_cap ? 2 * grp->finished_cap : 64;
            grp->finished = mx_realloc_array(grp->finished, grp->finished_cap, sizeof(uint32_t));
        }
        grp->finished[grp->n_finished++] = i;
    }
    r->last_end_wall = end > r->last_end_wall ? end : r->last_end_wall;
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&grp->wake, 1);
}

/* Run flight f (index slot) on the leader's stage with its ranks, from `from` (when the stage
 * could have started it); then hand it on or end it. */
static void lead_flight(struct llm_worker *wk, uint32_t slot, mx_ns from)
{
    struct llm_run *r = wk->run;
    struct llm_group_rt *grp = wk->group;
    struct llm_unit *u = wk->unit;
    struct llm_flight *f = &grp->flights[slot];
    u->job = slot;
    rt_team_sync(&u->team); /* the job is out */
    run_flight(wk, f);
    rt_team_sync(&u->team); /* every rank is done with it */
    mx_ns end = rt__now();
    u->last_end_wall = end;
    record(u, end - from,
           sim_llm_stage_ns(r->w, wk->g, f->slot, u->stage, f->rows, f->pairs, f->context));
    if (u->stage + 1 == grp->pp) {
        finish(wk, f, end);
        return;
    }
    if (u->stage == 0) {
        pthread_mutex_lock(&r->lock);
        sim_llm_control_stage0_free(r->control, wk->g, rt_llm__trace_time(r, end));
        pthread_mutex_unlock(&r->lock);
    }
    f->handed_wall = end;
    bool pushed = rt_queue_push(&grp->units[u->stage + 1].inbox, slot);
    if (!pushed)
        MX_BUG("group %u: stage %u's inbox refused an iteration", wk->g, u->stage + 1);
}

/* Stage 0's leader: form an iteration whenever stage 0 is free and something changed (a request
 * became ready, an iteration ended, stage 0 itself freed), until every request ended. */
static void lead_first(struct llm_worker *wk)
{
    struct llm_run *r = wk->run;
    struct llm_group_rt *grp = wk->group;
    unsigned seen = atomic_load(&grp->wake) - 1;
    bool freed = false;
    while (!atomic_load(&r->closing)) {
        unsigned now = atomic_load(&grp->wake);
        if (now == seen && !freed) {
            sched_yield();
            continue;
        }
        seen = now;
        freed = false;
        uint32_t slot = grp->next_flight;
        mx_ns from = rt__now();
        pthread_mutex_lock(&r->lock);
        bool formed = form(wk, &grp->flights[slot]);
        pthread_mutex_unlock(&r->lock);
        if (!formed)
            continue;
        grp->next_flight = (slot + 1) % grp->pp;
        lead_flight(wk, slot, from);
        freed = true;
    }
}

/* A later stage's leader: run what the stage before hands on, until it closes. */
static void lead_later(struct llm_worker *wk)
{
    struct llm_unit *u = wk->unit;
    uint32_t slot;
    while (rt_queue_poll(&u->inbox, &slot, NULL)) {
        const struct llm_flight *f = &wk->group->flights[slot];
        mx_ns from = f->handed_wall > u->last_end_wall ? f->handed_wall : u->last_end_wall;
        lead_flight(wk, slot, from);
    }
}

static void leader_loop(struct llm_worker *wk)
{
    struct llm_unit *u = wk->unit;
    if (u->stage == 0)
        lead_first(wk);
    else
        lead_later(wk);
    u->job = RT_STOP;
    rt_team_sync(&u->team);
    if (u->stage + 1 < wk->group->pp)
        rt_queue_close(&wk->group->units[u->stage + 1].inbox);
}

static void follower_loop(struct llm_worker *wk)
{
    struct llm_unit *u = wk->unit;
    for (;;) {
        rt_team_sync(&u->team);
        if (u->job == RT_STOP)
            return;
        run_flight(wk, &wk->group->flights[u->job]);
        rt_team_sync(&u->team);
    }
}

/* ---- warm-up ---- */

/* One warm-up iteration of hosted model j: a prefill chunk of the group's warm-up tokens from an
 * empty cache, on blocks taken and given back; returns the seconds it took. */
static double warm_once(struct llm_worker *wk, uint32_t j)
{
    struct llm_model_stage *ms = &wk->models[j];
    const struct kern_dec_shape *s = &ms->shape;
    const struct kern_allreduce *reduce = s->op > 1 ? &wk->reduce : NULL;
    struct kern_kv_pool *pool = wk->pools[ms->pool];
    int64_t tokens = rt_llm__warm_tokens(wk->run, wk->g);
    struct kern_kv_table table = {0};
    while (table.n < kern_kv_blocks_for(tokens) && kern_kv_free_blocks(pool) > 0)
        kern_kv_table_append(&table, kern_kv_alloc(pool));
    if (table.n * KERN_KV_BLOCK_TOKENS < tokens)
        tokens = table.n * KERN_KV_BLOCK_TOKENS;
    double t0 = mx_wall_s();
    if (tokens > 0) {
        struct kern_dec_seq seq = {&table, 0, tokens};
        if (ms->first) {
            for (int64_t p = 0; p < tokens; p++)
                wk->ids[p] = kern_token(wk->run->o->seed, p, s->vocab);
            kern_dec_embed(s, &ms->ends, wk->ids, tokens, wk->x, ms->scratch, reduce);
        }
        kern_dec_layers_forward(s, ms->layers, ms->layer_end - ms->layer_begin, pool, &seq, 1,
                                wk->x, ms->scratch, reduce);
        if (ms->last) {
            int64_t row = tokens - 1;
            kern_dec_next_tokens(s, &ms->ends, wk->x, &row, 1, wk->next, ms->scratch, reduce);
        }
    }
    double took = mx_wall_s() - t0;
    kern_kv_table_release_blocks(&table, pool);
    kern_kv_table_free(&table);
    return took;
}

/* Run every hosted model in turn for RT_WARM_UP_NS (first touches, a core ramping up), keeping
 * the leader's last RT_WARM_SAMPLES times of each for the calibration. The leader's clock decides
 * when the stage stops, shared through the unit between two syncs. */
static void warm_up(struct llm_worker *wk)
{
    struct llm_unit *u = wk->unit;
    mx_ns until = rt__now() + RT_WARM_UP_NS;
    for (;;) {
        for (uint32_t j = 0; j < wk->group->n_models; j++) {
            double took = warm_once(wk, j);
            if (wk->rank == 0)
                wk->warm_s[j * RT_WARM_SAMPLES + wk->warm_runs[j]++ % RT_WARM_SAMPLES] = took;
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

void *rt_llm__worker_main(void *arg)
{
    struct llm_worker *wk = arg;
    struct llm_unit *u = wk->unit;
    if ((wk->rc = build(wk)) < 0) {
        snprintf(wk->error, sizeof(wk->error), "%s", mx_error_message());
        atomic_store(&u->failed, true);
    }
    rt_team_sync(&u->team); /* every rank built, or the stage failed */
    if (!atomic_load(&u->failed))
        warm_up(wk);
    pthread_barrier_wait(&wk->run->ready);
    if (wk->rank == 0)
        leader_loop(wk);
    else
        follower_loop(wk);
    return NULL;
}
