/* Model architectures (the zoo): the shapes the cost model and the runtime build layers from.
 *
 * JSON form ("muxplan-arch/1"), one file per model in data/models/:
 *   {"format": "muxplan-arch/1", "name": "bert-1.3b", "kind": "encoder", "seq": 1024,
 *    "hidden": 2048, "layers": 24, "heads": 32, "vocab": 51200}
 * kind:
 *   "encoder"  BERT-style, bidirectional attention, one forward pass of "seq" tokens per request;
 *   "causal"   GPT-style, causal attention, served like an encoder (one pass of "seq" tokens);
 *   "moe"      an encoder whose every MLP is a mixture of "experts" experts, each token routed to
 *              "top_k" of them (default 2), "expert_group_size" tokens per routing group;
 *   "decoder"  an autoregressive LLM (Llama-style, docs/decoders.md): a prefill, then one decode
 *              iteration per output token. It has no "seq"; it needs "kv_heads" (grouped-query
 *              attention: heads / kv_heads query heads share a key-value head; kv_heads divides
 *              heads), "ffn" (the gated MLP's intermediate size: gate, up and down projections,
 *              SiLU) and "context_tokens" (the longest prompt plus output); "experts" and "top_k"
 *              (default 2) make its MLPs mixtures of experts. RMSNorm, rotary embeddings, no
 *              biases, untied input embedding and LM head.
 * Optional: "ffn" (MLP width, default 4 * hidden, except decoders), "dtype_bytes" (default 2:
 * fp16). */
#ifndef PROF_ARCH_H
#define PROF_ARCH_H

#include <stdint.h>

enum prof_arch_kind { PROF_ARCH_ENCODER, PROF_ARCH_CAUSAL, PROF_ARCH_MOE, PROF_ARCH_DECODER };

struct prof_arch {
    char *name;
    char *path; /* the file it was read from (messages name it) */
    enum prof_arch_kind kind;
    int64_t seq;    /* tokens per request; 0 for decoders */
    int64_t hidden; /* model width */
    int64_t layers;
    int64_t heads;    /* divides hidden */
    int64_t kv_heads; /* key-value heads: divides heads (heads for all but decoders) */
    int64_t ffn;      /* MLP width (a decoder's: the gated intermediate size, per expert) */
    int64_t vocab;
    int64_t context_tokens;    /* decoders: the longest prompt plus output; 0 otherwise */
    int64_t experts, top_k;    /* moe, and decoders with expert MLPs; 0 otherwise */
    int64_t expert_group_size; /* moe only; 0 otherwise */
    int64_t dtype_bytes;       /* bytes per weight and activation element */
};

/* Read one architecture; every problem is MX_EINPUT naming the file and the member ("bert.json:
 * heads: 30 does not divide hidden 2048"). Free with prof_arch_free(). */
int prof_arch_read(const char *path, struct prof_arch **out);
void prof_arch_free(struct prof_arch *a);

/* Read the architecture called name from folder zoo_dir (zoo_dir/NAME.json). */
int prof_arch_find(const char *zoo_dir, const char *name, struct prof_arch **out);

/* Weight bytes of one transformer layer on one of op devices (tensor parallel), and of the
 * embedding (tokens and positions, on the first stage; a decoder's token embedding only). */
int64_t prof_arch_layer_weight_bytes(const struct prof_arch *a, int op);
int64_t prof_arch_embedding_weight_bytes(const struct prof_arch *a, int op);

/* A decoder's last stage: the final RMSNorm and the LM head (split op ways by vocabulary). */
int64_t prof_arch_lm_head_weight_bytes(const struct prof_arch *a, int op);

/* The key-value heads each of op devices holds: kv_heads / op, or 1 when kv_heads < op (each KV
 * head is then replicated on op / kv_heads devices, which all store its cache). */
int64_t prof_arch_kv_heads_per_device(const struct prof_arch *a, int op);

/* Whether op tensor-parallel devices can split a: NULL when they can, else why not ("does not
 * divide heads"), with the number in *of. A decoder also needs kv_heads divisible by op, or op by
 * kv_heads (replicated KV heads). */
const char *prof_arch_op_unfit(const struct prof_arch *a, int op, long long *of);

#endif
