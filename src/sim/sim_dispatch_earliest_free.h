/* earliest-free: the group whose last stage frees earliest (AlpaServe's fast simulator). */
#ifndef SIM_DISPATCH_EARLIEST_FREE_H
#define SIM_DISPATCH_EARLIEST_FREE_H

#include "sim_dispatch.h"
#include "sim_int.h"

/* What the engines must provide for this policy, as constants for the fast path. */
enum {
    SIM_EARLIEST_FREE_NEEDS_OUTSTANDING = 0,
    SIM_EARLIEST_FREE_MAY_REFUSE = 0,
    SIM_EARLIEST_FREE_READS_INNER_STAGES = 0
};

/* Inline so that the fast path can specialise its loop for each policy. */
static inline int32_t sim__choose_earliest_free(const struct sim_view *view,
                                                const struct sim_replica *replicas, uint32_t n,
                                                const struct sim_dispatch_query *q)
{
    (void)q;
    int32_t best = 0;
    mx_ns earliest = MX_NS_NEVER;
    for (uint32_t r = 0; r < n; r++) {
        mx_ns last = view->clock[replicas[r].last_stage];
        /* Selects rather than a branch: which replica wins is data-dependent and unpredictable. */
        bool better = last < earliest;
        best = better ? (int32_t)r : best;
        earliest = better ? last : earliest;
    }
    return best;
}

#endif
