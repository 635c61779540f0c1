/* The decoder cost model of prof_decoder.h: the ops of a layer and of a stage's ends, the
 * roofline's formulas (written as tools/calibrate_llm.py writes them, operation for operation, so
 * that the fitted parameters mean the same here), the attention coefficients, the byte counts per
 * token, and the token grid. */
#include "prof_decoder.h"

#include "prof_arch.h"
#include "prof_comm.h"

#include <math.h>

/* A GEMM of one or count instances; bytes are the minimum traffic. */
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

/* A memory-bound op moving bytes (per instance; the calibration's byte counts for fp16, scaled to
 * the element size). */
static struct prof_op small(enum prof_op_kind kind, const char *name, int64_t m, int64_t n,
                            int64_t k, int64_t count, double bytes, double flops)
{
    return (struct prof_op){.kind = kind,
                            .name = name,
                            .m = m,
                            .n = n,
                            .k = k,
                            .count = count,
                            .flops = flops * (double)count,
                            .bytes = bytes * (double)count};
}

size_t prof_decoder_layer_ops(const struct prof_arch *a, int64_t tokens, int op,
                              struct prof_op *ops)
{
    int64_t h = a->hidden, hd = a->hidden / a->heads, e = a->dtype_bytes;
    int64_t heads = a->heads / op, kv = prof_arch_kv_heads_per_device(a, op), f = a->ffn / op;
    double T = (double)tokens, half = (double)e / 2; /* byte counts below are for 2-byte elements */
    size_t n = 0;
    ops[n++] = small(PROF_OP_RMSNORM, "input_layernorm", tokens, h, 0, 1,
                     (4.0 * T * (double)h + 2.0 * (double)h) * half, 4.0 * T * (double)h);
    ops[n++] = gemm("attn_pre_proj", tokens, (heads + 2 * kv) * hd, h, 1, e);
    ops[n++] = small(PROF_OP_ROPE, "attn_rope", tokens, heads + kv, hd, 1,
                     (4.0 * T * (double)((heads + kv) * hd) + 2.0 * T * (double)hd) * half,
                     6.0 * T * (double)((heads + kv) * hd));
    ops[n++] = gemm("attn_post_proj", tokens, h, heads * hd, 1, e);
    ops[n++] = small(PROF_OP_RMSNORM, "post_attention_layernorm", tokens, h, 0, 1,
                     (4.0 * T * (double)h + 2.0 * (double)h) * half, 4.0 * T * (double)h);
    if (a->experts > 0) {
        /* A balanced router: every token to top_k experts, each active expert getting its
         * share, at least one token. */
        int64_t routed = tokens * a->top_k;
        int64_t active = routed < a->experts ? routed : a->experts;
        int64_t per_expert = (routed + a->experts - 1) / a->experts;
        ops[n++] = gemm("mlp_router", tokens, a->experts, h, 1, e);
        ops[n++] = gemm("mlp_up_proj", per_expert, 2 * f, h, active, e);
        ops[n++] = small(PROF_OP_SILU_MUL, "mlp_act", routed, f, 0, 1,
                         6.0 * (double)routed * (double)f * half, 5.0 * (double)routed * (double)f);
        ops[n++] = gemm("mlp_down_proj", per_expert, h, f, active, e);
    } else {
        ops[n++] = gemm("mlp_up_proj", tokens, 2 * f, h, 1, e);
        ops[n++] = small(PROF_OP_SILU_MUL, "mlp_act", tokens, f, 0, 1, 6.0 * T * (double)f * half,
                         5.0 * T * (double)f);
        ops[n++] = gemm("mlp_down_proj", tokens, h, f, 1, e);
    }
    /* Two residual adds per layer (after attention and after the MLP). */
    ops[n++] =
        small(PROF_OP_ADD, "add", tokens, h, 0, 2, 6.0 * T * (double)h * half, T * (double)h);
    return n;
}

size_t prof_decoder_end_ops(const struct prof_arch *a, int64_t tokens, int op, bool first,
                            bool last, struct prof_op *ops)
{
    int64_t h = a->hidden, e = a->dtype_bytes, vocab = (a->vocab + op - 1) / op;
    double T = (double)tokens, half = (double)e / 2;
    size_t n = 0;
    if (first) /* gather rows, write them, read 8-byte token ids */
        ops[n++] = small(PROF_OP_EMBED, "emb", tokens, h, vocab, 1,
                         (4.0 * T * (double)h) * half + 8.0 * T, 0);
    if (last) {
        int64_t emitting = tokens < PROF_DECODER_LM_TOKENS ? tokens : PROF_DECODER_LM_TOKENS;
        ops[n++] = small(PROF_OP_RMSNORM, "final_layernorm", tokens, h, 0, 1,
                         (4.0 * T * (double)h + 2.0 * (double)h) * half, 4.0 * T * (double)h);
        ops[n++] = gemm("lm_head", emitting, vocab, h, 1, e);
    }
    return n;
}

double prof_decoder_gemm_s(const struct prof_hw *hw, double m, double n, double k)
{
    const struct prof_decoder_eff *p = &hw->dec;
    /* tools/calibrate_llm.py's gemm_time_c(), in its order of operations. */
    double nbytes = 2.0 * (m * k + k * n + m * n);
    double t_mem = nbytes / (hw->mem_bandwidth_bytes_per_s * p->gemm_mem_efficiency);
    double tile = p->gemm_tile_m;
    double m_pad = m <= tile ? m : ceil(m / tile) * tile;
    double e = p->gemm_compute_efficiency /
               (1.0 + pow(p->gemm_half_outputs / (m_pad * n), p->gemm_occupancy_exp));
    e = e * (k / (k + p->gemm_k_half));
    double t_cmp = 2.0 * m_pad * n * k / (hw->peak_flops * e);
    double hi = fmax(t_mem, t_cmp), lo = fmin(t_mem, t_cmp);
    return p->gemm_fixed_s + hi * pow(1.0 + pow(lo / hi, p->gemm_blend_p), 1.0 / p->gemm_blend_p);
}

double prof_decoder_small_s(const struct prof_hw *hw, enum prof_small_kind kind, double bytes)
{
    const struct prof_small_eff *q = &hw->dec.small[kind];
    double e =
        q->dram_efficiency + (q->l2_efficiency - q->dram_efficiency) / (1.0 + bytes / hw->l2_bytes);
    return q->fixed_s + bytes / (hw->mem_bandwidth_bytes_per_s * e);
}

enum prof_small_kind prof_decoder_small_kind(enum prof_op_kind kind)
{
    switch (kind) {
    case PROF_OP_RMSNORM:
    case PROF_OP_LAYERNORM:
        return PROF_SMALL_NORM;
    case PROF_OP_ROPE:
        return PROF_SMALL_ROPE;
    case PROF_OP_SILU_MUL:
    case PROF_OP_GELU:
        return PROF_SMALL_ACT;
    case PROF_OP_ADD:
        return PROF_SMALL_ADD;
    case PROF_OP_EMBED:
        return PROF_SMALL_EMB;
    default:
        return PROF_SMALL_KINDS;
    }
}

double prof_decoder_op_s(const struct prof_hw *hw, const struct prof_op *op)
{
    double count = (double)op->count;
    if (op->kind == PROF_OP_GEMM)
        return count * prof_decoder_gemm_s(hw, (double)op->m, (double)op->n, (double)op->k);
    enum prof_small_kind kind = prof_decoder_small_kind(op->kind);
    if (kind == PROF_SMALL_KINDS) /* attention: its coefficients, not an op of the dense cost */
        return 0;
    return count * prof_decoder_small_s(hw, kind, op->bytes / count);
}

/* The fitted bus bandwidth grows with the size as 1 / (1 + (half / B)^exp); with exp > 1 the
 * time would then grow again as B shrinks below half (exp - 1)^(1 / exp), its minimum: smaller
 * buffers cost what that size costs. */
static double allreduce_floor_bytes(const struct prof_decoder_eff *c)
{
    double e = c->allreduce_exp;
    return e > 1.0 ? c->allreduce_half_bytes * pow(e - 1.0, 1.0 / e) : 0.0;
}

double prof_decoder_allreduce_s(const struct prof_hw *hw, double bytes, int n)
{
    if (n <= 1 || bytes <= 0)
        return 0;
    if (!hw->dec.present)
        return prof_comm_allreduce_s(hw, bytes, n);
    const struct prof_decoder_eff *c = &hw->dec;
    /* tools/calibrate_llm.py's allreduce_time_c(). */
    bytes = fmax(bytes, allreduce_floor_bytes(c));
    double bw = c->allreduce_bus_bytes_per_s /
                (1.0 + pow(c->allreduce_half_bytes / bytes, c->allreduce_exp));
    return c->allreduce_latency_s + 2.0 * ((double)n - 1.0) / (double)n * bytes / bw;
}

double prof_decoder_gather_s(const struct prof_hw *hw, double bytes, int n)
{
    if (n <= 1 || bytes <= 0)
        return 0;
    if (!hw->dec.present)
        return prof_comm_allreduce_s(hw, bytes, n) / 2;
    /* A ring gather moves (n - 1) / n of the bytes through each link: half an all-reduce's
     * traffic, at the same bus bandwidth curve and latency. */
    const struct prof_decoder_eff *c = &hw->dec;
    bytes = fmax(bytes, allreduce_floor_bytes(c));
    double bw = c->allreduce_bus_bytes_per_s /
                (1.0 + pow(c->allreduce_half_bytes / bytes, c->allreduce_exp));
    return c->allreduce_latency_s + ((double)n - 1.0) / (double)n * bytes / bw;
}

double prof_decoder_hop_s(const struct prof_hw *hw, double bytes, bool inter_node)
{
    if (!hw->dec.present)
        return prof_comm_hop_s(hw, bytes, inter_node);
    const struct prof_decoder_eff *c = &hw->dec;
    return inter_node ? c->p2p_inter_latency_s + bytes / c->p2p_inter_bytes_per_s
                      : c->p2p_intra_latency_s + bytes / c->p2p_intra_bytes_per_s;
}

struct prof_attention_cost prof_decoder_attention_roofline(const struct prof_hw *hw,
                                                           const struct prof_arch *a, int op)
{
    const struct prof_decoder_eff *p = &hw->dec;
    double hd = (double)(a->hidden / a->heads), heads = (double)(a->heads / op);
    double kv = (double)prof_arch_kv_heads_per_device(a, op);
    double chunk = PROF_DECODER_PREFILL_CHUNK;
    double e_pf = p->attn_prefill_efficiency * chunk / (chunk + p->attn_prefill_half_len);
    /* Q K^T and P V: 2 hd FLOPs each per query-key pair and query head. */
    double pair_s = 4.0 * hd * heads / (hw->peak_flops * e_pf);
    /* K and V of the device's KV heads, each hd elements, per context token. */
    double token_s = 2.0 * kv * hd * (double)a->dtype_bytes /
                     (hw->mem_bandwidth_bytes_per_s * p->attn_decode_mem_efficiency);
    return (struct prof_attention_cost){
        .prefill_pair_s = pair_s, .decode_token_s = token_s, .fixed_s = p->attn_fixed_s};
}

int64_t prof_decoder_kv_bytes_per_token(const struct prof_arch *a, int op)
{
    int64_t hd = a->hidden / a->heads;
    return 2 * prof_arch_kv_heads_per_device(a, op) * hd * a->dtype_bytes;
}

int64_t prof_decoder_act_bytes_per_token(const struct prof_arch *a, int op)
{
    int64_t h = a->hidden, hd = a->hidden / a->heads;
    int64_t heads = a->heads / op, kv = prof_arch_kv_heads_per_device(a, op);
    /* The residual stream and its normed copy, then the larger of the attention's QKV and
     * output and the MLP's gate, up and activation (top_k of them per token with experts). */
    int64_t attention = (heads + 2 * kv) * hd + heads * hd;
    int64_t mlp = 3 * (a->ffn / op) * (a->experts > 0 ? a->top_k : 1);
    return (2 * h + (attention > mlp ? attention : mlp)) * a->dtype_bytes;
}

uint32_t prof_decoder_default_tokens(int64_t max_tokens, int32_t *tokens)
{
    static const int32_t small_tokens[] = {1,  2,  3,  4,  6,  8,  12,  16,
                                           24, 32, 48, 64, 80, 96, 112, 128};
    uint32_t n = 0;
    if (max_tokens < 16384)
        max_tokens = 16384;
    for (size_t i = 0; i < sizeof(small_tokens) / sizeof(small_tokens[0]); i++)
        tokens[n++] = small_tokens[i];
    /* Both sides of each step of the GEMMs' tile padding (64 or 128 rows), where a step is large
     * relative to the whole; then coarser, where it is not. */
    int64_t t = 128;
    while (n + 2 < PROF_DECODER_MAX_TOKENS && t < max_tokens) {
        int64_t step = t < 1024 ? 64 : t < 4096 ? 128 : t < 16384 ? 512 : t / 8 / 1024 * 1024;
        if (t + 1 < max_tokens)
            tokens[n++] = (int32_t)(t + 1);
        t = t + step < max_tokens ? t + step : max_tokens;
        tokens[n++] = (int32_t)t;
    }
    return n;
}

uint32_t prof_decoder_sparse_tokens(int64_t max_tokens, int32_t *tokens)
{
    uint32_t n = 0;
    /* Doublings to 16, then 1.5 and 2 times each power of two. */
    for (int64_t t = 1; t < max_tokens && n + 1 < PROF_DECODER_MAX_TOKENS;) {
        tokens[n++] = (int32_t)t;
        int64_t power = t, half = 0;
        while (power & (power - 1))
            power &= power - 1; /* the power of two at or below t */
        half = power / 2;
        t = t < 16 ? 2 * t : t == power ? t + half : 2 * power;
    }
    tokens[n++] = (int32_t)max_tokens;
    return n;
}
