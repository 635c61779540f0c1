/* One transformer layer on the CPU (kern_layer.h). */
#include "kern_layer.h"
#include "kern_ops.h"
#include "kern_weights.h"

#include "mx_alloc.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

/* For each of parts parts (part p's columns of the full matrix start at p * part_stride), columns
 * [col0, col0 + n) of a full rows x full_cols matrix, side by side: the shard of Wqkv and W1. */
static float *shard_columns(uint64_t seed, int64_t rows, int64_t full_cols, int64_t parts,
                            int64_t part_stride, int64_t col0, int64_t n, float scale)
{
    float *w = mx_malloc_array((size_t)(rows * parts * n), sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t p = 0; p < parts; p++)
            for (int64_t c = 0; c < n; c++)
                w[(r * parts + p) * n + c] =
                    kern_weight(seed, r, p * part_stride + col0 + c, full_cols, scale, 0.0f);
    return w;
}

void kern_layer_init(struct kern_layer *l, const struct kern_layer_shape *s, uint64_t seed,
                     int64_t layer)
{
    int64_t h = s->hidden, f = s->ffn, hl = h / s->op, fl = f / s->op;
    float in_scale = 1.0f / sqrtf((float)h), mlp_scale = 1.0f / sqrtf((float)f);
    l->ln1_gamma = kern_weight_vector(kern_weight_seed(seed, layer, KERN_LN1_GAMMA), h, 0.1f, 1.0f);
    l->ln1_beta = kern_weight_vector(kern_weight_seed(seed, layer, KERN_LN1_BETA), h, 0.1f, 0.0f);
    l->qkv = shard_columns(kern_weight_seed(seed, layer, KERN_QKV), h, 3 * h, 3, h, s->rank * hl,
                           hl, in_scale);
    l->attn_out = kern_weight_rows(kern_weight_seed(seed, layer, KERN_ATTN_OUT), s->rank * hl, hl,
                                   h, in_scale);
    l->ln2_gamma = kern_weight_vector(kern_weight_seed(seed, layer, KERN_LN2_GAMMA), h, 0.1f, 1.0f);
    l->ln2_beta = kern_weight_vector(kern_weight_seed(seed, layer, KERN_LN2_BETA), h, 0.1f, 0.0f);
    l->mlp_in = shard_columns(kern_weight_seed(seed, layer, KERN_MLP_IN), h, f, 1, 0, s->rank * fl,
                              fl, in_scale);
    l->mlp_out = kern_weight_rows(kern_weight_seed(seed, layer, KERN_MLP_OUT), s->rank * fl, fl, h,
                                  mlp_scale);
}

void kern_layer_release(struct kern_layer *l)
{
    float *owned[] = {l->ln1_gamma, l->ln1_beta, l->qkv,    l->attn_out,
                      l->ln2_gamma, l->ln2_beta, l->mlp_in, l->mlp_out};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        free(owned[i]);
    *l = (struct kern_layer){0};
}

void kern_layer_scratch_init(struct kern_layer_scratch *t, const struct kern_layer_shape *s,
                             int64_t batch)
{
    size_t m = (size_t)(batch * s->seq), h = (size_t)s->hidden, hl = h / (size_t)s->op;
    size_t fl = (size_t)(s->ffn / s->op), ss = (size_t)(s->seq * s->seq);
    t->batch = batch;
    t->h1 = mx_malloc_array(m * h, sizeof(float));
    t->qkv = mx_malloc_array(m * 3 * hl, sizeof(float));
    t->scores = mx_malloc_array(ss, sizeof(float));
    t->probs = mx_malloc_array(ss, sizeof(float));
    t->ctx = mx_malloc_array(m * hl, sizeof(float));
    t->partial = mx_malloc_array(m * h, sizeof(float));
    t->x2 = mx_malloc_array(m * h, sizeof(float));
    t->u = mx_malloc_array(m * fl, sizeof(float));
    t->g = mx_malloc_array(m * fl, sizeof(float));
    t->reduce = mx_malloc_array(m * h, sizeof(float));
}

void kern_layer_scratch_release(struct kern_layer_scratch *t)
{
    float *owned[] = {t->h1,      t->qkv, t->scores, t->probs, t->ctx,
                      t->partial, t->x2,  t->u,      t->g,     t->reduce};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        free(owned[i]);
    *t = (struct kern_layer_scratch){0};
}

/* C[m][n] = alpha A[m][k] B[k][n] (B^T when trans_b), row-major with leading dimensions. */
static void gemm(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 bool trans_b, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
                lda, b, ldb, 0.0f, c, ldc);
}

/* Self-attention of the rank's heads for each sequence, from t->qkv into t->ctx. */
static void attention(const struct kern_layer_shape *s, struct kern_layer_scratch *t, int64_t batch)
{
    int n = (int)s->seq, d = (int)(s->hidden / s->heads), local = (int)(s->heads / s->op);
    int ld = 3 * local * d, ctx_ld = local * d;
    float scale = 1.0f / sqrtf((float)d);
    for (int64_t b = 0; b < batch; b++)
        for (int j = 0; j < local; j++) {
            const float *q = t->qkv + (size_t)b * (size_t)n * (size_t)ld + (size_t)j * (size_t)d;
            const float *k = q + local * d, *v = k + local * d;
            gemm(n, n, d, scale, q, ld, k, ld, true, t->scores, n);
            if (s->causal)
                for (int r = 0; r < n; r++)
                    for (int c = r + 1; c < n; c++)
                        t->scores[r * n + c] = -INFINITY;
            kern_softmax(t->scores, t->probs, (size_t)n, (size_t)n);
            gemm(n, d, n, 1.0f, t->probs, n, v, ld, false,
                 t->ctx + (size_t)b * (size_t)n * (size_t)ctx_ld + (size_t)j * (size_t)d, ctx_ld);
        }
}

static void all_reduce(const struct kern_allreduce *reduce, float *buf, float *scratch, size_t n)
{
    if (reduce)
        reduce->sum(reduce->ctx, buf, scratch, n);
}

void kern_layer_forward(const struct kern_layer_shape *s, const struct kern_layer *l,
                        struct kern_layer_scratch *t, float *x, int64_t batch,
                        const struct kern_allreduce *reduce)
{
    int m = (int)(batch * s->seq), h = (int)s->hidden;
    int hl = (int)(s->hidden / s->op), fl = (int)(s->ffn / s->op);
    size_t mh = (size_t)m * (size_t)h;

    kern_layernorm(x, l->ln1_gamma, l->ln1_beta, t->h1, (size_t)m, (size_t)h);
    gemm(m, 3 * hl, h, 1.0f, t->h1, h, l->qkv, 3 * hl, false, t->qkv, 3 * hl);
    attention(s, t, batch);
    gemm(m, h, hl, 1.0f, t->ctx, hl, l->attn_out, h, false, t->partial, h);
    all_reduce(reduce, t->partial, t->reduce, mh);
    kern_add(x, t->partial, t->x2, mh);

    kern_layernorm(t->x2, l->ln2_gamma, l->ln2_beta, t->h1, (size_t)m, (size_t)h);
    gemm(m, fl, h, 1.0f, t->h1, h, l->mlp_in, fl, false, t->u, fl);
    kern_gelu(t->u, t->g, (size_t)m * (size_t)fl);
    gemm(m, h, fl, 1.0f, t->g, fl, l->mlp_out, h, false, t->partial, h);
    all_reduce(reduce, t->partial, t->reduce, mh);
    kern_add(t->x2, t->partial, x, mh);
}
