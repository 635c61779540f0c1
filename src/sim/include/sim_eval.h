/* Evaluating many placements of one workload quickly: the planner's inner loop.
 *
 * sim_eval_new() compiles a trace, the cluster's overheads and every profiled config of the
 * models' bases once. Then any number of threads, each with its own sim_eval_state, simulate
 * candidate placements on the fast path in counting mode: no per-request output, no name lookups,
 * nothing allocated per request. Results equal `muxplan simulate` on the same placement with the
 * fast engine (a test checks it).
 *
 * Overheads must be constant for the fast path; a cluster with random overheads is evaluated with
 * the mean of each term. */
#ifndef SIM_EVAL_H
#define SIM_EVAL_H

#include "spec_cluster.h"

#include <stddef.h>
#include <stdint.h>

struct spec_placement;
struct spec_profile;
struct wl_trace;
struct sim_dispatch_policy;

/* What an evaluation measured, over the whole workload (no warmup trimming). */
struct sim_eval_result {
    uint64_t requests, good;
    double attainment;              /* good / requests */
    double mean_latency_s;          /* sum of finish - arrival over admitted requests / requests
                                       (refused ones count 0, as AlpaServe's score does) */
    const uint64_t *model_requests; /* [n_models] */
    const uint64_t *model_good;     /* [n_models] */
    const uint64_t *group_requests; /* [n_groups] requests dispatched to each group */
    uint64_t simulated;             /* requests this evaluation simulated (requests, unless it was
                                       an incremental one) */
};

struct sim_eval;
struct sim_eval_state;

/* Compile trace for evaluation. bases[m] is the base model of trace model m (borrowed during the
 * call). A base without any profile config is MX_EINPUT naming db_path. The trace must outlive the
 * evaluator. Free with sim_eval_free(). */
int sim_eval_new(const struct spec_cluster *cluster, const struct spec_profile *db,
                 const char *db_path, const struct wl_trace *trace, const char *const *bases,
                 const struct sim_dispatch_policy *dispatch, struct sim_eval **out);
void sim_eval_free(struct sim_eval *e);

uint32_t sim_eval_model_count(const struct sim_eval *e);

/* One thread's evaluation scratch. */
struct sim_eval_state *sim_eval_state_new(const struct sim_eval *e);
void sim_eval_state_free(struct sim_eval_state *s);

/* Simulate placement p (spec_placement.h), whose models are indices into the evaluator's models
 * (the trace's model indices); a group's first device names it across evaluations, so first
 * devices are unique and below the cluster's device count. Every hosted model must have the
 * group's config profiled (a missing one is a bug: callers check the profile first). The result's
 * arrays live in s until its next evaluation. Cost: O(requests x stages) plus O(replicas) to set
 * up. */
void sim_eval_run(struct sim_eval_state *s, const struct spec_placement *p,
                  struct sim_eval_result *out);

/* sim_eval_run with another dispatch policy than the evaluator's (NULL: the evaluator's), listing
 * the requests that were not good (trace indices, ascending) in misses, up to miss_cap of them
 * (misses may be NULL); there are out->requests - out->good in all. Encoder mode only (as is
 * sim_eval_run_ranges). */
void sim_eval_run_misses(struct sim_eval_state *s, const struct spec_placement *p,
                         const struct sim_dispatch_policy *dispatch, uint32_t *misses,
                         size_t miss_cap, struct sim_eval_result *out);

/* Simulate p on n_ranges stretches of the workload, stretch k being requests [ranges[2k],
 * ranges[2k + 1]) (trace indices), each from idle groups as if it were a workload alone, with
 * dispatch (NULL: the evaluator's): the planner's way to score a placement on a few short windows
 * of a long workload. out sums over the stretches (its requests are theirs); good_out[k] (may be
 * NULL) gets stretch k's good requests. Cost: O(requests in the stretches + models + replicas). */
void sim_eval_run_ranges(struct sim_eval_state *s, const struct spec_placement *p,
                         const struct sim_dispatch_policy *dispatch, const size_t *ranges,
                         uint32_t n_ranges, uint64_t *good_out, struct sim_eval_result *out);

/* The same result as sim_eval_run, computed from the state's previous evaluation by re-simulating
 * only the requests the change between the two placements can affect (groups whose first device
 * keeps its model list are reused). Falls back to a full run when the state's previous evaluation
 * was not sim_eval_run_next's, the dispatch policy reads outstanding counts, a group's first device
 * changed its config, a group is deeper than the previous placement's deepest, the previous
 * placement had one latency vector per group and this one has not (the uniform form,
 * sim_fast_step.h), or the previous incremental run re-simulated over 30% of the workload. Meant
 * for sequences of small changes, such as a greedy fill adding one replica at a time. A state keeps
 * (3 + deepest pp) * 8 bytes per request for it (32 in the uniform form), and 4 bytes per request
 * for each replica of its model (the groups' request streams). */
void sim_eval_run_next(struct sim_eval_state *s, const struct spec_placement *p,
                       struct sim_eval_result *out);

#endif
