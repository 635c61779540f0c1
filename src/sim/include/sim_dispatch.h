/* Dispatch policies: which of a model's replicas receives a request (docs/simulator.md).
 *
 * A policy sees the controller's view of every group (stage clocks as the controller predicts them,
 * and outstanding request counts) and returns an index into the model's replica list, or -1 to
 * refuse the request. Ties go to the replica listed first (plan group order). Each policy lives in
 * its own file: a header with its inline choice and flags, and its table entry; a new one adds a
 * line to the table (sim_dispatch.c) and to the engines' list (sim_dispatch_inline.h).
 * sim_dispatch_find() looks them up by CLI name. */
#ifndef SIM_DISPATCH_H
#define SIM_DISPATCH_H

#include "mx_time.h"

#include <stdbool.h>
#include <stdint.h>

struct sim_replica;
struct sim_group;

/* The controller's view of the groups at a decision. */
struct sim_view {
    const struct sim_group *groups; /* global group table */
    const mx_ns *clock;             /* stage clocks, indexed by stage_base + stage */
    const uint32_t *outstanding;    /* per group: dispatched, not yet finished or refused */
};

/* The request being placed, in the controller's expected times. */
struct sim_dispatch_query {
    mx_ns ready_ns;  /* earliest stage-0 start: now + dispatch + exec overheads */
    mx_ns latest_ns; /* latest acceptable last-stage finish: deadline - fixed margin */
};

struct sim_dispatch_policy {
    const char *name;
    const char *summary;     /* one line for --help */
    bool needs_outstanding;  /* engines maintain outstanding counts only for such policies */
    bool may_refuse;         /* whether choose() can return -1 (else one replica is a given) */
    bool reads_inner_stages; /* choose() reads stage clocks other than the last */
    /* choose() returns the first replica whose group's last stage clock is least, and reads
     * nothing else: the planner's incremental evaluator then reuses choices among groups whose
     * clocks did not change (sim_eval_next.c); a test checks the claim on random views. */
    bool ranks_by_last_clock;
    int32_t (*choose)(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q);
};

extern const struct sim_dispatch_policy sim_dispatch_least_outstanding;
extern const struct sim_dispatch_policy sim_dispatch_earliest_free;
extern const struct sim_dispatch_policy sim_dispatch_best_finish;

/* Every policy, NULL-terminated, in the order --help lists them. */
extern const struct sim_dispatch_policy *const sim_dispatch_policies[];

/* The policy called name, or NULL. */
const struct sim_dispatch_policy *sim_dispatch_find(const char *name);

/* The dispatch of simulations and served runs unless told otherwise: least-outstanding
 * (AlpaServe's controller). */
extern const struct sim_dispatch_policy *const sim_dispatch_default;

struct spec_plan;

/* The policy a plan was scored with (its "dispatch"), else sim_dispatch_default. A name no policy
 * has is MX_EINPUT naming the plan file. */
int sim_dispatch_of_plan(const struct spec_plan *p, const struct sim_dispatch_policy **out);

#endif
