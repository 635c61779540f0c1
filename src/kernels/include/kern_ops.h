/* Transformer layer operations on the CPU in FP32: the loops the cpu profiler backend times and
 * the CPU runtime runs (GEMMs are CBLAS calls, not here).
 *
 * Every function works on row-major arrays the caller owns; inputs and outputs must not overlap
 * (they are restrict). The loops work in blocks of KERN_LANES elements with a scalar tail,
 * a shape GCC vectorizes at -O2; expf() stays a scalar library call. */
#ifndef KERN_OPS_H
#define KERN_OPS_H

#include <stddef.h>

/* Elements per block of the loops: two AVX or four SSE vectors of floats. */
#define KERN_LANES 8

/* The layer norm's epsilon, added to the variance. */
#define KERN_LAYERNORM_EPS 1e-5f

/* y[r][c] = exp(x[r][c] - max_r) / sum_c exp(x[r][c] - max_r) for each of rows rows of cols
 * columns (cols >= 1): numerically stable for any finite x. Three passes over each row. */
void kern_softmax(const float *restrict x, float *restrict y, size_t rows, size_t cols);

/* y[r][c] = (x[r][c] - mean_r) / sqrt(var_r + KERN_LAYERNORM_EPS) * gamma[c] + beta[c],
 * with the population variance of each row (cols >= 1); gamma and beta hold cols elements.
 * Three passes over each row (mean, variance, normalize). */
void kern_layernorm(const float *restrict x, const float *restrict gamma,
                    const float *restrict beta, float *restrict y, size_t rows, size_t cols);

/* y[i] = GELU(x[i]) for n elements, by the tanh approximation
 * 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), computed as x / (1 + exp(-2 (...))) so that
 * its cost does not depend on the data. */
void kern_gelu(const float *restrict x, float *restrict y, size_t n);

/* c[i] = a[i] + b[i] for n elements. */
void kern_add(const float *restrict a, const float *restrict b, float *restrict c, size_t n);

#endif
