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
#include "spec_variability.h"

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
    const uint32_t *cores; /* cpu: device d runs pinned on cores[d]; NULL: core d */
    uint32_t n_cores;      /* entries of cores */
    /* cpu: the core the controller runs on; -1: the lowest core this process may use that no
     * device of the plan runs on, or (when there is none) any of them, sharing the devices'. */
    int32_t controller_core;
    const char *cluster_path;    /* names the cluster file in messages about its members */
    uint32_t devices_per_node;   /* the cluster's: whose devices interfere (0: one node) */
    uint64_t seed;               /* model weights and request tokens */
    uint32_t queue_capacity;     /* requests waiting at a group's first stage; 0: 1024 */
    volatile sig_atomic_t *stop; /* may be NULL; set (by a signal handler) to stop releases */
    /* Build and warm up, time each stage alone and the stages of a node together, and release
     * nothing: rt_report.calibration, .interference and .stage_time (docs/runtime.md). */
    bool calibrate_only;
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

/* What one stage of one model took during the warm-up, back to back. */
struct rt_warm_report {
    uint32_t group, stage, model; /* model: the trace's index */
    double median_s;   /* what the calibration takes: alone_s if measured, else warm_up_s */
    double warm_up_s;  /* median with every stage running at once (the first phase) */
    double alone_s;    /* median with no other stage running (calibrate_only; else NaN) */
    double together_s; /* median with every stage of its node running (calibrate_only, more
                          than one stage on the node; else NaN) */
    double profiled_s; /* the profile's latency (before the cluster's stage factor) */
};

struct rt_report {
    const char *backend;
    struct sim_results *results; /* per request, as the simulator's (world's trace order) */
    size_t released;             /* requests released; the rest were never (after a stop) */
    bool interrupted;
    bool realtime; /* the controller ran with real-time priority (SCHED_FIFO; needs the right) */
    /* cpu: the core the controller was pinned to, or -1 when the plan's devices left none free and
     * it ran on theirs (controller_shared: then it takes time from their stages). */
    int32_t controller_core;
    bool controller_shared;
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
    /* calibrate_only: the interference the phases showed (n 0 when no node ran two stages), and
     * the distribution of alone run times over their calibrated latency (times `calibration`),
     * pooled over every (stage, model). */
    struct spec_interference interference;
    struct spec_dist stage_time;
    /* Per request, what a replay of the run needs (sim_replay.h): when the controller decided it
     * (trace time; MX_NS_NEVER when it was never released), and how long each stage of its group
     * took to run it (-1 where it did not run). */
    uint32_t max_stages;
    mx_ns *decided_ns; /* [results->n] */
    mx_ns *stage_ns;   /* [results->n][max_stages] */
    /* Per request and stage, for fitting the simulator to the run: the world's latency it was
     * admitted with, and when the stage began and ended running it (trace ns; -1: not run). */
    mx_ns *world_ns;     /* [results->n][max_stages] */
    mx_ns *run_start_ns; /* [results->n][max_stages] */
    mx_ns *run_end_ns;   /* [results->n][max_stages] */
};

/* Check that plan can run on this machine with o (models in the zoo, a device per core for cpu,
 * GPUs for cuda), then serve w's trace. w must be compiled from plan. Errors before the run are
 * MX_EINPUT naming the plan (plan_path) or the zoo; failures inside the run are per request.
 * Release out with rt_report_release(). */
int rt_serve(const struct sim_world *w, const struct spec_plan *plan, const char *plan_path,
             const struct spec_profile *db, const struct rt_options *o, struct rt_report *out);
void rt_report_release(struct rt_report *r);

/* The runtime's own figures as JSON: backend, released, interrupted, realtime_controller,
 * controller (core, shared), failed, first_failure, wall_s, calibration, realized, warm_up,
 * interference and stage_time (after a calibration), stages, controller_overhead. */
json_t *rt_report_json(const struct sim_world *w, const struct rt_report *r);

#endif
