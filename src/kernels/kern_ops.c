/* The FP32 layer loops on the CPU (shared by the cpu profiler backend and the CPU
 * runtime): blocks of KERN_LANES elements with a scalar tail, a shape GCC vectorizes at -O2. */
#include "kern_ops.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* exp(x) without branches: the clamps and the NaN test work on the bits (integer compares, which
 * GCC if-converts; float compares may trap, so it would not), n = round(x / ln 2) by adding and
 * subtracting 1.5 * 2^23, x - n ln 2 in two parts (Cody and Waite), Cephes' polynomial, and 2^n
 * written into the exponent bits. */
static inline float exp_lane(float x)
{
    const uint32_t lo = 0xC2AE0000u /* -87.0f */, hi = 0x42B00000u /* 88.0f */;
    const float round = 12582912.0f; /* 1.5 * 2^23 */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t nan = -(uint32_t)((u & 0x7fffffffu) > 0x7f800000u);
    uint32_t under = -(uint32_t)(u > lo) & ~nan; /* below -87, -inf */
    uint32_t over = -(uint32_t)((int32_t)u > (int32_t)hi) & ~nan;
    uint32_t c = (u & ~(under | over | nan)) | (lo & under) | (hi & over);
    float xc;
    memcpy(&xc, &c, sizeof xc);
    float n = (xc * 1.44269504088896341f + round) - round;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23, yb;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    y *= scale;
    memcpy(&yb, &y, sizeof yb);
    yb = (yb & ~(under | nan)) | (u & nan);
    memcpy(&y, &yb, sizeof y);
    return y;
}

void kern_exp(const float *restrict x, float *restrict y, size_t n)
{
    size_t blocked = n - n % KERN_LANES, i;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            y[i + j] = exp_lane(x[i + j]);
    for (; i < n; i++)
        y[i] = exp_lane(x[i]);
}

void kern_softmax_fast(const float *restrict x, float *restrict y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float m = lanes_max(xr, cols);
        size_t blocked = cols - cols % KERN_LANES, i;
        for (i = 0; i < blocked; i += KERN_LANES)
            for (size_t j = 0; j < KERN_LANES; j++)
                yr[i + j] = exp_lane(xr[i + j] - m);
        for (; i < cols; i++)
            yr[i] = exp_lane(xr[i] - m);
        float inv = 1.0f / lanes_sum(yr, cols); /* the sum >= 1: the maximum gives exp(0) */
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

static float lanes_sum_sq(const float *restrict x, size_t n)
{
    size_t blocked = n - n % KERN_LANES, i;
    float acc[KERN_LANES] = {0}, s = 0.0f;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            acc[j] += x[i + j] * x[i + j];
    for (; i < n; i++)
        s += x[i] * x[i];
    for (size_t j = 0; j < KERN_LANES; j++)
        s += acc[j];
    return s;
}

void kern_rmsnorm(const float *restrict x, const float *restrict weight, float *restrict y,
                  size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float inv = 1.0f / sqrtf(lanes_sum_sq(xr, cols) / (float)cols + KERN_RMSNORM_EPS);
        size_t blocked = cols - cols % KERN_LANES, i;
        for (i = 0; i < blocked; i += KERN_LANES)
            for (size_t j = 0; j < KERN_LANES; j++)
                yr[i + j] = xr[i + j] * inv * weight[i + j];
        for (; i < cols; i++)
            yr[i] = xr[i] * inv * weight[i];
    }
}

void kern_rope_table(float *restrict cos_out, float *restrict sin_out, size_t pos0, size_t n,
                     size_t head_dim, double theta)
{
    size_t half = head_dim / 2;
    for (size_t i = 0; i < half; i++) {
        double freq = pow(theta, -2.0 * (double)i / (double)head_dim);
        for (size_t p = 0; p < n; p++) {
            double angle = (double)(pos0 + p) * freq;
            cos_out[p * half + i] = (float)cos(angle);
            sin_out[p * half + i] = (float)sin(angle);
        }
    }
}

void kern_rope(float *restrict x, const float *restrict cos_row, const float *restrict sin_row,
               size_t heads, size_t head_dim)
{
    size_t half = head_dim / 2;
    for (size_t h = 0; h < heads; h++) {
        float *restrict lo = x + h * head_dim;
        float *restrict hi = lo + half;
        for (size_t i = 0; i < half; i++) {
            float a = lo[i], b = hi[i];
            lo[i] = a * cos_row[i] - b * sin_row[i];
            hi[i] = b * cos_row[i] + a * sin_row[i];
        }
    }
}

void kern_silu_mul(const float *restrict gate, const float *restrict up, float *restrict y,
                   size_t n)
{
    size_t blocked = n - n % KERN_LANES, i;
    for (i = 0; i < blocked; i += KERN_LANES)
        for (size_t j = 0; j < KERN_LANES; j++)
            y[i + j] = gate[i + j] / (1.0f + exp_lane(-gate[i + j])) * up[i + j];
    for (; i < n; i++)
        y[i] = gate[i] / (1.0f + exp_lane(-gate[i])) * up[i];
}

size_t kern_argmax(const float *restrict x, size_t n)
{
    size_t best = 0;
    while (best + 1 < n && x[best] != x[best]) /* skip leading NaNs */
        best++;
    if (x[best] != x[best])
        return 0;
    float m = x[best];
    for (size_t i = best + 1; i < n; i++)
        if (x[i] > m) {
            m = x[i];
            best = i;
        }
    return best;
}
