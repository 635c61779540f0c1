/* The planner: search group partitions, parallel configs and model placements by simulated SLO
 * attainment on a training workload (docs/planner.md).
 *
 * A policy turns a problem (models, cluster, profile, training trace) into a plan. Every policy
 * scores candidates with the simulator's fast path (sim_eval.h) under the cluster's overheads
 * (random terms at their means) and the problem's dispatch policy, without variability; the
 * alpaserve policies may rescore their finalists with it (variance_finalists). Candidate
 * evaluations run on `threads` threads and the result does not depend on their number. */
#ifndef PLANNER_H
#define PLANNER_H

#include "mx_progress.h"
#include "sim_llm_metrics.h"
#include "sim_metrics.h"
#include "spec_cluster.h"
#include "spec_plan.h"

#include <stdbool.h>
#include <stdint.h>

struct spec_profile;
struct spec_model_set;
struct wl_trace;
struct sim_dispatch_policy;

/* The decoders' KV reserve beyond one full-context request per hosted model (docs/planner.md). */
#define PLAN_DEFAULT_KV_MARGIN 0.5

struct plan_problem {
    const struct spec_cluster *cluster;
    const char *cluster_path;
    const struct spec_profile *db;
    const char *db_path;
    const struct spec_model_set *models; /* resolved (SLOs in seconds) */
    const struct wl_trace *train;        /* its models are models' models, by index */
    const struct sim_dispatch_policy *dispatch;
    unsigned threads;
    uint64_t seed;
    bool activation_memory; /* the memory model counts batch-1 activation bytes too */
    double kv_margin; /* decoders: each hosted model keeps a KV reserve of 1 + kv_margin requests
                         of its full context (spec_model_fit_bytes) */
    /* alpaserve, alpaserve-sep: rescore the best this many group layouts (each filled as usual)
     * with variable stage times (the cluster's interference and stage_time, the event engine,
     * seed) and keep the best by that score; 0 or 1, or a cluster without variability: the
     * deterministic score alone decides (docs/planner.md). */
    uint32_t variance_finalists;
    struct mx_progress_sink progress; /* how far the search is (optional: zero for none) */
};

/* Policy parameters; each policy reads the ones its table entry lists and records them in its
 * plans. Their names, ranges and defaults are plan_param_table's. */
struct plan_params {
    uint32_t group_size; /* round-robin, greedy-<s>: devices per group */
    uint32_t beam;       /* greedy fill: 1 = greedy, k > 1 = beam search of width k */
    uint32_t max_op;     /* alpaserve: largest tensor-parallel degree */
    uint32_t max_pp;     /* alpaserve: largest pipeline depth */
    double window_s;     /* clockwork++: window length */
    bool swap_cost;      /* clockwork++: charge weight loading between windows (an error without
                            the cluster's load bandwidth) */
    bool free_swaps;     /* clockwork++: swaps are free (AlpaServe's oracle); with neither flag,
                            they are charged when the cluster gives its load bandwidth */
    uint32_t robust;     /* mux: windows of the training workload planned against at once */
    uint32_t max_batch;  /* mux: the largest batch it scores (0: the profile's largest; 1: none) */
    double effort;       /* mux: a layout's search simulates up to effort x the training requests */
};

enum plan_param_id {
    PLAN_PARAM_GROUP_SIZE,
    PLAN_PARAM_BEAM,
    PLAN_PARAM_MAX_OP,
    PLAN_PARAM_MAX_PP,
    PLAN_PARAM_WINDOW,
    PLAN_PARAM_SWAP_COST,
    PLAN_PARAM_FREE_SWAPS,
    PLAN_PARAM_ROBUST,
    PLAN_PARAM_EFFORT,
    PLAN_PARAM_MAX_BATCH,
    PLAN_N_PARAMS
};

enum plan_param_kind {
    PLAN_PARAM_COUNT, /* a uint32_t field, an integer in the plan */
    PLAN_PARAM_REAL,  /* a double field */
    PLAN_PARAM_FLAG,  /* a bool field: the option takes no value and sets it */
};

/* One parameter: how the command line names it, how a plan records it, its default and range. */
struct plan_param {
    const char *option; /* "group-size": the command line's --group-size */
    const char *value;  /* its value in help texts ("S"), NULL for a flag */
    const char *key;    /* "group_size": its member of a plan's "parameters" */
    const char *help;   /* one line */
    enum plan_param_kind kind;
    size_t offset; /* of its field in struct plan_params */
    double def, min, max;
};

/* Every parameter, indexed by enum plan_param_id. */
extern const struct plan_param plan_param_table[PLAN_N_PARAMS];

/* A policy's outcome besides the plan. */
struct plan_outcome {
    double attainment;         /* on the training workload, as the planner scored it */
    double mean_latency_s;     /* AlpaServe's: refused requests count 0 */
    uint32_t groups, replicas; /* of a schedule: the most any window has */
    uint32_t evaluations;      /* simulations run */
};

/* Which kinds of model a policy places. */
enum plan_kinds {
    PLAN_ENCODERS_ONLY, /* models served in one forward pass */
    PLAN_BOTH,          /* either kind (a model set has one) */
    PLAN_DECODERS_ONLY, /* autoregressive models */
};

struct plan_policy {
    const char *name; /* CLI name; greedy-<s> matches by prefix */
    const char *summary;
    enum plan_kinds decoders;
    /* The parameters it reads, in the order its plans record them. */
    uint32_t n_params;
    const enum plan_param_id *params;
    int (*solve)(const struct plan_policy *self, const struct plan_problem *pb,
                 const struct plan_params *pa, struct spec_plan **out,
                 struct plan_outcome *outcome);
};

/* Whether policy reads parameter id. */
bool plan_policy_takes(const struct plan_policy *policy, enum plan_param_id id);

/* Every policy, NULL-terminated, in --help order. */
extern const struct plan_policy *const plan_policies[];

/* The policy named name ("greedy-4" sets params->group_size to 4), or NULL. */
const struct plan_policy *plan_policy_find(const char *name, struct plan_params *params);

/* Every parameter at its default (plan_param_table). */
struct plan_params plan_params_default(void);

/* Parameter id's value in pa, as a double. */
double plan_param_get(const struct plan_params *pa, enum plan_param_id id);
/* Set parameter id in pa to v (in its range: the caller checks). */
void plan_param_set(struct plan_params *pa, enum plan_param_id id, double v);

/* The dispatch policy plans are scored with unless told otherwise: earliest-free, as AlpaServe's
 * planner simulates. */
extern const struct sim_dispatch_policy *const plan_default_dispatch;

/* Plan with policy. Bad problems (a model that fits no config the policy uses, a group size the
 * cluster cannot hold) are MX_EINPUT or MX_EUSAGE with a message; models that cannot be placed
 * for lack of memory are listed in the plan's "unplaced". The plan records the policy, its
 * parameters and the predicted metrics (its provenance is the caller's). */
int plan_solve(const struct plan_policy *policy, const struct plan_problem *pb,
               const struct plan_params *pa, struct spec_plan **out, struct plan_outcome *outcome);

/* Whether the problem's models are decoders (a model set holds one kind). */
bool plan_has_decoders(const struct plan_problem *pb);

/* A plan's figures on a test workload: the encoders' summary, or the decoders'. */
struct plan_test {
    bool decoders;
    double attainment; /* of whichever */
    struct sim_summary encoders;
    struct sim_llm_summary llm;
};

/* Score plan on a test workload as the planner scores (random overheads at their means, pb's
 * cluster, profile, seed and threads; encoders with the dispatch policy the plan records or else
 * pb's, and the batch size it records or else none: the fast path without batching, the event
 * engine with it; decoders on the iteration-level simulator): the summary after warmup_s. Release
 * with plan_test_release(). */
int plan_score(const struct plan_problem *pb, const struct spec_plan *plan,
               const struct wl_trace *test, double warmup_s, struct plan_test *out);
void plan_test_release(struct plan_test *t);

/* plan_score, and the attainment in each of n_windows windows of equal length that cut the scored
 * span of the test workload ([first arrival + warmup_s, last arrival - warmup_s], the last window
 * closed) into attainment[n_windows] (NAN for a window without requests): the spread of
 * attainment over held-out windows. */
int plan_score_windows(const struct plan_problem *pb, const struct spec_plan *plan,
                       const struct wl_trace *test, double warmup_s, uint32_t n_windows,
                       double *attainment, struct plan_test *out);

#endif
