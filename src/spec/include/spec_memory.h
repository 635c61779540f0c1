/* The memory model (what fits on a device), shared by the plan check and the planner. */
#ifndef SPEC_MEMORY_H
#define SPEC_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

struct spec_config;
struct spec_profile_model;

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

/* What the planner counts a model as needing on each device of a group of config cfg (one of the
 * configs of pm): for an encoder, spec_model_device_bytes; for a decoder, for each stage, its
 * weights, a KV reserve of (1 + kv_margin) requests of its full context (in blocks of
 * block_tokens), and the activations of an iteration of max_batch_tokens tokens, the largest over
 * the stages (saturating). A decoder group whose models' sums stay within the budget leaves every
 * stage a KV pool of at least their reserves (activations are counted per model, which is
 * conservative). */
int64_t spec_model_fit_bytes(const struct spec_profile_model *pm, const struct spec_config *cfg,
                             bool with_activations, uint32_t block_tokens,
                             uint32_t max_batch_tokens, double kv_margin);

#endif
