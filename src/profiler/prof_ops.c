/* The ops of one transformer layer (prof_ops.h): shapes, FLOPs and minimum traffic. */
#include "prof_ops.h"

#include "prof_arch.h"

static struct prof_op gemm(const char *name, int64_t m, int64_t n, int64_t k, int64_t count,
                           int64_t elem_bytes)
{
    return (struct prof_op){
        .kind = PROF_OP_GEMM,
        .name = name,
        .m = m,
        .n = n,
        .k = k,
        .count = count,
        .flops = 2.0 * (double)m * (double)n * (double)k * (double)count,
        .bytes = (double)(m * k + k * n + m * n) * (double)elem_bytes * (double)count,
    };
}

/* An elementwise or row-wise op reading `inputs` arrays of m x n and writing one. */
static struct prof_op rowwise(enum prof_op_kind kind, const char *name, int64_t m, int64_t n,
                              int64_t count, int inputs, double flops_per_element,
                              int64_t elem_bytes)
{
    double elements = (double)m * (double)n * (double)count;
    return (struct prof_op){
        .kind = kind,
        .name = name,
        .m = m,
        .n = n,
        .count = count,
        .flops = flops_per_element * elements,
        .bytes = (inputs + 1) * elements * (double)elem_bytes,
    };
}

size_t prof_layer_ops(const struct prof_arch *a, int64_t batch, int op, int64_t elem_bytes,
                      struct prof_op *ops)
{
    int64_t s = a->seq, h = a->hidden, tokens = batch * s;
    int64_t head_dim = h / a->heads, heads = a->heads / op, f = a->ffn / op;
    size_t n = 0;
    ops[n++] = gemm("qkv", tokens, 3 * h / op, h, 1, elem_bytes);
    ops[n++] = gemm("attn_scores", s, s, head_dim, batch * heads, elem_bytes);
    ops[n - 1].attention = 1;
    /* Decoders mask inside the softmax: the same work as an encoder's. */
    ops[n++] = rowwise(PROF_OP_SOFTMAX, "softmax", batch * heads * s, s, 1, 1, 5, elem_bytes);
    ops[n++] = gemm("attn_values", s, head_dim, s, batch * heads, elem_bytes);
    ops[n - 1].attention = 1;
    ops[n++] = gemm("attn_out", tokens, h, h / op, 1, elem_bytes);
    ops[n++] = rowwise(PROF_OP_LAYERNORM, "layernorm", tokens, h, 2, 1, 8, elem_bytes);
    if (a->kind == PROF_ARCH_MOE) {
        /* Each token goes to top_k experts; a balanced router gives each expert its share. The
         * router's own GEMM (tokens x experts x h) is small and left out. */
        int64_t per_expert = (tokens * a->top_k + a->experts - 1) / a->experts;
        ops[n++] = gemm("mlp_in", per_expert, f, h, a->experts, elem_bytes);
        ops[n++] = rowwise(PROF_OP_GELU, "gelu", per_expert * a->experts, f, 1, 1, 8, elem_bytes);
        ops[n++] = gemm("mlp_out", per_expert, h, f, a->experts, elem_bytes);
    } else {
        ops[n++] = gemm("mlp_in", tokens, f, h, 1, elem_bytes);
        ops[n++] = rowwise(PROF_OP_GELU, "gelu", tokens, f, 1, 1, 8, elem_bytes);
        ops[n++] = gemm("mlp_out", tokens, h, f, 1, elem_bytes);
    }
    ops[n++] = rowwise(PROF_OP_ADD, "residual", tokens, h, 2, 2, 1, elem_bytes);
    return n;
}

double prof_ops_flops(const struct prof_op *ops, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += ops[i].flops;
    return total;
}

struct kern_layer_shape prof_layer_shape(const struct prof_arch *a, int op, int rank)
{
    return (struct kern_layer_shape){.seq = a->seq,
                                     .hidden = a->hidden,
                                     .heads = a->heads,
                                     .ffn = a->ffn,
                                     .causal = a->kind == PROF_ARCH_CAUSAL,
                                     .op = op,
                                     .rank = rank};
}
