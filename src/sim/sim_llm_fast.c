/* Steady decoding in closed form: the engine's shortcut (sim_llm__fast_forward, sim_llm_int.h).
 *
 * A group whose one active model runs only decodes, in one iteration at a time, with nothing
 * waiting and no request short, repeats the same iteration: every running request takes one
 * token, and the iteration passes the stages one after the other (nothing else is in the
 * pipeline). Until something can
 * change that — a request about to finish, a KV block that does not fit, a request becoming ready
 * at the group, or a dispatch decision that reads the group's state — each iteration follows from
 * the one before by arithmetic: iteration s of n decodes after a context sum C costs
 * dense(n) + round(b (C + n s)) + c; every request's token gap is the iteration's length; and the
 * requests that need a new KV block at s are those whose computed count is congruent to 1 - s
 * modulo the block size. This runs those iterations without the event loop and leaves the group as
 * the loop would have: the last iteration in flight, every counter, token time, block, gap and KV
 * record equal (the random-case tests compare both ways of running). */
#include "sim_llm_int.h"

#include "mx_alloc.h"

#include <stdlib.h>

/* The first time anything outside g may change what it does or read its state: a request becoming
 * ready there (one on its way: admitted or not, the earliest is the first dispatched; or one not
 * dispatched yet, of a model it hosts), or a dispatch decision on one of its models by a policy
 * that reads group state. */
static mx_ns horizon(const struct llm_run *run, uint32_t g)
{
    const struct sim_llm *w = run->w;
    const struct llm_group *lg = &w->groups[g];
    const struct llm_group_state *st = &run->gs[g];
    bool reads_state = w->settings.dispatch != SPEC_LLM_ROUND_ROBIN;
    mx_ns h = MX_NS_NEVER;
    if (st->transit.len > 0)
        h = sim_llm__ready_ns(w, sim_llm__queue_head(&st->transit));
    for (uint32_t j = 0; j < lg->n_models; j++) {
        uint32_t next = run->next_of_model[lg->costs[j].model];
        if (next == w->n)
            continue;
        mx_ns t = reads_state ? sim_llm__decided_ns(w, next) : sim_llm__ready_ns(w, next);
        if (t < h)
            h = t;
    }
    return h;
}

/* Whether the iteration g launched at run->now is a steady decode batch: the only one in flight;
 * every running request of its model, each decoding, holding exactly its blocks, its last token
 * at this very end; no other model running, nothing waiting in the group, nobody short. */
static bool steady(const struct llm_run *run, uint32_t g)
{
    const struct sim_llm *w = run->w;
    const struct llm_group *lg = &w->groups[g];
    const struct llm_group_state *st = &run->gs[g];
    if (st->n_flights != 1 || st->n_short != 0)
        return false;
    const struct llm_flight *f = &st->flights[st->first_flight];
    for (uint32_t j = 0; j < lg->n_models; j++) {
        const struct llm_lane *lane = &st->lanes[j];
        if (lane->waiting.len > 0 || (j != f->slot && lane->n_running > 0))
            return false;
    }
    if (st->lanes[f->slot].n_running != f->n)
        return false;
    mx_ns last = run->now + w->reply_ns;
    for (uint32_t k = 0; k < f->n; k++) {
        uint32_t i = f->req[k], before = run->computed[i] - 1;
        if (before < run->prefill_len[i] || run->last_token_ns[i] != last ||
            run->blocks[i] != sim_llm__blocks_for(before + 1, w->settings.block_tokens))
            return false;
    }
    return true;
}

/* Count `measured` gaps of ns each. */
static void count_gaps(struct sim_llm_results *r, uint32_t measured, mx_ns ns)
{
    r->gaps += measured;
    r->gap_sum_ns += (uint64_t)measured * (uint64_t)ns;
    r->gap_bins[sim_llm__gap_bin((uint64_t)ns)] += measured;
}

void sim_llm__fast_forward(struct llm_run *run, uint32_t g)
{
    const struct sim_llm *w = run->w;
    struct sim_llm_results *r = run->r;
    struct llm_group_state *st = &run->gs[g];
    if (!steady(run, g))
        return;
    struct llm_flight *f = &st->flights[st->first_flight];
    const struct llm_cost *cost = &w->groups[g].costs[f->slot];
    const mx_ns start = run->now, h = horizon(run, g);
    const uint32_t n = f->n, bt = w->settings.block_tokens;
    if (f->end_ns >= h)
        return;
    /* Steps s = 1, 2, ...: end iteration s - 1 (its tokens), form iteration s. Each request may
     * take `spare` steps before the end that would finish it. */
    uint32_t spare = UINT32_MAX, measured = 0;
    uint64_t context = 0;
    uint32_t *crossing = MX_NEW_ARRAY(uint32_t, bt);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = f->req[k], left = w->output[i] - r->generated[i];
        if (left - 1 < spare)
            spare = left - 1;
        context += run->computed[i];
        measured +=
            w->arrival_ns[i] >= run->measure_from_ns && w->arrival_ns[i] <= run->measure_to_ns;
        crossing[(bt + 1 - run->computed[i] % bt) % bt]++;
    }
    mx_ns end = f->end_ns, last_end = start;
    uint32_t s = 0, pp = w->groups[g].pp;
    while (end < h && s + 1 <= spare) {
        uint32_t cross = crossing[(s + 1) % bt];
        run->now = end;
        if (cross > 0 && sim_llm__blocks_fit(run, g, cost, cross) < cross)
            break;
        s++;
        count_gaps(r, measured, end - last_end);
        if (cross > 0)
            sim_llm__change_blocks(run, g, cost, cross);
        context += n;
        last_end = end;
        for (uint32_t k = 0; k < pp; k++) {
            mx_ns ns = sim_llm__stage_ns(cost, k, n, 0, context);
            end += ns;
            st->stage_free_ns[k] = end;
            if (k == 0) {
                st->stage0_free_ns = end;
                r->busy_ns[g] += ns;
            }
        }
        r->iterations[g]++;
        r->tokens[g] += n;
    }
    free(crossing);
    run->now = start;
    if (s == 0)
        return;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = f->req[k];
        run->computed[i] += s;
        r->generated[i] += s;
        run->last_token_ns[i] = last_end + w->reply_ns;
        run->blocks[i] = sim_llm__blocks_for(run->computed[i], bt);
    }
    st->outstanding_tokens -= (int64_t)n * s;
    f->end_ns = end;
}
