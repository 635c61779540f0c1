/* The choices of the decoder simulator (docs/decoders.md): which hosted model a group serves next
 * (the multi-model policy), which replica a request goes to (dispatch), and whether a group takes
 * it (admission). */
#include "sim_llm_int.h"

/* a * b for a, b >= 0, or MX_NS_NEVER when it would not fit. */
static mx_ns times_saturating(uint64_t a, mx_ns b)
{
    return b > 0 && a > (uint64_t)(MX_NS_NEVER / b) ? MX_NS_NEVER : (mx_ns)a * b;
}

/* a + b for a time a and a non-negative b, or MX_NS_NEVER. */
static mx_ns plus_saturating(mx_ns a, mx_ns b)
{
    return b >= MX_NS_NEVER - a ? MX_NS_NEVER : a + b;
}

static bool has_work(const struct llm_run *run, const struct llm_lane *lane)
{
    return lane->n_running > lane->n_in_flight ||
           (lane->waiting.len > 0 &&
            run->ready_ns[sim_llm__queue_head(&lane->waiting)] <= run->now);
}

/* Wide enough for any product of a token count and a time. */
__extension__ typedef __int128 wide_ns;

/* When request i must have its next token to stay within its SLOs (docs/decoders.md, slack), or
 * MX_NS_NEVER when it has no such SLO or the time would pass the largest (computed exactly). */
static mx_ns next_token_deadline(const struct llm_run *run, uint32_t i)
{
    const struct sim_llm *w = run->w;
    uint32_t g = run->r->generated[i];
    mx_ns slo = g == 0 ? w->ttft_slo_ns[i] : w->tpot_slo_ns[i];
    if (slo == MX_NS_NEVER)
        return MX_NS_NEVER;
    mx_ns from = g == 0 ? w->arrival_ns[i] : run->r->first_token_ns[i];
    wide_ns due = (wide_ns)from + (wide_ns)(g == 0 ? 1 : g) * slo - w->reply_ns;
    return due >= MX_NS_NEVER ? MX_NS_NEVER : (mx_ns)due;
}

/* The key the policy orders a model by (smaller first): for fcfs the arrival of its earliest
 * schedulable request, for slack its smallest deadline. */
static mx_ns model_key(const struct llm_run *run, const struct llm_lane *lane,
                       enum spec_mm_policy policy)
{
    const struct sim_llm *w = run->w;
    mx_ns key = MX_NS_NEVER;
    for (uint32_t k = 0; k < lane->n_running; k++) {
        uint32_t i = lane->running[k];
        if (run->flags[i] & LLM_IN_FLIGHT)
            continue;
        mx_ns v = policy == SPEC_MM_FCFS ? w->arrival_ns[i] : next_token_deadline(run, i);
        if (v < key)
            key = v;
        if (policy == SPEC_MM_FCFS)
            break; /* the list is in arrival order */
    }
    if (lane->waiting.len > 0) {
        uint32_t i = sim_llm__queue_head(&lane->waiting);
        if (run->ready_ns[i] <= run->now) {
            mx_ns v = policy == SPEC_MM_FCFS ? w->arrival_ns[i] : next_token_deadline(run, i);
            if (v < key)
                key = v;
        }
    }
    return key;
}

uint32_t sim_llm__model_order(const struct llm_run *run, uint32_t g, uint32_t *order)
{
    const struct llm_group *lg = &run->w->groups[g];
    const struct llm_group_state *st = &run->gs[g];
    uint32_t n = 0;
    for (uint32_t j = 0; j < lg->n_models; j++)
        if (has_work(run, &st->lanes[j]))
            order[n++] = j;
    if (n <= 1)
        return n;
    if (lg->policy == SPEC_MM_ROUND_ROBIN) {
        uint32_t first = 0;
        while (first < n && order[first] <= st->last_slot)
            first++;
        uint32_t rotated[SIM_LLM_MAX_GROUP_MODELS];
        for (uint32_t k = 0; k < n; k++)
            rotated[k] = order[(first + k) % n];
        for (uint32_t k = 0; k < n; k++)
            order[k] = rotated[k];
        return n;
    }
    mx_ns key[SIM_LLM_MAX_GROUP_MODELS];
    for (uint32_t k = 0; k < n; k++)
        key[k] = model_key(run, &st->lanes[order[k]], lg->policy);
    /* Insertion sort: stable, so ties keep the group's model order. */
    for (uint32_t k = 1; k < n; k++) {
        uint32_t j = order[k];
        mx_ns v = key[k];
        uint32_t p = k;
        for (; p > 0 && key[p - 1] > v; p--) {
            order[p] = order[p - 1];
            key[p] = key[p - 1];
        }
        order[p] = j;
        key[p] = v;
    }
    return n;
}

/* exec + ceil((Q + I) / B) * t_B + reply: the predicted TTFT of request i at group g, model slot,
 * with Q prefill tokens ahead of it. */
static mx_ns predicted_ttft_ns(const struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i,
                               int64_t q)
{
    const struct sim_llm *w = run->w;
    const struct llm_group *lg = &w->groups[g];
    uint64_t tokens = (uint64_t)q + w->input[i];
    uint64_t iterations = tokens / lg->max_batch_tokens + (tokens % lg->max_batch_tokens != 0);
    mx_ns wait = times_saturating(iterations, lg->costs[slot].full_batch_ns);
    return plus_saturating(wait, w->exec_ns + w->reply_ns);
}

/* The replica of request i's model with the smallest value (ties: the first). */
static uint32_t least(const struct llm_run *run, uint32_t i, uint32_t first, uint32_t n)
{
    const struct sim_llm *w = run->w;
    uint32_t best = 0;
    int64_t best_count = 0;
    double best_share = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct llm_replica *rep = &w->replicas[first + k];
        const struct llm_group_state *st = &run->gs[rep->group];
        int64_t count = 0;
        double share = 0;
        if (w->settings.dispatch == SPEC_LLM_LEAST_KV)
            share = st->kv_share;
        else if (w->settings.dispatch == SPEC_LLM_BEST_TTFT)
            count = predicted_ttft_ns(run, rep->group, rep->slot, i, st->prefill_left);
        else
            count = st->outstanding_tokens;
        if (k == 0 || count < best_count || share < best_share) {
            best = k;
            best_count = count;
            best_share = share;
        }
    }
    return best;
}

int32_t sim_llm__dispatch(struct llm_run *run, uint32_t i)
{
    const struct sim_llm *w = run->w;
    uint32_t m = w->model[i], first = w->rep_begin[m], n = w->rep_begin[m + 1] - first;
    if (n == 0)
        return -1;
    if (w->settings.dispatch == SPEC_LLM_ROUND_ROBIN)
        return (int32_t)(first + run->round_robin[m]++ % n);
    return (int32_t)(first + least(run, i, first, n));
}

bool sim_llm__admit(const struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i)
{
    const struct sim_llm *w = run->w;
    const struct llm_group *lg = &w->groups[g];
    const struct llm_cost *cost = &lg->costs[slot];
    uint64_t most = sim_llm__blocks_for(w->input[i] + w->output[i] - 1, w->settings.block_tokens);
    for (uint32_t s = 0; s < lg->pp; s++)
        if (cost->block_bytes[s] > 0 && most > (uint64_t)(lg->pool_bytes[s] / cost->block_bytes[s]))
            return false;
    if (w->settings.admission != SPEC_LLM_ADMIT_TTFT || w->ttft_slo_ns[i] == MX_NS_NEVER)
        return true;
    const struct llm_group_state *st = &run->gs[g];
    int64_t ahead = st->prefill_left - st->transit_prefill - (int64_t)w->input[i];
    mx_ns predicted = predicted_ttft_ns(run, g, slot, i, ahead);
    return plus_saturating(predicted, w->fixed_ns) <= w->ttft_slo_ns[i];
}
