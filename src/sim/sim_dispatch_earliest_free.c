/* The earliest-free policy's table entry; its choice is sim_dispatch_earliest_free.h. */
#include "sim_dispatch_earliest_free.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    return sim__choose_earliest_free(view, replicas, n, q);
}

const struct sim_dispatch_policy sim_dispatch_earliest_free = {
    .name = "earliest-free",
    .summary = "the group whose last stage frees earliest (AlpaServe's fast simulator)",
    .needs_outstanding = SIM_EARLIEST_FREE_NEEDS_OUTSTANDING,
    .may_refuse = SIM_EARLIEST_FREE_MAY_REFUSE,
    .reads_inner_stages = SIM_EARLIEST_FREE_READS_INNER_STAGES,
    .ranks_by_last_clock = true,
    .choose = choose,
};
