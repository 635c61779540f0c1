/* The simulator's controller, run online: dispatch and admission one request at a time against
 * stage clocks that a real executor corrects as stages finish. The bundled runtime (src/runtime)
 * decides with it, so that it admits exactly as the simulator would on the same clocks.
 *
 * Decisions are those of the fast path (sim_rules.h): the dispatch policy picks a
 * replica from the predicted stage clocks and outstanding counts; the request is admitted when
 * its predicted last-stage finish plus the fixed margin meets its deadline, and then the clocks
 * take its predicted stage finishes. Overheads are the cluster's means (the runtime emulates
 * client, dispatch and exec as delays; the fixed margin is only a margin).
 *
 * Corrections (docs/runtime.md): each stage keeps the requests admitted to it and not finished
 * there, with when each may start on it (its ready time, or its predicted finish on the stage
 * before) and the latency it was admitted with. When stage k measures that a request finished at
 * t, the stage's clock is predicted again from t through the requests still queued, and the
 * request's entry on stage k + 1 may start at t, which predicts that stage again too: early and
 * late finishes both move the clocks, by as much as the queues let them.
 *
 * Each stage also learns how fast it really is: the ratio of its measured latencies to the
 * world's, smoothed (SIM_CONTROL_SMOOTHING), multiplies the latencies it predicts with from then
 * on. It starts at 1: the world's latencies as compiled.
 *
 * Only static plans (one segment). Not thread-safe: the runtime holds a lock around every call. */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include "mx_time.h"
#include "sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_world;
struct sim_dispatch_policy;
struct sim_control;

/* A decision on one request. predicted_ns has room for the world's deepest group. */
struct sim_decision {
    int32_t group; /* global group index, -1 when no replica or dispatch refused */
    bool admitted; /* admitted by the chosen group (false when group is -1) */
    bool no_replica;
    mx_ns ready_ns;   /* earliest stage-0 start: decided + dispatch + exec */
    mx_ns refused_ns; /* when not admitted: when it was refused (at the decision, or at its group
                         after the dispatch overhead) */
    uint32_t n_stages;
    mx_ns *predicted_ns;     /* [n_stages] predicted stage finishes, when admitted (owned by the
                                control, valid until the next decision) */
    const mx_ns *latency_ns; /* [n_stages] the world's latencies of the chosen replica (before
                                the learned ratios), when a group was chosen */
};

/* A controller for w (a static plan: one segment) dispatching with policy. Free with
 * sim_control_free(). Errors: MX_EUSAGE when the plan changes over time. */
int sim_control_new(const struct sim_world *w, const struct sim_dispatch_policy *policy,
                    struct sim_control **out);
void sim_control_free(struct sim_control *c);

/* Decide request i (trace order) at decided_ns, the time the controller sees it. */
void sim_control_decide(struct sim_control *c, size_t i, mx_ns decided_ns, struct sim_decision *d);

/* The weight of each new measurement in a stage's learned ratio. */
#define SIM_CONTROL_SMOOTHING 0.1

/* Request i, admitted to global group g, finished stage k at actual_ns; the stage took
 * measured_ns where the world says world_ns. measured_ns < 0: the stage failed to run it (it
 * teaches no latency; sim_control_request_done follows). */
void sim_control_stage_done(struct sim_control *c, uint32_t g, uint32_t k, size_t i,
                            mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns);

/* Request i, admitted to group g, is no longer outstanding: it completed its last stage, or it
 * failed (completed false: it leaves the stages it will not reach). */
void sim_control_request_done(struct sim_control *c, uint32_t g, size_t i, bool completed);

/* When request i is due at the controller (its arrival plus the client overhead), and when it
 * could start stage 0 if deciding and handing it over took no time (plus the dispatch and exec
 * overheads): trace time, the world's mean overheads. */
mx_ns sim_control_decision_due(const struct sim_control *c, size_t i);
mx_ns sim_control_ready_due(const struct sim_control *c, size_t i);

/* Request i's outcome when its last stage ends at last_stage_ns: its finish for its client (after
 * the reply overhead) in *finish_ns, and whether that is good or late. */
enum sim_status sim_control_outcome(const struct sim_control *c, size_t i, mx_ns last_stage_ns,
                                    mx_ns *finish_ns);

#endif
