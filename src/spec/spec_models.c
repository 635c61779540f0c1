/* Model set reading, SLO resolution against a profile, and writing. */
#include "spec_models.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_strmap.h"
#include "spec_profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void spec_models_free(struct spec_model_set *set)
{
    if (!set)
        return;
    for (uint32_t i = 0; i < set->n; i++) {
        free(set->models[i].name);
        free(set->models[i].base);
        free(set->models[i].lengths);
    }
    free(set->models);
    free(set->path);
    free(set);
}

struct spec_model spec_model_make(const char *name, const char *base, double slo_s)
{
    return (struct spec_model){.name = mx_strdup(name),
                               .base = mx_strdup(base),
                               .slo = {slo_s, 0},
                               .ttft = {INFINITY, 0},
                               .tpot = {INFINITY, 0},
                               .rate = -1,
                               .cv = -1};
}

/* The SLO named by seconds_key or by scale_key (not both); none when neither is there. */
static int read_slo(const struct mx_jpath *at, json_t *entry, const char *seconds_key,
                    const char *scale_key, struct spec_slo *slo)
{
    bool has_s, has_scale;
    int rc;
    *slo = (struct spec_slo){INFINITY, 0};
    if ((rc = mx_json_opt_f64(at, entry, seconds_key, 1e-6, SPEC_MAX_SLO_S, &slo->s, &has_s)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, scale_key, 1e-3, 1e6, &slo->scale, &has_scale)) < 0)
        return rc;
    if (has_s && has_scale)
        return mx_jpath_error(at, "give at most one of \"%s\" and \"%s\"", seconds_key, scale_key);
    if (has_scale)
        slo->s = 0;
    return MX_OK;
}

static bool slo_given(const struct spec_slo *slo)
{
    return slo->scale > 0 || !isinf(slo->s);
}

static int read_model(const struct mx_jpath *at, json_t *entry, struct spec_model *m)
{
    static const char *const keys[] = {
        "name",       "base",           "slo_s",   "slo_scale", "ttft_slo_s", "ttft_slo_scale",
        "tpot_slo_s", "tpot_slo_scale", "lengths", "rate",      "cv",         NULL};
    const char *name, *base, *lengths = NULL;
    bool has_rate, has_cv, has_lengths;
    int rc;
    m->rate = m->cv = -1;
    if ((rc = mx_json_expect_object(at, entry)) < 0 ||
        (rc = mx_json_check_keys(at, entry, keys)) < 0 ||
        (rc = mx_json_get_str(at, entry, "name", &name)) < 0 ||
        (rc = mx_json_get_str(at, entry, "base", &base)) < 0 ||
        (rc = read_slo(at, entry, "slo_s", "slo_scale", &m->slo)) < 0 ||
        (rc = read_slo(at, entry, "ttft_slo_s", "ttft_slo_scale", &m->ttft)) < 0 ||
        (rc = read_slo(at, entry, "tpot_slo_s", "tpot_slo_scale", &m->tpot)) < 0 ||
        (rc = mx_json_opt_str(at, entry, "lengths", &lengths, &has_lengths)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "rate", 0, 1e9, &m->rate, &has_rate)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "cv", SPEC_MIN_CV, SPEC_MAX_CV, &m->cv, &has_cv)) < 0)
        return rc;
    if (!slo_given(&m->slo) && !slo_given(&m->ttft) && !slo_given(&m->tpot))
        return mx_jpath_error(at, "give exactly one of \"slo_s\" and \"slo_scale\" (a decoder "
                                  "may give ttft_slo_s or ttft_slo_scale, tpot_slo_s or "
                                  "tpot_slo_scale instead)");
    m->name = mx_strdup(name);
    m->base = mx_strdup(base);
    m->lengths = lengths ? mx_strdup(lengths) : NULL;
    return MX_OK;
}

int spec_models_read(const char *path, struct spec_model_set **out)
{
    static const char *const keys[] = {"format", "models", NULL};
    struct mx_jpath root = mx_jpath_root(path);
    struct mx_jpath mp = mx_jpath_key(&root, "models");
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    struct mx_strmap names;
    json_t *doc = NULL, *models;
    size_t n = 0;
    int rc;
    mx_strmap_init(&names);
    set->path = mx_strdup(path);
    if ((rc = mx_json_load(path, &doc)) < 0)
        goto done;
    if ((rc = mx_json_check_format(&root, doc, "models", 1)) < 0 ||
        (rc = mx_json_check_keys(&root, doc, keys)) < 0 ||
        (rc = mx_json_get(&root, doc, "models", &models)) < 0 ||
        (rc = mx_json_expect_array(&mp, models, 1, &n)) < 0)
        goto done;
    set->models = MX_NEW_ARRAY(struct spec_model, n);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ip = mx_jpath_index(&mp, i);
        if ((rc = read_model(&ip, json_array_get(models, i), &set->models[i])) < 0)
            goto done;
        set->n++;
        if (!mx_strmap_put(&names, set->models[i].name, (uint32_t)i)) {
            struct mx_jpath np = mx_jpath_key(&ip, "name");
            rc = mx_jpath_error(&np, "model \"%s\" appears twice", set->models[i].name);
            goto done;
        }
    }
    *out = set;
    set = NULL;
done:
    mx_strmap_release(&names);
    spec_models_free(set);
    json_decref(doc);
    return rc;
}

/* Turn slo's scale into seconds against reference (seconds; <= 0 when the profile lacks it, which
 * the message calls what). */
static int resolve_slo(const struct spec_model_set *set, uint32_t i, const char *key,
                       double reference, const char *what, const char *db_path,
                       struct spec_slo *slo)
{
    const struct spec_model *m = &set->models[i];
    if (slo->scale > 0) {
        if (reference <= 0)
            return mx_error(MX_EINPUT,
                            "%s: models[%u].%s: profile %s has no %s for \"%s\" to scale",
                            set->path, i, key, db_path, what, m->base);
        slo->s = slo->scale * reference;
    }
    if (slo->s > SPEC_MAX_SLO_S && !isinf(slo->s))
        return mx_error(MX_EINPUT, "%s: models[%u].%s: an SLO of %g s is over the limit of %g s",
                        set->path, i, key, slo->s, SPEC_MAX_SLO_S);
    return MX_OK;
}

/* What an encoder model may not have, and must. */
static int check_encoder(const struct spec_model_set *set, uint32_t i)
{
    const struct spec_model *m = &set->models[i];
    const char *key = slo_given(&m->ttft)   ? "ttft_slo"
                      : slo_given(&m->tpot) ? "tpot_slo"
                      : m->lengths          ? "lengths"
                                            : NULL;
    if (key)
        return mx_error(MX_EINPUT,
                        "%s: models[%u]: \"%s\" is for decoders, and base \"%s\" (of model "
                        "\"%s\") is served in one forward pass",
                        set->path, i, key, m->base, m->name);
    if (!slo_given(&m->slo))
        return mx_error(MX_EINPUT,
                        "%s: models[%u]: give exactly one of \"slo_s\" and \"slo_scale\"",
                        set->path, i);
    return MX_OK;
}

int spec_models_resolve(struct spec_model_set *set, const struct spec_profile *db,
                        const char *db_path)
{
    for (uint32_t i = 0; i < set->n; i++) {
        struct spec_model *m = &set->models[i];
        const struct spec_profile_model *base = spec_profile_find_model(db, m->base);
        int rc;
        if (!base)
            return mx_error(MX_EINPUT,
                            "%s: models[%u].base: \"%s\" (of model \"%s\") is not in profile %s",
                            set->path, i, m->base, m->name, db_path);
        if (base->kind == SPEC_ENCODER) {
            if ((rc = check_encoder(set, i)) < 0 ||
                (rc = resolve_slo(set, i, "slo_scale",
                                  spec_profile_single_device_latency_s(db, m->base),
                                  "(1, 1, 1) config", db_path, &m->slo)) < 0)
                return rc;
            continue;
        }
        if (m->slo.scale > 0)
            return mx_error(MX_EINPUT,
                            "%s: models[%u].slo_scale: a decoder's end-to-end SLO is given in "
                            "seconds (slo_s); its TTFT and TPOT SLOs may be scales",
                            set->path, i);
        if ((rc = resolve_slo(set, i, "ttft_slo_scale", base->decoder.reference_ttft_s,
                              "reference TTFT", db_path, &m->ttft)) < 0 ||
            (rc = resolve_slo(set, i, "tpot_slo_scale", base->decoder.reference_tpot_s,
                              "reference TPOT", db_path, &m->tpot)) < 0)
            return rc;
    }
    return MX_OK;
}

int32_t spec_models_first_scaled(const struct spec_model_set *set)
{
    for (uint32_t i = 0; i < set->n; i++) {
        const struct spec_model *m = &set->models[i];
        if (m->slo.scale > 0 || m->ttft.scale > 0 || m->tpot.scale > 0)
            return (int32_t)i;
    }
    return -1;
}

void spec_model_scale_slos(struct spec_model *m, double k)
{
    m->slo.s *= k;
    m->ttft.s *= k;
    m->tpot.s *= k;
}

int32_t spec_models_find(const struct spec_model_set *set, const char *name)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (strcmp(set->models[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

/* Write slo in seconds under seconds_key when it is known, else as a scale; nothing for none. */
static void write_slo(json_t *entry, const char *seconds_key, const char *scale_key,
                      const struct spec_slo *slo)
{
    if (slo->s > 0 && !isinf(slo->s))
        mx_json_set(entry, seconds_key, json_real(slo->s));
    else if (slo->scale > 0)
        mx_json_set(entry, scale_key, json_real(slo->scale));
}

int spec_models_write(const struct spec_model_set *set, const char *path)
{
    json_t *doc = json_object(), *models = json_array();
    mx_json_set(doc, "format", json_string("muxplan-models/1"));
    for (uint32_t i = 0; i < set->n; i++) {
        const struct spec_model *m = &set->models[i];
        json_t *entry = json_object();
        mx_json_set(entry, "name", json_string(m->name));
        mx_json_set(entry, "base", json_string(m->base));
        write_slo(entry, "slo_s", "slo_scale", &m->slo);
        write_slo(entry, "ttft_slo_s", "ttft_slo_scale", &m->ttft);
        write_slo(entry, "tpot_slo_s", "tpot_slo_scale", &m->tpot);
        if (m->lengths)
            mx_json_set(entry, "lengths", json_string(m->lengths));
        if (m->rate >= 0)
            mx_json_set(entry, "rate", json_real(m->rate));
        if (m->cv >= 0)
            mx_json_set(entry, "cv", json_real(m->cv));
        mx_json_append(models, entry);
    }
    mx_json_set(doc, "models", models);
    int rc = mx_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}
