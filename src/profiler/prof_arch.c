/* Reading model architectures, and their weight sizes. */
#include "prof_arch.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sizes beyond these are taken for typing errors (a 10M-wide model, 100k layers). */
#define MAX_DIM INT64_C(1000000)
#define MAX_LAYERS INT64_C(100000)

static int read_kind(const struct mx_jpath *at, json_t *doc, enum prof_arch_kind *kind)
{
    static const char *const names[] = {"encoder", "decoder", "moe"};
    const char *text;
    struct mx_jpath at_kind = mx_jpath_key(at, "kind");
    int rc = mx_json_get_str(at, doc, "kind", &text);
    if (rc < 0)
        return rc;
    for (int k = 0; k < 3; k++)
        if (strcmp(text, names[k]) == 0) {
            *kind = (enum prof_arch_kind)k;
            return MX_OK;
        }
    return mx_jpath_error(&at_kind, "expected encoder, decoder or moe, got \"%s\"", text);
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
    static const char *const moe_only[] = {"experts", "top_k", "expert_group_size"};
    const int64_t moe_values[] = {a->experts, a->top_k, a->expert_group_size};
    for (int k = 0; k < 3; k++) {
        struct mx_jpath at_key = mx_jpath_key(at, moe_only[k]);
        if (a->kind == PROF_ARCH_MOE && moe_values[k] <= 0)
            return mx_jpath_error(&at_key, "a moe model needs it");
        if (a->kind != PROF_ARCH_MOE && moe_values[k] > 0)
            return mx_jpath_error(&at_key, "only moe models have it");
    }
    if (a->kind == PROF_ARCH_MOE && a->top_k > a->experts) {
        struct mx_jpath at_top = mx_jpath_key(at, "top_k");
        return mx_jpath_error(&at_top, "%lld is more than the %lld experts", (long long)a->top_k,
                              (long long)a->experts);
    }
    return MX_OK;
}

int prof_arch_read(const char *path, struct prof_arch **out)
{
    static const char *const keys[] = {"format",      "name",    "kind",  "seq",
                                       "hidden",      "layers",  "heads", "ffn",
                                       "vocab",       "experts", "top_k", "expert_group_size",
                                       "dtype_bytes", "note",    NULL};
    struct mx_jpath at = mx_jpath_root(path);
    struct prof_arch *a = MX_NEW(struct prof_arch);
    json_t *doc = NULL;
    const char *name;
    int rc;
    if ((rc = mx_json_load(path, &doc)) < 0 ||
        (rc = mx_json_check_format(&at, doc, "arch", 1)) < 0 ||
        (rc = mx_json_check_keys(&at, doc, keys)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "name", &name)) < 0 ||
        (rc = read_kind(&at, doc, &a->kind)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "seq", 1, MAX_DIM, &a->seq)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "hidden", 1, MAX_DIM, &a->hidden)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "layers", 1, MAX_LAYERS, &a->layers)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "heads", 1, MAX_DIM, &a->heads)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "vocab", 1, 100 * MAX_DIM, &a->vocab)) < 0)
        goto done;
    a->name = mx_strdup(name);
    a->ffn = 4 * a->hidden;
    a->dtype_bytes = 2;
    a->top_k = a->kind == PROF_ARCH_MOE ? 2 : 0;
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

int64_t prof_arch_layer_weight_bytes(const struct prof_arch *a, int op)
{
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
    /* Token embeddings split across op devices by vocabulary; positions replicated. */
    return (a->vocab * a->hidden / op + a->seq * a->hidden) * a->dtype_bytes;
}
