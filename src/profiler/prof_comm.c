/* The communication formulas of prof_comm.h. */
#include "prof_comm.h"

#include "prof_hw.h"

double prof_comm_hop_s(const struct prof_hw *hw, double bytes, bool inter_node)
{
    return inter_node ? bytes / hw->inter_node_bytes_per_s + hw->inter_node_latency_s
                      : bytes / hw->intra_node_bytes_per_s + hw->intra_node_latency_s;
}

double prof_comm_allreduce_s(const struct prof_hw *hw, double bytes, int n_devices)
{
    if (n_devices <= 1)
        return 0;
    double steps = 2.0 * (n_devices - 1);
    return steps / n_devices * bytes / hw->intra_node_bytes_per_s +
           steps * hw->intra_node_latency_s;
}

bool prof_comm_boundary_crosses_node(const struct prof_hw *hw, int stage, int op)
{
    /* Stage k occupies devices k op .. (k + 1) op - 1; the next stage starts at (k + 1) op. */
    int64_t next_first = (int64_t)(stage + 1) * op;
    return next_first % hw->devices_per_node == 0;
}
