/* The hand-written JSON form of a profile DB ("muxplan-profile/1"):
 *
 *   {"format": "muxplan-profile/1", "hardware": "v100-16gb", "provenance": {...},
 *    "models": [{"name": "bert-1.3b", "configs": [{"dp": 1, "op": 1, "pp": 2,
 *       "weight_bytes": [w0, w1], "layer_ranges": [[0, 12], [12, 24]], "note": "...",
 *       "batches": [{"batch": 1, "stage_latency_s": [l0, l1], "act_bytes": [a0, a1]}]}]}]}
 *
 * provenance, layer_ranges, note and act_bytes are optional; act_bytes must be given for every
 * batch of a config or for none. A decoder model (docs/decoders.md) says so and gives tokens and
 * costs per stage instead of batches:
 *
 *    {"name": "llama-2-7b", "kind": "decoder", "context_tokens": 4096,
 *     "reference_input_tokens": 1024, "reference_ttft_s": 0.1, "reference_tpot_s": 0.012,
 *     "configs": [{"dp": 1, "op": 1, "pp": 1, "weight_bytes": [w], "kv_bytes_per_token": [k],
 *       "act_bytes_per_token": [a], "tokens": [1, 2, 4], "dense_s": [[d1, d2, d4]],
 *       "prefill_pair_s": [p], "decode_token_s": [t], "iteration_s": [c]}]} */
#include "spec_profile.h"
#include "spec_profile_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <stdlib.h>
#include <string.h>

/* An array of exactly n numbers into out (doubles or int64 by which pointer is set). */
static int read_vector(const struct mx_jpath *at, json_t *obj, const char *key, size_t n,
                       double *f64, int64_t *i64)
{
    json_t *array;
    size_t len;
    struct mx_jpath ap = mx_jpath_key(at, key);
    int rc = mx_json_get(at, obj, key, &array);
    if (rc == MX_OK)
        rc = mx_json_expect_array(&ap, array, 0, &len);
    if (rc == MX_OK && len != n)
        rc = mx_jpath_error(&ap, "expected %zu values (one per stage), got %zu", n, len);
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        struct mx_jpath ep = mx_jpath_index(&ap, i);
        json_t *v = json_array_get(array, i);
        rc = f64 ? mx_json_to_f64(&ep, v, -1e300, 1e300, &f64[i])
                 : mx_json_to_i64(&ep, v, INT64_MIN, INT64_MAX, &i64[i]);
    }
    return rc;
}

static int read_layer_ranges(const struct mx_jpath *at, json_t *obj, int32_t pp, int32_t **out)
{
    json_t *array = json_object_get(obj, "layer_ranges");
    size_t len;
    struct mx_jpath ap = mx_jpath_key(at, "layer_ranges");
    *out = NULL;
    if (!array)
        return MX_OK;
    int rc = mx_json_expect_array(&ap, array, 0, &len);
    if (rc == MX_OK && len != (size_t)pp)
        rc = mx_jpath_error(&ap, "expected %d ranges (one per stage), got %zu", pp, len);
    int32_t *ranges = MX_NEW_ARRAY(int32_t, 2 * (size_t)pp);
    for (size_t k = 0; rc == MX_OK && k < len; k++) {
        struct mx_jpath rp = mx_jpath_index(&ap, k);
        json_t *pair = json_array_get(array, k);
        size_t pair_len;
        rc = mx_json_expect_array(&rp, pair, 2, &pair_len);
        if (rc == MX_OK && pair_len != 2)
            rc = mx_jpath_error(&rp, "expected [first, end]");
        for (size_t j = 0; rc == MX_OK && j < 2; j++) {
            struct mx_jpath vp = mx_jpath_index(&rp, j);
            int64_t v;
            rc = mx_json_to_i64(&vp, json_array_get(pair, j), 0, INT32_MAX, &v);
            ranges[2 * k + j] = (int32_t)v;
        }
    }
    if (rc < 0) {
        free(ranges);
        return rc;
    }
    *out = ranges;
    return MX_OK;
}

static int read_batches(const struct mx_jpath *at, json_t *obj, struct spec_config *cfg)
{
    static const char *const keys[] = {"batch", "stage_latency_s", "act_bytes", NULL};
    json_t *array;
    size_t n;
    struct mx_jpath ap = mx_jpath_key(at, "batches");
    int rc = mx_json_get(at, obj, "batches", &array);
    if (rc == MX_OK)
        rc = mx_json_expect_array(&ap, array, 1, &n);
    if (rc < 0)
        return rc;
    size_t pp = (size_t)cfg->pp;
    cfg->n_batches = (uint32_t)n;
    cfg->batch = MX_NEW_ARRAY(int32_t, n);
    cfg->stage_latency_s = MX_NEW_ARRAY(double, n *pp);
    bool with_act = json_object_get(json_array_get(array, 0), "act_bytes") != NULL;
    if (with_act)
        cfg->act_bytes = MX_NEW_ARRAY(int64_t, n * pp);
    for (size_t b = 0; rc == MX_OK && b < n; b++) {
        struct mx_jpath bp = mx_jpath_index(&ap, b);
        json_t *entry = json_array_get(array, b);
        int64_t batch;
        if ((rc = mx_json_expect_object(&bp, entry)) < 0 ||
            (rc = mx_json_check_keys(&bp, entry, keys)) < 0 ||
            (rc = mx_json_get_i64(&bp, entry, "batch", 1, 1 << 20, &batch)) < 0 ||
            (rc = read_vector(&bp, entry, "stage_latency_s", pp, cfg->stage_latency_s + b * pp,
                              NULL)) < 0)
            break;
        cfg->batch[b] = (int32_t)batch;
        bool has_act = json_object_get(entry, "act_bytes") != NULL;
        if (has_act != with_act) {
            rc = mx_jpath_error(&bp, "act_bytes must be given for every batch or for none");
            break;
        }
        if (with_act)
            rc = read_vector(&bp, entry, "act_bytes", pp, NULL, cfg->act_bytes + b * pp);
    }
    return rc;
}

/* A decoder config's tokens and costs (docs/decoders.md). */
static int read_decoder_cost(const struct mx_jpath *at, json_t *obj, struct spec_config *cfg)
{
    struct spec_decoder_cost *d = &cfg->decoder;
    size_t pp = (size_t)cfg->pp, n;
    json_t *tokens, *dense;
    struct mx_jpath tp = mx_jpath_key(at, "tokens"), dp = mx_jpath_key(at, "dense_s");
    int rc;
    if ((rc = mx_json_get(at, obj, "tokens", &tokens)) < 0 ||
        (rc = mx_json_expect_array(&tp, tokens, 1, &n)) < 0)
        return rc;
    d->n_tokens = (uint32_t)n;
    d->tokens = MX_NEW_ARRAY(int32_t, n);
    d->dense_s = MX_NEW_ARRAY(double, pp *n);
    d->prefill_pair_s = MX_NEW_ARRAY(double, pp);
    d->decode_token_s = MX_NEW_ARRAY(double, pp);
    d->iteration_s = MX_NEW_ARRAY(double, pp);
    d->kv_bytes_per_token = MX_NEW_ARRAY(int64_t, pp);
    d->act_bytes_per_token = MX_NEW_ARRAY(int64_t, pp);
    for (size_t j = 0; rc == MX_OK && j < n; j++) {
        struct mx_jpath jp = mx_jpath_index(&tp, j);
        int64_t t;
        rc = mx_json_to_i64(&jp, json_array_get(tokens, j), 1, 1 << 24, &t);
        d->tokens[j] = (int32_t)t;
    }
    size_t rows;
    if (rc == MX_OK && (rc = mx_json_get(at, obj, "dense_s", &dense)) == MX_OK &&
        (rc = mx_json_expect_array(&dp, dense, 0, &rows)) == MX_OK && rows != pp)
        rc = mx_jpath_error(&dp, "expected %zu rows (one per stage), got %zu", pp, rows);
    for (size_t k = 0; rc == MX_OK && k < pp; k++) {
        struct mx_jpath kp = mx_jpath_index(&dp, k);
        json_t *row = json_array_get(dense, k);
        size_t len;
        if ((rc = mx_json_expect_array(&kp, row, 0, &len)) == MX_OK && len != n)
            rc = mx_jpath_error(&kp, "expected %zu values (one per token count), got %zu", n, len);
        for (size_t j = 0; rc == MX_OK && j < n; j++) {
            struct mx_jpath jp = mx_jpath_index(&kp, j);
            rc = mx_json_to_f64(&jp, json_array_get(row, j), -1e300, 1e300, &d->dense_s[k * n + j]);
        }
    }
    if (rc == MX_OK &&
        ((rc = read_vector(at, obj, "prefill_pair_s", pp, d->prefill_pair_s, NULL)) < 0 ||
         (rc = read_vector(at, obj, "decode_token_s", pp, d->decode_token_s, NULL)) < 0 ||
         (rc = read_vector(at, obj, "iteration_s", pp, d->iteration_s, NULL)) < 0 ||
         (rc = read_vector(at, obj, "kv_bytes_per_token", pp, NULL, d->kv_bytes_per_token)) < 0 ||
         (rc = read_vector(at, obj, "act_bytes_per_token", pp, NULL, d->act_bytes_per_token)) < 0))
        return rc;
    return rc;
}

static int read_config(const struct mx_jpath *at, json_t *obj, struct spec_profile *db,
                       uint32_t model)
{
    static const char *const keys[] = {"dp",      "op",           "pp",   "weight_bytes",
                                       "batches", "layer_ranges", "note", NULL};
    static const char *const decoder_keys[] = {"dp",
                                               "op",
                                               "pp",
                                               "weight_bytes",
                                               "layer_ranges",
                                               "note",
                                               "tokens",
                                               "dense_s",
                                               "prefill_pair_s",
                                               "decode_token_s",
                                               "iteration_s",
                                               "kv_bytes_per_token",
                                               "act_bytes_per_token",
                                               NULL};
    const bool decoder = spec_profile_model(db, model)->kind == SPEC_DECODER;
    struct spec_config cfg = {0};
    int64_t dp, op, pp;
    const char *note = NULL;
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 ||
        (rc = mx_json_check_keys(at, obj, decoder ? decoder_keys : keys)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "dp", 1, 4096, &dp)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "op", 1, 4096, &op)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "pp", 1, 4096, &pp)) < 0 ||
        (rc = mx_json_opt_str(at, obj, "note", &note, NULL)) < 0)
        return rc;
    cfg.dp = (int32_t)dp;
    cfg.op = (int32_t)op;
    cfg.pp = (int32_t)pp;
    cfg.note = (char *)note;
    cfg.weight_bytes = MX_NEW_ARRAY(int64_t, (size_t)pp);
    if ((rc = read_vector(at, obj, "weight_bytes", (size_t)pp, NULL, cfg.weight_bytes)) == MX_OK &&
        (rc = read_layer_ranges(at, obj, cfg.pp, &cfg.layer_ranges)) == MX_OK &&
        (rc = decoder ? read_decoder_cost(at, obj, &cfg) : read_batches(at, obj, &cfg)) == MX_OK) {
        char place[640];
        mx_jpath_describe(at, place, sizeof(place));
        rc = spec_profile_add_config(db, model, &cfg, place);
    }
    cfg.note = NULL; /* borrowed from the document */
    free(cfg.batch);
    free(cfg.stage_latency_s);
    free(cfg.act_bytes);
    free(cfg.weight_bytes);
    free(cfg.layer_ranges);
    spec__decoder_cost_release(&cfg.decoder);
    return rc;
}

/* A model entry's kind, and a decoder's description: the model's index in db. */
static int add_model(const struct mx_jpath *at, json_t *entry, const char *name,
                     struct spec_profile *db, uint32_t *model)
{
    const char *kind = "encoder";
    int rc = mx_json_opt_str(at, entry, "kind", &kind, NULL);
    if (rc < 0)
        return rc;
    if (strcmp(kind, "encoder") == 0) {
        *model = spec_profile_add_model(db, name);
        return MX_OK;
    }
    if (strcmp(kind, "decoder") != 0) {
        struct mx_jpath kp = mx_jpath_key(at, "kind");
        return mx_jpath_error(&kp, "expected \"encoder\" or \"decoder\", got \"%s\"", kind);
    }
    int64_t context, reference;
    struct spec_decoder_model info;
    if ((rc = mx_json_get_i64(at, entry, "context_tokens", 2, SPEC_MAX_CONTEXT_TOKENS, &context)) <
            0 ||
        (rc = mx_json_get_i64(at, entry, "reference_input_tokens", 1, SPEC_MAX_CONTEXT_TOKENS,
                              &reference)) < 0 ||
        (rc = mx_json_get_f64(at, entry, "reference_ttft_s", 1e-12, 1e6, &info.reference_ttft_s)) <
            0 ||
        (rc = mx_json_get_f64(at, entry, "reference_tpot_s", 1e-12, 1e6, &info.reference_tpot_s)) <
            0)
        return rc;
    info.context_tokens = (uint32_t)context;
    info.reference_input_tokens = (uint32_t)reference;
    char place[640];
    mx_jpath_describe(at, place, sizeof(place));
    if ((rc = spec_decoder_model_check(&info, place)) < 0)
        return rc;
    *model = spec_profile_add_decoder(db, name, &info);
    return MX_OK;
}

static int read_models(const struct mx_jpath *root, json_t *doc, struct spec_profile *db)
{
    static const char *const keys[] = {"name",
                                       "kind",
                                       "context_tokens",
                                       "reference_input_tokens",
                                       "reference_ttft_s",
                                       "reference_tpot_s",
                                       "configs",
                                       NULL};
    json_t *models;
    size_t n;
    struct mx_jpath mp = mx_jpath_key(root, "models");
    int rc = mx_json_get(root, doc, "models", &models);
    if (rc == MX_OK)
        rc = mx_json_expect_array(&mp, models, 1, &n);
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        struct mx_jpath ip = mx_jpath_index(&mp, i);
        json_t *entry = json_array_get(models, i);
        const char *name;
        json_t *configs;
        size_t n_configs;
        if ((rc = mx_json_expect_object(&ip, entry)) < 0 ||
            (rc = mx_json_check_keys(&ip, entry, keys)) < 0 ||
            (rc = mx_json_get_str(&ip, entry, "name", &name)) < 0)
            break;
        if (!spec_profile_name_valid(name)) {
            struct mx_jpath np = mx_jpath_key(&ip, "name");
            rc = mx_jpath_error(&np,
                                "\"%s\" is not a model name (no '/', no control characters, "
                                "not \".\" or \"..\")",
                                name);
            break;
        }
        if (spec_profile_find_model(db, name)) {
            struct mx_jpath np = mx_jpath_key(&ip, "name");
            rc = mx_jpath_error(&np, "model \"%s\" appears twice", name);
            break;
        }
        struct mx_jpath cp = mx_jpath_key(&ip, "configs");
        if ((rc = mx_json_get(&ip, entry, "configs", &configs)) < 0 ||
            (rc = mx_json_expect_array(&cp, configs, 1, &n_configs)) < 0)
            break;
        uint32_t model = 0;
        if ((rc = add_model(&ip, entry, name, db, &model)) < 0)
            break;
        for (size_t c = 0; rc == MX_OK && c < n_configs; c++) {
            struct mx_jpath ccp = mx_jpath_index(&cp, c);
            rc = read_config(&ccp, json_array_get(configs, c), db, model);
        }
    }
    return rc;
}

int spec_profile_read_json(const char *path, struct spec_profile **out)
{
    static const char *const keys[] = {"format", "hardware", "provenance", "models", NULL};
    json_t *doc = NULL;
    struct spec_profile *db = NULL;
    struct mx_jpath root = mx_jpath_root(path);
    const char *hardware;
    json_t *provenance;
    int rc;
    if ((rc = mx_json_load(path, &doc)) < 0)
        return rc;
    if ((rc = mx_json_check_format(&root, doc, "profile", 1)) < 0 ||
        (rc = mx_json_check_keys(&root, doc, keys)) < 0 ||
        (rc = mx_json_get_str(&root, doc, "hardware", &hardware)) < 0)
        goto done;
    db = spec_profile_new(hardware);
    if ((provenance = json_object_get(doc, "provenance"))) {
        struct mx_jpath pp = mx_jpath_key(&root, "provenance");
        if ((rc = mx_json_expect_object(&pp, provenance)) < 0)
            goto done;
        char *text = json_dumps(provenance, JSON_COMPACT);
        spec_profile_set_provenance(db, text);
        free(text);
    }
    if ((rc = read_models(&root, doc, db)) < 0)
        goto done;
    *out = db;
    db = NULL;
done:
    spec_profile_free(db);
    json_decref(doc);
    return rc;
}

static json_t *vector_json(const double *f64, const int64_t *i64, size_t n)
{
    return f64 ? mx_json_f64_array(f64, n) : mx_json_i64_array(i64, n);
}

static json_t *config_json(const struct spec_config *cfg)
{
    size_t pp = (size_t)cfg->pp;
    json_t *c = json_object();
    mx_json_set(c, "dp", json_integer(cfg->dp));
    mx_json_set(c, "op", json_integer(cfg->op));
    mx_json_set(c, "pp", json_integer(cfg->pp));
    mx_json_set(c, "weight_bytes", vector_json(NULL, cfg->weight_bytes, pp));
    if (cfg->layer_ranges) {
        json_t *ranges = json_array();
        for (size_t k = 0; k < pp; k++)
            mx_json_append(
                ranges, json_pack("[ii]", cfg->layer_ranges[2 * k], cfg->layer_ranges[2 * k + 1]));
        mx_json_set(c, "layer_ranges", ranges);
    }
    if (cfg->note)
        mx_json_set(c, "note", json_string(cfg->note));
    const struct spec_decoder_cost *d = &cfg->decoder;
    if (d->n_tokens) {
        json_t *dense = json_array();
        for (size_t k = 0; k < pp; k++)
            mx_json_append(dense, mx_json_f64_array(d->dense_s + k * d->n_tokens, d->n_tokens));
        json_t *tokens = json_array();
        for (uint32_t j = 0; j < d->n_tokens; j++)
            mx_json_append(tokens, json_integer(d->tokens[j]));
        mx_json_set(c, "kv_bytes_per_token", vector_json(NULL, d->kv_bytes_per_token, pp));
        mx_json_set(c, "act_bytes_per_token", vector_json(NULL, d->act_bytes_per_token, pp));
        mx_json_set(c, "tokens", tokens);
        mx_json_set(c, "dense_s", dense);
        mx_json_set(c, "prefill_pair_s", vector_json(d->prefill_pair_s, NULL, pp));
        mx_json_set(c, "decode_token_s", vector_json(d->decode_token_s, NULL, pp));
        mx_json_set(c, "iteration_s", vector_json(d->iteration_s, NULL, pp));
        return c;
    }
    json_t *batches = json_array();
    for (uint32_t b = 0; b < cfg->n_batches; b++) {
        json_t *entry = json_object();
        mx_json_set(entry, "batch", json_integer(cfg->batch[b]));
        mx_json_set(entry, "stage_latency_s", vector_json(spec_config_latency(cfg, b), NULL, pp));
        if (cfg->act_bytes)
            mx_json_set(entry, "act_bytes", vector_json(NULL, cfg->act_bytes + b * pp, pp));
        mx_json_append(batches, entry);
    }
    mx_json_set(c, "batches", batches);
    return c;
}

int spec_profile_write_json(const struct spec_profile *db, const char *path)
{
    json_t *doc = json_object();
    mx_json_set(doc, "format", json_string("muxplan-profile/1"));
    mx_json_set(doc, "hardware", json_string(spec_profile_hardware(db)));
    if (spec_profile_provenance(db)) {
        json_t *provenance = json_loads(spec_profile_provenance(db), 0, NULL);
        mx_json_set(doc, "provenance", provenance ? provenance : json_object());
    }
    json_t *models = json_array();
    for (uint32_t m = 0; m < spec_profile_model_count(db); m++) {
        const struct spec_profile_model *model = spec_profile_model(db, m);
        json_t *entry = json_object();
        json_t *configs = json_array();
        mx_json_set(entry, "name", json_string(model->name));
        if (model->kind == SPEC_DECODER) {
            const struct spec_decoder_model *info = &model->decoder;
            mx_json_set(entry, "kind", json_string("decoder"));
            mx_json_set(entry, "context_tokens", json_integer(info->context_tokens));
            mx_json_set(entry, "reference_input_tokens",
                        json_integer(info->reference_input_tokens));
            mx_json_set(entry, "reference_ttft_s", json_real(info->reference_ttft_s));
            mx_json_set(entry, "reference_tpot_s", json_real(info->reference_tpot_s));
        }
        for (uint32_t c = 0; c < model->n_configs; c++)
            mx_json_append(configs, config_json(&model->configs[c]));
        mx_json_set(entry, "configs", configs);
        mx_json_append(models, entry);
    }
    mx_json_set(doc, "models", models);
    int rc = mx_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}
