/* Communication costs from a hardware spec's links: the formulas every backend shares.
 *
 *   hop        bytes / bandwidth + latency (a pipeline stage boundary: activations of one
 *              batch, b s h elements)
 *   all-reduce ring over n devices: 2 (n - 1) / n * bytes / bandwidth + 2 (n - 1) * latency
 * A link is intra-node (NVLink) or inter-node (network); a group of tensor-parallel devices never
 * spans nodes, so its all-reduces are intra-node. */
#ifndef PROF_COMM_H
#define PROF_COMM_H

#include <stdbool.h>
#include <stdint.h>

struct prof_hw;

double prof_comm_hop_s(const struct prof_hw *hw, double bytes, bool inter_node);
double prof_comm_allreduce_s(const struct prof_hw *hw, double bytes, int n_devices);

/* Whether the boundary after stage k (0-based) of a pipeline of stages of op devices each, laid
 * out in order from device 0, crosses a node boundary. */
bool prof_comm_boundary_crosses_node(const struct prof_hw *hw, int stage, int op);

#endif
