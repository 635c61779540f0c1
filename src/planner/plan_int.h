/* Planner internals shared by the search code and the policies. Not part of planner.h. */
#ifndef PLAN_INT_H
#define PLAN_INT_H

#include "planner.h"
#include "sim_eval.h"
#include "spec_placement.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wl_trace;

/* Empty groups: n_regular of (1, op, pp), then pure pipelines (1, 1, 2^k) over the remaining
 * devices, one per set bit of `remaining`, smallest first (AlpaServe's layout), on consecutive
 * devices from 0. */
void pl_placement_layout(struct spec_placement *p, uint32_t devices, uint32_t group_size,
                         int32_t op, int32_t pp);

/* Renumber groups in lexicographic order of their sorted model lists (stable for equal lists):
 * AlpaServe's normalisation, which also fixes the order dispatch breaks ties in. */
void pl_placement_normalize(struct spec_placement *p);

/* What a search works with: the problem, an evaluator over a workload, and per-model weights. */
struct pl_context {
    const struct plan_problem *pb;
    struct sim_eval *eval;
    uint32_t n_models;
    uint32_t *config_begin; /* [n_models + 1] into configs */
    struct pl_weight {
        int32_t op, pp;
        int64_t bytes; /* per device: the largest over the stages */
    } * configs;
};

/* Build a context over workload (whose model indices are pb->models' indices). */
int pl_context_init(struct pl_context *c, const struct plan_problem *pb,
                    const struct wl_trace *workload);
void pl_context_release(struct pl_context *c);

/* Per-device weight bytes of model m in config (1, op, pp), or -1 when not profiled. */
int64_t pl_weight(const struct pl_context *c, uint32_t m, int32_t op, int32_t pp);

/* Check that every model fits alone in some group of one of the n layouts; else MX_EINPUT naming
 * the model, its smallest size there and the budget. */
int pl_check_fits(const struct pl_context *c, const struct spec_placement *layouts, uint32_t n);

/* How the search ranks placements: more good requests, then a lower mean latency (AlpaServe's,
 * refused requests counting 0), then more replicas. AlpaServe adds the three with weights 1, -1e-4
 * and 1e-6; at a few thousand replicas that lets the replica count outweigh attainment, so they
 * are compared in order here. */
struct pl_score {
    uint64_t good;
    double mean_latency_s;
    uint32_t replicas;
};

/* > 0 when a ranks above b, < 0 below, 0 tied. */
int pl_score_compare(const struct pl_score *a, const struct pl_score *b);

/* Simulate p on the workload of s's evaluator and score it. */
struct pl_score pl_evaluate(struct sim_eval_state *s, const struct spec_placement *p,
                            struct sim_eval_result *result);

/* The same, computed incrementally from s's previous evaluation (sim_eval_run_next): for a
 * sequence of placements that each differ a little from the one before. */
struct pl_score pl_evaluate_next(struct sim_eval_state *s, const struct spec_placement *p,
                                 struct sim_eval_result *result);

/* The (group, model) pair AlpaServe's greedy adds to p next, given r, p's evaluation: models by
 * unserved requests (most first, ties to the higher index), groups by requests received (fewest
 * first, ties to the lower index); the first pair in that order where the model is not on the group
 * and fits its memory
 * (<= the budget). False when nothing fits. */
bool pl_greedy_next(const struct pl_context *c, const struct spec_placement *p,
                    const struct sim_eval_result *r, uint32_t *group, uint32_t *model);

/* One step of AlpaServe's greedy: evaluate p (s holds the previous step's run), score it in
 * *score, and add the pair pl_greedy_next() picks. False when nothing fits: p is then final. */
bool pl_greedy_step(const struct pl_context *c, struct sim_eval_state *s, struct spec_placement *p,
                    struct pl_score *score, uint32_t *evaluations);

/* The share of p's memory in use, in [0, 1]: how far a fill has gone. */
double pl_fill_progress(const struct pl_context *c, const struct spec_placement *p);

/* Fill p by AlpaServe's greedy (beam <= 1) or by beam search of width beam, until nothing fits,
 * reporting how full p is into progress (NULL: not reported; from one thread only). Returns the
 * final score; *evaluations counts simulations. */
struct pl_score pl_fill(const struct pl_context *c, struct sim_eval_state *s,
                        struct spec_placement *p, uint32_t beam, uint32_t *evaluations,
                        const struct mx_progress_sink *progress);

/* Fill p round robin over the groups (AlpaServe's replica_placement_round_robin). */
void pl_fill_round_robin(const struct pl_context *c, struct spec_placement *p);

/* Run work(item, state, arg) for items 0 .. n - 1 on up to `threads` threads, each thread with its
 * own evaluation state over eval (NULL states when eval is NULL: the items bring their own).
 * Items are independent; results go where arg says. */
void pl_parallel(uint32_t n, unsigned threads, const struct sim_eval *eval,
                 void (*work)(uint32_t item, struct sim_eval_state *s, void *arg), void *arg);

/* Run resumable items 0 .. n - 1 on up to `threads` threads: step(item, state, arg) advances an
 * item by one step and returns whether it has more; progress(item, arg) is the share of its work
 * done, in [0, 1], and the mean over the items goes to sink (NULL: none). Each item keeps one
 * evaluation state over eval from its first step to its last (states are reused by later items), so
 * it may move between threads from one step to the next, and as many states may be alive at once as
 * items are under way (more than threads). Every 25 ms a thread takes the item with the most time
 * left by estimate (items with fewer than two steps first, in order): longest remaining first,
 * which ends the longest items together rather than leaving one to run alone at the end. One thread
 * steps each item to its end. */
void pl_parallel_steps(uint32_t n, unsigned threads, const struct sim_eval *eval,
                       bool (*step)(uint32_t item, struct sim_eval_state *s, void *arg),
                       double (*progress)(uint32_t item, void *arg), void *arg,
                       const struct mx_progress_sink *sink);

/* A group layout the alpaserve policies consider: regular groups of group_size devices, each
 * (1, op, pp). */
struct pl_config {
    uint32_t group_size;
    int32_t op, pp;
};

/* AlpaServe's enumeration (enumerate_group_configs_uneven): group sizes 1, 2, 4, ... up to the
 * device count that fit a node or are whole nodes, each factored as op * pp with op <= max_op and
 * pp <= max_pp, keeping the layouts whose tensor-parallel stages stay inside nodes. The caller
 * frees *out. */
uint32_t pl_enumerate_configs(uint32_t devices, uint32_t per_node, uint32_t max_op, uint32_t max_pp,
                              struct pl_config **out);

/* Whether every tensor-parallel stage of p lies inside one node. */
bool pl_layout_valid(const struct spec_placement *p, uint32_t per_node);

/* The alpaserve search over `devices` devices of context c: the best filled layout of every
 * pl_enumerate_configs() config in *best (configs on threads), reporting into progress (NULL:
 * none). With check_fits, a model that fits no group of any layout is an error; without, it stays
 * unplaced. */
int pl_alpaserve_search(const struct pl_context *c, uint32_t devices, const struct plan_params *pa,
                        bool check_fits, struct spec_placement *best, uint32_t *evaluations,
                        const struct mx_progress_sink *progress);

/* alpaserve-sep's buckets: scanning the models in order, each joins the first bucket whose first
 * member's single-device latency L is within 38% of its own (|L_m - L| / L < 0.38), else opens
 * one. Sets bucket_of[m], each bucket's leader latency (arrays of set->n) and *n_buckets. A model
 * without a (1, 1, 1) profile is MX_EINPUT naming db_path. */
int pl_bucket_models(const struct spec_model_set *set, const struct spec_profile *db,
                     const char *db_path, uint32_t *bucket_of, double *leader_latency_s,
                     uint32_t *n_buckets);

/* Whether a part of i devices may be cut from n remaining ones: at most n mod per_node, or leaving
 * a multiple of per_node, or n is a multiple itself (AlpaServe's node alignment). */
bool pl_part_aligned(uint32_t n, uint32_t i, uint32_t per_node);

/* Ordered splits of devices into k parts of at least one device. */
struct pl_splits {
    uint32_t k, n, cap;
    uint32_t *parts; /* [n][k] */
};

/* Every node-aligned split, as AlpaServe's get_partitions lists them: the last part is chosen
 * first (ascending), the rest split recursively. Release with pl_splits_release(). */
void pl_enumerate_splits(uint32_t devices, uint32_t k, uint32_t per_node, struct pl_splits *out);
void pl_splits_release(struct pl_splits *s);

/* The splits (indices into all, in *kept, caller frees) whose largest gap between a bucket's share
 * of the rate and its share of capacity (devices / latency) is under the first threshold of 1, .5,
 * .3, .2, .1 that keeps fewer than 100 splits (or under .1). Returns their number. */
uint32_t pl_filter_splits(const struct pl_splits *all, const double *rate, const double *latency_s,
                          uint32_t **kept);

/* The parameters of alpaserve and alpaserve-sep, in the order their plans record them. */
extern const enum plan_param_id pl_alpaserve_params[3];

/* The plan for placement p (one segment), with its metrics recorded. */
/* The `dedicated` placement of c's decoders (policy_llm_baselines.c), by their load on c's
 * problem's training workload. */
int pl_llm_dedicated(const struct pl_context *c, struct spec_placement *out);

/* Record in each group of a decoder plan its scheduler, KV pool per stage and predicted figures on
 * pb's training workload (plan_llm.c). */
int pl_record_decoder_groups(struct spec_plan *plan, const struct plan_problem *pb);

struct spec_plan *pl_to_plan(const struct pl_context *c, const struct spec_placement *p);

/* Score the final placement p into *outcome and make its plan. */
int pl_finish(const struct pl_context *c, struct sim_eval_state *s, const struct spec_placement *p,
              uint32_t evaluations, struct spec_plan **out, struct plan_outcome *outcome);

/* Simulate a finished plan on pb's training workload as the planner scores (the fast path, random
 * overheads at their means, pb's dispatch policy) into outcome's attainment and mean latency. */
int pl_simulate(const struct plan_problem *pb, const struct spec_plan *plan,
                struct plan_outcome *outcome);

/* Simulate a finished plan on trace as the planner scores (random overheads at their means), with
 * dispatch and batches of up to max_batch (the event engine when over 1), on this thread: its good
 * requests and AlpaServe's mean latency. */
int pl_simulate_with(const struct plan_problem *pb, const struct spec_plan *plan,
                     const struct wl_trace *trace, const struct sim_dispatch_policy *dispatch,
                     uint32_t max_batch, uint64_t *good, double *mean_latency_s);

/* Record policy (as name), the parameters it reads and the outcome (on pb's training workload) in
 * plan->extra. */
void pl_record(struct spec_plan *plan, const struct plan_policy *policy, const char *name,
               const struct plan_problem *pb, const struct plan_params *pa,
               const struct plan_outcome *outcome);

/* Fill a layout of fixed groups (regular groups of size, each (1, op, pp), then AlpaServe's
 * power-of-two remainder) over the devices, by greedy/beam or round robin. The caller releases
 * *out. */
void pl_solve_layout(const struct pl_context *c, struct sim_eval_state *s, uint32_t devices,
                     uint32_t size, int32_t op, int32_t pp, bool round_robin, uint32_t beam,
                     struct spec_placement *out, uint32_t *evaluations,
                     const struct mx_progress_sink *progress);

/* ---- mux's pieces (policy_mux.c) ---- */

/* Unserved requests per model of placement p (unserved[n_models]), by whatever simulation the
 * caller chooses. */
typedef void (*pl_unserved_fn)(const struct spec_placement *p, double *unserved, void *arg);

/* Fill p's groups (empty, or holding models already): every model not placed yet once, the most
 * training requests (requests[m]) per byte first, on the least loaded group with room (a group's
 * load: the work per replica of its models, summed; a model's work: its requests times its slowest
 * stage); then, when unserved is given, rounds: one more replica to each model unserved() says
 * missed requests, most first, at most one per group a round, until a round adds nothing; last, one
 * more replica at a time to the model with the most work per replica, until nothing fits in budget
 * bytes per device. Normalises p. */
void pl_fill_spread(const struct pl_context *c, struct spec_placement *p, const double *requests,
                    int64_t budget, pl_unserved_fn unserved, void *arg);

/* The first request of t arriving at or after t_s (t->n if none). */
size_t pl_request_at(const struct wl_trace *t, double t_s);

/* The windows of t around misses (request indices, ascending): from lead_s before each miss to
 * tail_s after it, overlapping ones merged, as ranges [first, end) of requests, 2 per window, in
 * order (*ranges: caller frees). When they hold more than cap requests, the windows with the most
 * misses are kept (at least one) up to cap requests. Returns their number. */
uint32_t pl_miss_windows(const struct wl_trace *t, const uint32_t *miss, size_t n_miss,
                         double lead_s, double tail_s, size_t cap, size_t **ranges);

/* Each model's peak: the stretch of width_s holding most of its requests (the earliest at a tie),
 * widened by lead_s before and tail_s after, as the range ranges[2m], ranges[2m + 1] ([0, 0) for a
 * model without requests). ranges has 2 * t->n_models entries. */
void pl_model_peaks(const struct wl_trace *t, double width_s, double lead_s, double tail_s,
                    size_t *ranges);

/* n windows covering about share of t, each at least min_s long: the first at t's start, the
 * others evenly spread to its end, as ranges (*ranges: caller frees; returns their number). *scale
 * is the requests after the first window over those in the others: the factor that extrapolates
 * the others' counts to the rest of t. */
uint32_t pl_sample_windows(const struct wl_trace *t, uint32_t n, double share, double min_s,
                           size_t **ranges, double *scale);

#endif
