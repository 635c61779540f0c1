/* Reading model architectures, and their weight sizes. */
#include "prof_arch.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sizes beyond these are taken for typing errors (a 10M-wide model, 100k layers). */
#define MAX_DIM INT64_C(1000000)
#define MAX_LAYERS INT64_C(100000)
/* The profile DB's limit on a decoder's context (SPEC_MAX_CONTEXT_TOKENS). */
#define MAX_CONTEXT (INT64_C(1) << 24)

static int read_kind(const struct mx_jpath *at, json_t *doc, enum prof_arch_kind *kind)
{
    static const char *const names[] = {"encoder", "causal", "moe", "decoder"};
    const char *text;
    struct mx_jpath at_kind = mx_jpath_key(at, "kind");
    int rc = mx_json_get_str(at, doc, "kind", &text);
    if (rc < 0)
        return rc;
    for (int k = 0; k < 4; k++)
        if (strcmp(text, names[k]) == 0) {
            *kind = (enum prof_arch_kind)k;
            return MX_OK;
        }
    return mx_jpath_error(&at_kind, "expected encoder, causal, moe or decoder, got \"%s\"", text);
}

static int read_optional_i64(const struct mx_jpath *at, json_t *doc, const char *key, int64_t min,
                             int64_t max, int64_t *out)
{
    json_t *v = json_object_get(doc, key);
    if (!v)
        return MX_OK;
    struct mx_jpath at_key = mx_jpath_key(at, key);
    return mx_json_to_i64(&at_key, v, min, max, out);
}

static int check_shape(const struct mx_jpath *at, const struct prof_arch *a)
{
    if (a->hidden % a->heads != 0) {
        struct mx_jpath at_heads = mx_jpath_key(at, "heads");
        return mx_jpath_error(&at_heads, "%lld does not divide hidden %lld", (long long)a->heads,
                              (long long)a->hidden);
    }
    if (a->heads % a->kv_heads != 0) {
        struct mx_jpath at_kv = mx_jpath_key(at, "kv_heads");
        return mx_jpath_error(&at_kv, "%lld does not divide heads %lld", (long long)a->kv_heads,
                              (long long)a->heads);
    }
    bool decoder = a->kind == PROF_ARCH_DECODER;
    /* A decoder's experts are optional (a mixture when given); a moe model's are required. */
    static const char *const moe_only[] = {"experts", "top_k", "expert_group_size"};
    const int64_t moe_values[] = {a->experts, a->top_k, a->expert_group_size};
    for (int k = 0; k < 3; k++) {
        struct mx_jpath at_key = mx_jpath_key(at, moe_only[k]);
        if (a->kind == PROF_ARCH_MOE && moe_values[k] <= 0)
            return mx_jpath_error(&at_key, "a moe model needs it");
        if (decoder && k == 1 && a->top_k > 0 && a->experts == 0)
            return mx_jpath_error(&at_key, "only a decoder with experts has it");
        if (decoder && k < 2)
            continue;
        if (a->kind != PROF_ARCH_MOE && moe_values[k] > 0)
            return mx_jpath_error(&at_key, "only moe models have it");
    }
    if (a->experts > 0 && a->top_k > a->experts) {
        struct mx_jpath at_top = mx_jpath_key(at, "top_k");
        return mx_jpath_error(&at_top, "%lld is more than the %lld experts", (long long)a->top_k,
                              (long long)a->experts);
    }
    return MX_OK;
}

/* The members of a decoder (no "seq"; "kv_heads", "ffn" and "context_tokens" required). */
static int read_decoder(const struct mx_jpath *at, json_t *doc, struct prof_arch *a)
{
    static const char *const needed[] = {"kv_heads", "ffn", "context_tokens"};
    for (int k = 0; k < 3; k++)
        if (!json_object_get(doc, needed[k])) {
            struct mx_jpath at_key = mx_jpath_key(at, needed[k]);
            return mx_jpath_error(&at_key, "missing: a decoder needs it");
        }
    if (json_object_get(doc, "seq")) {
        struct mx_jpath at_seq = mx_jpath_key(at, "seq");
        return mx_jpath_error(&at_seq, "a decoder has context_tokens, not seq");
    }
    int rc;
    if ((rc = mx_json_get_i64(at, doc, "kv_heads", 1, MAX_DIM, &a->kv_heads)) < 0 ||
        (rc = mx_json_get_i64(at, doc, "context_tokens", 2, MAX_CONTEXT, &a->context_tokens)) < 0)
        return rc;
    if (json_object_get(doc, "experts"))
        a->top_k = 2;
    return MX_OK;
}

int prof_arch_read(const char *path, struct prof_arch **out)
{
    static const char *const keys[] = {
        "format",      "name",     "kind",           "seq",     "hidden", "layers",
        "heads",       "ffn",      "vocab",          "experts", "top_k",  "expert_group_size",
        "dtype_bytes", "kv_heads", "context_tokens", "note",    NULL};
    struct mx_jpath at = mx_jpath_root(path);
    struct prof_arch *a = MX_NEW(struct prof_arch);
    json_t *doc = NULL;
    const char *name;
    int rc;
    if ((rc = mx_json_load(path, &doc)) < 0 ||
        (rc = mx_json_check_format(&at, doc, "arch", 1)) < 0 ||
        (rc = mx_json_check_keys(&at, doc, keys)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "name", &name)) < 0 ||
        (rc = read_kind(&at, doc, &a->kind)) < 0)
        goto done;
    if (a->kind == PROF_ARCH_DECODER) {
        if ((rc = read_decoder(&at, doc, a)) < 0)
            goto done;
    } else {
        static const char *const decoder_only[] = {"kv_heads", "context_tokens"};
        for (int k = 0; k < 2; k++)
            if (json_object_get(doc, decoder_only[k])) {
                struct mx_jpath at_key = mx_jpath_key(&at, decoder_only[k]);
                rc = mx_jpath_error(&at_key, "only decoders have it");
                goto done;
            }
        if ((rc = mx_json_get_i64(&at, doc, "seq", 1, MAX_DIM, &a->seq)) < 0)
            goto done;
    }
    if ((rc = mx_json_get_i64(&at, doc, "hidden", 1, MAX_DIM, &a->hidden)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "layers", 1, MAX_LAYERS, &a->layers)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "heads", 1, MAX_DIM, &a->heads)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "vocab", 1, 100 * MAX_DIM, &a->vocab)) < 0)
        goto done;
    a->name = mx_strdup(name);
    a->path = mx_strdup(path);
    a->ffn = 4 * a->hidden;
    a->dtype_bytes = 2;
    if (a->kind != PROF_ARCH_DECODER)
        a->kv_heads = a->heads;
    if (a->kind == PROF_ARCH_MOE)
        a->top_k = 2;
    if ((rc = read_optional_i64(&at, doc, "ffn", 1, 16 * MAX_DIM, &a->ffn)) < 0 ||
        (rc = read_optional_i64(&at, doc, "dtype_bytes", 1, 8, &a->dtype_bytes)) < 0 ||
        (rc = read_optional_i64(&at, doc, "experts", 1, 100000, &a->experts)) < 0 ||
        (rc = read_optional_i64(&at, doc, "top_k", 1, 100000, &a->top_k)) < 0 ||
        (rc = read_optional_i64(&at, doc, "expert_group_size", 1, MAX_DIM, &a->expert_group_size)) <
            0 ||
        (rc = check_shape(&at, a)) < 0)
        goto done;
    *out = a;
    a = NULL;
done:
    json_decref(doc);
    prof_arch_free(a);
    return rc;
}

void prof_arch_free(struct prof_arch *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->path);
    free(a);
}

int prof_arch_find(const char *zoo_dir, const char *name, struct prof_arch **out)
{
    if (!name[0] || strchr(name, '/'))
        return mx_error(MX_EUSAGE, "\"%s\" is not a model name", name);
    char *path = mx_strfmt("%s/%s.json", zoo_dir, name);
    int rc = access(path, F_OK) == 0 ? prof_arch_read(path, out)
                                     : mx_error(MX_EUSAGE, "no model \"%s\" in the zoo %s (no %s)",
                                                name, zoo_dir, path);
    free(path);
    return rc;
}

int64_t prof_arch_kv_heads_per_device(const struct prof_arch *a, int op)
{
    int64_t kv = a->kv_heads > 0 ? a->kv_heads : a->heads;
    return kv >= op ? kv / op : 1;
}

/* A decoder layer on one device: Q, K, V and output projections without biases (K and V of the
 * device's KV heads, replicated when there are fewer than op), the gated MLP's gate, up and down
 * projections of each expert (split op ways), the router's replicated h x experts, and two RMSNorm
 * gains (replicated). */
static int64_t decoder_layer_weights(const struct prof_arch *a, int op)
{
    int64_t h = a->hidden, head_dim = a->hidden / a->heads;
    int64_t q = a->heads / op * head_dim, kv = prof_arch_kv_heads_per_device(a, op) * head_dim;
    int64_t attention = h * (q + 2 * kv) + q * h;
    int64_t mlp = 3 * h * (a->ffn / op);
    if (a->experts > 0)
        mlp = mlp * a->experts + h * a->experts;
    return (attention + mlp + 2 * h) * a->dtype_bytes;
}

int64_t prof_arch_layer_weight_bytes(const struct prof_arch *a, int op)
{
    if (a->kind == PROF_ARCH_DECODER)
        return decoder_layer_weights(a, op);
    int64_t h = a->hidden, f = a->ffn;
    /* Attention: QKV and output projections with biases; MLP: two projections with biases (one
     * set per expert in a moe layer, plus the router); two layer norms (gain and bias). Tensor
     * parallelism splits the projections; biases of row-split outputs and norms are replicated. */
    int64_t attention = (4 * h * h + 3 * h) / op + h;
    int64_t mlp = (2 * h * f + f) / op + h;
    if (a->kind == PROF_ARCH_MOE)
        mlp = mlp * a->experts + h * a->experts;
    return (attention + mlp + 4 * h) * a->dtype_bytes;
}

int64_t prof_arch_embedding_weight_bytes(const struct prof_arch *a, int op)
{
    /* Token embeddings split across op devices by vocabulary; positions replicated (decoders
     * have rotary embeddings: no position table). */
    int64_t vocab_rows = (a->vocab + op - 1) / op;
    if (a->kind == PROF_ARCH_DECODER)
        return vocab_rows * a->hidden * a->dtype_bytes;
    return (a->vocab * a->hidden / op + a->seq * a->hidden) * a->dtype_bytes;
}

int64_t prof_arch_lm_head_weight_bytes(const struct prof_arch *a, int op)
{
    int64_t vocab_rows = (a->vocab + op - 1) / op;
    return (vocab_rows * a->hidden + a->hidden) * a->dtype_bytes;
}

const char *prof_arch_op_unfit(const struct prof_arch *a, int op, long long *of)
{
    if (a->heads % op != 0) {
        *of = a->heads;
        return "does not divide heads";
    }
    if (a->ffn % op != 0) {
        *of = a->ffn;
        return "does not divide ffn";
    }
    if (a->kv_heads > 0 && a->kv_heads % op != 0 && op % a->kv_heads != 0) {
        *of = a->kv_heads;
        return "neither divides nor is divided by kv_heads";
    }
    return NULL;
}
