/* best-finish: the group with the earliest predicted finish among those that meet the deadline;
 * refuse the request when none does. */
#ifndef SIM_DISPATCH_BEST_FINISH_H
#define SIM_DISPATCH_BEST_FINISH_H

#include "sim_dispatch.h"
#include "sim_int.h"
#include "sim_rules.h"

/* What the engines must provide for this policy, as constants for the fast path. */
enum {
    SIM_BEST_FINISH_NEEDS_OUTSTANDING = 0,
    SIM_BEST_FINISH_MAY_REFUSE = 1,
    SIM_BEST_FINISH_READS_INNER_STAGES = 1
};

/* Inline so that the fast path can specialise its loop for each policy. */
static inline int32_t sim__choose_best_finish(const struct sim_view *view,
                                              const struct sim_replica *replicas, uint32_t n,
                                              const struct sim_dispatch_query *q)
{
    int32_t best = -1;
    mx_ns earliest = MX_NS_NEVER;
    for (uint32_t r = 0; r < n; r++) {
        const struct sim_replica *rep = &replicas[r];
        mx_ns finish = sim__predict_last(view->clock + rep->stage_base, rep->latency_ns,
                                         rep->n_stages, q->ready_ns);
        if (sim__admits(finish, q->latest_ns) && finish < earliest) {
            earliest = finish;
            best = (int32_t)r;
        }
    }
    return best;
}

#endif
