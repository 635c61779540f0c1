/* Stage clocks corrected by real finishes: how a controller predicts when its stages are next free
 * once stage times are no longer the ones it predicted with (docs/runtime.md, Corrections). The
 * runtime's controller (sim_control.c) and the event engine with variable stage times
 * (sim_event.c) both keep their clocks with it, so the simulator corrects exactly as the runtime
 * does. Internal to src/sim.
 *
 * Each stage keeps the work admitted to it and not finished there (requests, or batches), in
 * admission order, each with when it may start on the stage (its ready time, or its predicted
 * finish on the stage before) and the latency it was admitted with. When a stage finishes an
 * entry at t, its clock is predicted again from t through the entries still pending, and the
 * entry's input on the next stage becomes t, which predicts that stage again too. Each stage also
 * learns how fast it really is: the ratio of measured to world latency, smoothed by
 * SIM_CONTROL_SMOOTHING, multiplies the latencies it is admitted with from then on. */
#ifndef SIM_CORRECT_H
#define SIM_CORRECT_H

#include "mx_time.h"

#include <stdbool.h>
#include <stdint.h>

/* One entry of a stage: a request or a job, by its index. */
struct sim__pending {
    uint32_t id;
    mx_ns input_ns;   /* when it may start on the stage */
    mx_ns latency_ns; /* the latency it was admitted with */
};

/* A stage's entries in admission (= execution) order: a growable ring. */
struct sim__pending_queue {
    struct sim__pending *items;
    uint32_t head, count, capacity;
};

struct sim__corrected {
    uint32_t n_stages;
    mx_ns *clock;                       /* [n_stages] predicted next-free time */
    mx_ns *free_ns;                     /* [n_stages] the last real finish (or ready time) */
    struct sim__pending_queue *pending; /* [n_stages] */
    double *ratio;                      /* [n_stages] learned measured / world latency */
};

/* n_stages stages, every clock at 0 and every ratio 1. */
void sim__corrected_init(struct sim__corrected *c, uint32_t n_stages);
void sim__corrected_release(struct sim__corrected *c);

/* Stage s (a global index) serves nothing before t: its clock and last finish are t. */
void sim__corrected_start_at(struct sim__corrected *c, uint32_t s, mx_ns t);

/* The latencies lat[0..n) of stages base.. scaled by their learned ratios into out (each >= 1). */
void sim__corrected_scale(const struct sim__corrected *c, uint32_t base, const mx_ns *lat,
                          uint32_t n, mx_ns *out);

/* Entry id was admitted to stages base..base + n - 1, ready for stage 0 at ready_ns, predicted to
 * finish them at f[] with latencies lat[] (as scaled): the clocks take f. */
void sim__corrected_admit(struct sim__corrected *c, uint32_t base, uint32_t n, uint32_t id,
                          mx_ns ready_ns, const mx_ns *f, const mx_ns *lat);

/* Entry id finished stage s at actual_ns, having taken measured_ns where the world says world_ns
 * (measured_ns < 0: it failed there and teaches nothing); next is the next stage of its group, or
 * UINT32_MAX after the last. */
void sim__corrected_stage_done(struct sim__corrected *c, uint32_t s, uint32_t next, uint32_t id,
                               mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns);

/* Entry id will not reach those of stages base..base + n - 1 it has not finished: they are
 * predicted again without it. */
void sim__corrected_forget(struct sim__corrected *c, uint32_t base, uint32_t n, uint32_t id);

#endif
