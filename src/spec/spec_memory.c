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

/* a + b for non-negative terms, at most INT64_MAX. */
static int64_t add_saturating(int64_t a, int64_t b)
{
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}

int64_t spec_decoder_pool_bytes(const struct spec_config *const *cfgs, uint32_t n, int32_t k,
                                int64_t budget, uint32_t max_batch_tokens)
{
    int64_t weights = 0, reserve = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct spec_decoder_cost *d = &cfgs[i]->decoder;
        weights = add_saturating(weights, cfgs[i]->weight_bytes[k]);
        int64_t act = d->act_bytes_per_token[k];
        int64_t bytes =
            act > INT64_MAX / max_batch_tokens ? INT64_MAX : act * (int64_t)max_batch_tokens;
        if (bytes > reserve)
            reserve = bytes;
    }
    int64_t used = add_saturating(weights, reserve);
    return used >= budget ? 0 : budget - used;
}

int64_t spec_model_fit_bytes(const struct spec_profile_model *pm, const struct spec_config *cfg,
                             bool with_activations, uint32_t block_tokens,
                             uint32_t max_batch_tokens, double kv_margin)
{
    if (pm->kind != SPEC_DECODER)
        return spec_model_device_bytes(cfg, with_activations);
    const struct spec_decoder_cost *d = &cfg->decoder;
    uint64_t context =
        (uint64_t)(pm->decoder.context_tokens + block_tokens - 1) / block_tokens * block_tokens;
    int64_t most = 0;
    for (int32_t k = 0; k < cfg->pp; k++) {
        double reserve = (1 + kv_margin) * (double)context * (double)d->kv_bytes_per_token[k];
        double act = (double)d->act_bytes_per_token[k] * (double)max_batch_tokens;
        double bytes = (double)cfg->weight_bytes[k] + reserve + act;
        int64_t b = bytes >= 0x1p62 ? INT64_C(1) << 62 : (int64_t)bytes;
        if (b > most)
            most = b;
    }
    return most;
}
