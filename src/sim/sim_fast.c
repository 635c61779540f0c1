/* The fast path (docs/simulator.md): the recurrence of sim_rules.h in one pass over a segment's
 * requests.
 *
 * Valid without batching and with constant overheads. Then a request's dispatch decision and its
 * admission can be computed together, in trace order: the controller's view of a group equals the
 * group's own stage clocks, because every earlier request's admission is already known. The only
 * state that depends on time rather than order is the outstanding count of least-outstanding
 * (sim_outstanding.h): each group keeps two FIFO lists of requests in flight (admitted ones finish
 * in admission order; refused ones are refused in dispatch order), and a decision at time t first
 * retires everything in them that completed at or before t. The event engine orders events so that
 * it sees the same counts.
 *
 * Nothing is allocated inside the loop; everything is sized before it. */
#include "sim_fast_step.h"
#include "sim_int.h"

#include "mx_alloc.h"
#include "sim_dispatch.h"
#include "sim_dispatch_inline.h"
#include "sim_outstanding.h"

#include <stdlib.h>

/* Counting mode: list request i as a miss when the caller asked for the list. */
static inline void note_miss(struct sim_counts *c, size_t i)
{
    if (__builtin_expect(c->miss != NULL, 0)) {
        if (c->n_miss < c->miss_cap)
            c->miss[c->n_miss] = (uint32_t)i;
        c->n_miss++;
    }
}

/* The loop over one segment. Always inlined into one copy per dispatch policy, output mode and
 * admission form below, with the policy's choice and flags as constants, so each copy carries only
 * the code it needs. Per-request mode fills r; counting mode (the planner's) only adds to c.
 * uniform: the segment is, and the policy reads no inner stage's clock (sim__admit_uniform). */
static inline __attribute__((always_inline)) void
run_segment(const struct sim_world *w, uint32_t segment, choose_fn choose,
            const bool count_outstanding, const bool may_refuse, const bool uniform,
            const bool counting, struct sim_results *r, struct sim_counts *c)
{
    const struct sim_segment *seg = &w->segments[segment];
    const struct sim_delays d = sim__delays(w->overhead_ns);
    const size_t first = seg->first, end = seg->end;
    const uint32_t n_replicas = seg->rep_begin[w->n_models];
    const uint32_t *restrict rep_begin = seg->rep_begin;
    const struct sim_replica *restrict replicas = seg->replicas;

    /* Local restrict copies: the result arrays never alias each other or the inputs, and saying
     * so keeps their pointers in registers across the byte-sized status stores. */
    const mx_ns *restrict arrival = w->arrival_ns;
    const mx_ns *restrict deadline_of = w->deadline_ns;
    const int32_t *restrict model = w->model;
    uint8_t *restrict status = counting ? NULL : r->status;
    int32_t *restrict group = counting ? NULL : r->group;
    mx_ns *restrict start = counting ? NULL : r->start_ns;
    mx_ns *restrict finish = counting ? NULL : r->finish_ns;
    mx_ns *restrict executed = counting ? NULL : r->exec_ns;
    uint16_t *restrict batch = counting ? NULL : r->batch;
    uint64_t *restrict model_requests = counting ? c->model_requests : NULL;
    uint64_t *restrict model_good = counting ? c->model_good : NULL;
    uint64_t *restrict group_requests = counting ? c->group_requests : NULL;
    mx_ns latency_sum = 0;

    mx_ns *restrict clock = MX_NEW_ARRAY(mx_ns, w->n_stages);
    /* Groups loading weights at the segment's start serve nothing before they are done. */
    for (uint32_t g = seg->first_group; g < seg->first_group + seg->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++)
            clock[w->groups[g].stage_base + k] = w->groups[g].ready_ns;
    uint64_t *restrict admitted = MX_NEW_ARRAY(uint64_t, n_replicas);
    mx_ns *restrict saved = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    struct sim_outstanding flight = {0};
    if (count_outstanding)
        sim__outstanding_init(&flight, end - first, w->n_groups);
    const struct sim_view view = {w->groups, clock, flight.count};

    for (size_t i = first; i < end; i++) {
        const uint32_t m = (uint32_t)model[i];
        const uint32_t begin = rep_begin[m], n = rep_begin[m + 1] - begin;
        const mx_ns decided = sim__decided_ns(d, arrival[i]);
        const mx_ns deadline = deadline_of[i];
        if (counting)
            model_requests[m]++;
        const struct sim_replica *reps = replicas + begin;
        if (count_outstanding)
            for (uint32_t k = 0; k < n; k++)
                sim__outstanding_retire(&flight, reps[k].group, decided);
        const mx_ns received = sim__received_ns(d, decided);
        const struct sim_dispatch_query q = sim__query(d, decided, deadline);
        const mx_ns ready = q.ready_ns;
        bool accepted = false;
        mx_ns last = 0, started = 0;
        const int32_t chosen = sim__fast_decide(&view, clock, reps, n, choose, may_refuse, uniform,
                                                &q, ready, saved, &accepted, &last, &started);
        if (chosen < 0) {
            if (counting)
                note_miss(c, i);
            if (!counting) {
                status[i] = n == 0 ? SIM_NO_REPLICA : SIM_REJECTED;
                group[i] = -1;
                start[i] = MX_NS_NEVER;
                finish[i] = decided;
                executed[i] = 0;
                batch[i] = 0;
            }
            continue;
        }
        const struct sim_replica *rep = &reps[chosen];
        const uint32_t g = rep->group;
        if (counting)
            group_requests[g]++;
        else
            group[i] = (int32_t)g;
        if (!accepted) {
            if (counting)
                note_miss(c, i);
            if (!counting) {
                status[i] = SIM_REJECTED;
                start[i] = MX_NS_NEVER;
                finish[i] = received;
                executed[i] = 0;
                batch[i] = 0;
            }
            if (count_outstanding && received > decided)
                sim__outstanding_push(&flight, SIM_OUT_REFUSED, g, (uint32_t)(i - first), received);
            continue;
        }
        admitted[begin + (uint32_t)chosen]++;
        if (counting) {
            const bool good = sim__good(sim__finish_ns(d, last), deadline);
            model_good[m] += good;
            if (!good)
                note_miss(c, i);
            latency_sum += sim__finish_ns(d, last) - arrival[i];
        } else {
            start[i] = started;
            finish[i] = sim__finish_ns(d, last);
            executed[i] = rep->sum_ns;
            batch[i] = 1;
            status[i] = sim__good(finish[i], deadline) ? SIM_GOOD : SIM_LATE;
        }
        if (count_outstanding)
            sim__outstanding_push(&flight, SIM_OUT_ADMITTED, g, (uint32_t)(i - first), last);
    }

    if (counting) {
        c->latency_sum_ns += latency_sum;
    } else {
        /* Busy time: each admitted request kept each stage of its group busy for its latency. */
        for (uint32_t k = 0; k < n_replicas; k++) {
            const struct sim_replica *rep = &replicas[k];
            mx_ns *busy = r->busy_ns + rep->stage_base;
            for (uint32_t s = 0; s < rep->n_stages; s++)
                busy[s] += (mx_ns)admitted[k] * rep->latency_ns[s];
        }
    }
    if (count_outstanding)
        sim__outstanding_release(&flight);
    free(saved);
    free(admitted);
    free(clock);
}

typedef void (*segment_fn)(const struct sim_world *, uint32_t, struct sim_results *,
                           struct sim_counts *);

/* One copy per output mode (run: per request; count) and admission form (general; _uniform). */
#define SPECIALISE_FORM(name, NAME, suffix, uniform)                                               \
    static void run_##name##suffix(const struct sim_world *w, uint32_t segment,                    \
                                   struct sim_results *r, struct sim_counts *c)                    \
    {                                                                                              \
        run_segment(w, segment, sim__choose_##name, SIM_##NAME##_NEEDS_OUTSTANDING,                \
                    SIM_##NAME##_MAY_REFUSE, uniform, false, r, c);                                \
    }                                                                                              \
    static void count_##name##suffix(const struct sim_world *w, uint32_t segment,                  \
                                     struct sim_results *r, struct sim_counts *c)                  \
    {                                                                                              \
        run_segment(w, segment, sim__choose_##name, SIM_##NAME##_NEEDS_OUTSTANDING,                \
                    SIM_##NAME##_MAY_REFUSE, uniform, true, r, c);                                 \
    }
#define SPECIALISE(name, NAME)                                                                     \
    SPECIALISE_FORM(name, NAME, , false)                                                           \
    SPECIALISE_FORM(name, NAME, _uniform, true)
SIM_DISPATCH_INLINE(SPECIALISE)
#undef SPECIALISE
#undef SPECIALISE_FORM

/* Per policy: the general copies, and the uniform ones (which sim__uniform_form picks only for the
 * policies that read no inner stage's clock). */
#define ENTRY(name, NAME)                                                                          \
    {&sim_dispatch_##name, run_##name, count_##name, run_##name##_uniform, count_##name##_uniform},
static const struct {
    const struct sim_dispatch_policy *policy;
    segment_fn run, count, run_uniform, count_uniform;
} specialised[] = {SIM_DISPATCH_INLINE(ENTRY)};
#undef ENTRY

static void run_any(const struct sim_world *w, uint32_t segment,
                    const struct sim_dispatch_policy *policy, struct sim_results *r,
                    struct sim_counts *c)
{
    const bool uniform = sim__uniform_form(&w->segments[segment], policy);
    for (size_t k = 0; k < sizeof(specialised) / sizeof(specialised[0]); k++)
        if (specialised[k].policy == policy) {
            if (uniform)
                (c ? specialised[k].count_uniform : specialised[k].run_uniform)(w, segment, r, c);
            else
                (c ? specialised[k].count : specialised[k].run)(w, segment, r, c);
            return;
        }
    /* A policy added to the table without a specialisation: its choice through the pointer. */
    if (c)
        run_segment(w, segment, policy->choose, policy->needs_outstanding, policy->may_refuse,
                    uniform, true, r, c);
    else
        run_segment(w, segment, policy->choose, policy->needs_outstanding, policy->may_refuse,
                    uniform, false, r, c);
}

void sim__fast_run_segment(const struct sim_world *w, uint32_t segment, const struct sim_options *o,
                           struct sim_results *r)
{
    run_any(w, segment, o->dispatch, r, NULL);
}

void sim__fast_count_segment(const struct sim_world *w, uint32_t segment,
                             const struct sim_dispatch_policy *policy, struct sim_counts *c)
{
    run_any(w, segment, policy, NULL, c);
}
