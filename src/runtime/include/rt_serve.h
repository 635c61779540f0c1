/* The bundled runtime: execute a plan for real (docs/runtime.md).
 *
 * One controller (the calling thread) and one worker thread per device of the plan. Requests
 * enter at their trace times on an absolute clock (open loop; the trace's first arrival is the
 * run's start). The controller decides with the simulator's own dispatch and admission
 * (sim_control.h) and emulates the cluster's client, dispatch and exec overheads as delays;
 * admitted requests queue at their group's first stage, whose workers run the model's layers with
 * real computation (rt_backend.h) and hand activations to the next stage through bounded queues.
 * Every measured stage completion corrects the controller's stage clocks.
 *
 * Every request ends exactly once as good, late, rejected (at dispatch or admission) or failed
 * (a full queue, or an executor error). Memory is bounded by the trace and the queue capacity,
 * whatever the load. A stop request (Ctrl-C) stops the releases; requests already admitted run
 * to the end and the report covers the requests released. */
#ifndef RT_SERVE_H
#define RT_SERVE_H

#include "mx_progress.h"
#include "sim.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spec_plan;
struct spec_profile;
struct rt_backend;
struct sim_dispatch_policy;

struct rt_options {
    const struct rt_backend *backend;
    const struct sim_dispatch_policy *dispatch; /* NULL: least-outstanding */
    const char *zoo_dir;                        /* the model architectures */
    const uint32_t *cores;       /* cpu: device d runs pinned on cores[d]; NULL: core d */
    uint32_t n_cores;            /* entries of cores */
    uint64_t seed;               /* model weights and request tokens */
    uint32_t queue_capacity;     /* requests waiting at a group's first stage; 0: 1024 */
    volatile sig_atomic_t *stop; /* may be NULL; set (by a signal handler) to stop releases */
    bool calibrate_only;         /* build and warm up, measure the calibration, release nothing */
    struct mx_progress_sink progress; /* the share of requests released (zero: not reported) */
};

/* Measured latency of one stage (group, stage) over the requests it ran. */
struct rt_stage_report {
    uint32_t group, stage;
    size_t runs;
    double mean_s, p50_s, p90_s, p99_s, max_s;
    double profiled_s; /* the profile's batch-1 latency of the stage for each run's model, averaged
                          over the runs (before the cluster's stage factor) */
};

/* The controller's own overhead: from when a request would start stage 0 if deciding and handing
 * over took no time (its arrival plus the cluster's client, dispatch and exec overheads) to when
 * it did, over the requests that found stage 0 idle then. */
struct rt_overhead_report {
    size_t idle_runs; /* requests that found stage 0 idle: what the figures cover */
    double mean_s, p50_s, p99_s, max_s;
};

/* What one stage of one model took during the warm-up (back to back, every worker at once). */
struct rt_warm_report {
    uint32_t group, stage, model; /* model: the trace's index */
    double median_s;
    double profiled_s; /* the profile's latency (before the cluster's stage factor) */
};

struct rt_report {
    const char *backend;
    struct sim_results *results; /* per request, as the simulator's (world's trace order) */
    size_t released;             /* requests released; the rest were never (after a stop) */
    bool interrupted;
    bool realtime; /* the controller ran with real-time priority (SCHED_FIFO; needs the right) */
    size_t failed;
    char *first_failure; /* message of the first failed execution, or NULL */
    double wall_s;       /* run time, first arrival to last completion (0 for calibrate_only) */
    size_t n_stages;
    struct rt_stage_report *stages; /* [n_stages] in the world's group and stage order */
    struct rt_overhead_report overhead;
    /* Warm-up forward time over the profile's stage latency (without the cluster's stage factor),
     * averaged over every (stage, hosted model) weighted by the model's share of the trace's
     * requests: a stage factor that fits this machine now (docs/runtime.md). NaN when no stage has
     * a profile. */
    double calibration;
    /* Over the run: the sum of the measured stage latencies over the sum of the world's (so with
     * the cluster's stage factor): how much slower than predicted the stages ran. NaN: none ran. */
    double realized;
    size_t n_warm;
    struct rt_warm_report *warm; /* [n_warm] what the calibration is made of */
    /* Per request, what a replay of the run needs (sim_replay.h): when the controller decided it
     * (trace time; MX_NS_NEVER when it was never released), and how long each stage of its group
     * took to run it (-1 where it did not run). */
    uint32_t max_stages;
    mx_ns *decided_ns; /* [results->n] */
    mx_ns *stage_ns;   /* [results->n][max_stages] */
};

/* Check that plan can run on this machine with o (models in the zoo, a device per core for cpu,
 * GPUs for cuda), then serve w's trace. w must be compiled from plan. Errors before the run are
 * MX_EINPUT naming the plan (plan_path) or the zoo; failures inside the run are per request.
 * Release out with rt_report_release(). */
int rt_serve(const struct sim_world *w, const struct spec_plan *plan, const char *plan_path,
             const struct spec_profile *db, const struct rt_options *o, struct rt_report *out);
void rt_report_release(struct rt_report *r);

/* The runtime's own figures as JSON: backend, released, interrupted, realtime_controller,
 * failed, first_failure, wall_s, calibration, realized, warm_up, stages, controller_overhead. */
json_t *rt_report_json(const struct sim_world *w, const struct rt_report *r);

#endif
