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
    }
    free(set->models);
    free(set->path);
    free(set);
}

static int read_model(const struct mx_jpath *at, json_t *entry, struct spec_model *m)
{
    static const char *const keys[] = {"name", "base", "slo_s", "slo_scale", "rate", "cv", NULL};
    const char *name, *base;
    bool has_slo, has_scale, has_rate, has_cv;
    int rc;
    m->rate = m->cv = -1;
    if ((rc = mx_json_expect_object(at, entry)) < 0 ||
        (rc = mx_json_check_keys(at, entry, keys)) < 0 ||
        (rc = mx_json_get_str(at, entry, "name", &name)) < 0 ||
        (rc = mx_json_get_str(at, entry, "base", &base)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "slo_s", 1e-6, SPEC_MAX_SLO_S, &m->slo_s, &has_slo)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "slo_scale", 1e-3, 1e6, &m->slo_scale, &has_scale)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "rate", 0, 1e9, &m->rate, &has_rate)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "cv", SPEC_MIN_CV, SPEC_MAX_CV, &m->cv, &has_cv)) < 0)
        return rc;
    if (has_slo == has_scale)
        return mx_jpath_error(at, "give exactly one of \"slo_s\" and \"slo_scale\"");
    m->name = mx_strdup(name);
    m->base = mx_strdup(base);
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

int spec_models_resolve(struct spec_model_set *set, const struct spec_profile *db,
                        const char *db_path)
{
    for (uint32_t i = 0; i < set->n; i++) {
        struct spec_model *m = &set->models[i];
        if (!spec_profile_find_model(db, m->base))
            return mx_error(MX_EINPUT,
                            "%s: models[%u].base: \"%s\" (of model \"%s\") is not in profile %s",
                            set->path, i, m->base, m->name, db_path);
        if (m->slo_scale > 0) {
            double single = spec_profile_single_device_latency_s(db, m->base);
            if (single <= 0)
                return mx_error(MX_EINPUT,
                                "%s: models[%u].slo_scale: profile %s has no (1, 1, 1) config for "
                                "\"%s\" to scale",
                                set->path, i, db_path, m->base);
            m->slo_s = m->slo_scale * single;
        }
        if (m->slo_s > SPEC_MAX_SLO_S)
            return mx_error(MX_EINPUT, "%s: models[%u]: an SLO of %g s is over the limit of %g s",
                            set->path, i, m->slo_s, SPEC_MAX_SLO_S);
    }
    return MX_OK;
}

int32_t spec_models_find(const struct spec_model_set *set, const char *name)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (strcmp(set->models[i].name, name) == 0)
            return (int32_t)i;
    return -1;
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
        if (m->slo_s > 0)
            mx_json_set(entry, "slo_s", json_real(m->slo_s));
        else
            mx_json_set(entry, "slo_scale", json_real(m->slo_scale));
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
