/* src/kernels: the Llama-style decoder (kern_decoder.h) and its paged KV cache (kern_kv.h). The new
 * ops against double-precision references; whole models against a double-precision model over a
 * contiguous cache; and what a serving runtime relies on: paging, chunked prefill, continuous
 * batching, preemption by recompute and tensor parallelism change the outputs by no more than FP32
 * rounding, and never the greedy token. */
#include "kern_decoder.h"
#include "kern_kv.h"
#include "kern_ops.h"
#include "kern_weights.h"

#include "mx_alloc.h"
#include "mx_error.h"

#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
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

Test(kern_dec, shape_rules)
{
    struct kern_dec_shape ok = {128, 4, 2, 256, 512, 1, 0};
    cr_assert_eq(kern_dec_shape_check(&ok), MX_OK);
    struct kern_dec_shape s = ok;
    s.op = 2;
    s.rank = 1;
    cr_assert_eq(kern_dec_shape_check(&s), MX_OK);
    cr_assert_eq(kern_dec_rank_kv_heads(&s), 1);
    cr_assert_eq(kern_dec_rank_kv_head0(&s), 1);
    s.op = 4; /* more ranks than KV heads: each KV head on two ranks */
    s.rank = 3;
    cr_assert_eq(kern_dec_shape_check(&s), MX_OK);
    cr_assert_eq(kern_dec_rank_kv_heads(&s), 1);
    cr_assert_eq(kern_dec_rank_kv_head0(&s), 1);
    s.rank = 1;
    cr_assert_eq(kern_dec_rank_kv_head0(&s), 0);
    s.op = 3; /* does not divide heads */
    s.rank = 0;
    cr_assert_eq(kern_dec_shape_check(&s), MX_EINPUT);
    struct kern_dec_shape odd = {96, 6, 3, 96, 50, 2, 0}; /* 2 ranks, 3 KV heads */
    cr_assert_eq(kern_dec_shape_check(&odd), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "kv_heads 3"), "%s", mx_error_message());
    struct kern_dec_shape odd_dim = {60, 4, 2, 64, 50, 1, 0}; /* head_dim 15 */
    cr_assert_eq(kern_dec_shape_check(&odd_dim), MX_EINPUT);
    struct kern_dec_shape gqa = {128, 4, 3, 64, 50, 1, 0};
    cr_assert_eq(kern_dec_shape_check(&gqa), MX_EINPUT);
}

/* ---- models ---- */

/* The small model of the brief; an MQA one with head_dim 30 (loop tails) and a vocabulary that
 * op does not divide; an MHA one with head_dim 16. */
static const struct kern_dec_shape SMALL = {128, 4, 2, 256, 512, 1, 0};
static const struct kern_dec_shape MQA = {120, 4, 1, 200, 301, 1, 0};
static const struct kern_dec_shape MHA = {96, 6, 6, 160, 100, 1, 0};
#define LAYERS 2
#define SEED 20240531u

struct model {
    struct kern_dec_shape s;
    struct kern_dec_layer layers[LAYERS];
    struct kern_dec_ends ends;
};

static void model_init(struct model *m, struct kern_dec_shape s)
{
    openblas_set_num_threads(1);
    cr_assert_eq(kern_dec_shape_check(&s), MX_OK, "%s", mx_error_message());
    m->s = s;
    for (int64_t i = 0; i < LAYERS; i++)
        kern_dec_layer_init(&m->layers[i], &s, SEED, i);
    kern_dec_ends_init(&m->ends, &s, SEED, true, true);
}

static void model_release(struct model *m)
{
    for (int64_t i = 0; i < LAYERS; i++)
        kern_dec_layer_release(&m->layers[i]);
    kern_dec_ends_release(&m->ends);
}

/* ---- the double-precision reference: one sequence, a contiguous cache ---- */

struct ref {
    int64_t n;
    double *x;      /* [n][h]: after the last layer */
    double *k, *v;  /* [LAYERS][n][kv_heads d]: after RoPE */
    double *logits; /* [n][vocab] */
};

static void rmsnorm_ref(const double *x, const float *w, double *y, int64_t h)
{
    double ss = 0;
    for (int64_t i = 0; i < h; i++)
        ss += x[i] * x[i];
    double inv = 1 / sqrt(ss / (double)h + 1e-5);
    for (int64_t i = 0; i < h; i++)
        y[i] = x[i] * inv * w[i];
}

/* The model of m (op = 1) over tokens[0 .. n), from its weights' arrays. */
static void ref_run(const struct model *m, const int64_t *tokens, int64_t n, struct ref *r)
{
    const struct kern_dec_shape *s = &m->s;
    int64_t h = s->hidden, d = kern_dec_head_dim(s), H = s->heads, G = s->kv_heads, f = s->ffn;
    int64_t ld = (H + 2 * G) * d, n_rep = H / G;
    r->n = n;
    r->x = mx_calloc((size_t)(n * h), sizeof(double));
    r->k = mx_calloc((size_t)(LAYERS * n * G * d), sizeof(double));
    r->v = mx_calloc((size_t)(LAYERS * n * G * d), sizeof(double));
    r->logits = mx_calloc((size_t)(n * s->vocab), sizeof(double));
    double *hn = mx_calloc((size_t)h, sizeof(double)),
           *q = mx_calloc((size_t)(n * H * d), sizeof(double));
    double *att = mx_calloc((size_t)(H * d), sizeof(double)),
           *p = mx_calloc((size_t)n, sizeof(double));
    double *act = mx_calloc((size_t)f, sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < h; c++)
            r->x[i * h + c] = m->ends.embedding[tokens[i] * h + c];
    for (int64_t l = 0; l < LAYERS; l++) {
        const struct kern_dec_layer *w = &m->layers[l];
        double *K = r->k + l * n * G * d, *V = r->v + l * n * G * d;
        for (int64_t i = 0; i < n; i++) {
            rmsnorm_ref(r->x + i * h, w->attn_norm, hn, h);
            for (int64_t c = 0; c < H * d; c++) {
                double a = 0;
                for (int64_t j = 0; j < h; j++)
                    a += hn[j] * w->wqkv[j * ld + c];
                q[i * H * d + c] = a;
            }
            for (int64_t c = 0; c < G * d; c++) {
                double a = 0, b = 0;
                for (int64_t j = 0; j < h; j++) {
                    a += hn[j] * w->wqkv[j * ld + H * d + c];
                    b += hn[j] * w->wqkv[j * ld + (H + G) * d + c];
                }
                K[i * G * d + c] = a;
                V[i * G * d + c] = b;
            }
            for (int64_t hd = 0; hd < H; hd++)
                rope_ref(q + i * H * d + hd * d, i, d);
            for (int64_t g = 0; g < G; g++)
                rope_ref(K + i * G * d + g * d, i, d);
        }
        for (int64_t i = 0; i < n; i++) {
            for (int64_t hd = 0; hd < H; hd++) {
                int64_t g = hd / n_rep;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j <= i; j++) {
                    double a = 0;
                    for (int64_t c = 0; c < d; c++)
                        a += q[i * H * d + hd * d + c] * K[j * G * d + g * d + c];
                    p[j] = a / sqrt((double)d);
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j <= i; j++)
                    sum += p[j] = exp(p[j] - mx);
                for (int64_t c = 0; c < d; c++) {
                    double a = 0;
                    for (int64_t j = 0; j <= i; j++)
                        a += p[j] / sum * V[j * G * d + g * d + c];
                    att[hd * d + c] = a;
                }
            }
            double *x = r->x + i * h;
            for (int64_t c = 0; c < h; c++) {
                double a = 0;
                for (int64_t j = 0; j < H * d; j++)
                    a += att[j] * w->wo[j * h + c];
                x[c] += a;
            }
            rmsnorm_ref(x, w->mlp_norm, hn, h);
            for (int64_t c = 0; c < f; c++) {
                double g = 0, u = 0;
                for (int64_t j = 0; j < h; j++) {
                    g += hn[j] * w->w_gate_up[j * 2 * f + c];
                    u += hn[j] * w->w_gate_up[j * 2 * f + f + c];
                }
                act[c] = g / (1 + exp(-g)) * u;
            }
            for (int64_t c = 0; c < h; c++) {
                double a = 0;
                for (int64_t j = 0; j < f; j++)
                    a += act[j] * w->w_down[j * h + c];
                x[c] += a;
            }
        }
    }
    for (int64_t i = 0; i < n; i++) {
        rmsnorm_ref(r->x + i * h, m->ends.final_norm, hn, h);
        for (int64_t c = 0; c < s->vocab; c++) {
            double a = 0;
            for (int64_t j = 0; j < h; j++)
                a += hn[j] * m->ends.lm_head[j * s->vocab + c];
            r->logits[i * s->vocab + c] = a;
        }
    }
    free(hn);
    free(q);
    free(att);
    free(p);
    free(act);
}

static void ref_free(struct ref *r)
{
    free(r->x);
    free(r->k);
    free(r->v);
    free(r->logits);
}

/* ---- a small serving loop: sequences, iterations of (sequence, tokens) steps ---- */

#define MAX_SEQS 6
#define MAX_TOKENS 160
#define MAX_STEPS 6

struct seq {
    struct kern_kv_table table;
    int64_t cached;
    int64_t tok[MAX_TOKENS]; /* known tokens: the prompt, then those generated */
    int64_t n_tok;
};

struct runner {
    const struct model *m;
    struct kern_kv_pool *pool;
    struct kern_dec_scratch *t;
    const struct kern_allreduce *reduce;
    struct seq seq[MAX_SEQS];
};

/* A pool of n_blocks; with scramble != 0 its free list hands blocks out in a random order. */
static void runner_init(struct runner *r, const struct model *m, int32_t n_blocks,
                        uint64_t scramble, const struct kern_allreduce *reduce)
{
    *r = (struct runner){.m = m, .reduce = reduce};
    r->pool =
        kern_kv_pool_new(LAYERS, kern_dec_rank_kv_heads(&m->s), kern_dec_head_dim(&m->s), n_blocks);
    r->t = kern_dec_scratch_new(&m->s);
    if (scramble) {
        int32_t *ids = mx_malloc_array((size_t)n_blocks, sizeof(int32_t));
        for (int32_t i = 0; i < n_blocks; i++)
            ids[i] = kern_kv_alloc(r->pool);
        uint64_t x = scramble;
        for (int32_t i = n_blocks - 1; i > 0; i--) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            int32_t j = (int32_t)((x >> 33) % (uint64_t)(i + 1)), tmp = ids[i];
            ids[i] = ids[j];
            ids[j] = tmp;
        }
        for (int32_t i = 0; i < n_blocks; i++)
            kern_kv_release(r->pool, ids[i]);
        free(ids);
    }
}

static void runner_release(struct runner *r)
{
    for (int i = 0; i < MAX_SEQS; i++)
        kern_kv_table_free(&r->seq[i].table);
    kern_kv_pool_free(r->pool);
    kern_dec_scratch_free(r->t);
}

/* Sequence i's prompt: n tokens drawn from prompt_seed. */
static void runner_prompt(struct runner *r, int i, uint64_t prompt_seed, int64_t n)
{
    for (int64_t p = 0; p < n; p++)
        r->seq[i].tok[p] = kern_token(prompt_seed, p, r->m->s.vocab);
    r->seq[i].n_tok = n;
}

/* Preemption by recompute: the cache goes, the tokens stay. */
static void runner_preempt(struct runner *r, int i)
{
    kern_kv_table_release_blocks(&r->seq[i].table, r->pool);
    r->seq[i].cached = 0;
}

struct step {
    int seq;
    int64_t tokens;
};

struct iter {
    int n;
    struct step steps[MAX_STEPS];
};

/* One iteration: the steps' next tokens of their sequences, in one batch. Each step whose tokens
 * reach the end of its sequence's known tokens emits the greedy next token (appended). x_out
 * ([rows][h]) and logits_out ([emitted][vocab]) take the outputs when not NULL. Returns the rows;
 * *emitted counts the tokens emitted. */
static int64_t iterate(struct runner *r, const struct iter *it, float *x_out, float *logits_out,
                       int64_t *emitted)
{
    const struct kern_dec_shape *s = &r->m->s;
    int64_t h = s->hidden, rows = 0, n_emit = 0;
    struct kern_dec_seq seqs[MAX_STEPS];
    int64_t tokens[MAX_STEPS * MAX_TOKENS], emit_rows[MAX_STEPS], next[MAX_STEPS];
    int emit_seq[MAX_STEPS];
    for (int e = 0; e < it->n; e++) {
        struct seq *q = &r->seq[it->steps[e].seq];
        int64_t t = it->steps[e].tokens;
        cr_assert(t >= 1 && q->cached + t <= q->n_tok, "a step past the known tokens");
        while (q->table.n < kern_kv_blocks_for(q->cached + t)) {
            int32_t b = kern_kv_alloc(r->pool);
            cr_assert(b >= 0, "the test's pool is too small");
            kern_kv_table_append(&q->table, b);
        }
        seqs[e] = (struct kern_dec_seq){&q->table, q->cached, t};
        memcpy(tokens + rows, q->tok + q->cached, (size_t)t * sizeof(int64_t));
        rows += t;
        if (q->cached + t == q->n_tok) {
            emit_rows[n_emit] = rows - 1;
            emit_seq[n_emit++] = it->steps[e].seq;
        }
    }
    float *x = mx_malloc_array((size_t)(rows * h), sizeof(float));
    float *logits = mx_malloc_array((size_t)(n_emit * s->vocab + 1), sizeof(float));
    kern_dec_embed(s, &r->m->ends, tokens, rows, x, r->t, r->reduce);
    kern_dec_layers_forward(s, r->m->layers, LAYERS, r->pool, seqs, it->n, x, r->t, r->reduce);
    kern_dec_logits(s, &r->m->ends, x, emit_rows, n_emit, logits, r->t, r->reduce);
    kern_dec_next_tokens(s, &r->m->ends, x, emit_rows, n_emit, next, r->t, r->reduce);
    for (int64_t i = 0; i < n_emit; i++) {
        cr_assert_eq(next[i], (int64_t)kern_argmax(logits + i * s->vocab, (size_t)s->vocab));
        struct seq *q = &r->seq[emit_seq[i]];
        cr_assert(q->n_tok < MAX_TOKENS);
        q->tok[q->n_tok++] = next[i];
    }
    for (int e = 0; e < it->n; e++)
        r->seq[it->steps[e].seq].cached += it->steps[e].tokens;
    if (x_out)
        memcpy(x_out, x, (size_t)(rows * h) * sizeof(float));
    if (logits_out)
        memcpy(logits_out, logits, (size_t)(n_emit * s->vocab) * sizeof(float));
    free(x);
    free(logits);
    *emitted = n_emit;
    return rows;
}

/* The iterations of a script; x_all and logits_all (if not NULL) take every row and every
 * emitted token's logits in order. */
static void run_script(struct runner *r, const struct iter *script, int n_iters, float *x_all,
                       float *logits_all, int64_t *rows_out, int64_t *emitted_out)
{
    int64_t rows = 0, emitted = 0, h = r->m->s.hidden, v = r->m->s.vocab;
    for (int i = 0; i < n_iters; i++) {
        int64_t e;
        rows += iterate(r, &script[i], x_all ? x_all + rows * h : NULL,
                        logits_all ? logits_all + emitted * v : NULL, &e);
        emitted += e;
    }
    if (rows_out)
        *rows_out = rows;
    if (emitted_out)
        *emitted_out = emitted;
}

/* One step of sequence seq per chunk size, each its own iteration. */
static int chunks_script(struct iter *script, int seq, const int64_t *chunks, int n)
{
    for (int i = 0; i < n; i++)
        script[i] = (struct iter){1, {{seq, chunks[i]}}};
    return n;
}

/* |a - b| <= tol (1 + |b|) for n elements; the worst ratio is returned for messages. */
static double worst(const float *a, const double *b, int64_t n)
{
    double w = 0;
    for (int64_t i = 0; i < n; i++)
        w = fmax(w, fabs(a[i] - b[i]) / (1 + fabs(b[i])));
    return w;
}

static double worst_f(const float *a, const float *b, int64_t n)
{
    double w = 0;
    for (int64_t i = 0; i < n; i++)
        w = fmax(w, fabs(a[i] - b[i]) / (1 + fabs(b[i])));
    return w;
}

/* FP32 against the double reference, and FP32 runs against each other (sums in other orders). */
#define TOL_REF 1e-5
#define TOL_FP32 5e-6

/* The key (or value) of sequence i of r at position p, for layer l and KV head g (of r's rank), in
 * a buffer of this function's that the next call overwrites. */
static const float *cached_key(struct runner *r, int i, int64_t l, int64_t g, int64_t p, bool value)
{
    static float key[256], val[256];
    const struct kern_kv_table *t = &r->seq[i].table;
    kern_kv_get(r->pool, t->blocks[p / KERN_KV_BLOCK_TOKENS], l, g, p % KERN_KV_BLOCK_TOKENS, key,
                val);
    return value ? val : key;
}

/* The worst error of sequence i's cache against the reference's K and V. */
static double cache_vs_ref(struct runner *r, int i, const struct ref *ref)
{
    int64_t d = kern_dec_head_dim(&r->m->s), G = r->m->s.kv_heads, n = r->seq[i].cached;
    double w = 0;
    for (int64_t l = 0; l < LAYERS; l++)
        for (int64_t p = 0; p < n; p++)
            for (int64_t g = 0; g < G; g++) {
                const double *k = ref->k + ((l * ref->n + p) * G + g) * d;
                const double *v = ref->v + ((l * ref->n + p) * G + g) * d;
                w = fmax(w, worst(cached_key(r, i, l, g, p, false), k, d));
                w = fmax(w, worst(cached_key(r, i, l, g, p, true), v, d));
            }
    return w;
}

/* The worst difference of two runners' caches of sequence i (KV heads of a's rank, which b holds
 * from b_head0 on: all of them for one device). */
static double cache_vs_cache(struct runner *a, struct runner *b, int i, int64_t b_head0)
{
    int64_t d = kern_dec_head_dim(&a->m->s), G = kern_dec_rank_kv_heads(&a->m->s);
    double w = 0;
    cr_assert_eq(a->seq[i].cached, b->seq[i].cached);
    for (int64_t l = 0; l < LAYERS; l++)
        for (int64_t p = 0; p < a->seq[i].cached; p++)
            for (int64_t g = 0; g < G; g++)
                for (int value = 0; value < 2; value++) {
                    float ka[256];
                    memcpy(ka, cached_key(a, i, l, g, p, value), (size_t)d * sizeof(float));
                    w = fmax(w, worst_f(ka, cached_key(b, i, l, b_head0 + g, p, value), d));
                }
    return w;
}

/* ---- paging ---- */

/* A prompt of n tokens through chunks, in a pool whose blocks come in scrambled order, against the
 * reference over a contiguous cache: every row of every chunk, the cache, the last logits. */
static void check_against_reference(struct kern_dec_shape shape, const int64_t *chunks,
                                    int n_chunks, uint64_t scramble)
{
    struct model m;
    model_init(&m, shape);
    struct runner r;
    runner_init(&r, &m, 64, scramble, NULL);
    int64_t len = 0;
    for (int i = 0; i < n_chunks; i++)
        len += chunks[i];
    runner_prompt(&r, 0, 7, len);
    struct ref ref;
    ref_run(&m, r.seq[0].tok, len, &ref);
    struct iter script[32];
    float *x = mx_malloc_array((size_t)(len * shape.hidden), sizeof(float));
    float *logits = mx_malloc_array((size_t)shape.vocab, sizeof(float));
    int64_t rows, emitted;
    run_script(&r, script, chunks_script(script, 0, chunks, n_chunks), x, logits, &rows, &emitted);
    cr_assert_eq(rows, len);
    cr_assert_eq(emitted, 1);
    double wx = worst(x, ref.x, len * shape.hidden), wc = cache_vs_ref(&r, 0, &ref);
    double wl = worst(logits, ref.logits + (len - 1) * shape.vocab, shape.vocab);
    cr_assert(wx < TOL_REF && wc < TOL_REF && wl < TOL_REF,
              "hidden %lld, %d chunks, scramble %llu: outputs %g, cache %g, logits %g",
              (long long)shape.hidden, n_chunks, (unsigned long long)scramble, wx, wc, wl);
    /* The greedy token is the reference's. */
    cr_assert_eq(r.seq[0].tok[len], (int64_t)kern_argmax(logits, (size_t)shape.vocab));
    double best = -INFINITY;
    int64_t best_id = -1;
    for (int64_t c = 0; c < shape.vocab; c++)
        if (ref.logits[(len - 1) * shape.vocab + c] > best) {
            best = ref.logits[(len - 1) * shape.vocab + c];
            best_id = c;
        }
    cr_assert_eq(r.seq[0].tok[len], best_id);
    free(x);
    free(logits);
    ref_free(&ref);
    runner_release(&r);
    model_release(&m);
}

Test(kern_dec, paged_attention_equals_a_contiguous_reference, .timeout = 60)
{
    /* One chunk; decodes only (loop path from the first token); chunks of both paths with their
     * boundaries mid-block; chunks across block boundaries by one. */
    const int64_t one[] = {75}; /* past a tile of ATT_TILE = 64 query rows */
    const int64_t decodes[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t mixed[] = {5, 16, 1, 1, 23, 3, 8, 9, 1};
    const int64_t edges[] = {15, 2, 16, 17, 1, 31};
    const struct kern_dec_shape shapes[] = {SMALL, MQA, MHA};
    for (size_t s = 0; s < 3; s++) {
        check_against_reference(shapes[s], one, 1, 0);
        check_against_reference(shapes[s], one, 1, 11);
        check_against_reference(shapes[s], decodes, 20, 12);
        check_against_reference(shapes[s], mixed, 9, 0);
        check_against_reference(shapes[s], mixed, 9, 13);
        check_against_reference(shapes[s], edges, 6, 14);
    }
}

/* ---- chunked prefill ---- */

Test(kern_dec, chunked_prefill_equals_one_prefill, .timeout = 60)
{
    const int64_t chunkings[][6] = {{70}, {3, 13, 7, 16, 31}, {1, 1, 40, 27, 1}, {8, 8, 8, 8, 38}};
    const int n_chunks[] = {1, 5, 5, 5};
    struct model m;
    model_init(&m, SMALL);
    int64_t len = 70, h = SMALL.hidden, v = SMALL.vocab;
    struct runner r[4];
    float *x[4], *logits[4];
    for (int c = 0; c < 4; c++) {
        runner_init(&r[c], &m, 32, (uint64_t)(c * 5), NULL);
        runner_prompt(&r[c], 0, 99, len);
        struct iter script[8];
        x[c] = mx_malloc_array((size_t)(len * h), sizeof(float));
        logits[c] = mx_malloc_array((size_t)v, sizeof(float));
        run_script(&r[c], script, chunks_script(script, 0, chunkings[c], n_chunks[c]), x[c],
                   logits[c], NULL, NULL);
    }
    for (int c = 1; c < 4; c++) {
        double wx = worst_f(x[c], x[0], len * h), wl = worst_f(logits[c], logits[0], v);
        double wc = cache_vs_cache(&r[c], &r[0], 0, 0);
        cr_assert(wx < TOL_FP32 && wl < TOL_FP32 && wc < TOL_FP32,
                  "chunking %d: outputs %g, logits %g, cache %g", c, wx, wl, wc);
        cr_assert_eq(r[c].seq[0].tok[len], r[0].seq[0].tok[len]);
    }
    for (int c = 0; c < 4; c++) {
        free(x[c]);
        free(logits[c]);
        runner_release(&r[c]);
    }
    model_release(&m);
}

Test(kern_dec, prefill_then_decodes_equals_one_prefill_of_the_whole, .timeout = 60)
{
    struct model m;
    model_init(&m, SMALL);
    int64_t prompt = 21, len = 60, h = SMALL.hidden, v = SMALL.vocab;
    struct runner a, b;
    runner_init(&a, &m, 32, 3, NULL);
    runner_init(&b, &m, 32, 4, NULL);
    /* The same 60 known tokens: a decodes them one at a time after its prefill. */
    runner_prompt(&a, 0, 5, len);
    runner_prompt(&b, 0, 5, len);
    struct iter script[64];
    int n = chunks_script(script, 0, &prompt, 1);
    for (int64_t p = prompt; p < len; p++)
        script[n++] = (struct iter){1, {{0, 1}}};
    float *xa = mx_malloc_array((size_t)(len * h), sizeof(float));
    float *xb = mx_malloc_array((size_t)(len * h), sizeof(float));
    float *la = mx_malloc_array((size_t)v, sizeof(float)),
          *lb = mx_malloc_array((size_t)v, sizeof(float));
    run_script(&a, script, n, xa, la, NULL, NULL);
    run_script(&b, script, chunks_script(script, 0, &len, 1), xb, lb, NULL, NULL);
    double wx = worst_f(xa + (len - 1) * h, xb + (len - 1) * h, h), wl = worst_f(la, lb, v);
    double wall = worst_f(xa, xb, len * h), wc = cache_vs_cache(&a, &b, 0, 0);
    cr_assert(wx < TOL_FP32 && wl < TOL_FP32 && wall < TOL_FP32 && wc < TOL_FP32,
              "last row %g, logits %g, all rows %g, cache %g", wx, wl, wall, wc);
    cr_assert_eq(a.seq[0].tok[len], b.seq[0].tok[len]);
    free(xa);
    free(xb);
    free(la);
    free(lb);
    runner_release(&a);
    runner_release(&b);
    model_release(&m);
}

/* ---- recompute ---- */

Test(kern_dec, recompute_gives_the_same_next_tokens, .timeout = 60)
{
    struct model m;
    model_init(&m, SMALL);
    int64_t prompt = 23, out = 30;
    struct runner a, b;
    runner_init(&a, &m, 24, 0, NULL);
    runner_init(&b, &m, 24, 0, NULL);
    runner_prompt(&a, 0, 42, prompt);
    runner_prompt(&b, 0, 42, prompt);
    runner_prompt(&b, 1, 43, 40); /* a neighbour that takes blocks while 0 is out */
    struct iter first = {1, {{0, prompt}}}, decode = {1, {{0, 1}}};
    int64_t e;
    iterate(&a, &first, NULL, NULL, &e);
    while (a.seq[0].n_tok < prompt + out)
        iterate(&a, &decode, NULL, NULL, &e);

    iterate(&b, &first, NULL, NULL, &e);
    while (b.seq[0].n_tok < prompt + 12)
        iterate(&b, &decode, NULL, NULL, &e);
    runner_preempt(&b, 0);
    struct iter neighbour = {1, {{1, 40}}};
    iterate(&b, &neighbour, NULL, NULL, &e);
    /* Prompt and generated tokens again, in two chunks, in other blocks; then decodes. */
    int64_t known = b.seq[0].n_tok;
    struct iter again1 = {1, {{0, 20}}}, again2 = {2, {{0, known - 20}, {1, 1}}};
    iterate(&b, &again1, NULL, NULL, &e);
    cr_assert_eq(e, 0);
    iterate(&b, &again2, NULL, NULL, &e);
    cr_assert_eq(e, 2);
    cr_assert_eq(b.seq[0].tok[known], a.seq[0].tok[known], "the token after the recompute");
    while (b.seq[0].n_tok < prompt + out)
        iterate(&b, &decode, NULL, NULL, &e);
    for (int64_t p = prompt; p < prompt + out; p++)
        cr_assert_eq(b.seq[0].tok[p], a.seq[0].tok[p], "token %lld", (long long)p);
    double wc = cache_vs_cache(&b, &a, 0, 0);
    cr_assert(wc < TOL_FP32, "cache %g", wc);
    runner_release(&a);
    runner_release(&b);
    model_release(&m);
}

/* ---- continuous batching ---- */

Test(kern_dec, a_mixed_batch_equals_its_entries_one_by_one, .timeout = 60)
{
    struct model m;
    model_init(&m, SMALL);
    int64_t h = SMALL.hidden, v = SMALL.vocab;
    struct runner a, b;
    runner_init(&a, &m, 40, 21, NULL);
    runner_init(&b, &m, 40, 21, NULL);
    struct runner *rs[2] = {&a, &b};
    /* Sequence 0 mid-prefill (21 of 40), 1 and 3 decoding, 2 new, 4 to start with a chunk. */
    const struct iter setup[] = {
        {1, {{0, 21}}}, {1, {{1, 10}}}, {1, {{1, 1}}}, {1, {{3, 17}}}, {1, {{1, 1}}},
    };
    for (int k = 0; k < 2; k++) {
        runner_prompt(rs[k], 0, 100, 40);
        runner_prompt(rs[k], 1, 101, 10);
        runner_prompt(rs[k], 2, 102, 9);
        runner_prompt(rs[k], 3, 103, 17);
        runner_prompt(rs[k], 4, 104, 33);
        run_script(rs[k], setup, 5, NULL, NULL, NULL, NULL);
    }
    const struct iter batches[] = {
        {5, {{1, 1}, {0, 19}, {3, 1}, {2, 9}, {4, 12}}},
        {5, {{4, 21}, {2, 1}, {1, 1}, {0, 1}, {3, 1}}},
        {5, {{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}},
    };
    for (int i = 0; i < 3; i++) {
        const struct iter *it = &batches[i];
        float xa[64 * 128], xb[64 * 128], la[5 * 512], lb[5 * 512];
        int64_t rows = 0, emitted = 0, e;
        int64_t rows_a = iterate(&a, it, xa, la, &e);
        for (int k = 0; k < it->n; k++) {
            struct iter alone = {1, {it->steps[k]}};
            rows += iterate(&b, &alone, xb + rows * h, lb + emitted * v, &e);
            emitted += e;
        }
        cr_assert_eq(rows, rows_a);
        double wx = worst_f(xa, xb, rows * h), wl = worst_f(la, lb, emitted * v);
        cr_assert(wx < TOL_FP32 && wl < TOL_FP32, "batch %d: outputs %g, logits %g", i, wx, wl);
        for (int s = 0; s < 5; s++) {
            cr_assert_eq(a.seq[s].n_tok, b.seq[s].n_tok);
            cr_assert(
                memcmp(a.seq[s].tok, b.seq[s].tok, (size_t)a.seq[s].n_tok * sizeof(int64_t)) == 0,
                "batch %d: sequence %d's tokens", i, s);
            double wc = cache_vs_cache(&a, &b, s, 0);
            cr_assert(wc < TOL_FP32, "batch %d: sequence %d's cache %g", i, s, wc);
        }
    }
    runner_release(&a);
    runner_release(&b);
    model_release(&m);
}

/* ---- tensor parallelism ---- */

/* A summing all-reduce over threads: every rank adds the ranks' buffers in rank order, so all
 * ranks hold the same bits. */
struct team {
    int op;
    pthread_barrier_t barrier;
    float *bufs[4];
};

struct member {
    struct team *team;
    int rank;
    struct kern_allreduce reduce;
    struct model m;
    struct runner r;
    float *x, *logits;
    int64_t rows, emitted;
};

static void team_sum(void *ctx, float *buf, float *scratch, size_t n)
{
    struct member *me = ctx;
    struct team *tm = me->team;
    tm->bufs[me->rank] = buf;
    pthread_barrier_wait(&tm->barrier);
    for (size_t i = 0; i < n; i++) {
        float s = tm->bufs[0][i];
        for (int k = 1; k < tm->op; k++)
            s += tm->bufs[k][i];
        scratch[i] = s;
    }
    pthread_barrier_wait(&tm->barrier);
    memcpy(buf, scratch, n * sizeof(float));
}

/* Three sequences: prefill chunks, decodes, and both in one batch. */
static const struct iter TP_SCRIPT[] = {
    {2, {{0, 20}, {1, 5}}},        {3, {{0, 1}, {1, 1}, {2, 17}}}, {2, {{2, 23}, {0, 1}}},
    {3, {{0, 1}, {1, 1}, {2, 1}}}, {3, {{2, 1}, {0, 1}, {1, 1}}},  {3, {{0, 1}, {1, 1}, {2, 1}}},
    {3, {{0, 1}, {1, 1}, {2, 1}}},
};
#define TP_ITERS ((int)(sizeof TP_SCRIPT / sizeof TP_SCRIPT[0]))
#define TP_ROWS 128

static void *tp_rank(void *arg)
{
    struct member *me = arg;
    struct kern_dec_shape s = SMALL;
    s.op = me->team->op;
    s.rank = me->rank;
    me->reduce = (struct kern_allreduce){team_sum, me};
    model_init(&me->m, s);
    runner_init(&me->r, &me->m, 24, 31, s.op > 1 ? &me->reduce : NULL);
    runner_prompt(&me->r, 0, 200, 20);
    runner_prompt(&me->r, 1, 201, 5);
    runner_prompt(&me->r, 2, 202, 40);
    me->x = mx_malloc_array((size_t)(TP_ROWS * s.hidden), sizeof(float));
    me->logits = mx_malloc_array((size_t)(32 * s.vocab), sizeof(float));
    run_script(&me->r, TP_SCRIPT, TP_ITERS, me->x, me->logits, &me->rows, &me->emitted);
    return NULL;
}

/* Run the script on op ranks (threads); members[0 .. op) hold the results. */
static void tp_run(struct team *team, struct member *members, int op)
{
    pthread_t threads[4];
    team->op = op;
    pthread_barrier_init(&team->barrier, NULL, (unsigned)op);
    for (int k = 0; k < op; k++) {
        members[k] = (struct member){.team = team, .rank = k};
        cr_assert_eq(pthread_create(&threads[k], NULL, tp_rank, &members[k]), 0);
    }
    for (int k = 0; k < op; k++)
        pthread_join(threads[k], NULL);
    pthread_barrier_destroy(&team->barrier);
}

static void tp_release(struct member *members, int op)
{
    for (int k = 0; k < op; k++) {
        free(members[k].x);
        free(members[k].logits);
        runner_release(&members[k].r);
        model_release(&members[k].m);
    }
}

Test(kern_dec, tensor_parallel_ranks_sum_to_one_device, .timeout = 60)
{
    int64_t h = SMALL.hidden, v = SMALL.vocab;
    struct team one_team, team;
    struct member one[1], ranks[4];
    tp_run(&one_team, one, 1);
    for (int op = 2; op <= 4; op += 2) {
        tp_run(&team, ranks, op);
        for (int k = 0; k < op; k++) {
            struct member *r = &ranks[k];
            cr_assert(r->rows == one->rows && r->emitted == one->emitted);
            double wx = worst_f(r->x, one->x, r->rows * h);
            double wl = worst_f(r->logits, one->logits, r->emitted * v);
            cr_assert(wx < TOL_FP32 && wl < TOL_FP32, "op %d rank %d: outputs %g, logits %g", op, k,
                      wx, wl);
            for (int s = 0; s < 3; s++) {
                cr_assert(memcmp(r->r.seq[s].tok, one->r.seq[s].tok,
                                 (size_t)one->r.seq[s].n_tok * sizeof(int64_t)) == 0,
                          "op %d rank %d: sequence %d's tokens", op, k, s);
                double wc = cache_vs_cache(&r->r, &one->r, s, kern_dec_rank_kv_head0(&r->m.s));
                cr_assert(wc < TOL_FP32, "op %d rank %d: sequence %d's cache %g", op, k, s, wc);
            }
            /* Every rank holds the same full activations. */
            cr_assert(memcmp(r->x, ranks[0].x, (size_t)(r->rows * h) * sizeof(float)) == 0);
        }
        tp_release(ranks, op);
    }
    tp_release(one, 1);
}

/* The weights of a shard are the slice of one device's: the same bits. */
Test(kern_dec, shards_are_slices_of_the_full_weights)
{
    struct kern_dec_shape s = MQA; /* 301 tokens over 2 ranks: slices of 150 and 151 */
    struct kern_dec_layer full, part;
    struct kern_dec_ends full_ends, part_ends;
    kern_dec_layer_init(&full, &s, SEED, 1);
    kern_dec_ends_init(&full_ends, &s, SEED, true, true);
    s.op = 2;
    s.rank = 1;
    kern_dec_layer_init(&part, &s, SEED, 1);
    kern_dec_ends_init(&part_ends, &s, SEED, true, true);
    int64_t h = s.hidden, d = kern_dec_head_dim(&s), H = s.heads, f = s.ffn, fl = f / 2;
    int64_t ld = (H + 2) * d, pld = (H / 2 + 2) * d; /* one KV head, on both ranks */
    for (int64_t r = 0; r < h; r++) {
        for (int64_t c = 0; c < H / 2 * d; c++)
            cr_assert_eq(part.wqkv[r * pld + c], full.wqkv[r * ld + H / 2 * d + c]);
        for (int64_t c = 0; c < 2 * d; c++)
            cr_assert_eq(part.wqkv[r * pld + H / 2 * d + c], full.wqkv[r * ld + H * d + c]);
        for (int64_t c = 0; c < fl; c++) {
            cr_assert_eq(part.w_gate_up[r * 2 * fl + c], full.w_gate_up[r * 2 * f + fl + c]);
            cr_assert_eq(part.w_gate_up[r * 2 * fl + fl + c],
                         full.w_gate_up[r * 2 * f + f + fl + c]);
        }
        for (int64_t c = 0; c < 151; c++)
            cr_assert_eq(part_ends.lm_head[r * 151 + c], full_ends.lm_head[r * 301 + 150 + c]);
    }
    cr_assert(memcmp(part.wo, full.wo + H / 2 * d * h, (size_t)(H / 2 * d * h) * sizeof(float)) ==
              0);
    cr_assert(memcmp(part.w_down, full.w_down + fl * h, (size_t)(fl * h) * sizeof(float)) == 0);
    cr_assert(memcmp(part_ends.embedding, full_ends.embedding + 150 * h,
                     (size_t)(151 * h) * sizeof(float)) == 0);
    cr_assert_eq(part_ends.vocab_begin, 150);
    cr_assert_eq(part_ends.vocab_end, 301);
    kern_dec_layer_release(&full);
    kern_dec_layer_release(&part);
    kern_dec_ends_release(&full_ends);
    kern_dec_ends_release(&part_ends);
}
