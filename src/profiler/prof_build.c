/* prof_build_model(): the grid, one model at a time. */
#include "prof_build.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_comm.h"
#include "prof_hw.h"
#include "prof_int.h"
#include "prof_ops.h"
#include "prof_partition.h"
#include "spec_profile.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const int32_t default_ops[] = {1, 2, 4, 8};
static const int32_t default_pps[] = {1, 2, 4, 8, 16, 32};
static const int32_t default_batches[] = {1, 2, 4, 8, 16};

const struct prof_grid prof_grid_default = {
    .n_ops = 4,
    .n_pps = 6,
    .n_batches = 5,
    .ops = default_ops,
    .pps = default_pps,
    .batches = default_batches,
};

/* The fixed costs of the efficiency model apply to computed (roofline) profiles only: a measured
 * profile has its costs in its measurements. */
static const struct prof_efficiency *fixed_costs(const struct prof_hw *hw,
                                                 const struct prof_backend *be)
{
    static const struct prof_efficiency none = {0};
    return strcmp(be->name, "roofline") == 0 ? &hw->eff : &none;
}

int prof_build_layer_s(const struct prof_arch *a, const struct prof_hw *hw, struct prof_backend *be,
                       int64_t batch, int op, double *layer_s, struct prof_timing *timings)
{
    struct prof_op ops[PROF_OPS_PER_LAYER];
    struct prof_timing own[PROF_OPS_PER_LAYER];
    struct prof_timing *t = timings ? timings : own;
    size_t n = prof_layer_ops(a, batch, op, be->elem_bytes, ops);
    int rc = be->time_ops(be, ops, n, t);
    if (rc < 0)
        return rc;
    double sum = fixed_costs(hw, be)->layer_overhead_s;
    for (size_t i = 0; i < n; i++)
        sum += t[i].median_s;
    /* A backend that can run the layer as the runtime does measures it whole: the ops' sum misses
     * what runs between them (weights streaming from cache, input-dependent costs). */
    struct prof_timing whole;
    if (be->time_layer && (rc = be->time_layer(be, a, batch, op, &whole)) != MX_EUSAGE) {
        if (rc < 0)
            return rc;
        sum = whole.median_s;
    }
    /* Two all-reduces of the layer's output per layer (after attention and after the MLP). */
    double activation_bytes = (double)(batch * a->seq * a->hidden * be->elem_bytes);
    sum += 2 * prof_comm_allreduce_s(hw, activation_bytes, op);
    *layer_s = sum;
    return MX_OK;
}

/* Whether tensor-parallel degree op fits a; when the user listed it, why not is an error. */
int prof_build__op_fits(const struct prof_arch *a, const struct prof_hw *hw, int op, int given,
                        bool *fits)
{
    long long of = hw->devices_per_node;
    const char *why = prof_arch_op_unfit(a, op, &of);
    if (!why && op > hw->devices_per_node)
        why = "is more than the devices of a node";
    *fits = !why;
    if (why && given && a->kind == PROF_ARCH_DECODER)
        return mx_error(MX_EINPUT, "%s: --ops %d %s (%lld)", a->path, op, why, of);
    if (why && given)
        return mx_error(MX_EINPUT, "%s: --ops %d %s (%lld)", a->name, op, why, of);
    return MX_OK;
}

static json_t *timings_json(const struct prof_arch *a, const struct prof_timing *t, size_t n)
{
    struct prof_op ops[PROF_OPS_PER_LAYER];
    prof_layer_ops(a, 1, 1, 2, ops); /* the names only */
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        double v[3] = {t[i].median_s, t[i].p10_s, t[i].p90_s};
        mx_json_set(o, ops[i].name, mx_json_f64_array(v, 3));
    }
    return o;
}

/* One (1, op, pp) config from the per-batch layer times. */
static int add_config(struct spec_profile *db, uint32_t model, const struct prof_arch *a,
                      const struct prof_hw *hw, const struct prof_backend *be,
                      const struct prof_grid *grid, int op, int pp, const double *layer_s)
{
    const struct prof_efficiency *fixed = fixed_costs(hw, be);
    int layers = (int)a->layers;
    double *extra = MX_NEW_ARRAY(double, (size_t)pp);
    double *uniform = mx_malloc_array((size_t)layers, sizeof(double));
    int *bounds = mx_malloc_array((size_t)pp + 1, sizeof(int));
    for (int k = 0; k < pp; k++)
        extra[k] = fixed->stage_overhead_s;
    extra[0] += fixed->first_stage_s;
    extra[pp - 1] += fixed->last_stage_s;
    for (int i = 0; i < layers; i++)
        uniform[i] = layer_s[0];
    prof_partition(uniform, layers, pp, extra, bounds);

    uint32_t nb = grid->n_batches;
    struct spec_config cfg = {.dp = 1, .op = op, .pp = pp, .n_batches = nb};
    cfg.batch = (int32_t *)grid->batches;
    cfg.stage_latency_s = mx_malloc_array((size_t)nb * (size_t)pp, sizeof(double));
    cfg.act_bytes = mx_malloc_array((size_t)nb * (size_t)pp, sizeof(int64_t));
    cfg.weight_bytes = mx_malloc_array((size_t)pp, sizeof(int64_t));
    cfg.layer_ranges = mx_malloc_array(2 * (size_t)pp, sizeof(int32_t));
    int64_t layer_weights = prof_arch_layer_weight_bytes(a, op);
    for (int k = 0; k < pp; k++) {
        int n_layers = bounds[k + 1] - bounds[k];
        cfg.layer_ranges[2 * k] = bounds[k];
        cfg.layer_ranges[2 * k + 1] = bounds[k + 1];
        cfg.weight_bytes[k] =
            n_layers * layer_weights + (k == 0 ? prof_arch_embedding_weight_bytes(a, op) : 0);
        for (uint32_t b = 0; b < nb; b++) {
            int64_t batch = grid->batches[b];
            int64_t output_bytes = batch * a->seq * a->hidden * be->elem_bytes;
            double hop = k + 1 < pp ? prof_comm_hop_s(hw, (double)output_bytes,
                                                      prof_comm_boundary_crosses_node(hw, k, op))
                                    : 0;
            cfg.stage_latency_s[(size_t)b * (size_t)pp + (size_t)k] =
                n_layers * layer_s[b] + extra[k] + hop;
            cfg.act_bytes[(size_t)b * (size_t)pp + (size_t)k] =
                output_bytes + batch * (a->heads / op) * a->seq * a->seq * be->elem_bytes;
        }
    }
    char place[160];
    snprintf(place, sizeof(place), "%s (1, %d, %d)", a->name, op, pp);
    cfg.note = mx_strfmt("%s backend on %s", be->name, hw->name);
    int rc = spec_profile_add_config(db, model, &cfg, place);
    free(cfg.note);
    free(cfg.layer_ranges);
    free(cfg.weight_bytes);
    free(cfg.act_bytes);
    free(cfg.stage_latency_s);
    free(bounds);
    free(uniform);
    free(extra);
    return rc;
}

int prof_build_model(struct spec_profile *db, const struct prof_arch *a, const struct prof_hw *hw,
                     struct prof_backend *be, const struct prof_grid *grid, json_t *raw)
{
    if (a->kind == PROF_ARCH_DECODER)
        MX_BUG("%s: a decoder goes to prof_build_decoder()", a->name);
    uint32_t model = spec_profile_add_model(db, a->name);
    double *layer_s = mx_malloc_array(grid->n_batches, sizeof(double));
    json_t *entries = json_array();
    int rc = MX_OK, configs = 0;
    for (uint32_t o = 0; rc == MX_OK && o < grid->n_ops; o++) {
        int op = grid->ops[o];
        bool fits;
        if ((rc = prof_build__op_fits(a, hw, op, grid->ops_given, &fits)) < 0 || !fits)
            continue;
        for (uint32_t b = 0; rc == MX_OK && b < grid->n_batches; b++) {
            struct prof_timing timings[PROF_OPS_PER_LAYER];
            rc = prof_build_layer_s(a, hw, be, grid->batches[b], op, &layer_s[b], timings);
            if (rc < 0)
                break;
            json_t *entry = json_object();
            mx_json_set(entry, "op", json_integer(op));
            mx_json_set(entry, "batch", json_integer(grid->batches[b]));
            mx_json_set(entry, "layer_s", json_real(layer_s[b]));
            mx_json_set(entry, "ops", timings_json(a, timings, PROF_OPS_PER_LAYER));
            mx_json_append(entries, entry);
        }
        for (uint32_t p = 0; rc == MX_OK && p < grid->n_pps; p++) {
            if (grid->pps[p] > a->layers)
                continue;
            rc = add_config(db, model, a, hw, be, grid, op, grid->pps[p], layer_s);
            configs++;
        }
    }
    if (rc == MX_OK && configs == 0)
        rc = mx_error(MX_EINPUT,
                      "%s: no config of the grid fits (heads %lld, ffn %lld, layers %lld)", a->name,
                      (long long)a->heads, (long long)a->ffn, (long long)a->layers);
    json_t *o = json_object();
    mx_json_set(o, "model", json_string(a->name));
    mx_json_set(o, "layers", entries);
    mx_json_append(raw, o);
    free(layer_s);
    return rc;
}
