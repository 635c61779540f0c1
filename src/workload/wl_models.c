/* Model set reading, SLO resolution against a profile, and writing. */
#include "wl_models.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_strmap.h"
#include "prof_db.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void wl_models_free(struct wl_model_set *set)
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

static int read_model(const struct mx_jpath *at, json_t *entry, struct wl_model *m)
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
        (rc = mx_json_opt_f64(at, entry, "slo_s", 1e-6, WL_MAX_SLO_S, &m->slo_s, &has_slo)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "slo_scale", 1e-3, 1e6, &m->slo_scale, &has_scale)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "rate", 0, 1e9, &m->rate, &has_rate)) < 0 ||
        (rc = mx_json_opt_f64(at, entry, "cv", 0, 1e3, &m->cv, &has_cv)) < 0)
        return rc;
    if (has_slo == has_scale)
        return mx_jpath_error(at, "give exactly one of \"slo_s\" and \"slo_scale\"");
    m->name = mx_strdup(name);
    m->base = mx_strdup(base);
    return MX_OK;
}

int wl_models_read(const char *path, struct wl_model_set **out)
{
    static const char *const keys[] = {"format", "models", NULL};
    struct mx_jpath root = mx_jpath_root(path);
    struct mx_jpath mp = mx_jpath_key(&root, "models");
    struct wl_model_set *set = MX_NEW(struct wl_model_set);
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
    set->models = MX_NEW_ARRAY(struct wl_model, n);
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
    wl_models_free(set);
    json_decref(doc);
    return rc;
}

int wl_models_resolve(struct wl_model_set *set, const struct prof_db *db, const char *db_path)
{
    for (uint32_t i = 0; i < set->n; i++) {
        struct wl_model *m = &set->models[i];
        if (!prof_db_find_model(db, m->base))
            return mx_error(MX_EINPUT,
                            "%s: models[%u].base: \"%s\" (of model \"%s\") is not in profile %s",
                            set->path, i, m->base, m->name, db_path);
        if (m->slo_scale > 0) {
            double single = prof_db_single_device_latency_s(db, m->base);
            if (single <= 0)
                return mx_error(MX_EINPUT,
                                "%s: models[%u].slo_scale: profile %s has no (1, 1, 1) config for "
                                "\"%s\" to scale",
                                set->path, i, db_path, m->base);
            m->slo_s = m->slo_scale * single;
        }
        if (m->slo_s > WL_MAX_SLO_S)
            return mx_error(MX_EINPUT, "%s: models[%u]: an SLO of %g s is over the limit of %g s",
                            set->path, i, m->slo_s, WL_MAX_SLO_S);
    }
    return MX_OK;
}

int32_t wl_models_find(const struct wl_model_set *set, const char *name)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (strcmp(set->models[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

int wl_models_write(const struct wl_model_set *set, const char *path)
{
    json_t *doc = json_object(), *models = json_array();
    mx_json_set(doc, "format", json_string("muxplan-models/1"));
    for (uint32_t i = 0; i < set->n; i++) {
        const struct wl_model *m = &set->models[i];
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

int wl_models_read_trace(const struct wl_model_set *set, const char *path, struct wl_trace **out)
{
    struct wl_trace *loaded = NULL;
    int rc = wl_trace_read_h5(path, &loaded);
    if (rc < 0)
        return rc;
    int32_t *map = MX_NEW_ARRAY(int32_t, loaded->n_models);
    for (uint32_t m = 0; m < loaded->n_models && rc == MX_OK; m++)
        if ((map[m] = wl_models_find(set, loaded->model_names[m])) < 0)
            rc = mx_error(MX_EINPUT, "%s: model \"%s\" of the trace is not in %s", path,
                          loaded->model_names[m], set->path);
    if (rc == MX_OK) {
        const char **names = MX_NEW_ARRAY(const char *, set->n);
        for (uint32_t m = 0; m < set->n; m++)
            names[m] = set->models[m].name;
        *out = wl_trace_select(loaded, -INFINITY, INFINITY, map, set->n, names);
        free(names);
    }
    free(map);
    wl_trace_free(loaded);
    return rc;
}
