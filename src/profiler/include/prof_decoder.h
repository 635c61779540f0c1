/* The cost of autoregressive decoders (docs/profiler.md, "Decoders"; docs/decoders.md, "Cost of an
 * iteration"): the ops of one layer and of a stage's ends at T tokens of an iteration, the
 * formulas of the roofline cost model, and the profile builder that turns them into a DB's
 * decoder configs.
 *
 * One decoder layer on one of op tensor-parallel devices, T tokens (Megatron-style: heads and MLP
 * columns split op ways, two all-reduces of T x hidden per layer), named as Vidur measures them:
 *   input_layernorm           RMSNorm, T x h
 *   attn_pre_proj             GEMM T x (q + 2 kv) x h   (q = heads/op x hd, kv = KV heads of the
 *                             device x hd: kv_heads/op, at least 1, replicated below op)
 *   attn_rope                 rotary embedding of the device's q and k heads
 *   (attention)               the prefill and decode coefficients, not part of the dense cost
 *   attn_post_proj            GEMM T x h x q
 *   add                       residual add, T x h (twice per layer)
 *   post_attention_layernorm  RMSNorm, T x h
 *   mlp_up_proj               GEMM T x 2f/op x h (gate and up fused)
 *   mlp_act                   SiLU(gate) * up, T x f/op
 *   mlp_down_proj             GEMM T x h x f/op
 * With experts (Mixtral): a router GEMM T x experts x h (replicated), and each active expert's
 * up and down GEMMs at the tokens it gets: ceil(T top_k / experts) each, at least 1, over
 * min(experts, T top_k) active experts (a balanced router). A stage's ends: the first stage's
 * embedding lookup (vocabulary split op ways, then an all-reduce of T x h); the last stage's
 * final RMSNorm over T tokens and LM head GEMM over min(T, PROF_DECODER_LM_TOKENS) tokens (the
 * tokens that emit one: at most one per sequence), with a gather of the logits over op devices;
 * every stage but the last sends T x h to the next. */
#ifndef PROF_DECODER_H
#define PROF_DECODER_H

#include "prof_backend.h"
#include "prof_hw.h"
#include "prof_ops.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prof_arch;
struct prof_backend;
struct spec_profile;

/* The most ops of one decoder layer, and of a stage's ends. */
#define PROF_DECODER_LAYER_OPS 11
#define PROF_DECODER_END_OPS 3

/* The LM head runs over at most this many tokens of an iteration: one per sequence that emits a
 * token, and a group schedules at most 256 sequences by default (docs/decoders.md, max_seqs). */
#define PROF_DECODER_LM_TOKENS 256

/* The prefill attention coefficient is taken at chunks of this many new tokens (the reference
 * prompt: docs/profiler.md). */
#define PROF_DECODER_PREFILL_CHUNK 1024

/* The ops of one layer of decoder a at tokens T on one of op devices, into
 * ops[PROF_DECODER_LAYER_OPS] (the add has count 2); returns the count. Element size: a's. */
size_t prof_decoder_layer_ops(const struct prof_arch *a, int64_t tokens, int op,
                              struct prof_op *ops);

/* The ops a stage adds at its ends: the embedding (first), the final norm and the LM head (last),
 * into ops[PROF_DECODER_END_OPS]; returns the count (0 for an inner stage). */
size_t prof_decoder_end_ops(const struct prof_arch *a, int64_t tokens, int op, bool first,
                            bool last, struct prof_op *ops);

/* The roofline cost model (hw->dec must be present: prof_hw_check_decoder). Seconds. */
double prof_decoder_gemm_s(const struct prof_hw *hw, double m, double n, double k);
double prof_decoder_small_s(const struct prof_hw *hw, enum prof_small_kind kind, double bytes);
/* One op of prof_decoder_layer_ops() or prof_decoder_end_ops(), all its count instances. */
double prof_decoder_op_s(const struct prof_hw *hw, const struct prof_op *op);
/* The small-op class of a decoder op kind (RMSNorm: norm, ...); PROF_SMALL_KINDS for a GEMM. */
enum prof_small_kind prof_decoder_small_kind(enum prof_op_kind kind);

/* Communication: an all-reduce of bytes over n devices of a node, a gather of bytes in all (each
 * device contributing bytes / n), and a pipeline hop. With hw->dec present, its fitted formulas
 * (prof_hw.h); else the plain ones of prof_comm.h (a measuring backend without them). */
double prof_decoder_allreduce_s(const struct prof_hw *hw, double bytes, int n);
double prof_decoder_gather_s(const struct prof_hw *hw, double bytes, int n);
double prof_decoder_hop_s(const struct prof_hw *hw, double bytes, bool inter_node);

/* The attention of one layer on one device: seconds per query-key pair of prefill attention, per
 * context token a decode reads, and a fixed cost per iteration. */
struct prof_attention_cost {
    double prefill_pair_s, decode_token_s, fixed_s;
};

/* A decoder timed as a measuring backend's runtime runs it (prof_backend.h, time_decoder_pass), on
 * one of op devices without its all-reduces, for an iteration of T tokens: one layer over one
 * prefill chunk of T tokens from an empty cache (its attention included), the first stage's
 * embedding of T tokens, and the last stage's final norm, LM head and greedy choice over
 * min(T, PROF_DECODER_LM_TOKENS) rows. */
struct prof_decoder_pass {
    struct prof_timing layer, first, last;
};

/* The roofline's attention cost of one layer of a on one of op devices: 4 head_dim FLOPs per pair
 * and query head at the prefill efficiency of chunks of PROF_DECODER_PREFILL_CHUNK tokens; the
 * device's K and V of each context token read at the decode efficiency. */
struct prof_attention_cost prof_decoder_attention_roofline(const struct prof_hw *hw,
                                                           const struct prof_arch *a, int op);

/* Bytes per token of one layer on one of op devices: its KV cache, and its live activations
 * during an iteration (the residual stream and the larger of the attention's and the MLP's
 * intermediates). */
int64_t prof_decoder_kv_bytes_per_token(const struct prof_arch *a, int op);
int64_t prof_decoder_act_bytes_per_token(const struct prof_arch *a, int op);

/* A sparser token grid for measuring backends on a CPU, where timing a point costs a real forward
 * pass: 1, 2, 4, 8, 16, then 24, 32, 48, 64, 96, ... (two points per doubling) to max_tokens
 * (which is always the last). Writes at most PROF_DECODER_MAX_TOKENS values; returns the count. */
uint32_t prof_decoder_sparse_tokens(int64_t max_tokens, int32_t *tokens);

/* The token grid of decoder configs: 1, 2, 4, ... dense at small T and on both sides of the
 * GEMM tile steps, to max_tokens (at least 16384). Writes at most PROF_DECODER_MAX_TOKENS values
 * into tokens and returns the count. */
#define PROF_DECODER_MAX_TOKENS 512
uint32_t prof_decoder_default_tokens(int64_t max_tokens, int32_t *tokens);

/* What a decoder's configs cover: tensor-parallel degrees (op 1, 2, 4, 8 by default), pipeline
 * degrees (1, 2, 4, 8), tokens of the dense table (ascending from 1, reaching max_batch_tokens). */
struct prof_decoder_grid {
    uint32_t n_ops, n_pps, n_tokens;
    int ops_given; /* 1: the user listed ops: one that does not fit is an error */
    const int32_t *ops, *pps, *tokens;
    int64_t max_batch_tokens;
};

/* Profile decoder a on backend be (its time_decoder_ops and decoder_attention) with hardware hw
 * and add the model and every config of grid to db: per stage the dense table, the attention
 * coefficients, the per-iteration cost, weights, KV and activation bytes per token; and the
 * model's reference figures (docs/profiler.md). Measured numbers are appended to raw. Errors: the
 * backend's, MX_EUSAGE for a backend that cannot profile decoders, MX_EINPUT when no config fits
 * or the grid does not cover max_batch_tokens. */
int prof_build_decoder(struct spec_profile *db, const struct prof_arch *a, const struct prof_hw *hw,
                       struct prof_backend *be, const struct prof_decoder_grid *grid, json_t *raw);

#endif
