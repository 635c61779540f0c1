/* least-outstanding: the group with the fewest requests dispatched to it and not yet finished or
 * refused (AlpaServe's controller). */
#include "sim_dispatch.h"
#include "sim_int.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    (void)q;
    int32_t best = 0;
    uint32_t fewest = view->outstanding[replicas[0].group];
    for (uint32_t r = 1; r < n; r++) {
        uint32_t count = view->outstanding[replicas[r].group];
        if (count < fewest) {
            fewest = count;
            best = (int32_t)r;
        }
    }
    return best;
}

const struct sim_dispatch_policy sim_dispatch_least_outstanding = {
    .name = "least-outstanding",
    .summary = "fewest requests dispatched and not finished (AlpaServe's controller)",
    .needs_outstanding = true,
    .choose = choose,
};
