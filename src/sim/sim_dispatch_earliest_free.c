/* earliest-free: the group whose last stage frees earliest (AlpaServe's fast simulator). */
#include "sim_dispatch.h"
#include "sim_int.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    (void)q;
    int32_t best = 0;
    mx_ns earliest = MX_NS_NEVER;
    for (uint32_t r = 0; r < n; r++) {
        const struct sim_group *g = &view->groups[replicas[r].group];
        mx_ns last = view->clock[g->stage_base + g->n_stages - 1];
        if (last < earliest) {
            earliest = last;
            best = (int32_t)r;
        }
    }
    return best;
}

const struct sim_dispatch_policy sim_dispatch_earliest_free = {
    .name = "earliest-free",
    .summary = "the group whose last stage frees earliest (AlpaServe's fast simulator)",
    .needs_outstanding = false,
    .choose = choose,
};
