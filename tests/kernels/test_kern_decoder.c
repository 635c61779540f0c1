/* src/kernels: the decoder's ops (kern_ops.h: RMS norm, rotary embeddings, the SiLU-gated
 * activation, the polynomial exponential and its softmax, argmax) against double-precision
 * references, and the paged KV cache (kern_kv.h). */
#include "kern_kv.h"
#include "kern_ops.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the ops ---- */

Test(kern_dec_ops, rmsnorm_matches_a_double_reference)
{
    const size_t cols_cases[] = {1, 7, 8, 9, 64, 1000};
    static float x[3 * 1000], w[1000], y[3 * 1000];
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 3;
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)((i * 7) % 13) * 0.3f - 1.7f + (float)(i / cols) * 5.0f;
        for (size_t i = 0; i < cols; i++)
            w[i] = 0.5f + (float)(i % 5) * 0.25f;
        kern_rmsnorm(x, w, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double ss = 0;
            for (size_t i = 0; i < cols; i++)
                ss += (double)x[r * cols + i] * x[r * cols + i];
            double inv = 1 / sqrt(ss / (double)cols + 1e-5);
            for (size_t i = 0; i < cols; i++) {
                double ref = x[r * cols + i] * inv * w[i];
                cr_assert(fabs(y[r * cols + i] - ref) <= 1e-6 + 1e-5 * fabs(ref),
                          "cols %zu row %zu col %zu: %.9g, not %.9g", cols, r, i, y[r * cols + i],
                          ref);
            }
        }
    }
    /* eps counts: a zero row stays zero, a tiny one is not blown up to unit scale. */
    float z[4] = {0, 0, 0, 1e-4f}, one[4] = {1, 1, 1, 1}, out[4];
    kern_rmsnorm(z, one, out, 1, 4);
    cr_assert(out[0] == 0 && fabsf(out[3] - 1e-4f / sqrtf(2.5e-9f + 1e-5f)) < 1e-7f, "%g", out[3]);
}

/* The Llama convention in double: angle p theta^(-2i/d), rotate half. */
static void rope_ref(double *v, int64_t pos, int64_t d)
{
    for (int64_t i = 0; i < d / 2; i++) {
        double angle = (double)pos * pow(10000.0, -2.0 * (double)i / (double)d);
        double a = v[i], b = v[i + d / 2];
        v[i] = a * cos(angle) - b * sin(angle);
        v[i + d / 2] = b * cos(angle) + a * sin(angle);
    }
}

Test(kern_dec_ops, rope_rotates_half_at_absolute_positions)
{
    const int64_t dims[] = {4, 8, 30, 64, 128}, positions[] = {0, 1, 17, 4097, 100000};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (size_t pi = 0; pi < sizeof positions / sizeof positions[0]; pi++) {
            int64_t d = dims[di], pos = positions[pi], heads = 3;
            float cs[64], sn[64], x[3 * 128];
            double ref[3 * 128];
            kern_rope_table(cs, sn, (size_t)pos, 1, (size_t)d, KERN_ROPE_THETA);
            for (int64_t i = 0; i < d / 2; i++) {
                double angle = (double)pos * pow(10000.0, -2.0 * (double)i / (double)d);
                cr_assert(fabs(cs[i] - cos(angle)) < 2e-7 && fabs(sn[i] - sin(angle)) < 2e-7,
                          "d %lld pos %lld i %lld: cos %.9g sin %.9g", (long long)d, (long long)pos,
                          (long long)i, cs[i], sn[i]);
            }
            for (int64_t i = 0; i < heads * d; i++)
                ref[i] = x[i] = (float)((i * 11) % 17) * 0.125f - 1.0f;
            kern_rope(x, cs, sn, (size_t)heads, (size_t)d);
            for (int64_t h = 0; h < heads; h++)
                rope_ref(ref + h * d, pos, d);
            for (int64_t i = 0; i < heads * d; i++)
                cr_assert(fabs(x[i] - ref[i]) < 1e-6, "d %lld pos %lld element %lld: %.9g vs %.9g",
                          (long long)d, (long long)pos, (long long)i, x[i], ref[i]);
        }
    /* Rotate half, not interleaved pairs: (1, 0, 0, 0) at position 1 turns towards element 2. */
    float cs[2], sn[2], x[4] = {1, 0, 0, 0};
    kern_rope_table(cs, sn, 1, 1, 4, KERN_ROPE_THETA);
    kern_rope(x, cs, sn, 1, 4);
    cr_assert(fabsf(x[0] - cosf(1)) < 1e-7f && x[1] == 0 && fabsf(x[2] - sinf(1)) < 1e-7f &&
                  x[3] == 0,
              "%g %g %g %g", x[0], x[1], x[2], x[3]);
    /* A table of several rows starts at pos0. */
    float cs5[5 * 4], sn5[5 * 4], cs1[4], sn1[4];
    kern_rope_table(cs5, sn5, 30, 5, 8, KERN_ROPE_THETA);
    kern_rope_table(cs1, sn1, 33, 1, 8, KERN_ROPE_THETA);
    cr_assert(memcmp(cs5 + 3 * 4, cs1, sizeof cs1) == 0 &&
              memcmp(sn5 + 3 * 4, sn1, sizeof sn1) == 0);
}

Test(kern_dec_ops, silu_mul_matches_a_double_reference)
{
    const float g[] = {0, 1, -1, 0.5f, -3, 10, -10, 30, -30, 100, -100, 2.5f, -0.25f};
    const size_t n = sizeof g / sizeof g[0];
    float u[sizeof g / sizeof g[0]], y[sizeof g / sizeof g[0]];
    for (size_t i = 0; i < n; i++)
        u[i] = 1.5f - 0.25f * (float)i;
    kern_silu_mul(g, u, y, n);
    for (size_t i = 0; i < n; i++) {
        double ref = g[i] / (1 + exp(-(double)g[i])) * u[i];
        cr_assert(isfinite(y[i]) && fabs(y[i] - ref) <= 1e-7 + 2e-6 * fabs(ref),
                  "silu(%g) * %g = %.9g, not %.9g", g[i], u[i], y[i], ref);
    }
}

Test(kern_dec_ops, exp_is_within_two_ulp_and_saturates)
{
    static float x[180000], y[180000];
    size_t n = 0;
    for (double v = -87.0; v <= 88.0 && n < 180000; v += 0.001)
        x[n++] = (float)v;
    kern_exp(x, y, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double ref = exp((double)x[i]);
        worst = fmax(worst, fabs(y[i] - ref) / ref);
    }
    cr_assert(worst < 2 * 1.2e-7, "worst relative error %g", worst);
    const float special[] = {0, -0.0f, -87.5f, -1e30f, -INFINITY, 89, INFINITY, NAN, 1, -1};
    float out[10];
    kern_exp(special, out, 10);
    cr_assert(out[0] == 1 && out[1] == 1, "%g %g", out[0], out[1]);
    cr_assert(out[2] == 0 && out[3] == 0 && out[4] == 0, "%g %g %g", out[2], out[3], out[4]);
    cr_assert(isfinite(out[5]) && out[5] == out[6] && fabs(out[5] / exp(88.0) - 1) < 3e-7, "%g",
              out[5]);
    cr_assert(isnan(out[7]));
    cr_assert(fabs(out[8] - M_E) < 3e-7 && fabs(out[9] - 1 / M_E) < 1e-7, "%.9g %.9g", out[8],
              out[9]);
}

Test(kern_dec_ops, fast_softmax_matches_a_double_reference)
{
    const size_t cols_cases[] = {1, 7, 8, 9, 37, 513};
    static float x[3 * 513], y[3 * 513];
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 3;
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)((i * 13) % 17) * 0.7f - 8.0f +
                   (i >= cols && i < 2 * cols ? 1000.0f : 0.0f) -
                   (i >= 2 * cols ? 100.0f * (float)(i % 3) : 0.0f);
        kern_softmax_fast(x, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double sum = 0, ref_sum = 0, xmax = -INFINITY;
            for (size_t i = 0; i < cols; i++)
                xmax = fmax(xmax, x[r * cols + i]);
            for (size_t i = 0; i < cols; i++)
                ref_sum += exp(x[r * cols + i] - xmax);
            for (size_t i = 0; i < cols; i++) {
                double ref = exp(x[r * cols + i] - xmax) / ref_sum, v = y[r * cols + i];
                cr_assert(fabs(v - ref) <= 1e-7 + 1e-6 * ref, "cols %zu row %zu: %g vs %g", cols, r,
                          v, ref);
                sum += v;
            }
            cr_assert(fabs(sum - 1) < 1e-6, "cols %zu row %zu sums to %.9g", cols, r, sum);
        }
    }
}

Test(kern_dec_ops, argmax_takes_the_lowest_of_equal_maxima)
{
    const float a[] = {1, 3, 3, 2}, b[] = {5, 5, 5}, c[] = {-1, -2, -0.5f};
    const float d[] = {NAN, 1, 2, NAN};
    cr_assert_eq(kern_argmax(a, 4), 1);
    cr_assert_eq(kern_argmax(b, 3), 0);
    cr_assert_eq(kern_argmax(c, 3), 2);
    cr_assert_eq(kern_argmax(d, 4), 2);
    cr_assert_eq(kern_argmax(c, 1), 0);
}

/* ---- the paged KV cache ---- */

Test(kern_kv, blocks_are_disjoint_and_the_free_list_is_the_callers)
{
    int64_t layers = 2, heads = 3, d = 5;
    int32_t n = 6;
    struct kern_kv_pool *pool = kern_kv_pool_new(layers, heads, d, n);
    cr_assert_eq(kern_kv_block_bytes(layers, heads, d), (size_t)(2 * 2 * 3 * 16 * 5 * 4));
    /* Write a distinct value to every slot of every block, layer, head, K and V; read it back. */
    for (int pass = 0; pass < 2; pass++)
        for (int32_t b = 0; b < n; b++)
            for (int64_t l = 0; l < layers; l++)
                for (int64_t h = 0; h < heads; h++)
                    for (int64_t i = 0; i < KERN_KV_BLOCK_TOKENS * d; i++) {
                        float key = (float)(((b * layers + l) * heads + h) * 1000 + i);
                        float *k = kern_kv_keys(pool, b, l, h), *v = kern_kv_values(pool, b, l, h);
                        if (pass == 0) {
                            k[i] = key;
                            v[i] = -key - 1;
                        } else
                            cr_assert(k[i] == key && v[i] == -key - 1,
                                      "block %d layer %lld head %lld", b, (long long)l,
                                      (long long)h);
                    }
    /* Keys are stored transposed: slot s's key is column s of [head_dim][16]. */
    float key[5] = {1, 2, 3, 4, 5}, value[5] = {-1, -2, -3, -4, -5}, k2[5], v2[5];
    kern_kv_put(pool, 4, 1, 2, 9, key, value);
    cr_assert_eq(kern_kv_keys(pool, 4, 1, 2)[3 * KERN_KV_BLOCK_TOKENS + 9], 4.0f);
    cr_assert_eq(kern_kv_values(pool, 4, 1, 2)[9 * 5 + 3], -4.0f);
    kern_kv_get(pool, 4, 1, 2, 9, k2, v2);
    cr_assert(memcmp(k2, key, sizeof key) == 0 && memcmp(v2, value, sizeof value) == 0);
    kern_kv_get(pool, 4, 1, 2, 8, k2, v2);
    cr_assert(k2[0] != 1.0f && v2[0] != -1.0f, "slot 8 is another one");
    for (int32_t b = 0; b < n; b++)
        cr_assert_eq(kern_kv_alloc(pool), b, "blocks come in id order");
    cr_assert_eq(kern_kv_alloc(pool), -1);
    cr_assert_eq(kern_kv_free_blocks(pool), 0);
    kern_kv_release(pool, 3);
    kern_kv_release(pool, 1);
    cr_assert_eq(kern_kv_free_blocks(pool), 2);
    cr_assert_eq(kern_kv_alloc(pool), 1, "the block released last comes first");
    cr_assert_eq(kern_kv_alloc(pool), 3);

    struct kern_kv_table t = {0};
    for (int32_t b = 5; b >= 0; b--)
        kern_kv_table_append(&t, b);
    for (int32_t i = 0; i < 20; i++)
        kern_kv_table_append(&t, 0);
    cr_assert_eq(t.n, 26);
    cr_assert(t.blocks[0] == 5 && t.blocks[5] == 0);
    kern_kv_table_truncate(&t, 6);
    cr_assert_eq(t.n, 6);
    kern_kv_table_truncate(&t, 2); /* blocks 5 and 4 stay the table's */
    kern_kv_release(pool, 3);
    kern_kv_release(pool, 2);
    kern_kv_release(pool, 1);
    kern_kv_release(pool, 0);
    kern_kv_table_release_blocks(&t, pool);
    cr_assert_eq(t.n, 0);
    cr_assert_eq(kern_kv_free_blocks(pool), n);
    cr_assert_eq(kern_kv_blocks_for(0), 0);
    cr_assert_eq(kern_kv_blocks_for(16), 1);
    cr_assert_eq(kern_kv_blocks_for(17), 2);
    kern_kv_table_free(&t);
    kern_kv_pool_free(pool);
}

Test(kern_kv, releasing_a_free_block_is_a_bug, .signal = SIGABRT)
{
    struct kern_kv_pool *pool = kern_kv_pool_new(1, 1, 2, 4);
    int32_t b = kern_kv_alloc(pool);
    kern_kv_release(pool, b);
    kern_kv_release(pool, b);
}
