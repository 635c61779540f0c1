/* Llama-style decoder layers on the CPU in FP32, run over the batches of continuous batching
 * (docs/decoders.md): each iteration holds sequence chunks, every chunk some new tokens of one
 * request (a prefill chunk, or one decode token) whose keys and values join the request's paged KV
 * cache (kern_kv.h) and whose queries attend over everything the request has cached. With the
 * token embedding (first stage) and the LM head with a greedy choice of the next token (last
 * stage), this is what a runtime needs to generate tokens. The encoder layer (kern_layer.h) is a
 * different model and stays as it is.
 *
 * A layer, pre-norm: h = RMSNorm(x); q = h Wq, k = h Wk, v = h Wv (grouped-query attention: heads
 * query heads and kv_heads KV heads of head_dim = hidden / heads elements; query head j uses KV
 * head j / (heads / kv_heads)); rotary embeddings (kern_rope, theta KERN_ROPE_THETA) on q and k at
 * each token's absolute position; the new k and v are written to the cache; each new token at
 * position p attends, causally, over the request's positions 0 .. p: softmax(q K^T /
 * sqrt(head_dim)) V; x += attn Wo; h = RMSNorm(x); x += (silu(h Wgate) * (h Wup)) Wdown.
 *
 * Tensor parallelism (Megatron style, as kern_layer.h): op ranks; op must divide heads and ffn,
 * and either op divides kv_heads or kv_heads divides op (kern_dec_shape_check), so that every rank
 * holds whole query heads and the whole KV heads they use. Rank r holds query heads
 * [r heads/op, (r+1) heads/op) (their columns of Wq and rows of Wo), and the KV heads those use:
 * [r kv_heads/op, (r+1) kv_heads/op) when op divides kv_heads, else the one KV head
 * r kv_heads / op (rounded down), which op / kv_heads ranks each hold and compute alike (the KV
 * cache is then replicated, as vLLM does when there are more ranks than KV heads); its columns of
 * Wk and Wv; the columns [r ffn/op, (r+1) ffn/op) of Wgate and Wup and those rows of Wdown; and a
 * KV pool of its KV heads only (kern_dec_rank_kv_heads). The products by Wo and Wdown are partial
 * sums that the caller's all-reduce (struct kern_allreduce) adds over the ranks; every rank keeps
 * its own full copy of x. The vocabulary is split the same way, in slices
 * [r vocab/op, (r+1) vocab/op) (any vocab: slices differ by at most one token): a rank holds its
 * slice's rows of the token embedding and columns of the LM head, and the all-reduce completes the
 * embedded rows and the logits (sums with zeros, so exact), as in the memory model
 * (prof_arch_embedding_weight_bytes). With op = 1 the all-reduce may be NULL; with op > 1 it is
 * required.
 *
 * Weights are random and deterministic: every element is kern_weight(kern_dec_weight_seed(seed,
 * layer, tensor), global row, global column, full columns, ...) of the full, unsplit matrix, so a
 * rank's shard is exactly its slice of one device's weights, whatever op.
 *
 * Costs, for T tokens in a batch (sum of t) on one rank, h = hidden, d = head_dim, f = ffn: GEMMs
 * of T x h x (heads + 2 kv_heads) d / op, T x (heads d / op) x h, T x h x 2 f / op and
 * T x (f / op) x h, all tokens of all chunks in one cblas_sgemm each (below 8 tokens, cblas_sgemv
 * per token: OpenBLAS's sgemm is slower there); attention per (entry, KV head) reads each cached
 * key and value of the entry's request once: an entry of at most 8 query rows per KV head (tokens
 * x heads / kv_heads: decodes, chunks of a few tokens) by vectorised loops over its blocks, a
 * larger one by gathering its keys and values into contiguous rows and two cblas_sgemm per query
 * head and tile of 64 query rows, the causal rows cut; two all-reduces of T x h floats per layer.
 *
 * Results are deterministic for a given batch. A row's values do not depend on the other entries
 * of its batch beyond FP32 rounding (products of different shapes round differently), so a request
 * run alone, in another batch, in other chunks or recomputed after a preemption gets the same
 * values within FP32 tolerance, and the same greedy token except at a near-tie of logits. */
#ifndef KERN_DECODER_H
#define KERN_DECODER_H

#include "kern_kv.h"
#include "kern_layer.h" /* struct kern_allreduce */

#include <stdbool.h>
#include <stdint.h>

struct kern_dec_shape {
    int64_t hidden, heads, kv_heads, ffn, vocab;
    int64_t op, rank; /* 0 <= rank < op */
};

/* MX_OK, or MX_EINPUT naming the rule broken: every size >= 1; heads divides hidden; head_dim is
 * even (rotary embeddings); kv_heads divides heads; op divides heads and ffn; op divides kv_heads
 * or kv_heads divides op; op <= vocab; 0 <= rank < op. Every function below takes shapes that pass
 * (the init functions abort on one that does not: a bug). */
int kern_dec_shape_check(const struct kern_dec_shape *s);

static inline int64_t kern_dec_head_dim(const struct kern_dec_shape *s)
{
    return s->hidden / s->heads;
}

/* The rank's query heads (heads / op), its KV heads (kv_heads / op, or 1 when op > kv_heads) and
 * the first of those (global index). The KV pool of a stage of L layers on this rank is
 * kern_kv_pool_new(L, kern_dec_rank_kv_heads(s), kern_dec_head_dim(s), n_blocks): its blocks take
 * kern_kv_block_bytes(L, kern_dec_rank_kv_heads(s), kern_dec_head_dim(s)) bytes. */
static inline int64_t kern_dec_rank_heads(const struct kern_dec_shape *s)
{
    return s->heads / s->op;
}

static inline int64_t kern_dec_rank_kv_heads(const struct kern_dec_shape *s)
{
    return s->kv_heads % s->op == 0 ? s->kv_heads / s->op : 1;
}

static inline int64_t kern_dec_rank_kv_head0(const struct kern_dec_shape *s)
{
    return s->rank * s->kv_heads / s->op;
}

/* The tensors of a decoder model (layer ones, then the model's ends). */
enum kern_dec_tensor {
    KERN_DEC_ATTN_NORM, /* [h], uniform in [0.9, 1.1) */
    KERN_DEC_WQ,        /* [h][heads d], +-1/sqrt(h) */
    KERN_DEC_WK,        /* [h][kv_heads d], +-1/sqrt(h) */
    KERN_DEC_WV,        /* [h][kv_heads d], +-1/sqrt(h) */
    KERN_DEC_WO,        /* [heads d][h], +-1/sqrt(h) */
    KERN_DEC_MLP_NORM,  /* [h], uniform in [0.9, 1.1) */
    KERN_DEC_WGATE,     /* [h][f], +-1/sqrt(h) */
    KERN_DEC_WUP,       /* [h][f], +-1/sqrt(h) */
    KERN_DEC_WDOWN,     /* [f][h], +-1/sqrt(f) */
    KERN_DEC_TENSORS_PER_LAYER,
    KERN_DEC_EMBEDDING = KERN_DEC_TENSORS_PER_LAYER, /* [vocab][h], +-1 */
    KERN_DEC_FINAL_NORM,                             /* [h], uniform in [0.9, 1.1) */
    KERN_DEC_LM_HEAD,                                /* [h][vocab], +-1/sqrt(h) */
};

/* The seed of tensor t of layer (-1 for the model's ends) under the model's seed: streams apart
 * from the encoder's (kern_weight_seed). */
uint64_t kern_dec_weight_seed(uint64_t model_seed, int64_t layer, enum kern_dec_tensor t);

/* One rank's weights of one layer (owned arrays); hq = kern_dec_rank_heads,
 * hkv = kern_dec_rank_kv_heads, fl = ffn / op. */
struct kern_dec_layer {
    float *attn_norm; /* [h] */
    float *wqkv;      /* [h][(hq + 2 hkv) d]: the rank's Q head columns, then K, then V */
    float *wo;        /* [hq d][h]: the rows of the rank's query heads */
    float *mlp_norm;  /* [h] */
    float *w_gate_up; /* [h][2 fl]: the rank's Wgate columns, then its Wup columns */
    float *w_down;    /* [fl][h] */
};

/* Weights of layer index layer (global, 0-based) of the model with model_seed, for s's rank:
 * (h (hq + 2 hkv) d + hq d h + 3 h fl + 2 h) floats. */
void kern_dec_layer_init(struct kern_dec_layer *l, const struct kern_dec_shape *s,
                         uint64_t model_seed, int64_t layer);
void kern_dec_layer_release(struct kern_dec_layer *l);

/* One rank's weights of the model's ends (owned arrays; NULL where its stage has none). */
struct kern_dec_ends {
    int64_t vocab_begin, vocab_end; /* the rank's vocabulary slice */
    float *embedding;               /* first stage: [vocab_end - vocab_begin][h], its rows */
    float *final_norm;              /* last stage: [h] */
    float *lm_head;                 /* last stage: [h][vocab_end - vocab_begin], its columns */
};

void kern_dec_ends_init(struct kern_dec_ends *e, const struct kern_dec_shape *s,
                        uint64_t model_seed, bool first, bool last);
void kern_dec_ends_release(struct kern_dec_ends *e);

/* One entry of a batch: new tokens of one request (a request appears at most once per batch).
 * Its cache holds positions [0, cached); its new tokens are at positions [cached, cached + tokens)
 * and their rows of x follow the previous entry's. table must already hold
 * kern_kv_blocks_for(cached + tokens) blocks of the pool passed with the batch (blocks of different
 * entries distinct): the forward pass writes the new keys and values there, and reads the cached
 * ones. A decode is tokens = 1; a prefill chunk any tokens >= 1. */
struct kern_dec_seq {
    const struct kern_kv_table *table;
    int64_t cached, tokens;
};

/* Working memory of one rank, grown on demand (never shrunk, capacities doubled) to the largest
 * batch seen: about T (4 h + (hq + 2 hkv) d + hq d + 3 fl) floats for T batch tokens,
 * (2 d + 128) C floats for the longest context C, C d floats of rotary tables (computed once per
 * position), and R (2 vocab + h) floats for R rows through the LM head. Growing costs an
 * allocation; a runtime sizes it once with kern_dec_scratch_reserve. Used by one thread at a time.
 */
struct kern_dec_scratch;

struct kern_dec_scratch *kern_dec_scratch_new(const struct kern_dec_shape *s);
void kern_dec_scratch_free(struct kern_dec_scratch *t);
/* Grow t for batches of up to tokens tokens, contexts of up to context positions and up to
 * lm_rows rows through the LM head. */
void kern_dec_scratch_reserve(struct kern_dec_scratch *t, int64_t tokens, int64_t context,
                              int64_t lm_rows);

/* Run one layer on the batch: x is [sum of tokens][h], updated in place; the layer's keys and
 * values are layer kv_layer of kv (the pool of s's rank). reduce: see above; every rank of a team
 * runs the same batch, so that their all-reduces pair up. */
void kern_dec_layer_forward(const struct kern_dec_shape *s, const struct kern_dec_layer *l,
                            struct kern_kv_pool *kv, int64_t kv_layer,
                            const struct kern_dec_seq *seqs, int64_t n_seqs, float *x,
                            struct kern_dec_scratch *t, const struct kern_allreduce *reduce);

/* A stage's layers in turn: layers[i] uses layer i of kv. */
void kern_dec_layers_forward(const struct kern_dec_shape *s, const struct kern_dec_layer *layers,
                             int64_t n_layers, struct kern_kv_pool *kv,
                             const struct kern_dec_seq *seqs, int64_t n_seqs, float *x,
                             struct kern_dec_scratch *t, const struct kern_allreduce *reduce);

/* First stage: x[i] = the embedding of tokens[i] (0 <= tokens[i] < vocab) for n rows
 * ([n][h]); one all-reduce of n h floats when op > 1. */
void kern_dec_embed(const struct kern_dec_shape *s, const struct kern_dec_ends *e,
                    const int64_t *tokens, int64_t n, float *x, struct kern_dec_scratch *t,
                    const struct kern_allreduce *reduce);

/* Rows of x ([.][h]) whose next token is wanted: the last row of each of the n_seqs entries, into
 * rows[0 .. n_seqs). The caller keeps those of the entries that emit a token (decodes, and chunks
 * that end a prefill). */
void kern_dec_last_rows(const struct kern_dec_seq *seqs, int64_t n_seqs, int64_t *rows);

/* Last stage: logits[i] ([n_rows][vocab], the full vocabulary on every rank) of row rows[i] of x:
 * RMSNorm(x[rows[i]]) with the final norm, times the LM head. One all-reduce of n_rows vocab floats
 * when op > 1. */
void kern_dec_logits(const struct kern_dec_shape *s, const struct kern_dec_ends *e, const float *x,
                     const int64_t *rows, int64_t n_rows, float *logits, struct kern_dec_scratch *t,
                     const struct kern_allreduce *reduce);

/* Last stage: tokens[i] = the greedy next token after row rows[i] of x: the argmax of its logits,
 * ties to the lowest id (identical on every rank). */
void kern_dec_next_tokens(const struct kern_dec_shape *s, const struct kern_dec_ends *e,
                          const float *x, const int64_t *rows, int64_t n_rows, int64_t *tokens,
                          struct kern_dec_scratch *t, const struct kern_allreduce *reduce);

#endif
