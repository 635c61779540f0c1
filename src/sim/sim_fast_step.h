/* One request on the fast path: dispatch and admission (docs/simulator.md), shared by the fast engine's
 * loops and the planner's incremental evaluator. Internal to src/sim. */
#ifndef SIM_FAST_STEP_H
#define SIM_FAST_STEP_H

#include "sim_dispatch.h"
#include "sim_int.h"
#include "sim_rules.h"

/* Whether the fast path may admit in segment seg in the uniform form (sim__admit_uniform) under
 * policy. */
static inline bool sim__uniform_form(const struct sim_segment *seg,
                                     const struct sim_dispatch_policy *policy)
{
    return seg->uniform && !policy->reads_inner_stages;
}

typedef int32_t (*choose_fn)(const struct sim_view *, const struct sim_replica *, uint32_t,
                             const struct sim_dispatch_query *);

/* Dispatch a request among its model's n replicas: the chosen one, or -1 (no replica, or dispatch
 * refused it). */
static inline __attribute__((always_inline)) int32_t
sim__fast_choose(const struct sim_view *view, const struct sim_replica *reps, uint32_t n,
                 choose_fn choose, bool may_refuse, const struct sim_dispatch_query *q)
{
    if (n == 0)
        return -1;
    return n == 1 && !may_refuse ? 0 : choose(view, reps, n, q);
}

/* Admit a request at replica rep's group, whose clocks (in clock, by stage_base) take its stage
 * finishes if it is admitted; in a uniform segment, only the first and last (sim__admit_uniform).
 * Returns its last-stage finish; then *admitted and its stage-0 start *started. */
static inline __attribute__((always_inline)) mx_ns
sim__fast_admit(mx_ns *clock, const struct sim_replica *rep, bool uniform,
                const struct sim_dispatch_query *q, mx_ns ready, mx_ns *spill, bool *admitted,
                mx_ns *started)
{
    mx_ns last;
    if (uniform)
        last = sim__admit_uniform(clock + rep->stage_base, rep->latency_ns, rep->n_stages,
                                  rep->sum_ns, rep->max_ns, ready, q->latest_ns, started);
    else
        last = sim__admit_any(clock + rep->stage_base, rep->latency_ns, rep->n_stages, ready,
                              q->latest_ns, spill, started);
    *admitted = sim__admits(last, q->latest_ns);
    return last;
}

/* Both: returns the chosen replica (-1: none), then *admitted, its last-stage finish *last and
 * stage-0 start *started. */
static inline __attribute__((always_inline)) int32_t
sim__fast_decide(const struct sim_view *view, mx_ns *clock, const struct sim_replica *reps,
                 uint32_t n, choose_fn choose, bool may_refuse, bool uniform,
                 const struct sim_dispatch_query *q, mx_ns ready, mx_ns *spill, bool *admitted,
                 mx_ns *last, mx_ns *started)
{
    int32_t chosen = sim__fast_choose(view, reps, n, choose, may_refuse, q);
    if (chosen >= 0)
        *last = sim__fast_admit(clock, &reps[chosen], uniform, q, ready, spill, admitted, started);
    return chosen;
}

#endif
