/* The simulator's semantics, each rule written once (docs/simulator.md, docs/design.md): when a
 * request is where given its overheads, the recurrence of a pipeline's stage clocks, admission
 * and what makes a request good. The fast path, the event engine, the planner's evaluator (its full
 * and incremental runs), the runtime's controller and replays all decide through these inline
 * functions; a change to a rule is made here. Internal to src/sim. */
#ifndef SIM_RULES_H
#define SIM_RULES_H

#include "mx_time.h"
#include "sim_dispatch.h"
#include "spec_cluster.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- overheads: a request's way from its client to its group and back ---- */

/* The overhead terms of one request (its draws), or the cluster's means, in ns. */
struct sim_delays {
    mx_ns client, dispatch, exec, fixed, reply;
};

/* Delays from terms indexed by enum spec_overhead_term. */
static inline struct sim_delays sim__delays(const mx_ns *term)
{
    return (struct sim_delays){term[SPEC_OH_CLIENT], term[SPEC_OH_DISPATCH], term[SPEC_OH_EXEC],
                               term[SPEC_OH_FIXED], term[SPEC_OH_REPLY]};
}

/* It reaches the controller, which decides, after the client overhead. */
static inline mx_ns sim__decided_ns(struct sim_delays d, mx_ns arrival_ns)
{
    return arrival_ns + d.client;
}

/* It reaches the chosen group, which admits or refuses it, after the dispatch overhead. */
static inline mx_ns sim__received_ns(struct sim_delays d, mx_ns decided_ns)
{
    return decided_ns + d.dispatch;
}

/* Its first stage may start it after the exec overhead. */
static inline mx_ns sim__ready_ns(struct sim_delays d, mx_ns received_ns)
{
    return received_ns + d.exec;
}

/* The latest last-stage finish admission accepts: the deadline less the fixed margin. */
static inline mx_ns sim__latest_ns(struct sim_delays d, mx_ns deadline_ns)
{
    return deadline_ns - d.fixed;
}

/* It is finished, for its client, after the reply overhead. */
static inline mx_ns sim__finish_ns(struct sim_delays d, mx_ns last_stage_ns)
{
    return last_stage_ns + d.reply;
}

/* A finished request is good when it finishes by its deadline. */
static inline bool sim__good(mx_ns finish_ns, mx_ns deadline_ns)
{
    return finish_ns <= deadline_ns;
}

/* What the controller asks the dispatch policy when it decides a request at decided_ns, expecting
 * delays d (the means): when the request could start stage 0 and its latest acceptable finish. */
static inline struct sim_dispatch_query sim__query(struct sim_delays d, mx_ns decided_ns,
                                                   mx_ns deadline_ns)
{
    return (struct sim_dispatch_query){sim__ready_ns(d, sim__received_ns(d, decided_ns)),
                                       sim__latest_ns(d, deadline_ns)};
}

/* ---- the recurrence of a pipeline's stage clocks ---- */

/* A stage that is next free at clock takes a request that reaches it at input for latency: when
 * it finishes there. Every prediction and every execution of a pipeline is this, stage by stage. */
static inline mx_ns sim__stage_finish(mx_ns clock, mx_ns input, mx_ns latency)
{
    return (clock > input ? clock : input) + latency;
}

/* A request admitted when its predicted last-stage finish is at most latest_ns. */
static inline bool sim__admits(mx_ns last_ns, mx_ns latest_ns)
{
    return last_ns <= latest_ns;
}

/* The recurrence through n_stages stages for a request that may start stage 0 at ready_ns, against
 * stage clocks clock[] (when each stage is next free) and latencies lat[]. Stores each stage's
 * finish in f and returns the last. f may be clock itself, to commit in place. */
static inline mx_ns sim__predict(const mx_ns *clock, const mx_ns *lat, uint32_t n_stages,
                                 mx_ns ready_ns, mx_ns *f)
{
    mx_ns t = ready_ns;
    for (uint32_t k = 0; k < n_stages; k++)
        f[k] = t = sim__stage_finish(clock[k], t, lat[k]);
    return t;
}

/* The last stage's finish of the same recurrence, without storing the others. */
static inline mx_ns sim__predict_last(const mx_ns *clock, const mx_ns *lat, uint32_t n_stages,
                                      mx_ns ready_ns)
{
    mx_ns t = ready_ns;
    for (uint32_t k = 0; k < n_stages; k++)
        t = sim__stage_finish(clock[k], t, lat[k]);
    return t;
}

/* Admission and commit in one pass over a group's stage clocks c: the recurrence in place, keeping
 * the old clocks in saved, put back if the request is not admitted (its last stage would finish
 * after latest). Admission is the common case, so its clocks are written once. Returns the last
 * stage's finish, and the stage-0 start in *started. */
static inline __attribute__((always_inline)) mx_ns sim__admit(mx_ns *restrict c,
                                                              const mx_ns *restrict lat, uint32_t n,
                                                              mx_ns ready, mx_ns latest,
                                                              mx_ns *restrict saved, mx_ns *started)
{
    mx_ns t = ready;
#pragma GCC unroll 8
    for (uint32_t k = 0; k < n; k++) {
        saved[k] = c[k];
        c[k] = t = sim__stage_finish(saved[k], t, lat[k]);
    }
    if (!sim__admits(t, latest)) {
#pragma GCC unroll 8
        for (uint32_t k = 0; k < n; k++)
            c[k] = saved[k];
    }
    *started = saved[0] > ready ? saved[0] : ready;
    return t;
}

/* sim__admit unrolled for the usual pipeline depths, where the old clocks stay in registers. */
#define SIM_UNROLLED_STAGES 8
static inline __attribute__((always_inline)) mx_ns
sim__admit_any(mx_ns *restrict c, const mx_ns *restrict lat, uint32_t n, mx_ns ready, mx_ns latest,
               mx_ns *restrict spill, mx_ns *started)
{
    mx_ns saved[SIM_UNROLLED_STAGES];
    switch (n) {
    case 1:
        return sim__admit(c, lat, 1, ready, latest, saved, started);
    case 2:
        return sim__admit(c, lat, 2, ready, latest, saved, started);
    case 4:
        return sim__admit(c, lat, 4, ready, latest, saved, started);
    case 8:
        return sim__admit(c, lat, 8, ready, latest, saved, started);
    default:
        return sim__admit(c, lat, n, ready, latest, spill, started);
    }
}

/* The uniform form: admission at a group whose requests all share one latency vector lat[0..n) of
 * sum sum_ns and largest entry max_ns. Such a pipeline departs like its bottleneck stage behind a
 * fixed delay (Friedman 1965: deterministic tandem stations may be reordered, slowest first), so
 * the recurrence's last stage finishes at
 *     max(stage-0 start + sum of latencies, last stage's clock + the largest latency),
 * and only the first and last stage clocks are kept (c[0], c[n - 1]); the inner ones go stale, so
 * only dispatch policies that read no inner stage's clock may use it (sim__uniform_form). Once
 * anything ran on an initially idle group, stage 0 never delays it either (its start plus the sum
 * is at most the last clock plus the largest latency), so a group's last clock is all of its state
 * (the evaluator's baselines keep only that). Returns as sim__admit. */
static inline __attribute__((always_inline)) mx_ns
sim__admit_uniform(mx_ns *restrict c, const mx_ns *restrict lat, uint32_t n, mx_ns sum_ns,
                   mx_ns max_ns, mx_ns ready, mx_ns latest, mx_ns *started)
{
    const uint32_t last = n - 1;
    const mx_ns begin = c[0] > ready ? c[0] : ready;
    const mx_ns through = begin + sum_ns, behind = c[last] + max_ns;
    const mx_ns t = through > behind ? through : behind;
    if (sim__admits(t, latest)) {
        c[0] = begin + lat[0];
        c[last] = t;
    }
    *started = begin;
    return t;
}

#endif
