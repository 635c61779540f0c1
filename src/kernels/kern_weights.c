/* Random weights (kern_weights.h): splitmix64 over (seed, index). */
#include "kern_weights.h"

#include "mx_alloc.h"
#include "mx_rng.h"

#include <stddef.h>

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t kern_weight_seed(uint64_t model_seed, int64_t layer, enum kern_tensor t)
{
    return mx_rng_derive(model_seed, "weights",
                         (uint64_t)(layer + 1) * (KERN_FINAL_BETA + 1) + (uint64_t)t);
}

float kern_weight(uint64_t tensor_seed, int64_t row, int64_t col, int64_t cols, float scale,
                  float offset)
{
    uint64_t bits = splitmix64(tensor_seed ^ splitmix64((uint64_t)(row * cols + col)));
    float unit = (float)(bits >> 40) / (float)(1 << 24); /* [0, 1) */
    return offset + scale * (2.0f * unit - 1.0f);
}

int64_t kern_token(uint64_t token_seed, int64_t pos, int64_t vocab)
{
    return (int64_t)(splitmix64(token_seed * 0x100000001b3ULL + (uint64_t)pos) % (uint64_t)vocab);
}

float *kern_weight_rows(uint64_t seed, int64_t row0, int64_t n, int64_t cols, float scale)
{
    float *w = mx_malloc_array((size_t)(n * cols), sizeof(float));
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < cols; c++)
            w[r * cols + c] = kern_weight(seed, row0 + r, c, cols, scale, 0.0f);
    return w;
}

float *kern_weight_vector(uint64_t seed, int64_t n, float scale, float offset)
{
    float *v = mx_malloc_array((size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        v[i] = kern_weight(seed, 0, i, n, scale, offset);
    return v;
}
