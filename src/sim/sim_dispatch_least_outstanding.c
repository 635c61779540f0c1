/* The least-outstanding policy's table entry; its choice is sim_dispatch_least_outstanding.h. */
#include "sim_dispatch_least_outstanding.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    return sim__choose_least_outstanding(view, replicas, n, q);
}

const struct sim_dispatch_policy sim_dispatch_least_outstanding = {
    .name = "least-outstanding",
    .summary = "fewest requests dispatched and not finished (AlpaServe's controller)",
    .needs_outstanding = SIM_LEAST_OUTSTANDING_NEEDS_OUTSTANDING,
    .may_refuse = SIM_LEAST_OUTSTANDING_MAY_REFUSE,
    .reads_inner_stages = SIM_LEAST_OUTSTANDING_READS_INNER_STAGES,
    .ranks_by_last_clock = false,
    .choose = choose,
};
