/* The best-finish policy's table entry; its choice is sim_dispatch_best_finish.h. */
#include "sim_dispatch_best_finish.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    return sim__choose_best_finish(view, replicas, n, q);
}

const struct sim_dispatch_policy sim_dispatch_best_finish = {
    .name = "best-finish",
    .summary = "earliest predicted finish that meets the deadline, else refuse",
    .needs_outstanding = SIM_BEST_FINISH_NEEDS_OUTSTANDING,
    .may_refuse = SIM_BEST_FINISH_MAY_REFUSE,
    .reads_inner_stages = SIM_BEST_FINISH_READS_INNER_STAGES,
    .ranks_by_last_clock = false,
    .choose = choose,
};
