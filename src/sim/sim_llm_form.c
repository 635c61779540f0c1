/* Forming an iteration (docs/decoders.md, "Forming an iteration" and "Cost of an iteration"): the
 * multi-model policy picks a model, then decodes, running prefills and new requests take tokens
 * within the batch budget, taking KV blocks and preempting by recompute when the pool runs dry;
 * the iteration then enters the group's pipeline. */
#include "sim_llm_int.h"

#include "mx_alloc.h"

#include <math.h>
#include <string.h>

uint32_t sim_llm__blocks_for(uint32_t tokens, uint32_t block_tokens)
{
    return tokens / block_tokens + (tokens % block_tokens != 0);
}

/* Add count blocks of cost's model (negative: return them) to every stage's use, keeping the
 * time-weighted record of the largest stage share. */
void sim_llm__change_blocks(struct llm_run *run, uint32_t g, const struct llm_cost *cost,
                            int64_t count)
{
    struct llm_group_state *st = &run->gs[g];
    const struct llm_group *lg = &run->w->groups[g];
    st->kv_area += st->kv_share * (double)(run->now - st->kv_since_ns);
    st->kv_since_ns = run->now;
    double share = 0;
    for (uint32_t s = 0; s < lg->pp; s++) {
        st->used_bytes[s] += count * cost->block_bytes[s];
        double f = (double)st->used_bytes[s] / (double)lg->pool_bytes[s];
        if (f > share)
            share = f;
    }
    st->kv_share = share;
    if (share > st->kv_max)
        st->kv_max = share;
}

/* How many more blocks of cost's model the pool can take on every stage, capped at want. */
uint32_t sim_llm__blocks_fit(const struct llm_run *run, uint32_t g, const struct llm_cost *cost,
                             uint32_t want)
{
    const struct llm_group_state *st = &run->gs[g];
    const struct llm_group *lg = &run->w->groups[g];
    uint64_t fit = want;
    for (uint32_t s = 0; s < lg->pp; s++)
        if (cost->block_bytes[s] > 0) {
            uint64_t room =
                (uint64_t)(lg->pool_bytes[s] - st->used_bytes[s]) / (uint64_t)cost->block_bytes[s];
            if (room < fit)
                fit = room;
        }
    return (uint32_t)fit;
}

/* Whether request i is short of blocks (counted by its group). */
static void set_short(struct llm_run *run, uint32_t g, uint32_t i, bool is_short)
{
    if (!(run->flags[i] & LLM_SHORT) == !is_short)
        return;
    run->flags[i] ^= LLM_SHORT;
    run->gs[g].n_short += is_short ? 1 : (uint32_t)-1;
}

void sim_llm__release(struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i)
{
    if (run->blocks[i])
        sim_llm__change_blocks(run, g, &run->w->groups[g].costs[slot], -(int64_t)run->blocks[i]);
    run->blocks[i] = 0;
    set_short(run, g, i, false);
}

static uint32_t position(const struct llm_lane *lane, uint32_t i)
{
    uint32_t k = 0;
    while (lane->running[k] != i)
        k++;
    return k;
}

/* Preempt running request i (of the model in slot): free its blocks, recompute its prompt and
 * generated tokens later, back to its place in its model's waiting queue. */
static void preempt(struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i)
{
    const struct sim_llm *w = run->w;
    struct llm_group_state *st = &run->gs[g];
    struct llm_lane *lane = &st->lanes[slot];
    uint32_t k = position(lane, i);
    memmove(lane->running + k, lane->running + k + 1, (lane->n_running - k - 1) * sizeof(uint32_t));
    lane->n_running--;
    sim_llm__release(run, g, slot, i);
    uint32_t before = sim_llm__prefill_left(run, i);
    run->prefill_len[i] = w->input[i] + run->r->generated[i];
    run->computed[i] = 0;
    st->prefill_left += (int64_t)run->prefill_len[i] - before;
    st->outstanding_tokens += (int64_t)run->prefill_len[i] - before;
    run->flags[i] &= (uint8_t)~LLM_RUNNING;
    sim_llm__queue_push(&lane->waiting, i);
    run->r->preemptions[i]++;
    run->r->preempted[g]++;
    if (run->controlled)
        run->preempted_now[run->n_preempted_now++] = i;
}

/* The victim when requester lacks a block: the group's running request of any model, latest in
 * priority, neither in flight nor in the iteration being formed, and after the requester; or
 * UINT32_MAX. *victim_slot receives its model's slot. */
static uint32_t victim(const struct llm_run *run, uint32_t g, uint32_t requester,
                       uint32_t *victim_slot)
{
    const struct llm_group_state *st = &run->gs[g];
    uint32_t best = UINT32_MAX;
    for (uint32_t j = 0; j < run->w->groups[g].n_models; j++) {
        const struct llm_lane *lane = &st->lanes[j];
        for (uint32_t k = lane->n_running; k-- > 0;) {
            uint32_t i = lane->running[k];
            if (i <= requester || (best != UINT32_MAX && i <= best))
                break;
            if (!(run->flags[i] & (LLM_IN_FLIGHT | LLM_IN_ITERATION))) {
                best = i;
                *victim_slot = j;
                break;
            }
        }
    }
    return best;
}

/* An iteration being formed. */
struct forming {
    struct llm_flight *f;
    uint32_t budget, tokens;
    uint64_t pairs, context;
    bool preempted; /* in this attempt: no new requests this time */
};

/* Give running request i the blocks it lacks to hold upto computed tokens, preempting requests
 * after it; false on a shortage (it keeps what it has). Victims come after i in priority, so they
 * are after it in its model's list too: a caller walking that list is not disturbed. */
static bool acquire(struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i, uint32_t upto,
                    struct forming *fm)
{
    const struct llm_cost *cost = &run->w->groups[g].costs[slot];
    uint32_t want = sim_llm__blocks_for(upto, run->w->settings.block_tokens);
    /* After a shortage it may hold more than this time's chunk needs. */
    uint32_t need = want > run->blocks[i] ? want - run->blocks[i] : 0;
    while (need > 0) {
        uint32_t take = sim_llm__blocks_fit(run, g, cost, need);
        if (take > 0) {
            sim_llm__change_blocks(run, g, cost, take);
            run->blocks[i] += take;
            need -= take;
            continue;
        }
        uint32_t v_slot = 0, v = victim(run, g, i, &v_slot);
        if (v == UINT32_MAX) {
            set_short(run, g, i, true);
            return false;
        }
        fm->preempted = true;
        preempt(run, g, v_slot, v);
    }
    set_short(run, g, i, false);
    return true;
}

/* Request i takes t tokens of the iteration. */
static void take_tokens(struct llm_run *run, uint32_t g, uint32_t i, uint32_t t, struct forming *fm)
{
    struct llm_group_state *st = &run->gs[g];
    uint64_t k = run->computed[i];
    if (k >= run->prefill_len[i]) {
        fm->context += k + 1;
    } else {
        fm->pairs += (uint64_t)t * k + (uint64_t)t * (t + 1) / 2;
        st->prefill_left -= t;
        st->outstanding_tokens -= t;
    }
    run->computed[i] += t;
    run->flags[i] |= LLM_IN_ITERATION;
    fm->f->tokens[fm->f->n] = t;
    fm->f->req[fm->f->n++] = i;
    fm->budget -= t;
    fm->tokens += t;
}

/* Steps 1 and 2: decodes, then running prefills, in admission order. */
static void take_running(struct llm_run *run, uint32_t g, uint32_t slot, struct forming *fm)
{
    struct llm_lane *lane = &run->gs[g].lanes[slot];
    for (int step = 1; step <= 2 && fm->budget > 0; step++)
        for (uint32_t k = 0; k < lane->n_running && fm->budget > 0; k++) {
            uint32_t i = lane->running[k];
            bool decoding = run->computed[i] >= run->prefill_len[i];
            if ((run->flags[i] & (LLM_IN_FLIGHT | LLM_IN_ITERATION)) || decoding != (step == 1))
                continue;
            uint32_t t = decoding ? 1 : sim_llm__prefill_left(run, i);
            if (t > fm->budget)
                t = fm->budget;
            if (acquire(run, g, slot, i, run->computed[i] + t, fm))
                take_tokens(run, g, i, t, fm);
        }
}

/* Step 3: the heads of the waiting queue, while they fit; never preempts. */
static void take_waiting(struct llm_run *run, uint32_t g, uint32_t slot, struct forming *fm)
{
    const struct sim_llm *w = run->w;
    const struct llm_group *lg = &w->groups[g];
    const struct llm_cost *cost = &lg->costs[slot];
    struct llm_lane *lane = &run->gs[g].lanes[slot];
    while (fm->budget > 0 && lane->n_running < lg->max_seqs && lane->waiting.len > 0) {
        uint32_t i = sim_llm__queue_head(&lane->waiting);
        if (run->ready_ns[i] > run->now)
            break;
        uint32_t t = run->prefill_len[i] < fm->budget ? run->prefill_len[i] : fm->budget;
        uint32_t need = sim_llm__blocks_for(t, w->settings.block_tokens);
        if (sim_llm__blocks_fit(run, g, cost, need) < need)
            break;
        sim_llm__change_blocks(run, g, cost, need);
        run->blocks[i] = need;
        sim_llm__queue_pop(&lane->waiting);
        sim_llm__insert_sorted(lane->running, lane->n_running++, i);
        run->flags[i] |= LLM_RUNNING;
        take_tokens(run, g, i, t, fm);
    }
}

/* Enter the formed iteration into the pipeline: each stage after the previous one and after its
 * own previous iteration; under a controller, its times are told later. */
static void launch(struct llm_run *run, uint32_t g, uint32_t slot, const struct forming *fm)
{
    const struct llm_group *lg = &run->w->groups[g];
    const struct llm_cost *cost = &lg->costs[slot];
    struct llm_group_state *st = &run->gs[g];
    mx_ns end = run->controlled ? MX_NS_NEVER : run->now;
    if (run->controlled)
        st->stage0_free_ns = MX_NS_NEVER;
    for (uint32_t s = 0; s < lg->pp && !run->controlled; s++) {
        mx_ns ns = sim_llm__stage_ns(cost, s, fm->tokens, fm->pairs, fm->context);
        if (s > 0 && st->stage_free_ns[s] > end)
            end = st->stage_free_ns[s];
        end += ns;
        st->stage_free_ns[s] = end;
        if (s == 0) {
            st->stage0_free_ns = end;
            run->r->busy_ns[g] += ns;
        }
    }
    struct llm_flight *f = fm->f;
    f->end_ns = end;
    f->slot = slot;
    for (uint32_t k = 0; k < f->n; k++)
        run->flags[f->req[k]] ^= LLM_IN_ITERATION | LLM_IN_FLIGHT;
    st->lanes[slot].n_in_flight += f->n;
    st->n_flights++;
    st->stage0_pending = true;
    st->last_slot = slot;
    run->r->iterations[g]++;
    run->r->tokens[g] += fm->tokens;
}

/* Try to form an iteration of the model in slot; whether one was launched. */
static bool try_model(struct llm_run *run, uint32_t g, uint32_t slot)
{
    const struct llm_group *lg = &run->w->groups[g];
    struct llm_group_state *st = &run->gs[g];
    struct forming fm = {&st->flights[(st->first_flight + st->n_flights) % lg->pp],
                         lg->max_batch_tokens,
                         0,
                         0,
                         0,
                         false};
    fm.f->n = 0;
    take_running(run, g, slot, &fm);
    if (!fm.preempted && st->n_short == 0)
        take_waiting(run, g, slot, &fm);
    if (fm.tokens == 0)
        return false;
    launch(run, g, slot, &fm);
    return true;
}

bool sim_llm__form(struct llm_run *run, uint32_t g)
{
    const struct llm_group *lg = &run->w->groups[g];
    struct llm_group_state *st = &run->gs[g];
    st->dirty = false;
    if (st->stage0_free_ns > run->now || st->n_flights >= lg->pp)
        return false;
    uint32_t order[SIM_LLM_MAX_GROUP_MODELS];
    uint32_t n = sim_llm__model_order(run, g, order);
    for (uint32_t k = 0; k < n; k++)
        if (try_model(run, g, order[k]))
            return true;
    return false;
}
