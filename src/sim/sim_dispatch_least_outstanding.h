/* least-outstanding: the group with the fewest requests dispatched to it and not yet finished or
 * refused (AlpaServe's controller). */
#ifndef SIM_DISPATCH_LEAST_OUTSTANDING_H
#define SIM_DISPATCH_LEAST_OUTSTANDING_H

#include "sim_dispatch.h"
#include "sim_int.h"

/* What the engines must provide for this policy, as constants for the fast path. */
enum {
    SIM_LEAST_OUTSTANDING_NEEDS_OUTSTANDING = 1,
    SIM_LEAST_OUTSTANDING_MAY_REFUSE = 0,
    SIM_LEAST_OUTSTANDING_READS_INNER_STAGES = 0
};

/* Inline so that the fast path can specialise its loop for each policy. */
static inline int32_t sim__choose_least_outstanding(const struct sim_view *view,
                                                    const struct sim_replica *replicas, uint32_t n,
                                                    const struct sim_dispatch_query *q)
{
    (void)q;
    int32_t best = 0;
    uint32_t fewest = view->outstanding[replicas[0].group];
    for (uint32_t r = 1; r < n; r++) {
        uint32_t count = view->outstanding[replicas[r].group];
        bool better = count < fewest; /* selects, not a branch: the winner is unpredictable */
        best = better ? (int32_t)r : best;
        fewest = better ? count : fewest;
    }
    return best;
}

#endif
