/* Random weights of the runtime's models: every element a pure function of (seed, tensor, row,
 * column of the full, unsplit matrix), so a tensor-parallel shard holds exactly its slice of what
 * one device would hold, on every backend. */
#ifndef KERN_WEIGHTS_H
#define KERN_WEIGHTS_H

#include <stdint.h>

/* The tensors of one layer, and of the model's ends. */
enum kern_tensor {
    KERN_LN1_GAMMA,
    KERN_LN1_BETA,
    KERN_QKV,
    KERN_ATTN_OUT,
    KERN_LN2_GAMMA,
    KERN_LN2_BETA,
    KERN_MLP_IN,
    KERN_MLP_OUT,
    KERN_TENSORS_PER_LAYER,
    KERN_TOKEN_EMBEDDING = KERN_TENSORS_PER_LAYER,
    KERN_POSITION_EMBEDDING,
    KERN_FINAL_GAMMA,
    KERN_FINAL_BETA,
};

/* The seed of tensor t of layer (-1 for the model's own tensors) under the model's seed. */
uint64_t kern_weight_seed(uint64_t model_seed, int64_t layer, enum kern_tensor t);

/* Element (row, col) of a full matrix of cols columns: uniform in [offset - scale, offset + scale).
 */
float kern_weight(uint64_t tensor_seed, int64_t row, int64_t col, int64_t cols, float scale,
                  float offset);

/* Token id at position pos of the request with token_seed, in [0, vocab). */
int64_t kern_token(uint64_t token_seed, int64_t pos, int64_t vocab);

/* New arrays (the caller frees them with free()): rows [row0, row0 + n) of a full matrix of cols
 * columns, each element uniform in [-scale, scale); and a vector of n elements uniform in
 * [offset - scale, offset + scale). */
float *kern_weight_rows(uint64_t tensor_seed, int64_t row0, int64_t n, int64_t cols, float scale);
float *kern_weight_vector(uint64_t tensor_seed, int64_t n, float scale, float offset);

#endif
