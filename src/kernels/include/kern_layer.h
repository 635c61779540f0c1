/* One transformer layer on the CPU in FP32: its weights (random, kern_weights.h) and its forward
 * pass, shared by the CPU runtime (which runs stages of them) and the cpu profiler backend (which
 * times one, so that profiles measure what the runtime runs).
 *
 * The layer is pre-layer-norm: h1 = LN1(x); qkv = h1 Wqkv; for each sequence and head
 * P = softmax(Q K^T / sqrt(d)) (causal for decoders), ctx = P V; x2 = x + ctx Wo;
 * x = x2 + GELU(LN2(x2) W1) W2. With op ranks (Megatron style) a rank holds its heads' columns of
 * Wqkv, its columns of W1 and the matching rows of Wo and W2; the two row-split products are summed
 * over the ranks by the caller's all-reduce, and every rank keeps its own full copy of x. The ops
 * are those of prof_ops.h. */
#ifndef KERN_LAYER_H
#define KERN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kern_layer_shape {
    int64_t seq, hidden, heads, ffn;
    bool causal;
    int64_t op, rank; /* op divides heads and ffn; 0 <= rank < op */
};

/* One rank's weights of one layer (owned arrays). */
struct kern_layer {
    float *ln1_gamma, *ln1_beta; /* [h] */
    float *qkv;                  /* [h][3 h/op]: the rank's Q, K and V columns, in that order */
    float *attn_out;             /* [h/op][h] */
    float *ln2_gamma, *ln2_beta; /* [h] */
    float *mlp_in;               /* [h][f/op] */
    float *mlp_out;              /* [f/op][h] */
};

/* Working memory of a layer for up to batch sequences (owned arrays). */
struct kern_layer_scratch {
    int64_t batch;
    float *h1, *qkv, *scores, *probs, *ctx, *partial, *x2, *u, *g, *reduce;
};

/* The all-reduce of a tensor-parallel layer: on return buf (n floats) holds the sum over the
 * ranks; scratch has n floats. A NULL all-reduce means one rank. */
struct kern_allreduce {
    void (*sum)(void *ctx, float *buf, float *scratch, size_t n);
    void *ctx;
};

/* Weights of layer index `layer` of the model with model_seed, for shape's rank. */
void kern_layer_init(struct kern_layer *l, const struct kern_layer_shape *s, uint64_t model_seed,
                     int64_t layer);
void kern_layer_release(struct kern_layer *l);

void kern_layer_scratch_init(struct kern_layer_scratch *t, const struct kern_layer_shape *s,
                             int64_t batch);
void kern_layer_scratch_release(struct kern_layer_scratch *t);

/* Run the layer on x ([batch * seq][hidden], updated in place), batch <= t->batch. */
void kern_layer_forward(const struct kern_layer_shape *s, const struct kern_layer *l,
                        struct kern_layer_scratch *t, float *x, int64_t batch,
                        const struct kern_allreduce *reduce);

#endif
