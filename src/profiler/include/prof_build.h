/* From layers to a profile DB (docs/profiler.md): time one layer's ops with a backend for every
 * (tensor-parallel degree, batch), add the all-reduces, split the layers into pipeline stages by
 * dynamic programming, and write each stage's latency, weights and activations into the DB.
 *
 * A stage's latency is its layers' time, plus the fixed costs of the hardware's efficiency model
 * (roofline only: per stage, first-stage embedding, last-stage output), plus sending its output
 * activations to the next stage (intra- or inter-node, as laid out from device 0 in nodes of
 * devices_per_node). Weights per device: the stage's layers (split op ways) and, on the first
 * stage, the embeddings. Activations per device: one batch's output plus the attention scores of
 * one layer. Stage boundaries come from batch 1 and are kept for every batch (weights stay put). */
#ifndef PROF_BUILD_H
#define PROF_BUILD_H

#include <jansson.h>
#include <stdint.h>

struct prof_arch;
struct prof_backend;
struct spec_profile;
struct prof_hw;
struct prof_timing;

/* The grid: configs (1, op, pp) and batch sizes. Degrees that do not fit a model are skipped: op
 * must divide heads and ffn and fit in a node; pp must not exceed the layers. */
struct prof_grid {
    uint32_t n_ops, n_pps, n_batches;
    int ops_given;      /* 1: the user listed ops, so one that does not fit a model is an error */
    const int32_t *ops; /* ascending */
    const int32_t *pps; /* ascending */
    const int32_t *batches; /* ascending, starting at 1 */
};

/* op 1, 2, 4, 8; pp 1, 2, 4, 8, 16, 32; batch 1, 2, 4, 8, 16. */
extern const struct prof_grid prof_grid_default;

/* Profile architecture a on backend be with hardware hw (links, node size, fixed costs) and add
 * its configs to db (a new model named after a). The raw numbers (per op, batch and layer op: the
 * median and spread of the measurement) are appended to raw, a JSON array, as one object. Errors:
 * the backend's, or MX_EINPUT when no config fits. */
int prof_build_model(struct spec_profile *db, const struct prof_arch *a, const struct prof_hw *hw,
                     struct prof_backend *be, const struct prof_grid *grid, json_t *raw);

/* The latency of one layer of a at (batch, op) on be, all-reduces included, into *layer_s: the
 * backend's whole-layer time where it has one (time_layer), else the sum of the op times. The op
 * timings go to timings[PROF_OPS_PER_LAYER] when not NULL. */
int prof_build_layer_s(const struct prof_arch *a, const struct prof_hw *hw, struct prof_backend *be,
                       int64_t batch, int op, double *layer_s, struct prof_timing *timings);

#endif
