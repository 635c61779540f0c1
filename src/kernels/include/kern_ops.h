/* Transformer layer operations on the CPU in FP32: the loops the cpu profiler backend times and
 * the CPU runtime runs (GEMMs are CBLAS calls, not here), for encoder layers (kern_layer.h) and
 * Llama-style decoder layers (kern_decoder.h: RMS norm, rotary embeddings, SiLU-gated MLP).
 *
 * Every function works on row-major arrays the caller owns; inputs and outputs must not overlap
 * (they are restrict; kern_rope works in place). The loops work in blocks of KERN_LANES elements
 * with a scalar tail, a shape GCC vectorizes at -O2. The encoder's ops (kern_softmax, kern_gelu)
 * call expf(), a scalar library call, as the profiles that time them always did; the decoder's
 * (kern_softmax_fast, kern_silu_mul) use kern_exp's polynomial, which vectorizes. */
#ifndef KERN_OPS_H
#define KERN_OPS_H

#include <stddef.h>

/* Elements per block of the loops: two AVX or four SSE vectors of floats. */
#define KERN_LANES 8

/* The layer norm's epsilon, added to the variance. */
#define KERN_LAYERNORM_EPS 1e-5f

/* The RMS norm's epsilon, added to the mean square. */
#define KERN_RMSNORM_EPS 1e-5f

/* The base of the rotary embeddings' frequencies (Llama's). */
#define KERN_ROPE_THETA 10000.0

/* y[r][c] = exp(x[r][c] - max_r) / sum_c exp(x[r][c] - max_r) for each of rows rows of cols
 * columns (cols >= 1): numerically stable for any finite x. Three passes over each row. */
void kern_softmax(const float *restrict x, float *restrict y, size_t rows, size_t cols);

/* y[i] = exp(x[i]) for n elements by a polynomial (Cephes' expf: a reduction by multiples of ln 2
 * and a degree-5 polynomial, the power of two set in the exponent bits), within 2 ulp of exp for x
 * in [-87, 88]; 0 below -87 (-inf included), exp(88) above 88 (+inf included), NaN for NaN. No
 * library call and no branch, so GCC vectorizes it at -O2: several times faster than expf. */
void kern_exp(const float *restrict x, float *restrict y, size_t n);

/* kern_softmax with kern_exp's exponential: the decoder layers' (kern_decoder.h). kern_softmax
 * keeps expf, so that the encoder layer and its profiles do not change. */
void kern_softmax_fast(const float *restrict x, float *restrict y, size_t rows, size_t cols);

/* y[r][c] = (x[r][c] - mean_r) / sqrt(var_r + KERN_LAYERNORM_EPS) * gamma[c] + beta[c],
 * with the population variance of each row (cols >= 1); gamma and beta hold cols elements.
 * Three passes over each row (mean, variance, normalize). */
void kern_layernorm(const float *restrict x, const float *restrict gamma,
                    const float *restrict beta, float *restrict y, size_t rows, size_t cols);

/* y[r][c] = x[r][c] / sqrt(mean_r(x^2) + KERN_RMSNORM_EPS) * weight[c] (cols >= 1); weight holds
 * cols elements. Two passes over each row (mean square, scale). */
void kern_rmsnorm(const float *restrict x, const float *restrict weight, float *restrict y,
                  size_t rows, size_t cols);

/* The rotary embeddings' cosines and sines for positions [pos0, pos0 + n) and vectors of head_dim
 * (even) elements: row p - pos0 of cos and sin ([n][head_dim / 2] each) holds, for
 * i < head_dim / 2, cos and sin of the angle p * theta^(-2 i / head_dim), computed in double
 * precision (exact to a float's rounding at any position). n * head_dim / 2 calls of cos and sin:
 * callers keep a table and extend it rather than recompute it per layer. */
void kern_rope_table(float *restrict cos, float *restrict sin, size_t pos0, size_t n,
                     size_t head_dim, double theta);

/* Rotary embeddings in the Llama "rotate half" convention, in place on heads vectors of head_dim
 * (even) elements that follow each other in x, all at one position whose table rows are cos and
 * sin (head_dim / 2 elements, kern_rope_table): with half = head_dim / 2, for i < half,
 * (x[i], x[i + half]) becomes (x[i] cos[i] - x[i + half] sin[i], x[i + half] cos[i] + x[i] sin[i]).
 */
void kern_rope(float *restrict x, const float *restrict cos, const float *restrict sin,
               size_t heads, size_t head_dim);

/* y[i] = GELU(x[i]) for n elements, by the tanh approximation
 * 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), computed as x / (1 + exp(-2 (...))) so that
 * its cost does not depend on the data. */
void kern_gelu(const float *restrict x, float *restrict y, size_t n);

/* The SiLU-gated MLP activation: y[i] = silu(gate[i]) * up[i] for n elements, where
 * silu(g) = g / (1 + exp(-g)), the exponential kern_exp's (vectorised, whatever the data). */
void kern_silu_mul(const float *restrict gate, const float *restrict up, float *restrict y,
                   size_t n);

/* c[i] = a[i] + b[i] for n elements. */
void kern_add(const float *restrict a, const float *restrict b, float *restrict c, size_t n);

/* The index of the largest of n >= 1 elements, the lowest index among equal ones (NaNs are never
 * chosen unless every element is NaN, then 0). */
size_t kern_argmax(const float *restrict x, size_t n);

#endif
