/* Running the decoder simulator: the event loop in docs/decoders.md's "Order of events", the ends
 * of iterations (tokens, finishes, outcomes), and the results. Requests move through dispatch,
 * admission and readiness by three cursors in trace order (the overheads are constant, so each
 * phase meets them in that order); groups wake from an indexed heap keyed by their next event. */
#include "sim_llm_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "wl_trace.h"

#include <stdlib.h>
#include <string.h>

#define NOT_IN_HEAP UINT32_MAX
/* The status of a request still being served. */
#define PENDING SIM_N_STATUS

/* The heap of group wake-ups: by time, then group index. */
static bool wakes_before(const struct llm_run *run, uint32_t a, uint32_t b)
{
    return run->wake_ns[a] < run->wake_ns[b] || (run->wake_ns[a] == run->wake_ns[b] && a < b);
}

static void heap_place(struct llm_run *run, uint32_t k, uint32_t g)
{
    run->heap[k] = g;
    run->heap_pos[g] = k;
}

static void heap_sift(struct llm_run *run, uint32_t k)
{
    uint32_t g = run->heap[k];
    while (k > 0 && wakes_before(run, g, run->heap[(k - 1) / 2])) {
        heap_place(run, k, run->heap[(k - 1) / 2]);
        k = (k - 1) / 2;
    }
    for (;;) {
        uint32_t c = 2 * k + 1;
        if (c >= run->n_heap)
            break;
        if (c + 1 < run->n_heap && wakes_before(run, run->heap[c + 1], run->heap[c]))
            c++;
        if (!wakes_before(run, run->heap[c], g))
            break;
        heap_place(run, k, run->heap[c]);
        k = c;
    }
    heap_place(run, k, g);
}

/* Group g's next event time becomes t (MX_NS_NEVER: none). */
static void set_wake(struct llm_run *run, uint32_t g, mx_ns t)
{
    uint32_t k = run->heap_pos[g];
    run->wake_ns[g] = t;
    if (t == MX_NS_NEVER) {
        if (k == NOT_IN_HEAP)
            return;
        run->heap_pos[g] = NOT_IN_HEAP;
        uint32_t last = run->heap[--run->n_heap];
        if (last != g) {
            heap_place(run, k, last);
            heap_sift(run, k);
        }
        return;
    }
    if (k == NOT_IN_HEAP) {
        k = run->n_heap++;
        heap_place(run, k, g);
    }
    heap_sift(run, k);
}

static mx_ns group_wake(const struct llm_run *run, uint32_t g)
{
    const struct llm_group_state *st = &run->gs[g];
    mx_ns t = st->n_flights ? st->flights[st->first_flight].end_ns : MX_NS_NEVER;
    if (st->stage0_pending && st->stage0_free_ns < t)
        t = st->stage0_free_ns;
    return t;
}

/* Note that g's wake-up is to be recomputed at the end of this instant. */
static void touch(struct llm_run *run, uint32_t g)
{
    if (run->gs[g].touched)
        return;
    run->gs[g].touched = true;
    run->touched[run->n_touched++] = g;
}

/* How request i ended, from its token times (docs/decoders.md, "Requests"). */
static uint8_t outcome(const struct sim_llm *w, const struct sim_llm_results *r, uint32_t i)
{
    mx_ns a = w->arrival_ns[i], first = r->first_token_ns[i], last = r->finish_ns[i];
    uint64_t gaps = w->output[i] - 1;
    bool ttft = w->ttft_slo_ns[i] == MX_NS_NEVER || first - a <= w->ttft_slo_ns[i];
    bool e2e = w->e2e_slo_ns[i] == MX_NS_NEVER || last - a <= w->e2e_slo_ns[i];
    bool tpot = gaps == 0 || w->tpot_slo_ns[i] == MX_NS_NEVER ||
                ((uint64_t)(last - first) + gaps - 1) / gaps <= (uint64_t)w->tpot_slo_ns[i];
    return ttft && e2e && tpot ? SIM_GOOD : SIM_LATE;
}

/* The oldest iteration of g reaches the end of the last stage: its requests emit their tokens. */
void sim_llm__end_iteration(struct llm_run *run, uint32_t g)
{
    const struct sim_llm *w = run->w;
    struct sim_llm_results *r = run->r;
    struct llm_group_state *st = &run->gs[g];
    struct llm_flight *f = &st->flights[st->first_flight];
    struct llm_lane *lane = &st->lanes[f->slot];
    mx_ns token = run->now + w->reply_ns; /* its end: now */
    bool finished = false;
    for (uint32_t k = 0; k < f->n; k++) {
        uint32_t i = f->req[k];
        run->flags[i] &= (uint8_t)~LLM_IN_FLIGHT;
        if (run->computed[i] < run->prefill_len[i])
            continue;
        uint32_t generated = ++r->generated[i];
        st->outstanding_tokens--;
        if (generated == 1) {
            r->first_token_ns[i] = token;
        } else if (w->arrival_ns[i] >= run->measure_from_ns &&
                   w->arrival_ns[i] <= run->measure_to_ns) {
            uint64_t gap = (uint64_t)(token - run->last_token_ns[i]);
            r->gaps++;
            r->gap_sum_ns += gap;
            r->gap_bins[sim_llm__gap_bin(gap)]++;
        }
        run->last_token_ns[i] = token;
        if (generated == w->output[i]) {
            sim_llm__release(run, g, f->slot, i);
            run->flags[i] &= (uint8_t)~LLM_RUNNING;
            r->finish_ns[i] = token;
            r->status[i] = outcome(w, r, i);
            finished = true;
        }
    }
    lane->n_in_flight -= f->n;
    if (finished) {
        uint32_t kept = 0;
        for (uint32_t k = 0; k < lane->n_running; k++)
            if (run->flags[lane->running[k]] & LLM_RUNNING)
                lane->running[kept++] = lane->running[k];
        lane->n_running = kept;
    }
    st->first_flight = (st->first_flight + 1) % w->groups[g].pp;
    st->n_flights--;
    st->dirty = true;
}

/* A request refused where it stands: by no replica at the controller, or at its group. */
static void refuse(struct llm_run *run, uint32_t i, uint8_t status)
{
    run->r->status[i] = status;
    run->r->finish_ns[i] = run->now;
}

void sim_llm__dispatch_request(struct llm_run *run, uint32_t i)
{
    const struct sim_llm *w = run->w;
    int32_t rep = sim_llm__dispatch(run, i);
    run->next_of_model[w->model[i]] = w->next_same_model[i];
    if (rep < 0) {
        refuse(run, i, SIM_NO_REPLICA);
        return;
    }
    uint32_t g = w->replicas[rep].group;
    struct llm_group_state *st = &run->gs[g];
    run->at_group[i] = (int32_t)g;
    run->at_slot[i] = w->replicas[rep].slot;
    run->r->group[i] = (int32_t)w->groups[g].plan_index;
    run->prefill_len[i] = w->input[i];
    st->outstanding_tokens += (int64_t)w->input[i] + w->output[i];
    st->prefill_left += w->input[i];
    st->transit_prefill += w->input[i];
    sim_llm__queue_push(&st->transit, i);
}

void sim_llm__admit_request(struct llm_run *run, uint32_t i)
{
    const struct sim_llm *w = run->w;
    uint32_t g = (uint32_t)run->at_group[i], slot = run->at_slot[i];
    struct llm_group_state *st = &run->gs[g];
    st->transit_prefill -= w->input[i];
    sim_llm__queue_pop(&st->transit); /* received in the order dispatched: i is its head */
    if (sim_llm__admit(run, g, slot, i)) {
        run->ready_ns[i] = run->now + w->exec_ns;
        sim_llm__queue_push(&st->lanes[slot].waiting, i);
        return;
    }
    st->outstanding_tokens -= (int64_t)w->input[i] + w->output[i];
    st->prefill_left -= w->input[i];
    refuse(run, i, SIM_REJECTED);
}

struct sim_llm_results *sim_llm__results_new(const struct sim_llm *w)
{
    struct sim_llm_results *r = MX_NEW(struct sim_llm_results);
    size_t n = w->n ? w->n : 1, groups = w->n_groups ? w->n_groups : 1;
    r->n = w->n;
    r->status = MX_NEW_ARRAY(uint8_t, n);
    r->group = MX_NEW_ARRAY(int32_t, n);
    r->first_token_ns = MX_NEW_ARRAY(mx_ns, n);
    r->finish_ns = MX_NEW_ARRAY(mx_ns, n);
    r->generated = MX_NEW_ARRAY(uint32_t, n);
    r->preemptions = MX_NEW_ARRAY(uint32_t, n);
    r->n_groups = w->n_groups;
    r->iterations = MX_NEW_ARRAY(uint64_t, groups);
    r->tokens = MX_NEW_ARRAY(uint64_t, groups);
    r->busy_ns = MX_NEW_ARRAY(mx_ns, groups);
    r->kv_mean = MX_NEW_ARRAY(double, groups);
    r->kv_max = MX_NEW_ARRAY(double, groups);
    r->preempted = MX_NEW_ARRAY(uint64_t, groups);
    r->gap_bins = MX_NEW_ARRAY(uint64_t, SIM_LLM_GAP_BINS);
    for (size_t i = 0; i < w->n; i++) {
        r->status[i] = PENDING;
        r->group[i] = -1;
        r->first_token_ns[i] = r->finish_ns[i] = MX_NS_NEVER;
    }
    return r;
}

void sim_llm_results_free(struct sim_llm_results *r)
{
    if (!r)
        return;
    free(r->status);
    free(r->group);
    free(r->first_token_ns);
    free(r->finish_ns);
    free(r->generated);
    free(r->preemptions);
    free(r->iterations);
    free(r->tokens);
    free(r->busy_ns);
    free(r->kv_mean);
    free(r->kv_max);
    free(r->preempted);
    free(r->gap_bins);
    free(r);
}

void sim_llm__run_init(struct llm_run *run, const struct sim_llm *w, struct sim_llm_results *r)
{
    size_t n = w->n ? w->n : 1;
    uint32_t groups = w->n_groups ? w->n_groups : 1;
    memset(run, 0, sizeof(*run));
    run->w = w;
    run->r = r;
    run->prefill_len = MX_NEW_ARRAY(uint32_t, n);
    run->computed = MX_NEW_ARRAY(uint32_t, n);
    run->blocks = MX_NEW_ARRAY(uint32_t, n);
    run->flags = MX_NEW_ARRAY(uint8_t, n);
    run->at_group = MX_NEW_ARRAY(int32_t, n);
    run->at_slot = MX_NEW_ARRAY(uint32_t, n);
    run->last_token_ns = MX_NEW_ARRAY(mx_ns, n);
    run->ready_ns = MX_NEW_ARRAY(mx_ns, n);
    run->preempted_now = MX_NEW_ARRAY(uint32_t, n);
    for (size_t i = 0; i < w->n; i++)
        run->at_group[i] = -1;
    run->round_robin = MX_NEW_ARRAY(uint32_t, w->n_models ? w->n_models : 1);
    run->next_of_model = MX_NEW_ARRAY(uint32_t, w->n_models ? w->n_models : 1);
    for (uint32_t m = 0; m < w->n_models; m++)
        run->next_of_model[m] = (uint32_t)w->n;
    for (size_t i = w->n; i-- > 0;)
        run->next_of_model[w->model[i]] = (uint32_t)i;
    run->heap = MX_NEW_ARRAY(uint32_t, groups);
    run->heap_pos = MX_NEW_ARRAY(uint32_t, groups);
    run->wake_ns = MX_NEW_ARRAY(mx_ns, groups);
    run->touched = MX_NEW_ARRAY(uint32_t, groups);
    run->gs = MX_NEW_ARRAY(struct llm_group_state, groups);
    mx_ns start = w->n ? w->arrival_ns[0] : 0;
    for (uint32_t g = 0; g < w->n_groups; g++) {
        const struct llm_group *lg = &w->groups[g];
        struct llm_group_state *st = &run->gs[g];
        uint32_t running = lg->max_seqs < w->n ? lg->max_seqs : (uint32_t)w->n;
        uint32_t entries = running < lg->max_batch_tokens ? running : lg->max_batch_tokens;
        st->lanes = MX_NEW_ARRAY(struct llm_lane, lg->n_models);
        for (uint32_t j = 0; j < lg->n_models; j++)
            st->lanes[j].running = MX_NEW_ARRAY(uint32_t, running ? running : 1);
        st->flights = MX_NEW_ARRAY(struct llm_flight, lg->pp);
        for (uint32_t s = 0; s < lg->pp; s++) {
            st->flights[s].req = MX_NEW_ARRAY(uint32_t, entries ? entries : 1);
            st->flights[s].tokens = MX_NEW_ARRAY(uint32_t, entries ? entries : 1);
        }
        st->stage_free_ns = MX_NEW_ARRAY(mx_ns, lg->pp);
        st->used_bytes = MX_NEW_ARRAY(int64_t, lg->pp);
        st->last_slot = lg->n_models - 1;
        st->kv_since_ns = start;
        run->heap_pos[g] = NOT_IN_HEAP;
    }
}

void sim_llm__run_release(struct llm_run *run)
{
    const struct sim_llm *w = run->w;
    for (uint32_t g = 0; g < w->n_groups; g++) {
        struct llm_group_state *st = &run->gs[g];
        for (uint32_t j = 0; j < w->groups[g].n_models; j++) {
            free(st->lanes[j].running);
            sim_llm__queue_release(&st->lanes[j].waiting);
        }
        sim_llm__queue_release(&st->transit);
        for (uint32_t s = 0; s < w->groups[g].pp; s++) {
            free(st->flights[s].req);
            free(st->flights[s].tokens);
        }
        free(st->lanes);
        free(st->flights);
        free(st->stage_free_ns);
        free(st->used_bytes);
    }
    free(run->gs);
    free(run->prefill_len);
    free(run->computed);
    free(run->blocks);
    free(run->flags);
    free(run->at_group);
    free(run->at_slot);
    free(run->last_token_ns);
    free(run->ready_ns);
    free(run->preempted_now);
    free(run->round_robin);
    free(run->next_of_model);
    free(run->heap);
    free(run->heap_pos);
    free(run->wake_ns);
    free(run->touched);
}

/* The time of the next event: a group's, or a request's next phase. */
static mx_ns next_time(const struct llm_run *run, size_t d, size_t a, size_t y)
{
    const struct sim_llm *w = run->w;
    mx_ns t = run->n_heap ? run->wake_ns[run->heap[0]] : MX_NS_NEVER;
    if (d < w->n && sim_llm__decided_ns(w, d) < t)
        t = sim_llm__decided_ns(w, d);
    if (a < d && sim_llm__received_ns(w, a) < t)
        t = sim_llm__received_ns(w, a);
    if (y < a && sim_llm__ready_ns(w, y) < t)
        t = sim_llm__ready_ns(w, y);
    return t;
}

void sim_llm__finish_records(struct llm_run *run)
{
    const struct sim_llm *w = run->w;
    mx_ns start = w->n ? w->arrival_ns[0] : 0;
    for (uint32_t g = 0; g < w->n_groups; g++) {
        struct llm_group_state *st = &run->gs[g];
        st->kv_area += st->kv_share * (double)(run->now - st->kv_since_ns);
        run->r->kv_mean[g] = run->now > start ? st->kv_area / (double)(run->now - start) : 0;
        run->r->kv_max[g] = st->kv_max;
    }
}

void sim_llm_window(const struct sim_llm *w, double warmup_s, mx_ns *from_ns, mx_ns *to_ns)
{
    const struct wl_trace *t = w->trace;
    *from_ns = mx_s_to_ns(t->arrival_s[0] + warmup_s);
    *to_ns = mx_s_to_ns(t->arrival_s[t->n - 1] - warmup_s);
}

int sim_llm_run(const struct sim_llm *w, double warmup_s, struct sim_llm_results **out)
{
    return sim_llm__run(w, warmup_s, true, out);
}

int sim_llm__run(const struct sim_llm *w, double warmup_s, bool shortcut,
                 struct sim_llm_results **out)
{
    struct sim_llm_results *r = sim_llm__results_new(w);
    struct llm_run run;
    sim_llm__run_init(&run, w, r);
    sim_llm_window(w, warmup_s, &run.measure_from_ns, &run.measure_to_ns);
    size_t d = 0, a = 0, y = 0; /* the next request to dispatch, to admit, to become ready */
    for (;;) {
        mx_ns now = next_time(&run, d, a, y);
        if (now == MX_NS_NEVER)
            break;
        run.now = now;
        run.n_touched = 0;
        while (run.n_heap && run.wake_ns[run.heap[0]] == now) {
            uint32_t g = run.heap[0];
            struct llm_group_state *st = &run.gs[g];
            if (st->n_flights && st->flights[st->first_flight].end_ns == now)
                sim_llm__end_iteration(&run, g);
            if (st->stage0_pending && st->stage0_free_ns == now) {
                st->stage0_pending = false;
                st->dirty = true;
            }
            set_wake(&run, g, MX_NS_NEVER);
            touch(&run, g);
        }
        for (; d < w->n && sim_llm__decided_ns(w, d) == now; d++)
            sim_llm__dispatch_request(&run, (uint32_t)d);
        for (; a < d && sim_llm__received_ns(w, a) == now; a++)
            if (run.at_group[a] >= 0)
                sim_llm__admit_request(&run, (uint32_t)a);
        for (; y < a && sim_llm__ready_ns(w, y) == now; y++)
            if (r->status[y] == PENDING) {
                run.gs[run.at_group[y]].dirty = true;
                touch(&run, (uint32_t)run.at_group[y]);
            }
        for (uint32_t k = 0; k < run.n_touched; k++) {
            uint32_t g = run.touched[k];
            run.gs[g].touched = false;
            if (run.gs[g].dirty && sim_llm__form(&run, g) && shortcut)
                sim_llm__fast_forward(&run, g);
            set_wake(&run, g, group_wake(&run, g));
        }
    }
    sim_llm__finish_records(&run);
    for (size_t i = 0; i < w->n; i++)
        if (r->status[i] == PENDING)
            MX_BUG("decoder request %zu never completed", i);
    sim_llm__run_release(&run);
    *out = r;
    return MX_OK;
}
