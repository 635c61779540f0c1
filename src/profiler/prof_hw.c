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
    static const char *const keys[] = {"peak_flops", "mem_bandwidth_bytes_per_s", "mem_bytes",
                                       "note", NULL};
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "peak_flops", 1e6, 1e18, &hw->peak_flops)) < 0 ||
        (rc = mx_json_get_f64(at, obj, "mem_bandwidth_bytes_per_s", 1e6, 1e15,
                              &hw->mem_bandwidth_bytes_per_s)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "mem_bytes", 1, INT64_C(1) << 50, &hw->mem_bytes)) < 0)
        return rc;
    return MX_OK;
}

int prof_hw_read(const char *path, struct prof_hw **out)
{
    static const char *const keys[] = {
        "format",           "name",  "calibrated", "source", "device",
        "devices_per_node", "links", "efficiency", "note",   NULL};
    struct mx_jpath at = mx_jpath_root(path);
    struct mx_jpath at_device = mx_jpath_key(&at, "device"), at_links = mx_jpath_key(&at, "links"),
                    at_eff = mx_jpath_key(&at, "efficiency"),
                    at_calibrated = mx_jpath_key(&at, "calibrated");
    struct prof_hw *hw = MX_NEW(struct prof_hw);
    json_t *doc = NULL, *device, *links, *eff, *calibrated;
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
    if ((calibrated = json_object_get(doc, "calibrated")) && !json_is_boolean(calibrated)) {
        rc = mx_jpath_error(&at_calibrated, "expected true or false");
        goto done;
    }
    hw->calibrated = calibrated && json_is_true(calibrated);
    hw->devices_per_node = (int32_t)per_node;
    hw->name = mx_strdup(name);
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
    free(hw->source);
    free(hw);
}
