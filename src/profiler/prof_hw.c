/* Reading hardware specs. */
#include "prof_hw.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <stddef.h>
#include <stdlib.h>

/* Defaults of the efficiency model: a device that reaches its peak on large GEMMs and 80% of its
 * memory bandwidth, with no fixed costs (an uncalibrated spec). */
static const struct prof_efficiency default_efficiency = {
    .gemm_max = 1,
    .gemm_steepness = 1,
    .attention_max = 1,
    .memory_efficiency = 0.8,
};

struct f64_field {
    const char *key;
    double min, max;
    size_t offset;
};

#define EFF(field, lo, hi)                                                                         \
    {                                                                                              \
#field, lo, hi, offsetof(struct prof_efficiency, field)                                    \
    }
static const struct f64_field efficiency_fields[] = {
    EFF(gemm_max, 1e-3, 1),       EFF(gemm_min, 0, 1),          EFF(gemm_half_mk, 0, 1e15),
    EFF(gemm_steepness, 0.1, 32), EFF(attention_max, 1e-3, 1),  EFF(memory_efficiency, 1e-3, 1),
    EFF(layer_overhead_s, 0, 1),  EFF(stage_overhead_s, 0, 10), EFF(first_stage_s, 0, 10),
    EFF(last_stage_s, 0, 10),
};
#define N_EFFICIENCY_FIELDS (sizeof(efficiency_fields) / sizeof(efficiency_fields[0]))

static int read_efficiency(const struct mx_jpath *at, json_t *obj, struct prof_efficiency *eff)
{
    const char *keys[N_EFFICIENCY_FIELDS + 2] = {"note"};
    for (size_t f = 0; f < N_EFFICIENCY_FIELDS; f++)
        keys[f + 1] = efficiency_fields[f].key;
    int rc = mx_json_expect_object(at, obj);
    if (rc == MX_OK)
        rc = mx_json_check_keys(at, obj, keys);
    for (size_t f = 0; rc == MX_OK && f < N_EFFICIENCY_FIELDS; f++) {
        const struct f64_field *field = &efficiency_fields[f];
        rc = mx_json_opt_f64(at, obj, field->key, field->min, field->max,
                             (double *)((char *)eff + field->offset), NULL);
    }
    return rc;
}

static int read_links(const struct mx_jpath *at, json_t *obj, struct prof_hw *hw)
{
    static const char *const keys[] = {"intra_node_bytes_per_s",
                                       "intra_node_latency_s",
                                       "inter_node_bytes_per_s",
                                       "inter_node_latency_s",
                                       "note",
                                       NULL};
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "intra_node_bytes_per_s", 1e3, 1e15,
                              &hw->intra_node_bytes_per_s)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "intra_node_latency_s", 0, 1, &hw->intra_node_latency_s)) <
            0 ||
        (rc = mx_json_get_f64(at, obj, "inter_node_bytes_per_s", 1e3, 1e15,
                              &hw->inter_node_bytes_per_s)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "inter_node_latency_s", 0, 1, &hw->inter_node_latency_s)) <
            0)
        return rc;
    return MX_OK;
}

static int read_device(const struct mx_jpath *at, json_t *obj, struct prof_hw *hw)
{
    static const char *const keys[] = {
        "peak_flops", "mem_bandwidth_bytes_per_s", "mem_bytes", "l2_bytes", "note", NULL};
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "peak_flops", 1e6, 1e18, &hw->peak_flops)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "mem_bandwidth_bytes_per_s", 1e6, 1e15,
                              &hw->mem_bandwidth_bytes_per_s)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "mem_bytes", 1, INT64_C(1) << 50, &hw->mem_bytes)) < 0 ||
        (rc = mx_json_opt_f64(at, obj, "l2_bytes", 1, 1e12, &hw->l2_bytes, NULL)) < 0)
        return rc;
    return MX_OK;
}

/* The members of one object of the "decoder" section: each required, in [min, max]. */
#define DEC(key, field, lo, hi)                                                                    \
    {                                                                                              \
        key, lo, hi, offsetof(struct prof_decoder_eff, field)                                      \
    }
static const struct f64_field gemm_fields[] = {
    DEC("fixed_s", gemm_fixed_s, 0, 1),
    DEC("mem_efficiency", gemm_mem_efficiency, 1e-3, 1),
    DEC("compute_efficiency", gemm_compute_efficiency, 1e-3, 1),
    DEC("half_outputs", gemm_half_outputs, 0, 1e12),
    DEC("occupancy_exp", gemm_occupancy_exp, 0, 16),
    DEC("k_half", gemm_k_half, 0, 1e9),
    DEC("blend_p", gemm_blend_p, 1, 64),
    DEC("tile_m", gemm_tile_m, 1, 4096),
    {NULL, 0, 0, 0},
};
static const struct f64_field attention_fields[] = {
    DEC("prefill_efficiency", attn_prefill_efficiency, 1e-3, 1),
    DEC("prefill_half_len", attn_prefill_half_len, 0, 1e9),
    DEC("decode_mem_efficiency", attn_decode_mem_efficiency, 1e-3, 1),
    DEC("fixed_s", attn_fixed_s, 0, 1),
    {NULL, 0, 0, 0},
};
static const struct f64_field allreduce_fields[] = {
    DEC("latency_s", allreduce_latency_s, 0, 1),
    DEC("bus_bytes_per_s", allreduce_bus_bytes_per_s, 1e3, 1e15),
    DEC("half_bytes", allreduce_half_bytes, 0, 1e15),
    DEC("exp", allreduce_exp, 0, 16),
    {NULL, 0, 0, 0},
};
static const struct f64_field p2p_fields[] = {
    DEC("intra_node_latency_s", p2p_intra_latency_s, 0, 1),
    DEC("intra_node_bytes_per_s", p2p_intra_bytes_per_s, 1e3, 1e15),
    DEC("inter_node_latency_s", p2p_inter_latency_s, 0, 1),
    DEC("inter_node_bytes_per_s", p2p_inter_bytes_per_s, 1e3, 1e15),
    {NULL, 0, 0, 0},
};
static const struct f64_field small_fields[] = {
    {"fixed_s", 0, 1, offsetof(struct prof_small_eff, fixed_s)},
    {"dram_efficiency", 1e-3, 1, offsetof(struct prof_small_eff, dram_efficiency)},
    /* L2 can outrun device memory: its efficiency may exceed 1. */
    {"l2_efficiency", 1e-3, 100, offsetof(struct prof_small_eff, l2_efficiency)},
    {NULL, 0, 0, 0},
};
static const char *const small_names[PROF_SMALL_KINDS] = {"norm", "rope", "act", "add", "emb"};

/* Member key of obj, an object of the required fields (plus "note"), into base. */
static int read_fields(const struct mx_jpath *at, json_t *obj, const char *key,
                       const struct f64_field *fields, void *base)
{
    const char *keys[16] = {"note"};
    size_t n = 0;
    while (fields[n].key) {
        keys[n + 1] = fields[n].key;
        n++;
    }
    json_t *v;
    struct mx_jpath at_key = mx_jpath_key(at, key);
    int rc;
    if ((rc = mx_json_get(at, obj, key, &v)) < 0 || (rc = mx_json_expect_object(&at_key, v)) < 0 ||
        (rc = mx_json_check_keys(&at_key, v, keys)) < 0)
        return rc;
    for (size_t f = 0; f < n; f++)
        if ((rc = mx_json_get_f64(&at_key, v, fields[f].key, fields[f].min, fields[f].max,
                                  (double *)((char *)base + fields[f].offset))) < 0)
            return rc;
    return MX_OK;
}

static int read_decoder(const struct mx_jpath *at, json_t *obj, struct prof_decoder_eff *dec)
{
    static const char *const keys[] = {"source",    "note",      "fit_error", "gemm", "small_ops",
                                       "attention", "allreduce", "p2p",       NULL};
    static const char *const small_keys[] = {"norm", "rope", "act", "add", "emb", "note", NULL};
    struct mx_jpath at_small = mx_jpath_key(at, "small_ops");
    json_t *small, *fit;
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = read_fields(at, obj, "gemm", gemm_fields, dec)) < 0 ||
        (rc = read_fields(at, obj, "attention", attention_fields, dec)) < 0 ||
        (rc = read_fields(at, obj, "allreduce", allreduce_fields, dec)) < 0 ||
        (rc = read_fields(at, obj, "p2p", p2p_fields, dec)) < 0 ||
        (rc = mx_json_get(at, obj, "small_ops", &small)) < 0 ||
        (rc = mx_json_expect_object(&at_small, small)) < 0 ||
        (rc = mx_json_check_keys(&at_small, small, small_keys)) < 0)
        return rc;
    for (int k = 0; k < PROF_SMALL_KINDS; k++)
        if ((rc = read_fields(&at_small, small, small_names[k], small_fields, &dec->small[k])) < 0)
            return rc;
    if ((fit = json_object_get(obj, "fit_error"))) {
        struct mx_jpath at_fit = mx_jpath_key(at, "fit_error");
        if ((rc = mx_json_expect_object(&at_fit, fit)) < 0)
            return rc;
    }
    if (dec->gemm_tile_m != (double)(int64_t)dec->gemm_tile_m) {
        struct mx_jpath at_gemm = mx_jpath_key(at, "gemm"),
                        at_tile = mx_jpath_key(&at_gemm, "tile_m");
        return mx_jpath_error(&at_tile, "expected a whole number of rows, got %g",
                              dec->gemm_tile_m);
    }
    dec->present = true;
    return MX_OK;
}

int prof_hw_check_decoder(const struct prof_hw *hw)
{
    const char *file = hw->path ? hw->path : hw->name;
    if (!hw->dec.present)
        return mx_error(MX_EINPUT,
                        "%s: decoder: missing: the roofline backend needs the decoder cost "
                        "model's parameters for decoder models (docs/profiler.md)",
                        file);
    if (hw->l2_bytes <= 0)
        return mx_error(MX_EINPUT,
                        "%s: device.l2_bytes: missing: the roofline backend needs it for decoder "
                        "models",
                        file);
    return MX_OK;
}

int prof_hw_read(const char *path, struct prof_hw **out)
{
    static const char *const keys[] = {
        "format", "name",       "calibrated", "source", "device", "devices_per_node",
        "links",  "efficiency", "decoder",    "note",   NULL};
    struct mx_jpath at = mx_jpath_root(path);
    struct mx_jpath at_device = mx_jpath_key(&at, "device"), at_links = mx_jpath_key(&at, "links"),
                    at_eff = mx_jpath_key(&at, "efficiency"), at_dec = mx_jpath_key(&at, "decoder"),
                    at_calibrated = mx_jpath_key(&at, "calibrated");
    struct prof_hw *hw = MX_NEW(struct prof_hw);
    json_t *doc = NULL, *device, *links, *eff, *calibrated, *dec;
    const char *name, *source = NULL;
    int64_t per_node;
    int rc;
    hw->eff = default_efficiency;
    if ((rc = mx_json_load(path, &doc)) < 0 ||
        (rc = mx_json_check_format(&at, doc, "hardware", 1)) < 0 ||
        (rc = mx_json_check_keys(&at, doc, keys)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "name", &name)) < 0 ||
        (rc = mx_json_opt_str(&at, doc, "source", &source, NULL)) < 0 ||
        (rc = mx_json_get(&at, doc, "device", &device)) < 0 ||
        (rc = read_device(&at_device, device, hw)) < 0 ||
        (rc = mx_json_get_i64(&at, doc, "devices_per_node", 1, 1024, &per_node)) < 0 ||
        (rc = mx_json_get(&at, doc, "links", &links)) < 0 ||
        (rc = read_links(&at_links, links, hw)) < 0)
        goto done;
    if ((eff = json_object_get(doc, "efficiency")) &&
        (rc = read_efficiency(&at_eff, eff, &hw->eff)) < 0)
        goto done;
    if ((dec = json_object_get(doc, "decoder")) && (rc = read_decoder(&at_dec, dec, &hw->dec)) < 0)
        goto done;
    if ((calibrated = json_object_get(doc, "calibrated")) && !json_is_boolean(calibrated)) {
        rc = mx_jpath_error(&at_calibrated, "expected true or false");
        goto done;
    }
    hw->calibrated = calibrated && json_is_true(calibrated);
    hw->devices_per_node = (int32_t)per_node;
    hw->name = mx_strdup(name);
    hw->path = mx_strdup(path);
    hw->source = source ? mx_strdup(source) : NULL;
    *out = hw;
    hw = NULL;
done:
    json_decref(doc);
    prof_hw_free(hw);
    return rc;
}

void prof_hw_free(struct prof_hw *hw)
{
    if (!hw)
        return;
    free(hw->name);
    free(hw->path);
    free(hw->source);
    free(hw);
}
