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
#include "sim_metrics.h"
#include "spec_cluster.h"
#include "spec_plan.h"

#include <stdbool.h>
#include <stdint.h>

struct spec_profile;
struct spec_model_set;
struct wl_trace;
struct sim_dispatch_policy;

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
    bool swap_cost;      /* clockwork++: charge weight loading between windows (off: free) */
};

enum plan_param_id {
    PLAN_PARAM_GROUP_SIZE,
    PLAN_PARAM_BEAM,
    PLAN_PARAM_MAX_OP,
    PLAN_PARAM_MAX_PP,
    PLAN_PARAM_WINDOW,
    PLAN_PARAM_SWAP_COST,
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

struct plan_policy {
    const char *name; /* CLI name; greedy-<s> matches by prefix */
    const char *summary;
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

/* Score plan on a test workload as the planner scores (the fast path, random overheads at their
 * means, pb's cluster, profile, dispatch policy, seed and threads): the summary after warmup_s.
 * Release with sim_summary_release(). */
int plan_score(const struct plan_problem *pb, const struct spec_plan *plan,
               const struct wl_trace *test, double warmup_s, struct sim_summary *out);

#endif
