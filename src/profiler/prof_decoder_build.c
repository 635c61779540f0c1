/* prof_build_decoder(): a decoder's configs from the costs of its ops (prof_decoder.h). For each
 * tensor-parallel degree the backend times one layer's ops and the stages' end ops at every token
 * count of the grid, and gives the attention coefficients; then each pipeline degree splits the
 * layers by the partition DP and sums per stage. The model's reference figures come last, from
 * the configs themselves (the simulator's own interpolation). */
#include "prof_decoder.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_comm.h"
#include "prof_int.h"
#include "prof_partition.h"
#include "spec_profile.h"

#include <stdlib.h>
#include <string.h>

/* The costs of one tensor-parallel degree over the token grid, seconds. */
struct op_costs {
    int op;
    double *layer_s; /* [n_tokens] one layer: its ops and its two all-reduces */
    double *first_s; /* [n_tokens] the first stage's embedding and its all-reduce */
    double *last_s;  /* [n_tokens] the last stage's final norm, LM head and logits gather */
    struct prof_attention_cost attention; /* one layer */
};

/* A layer timed whole is never taken below this share of itself when the fitted attention is
 * taken out: the fit's noise must not make a dense cost vanish. */
#define DENSE_FLOOR 0.25

static json_t *timing_json(const struct prof_timing *t)
{
    double v[3] = {t->median_s, t->p10_s, t->p90_s};
    return mx_json_f64_array(v, 3);
}

static json_t *timings_json(const struct prof_op *ops, const struct prof_timing *t, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        double v[3] = {t[i].median_s, t[i].p10_s, t[i].p90_s};
        mx_json_set(o, ops[i].name, mx_json_f64_array(v, 3));
    }
    return o;
}

/* A measuring backend times the grid in this many rounds, each point's least median kept:
 * interference from other work on the machine only adds time, and a burst of it then spoils one
 * round of a point, not its value. */
#define PASS_ROUNDS 3

/* Make y[0..n) non-decreasing from the right: each point becomes the least of itself and every
 * point after it. A cost does not fall with more tokens; a measured one that does was slowed by
 * interference, which only adds time, so the lower value is the truer. */
static void nondecreasing(double *y, uint32_t n)
{
    for (uint32_t j = n; j-- > 1;)
        if (y[j - 1] > y[j])
            y[j - 1] = y[j];
}

/* Time every op of a at degree op over the grid into c; measured timings go to raw. */
static int time_grid(const struct prof_arch *a, const struct prof_hw *hw, struct prof_backend *be,
                     const struct prof_decoder_grid *grid, int op, struct op_costs *c, json_t *raw)
{
    uint32_t nt = grid->n_tokens;
    c->op = op;
    c->layer_s = mx_malloc_array(nt, sizeof(double));
    c->first_s = mx_malloc_array(nt, sizeof(double));
    c->last_s = mx_malloc_array(nt, sizeof(double));
    json_t *points = json_array(), *attention = json_array();
    bool measured = false, passes = be->time_decoder_pass != NULL;
    int rc = MX_OK;
    double e = (double)a->dtype_bytes, h = (double)a->hidden;
    /* A layer timed whole includes its chunk's attention: the fit comes first, to take it out. */
    if (passes)
        rc = be->decoder_attention(be, a, op, &c->attention, attention);
    struct prof_decoder_pass *best = passes ? mx_malloc_array(nt, sizeof(*best)) : NULL;
    for (uint32_t round = 0; rc == MX_OK && passes && round < PASS_ROUNDS; round++)
        for (uint32_t j = 0; rc == MX_OK && j < nt; j++) {
            struct prof_decoder_pass pass;
            if ((rc = be->time_decoder_pass(be, a, op, grid->tokens[j], &pass)) < 0)
                break;
            if (round == 0 || pass.layer.median_s < best[j].layer.median_s)
                best[j].layer = pass.layer;
            if (round == 0 || pass.first.median_s < best[j].first.median_s)
                best[j].first = pass.first;
            if (round == 0 || pass.last.median_s < best[j].last.median_s)
                best[j].last = pass.last;
        }
    for (uint32_t j = 0; rc == MX_OK && passes && j < nt; j++) {
        const struct prof_decoder_pass *pass = &best[j];
        int64_t tokens = grid->tokens[j];
        double T = (double)tokens, measured_s = pass->layer.median_s;
        double dense = measured_s - c->attention.prefill_pair_s * T * (T + 1) / 2;
        if (dense < DENSE_FLOOR * measured_s)
            dense = DENSE_FLOOR * measured_s;
        int64_t emitting = tokens < PROF_DECODER_LM_TOKENS ? tokens : PROF_DECODER_LM_TOKENS;
        double logits = (double)emitting * (double)((a->vocab + op - 1) / op * op) * e;
        c->layer_s[j] = dense + 2 * prof_decoder_allreduce_s(hw, T * h * e, op);
        c->first_s[j] = pass->first.median_s + prof_decoder_allreduce_s(hw, T * h * e, op);
        c->last_s[j] = pass->last.median_s + prof_decoder_gather_s(hw, logits, op);
        measured = true;
        json_t *point = json_object();
        mx_json_set(point, "tokens", json_integer(tokens));
        mx_json_set(point, "layer_s", timing_json(&pass->layer));
        mx_json_set(point, "first_s", timing_json(&pass->first));
        mx_json_set(point, "last_s", timing_json(&pass->last));
        mx_json_set(point, "dense_layer_s", json_real(dense));
        mx_json_append(points, point);
    }
    free(best);
    if (rc == MX_OK && passes) {
        nondecreasing(c->layer_s, nt);
        nondecreasing(c->first_s, nt);
        nondecreasing(c->last_s, nt);
    }
    for (uint32_t j = 0; rc == MX_OK && !passes && j < nt; j++) {
        struct prof_op ops[PROF_DECODER_LAYER_OPS + PROF_DECODER_END_OPS];
        struct prof_timing t[PROF_DECODER_LAYER_OPS + PROF_DECODER_END_OPS];
        int64_t tokens = grid->tokens[j];
        size_t n_layer = prof_decoder_layer_ops(a, tokens, op, ops);
        size_t n_end = prof_decoder_end_ops(a, tokens, op, true, true, ops + n_layer);
        if ((rc = be->time_decoder_ops(be, ops, n_layer + n_end, t)) < 0)
            break;
        double T = (double)tokens, layer = 0;
        for (size_t i = 0; i < n_layer; i++) {
            layer += t[i].median_s;
            measured = measured || t[i].reps > 0;
        }
        /* Two all-reduces of the layer's output (attention, MLP). */
        c->layer_s[j] = layer + 2 * prof_decoder_allreduce_s(hw, T * h * e, op);
        /* The end ops: emb, final_layernorm, lm_head. The vocabulary-parallel embedding sums
         * its parts; the LM head's logits are gathered. */
        int64_t emitting = tokens < PROF_DECODER_LM_TOKENS ? tokens : PROF_DECODER_LM_TOKENS;
        double logits = (double)emitting * (double)((a->vocab + op - 1) / op * op) * e;
        c->first_s[j] = t[n_layer].median_s + prof_decoder_allreduce_s(hw, T * h * e, op);
        c->last_s[j] = t[n_layer + 1].median_s + t[n_layer + 2].median_s +
                       prof_decoder_gather_s(hw, logits, op);
        if (measured) {
            json_t *point = json_object();
            mx_json_set(point, "tokens", json_integer(tokens));
            mx_json_set(point, "ops", timings_json(ops, t, n_layer + n_end));
            mx_json_append(points, point);
        }
    }
    if (rc == MX_OK && !passes && be->decoder_attention)
        rc = be->decoder_attention(be, a, op, &c->attention, attention);
    else if (rc == MX_OK && !passes && (rc = prof_hw_check_decoder(hw)) == MX_OK)
        c->attention = prof_decoder_attention_roofline(hw, a, op);
    if (rc == MX_OK && (measured || json_array_size(attention) > 0)) {
        json_t *entry = json_object();
        mx_json_set(entry, "op", json_integer(op));
        mx_json_set(entry, "points", json_incref(points));
        mx_json_set(entry, "attention", json_incref(attention));
        mx_json_append(raw, entry);
    }
    json_decref(points);
    json_decref(attention);
    return rc;
}

static void op_costs_release(struct op_costs *c)
{
    free(c->layer_s);
    free(c->first_s);
    free(c->last_s);
}

/* The grid point nearest above the partition's reference token count (or the last). */
static uint32_t reference_point(const struct prof_decoder_grid *grid)
{
    uint32_t j = 0;
    while (j + 1 < grid->n_tokens && grid->tokens[j] < PROF_DECODER_PREFILL_CHUNK)
        j++;
    return j;
}

/* Config (1, op, pp) of a from the degree's costs into cfg (arrays allocated here). */
static void make_config(const struct prof_arch *a, const struct prof_hw *hw,
                        const struct prof_backend *be, const struct prof_decoder_grid *grid,
                        const struct op_costs *c, int pp, struct spec_config *cfg)
{
    int layers = (int)a->layers, op = c->op;
    uint32_t nt = grid->n_tokens, r = reference_point(grid);
    double *uniform = mx_malloc_array((size_t)layers, sizeof(double));
    double *extra = MX_NEW_ARRAY(double, (size_t)pp);
    int *bounds = mx_malloc_array((size_t)pp + 1, sizeof(int));
    for (int i = 0; i < layers; i++)
        uniform[i] = c->layer_s[r];
    extra[0] += c->first_s[r];
    extra[pp - 1] += c->last_s[r];
    prof_partition(uniform, layers, pp, extra, bounds);

    size_t npp = (size_t)pp;
    *cfg = (struct spec_config){.dp = 1, .op = op, .pp = pp};
    struct spec_decoder_cost *d = &cfg->decoder;
    cfg->weight_bytes = mx_malloc_array(npp, sizeof(int64_t));
    cfg->layer_ranges = mx_malloc_array(2 * npp, sizeof(int32_t));
    d->n_tokens = nt;
    d->tokens = mx_malloc_array(nt, sizeof(int32_t));
    memcpy(d->tokens, grid->tokens, nt * sizeof(int32_t));
    d->dense_s = mx_malloc_array(npp * nt, sizeof(double));
    d->prefill_pair_s = mx_malloc_array(npp, sizeof(double));
    d->decode_token_s = mx_malloc_array(npp, sizeof(double));
    d->iteration_s = mx_malloc_array(npp, sizeof(double));
    d->kv_bytes_per_token = mx_malloc_array(npp, sizeof(int64_t));
    d->act_bytes_per_token = mx_malloc_array(npp, sizeof(int64_t));
    int64_t layer_weights = prof_arch_layer_weight_bytes(a, op);
    for (int k = 0; k < pp; k++) {
        int n_layers = bounds[k + 1] - bounds[k];
        bool first = k == 0, last = k == pp - 1;
        cfg->layer_ranges[2 * k] = bounds[k];
        cfg->layer_ranges[2 * k + 1] = bounds[k + 1];
        cfg->weight_bytes[k] = n_layers * layer_weights +
                               (first ? prof_arch_embedding_weight_bytes(a, op) : 0) +
                               (last ? prof_arch_lm_head_weight_bytes(a, op) : 0);
        bool crosses = !last && prof_comm_boundary_crosses_node(hw, k, op);
        for (uint32_t j = 0; j < nt; j++) {
            double bytes = (double)grid->tokens[j] * (double)a->hidden * (double)a->dtype_bytes;
            d->dense_s[(size_t)k * nt + j] =
                n_layers * c->layer_s[j] + (first ? c->first_s[j] : 0) + (last ? c->last_s[j] : 0) +
                (last ? 0 : prof_decoder_hop_s(hw, bytes, crosses));
        }
        d->prefill_pair_s[k] = n_layers * c->attention.prefill_pair_s;
        d->decode_token_s[k] = n_layers * c->attention.decode_token_s;
        d->iteration_s[k] = n_layers * c->attention.fixed_s;
        d->kv_bytes_per_token[k] = n_layers * prof_decoder_kv_bytes_per_token(a, op);
        d->act_bytes_per_token[k] = prof_decoder_act_bytes_per_token(a, op);
    }
    cfg->note = mx_strfmt("%s backend on %s", be->name, hw->name);
    free(bounds);
    free(extra);
    free(uniform);
}

static void config_release(struct spec_config *cfg)
{
    struct spec_decoder_cost *d = &cfg->decoder;
    free(d->tokens);
    free(d->dense_s);
    free(d->prefill_pair_s);
    free(d->decode_token_s);
    free(d->iteration_s);
    free(d->kv_bytes_per_token);
    free(d->act_bytes_per_token);
    free(cfg->weight_bytes);
    free(cfg->layer_ranges);
    free(cfg->note);
}

/* One iteration through every stage of cfg, seconds (docs/decoders.md with a stage factor of 1). */
static double iteration_s(const struct spec_config *cfg, double tokens, double pairs,
                          double context)
{
    double total = 0;
    for (uint32_t k = 0; k < (uint32_t)cfg->pp; k++)
        total += spec_decoder_dense_s(&cfg->decoder, k, tokens) +
                 cfg->decoder.prefill_pair_s[k] * pairs + cfg->decoder.decode_token_s[k] * context +
                 cfg->decoder.iteration_s[k];
    return total;
}

/* The reference config: the fewest devices whose weights fit a device's memory, more tensor
 * parallelism first; when none fits, the most devices. */
static const struct spec_config *reference_config(const struct spec_config *cfgs, size_t n,
                                                  const struct prof_hw *hw)
{
    const struct spec_config *best = NULL, *largest = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct spec_config *c = &cfgs[i];
        int64_t devices = (int64_t)c->op * c->pp, heaviest = 0;
        for (int32_t k = 0; k < c->pp; k++)
            heaviest = c->weight_bytes[k] > heaviest ? c->weight_bytes[k] : heaviest;
        if (!largest || devices > (int64_t)largest->op * largest->pp ||
            (devices == (int64_t)largest->op * largest->pp && c->op > largest->op))
            largest = c;
        if (heaviest > hw->mem_bytes)
            continue;
        if (!best || devices < (int64_t)best->op * best->pp ||
            (devices == (int64_t)best->op * best->pp && c->op > best->op))
            best = c;
    }
    return best ? best : largest;
}

int prof_build_decoder(struct spec_profile *db, const struct prof_arch *arch,
                       const struct prof_hw *hw, struct prof_backend *be,
                       const struct prof_decoder_grid *grid, json_t *raw)
{
    /* A backend that runs the model as the runtime does counts the bytes the runtime holds:
     * weights, KV cache, activations and what moves between devices at its element size (the
     * cpu backend's FP32), not the architecture's. */
    struct prof_arch held = *arch;
    const struct prof_arch *a = &held;
    if (be->time_decoder_pass)
        held.dtype_bytes = be->elem_bytes;
    if (!be->time_decoder_ops && !be->time_decoder_pass)
        return mx_error(MX_EUSAGE, "%s: the %s backend does not profile decoder models yet",
                        a->path, be->name);
    if (grid->n_tokens == 0 || grid->tokens[0] != 1)
        return mx_error(MX_EINPUT, "--tokens: the grid must start at 1");
    if (grid->tokens[grid->n_tokens - 1] < grid->max_batch_tokens)
        return mx_error(MX_EINPUT,
                        "--tokens: the grid ends at %d tokens, below --max-batch-tokens %lld: an "
                        "iteration of up to max_batch_tokens must be on it",
                        grid->tokens[grid->n_tokens - 1], (long long)grid->max_batch_tokens);
    if (be->time_decoder_pass && !be->decoder_attention)
        MX_BUG("backend %s times decoder passes without fitting their attention", be->name);
    if (!be->decoder_attention) {
        int rc = prof_hw_check_decoder(hw);
        if (rc < 0)
            return rc;
    }
    struct spec_config *cfgs = NULL;
    size_t n_cfgs = 0;
    json_t *degrees = json_array();
    int rc = MX_OK;
    for (uint32_t o = 0; rc == MX_OK && o < grid->n_ops; o++) {
        int op = grid->ops[o];
        bool fits;
        if ((rc = prof_build__op_fits(a, hw, op, grid->ops_given, &fits)) < 0 || !fits)
            continue;
        struct op_costs costs = {0};
        rc = time_grid(a, hw, be, grid, op, &costs, degrees);
        for (uint32_t p = 0; rc == MX_OK && p < grid->n_pps; p++) {
            if (grid->pps[p] > a->layers)
                continue;
            cfgs = mx_realloc_array(cfgs, n_cfgs + 1, sizeof(*cfgs));
            make_config(a, hw, be, grid, &costs, grid->pps[p], &cfgs[n_cfgs++]);
        }
        op_costs_release(&costs);
    }
    if (rc == MX_OK && n_cfgs == 0)
        rc = mx_error(MX_EINPUT,
                      "%s: no config of the grid fits (heads %lld, kv_heads %lld, ffn %lld, layers "
                      "%lld)",
                      a->path, (long long)a->heads, (long long)a->kv_heads, (long long)a->ffn,
                      (long long)a->layers);
    if (rc == MX_OK) {
        /* The reference prompt: 1024 tokens (half the context when that is shorter). */
        int64_t input = a->context_tokens / 2 < PROF_DECODER_PREFILL_CHUNK
                            ? a->context_tokens / 2
                            : PROF_DECODER_PREFILL_CHUNK;
        const struct spec_config *ref = reference_config(cfgs, n_cfgs, hw);
        double in = (double)input;
        struct spec_decoder_model info = {
            .context_tokens = (uint32_t)a->context_tokens,
            .reference_input_tokens = (uint32_t)input,
            .reference_ttft_s = iteration_s(ref, in, in * (in + 1) / 2, 0),
            .reference_tpot_s = iteration_s(ref, 1, 0, in + 1),
        };
        char place[160];
        snprintf(place, sizeof(place), "%s", a->name);
        if ((rc = spec_decoder_model_check(&info, place)) == MX_OK) {
            uint32_t model = spec_profile_add_decoder(db, a->name, &info);
            for (size_t i = 0; rc == MX_OK && i < n_cfgs; i++) {
                snprintf(place, sizeof(place), "%s (1, %d, %d)", a->name, cfgs[i].op, cfgs[i].pp);
                rc = spec_profile_add_config(db, model, &cfgs[i], place);
            }
        }
    }
    json_t *o = json_object();
    mx_json_set(o, "model", json_string(a->name));
    mx_json_set(o, "kind", json_string("decoder"));
    mx_json_set(o, "degrees", degrees);
    mx_json_append(raw, o);
    for (size_t i = 0; i < n_cfgs; i++)
        config_release(&cfgs[i]);
    free(cfgs);
    return rc;
}
