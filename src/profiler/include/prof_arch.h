/* Model architectures (the zoo): the shapes the cost model and the runtime build layers from.
 *
 * JSON form ("muxplan-arch/1"), one file per model in data/models/:
 *   {"format": "muxplan-arch/1", "name": "bert-1.3b", "kind": "encoder", "seq": 1024,
 *    "hidden": 2048, "layers": 24, "heads": 32, "vocab": 51200}
 * kind: "encoder" (BERT-style, bidirectional attention), "decoder" (GPT-style, causal attention,
 * served as an encoder of a fixed length) or "moe" (every layer's MLP is a mixture of "experts"
 * experts, each token routed to "top_k" of them, default 2; "expert_group_size" tokens per routing
 * group). Optional: "ffn" (MLP width, default 4 * hidden), "dtype_bytes" (default 2: fp16). */
#ifndef PROF_ARCH_H
#define PROF_ARCH_H

#include <stdint.h>

enum prof_arch_kind { PROF_ARCH_ENCODER, PROF_ARCH_DECODER, PROF_ARCH_MOE };

struct prof_arch {
    char *name;
    enum prof_arch_kind kind;
    int64_t seq;    /* tokens per request */
    int64_t hidden; /* model width */
    int64_t layers;
    int64_t heads; /* divides hidden */
    int64_t ffn;   /* MLP width */
    int64_t vocab;
    int64_t experts, top_k, expert_group_size; /* moe only; 0 otherwise */
    int64_t dtype_bytes;                       /* bytes per weight and activation element */
};

/* Read one architecture; every problem is MX_EINPUT naming the file and the member ("bert.json:
 * heads: 30 does not divide hidden 2048"). Free with prof_arch_free(). */
int prof_arch_read(const char *path, struct prof_arch **out);
void prof_arch_free(struct prof_arch *a);

/* Read the architecture called name from folder zoo_dir (zoo_dir/NAME.json). */
int prof_arch_find(const char *zoo_dir, const char *name, struct prof_arch **out);

/* Weight bytes of one transformer layer on one of op devices (tensor parallel), and of the
 * embedding (tokens and positions, on the first stage). */
int64_t prof_arch_layer_weight_bytes(const struct prof_arch *a, int op);
int64_t prof_arch_embedding_weight_bytes(const struct prof_arch *a, int op);

#endif
