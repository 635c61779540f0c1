/* One request on the fast path: dispatch and admission (DESIGN §4.4), shared by the fast engine's
 * loops and the planner's incremental evaluator. Internal to src/sim. */
#ifndef SIM_FAST_STEP_H
#define SIM_FAST_STEP_H

#include "sim_dispatch.h"
#include "sim_int.h"

/* Admission and commit in one pass over a group's stage clocks c: run the §4.4 recurrence in place,
 * keeping the old clocks in saved, and put them back if the last stage would finish after latest.
 * Admission is the common case, so its clocks are written once. Returns the last stage's finish
 * (> latest: refused, c unchanged) and the stage-0 start in *started. */
static inline __attribute__((always_inline)) mx_ns admit(mx_ns *restrict c,
                                                         const mx_ns *restrict lat, uint32_t n,
                                                         mx_ns ready, mx_ns latest,
                                                         mx_ns *restrict saved, mx_ns *started)
{
    mx_ns t = ready;
#pragma GCC unroll 8
    for (uint32_t k = 0; k < n; k++) {
        saved[k] = c[k];
        t = (saved[k] > t ? saved[k] : t) + lat[k];
        c[k] = t;
    }
    if (t > latest) {
#pragma GCC unroll 8
        for (uint32_t k = 0; k < n; k++)
            c[k] = saved[k];
    }
    *started = saved[0] > ready ? saved[0] : ready;
    return t;
}

/* admit() unrolled for the usual pipeline depths, where the old clocks stay in registers. */
#define UNROLLED_STAGES 8
static inline __attribute__((always_inline)) mx_ns admit_any(mx_ns *restrict c,
                                                             const mx_ns *restrict lat, uint32_t n,
                                                             mx_ns ready, mx_ns latest,
                                                             mx_ns *restrict spill, mx_ns *started)
{
    mx_ns saved[UNROLLED_STAGES];
    switch (n) {
    case 1:
        return admit(c, lat, 1, ready, latest, saved, started);
    case 2:
        return admit(c, lat, 2, ready, latest, saved, started);
    case 4:
        return admit(c, lat, 4, ready, latest, saved, started);
    case 8:
        return admit(c, lat, 8, ready, latest, saved, started);
    default:
        return admit(c, lat, n, ready, latest, spill, started);
    }
}

/* Admission at a group whose requests all share one latency vector (a uniform segment's). Such a
 * pipeline departs like its bottleneck stage behind a fixed delay (Friedman 1965: deterministic
 * tandem stations may be reordered, slowest first): the last stage finishes at
 *     max(stage-0 start + sum of latencies, last stage's clock + the largest latency),
 * exactly the §4.4 recurrence's result. So only the first and last stage clocks are kept (c[0],
 * c[n - 1]); the inner ones go stale, so only policies that read no inner stage's clock may use
 * it (sim__uniform_form). Returns as admit(). */
static inline __attribute__((always_inline)) mx_ns admit_uniform(mx_ns *restrict c,
                                                                 const struct sim_replica *rep,
                                                                 mx_ns ready, mx_ns latest,
                                                                 mx_ns *started)
{
    const uint32_t last = rep->n_stages - 1;
    const mx_ns begin = c[0] > ready ? c[0] : ready;
    const mx_ns through = begin + rep->sum_ns, behind = c[last] + rep->max_ns;
    const mx_ns t = through > behind ? through : behind;
    if (t <= latest) {
        c[0] = begin + rep->latency_ns[0];
        c[last] = t;
    }
    *started = begin;
    return t;
}

/* Whether the fast path may admit in segment seg with admit_uniform under policy. */
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
 * finishes if it is admitted; in a uniform segment, only the first and last (admit_uniform).
 * Returns its last-stage finish; then *admitted and its stage-0 start *started. */
static inline __attribute__((always_inline)) mx_ns
sim__fast_admit(mx_ns *clock, const struct sim_replica *rep, bool uniform,
                const struct sim_dispatch_query *q, mx_ns ready, mx_ns *spill, bool *admitted,
                mx_ns *started)
{
    mx_ns last;
    if (uniform)
        last = admit_uniform(clock + rep->stage_base, rep, ready, q->latest_ns, started);
    else
        last = admit_any(clock + rep->stage_base, rep->latency_ns, rep->n_stages, ready,
                         q->latest_ns, spill, started);
    *admitted = last <= q->latest_ns;
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
