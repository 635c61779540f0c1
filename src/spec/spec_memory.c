/* The memory model: what one device of a group must hold for a model it hosts. The plan check and
 * the planner's fit tests both ask here. */
#include "spec_memory.h"

#include "spec_profile.h"

int64_t spec_model_device_bytes(const struct spec_config *cfg, bool with_activations)
{
    int64_t most = 0;
    for (int32_t k = 0; k < cfg->pp; k++) {
        int64_t bytes = cfg->weight_bytes[k];
        if (with_activations && cfg->act_bytes)
            bytes += cfg->act_bytes[k]; /* batch index 0: batch size 1 */
        if (bytes > most)
            most = bytes;
    }
    return most;
}
