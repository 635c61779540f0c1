/* The FP32 layer loops on the CPU (shared by the cpu profiler backend and the CPU
 * runtime): blocks of KERN_LANES elements with a scalar tail, a shape GCC vectorizes at -O2. */
#include "kern_ops.h"

#include <math.h>
#include <stddef.h>

static float lanes_max(const float *restrict x, size_t n)
{
    size_t blocked = n - n % KERN_LANES, i = 0;
    float m = x[0];
    if (blocked) {
        float acc[KERN_LANES];
        for (size_t j = 0; j < KERN_LANES; j++)
            acc[j] = x[j];
        for (i = KERN_LANES; i < blocked; i += KERN_LANES)
            for (size_t j = 0; j < KERN_LANES; j++)
                acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
        for (size_t j = 0; j < KERN_LANES; j++)
            m = acc[j] > m ? acc[j] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* Sums in KERN_LANES partial sums: a reduction GCC vectorizes without reassociating on its own. */
static float lanes_sum(const float *restrict x, size_t n)
{
    size_t blocked = n - n % KERN_LANES, i;
    float acc[KERN_LANES] = {0}, s = 0.0f;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            acc[j] += x[i + j];
    for (; i < n; i++)
        s += x[i];
    for (size_t j = 0; j < KERN_LANES; j++)
        s += acc[j];
    return s;
}

static float lanes_sum_sq_dev(const float *restrict x, size_t n, float mean)
{
    size_t blocked = n - n % KERN_LANES, i;
    float acc[KERN_LANES] = {0}, s = 0.0f;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
    for (; i < n; i++)
        s += (x[i] - mean) * (x[i] - mean);
    for (size_t j = 0; j < KERN_LANES; j++)
        s += acc[j];
    return s;
}

void kern_softmax(const float *restrict x, float *restrict y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float m = lanes_max(xr, cols), sum = 0.0f;
        for (size_t i = 0; i < cols; i++) {
            yr[i] = expf(xr[i] - m);
            sum += yr[i];
        }
        float inv = 1.0f / sum; /* sum >= 1: the maximum contributes exp(0) */
        size_t blocked = cols - cols % KERN_LANES, i;
        for (i = 0; i < blocked; i += KERN_LANES)
            for (size_t j = 0; j < KERN_LANES; j++)
                yr[i + j] *= inv;
        for (; i < cols; i++)
            yr[i] *= inv;
    }
}

void kern_layernorm(const float *restrict x, const float *restrict gamma,
                    const float *restrict beta, float *restrict y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float mean = lanes_sum(xr, cols) / (float)cols;
        float var = lanes_sum_sq_dev(xr, cols, mean) / (float)cols;
        float inv = 1.0f / sqrtf(var + KERN_LAYERNORM_EPS);
        size_t blocked = cols - cols % KERN_LANES, i;
        for (i = 0; i < blocked; i += KERN_LANES)
            for (size_t j = 0; j < KERN_LANES; j++)
                yr[i + j] = (xr[i + j] - mean) * inv * gamma[i + j] + beta[i + j];
        for (; i < cols; i++)
            yr[i] = (xr[i] - mean) * inv * gamma[i] + beta[i];
    }
}

/* 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): one expf, whose cost hardly depends on its input,
 * where glibc's tanhf takes slower paths for larger |u|. A layer's time must not depend on its
 * data, or the profiler's inputs would not time what the runtime's do. */
void kern_gelu(const float *restrict x, float *restrict y, size_t n)
{
    const float c2 = 2.0f * 0.7978845608f; /* 2 sqrt(2 / pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + expf(-c2 * (v + 0.044715f * v * v * v)));
    }
}

void kern_add(const float *restrict a, const float *restrict b, float *restrict c, size_t n)
{
    size_t blocked = n - n % KERN_LANES, i;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            c[i + j] = a[i + j] + b[i + j];
    for (; i < n; i++)
        c[i] = a[i] + b[i];
}
