/* Llama-style decoder layers over continuous batches (kern_decoder.h). A layer is four batched
 * GEMMs (fused QKV, Wo, fused gate and up, Wdown) around the loops of kern_ops.c, and attention
 * per (chunk, KV head) over the request's blocks: decodes and short chunks with vectorised loops
 * straight from the blocks, longer chunks by gathering the request's keys and values into
 * contiguous rows and two cblas_sgemm per query head and tile of query rows. */
#include "kern_decoder.h"
#include "kern_ops.h"
#include "kern_weights.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Query rows of one head per attention GEMM tile (bounds the scores buffer to tile x context). */
#define ATT_TILE 64
/* An entry whose query rows for one KV head (tokens x query heads per KV head) are at most this
 * many takes the loop path of attention; more, the GEMM path. Measured on one core (a 2-layer
 * model of hidden 256, the layers' time for one entry after 1024 cached tokens): with 2 query heads
 * per KV head the loops took 163 us against 231 us for 1 token, 305 against 361 for 2, tied at 4
 * (605, 591) and lost at 6 (896, 837); with MHA they won up to 6 tokens (800, 904) and lost at 8
 * (962, 909); with 8 query heads per KV head they tied at 1 and 2 tokens. */
#ifndef ATT_LOOP_MAX_ROWS
#define ATT_LOOP_MAX_ROWS 8
#endif

int kern_dec_shape_check(const struct kern_dec_shape *s)
{
    if (s->hidden < 1 || s->heads < 1 || s->kv_heads < 1 || s->ffn < 1 || s->vocab < 1 || s->op < 1)
        return mx_error(MX_EINPUT,
                        "decoder shape: hidden %lld, heads %lld, kv_heads %lld, ffn %lld, vocab "
                        "%lld and op %lld must all be at least 1",
                        (long long)s->hidden, (long long)s->heads, (long long)s->kv_heads,
                        (long long)s->ffn, (long long)s->vocab, (long long)s->op);
    if (s->hidden % s->heads != 0)
        return mx_error(MX_EINPUT, "decoder shape: heads %lld does not divide hidden %lld",
                        (long long)s->heads, (long long)s->hidden);
    if ((s->hidden / s->heads) % 2 != 0)
        return mx_error(MX_EINPUT,
                        "decoder shape: head_dim %lld (hidden / heads) is odd; rotary embeddings "
                        "rotate pairs",
                        (long long)(s->hidden / s->heads));
    if (s->heads % s->kv_heads != 0)
        return mx_error(MX_EINPUT, "decoder shape: kv_heads %lld does not divide heads %lld",
                        (long long)s->kv_heads, (long long)s->heads);
    if (s->heads % s->op != 0 || s->ffn % s->op != 0)
        return mx_error(MX_EINPUT,
                        "decoder shape: %lld tensor-parallel ranks do not divide heads %lld and "
                        "ffn %lld",
                        (long long)s->op, (long long)s->heads, (long long)s->ffn);
    if (s->kv_heads % s->op != 0 && s->op % s->kv_heads != 0)
        return mx_error(
            MX_EINPUT,
            "decoder shape: %lld tensor-parallel ranks neither divide kv_heads %lld nor "
            "are a multiple of it",
            (long long)s->op, (long long)s->kv_heads);
    if (s->op > s->vocab)
        return mx_error(MX_EINPUT, "decoder shape: %lld ranks exceed the vocabulary of %lld",
                        (long long)s->op, (long long)s->vocab);
    if (s->rank < 0 || s->rank >= s->op)
        return mx_error(MX_EINPUT, "decoder shape: rank %lld is not in [0, %lld)",
                        (long long)s->rank, (long long)s->op);
    return MX_OK;
}

uint64_t kern_dec_weight_seed(uint64_t model_seed, int64_t layer, enum kern_dec_tensor t)
{
    return mx_rng_derive(model_seed, "decoder-weights",
                         (uint64_t)(layer + 1) * (KERN_DEC_LM_HEAD + 1) + (uint64_t)t);
}

/* ---- weights ---- */

/* Columns [col0, col0 + n) of a full rows x full_cols matrix into w's columns [at, at + n)
 * (w has ld columns). */
static void fill_columns(float *w, int64_t ld, int64_t at, uint64_t seed, int64_t rows,
                         int64_t full_cols, int64_t col0, int64_t n, float scale)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n; c++)
            w[r * ld + at + c] = kern_weight(seed, r, col0 + c, full_cols, scale, 0.0f);
}

/* The callers' shapes have passed kern_dec_shape_check: one that has not is a bug. */
static void check_shape(const struct kern_dec_shape *s)
{
    if (kern_dec_shape_check(s) < 0)
        MX_BUG("%s", mx_error_message());
}

void kern_dec_layer_init(struct kern_dec_layer *l, const struct kern_dec_shape *s, uint64_t seed,
                         int64_t layer)
{
    check_shape(s);
    int64_t h = s->hidden, d = kern_dec_head_dim(s), f = s->ffn, fl = f / s->op;
    int64_t q = kern_dec_rank_heads(s) * d, kv = kern_dec_rank_kv_heads(s) * d;
    int64_t ld = q + 2 * kv;
    float hs = 1.0f / sqrtf((float)h), fs = 1.0f / sqrtf((float)f);
    l->attn_norm =
        kern_weight_vector(kern_dec_weight_seed(seed, layer, KERN_DEC_ATTN_NORM), h, 0.1f, 1.0f);
    l->wqkv = mx_malloc_array((size_t)(h * ld), sizeof(float));
    fill_columns(l->wqkv, ld, 0, kern_dec_weight_seed(seed, layer, KERN_DEC_WQ), h, s->heads * d,
                 s->rank * q, q, hs);
    int64_t kv0 = kern_dec_rank_kv_head0(s) * d; /* the rank's first KV column */
    fill_columns(l->wqkv, ld, q, kern_dec_weight_seed(seed, layer, KERN_DEC_WK), h, s->kv_heads * d,
                 kv0, kv, hs);
    fill_columns(l->wqkv, ld, q + kv, kern_dec_weight_seed(seed, layer, KERN_DEC_WV), h,
                 s->kv_heads * d, kv0, kv, hs);
    l->wo = kern_weight_rows(kern_dec_weight_seed(seed, layer, KERN_DEC_WO), s->rank * q, q, h, hs);
    l->mlp_norm =
        kern_weight_vector(kern_dec_weight_seed(seed, layer, KERN_DEC_MLP_NORM), h, 0.1f, 1.0f);
    l->w_gate_up = mx_malloc_array((size_t)(h * 2 * fl), sizeof(float));
    fill_columns(l->w_gate_up, 2 * fl, 0, kern_dec_weight_seed(seed, layer, KERN_DEC_WGATE), h, f,
                 s->rank * fl, fl, hs);
    fill_columns(l->w_gate_up, 2 * fl, fl, kern_dec_weight_seed(seed, layer, KERN_DEC_WUP), h, f,
                 s->rank * fl, fl, hs);
    l->w_down = kern_weight_rows(kern_dec_weight_seed(seed, layer, KERN_DEC_WDOWN), s->rank * fl,
                                 fl, h, fs);
}

void kern_dec_layer_release(struct kern_dec_layer *l)
{
    float *owned[] = {l->attn_norm, l->wqkv, l->wo, l->mlp_norm, l->w_gate_up, l->w_down};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        free(owned[i]);
    *l = (struct kern_dec_layer){0};
}

void kern_dec_ends_init(struct kern_dec_ends *e, const struct kern_dec_shape *s, uint64_t seed,
                        bool first, bool last)
{
    check_shape(s);
    int64_t h = s->hidden, v = s->vocab;
    *e = (struct kern_dec_ends){0};
    e->vocab_begin = s->rank * v / s->op;
    e->vocab_end = (s->rank + 1) * v / s->op;
    int64_t n = e->vocab_end - e->vocab_begin;
    if (first)
        e->embedding = kern_weight_rows(kern_dec_weight_seed(seed, -1, KERN_DEC_EMBEDDING),
                                        e->vocab_begin, n, h, 1.0f);
    if (last) {
        e->final_norm =
            kern_weight_vector(kern_dec_weight_seed(seed, -1, KERN_DEC_FINAL_NORM), h, 0.1f, 1.0f);
        e->lm_head = mx_malloc_array((size_t)(h * n), sizeof(float));
        fill_columns(e->lm_head, n, 0, kern_dec_weight_seed(seed, -1, KERN_DEC_LM_HEAD), h, v,
                     e->vocab_begin, n, 1.0f / sqrtf((float)h));
    }
}

void kern_dec_ends_release(struct kern_dec_ends *e)
{
    free(e->embedding);
    free(e->final_norm);
    free(e->lm_head);
    *e = (struct kern_dec_ends){0};
}

/* ---- working memory ---- */

struct kern_dec_scratch {
    int64_t hidden, d, q, kv, fl, vocab, n_rep; /* q, kv: the rank's Q and K columns */
    int64_t rows;                               /* capacity in batch tokens */
    float *hn, *qkv, *ctx, *partial, *x2, *gu, *act, *reduce;
    int64_t context; /* capacity in positions of one request */
    float *keys, *values, *scores, *probs, *queries;
    int64_t rope_positions;
    float *rope_cos, *rope_sin; /* [rope_positions][d / 2] */
    int64_t lm_rows;
    float *lm_hn, *logits, *lm_reduce;
};

struct kern_dec_scratch *kern_dec_scratch_new(const struct kern_dec_shape *s)
{
    check_shape(s);
    struct kern_dec_scratch *t = MX_NEW(struct kern_dec_scratch);
    t->hidden = s->hidden;
    t->d = kern_dec_head_dim(s);
    t->q = kern_dec_rank_heads(s) * t->d;
    t->kv = kern_dec_rank_kv_heads(s) * t->d;
    t->fl = s->ffn / s->op;
    t->vocab = s->vocab;
    t->n_rep = t->q / t->kv; /* the rank's query heads per KV head it holds */
    return t;
}

void kern_dec_scratch_free(struct kern_dec_scratch *t)
{
    if (!t)
        return;
    float *owned[] = {t->hn,      t->qkv,      t->ctx,      t->partial, t->x2,     t->gu,
                      t->act,     t->reduce,   t->keys,     t->values,  t->scores, t->probs,
                      t->queries, t->rope_cos, t->rope_sin, t->lm_hn,   t->logits, t->lm_reduce};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        free(owned[i]);
    free(t);
}

static float *regrow(float *p, int64_t n)
{
    free(p);
    return mx_malloc_array((size_t)n, sizeof(float));
}

static int64_t grown(int64_t have, int64_t want)
{
    int64_t n = have ? have : 16;
    while (n < want)
        n *= 2;
    return n;
}

void kern_dec_scratch_reserve(struct kern_dec_scratch *t, int64_t tokens, int64_t context,
                              int64_t lm_rows)
{
    int64_t h = t->hidden, d = t->d;
    if (tokens > t->rows) {
        int64_t m = t->rows = grown(t->rows, tokens);
        t->hn = regrow(t->hn, m * h);
        t->qkv = regrow(t->qkv, m * (t->q + 2 * t->kv));
        t->ctx = regrow(t->ctx, m * t->q);
        t->partial = regrow(t->partial, m * h);
        t->x2 = regrow(t->x2, m * h);
        t->gu = regrow(t->gu, m * 2 * t->fl);
        t->act = regrow(t->act, m * t->fl);
        t->reduce = regrow(t->reduce, m * h);
    }
    if (context > t->context) {
        int64_t c = t->context = grown(t->context, context);
        int64_t score_rows = ATT_LOOP_MAX_ROWS > ATT_TILE ? ATT_LOOP_MAX_ROWS : ATT_TILE;
        t->queries = regrow(t->queries, ATT_LOOP_MAX_ROWS * d);
        t->keys = regrow(t->keys, c * d);
        t->values = regrow(t->values, c * d);
        t->scores = regrow(t->scores, score_rows * c);
        t->probs = regrow(t->probs, score_rows * c);
    }
    if (context > t->rope_positions) {
        /* The table keeps its rows: only the new positions are computed. */
        int64_t old = t->rope_positions, n = grown(old, context), half = d / 2;
        t->rope_cos = mx_realloc_array(t->rope_cos, (size_t)(n * half), sizeof(float));
        t->rope_sin = mx_realloc_array(t->rope_sin, (size_t)(n * half), sizeof(float));
        kern_rope_table(t->rope_cos + old * half, t->rope_sin + old * half, (size_t)old,
                        (size_t)(n - old), (size_t)d, KERN_ROPE_THETA);
        t->rope_positions = n;
    }
    if (lm_rows > t->lm_rows) {
        int64_t r = t->lm_rows = grown(t->lm_rows, lm_rows);
        t->lm_hn = regrow(t->lm_hn, r * h);
        t->logits = regrow(t->logits, r * t->vocab);
        t->lm_reduce = regrow(t->lm_reduce, r * t->vocab);
    }
}

/* ---- the layer ---- */

/* Products of fewer rows than this go row by row through cblas_sgemv: OpenBLAS's sgemm packs all
 * of B first and computes rows in groups of 8, so that (one core, OpenBLAS 0.3.21, Haswell kernels,
 * measured) 1 x 256 x 1408 took 77 us by sgemm and 12 us by sgemv, 5 rows 95 us against 65 us,
 * 7 rows 138 us against 95 us, while 8 rows took 87 us against 97 us. Decode batches of a few
 * requests are such products. */
#define GEMV_MAX_ROWS 7

/* C[m][n] = alpha A[m][k] B[k][n] (B^T when trans_b), row-major with leading dimensions. */
static void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, bool trans_b, float *c, int64_t ldc)
{
    if (m <= GEMV_MAX_ROWS) {
        for (int64_t i = 0; i < m; i++)
            if (trans_b)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)k, alpha, b, (int)ldb,
                            a + i * lda, 1, 0.0f, c + i * ldc, 1);
            else
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, alpha, b, (int)ldb,
                            a + i * lda, 1, 0.0f, c + i * ldc, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, alpha, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

static void all_reduce(const struct kern_dec_shape *s, const struct kern_allreduce *reduce,
                       float *buf, float *scratch, size_t n)
{
    if (s->op == 1)
        return;
    if (!reduce)
        MX_BUG("a decoder of %lld tensor-parallel ranks without an all-reduce", (long long)s->op);
    reduce->sum(reduce->ctx, buf, scratch, n);
}

/* Query rows scored at a time against one block's keys. */
#define QK_HEADS 8

/* Four floats as one value (GCC's vector extension; an SSE register, -O2's baseline), so that the
 * accumulators of the attention loops stay in registers: written as arrays, GCC kept them in memory
 * and each multiply-add waited on the previous store (perf: half of the loop's time on one store).
 * Loaded and stored with memcpy, so unaligned. */
typedef float v4f __attribute__((vector_size(4 * sizeof(float))));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* acc[j][s] = q_j . key_s for heads query vectors q ([heads][d]) and the 16 keys of a block, stored
 * transposed (kt: [d][16]): 16-wide multiply-adds into four vector accumulators, no horizontal
 * sums. Slots past the block's filled ones give garbage that the caller drops. */
static void block_scores(const float *restrict q, int64_t heads, int64_t d,
                         const float *restrict kt, float *restrict acc)
{
    const int64_t w = KERN_KV_BLOCK_TOKENS;
    for (int64_t j = 0; j < heads; j++) {
        const float *restrict qj = q + j * d;
        v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int64_t c = 0; c < d; c++) {
            const float *restrict k = kt + c * w;
            a0 += qj[c] * load4(k);
            a1 += qj[c] * load4(k + 4);
            a2 += qj[c] * load4(k + 8);
            a3 += qj[c] * load4(k + 12);
        }
        store4(acc + j * w, a0);
        store4(acc + j * w + 4, a1);
        store4(acc + j * w + 8, a2);
        store4(acc + j * w + 12, a3);
    }
}

/* out[i] += sum over s < slots of p[s] v[s][i], for i < d (v: [slots][d]): eight columns at a
 * time, summed over the slots in two vector accumulators, then a scalar tail. */
static void block_values(float *restrict out, const float *restrict p, const float *restrict v,
                         int64_t slots, int64_t d)
{
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
        v4f o0 = load4(out + i), o1 = load4(out + i + 4);
        for (int64_t s = 0; s < slots; s++) {
            o0 += p[s] * load4(v + s * d + i);
            o1 += p[s] * load4(v + s * d + i + 4);
        }
        store4(out + i, o0);
        store4(out + i + 4, o1);
    }
    for (; i < d; i++)
        for (int64_t s = 0; s < slots; s++)
            out[i] += p[s] * v[s * d + i];
}

/* Where the batch's rows are: the totals the scratch must hold. */
static void batch_extent(const struct kern_dec_seq *seqs, int64_t n_seqs, int64_t *tokens,
                         int64_t *context)
{
    *tokens = 0;
    *context = 0;
    for (int64_t e = 0; e < n_seqs; e++) {
        const struct kern_dec_seq *q = &seqs[e];
        if (q->tokens < 1 || q->cached < 0 ||
            q->table->n < kern_kv_blocks_for(q->cached + q->tokens))
            MX_BUG("batch entry %lld: %lld tokens after %lld with %lld blocks", (long long)e,
                   (long long)q->tokens, (long long)q->cached, (long long)q->table->n);
        *tokens += q->tokens;
        if (q->cached + q->tokens > *context)
            *context = q->cached + q->tokens;
    }
}

/* Rotary embeddings on the Q and K heads of each row (adjacent in a row of t->qkv), then the new
 * keys and values into the cache. */
static void rope_and_store(struct kern_dec_scratch *t, struct kern_kv_pool *kv, int64_t layer,
                           const struct kern_dec_seq *seqs, int64_t n_seqs)
{
    int64_t d = t->d, half = d / 2, ld = t->q + 2 * t->kv, hkv = t->kv / d;
    int64_t row = 0;
    for (int64_t e = 0; e < n_seqs; e++) {
        const struct kern_dec_seq *q = &seqs[e];
        for (int64_t i = 0; i < q->tokens; i++, row++) {
            int64_t pos = q->cached + i;
            float *r = t->qkv + row * ld;
            kern_rope(r, t->rope_cos + pos * half, t->rope_sin + pos * half,
                      (size_t)((t->q + t->kv) / d), (size_t)d);
            int32_t block = q->table->blocks[pos / KERN_KV_BLOCK_TOKENS];
            for (int64_t g = 0; g < hkv; g++)
                kern_kv_put(kv, block, layer, g, pos % KERN_KV_BLOCK_TOKENS, r + t->q + g * d,
                            r + t->q + t->kv + g * d);
        }
    }
}

/* Attention of one entry's tokens (rows [row0, row0 + tokens) of t->qkv) for the query heads of
 * KV head g, by loops over the blocks, each block read once for all of them: the entry's R =
 * tokens x n_rep query vectors (row r = token i, head j at r = i n_rep + j) are gathered, scored
 * against each block's keys QK_HEADS at a time (block_scores), each row's scores over the positions
 * it sees (cached + i + 1) go through a softmax, the others get probability 0, and the values are
 * summed with those weights. Best for decodes and short chunks, where a GEMM's setup and packing
 * outweigh its work. */
static void attend_loops(struct kern_dec_scratch *t, struct kern_kv_pool *kv, int64_t layer,
                         const struct kern_dec_seq *q, int64_t row0, int64_t g, float scale)
{
    int64_t d = t->d, n_rep = t->n_rep, ld = t->q + 2 * t->kv, rows = q->tokens * n_rep;
    int64_t n = q->cached + q->tokens; /* positions the last token sees: the scores' stride */
    float acc[QK_HEADS * KERN_KV_BLOCK_TOKENS];
    for (int64_t i = 0; i < q->tokens; i++)
        memcpy(t->queries + i * n_rep * d, t->qkv + (row0 + i) * ld + g * n_rep * d,
               (size_t)(n_rep * d) * sizeof(float));
    for (int64_t b = 0; b * KERN_KV_BLOCK_TOKENS < n; b++) {
        const float *keys = kern_kv_keys(kv, q->table->blocks[b], layer, g);
        int64_t p0 = b * KERN_KV_BLOCK_TOKENS, slots = n - p0;
        if (slots > KERN_KV_BLOCK_TOKENS)
            slots = KERN_KV_BLOCK_TOKENS;
        for (int64_t r0 = 0; r0 < rows; r0 += QK_HEADS) {
            int64_t m = rows - r0 < QK_HEADS ? rows - r0 : QK_HEADS;
            block_scores(t->queries + r0 * d, m, d, keys, acc);
            for (int64_t r = 0; r < m; r++)
                for (int64_t s = 0; s < slots; s++)
                    t->scores[(r0 + r) * n + p0 + s] = scale * acc[r * KERN_KV_BLOCK_TOKENS + s];
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        int64_t visible = q->cached + r / n_rep + 1;
        kern_softmax_fast(t->scores + r * n, t->probs + r * n, 1, (size_t)visible);
        memset(t->probs + r * n + visible, 0, (size_t)(n - visible) * sizeof(float));
        memset(t->ctx + (row0 + r / n_rep) * t->q + (g * n_rep + r % n_rep) * d, 0,
               (size_t)d * sizeof(float));
    }
    for (int64_t b = 0; b * KERN_KV_BLOCK_TOKENS < n; b++) {
        const float *values = kern_kv_values(kv, q->table->blocks[b], layer, g);
        int64_t p0 = b * KERN_KV_BLOCK_TOKENS, slots = n - p0;
        if (slots > KERN_KV_BLOCK_TOKENS)
            slots = KERN_KV_BLOCK_TOKENS;
        for (int64_t r = 0; r < rows; r++) {
            float *out = t->ctx + (row0 + r / n_rep) * t->q + (g * n_rep + r % n_rep) * d;
            block_values(out, t->probs + r * n + p0, values, slots, d);
        }
    }
}

/* The same by GEMMs: the request's keys gathered into t->keys ([d][context capacity], transposed
 * as in the blocks) and its values into t->values ([positions][d]), then per query head and tile of
 * query rows, scores = scale Q K^T over the positions the tile's last row sees, a causal softmax
 * per row (positions past its own get probability 0), and P V. */
static void attend_gemm(struct kern_dec_scratch *t, struct kern_kv_pool *kv, int64_t layer,
                        const struct kern_dec_seq *q, int64_t row0, int64_t g, float scale)
{
    int64_t d = t->d, n_rep = t->n_rep, ld = t->q + 2 * t->kv, context = q->cached + q->tokens;
    int64_t ldk = t->context;
    for (int64_t b = 0; b * KERN_KV_BLOCK_TOKENS < context; b++) {
        int64_t p0 = b * KERN_KV_BLOCK_TOKENS, slots = context - p0;
        if (slots > KERN_KV_BLOCK_TOKENS)
            slots = KERN_KV_BLOCK_TOKENS;
        const float *keys = kern_kv_keys(kv, q->table->blocks[b], layer, g);
        for (int64_t c = 0; c < d; c++)
            memcpy(t->keys + c * ldk + p0, keys + c * KERN_KV_BLOCK_TOKENS,
                   (size_t)slots * sizeof(float));
        memcpy(t->values + p0 * d, kern_kv_values(kv, q->table->blocks[b], layer, g),
               (size_t)(slots * d) * sizeof(float));
    }
    for (int64_t j = g * n_rep; j < (g + 1) * n_rep; j++)
        for (int64_t r0 = 0; r0 < q->tokens; r0 += ATT_TILE) {
            int64_t rows = q->tokens - r0 < ATT_TILE ? q->tokens - r0 : ATT_TILE;
            int64_t n = q->cached + r0 + rows; /* positions the tile's last row sees */
            gemm(rows, n, d, scale, t->qkv + (row0 + r0) * ld + j * d, ld, t->keys, ldk, false,
                 t->scores, n);
            for (int64_t r = 0; r < rows; r++) {
                int64_t visible = q->cached + r0 + r + 1;
                kern_softmax_fast(t->scores + r * n, t->probs + r * n, 1, (size_t)visible);
                memset(t->probs + r * n + visible, 0, (size_t)(n - visible) * sizeof(float));
            }
            gemm(rows, d, n, 1.0f, t->probs, n, t->values, d, false,
                 t->ctx + (row0 + r0) * t->q + j * d, t->q);
        }
}

static void attention(struct kern_dec_scratch *t, struct kern_kv_pool *kv, int64_t layer,
                      const struct kern_dec_seq *seqs, int64_t n_seqs)
{
    float scale = 1.0f / sqrtf((float)t->d);
    int64_t hkv = t->kv / t->d, row0 = 0;
    for (int64_t e = 0; e < n_seqs; e++) {
        for (int64_t g = 0; g < hkv; g++)
            if (seqs[e].tokens * t->n_rep <= ATT_LOOP_MAX_ROWS)
                attend_loops(t, kv, layer, &seqs[e], row0, g, scale);
            else
                attend_gemm(t, kv, layer, &seqs[e], row0, g, scale);
        row0 += seqs[e].tokens;
    }
}

void kern_dec_layer_forward(const struct kern_dec_shape *s, const struct kern_dec_layer *l,
                            struct kern_kv_pool *kv, int64_t kv_layer,
                            const struct kern_dec_seq *seqs, int64_t n_seqs, float *x,
                            struct kern_dec_scratch *t, const struct kern_allreduce *reduce)
{
    int64_t m, context;
    batch_extent(seqs, n_seqs, &m, &context);
    if (m == 0)
        return;
    if (kern_kv_pool_kv_heads(kv) != kern_dec_rank_kv_heads(s) ||
        kern_kv_pool_head_dim(kv) != kern_dec_head_dim(s))
        MX_BUG("KV pool of %lld heads of %lld for a rank of %lld heads of %lld",
               (long long)kern_kv_pool_kv_heads(kv), (long long)kern_kv_pool_head_dim(kv),
               (long long)kern_dec_rank_kv_heads(s), (long long)kern_dec_head_dim(s));
    kern_dec_scratch_reserve(t, m, context, 0);
    int64_t h = s->hidden, ld = t->q + 2 * t->kv, fl = t->fl;
    size_t mh = (size_t)(m * h);

    kern_rmsnorm(x, l->attn_norm, t->hn, (size_t)m, (size_t)h);
    gemm(m, ld, h, 1.0f, t->hn, h, l->wqkv, ld, false, t->qkv, ld);
    rope_and_store(t, kv, kv_layer, seqs, n_seqs);
    attention(t, kv, kv_layer, seqs, n_seqs);
    gemm(m, h, t->q, 1.0f, t->ctx, t->q, l->wo, h, false, t->partial, h);
    all_reduce(s, reduce, t->partial, t->reduce, mh);
    kern_add(x, t->partial, t->x2, mh);

    kern_rmsnorm(t->x2, l->mlp_norm, t->hn, (size_t)m, (size_t)h);
    gemm(m, 2 * fl, h, 1.0f, t->hn, h, l->w_gate_up, 2 * fl, false, t->gu, 2 * fl);
    for (int64_t r = 0; r < m; r++)
        kern_silu_mul(t->gu + r * 2 * fl, t->gu + r * 2 * fl + fl, t->act + r * fl, (size_t)fl);
    gemm(m, h, fl, 1.0f, t->act, fl, l->w_down, h, false, t->partial, h);
    all_reduce(s, reduce, t->partial, t->reduce, mh);
    kern_add(t->x2, t->partial, x, mh);
}

void kern_dec_layers_forward(const struct kern_dec_shape *s, const struct kern_dec_layer *layers,
                             int64_t n_layers, struct kern_kv_pool *kv,
                             const struct kern_dec_seq *seqs, int64_t n_seqs, float *x,
                             struct kern_dec_scratch *t, const struct kern_allreduce *reduce)
{
    for (int64_t i = 0; i < n_layers; i++)
        kern_dec_layer_forward(s, &layers[i], kv, i, seqs, n_seqs, x, t, reduce);
}

/* ---- the ends ---- */

void kern_dec_embed(const struct kern_dec_shape *s, const struct kern_dec_ends *e,
                    const int64_t *tokens, int64_t n, float *x, struct kern_dec_scratch *t,
                    const struct kern_allreduce *reduce)
{
    int64_t h = s->hidden;
    if (!e->embedding)
        MX_BUG("embedding tokens on a stage without the embedding");
    kern_dec_scratch_reserve(t, n, 0, 0);
    for (int64_t i = 0; i < n; i++) {
        int64_t tok = tokens[i];
        if (tok < 0 || tok >= s->vocab)
            MX_BUG("token %lld outside the vocabulary of %lld", (long long)tok,
                   (long long)s->vocab);
        if (tok >= e->vocab_begin && tok < e->vocab_end)
            memcpy(x + i * h, e->embedding + (tok - e->vocab_begin) * h, (size_t)h * sizeof(float));
        else
            memset(x + i * h, 0, (size_t)h * sizeof(float));
    }
    all_reduce(s, reduce, x, t->reduce, (size_t)(n * h));
}

void kern_dec_last_rows(const struct kern_dec_seq *seqs, int64_t n_seqs, int64_t *rows)
{
    int64_t end = 0;
    for (int64_t e = 0; e < n_seqs; e++) {
        end += seqs[e].tokens;
        rows[e] = end - 1;
    }
}

void kern_dec_logits(const struct kern_dec_shape *s, const struct kern_dec_ends *e, const float *x,
                     const int64_t *rows, int64_t n_rows, float *logits, struct kern_dec_scratch *t,
                     const struct kern_allreduce *reduce)
{
    int64_t h = s->hidden, v = s->vocab, vl = e->vocab_end - e->vocab_begin;
    if (!e->lm_head)
        MX_BUG("logits on a stage without the LM head");
    if (n_rows == 0)
        return;
    kern_dec_scratch_reserve(t, 0, 0, n_rows);
    for (int64_t i = 0; i < n_rows; i++)
        kern_rmsnorm(x + rows[i] * h, e->final_norm, t->lm_hn + i * h, 1, (size_t)h);
    if (s->op > 1)
        memset(logits, 0, (size_t)(n_rows * v) * sizeof(float));
    gemm(n_rows, vl, h, 1.0f, t->lm_hn, h, e->lm_head, vl, false, logits + e->vocab_begin, v);
    all_reduce(s, reduce, logits, t->lm_reduce, (size_t)(n_rows * v));
}

void kern_dec_next_tokens(const struct kern_dec_shape *s, const struct kern_dec_ends *e,
                          const float *x, const int64_t *rows, int64_t n_rows, int64_t *tokens,
                          struct kern_dec_scratch *t, const struct kern_allreduce *reduce)
{
    if (n_rows == 0)
        return;
    kern_dec_scratch_reserve(t, 0, 0, n_rows);
    kern_dec_logits(s, e, x, rows, n_rows, t->logits, t, reduce);
    for (int64_t i = 0; i < n_rows; i++)
        tokens[i] = (int64_t)kern_argmax(t->logits + i * s->vocab, (size_t)s->vocab);
}
