/* best-finish: the group with the earliest predicted finish among those that meet the deadline;
 * refuse the request when none does. */
#include "sim_dispatch.h"
#include "sim_int.h"

static int32_t choose(const struct sim_view *view, const struct sim_replica *replicas, uint32_t n,
                      const struct sim_dispatch_query *q)
{
    int32_t best = -1;
    mx_ns earliest = MX_NS_NEVER;
    for (uint32_t r = 0; r < n; r++) {
        const struct sim_replica *rep = &replicas[r];
        const struct sim_group *g = &view->groups[rep->group];
        mx_ns finish = sim__predict(view->clock + g->stage_base, rep->latency_ns, rep->n_stages,
                                    q->ready_ns, NULL);
        if (finish <= q->latest_ns && finish < earliest) {
            earliest = finish;
            best = (int32_t)r;
        }
    }
    return best;
}

const struct sim_dispatch_policy sim_dispatch_best_finish = {
    .name = "best-finish",
    .summary = "earliest predicted finish that meets the deadline, else refuse",
    .needs_outstanding = false,
    .choose = choose,
};
