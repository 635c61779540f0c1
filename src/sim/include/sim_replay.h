/* Replaying a served run: the runtime's controller (sim_control.h) against simulated stages whose
 * service times are given, instead of the profile's.
 *
 * `muxplan serve` decides with sim_control and feeds it the stage completions its workers
 * measure. A replay runs the same controller over a discrete-event model of those workers: each
 * request is decided at the time the run decided it (or its arrival plus the client overhead),
 * admitted ones queue at their group's first stage and move through its stages first-come
 * first-served, each stage taking the service time given for that request (what the run
 * measured), and every completion is reported to the controller as the runtime reports it. So a
 * replay on a run's own timings reproduces what the runtime should have done whatever the
 * machine's speed: any gap between the two is the runtime departing from the simulator's rules
 * (or its hand-offs between stages), not the machine being slower than the profile.
 *
 * Stage 0 starts a request no earlier than its ready time (decision + dispatch + exec overheads);
 * a later stage as soon as it is free and the request finished the stage before. Finishes go
 * before decisions at equal times. Results are in the simulator's format (engine "replay"). */
#ifndef SIM_REPLAY_H
#define SIM_REPLAY_H

#include "mx_time.h"

#include <stddef.h>
#include <stdint.h>

struct sim_world;
struct sim_results;
struct sim_dispatch_policy;

/* The service time of request i on stage k of global group g, whose batch-1 latency in the world
 * is world_ns: at least 0. */
struct sim_service {
    mx_ns (*time_ns)(void *arg, size_t i, uint32_t g, uint32_t k, mx_ns world_ns);
    void *arg;
};

/* Replay w (a static plan) dispatching with policy; decided_ns[i] is when the controller decides
 * request i (trace time, nondecreasing in trace order), or NULL for arrival + client overhead.
 * Errors: MX_EUSAGE for a plan that changes over time. The caller frees *out with
 * sim_results_free(). Cost: O(requests x stages x log(stages)) plus the controller's. */
int sim_replay(const struct sim_world *w, const struct sim_dispatch_policy *policy,
               const mx_ns *decided_ns, const struct sim_service *service,
               struct sim_results **out);

#endif
