/* The discrete-event simulator: replay a trace against a plan and measure SLO attainment.
 *
 * Semantics are docs/simulator.md's. In short: a request arrives, reaches the
 * controller after the client overhead, is dispatched to one group hosting its model (a dispatch
 * policy picks which), reaches the group after the dispatch overhead, and is admitted only if its
 * predicted finish plus the fixed margin meets its deadline; admitted requests run through the
 * group's pipeline stages first-come first-served and finish after the reply overhead.
 *
 * Use: compile a world once (sim_world_new: validates the plan against cluster and profile and
 * turns every latency into integer nanoseconds), then run it as often as needed (sim_run), then
 * summarise the results (sim_summarize) and write them (sim_output.h). */
#ifndef SIM_H
#define SIM_H

#include "mx_time.h"
#include "spec_cluster.h"

#include <stddef.h>
#include <stdint.h>

struct spec_plan;
struct spec_profile;
struct wl_trace;
struct sim_dispatch_policy;

/* How each request ended. Rejected, dropped and no_replica all count as rejected in summaries. */
enum sim_status {
    SIM_GOOD = 0,       /* finished within its SLO */
    SIM_LATE = 1,       /* admitted, finished after its deadline */
    SIM_REJECTED = 2,   /* refused at admission, or by best-finish dispatch */
    SIM_DROPPED = 3,    /* left a batching queue once it could no longer meet its deadline */
    SIM_NO_REPLICA = 4, /* its model has no replica in the plan (segment) */
    SIM_FAILED = 5,     /* the runtime could not execute it (never produced by the simulator) */
    SIM_N_STATUS
};

/* Lower-case names of the statuses: "good", "late", "rejected", ... */
extern const char *const sim_status_names[SIM_N_STATUS];

enum sim_engine {
    SIM_ENGINE_AUTO,  /* the fast path where it is valid, else the event engine */
    SIM_ENGINE_FAST,  /* one pass of the recurrence: no batching, constant overheads */
    SIM_ENGINE_EVENT, /* the event engine: every mode */
};

struct sim_options {
    enum sim_engine engine;
    const struct sim_dispatch_policy *dispatch; /* NULL: least-outstanding */
    uint32_t max_batch;                         /* 1 (or 0): no batching */
    uint64_t seed;                              /* for random overheads and stage times */
    unsigned threads;                           /* segments of a schedule run in parallel */
    /* Draw stage times from the world's distributions and apply its interference model
     * (docs/simulator.md, Variability): the event engine only. Off, or a world that does not
     * vary: every stage takes its latency. */
    bool variability;
};

/* A compiled simulation input. Opaque; read-only after sim_world_new, so runs may share it. */
struct sim_world;

/* Requests are indexed by uint32_t inside the engines: a trace may hold fewer than this. */
#define SIM_MAX_REQUESTS UINT32_MAX

/* Validate plan against cluster and profile (spec_plan_validate), map every trace model to a plan
 * model by name, check the trace holds 1 to SIM_MAX_REQUESTS - 1 requests and every scaled stage
 * latency is at most 1e5 s, and compile the latency tables. The paths name the inputs in messages.
 * Errors are MX_EINPUT. trace must outlive the world; the other inputs are only read during the
 * call. Free with sim_world_free(). */
int sim_world_new(const struct spec_cluster *cluster, const char *cluster_path,
                  const struct spec_profile *db, const char *db_path, const struct spec_plan *plan,
                  const struct wl_trace *trace, struct sim_world **out);
void sim_world_free(struct sim_world *w);

/* Per-request outcomes in trace order, plus per-stage busy time. */
struct sim_results {
    size_t n;
    uint8_t *status;    /* [n] enum sim_status */
    int32_t *group;     /* [n] global group index (sim_world_group_*), -1 when never dispatched */
    mx_ns *start_ns;    /* [n] stage-0 start, MX_NS_NEVER when never executed */
    mx_ns *finish_ns;   /* [n] finish (after the reply overhead); for a refused request the time
                           it was refused */
    mx_ns *exec_ns;     /* [n] time spent in stages (0 when never executed) */
    uint16_t *batch;    /* [n] batch size it ran in (0 when never executed) */
    size_t n_stages;    /* stages over all groups */
    mx_ns *busy_ns;     /* [n_stages] total busy time of each stage */
    const char *engine; /* "fast" or "event": the engine that produced them */
    _Atomic uint64_t events; /* events the event engine processed (0 for the fast path) */
};

/* Run the simulation. Errors: MX_EUSAGE when the fast engine is asked for a mode it does not cover
 * (batching, random overheads, variability in a world that varies). Free *out with
 * sim_results_free(). Cost: the fast path is O(n * stages) with no allocation in its loop; the
 * event engine O(events * log(pending)). */
int sim_run(const struct sim_world *w, const struct sim_options *o, struct sim_results **out);

/* The same into results made by sim_results_new(w), which runs may reuse: every field is
 * overwritten. For callers that simulate one world many times (the planner, benchmarks). */
struct sim_results *sim_results_new(const struct sim_world *w);
int sim_run_into(const struct sim_world *w, const struct sim_options *o, struct sim_results *r);
void sim_results_free(struct sim_results *r);

/* Whether options o can run on the fast path for w. */
bool sim_fast_path_valid(const struct sim_world *w, const struct sim_options *o);

/* Whether w's stage times vary: its cluster's interference model or stage-time distribution, or a
 * distribution given to a stage (sim_world_set_stage_time). */
bool sim_world_varies(const struct sim_world *w);

/* Before any run of w: stage `stage` of global group `group` draws its time ratio from d (copied)
 * instead of the cluster's stage_time: a distribution measured on that stage, say. */
void sim_world_set_stage_time(struct sim_world *w, uint32_t group, uint32_t stage,
                              const struct spec_dist *d);

/* Before any run of w: give each listed stage its distribution (st[j].group is a plan group id;
 * in a schedule, every group of that id). Errors are MX_EINPUT naming path and the entry: a group
 * the plan does not have, a stage it does not have. */
int sim_world_set_stage_times(struct sim_world *w, const struct spec_stage_time *st, size_t n,
                              const char *path);

/* Read-only facts of a world, for summaries and writers. */
size_t sim_world_requests(const struct sim_world *w);
uint32_t sim_world_model_count(const struct sim_world *w);
const char *sim_world_model_name(const struct sim_world *w, uint32_t model);
uint32_t sim_world_group_count(const struct sim_world *w);
int32_t sim_world_group_id(const struct sim_world *w, uint32_t group); /* the plan's id */
uint32_t sim_world_group_segment(const struct sim_world *w, uint32_t group);
uint32_t sim_world_group_stages(const struct sim_world *w, uint32_t group);
/* Where stage `stage` of global group `group` runs: its node and how many devices (its op). */
void sim_world_stage_place(const struct sim_world *w, uint32_t group, uint32_t stage,
                           uint32_t *node, uint32_t *devices);
const struct wl_trace *sim_world_trace(const struct sim_world *w);

#endif
