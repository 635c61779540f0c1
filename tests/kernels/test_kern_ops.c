/* src/kernels: the FP32 layer loops against double-precision references (softmax rows sum to 1,
 * layer norm moments, GELU's tanh approximation, add with a tail). */
#include "kern_ops.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

Test(kern_ops, softmax_rows_sum_to_one_and_stay_finite)
{
    /* Row lengths around the block size exercise the blocked loops and their tails; huge values
     * would overflow expf() without subtracting the maximum. */
    const size_t cols_cases[] = {1, 7, 8, 9, 37, 256};
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 3;
        float x[3 * 256], y[3 * 256];
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)((i * 13) % 17) - 8.0f + (i >= cols && i < 2 * cols ? 1000.0f : 0.0f);
        kern_softmax(x, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double sum = 0, ref_sum = 0, xmax = -INFINITY;
            for (size_t i = 0; i < cols; i++)
                xmax = fmax(xmax, x[r * cols + i]);
            for (size_t i = 0; i < cols; i++)
                ref_sum += exp(x[r * cols + i] - xmax);
            for (size_t i = 0; i < cols; i++) {
                float v = y[r * cols + i];
                double ref = exp(x[r * cols + i] - xmax) / ref_sum;
                cr_assert(isfinite(v) && v >= 0 && v <= 1, "cols %zu row %zu: %g", cols, r, v);
                cr_assert(fabs(v - ref) <= 1e-6 + 1e-5 * ref, "cols %zu: %g vs %g", cols, v, ref);
                sum += v;
            }
            cr_assert(fabs(sum - 1) < 1e-5, "cols %zu row %zu sums to %.9g", cols, r, sum);
        }
    }
}

static void row_moments(const float *y, size_t cols, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < cols; i++)
        s += y[i];
    *mean = s / (double)cols;
    for (size_t i = 0; i < cols; i++)
        ss += (y[i] - *mean) * (y[i] - *mean);
    *var = ss / (double)cols;
}

Test(kern_ops, layernorm_rows_have_mean_zero_variance_one_then_gamma_beta)
{
    const size_t cols_cases[] = {2, 7, 8, 13, 64, 1000};
    static float x[4 * 1000], y[4 * 1000], gamma[1000], beta[1000];
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 4;
        /* Rows with different offsets and scales (variance >> eps). */
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)(i / cols) * 10.0f + (float)((i * 7) % 11) * (float)(1 + i / cols);
        for (size_t i = 0; i < cols; i++) {
            gamma[i] = 1.0f;
            beta[i] = 0.0f;
        }
        kern_layernorm(x, gamma, beta, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double mean, var;
            row_moments(y + r * cols, cols, &mean, &var);
            cr_assert(fabs(mean) < 1e-5, "cols %zu row %zu: mean %g", cols, r, mean);
            cr_assert(fabs(var - 1) < 1e-3, "cols %zu row %zu: variance %g", cols, r, var);
        }
        for (size_t i = 0; i < cols; i++) {
            gamma[i] = 2.0f;
            beta[i] = 3.0f;
        }
        kern_layernorm(x, gamma, beta, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double mean, var;
            row_moments(y + r * cols, cols, &mean, &var);
            cr_assert(fabs(mean - 3) < 1e-4, "cols %zu row %zu: mean %g", cols, r, mean);
            cr_assert(fabs(var - 4) < 4e-3, "cols %zu row %zu: variance %g", cols, r, var);
        }
    }
}

Test(kern_ops, gelu_matches_the_tanh_approximation)
{
    const float x[] = {0.0f, 1.0f, -1.0f, 10.0f, -10.0f, 30.0f, -30.0f, 0.5f, -3.0f};
    const size_t n = sizeof x / sizeof x[0];
    float y[sizeof x / sizeof x[0]];
    kern_gelu(x, y, n);
    cr_assert_eq(y[0], 0.0f);
    cr_assert(fabsf(y[3] - 10.0f) < 1e-5f && fabsf(y[5] - 30.0f) < 1e-5f, "%g %g", y[3], y[5]);
    cr_assert(fabsf(y[4]) < 1e-6f && fabsf(y[6]) < 1e-6f, "%g %g", y[4], y[6]);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        cr_assert(fabs(y[i] - ref) <= 1e-6 + 1e-6 * fabs(ref), "gelu(%g) = %.9g, not %.9g", v, y[i],
                  ref);
    }
    cr_assert(fabsf(y[1] - 0.841192f) < 1e-5f, "gelu(1) = %.9g", y[1]);
}

Test(kern_ops, add_is_elementwise_with_a_tail)
{
    float a[21], b[21], c[21];
    for (size_t i = 0; i < 21; i++) {
        a[i] = (float)i;
        b[i] = 0.5f * (float)i - 3.0f;
    }
    kern_add(a, b, c, 21);
    for (size_t i = 0; i < 21; i++)
        cr_assert_eq(c[i], a[i] + b[i], "element %zu", i);
}

/* ---- the backend ---- */
