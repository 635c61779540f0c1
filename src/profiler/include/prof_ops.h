/* The operations of one transformer layer on one device: what every backend times.
 *
 * A layer of width h, MLP width f, sequence s, batch b (M = b s tokens), tensor-parallel degree op
 * (Megatron style: attention heads and MLP columns split across devices, two all-reduces per
 * layer) runs, per device:
 *   qkv          GEMM  M x (3h/op) x h
 *   attn_scores  GEMM  s x s x (h/heads), b * heads/op times (batched)
 *   softmax      rows b * heads/op * s, columns s
 *   attn_values  GEMM  s x (h/heads) x s, b * heads/op times
 *   attn_out     GEMM  M x h x (h/op)
 *   layernorm    rows M, columns h (twice per layer: counted as one op of count 2)
 *   mlp_in       GEMM  M x (f/op) x h            (moe: tokens routed top_k times, per expert)
 *   gelu         rows M, columns f/op
 *   mlp_out      GEMM  M x h x (f/op)
 *   residual     rows M, columns h (two adds: count 2)
 * FLOPs count a multiply-add as 2; bytes are the minimum traffic (read each input once, write
 * each output once) at the element size given. The all-reduces are communication, not ops here
 * (prof_comm.h). */
#ifndef PROF_OPS_H
#define PROF_OPS_H

#include "kern_layer.h"

#include <stddef.h>
#include <stdint.h>

struct prof_arch;

enum prof_op_kind {
    PROF_OP_GEMM,      /* C[m][n] = A[m][k] B[k][n], count independent times */
    PROF_OP_SOFTMAX,   /* count times a softmax over each of m rows of n columns */
    PROF_OP_LAYERNORM, /* count times a layer norm over each of m rows of n columns */
    PROF_OP_GELU,      /* count times GELU over m x n elements */
    PROF_OP_ADD,       /* count times an elementwise add of two m x n arrays */
    /* Decoders' ops (prof_decoder.h): */
    PROF_OP_RMSNORM,  /* count times an RMSNorm over each of m rows of n columns */
    PROF_OP_ROPE,     /* count times rotary embeddings on m tokens of n heads of k columns */
    PROF_OP_SILU_MUL, /* count times SiLU(gate) * up over m x n elements (gate, up: m x 2n) */
    PROF_OP_EMBED,    /* count times a lookup of m rows of n columns in a table of k rows */
    /* Attention over a KV cache of count sequences (heads, kv_heads, head_dim and context
     * below): a prefill of m new tokens per sequence after context cached ones, causally masked;
     * a decode of one new token per sequence over context cached ones. */
    PROF_OP_ATTN_PREFILL,
    PROF_OP_ATTN_DECODE,
};

#define PROF_OPS_PER_LAYER 10

struct prof_op {
    enum prof_op_kind kind;
    const char *name; /* static: "qkv", "softmax", ... */
    int64_t m, n, k;  /* k: GEMMs only (0 otherwise) */
    int64_t count;    /* independent repetitions (batched GEMMs, two layer norms, ...) */
    int attention;    /* 1 for the attention GEMMs (inner size h/heads or s), else 0 */
    /* Attention ops only: query heads, KV heads (each of head_dim columns) and the context
     * tokens already cached per sequence. */
    int64_t heads, kv_heads, head_dim, context;
    double flops;     /* total over count */
    double bytes;     /* total minimum memory traffic over count */
};

/* The ops of one layer of a at batch size and tensor-parallel degree op, elements of elem_bytes
 * bytes (2 for fp16 on GPUs, 4 for FP32 on CPUs). Fills ops[PROF_OPS_PER_LAYER]; returns the
 * count. op must divide heads and ffn. */
size_t prof_layer_ops(const struct prof_arch *a, int64_t batch, int op, int64_t elem_bytes,
                      struct prof_op *ops);

/* The shape of one layer of a as the CPU runs it (kern_layer.h), for shard rank of op
 * tensor-parallel devices: what the cpu profiler times and the CPU runtime runs. */
struct kern_layer_shape prof_layer_shape(const struct prof_arch *a, int op, int rank);

/* Total FLOPs of n ops. */
double prof_ops_flops(const struct prof_op *ops, size_t n);

#endif
