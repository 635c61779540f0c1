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

#endif
