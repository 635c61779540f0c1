/* The HDF5 form of a profile DB ("muxplan-profile/1"):
 *
 *   /                      attributes format, hardware, provenance (JSON text, optional)
 *   /models/NAME/dpD_opO_ppP   attributes dp, op, pp, note (optional)
 *       batch            int32   [n_batches]
 *       stage_latency_s  float64 [n_batches, pp]
 *       weight_bytes     int64   [pp]
 *       act_bytes        int64   [n_batches, pp]   (optional)
 *       layer_ranges     int32   [pp, 2]           (optional)
 *
 * A decoder model's group says so (attributes kind "decoder", context_tokens,
 * reference_input_tokens, reference_ttft_s, reference_tpot_s) and its configs hold, instead of
 * batch, stage_latency_s and act_bytes (docs/decoders.md):
 *       tokens               int32   [n]
 *       dense_s              float64 [pp, n]
 *       prefill_pair_s, decode_token_s, iteration_s           float64 [pp]
 *       kv_bytes_per_token, act_bytes_per_token               int64   [pp]
 *
 * Models and configs keep the order they were written in. */
#include "spec_profile.h"
#include "spec_profile_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Read the dataset dir/name with the expected shape; absent optional ones leave *out NULL. */
static int read_shaped(const struct mx_h5 *h, const char *dir, const char *name,
                       enum mx_h5_type type, int rank, size_t rows, size_t cols, bool optional,
                       void **out)
{
    size_t dims[2] = {0, 0};
    char *path = mx_strfmt("%s/%s", dir, name);
    int rc = MX_OK;
    *out = NULL;
    if (!optional || mx_h5_exists(h, path))
        rc = mx_h5_read(h, path, type, rank, dims, out);
    if (rc == MX_OK && *out && (dims[0] != rows || (rank == 2 && dims[1] != cols))) {
        free(*out);
        *out = NULL;
        if (rank == 1)
            rc = mx_error(MX_EINPUT, "%s: %s: expected %zu values, got %zu", h->path, path, rows,
                          dims[0]);
        else
            rc = mx_error(MX_EINPUT, "%s: %s: expected shape [%zu, %zu], got [%zu, %zu]", h->path,
                          path, rows, cols, dims[0], dims[1]);
    }
    free(path);
    return rc;
}

/* A decoder config's tokens and costs, for pp stages. */
static int read_decoder_cost(const struct mx_h5 *h, const char *dir, size_t pp,
                             struct spec_decoder_cost *d)
{
    size_t dims[2];
    char *tokens_path = mx_strfmt("%s/tokens", dir);
    int rc = mx_h5_read(h, tokens_path, MX_H5_I32, 1, dims, (void **)&d->tokens);
    free(tokens_path);
    if (rc < 0)
        return rc;
    d->n_tokens = (uint32_t)dims[0];
    if ((rc = read_shaped(h, dir, "dense_s", MX_H5_F64, 2, pp, d->n_tokens, false,
                          (void **)&d->dense_s)) < 0 ||
        (rc = read_shaped(h, dir, "prefill_pair_s", MX_H5_F64, 1, pp, 0, false,
                          (void **)&d->prefill_pair_s)) < 0 ||
        (rc = read_shaped(h, dir, "decode_token_s", MX_H5_F64, 1, pp, 0, false,
                          (void **)&d->decode_token_s)) < 0 ||
        (rc = read_shaped(h, dir, "iteration_s", MX_H5_F64, 1, pp, 0, false,
                          (void **)&d->iteration_s)) < 0 ||
        (rc = read_shaped(h, dir, "kv_bytes_per_token", MX_H5_I64, 1, pp, 0, false,
                          (void **)&d->kv_bytes_per_token)) < 0)
        return rc;
    return read_shaped(h, dir, "act_bytes_per_token", MX_H5_I64, 1, pp, 0, false,
                       (void **)&d->act_bytes_per_token);
}

static int read_config(const struct mx_h5 *h, const char *dir, struct spec_profile *db,
                       uint32_t model)
{
    const bool decoder = spec_profile_model(db, model)->kind == SPEC_DECODER;
    struct spec_config cfg = {0};
    int64_t dp, op, pp;
    size_t dims[2];
    int rc;
    if ((rc = mx_h5_attr_read_i64(h, dir, "dp", &dp)) < 0 ||
        (rc = mx_h5_attr_read_i64(h, dir, "op", &op)) < 0 ||
        (rc = mx_h5_attr_read_i64(h, dir, "pp", &pp)) < 0)
        return rc;
    if (dp < 1 || op < 1 || pp < 1 || dp > 4096 || op > 4096 || pp > 4096)
        return mx_error(MX_EINPUT, "%s: %s: parallel config (%lld, %lld, %lld) is out of range",
                        h->path, dir, (long long)dp, (long long)op, (long long)pp);
    cfg.dp = (int32_t)dp;
    cfg.op = (int32_t)op;
    cfg.pp = (int32_t)pp;
    char *expect = mx_strfmt("dp%d_op%d_pp%d", cfg.dp, cfg.op, cfg.pp);
    if (strcmp(strrchr(dir, '/') + 1, expect) != 0)
        rc = mx_error(MX_EINPUT, "%s: %s: the group of config (%d, %d, %d) must be named %s",
                      h->path, dir, cfg.dp, cfg.op, cfg.pp, expect);
    free(expect);
    if (rc < 0)
        return rc;
    size_t nb = 0, stages = (size_t)pp;
    if (decoder) {
        if ((rc = read_decoder_cost(h, dir, stages, &cfg.decoder)) < 0)
            goto done;
    } else {
        char *batch_path = mx_strfmt("%s/batch", dir);
        rc = mx_h5_read(h, batch_path, MX_H5_I32, 1, dims, (void **)&cfg.batch);
        free(batch_path);
        if (rc < 0)
            goto done;
        cfg.n_batches = (uint32_t)dims[0];
        nb = dims[0];
        if ((rc = read_shaped(h, dir, "stage_latency_s", MX_H5_F64, 2, nb, stages, false,
                              (void **)&cfg.stage_latency_s)) < 0 ||
            (rc = read_shaped(h, dir, "act_bytes", MX_H5_I64, 2, nb, stages, true,
                              (void **)&cfg.act_bytes)) < 0)
            goto done;
    }
    if ((rc = read_shaped(h, dir, "weight_bytes", MX_H5_I64, 1, stages, 0, false,
                          (void **)&cfg.weight_bytes)) < 0 ||
        (rc = read_shaped(h, dir, "layer_ranges", MX_H5_I32, 2, stages, 2, true,
                          (void **)&cfg.layer_ranges)) < 0 ||
        (rc = mx_h5_attr_read_opt_str(h, dir, "note", &cfg.note)) < 0)
        goto done;
    char *place = mx_strfmt("%s: %s", h->path, dir);
    rc = spec_profile_add_config(db, model, &cfg, place);
    free(place);
done:
    free(cfg.batch);
    free(cfg.stage_latency_s);
    free(cfg.weight_bytes);
    free(cfg.act_bytes);
    free(cfg.layer_ranges);
    free(cfg.note);
    spec__decoder_cost_release(&cfg.decoder);
    return rc;
}

/* Add model dir (named name) to db: an encoder, or a decoder its attributes describe. */
static int add_model(const struct mx_h5 *h, const char *dir, const char *name,
                     struct spec_profile *db, uint32_t *model)
{
    char *kind = NULL;
    int rc = mx_h5_attr_read_opt_str(h, dir, "kind", &kind);
    if (rc < 0)
        return rc;
    if (!kind || strcmp(kind, "encoder") == 0) {
        free(kind);
        *model = spec_profile_add_model(db, name);
        return MX_OK;
    }
    if (strcmp(kind, "decoder") != 0) {
        rc = mx_error(MX_EINPUT, "%s: %s: kind \"%s\", expected encoder or decoder", h->path, dir,
                      kind);
        free(kind);
        return rc;
    }
    free(kind);
    int64_t context, reference;
    struct spec_decoder_model info;
    if ((rc = mx_h5_attr_read_i64(h, dir, "context_tokens", &context)) < 0 ||
        (rc = mx_h5_attr_read_i64(h, dir, "reference_input_tokens", &reference)) < 0 ||
        (rc = mx_h5_attr_read_f64(h, dir, "reference_ttft_s", &info.reference_ttft_s)) < 0 ||
        (rc = mx_h5_attr_read_f64(h, dir, "reference_tpot_s", &info.reference_tpot_s)) < 0)
        return rc;
    info.context_tokens = context > 0 && context <= UINT32_MAX ? (uint32_t)context : 0;
    info.reference_input_tokens =
        reference > 0 && reference <= UINT32_MAX ? (uint32_t)reference : 0;
    char *place = mx_strfmt("%s: %s", h->path, dir);
    rc = spec_decoder_model_check(&info, place);
    free(place);
    if (rc == MX_OK)
        *model = spec_profile_add_decoder(db, name, &info);
    return rc;
}

int spec_profile_read_h5(const char *path, struct spec_profile **out)
{
    struct mx_h5 h;
    struct spec_profile *db = NULL;
    char *hardware = NULL, *provenance = NULL;
    char **models = NULL;
    size_t n_models = 0;
    int rc;
    if ((rc = mx_h5_open(path, "profile", 1, &h)) < 0)
        return rc;
    if ((rc = mx_h5_attr_read_str(&h, "/", "hardware", &hardware)) < 0 ||
        (rc = mx_h5_attr_read_opt_str(&h, "/", "provenance", &provenance)) < 0 ||
        (rc = mx_h5_list(&h, "/models", &n_models, &models)) < 0)
        goto done;
    db = spec_profile_new(hardware);
    spec_profile_set_provenance(db, provenance);
    if (n_models == 0) {
        rc = mx_error(MX_EINPUT, "%s: /models: no models", path);
        goto done;
    }
    for (size_t m = 0; rc == MX_OK && m < n_models; m++) {
        char **configs = NULL;
        size_t n_configs = 0;
        char *dir = mx_strfmt("/models/%s", models[m]);
        uint32_t model = 0;
        if ((rc = mx_h5_list(&h, dir, &n_configs, &configs)) == MX_OK &&
            (rc = add_model(&h, dir, models[m], db, &model)) == MX_OK) {
            for (size_t c = 0; rc == MX_OK && c < n_configs; c++) {
                char *config_dir = mx_strfmt("%s/%s", dir, configs[c]);
                rc = read_config(&h, config_dir, db, model);
                free(config_dir);
            }
            if (rc == MX_OK && n_configs == 0)
                rc = mx_error(MX_EINPUT, "%s: %s: no configs", path, dir);
        }
        free_names(configs, n_configs);
        free(dir);
    }
    if (rc < 0)
        goto done;
    *out = db;
    db = NULL;
done:
    free_names(models, n_models);
    free(hardware);
    free(provenance);
    spec_profile_free(db);
    mx_h5_abort(&h);
    return rc;
}

/* Write one dataset named dir/name. */
static int write_named(struct mx_h5 *h, const char *dir, const char *name, enum mx_h5_type type,
                       int rank, size_t rows, size_t cols, const void *data)
{
    char *path = mx_strfmt("%s/%s", dir, name);
    int rc = mx_h5_write(h, path, type, rank, (size_t[2]){rows, cols}, data);
    free(path);
    return rc;
}

static int write_config(struct mx_h5 *h, const char *model_dir, const struct spec_config *cfg)
{
    size_t nb = cfg->n_batches, pp = (size_t)cfg->pp;
    char *dir = mx_strfmt("%s/dp%d_op%d_pp%d", model_dir, cfg->dp, cfg->op, cfg->pp);
    int rc = mx_h5_group(h, dir);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, dir, "dp", cfg->dp);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, dir, "op", cfg->op);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, dir, "pp", cfg->pp);
    if (rc == MX_OK && cfg->note)
        rc = mx_h5_attr_write_str(h, dir, "note", cfg->note);
    const struct spec_decoder_cost *d = &cfg->decoder;
    if (rc == MX_OK && d->n_tokens) {
        rc = write_named(h, dir, "tokens", MX_H5_I32, 1, d->n_tokens, 0, d->tokens);
        if (rc == MX_OK)
            rc = write_named(h, dir, "dense_s", MX_H5_F64, 2, pp, d->n_tokens, d->dense_s);
        if (rc == MX_OK)
            rc = write_named(h, dir, "prefill_pair_s", MX_H5_F64, 1, pp, 0, d->prefill_pair_s);
        if (rc == MX_OK)
            rc = write_named(h, dir, "decode_token_s", MX_H5_F64, 1, pp, 0, d->decode_token_s);
        if (rc == MX_OK)
            rc = write_named(h, dir, "iteration_s", MX_H5_F64, 1, pp, 0, d->iteration_s);
        if (rc == MX_OK)
            rc = write_named(h, dir, "kv_bytes_per_token", MX_H5_I64, 1, pp, 0,
                             d->kv_bytes_per_token);
        if (rc == MX_OK)
            rc = write_named(h, dir, "act_bytes_per_token", MX_H5_I64, 1, pp, 0,
                             d->act_bytes_per_token);
    }
    if (rc == MX_OK && nb)
        rc = write_named(h, dir, "batch", MX_H5_I32, 1, nb, 0, cfg->batch);
    if (rc == MX_OK && nb)
        rc = write_named(h, dir, "stage_latency_s", MX_H5_F64, 2, nb, pp, cfg->stage_latency_s);
    if (rc == MX_OK)
        rc = write_named(h, dir, "weight_bytes", MX_H5_I64, 1, pp, 0, cfg->weight_bytes);
    if (rc == MX_OK && cfg->act_bytes)
        rc = write_named(h, dir, "act_bytes", MX_H5_I64, 2, nb, pp, cfg->act_bytes);
    if (rc == MX_OK && cfg->layer_ranges)
        rc = write_named(h, dir, "layer_ranges", MX_H5_I32, 2, pp, 2, cfg->layer_ranges);
    free(dir);
    return rc;
}

static int write_decoder_model(struct mx_h5 *h, const char *dir,
                               const struct spec_decoder_model *info)
{
    int rc = mx_h5_attr_write_str(h, dir, "kind", "decoder");
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, dir, "context_tokens", info->context_tokens);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_i64(h, dir, "reference_input_tokens", info->reference_input_tokens);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_f64(h, dir, "reference_ttft_s", info->reference_ttft_s);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_f64(h, dir, "reference_tpot_s", info->reference_tpot_s);
    return rc;
}

int spec_profile_write_h5(const struct spec_profile *db, const char *path)
{
    struct mx_h5 h;
    int rc;
    if ((rc = mx_h5_create(path, "profile", 1, &h)) < 0)
        return rc;
    if ((rc = mx_h5_attr_write_str(&h, "/", "hardware", spec_profile_hardware(db))) < 0)
        goto fail;
    if (spec_profile_provenance(db) &&
        (rc = mx_h5_attr_write_str(&h, "/", "provenance", spec_profile_provenance(db))) < 0)
        goto fail;
    if ((rc = mx_h5_group(&h, "/models")) < 0)
        goto fail;
    for (uint32_t m = 0; m < spec_profile_model_count(db); m++) {
        const struct spec_profile_model *model = spec_profile_model(db, m);
        char *dir = mx_strfmt("/models/%s", model->name);
        rc = mx_h5_group(&h, dir);
        if (rc == MX_OK && model->kind == SPEC_DECODER)
            rc = write_decoder_model(&h, dir, &model->decoder);
        for (uint32_t c = 0; rc == MX_OK && c < model->n_configs; c++)
            rc = write_config(&h, dir, &model->configs[c]);
        free(dir);
        if (rc < 0)
            goto fail;
    }
    return mx_h5_close(&h);
fail:
    mx_h5_abort(&h);
    return rc;
}
