/* The baseline of incremental evaluation: a full run on the fast path that keeps, for every
 * request, where it went and its stage finishes, and for every group its admissions. */
#include "sim_eval_int.h"

#include "mx_alloc.h"
#include "sim_dispatch_inline.h"
#include "sim_fast_step.h"

#include <stdlib.h>
#include <string.h>

void sim__baseline_release(struct baseline *b, uint32_t key_limit)
{
    free(b->record);
    for (uint32_t k = 0; b->by_slot && k < key_limit; k++)
        free(b->by_slot[k].request);
    free(b->by_slot);
    free(b->rep_begin);
    free(b->rep_slot);
    free(b->slot_op);
    free(b->slot_pp);
    free(b->slot_requests);
}

/* Size the baseline for the placed world: records as wide as a group's state in the given form. */
static void baseline_reset(struct sim_eval_state *s, bool uniform)
{
    const struct sim_eval *e = s->e;
    struct baseline *b = &s->b;
    size_t n = s->w.n, keys = e->key_limit ? e->key_limit : 1;
    uint32_t stride = 1;
    for (uint32_t g = 0; g < s->w.n_groups && !uniform; g++)
        if (s->w.groups[g].n_stages > stride)
            stride = s->w.groups[g].n_stages;
    b->uniform = uniform;
    if (!b->record || stride != b->stride) {
        b->stride = stride;
        b->words = REC_FINISH + stride;
        free(b->record); /* the run below writes every record anew */
        b->record = mx_malloc_huge(n * b->words, sizeof(mx_ns));
    }
    if (!b->by_slot) {
        b->by_slot = MX_NEW_ARRAY(struct admissions, keys);
        b->rep_begin = MX_NEW_ARRAY(uint32_t, (size_t)s->w.n_models + 1);
        b->slot_op = MX_NEW_ARRAY(int32_t, keys);
        b->slot_pp = MX_NEW_ARRAY(int32_t, keys);
        b->slot_requests = MX_NEW_ARRAY(uint64_t, keys);
    }
    for (uint32_t k = 0; k < e->key_limit; k++)
        b->by_slot[k].n = 0;
    memset(b->slot_requests, 0, keys * sizeof(uint64_t));
}

void sim__baseline_layout(struct sim_eval_state *s)
{
    const struct sim_segment *seg = &s->w.segments[0];
    struct baseline *b = &s->b;
    uint32_t total = seg->rep_begin[s->w.n_models];
    memcpy(b->rep_begin, seg->rep_begin, ((size_t)s->w.n_models + 1) * sizeof(uint32_t));
    b->rep_slot = mx_realloc_array(b->rep_slot, total ? total : 1, sizeof(uint32_t));
    for (uint32_t r = 0; r < total; r++)
        b->rep_slot[r] = s->keys[seg->replicas[r].group];
    memset(b->slot_pp, 0, s->e->key_limit * sizeof(int32_t));
    for (uint32_t g = 0; g < s->w.n_groups; g++) {
        b->slot_op[s->keys[g]] = s->ops[g];
        b->slot_pp[s->keys[g]] = (int32_t)s->w.groups[g].n_stages;
    }
}

/* Each request once, in order, as the fast path runs it, keeping what it did: in the uniform form
 * (sim__uniform_form), a group's last stage clock only. */
static inline __attribute__((always_inline)) void record(struct sim_eval_state *s, choose_fn choose,
                                                         bool may_refuse, bool uniform)
{
    struct sim_world *w = &s->w;
    struct baseline *b = &s->b;
    const struct sim_segment *seg = &w->segments[0];
    const struct sim_delays d = sim__delays(w->overhead_ns);
    mx_ns *clock = MX_NEW_ARRAY(mx_ns, w->n_stages ? w->n_stages : 1);
    const struct sim_view view = {w->groups, clock, NULL};
    baseline_reset(s, uniform);
    memset(s->model_requests, 0, w->n_models * sizeof(uint64_t));
    memset(s->model_good, 0, w->n_models * sizeof(uint64_t));
    mx_ns latency_sum = 0;
    for (size_t i = 0; i < w->n; i++) {
        const uint32_t m = (uint32_t)w->model[i];
        const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
        const struct sim_replica *reps = seg->replicas + begin;
        const struct sim_dispatch_query q = sim__eval_query(d, w->arrival_ns[i], w->deadline_ns[i]);
        const mx_ns ready = q.ready_ns;
        bool admitted = false;
        mx_ns last = 0, started = 0;
        s->model_requests[m]++;
        int32_t chosen = sim__fast_choose(&view, reps, n, choose, may_refuse, &q);
        mx_ns *rec = sim__record(b, i);
        if (chosen < 0) {
            rec[REC_OUTCOME] = sim__outcome(-1, false);
            continue;
        }
        int32_t key = (int32_t)s->keys[reps[chosen].group];
        rec[REC_DISPATCH] = clock[reps[chosen].last_stage];
        rec[REC_RIVAL] = sim__rival_clock(clock, reps, n, chosen);
        last = sim__fast_admit(clock, &reps[chosen], uniform, &q, ready, s->spill, &admitted,
                               &started);
        rec[REC_OUTCOME] = sim__outcome(key, admitted);
        b->slot_requests[key]++;
        if (!admitted)
            continue;
        const struct sim_replica *rep = &reps[chosen];
        if (uniform)
            rec[REC_FINISH] = last;
        else
            memcpy(rec + REC_FINISH, clock + rep->stage_base, rep->n_stages * sizeof(mx_ns));
        sim__admissions_push(&b->by_slot[key], (uint32_t)i);
        const mx_ns finish = sim__finish_ns(d, last);
        s->model_good[m] += sim__good(finish, w->deadline_ns[i]);
        latency_sum += finish - w->arrival_ns[i];
    }
    free(clock);
    b->latency_sum_ns = latency_sum;
    b->rerun = 0;
    b->covered = 0;
    b->valid = true;
    sim__baseline_layout(s);
}

/* One copy per policy and admission form, with the policy's choice inline. */
#define SPECIALISE(name, NAME)                                                                     \
    static void record_##name(struct sim_eval_state *s, bool uniform)                              \
    {                                                                                              \
        if (uniform)                                                                               \
            record(s, sim__choose_##name, SIM_##NAME##_MAY_REFUSE, true);                          \
        else                                                                                       \
            record(s, sim__choose_##name, SIM_##NAME##_MAY_REFUSE, false);                         \
    }
SIM_DISPATCH_INLINE(SPECIALISE)
#undef SPECIALISE

#define ENTRY(name, NAME) {&sim_dispatch_##name, record_##name},
static const struct {
    const struct sim_dispatch_policy *policy;
    void (*record)(struct sim_eval_state *s, bool uniform);
} specialised[] = {SIM_DISPATCH_INLINE(ENTRY)};
#undef ENTRY

void sim__eval_record(struct sim_eval_state *s)
{
    const struct sim_dispatch_policy *policy = s->e->dispatch;
    const bool uniform = sim__uniform_form(&s->w.segments[0], policy);
    size_t k = 0;
    while (k < sizeof(specialised) / sizeof(specialised[0]) && specialised[k].policy != policy)
        k++;
    if (k < sizeof(specialised) / sizeof(specialised[0]))
        specialised[k].record(s, uniform);
    else
        record(s, policy->choose, policy->may_refuse, uniform);
    for (uint32_t g = 0; g < s->w.n_groups; g++)
        s->group_requests[g] = s->b.slot_requests[s->keys[g]];
}
