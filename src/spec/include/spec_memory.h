/* The memory model (what fits on a device), shared by the plan check and the planner. */
#ifndef SPEC_MEMORY_H
#define SPEC_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

struct spec_config;

/* The bytes one device of a group needs for a model with config cfg: the largest over its stages
 * of its weight bytes, plus its batch-1 activation bytes when with_activations is set and the
 * profile has them. A group is feasible when the sum over its models is within the cluster's
 * per-device budget. */
int64_t spec_model_device_bytes(const struct spec_config *cfg, bool with_activations);

/* The KV pool of stage k of a decoder group (docs/decoders.md): what each of its devices keeps of
 * budget bytes after the stage's weights of every hosted model (configs cfgs[0..n)) and an
 * activation reserve for an iteration of max_batch_tokens tokens of any of them (the largest
 * act_bytes_per_token times max_batch_tokens); 0 when nothing is left. Sums saturate, so no profile
 * can make a group look as if it fits by overflow. */
int64_t spec_decoder_pool_bytes(const struct spec_config *const *cfgs, uint32_t n, int32_t k,
                                int64_t budget, uint32_t max_batch_tokens);

#endif
