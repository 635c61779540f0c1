/* Interference between the devices of a node, as the simulator applies it (the rule is
 * spec_variability.h's): work of d devices whose alone time is W progresses at rate
 * slowdown(d) / slowdown(busy(t)), busy(t) counting the node's devices that run work at t, its own
 * included.
 *
 * The event engine applies it forwards (sim_interference.c's tracker: when work ends). This is the
 * inverse, for runs whose start and end were measured (the runtime's): how much alone time each
 * did, so that a run's measured times can be compared with, and fitted to, the model. */
#ifndef SIM_INTERFERENCE_H
#define SIM_INTERFERENCE_H

#include "mx_time.h"
#include "spec_variability.h"

#include <stddef.h>
#include <stdint.h>

/* One run of work: when it held its devices, and where. */
struct sim_span {
    mx_ns start_ns, end_ns; /* end >= start */
    uint32_t node;
    uint32_t devices; /* how many devices of the node it held (>= 1) */
};

/* For each of the n spans, the alone time of the work it did under f, in ns (the integral of
 * slowdown(devices) / slowdown(busy(t)) over the span, busy(t) counting the devices of every span
 * on its node that holds t): work_ns[i] <= end - start when slowdown grows with busy. Cost
 * O(n log n); allocates. */
void sim_interference_work(const struct spec_interference *f, const struct sim_span *spans,
                           size_t n, double *work_ns);

/* For each of the n spans, the busy count of its node (its own devices included) during at least
 * `share` (in (0.5, 1]) of its time, or 0 when no count held that long: which runs ran alone, and
 * which beside how many busy devices, to measure interference from a run (fidelity). Cost
 * O(n log n); allocates. */
void sim_interference_busy(const struct sim_span *spans, size_t n, double share,
                           uint32_t *busy_out);

#endif
