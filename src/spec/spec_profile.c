/* The in-memory profile DB: building, validating and looking up configs. The two file forms
 * (spec_profile_json.c, spec_profile_h5.c) both fill a DB through spec_profile_add_config(), so one
 * validator guards every way in. */
#include "spec_profile.h"
#include "spec_profile_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spec_profile {
    char *hardware;
    char *provenance;
    uint32_t n_models, cap_models;
    struct spec_profile_model *models;
};

struct spec_profile *spec_profile_new(const char *hardware)
{
    struct spec_profile *db = MX_NEW(struct spec_profile);
    db->hardware = mx_strdup(hardware);
    return db;
}

void spec__decoder_cost_release(struct spec_decoder_cost *d)
{
    free(d->tokens);
    free(d->dense_s);
    free(d->prefill_pair_s);
    free(d->decode_token_s);
    free(d->iteration_s);
    free(d->kv_bytes_per_token);
    free(d->act_bytes_per_token);
}

static void config_release(struct spec_config *cfg)
{
    spec__decoder_cost_release(&cfg->decoder);
    free(cfg->batch);
    free(cfg->stage_latency_s);
    free(cfg->act_bytes);
    free(cfg->weight_bytes);
    free(cfg->layer_ranges);
    free(cfg->note);
}

void spec_profile_free(struct spec_profile *db)
{
    if (!db)
        return;
    for (uint32_t m = 0; m < db->n_models; m++) {
        for (uint32_t c = 0; c < db->models[m].n_configs; c++)
            config_release(&db->models[m].configs[c]);
        free(db->models[m].configs);
        free(db->models[m].name);
    }
    free(db->models);
    free(db->hardware);
    free(db->provenance);
    free(db);
}

bool spec_profile_name_valid(const char *name)
{
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c == '/' || *c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

uint32_t spec_profile_add_model(struct spec_profile *db, const char *name)
{
    if (spec_profile_find_model(db, name))
        MX_BUG("model %s added twice", name);
    if (db->n_models == db->cap_models) {
        db->cap_models = db->cap_models ? 2 * db->cap_models : 8;
        db->models = mx_realloc_array(db->models, db->cap_models, sizeof(*db->models));
    }
    struct spec_profile_model *m = &db->models[db->n_models];
    memset(m, 0, sizeof(*m));
    m->name = mx_strdup(name);
    return db->n_models++;
}

uint32_t spec_profile_add_decoder(struct spec_profile *db, const char *name,
                                  const struct spec_decoder_model *info)
{
    uint32_t m = spec_profile_add_model(db, name);
    db->models[m].kind = SPEC_DECODER;
    db->models[m].decoder = *info;
    return m;
}

int spec_decoder_model_check(const struct spec_decoder_model *info, const char *place)
{
    if (info->context_tokens < 2 || info->context_tokens > SPEC_MAX_CONTEXT_TOKENS)
        return mx_error(MX_EINPUT, "%s: context_tokens is %u, expected 2 to %u", place,
                        info->context_tokens, SPEC_MAX_CONTEXT_TOKENS);
    if (info->reference_input_tokens < 1 || info->reference_input_tokens >= info->context_tokens)
        return mx_error(MX_EINPUT,
                        "%s: reference_input_tokens is %u, expected 1 to context_tokens - 1 (%u)",
                        place, info->reference_input_tokens, info->context_tokens - 1);
    if (!(isfinite(info->reference_ttft_s) && info->reference_ttft_s > 0 &&
          info->reference_ttft_s < 1e6) ||
        !(isfinite(info->reference_tpot_s) && info->reference_tpot_s > 0 &&
          info->reference_tpot_s < 1e6))
        return mx_error(MX_EINPUT,
                        "%s: reference_ttft_s and reference_tpot_s must be positive seconds (got "
                        "%g and %g)",
                        place, info->reference_ttft_s, info->reference_tpot_s);
    return MX_OK;
}

double spec_decoder_dense_s(const struct spec_decoder_cost *cost, uint32_t s, double tokens)
{
    const double *d = cost->dense_s + (size_t)s * cost->n_tokens;
    const int32_t *t = cost->tokens;
    uint32_t n = cost->n_tokens;
    if (n == 1)
        return d[0];
    uint32_t j = 0;
    while (j + 2 < n && tokens > t[j + 1])
        j++;
    if (tokens == t[j + 1])
        return d[j + 1];
    return d[j] + (d[j + 1] - d[j]) * (tokens - t[j]) / (double)(t[j + 1] - t[j]);
}

/* A decoder config: its token grid, positive finite costs, and bytes in range. */
static int validate_decoder_cost(const struct spec_config *cfg, const char *place)
{
    const struct spec_decoder_cost *d = &cfg->decoder;
    if (cfg->n_batches != 0)
        return mx_error(MX_EINPUT, "%s: a decoder's configs give tokens, not batches", place);
    if (d->n_tokens == 0 || d->tokens[0] != 1)
        return mx_error(MX_EINPUT, "%s: tokens must start at 1", place);
    for (uint32_t j = 1; j < d->n_tokens; j++)
        if (d->tokens[j] <= d->tokens[j - 1])
            return mx_error(MX_EINPUT, "%s: tokens must be strictly ascending (%d after %d)", place,
                            d->tokens[j], d->tokens[j - 1]);
    for (int32_t k = 0; k < cfg->pp; k++) {
        for (uint32_t j = 0; j < d->n_tokens; j++) {
            double v = d->dense_s[(size_t)k * d->n_tokens + j];
            if (!(isfinite(v) && v > 0 && v < 1e6))
                return mx_error(MX_EINPUT,
                                "%s: dense_s[%d][%u] is %g, expected a positive number of seconds",
                                place, k, j, v);
        }
        const double coef[3] = {d->prefill_pair_s[k], d->decode_token_s[k], d->iteration_s[k]};
        static const char *const coef_names[3] = {"prefill_pair_s", "decode_token_s",
                                                  "iteration_s"};
        for (int c = 0; c < 3; c++)
            if (!(isfinite(coef[c]) && coef[c] >= 0 && coef[c] < 1e6))
                return mx_error(MX_EINPUT, "%s: %s[%d] is %g, expected 0 or more seconds", place,
                                coef_names[c], k, coef[c]);
        if (d->kv_bytes_per_token[k] < 0 || d->kv_bytes_per_token[k] > SPEC_MAX_BYTES ||
            d->act_bytes_per_token[k] < 0 || d->act_bytes_per_token[k] > SPEC_MAX_BYTES)
            return mx_error(MX_EINPUT,
                            "%s: kv_bytes_per_token[%d] and act_bytes_per_token[%d] must be 0 to "
                            "2^50 bytes",
                            place, k, k);
    }
    return MX_OK;
}

/* The weight bytes and layer ranges every config has. */
static int validate_layout(const struct spec_config *cfg, const char *place)
{
    for (int32_t k = 0; k < cfg->pp; k++)
        if (cfg->weight_bytes[k] < 0 || cfg->weight_bytes[k] > SPEC_MAX_BYTES)
            return mx_error(MX_EINPUT, "%s: weight_bytes[%d] is %lld, expected 0 to 2^50 bytes",
                            place, k, (long long)cfg->weight_bytes[k]);
    if (cfg->layer_ranges) {
        for (int32_t k = 0; k < cfg->pp; k++) {
            int32_t first = cfg->layer_ranges[2 * k], end = cfg->layer_ranges[2 * k + 1];
            int32_t expect = k == 0 ? 0 : cfg->layer_ranges[2 * k - 1];
            if (first != expect || end <= first)
                return mx_error(MX_EINPUT,
                                "%s: layer_ranges[%d] is [%d, %d), expected contiguous non-empty "
                                "ranges starting at layer %d",
                                place, k, first, end, expect);
        }
    }
    return MX_OK;
}

static int validate_config(const struct spec_config *cfg, enum spec_model_kind kind,
                           const char *place)
{
    if (cfg->dp < 1 || cfg->op < 1 || cfg->pp < 1 || cfg->dp > 4096 || cfg->op > 4096 ||
        cfg->pp > 4096)
        return mx_error(MX_EINPUT,
                        "%s: parallel config (%d, %d, %d) must have each degree in [1, 4096]",
                        place, cfg->dp, cfg->op, cfg->pp);
    int rc = validate_layout(cfg, place);
    if (rc < 0 || kind == SPEC_DECODER)
        return rc < 0 ? rc : validate_decoder_cost(cfg, place);
    if (cfg->decoder.n_tokens != 0)
        return mx_error(MX_EINPUT, "%s: an encoder's configs give batches, not tokens", place);
    if (cfg->n_batches == 0)
        return mx_error(MX_EINPUT, "%s: no batch sizes", place);
    if (cfg->batch[0] != 1)
        return mx_error(MX_EINPUT, "%s: batch sizes must include 1 (the smallest is %d)", place,
                        cfg->batch[0]);
    for (uint32_t b = 1; b < cfg->n_batches; b++)
        if (cfg->batch[b] <= cfg->batch[b - 1])
            return mx_error(MX_EINPUT, "%s: batch sizes must be strictly ascending (%d after %d)",
                            place, cfg->batch[b], cfg->batch[b - 1]);
    for (uint32_t b = 0; b < cfg->n_batches; b++) {
        const double *lat = spec_config_latency(cfg, b);
        for (int32_t k = 0; k < cfg->pp; k++) {
            if (!(isfinite(lat[k]) && lat[k] > 0 && lat[k] < 1e6))
                return mx_error(MX_EINPUT,
                                "%s: batch %d: stage_latency_s[%d] is %g, expected a positive "
                                "number of seconds",
                                place, cfg->batch[b], k, lat[k]);
            int64_t act =
                cfg->act_bytes ? cfg->act_bytes[(uint64_t)b * (uint32_t)cfg->pp + (uint32_t)k] : 0;
            if (act < 0 || act > SPEC_MAX_BYTES)
                return mx_error(MX_EINPUT,
                                "%s: batch %d: act_bytes[%d] is %lld, expected 0 to 2^50 bytes",
                                place, cfg->batch[b], k, (long long)act);
        }
    }
    return MX_OK;
}

static void *copy_of(const void *src, size_t n, size_t size)
{
    if (!src)
        return NULL;
    void *dst = mx_malloc_array(n, size);
    memcpy(dst, src, n * size);
    return dst;
}

int spec_profile_add_config(struct spec_profile *db, uint32_t model, const struct spec_config *cfg,
                            const char *place)
{
    struct spec_profile_model *m = &db->models[model];
    int rc = validate_config(cfg, m->kind, place);
    if (rc < 0)
        return rc;
    if (spec_profile_find(db, m->name, cfg->dp, cfg->op, cfg->pp))
        return mx_error(MX_EINPUT, "%s: %s has config (%d, %d, %d) twice", place, m->name, cfg->dp,
                        cfg->op, cfg->pp);
    m->configs = mx_realloc_array(m->configs, m->n_configs + 1, sizeof(*m->configs));
    struct spec_config *c = &m->configs[m->n_configs++];
    size_t cells = (size_t)cfg->n_batches * (size_t)cfg->pp;
    *c = (struct spec_config){
        .dp = cfg->dp,
        .op = cfg->op,
        .pp = cfg->pp,
        .n_batches = cfg->n_batches,
        .batch = copy_of(cfg->batch, cfg->n_batches, sizeof(int32_t)),
        .stage_latency_s = copy_of(cfg->stage_latency_s, cells, sizeof(double)),
        .act_bytes = copy_of(cfg->act_bytes, cells, sizeof(int64_t)),
        .weight_bytes = copy_of(cfg->weight_bytes, (size_t)cfg->pp, sizeof(int64_t)),
        .layer_ranges = copy_of(cfg->layer_ranges, 2 * (size_t)cfg->pp, sizeof(int32_t)),
        .note = cfg->note ? mx_strdup(cfg->note) : NULL,
    };
    const struct spec_decoder_cost *d = &cfg->decoder;
    size_t pp = (size_t)cfg->pp;
    if (d->n_tokens)
        c->decoder = (struct spec_decoder_cost){
            .n_tokens = d->n_tokens,
            .tokens = copy_of(d->tokens, d->n_tokens, sizeof(int32_t)),
            .dense_s = copy_of(d->dense_s, pp * d->n_tokens, sizeof(double)),
            .prefill_pair_s = copy_of(d->prefill_pair_s, pp, sizeof(double)),
            .decode_token_s = copy_of(d->decode_token_s, pp, sizeof(double)),
            .iteration_s = copy_of(d->iteration_s, pp, sizeof(double)),
            .kv_bytes_per_token = copy_of(d->kv_bytes_per_token, pp, sizeof(int64_t)),
            .act_bytes_per_token = copy_of(d->act_bytes_per_token, pp, sizeof(int64_t)),
        };
    return MX_OK;
}

void spec_profile_set_provenance(struct spec_profile *db, const char *json_text)
{
    free(db->provenance);
    db->provenance = json_text ? mx_strdup(json_text) : NULL;
}

const char *spec_profile_provenance(const struct spec_profile *db)
{
    return db->provenance;
}

const char *spec_profile_hardware(const struct spec_profile *db)
{
    return db->hardware;
}

uint32_t spec_profile_model_count(const struct spec_profile *db)
{
    return db->n_models;
}

const struct spec_profile_model *spec_profile_model(const struct spec_profile *db, uint32_t index)
{
    return index < db->n_models ? &db->models[index] : NULL;
}

const struct spec_profile_model *spec_profile_find_model(const struct spec_profile *db,
                                                         const char *name)
{
    for (uint32_t m = 0; m < db->n_models; m++)
        if (strcmp(db->models[m].name, name) == 0)
            return &db->models[m];
    return NULL;
}

const struct spec_config *spec_profile_find(const struct spec_profile *db, const char *name,
                                            int32_t dp, int32_t op, int32_t pp)
{
    const struct spec_profile_model *m = spec_profile_find_model(db, name);
    if (!m)
        return NULL;
    for (uint32_t c = 0; c < m->n_configs; c++)
        if (m->configs[c].dp == dp && m->configs[c].op == op && m->configs[c].pp == pp)
            return &m->configs[c];
    return NULL;
}

double spec_profile_single_device_latency_s(const struct spec_profile *db, const char *name)
{
    const struct spec_config *cfg = spec_profile_find(db, name, 1, 1, 1);
    return cfg && cfg->n_batches ? cfg->stage_latency_s[0] : -1.0;
}

int spec_profile_load(const char *path, struct spec_profile **out)
{
    static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    int rc = mx_input_check(path);
    if (rc < 0)
        return rc;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mx_error(MX_EINPUT, "%s: cannot open", path);
    size_t got = fread(head, 1, sizeof(head), fp);
    /* JSON starts with '{' after white space; anything else is neither form. */
    int c = ' ';
    rewind(fp);
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        c = fgetc(fp);
    fclose(fp);
    if (got == sizeof(head) && memcmp(head, hdf5_signature, sizeof(head)) == 0)
        return spec_profile_read_h5(path, out);
    if (c == EOF)
        return mx_error(MX_EINPUT, "%s: not a profile DB: the file is empty", path);
    if (c != '{')
        return mx_error(MX_EINPUT,
                        "%s: not a profile DB: neither HDF5 (no HDF5 signature) nor JSON (no '{' "
                        "first)",
                        path);
    return spec_profile_read_json(path, out);
}
