/* The last step of an import: keep the most requested keys, map keys to models, and build the
 * trace with each model's SLOs and each request's token counts.
 *
 * Explicit maps are JSON: {"format": "muxplan-trace-map/1", "map": {"KEY": "MODEL", ...}}. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_rng.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model names of the result and each kept key's model. */
struct mapping {
    struct wl_keys models;
    int32_t *model_of_key; /* [keys], -1 for keys left out */
};

struct ranked_key {
    size_t count;
    uint32_t key;
};

static int compare_popularity(const void *pa, const void *pb)
{
    const struct ranked_key *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->key > b->key) - (a->key < b->key);
}

/* Keys with requests, most requested first (ties: first appearance), cut to top_k. */
static uint32_t rank_keys(const struct wl_arrivals *a, uint32_t top_k, struct ranked_key *ranked)
{
    for (uint32_t k = 0; k < a->keys.n; k++)
        ranked[k] = (struct ranked_key){0, k};
    for (size_t i = 0; i < a->n; i++)
        ranked[a->key[i]].count++;
    qsort(ranked, a->keys.n, sizeof(*ranked), compare_popularity);
    uint32_t kept = 0;
    while (kept < a->keys.n && ranked[kept].count > 0)
        kept++;
    return top_k && top_k < kept ? top_k : kept;
}

static int model_index(struct mapping *m, const struct wl_import_spec *spec, const char *name,
                       const char *where, int32_t *out)
{
    if (!spec->set) {
        *out = (int32_t)wl__keys_intern(&m->models, name);
        return MX_OK;
    }
    *out = spec_models_find(spec->set, name);
    if (*out < 0)
        return mx_error(MX_EINPUT, "%s: model \"%s\" is not in the model set %s", where, name,
                        spec->set->path);
    return MX_OK;
}

static int map_explicit(const struct wl_arrivals *a, const struct ranked_key *ranked, uint32_t kept,
                        const struct wl_import_spec *spec, struct mapping *m)
{
    json_t *root = NULL, *map;
    struct mx_jpath at = mx_jpath_root(spec->map_path), at_map = mx_jpath_key(&at, "map");
    int rc = mx_json_load(spec->map_path, &root);
    if (rc == MX_OK)
        rc = mx_json_check_format(&at, root, "trace-map", 1);
    if (rc == MX_OK)
        rc = mx_json_get(&at, root, "map", &map);
    if (rc == MX_OK)
        rc = mx_json_expect_object(&at_map, map);
    for (uint32_t r = 0; rc == MX_OK && r < kept; r++) {
        const char *key = a->keys.names[ranked[r].key], *model;
        json_t *value = json_object_get(map, key);
        struct mx_jpath at_key = mx_jpath_key(&at_map, key);
        if (!value) {
            rc = mx_jpath_error(&at_map, "key \"%s\" (%zu requests) has no model", key,
                                ranked[r].count);
            break;
        }
        char where[256];
        mx_jpath_describe(&at_key, where, sizeof(where));
        if ((rc = mx_json_to_str(&at_key, value, &model)) == MX_OK)
            rc = model_index(m, spec, model, where, &m->model_of_key[ranked[r].key]);
    }
    json_decref(root);
    return rc;
}

static int build_mapping(const struct wl_arrivals *a, const struct ranked_key *ranked,
                         uint32_t kept, const struct wl_import_spec *spec, const char *path,
                         struct mapping *m)
{
    if (spec->map_path)
        return map_explicit(a, ranked, kept, spec, m);
    uint32_t n_models = spec->set ? spec->set->n : spec->n_models;
    enum wl_key_map how = spec->map;
    if (how == WL_MAP_DEFAULT)
        how = n_models ? WL_MAP_POPULARITY : WL_MAP_IDENTITY;
    if (how != WL_MAP_IDENTITY && n_models == 0)
        return mx_error(MX_EUSAGE,
                        "--map round-robin, popularity and split need --models or --model-set");
    if (!spec->set)
        for (uint32_t i = 0; how != WL_MAP_IDENTITY && i < n_models; i++) {
            char name[32];
            snprintf(name, sizeof(name), "m%u", i);
            wl__keys_intern(&m->models, name);
        }
    /* Split maps requests, not keys: every kept key is marked mapped, the trace draws models. */
    for (uint32_t r = 0; how == WL_MAP_SPLIT && r < kept; r++)
        m->model_of_key[ranked[r].key] = 0;
    /* Round robin goes by first appearance: the kept keys in key order. */
    uint32_t next = 0;
    for (uint32_t k = 0; how == WL_MAP_ROUND_ROBIN && k < a->keys.n; k++)
        if (m->model_of_key[k] == -2)
            m->model_of_key[k] = (int32_t)(next++ % n_models);
    for (uint32_t r = 0; r < kept; r++) {
        uint32_t key = ranked[r].key;
        if (how == WL_MAP_POPULARITY)
            m->model_of_key[key] = (int32_t)(r % n_models);
        if (how == WL_MAP_IDENTITY) {
            int rc = model_index(m, spec, a->keys.names[key], path, &m->model_of_key[key]);
            if (rc < 0)
                return rc;
        }
    }
    return MX_OK;
}

/* A request mapped to a decoder model needs token counts, which a trace without any cannot give. */
static int check_decoders(const struct wl_trace *t, const struct wl_import_spec *spec,
                          const char *path)
{
    if (!spec->set || wl_trace_has_tokens(t))
        return MX_OK;
    for (size_t i = 0; i < t->n; i++) {
        const struct spec_model *m = &spec->set->models[t->model[i]];
        if (wl_model_is_decoder(m, spec->db))
            return mx_error(MX_EINPUT,
                            "%s: requests go to model \"%s\" of %s, a decoder, and this import "
                            "has no token counts for them (name the trace's token columns with "
                            "--input-column and --output-column)",
                            path, m->name, spec->set->path);
    }
    return MX_OK;
}

/* The longest request model may have: its base's context when the profile knows it as a
 * decoder, else no limit (0). */
static uint32_t context_of(const struct wl_import_spec *spec, int32_t model)
{
    if (!spec->set || !spec->db)
        return 0;
    const struct spec_profile_model *base =
        spec_profile_find_model(spec->db, spec->set->models[model].base);
    return base && base->kind == SPEC_DECODER ? base->decoder.context_tokens : 0;
}

/* Cut request j of t to fit a context of limit tokens (a client truncating its prompt, as the
 * output is what the trace measured): output at most limit - 1, prompt the rest. Whether it
 * was cut. */
static bool fit_context(struct wl_trace *t, size_t j, uint32_t limit)
{
    if (limit == 0 || (uint64_t)t->input_tokens[j] + (uint64_t)t->output_tokens[j] <= limit)
        return false;
    if ((uint32_t)t->output_tokens[j] >= limit)
        t->output_tokens[j] = (int32_t)limit - 1;
    t->input_tokens[j] = (int32_t)limit - t->output_tokens[j];
    return true;
}

/* Request i of a into slot j of t, mapped to model. */
static void fill_request(struct wl_trace *t, size_t j, const struct wl_arrivals *a, size_t i,
                         int32_t model, const struct wl_import_spec *spec,
                         struct wl_import_report *report)
{
    /* On the simulator's 1 ns grid, like generated traces (rounding keeps the order). */
    t->arrival_s[j] = round(a->time_s[i] * 1e9) / 1e9;
    t->model[j] = model;
    t->slo_s[j] = spec->set ? spec->set->models[model].slo.s : spec->slo_s;
    if (!wl_trace_has_tokens(t))
        return;
    t->input_tokens[j] = a->tokens[i].input;
    t->output_tokens[j] = a->tokens[i].output;
    report->clipped_rows += fit_context(t, j, context_of(spec, model));
    t->ttft_slo_s[j] = spec->set ? spec->set->models[model].ttft.s : INFINITY;
    t->tpot_slo_s[j] = spec->set ? spec->set->models[model].tpot.s : INFINITY;
    if (wl_trace_has_block_hashes(t)) /* a request without hashes: no pointer into none */
        wl_trace_append_block_hashes(
            t, j, a->tokens[i].n_hashes ? a->hashes + a->tokens[i].first_hash : NULL,
            a->tokens[i].n_hashes);
}

int wl__map_to_trace(struct wl_arrivals *a, const struct wl_import_spec *spec, const char *path,
                     struct wl_trace **out, struct wl_import_report *report)
{
    struct ranked_key *ranked = mx_malloc_array(a->keys.n ? a->keys.n : 1, sizeof(*ranked));
    struct mapping m = {.model_of_key =
                            mx_malloc_array(a->keys.n ? a->keys.n : 1, sizeof(int32_t))};
    wl__keys_init(&m.models);
    uint32_t kept = rank_keys(a, spec->top_k, ranked);
    report->kept_keys = kept;
    for (uint32_t k = 0; k < a->keys.n; k++)
        m.model_of_key[k] = -1;
    for (uint32_t r = 0; r < kept; r++)
        m.model_of_key[ranked[r].key] = -2; /* kept, not yet mapped */
    int rc =
        kept ? MX_OK
             : mx_error(MX_EINPUT,
                        "%s: no requests are left after the time window and rate scaling", path);
    if (rc == MX_OK)
        rc = build_mapping(a, ranked, kept, spec, path, &m);
    if (rc == MX_OK) {
        size_t n = 0;
        for (size_t i = 0; i < a->n; i++)
            n += m.model_of_key[a->key[i]] >= 0;
        uint32_t n_models = spec->set ? spec->set->n : m.models.n;
        const char **names = mx_malloc_array(n_models, sizeof(char *));
        for (uint32_t j = 0; j < n_models; j++)
            names[j] = spec->set ? spec->set->models[j].name : m.models.names[j];
        struct wl_trace *t = wl_trace_new(n, n_models, names);
        free(names);
        if (a->has_tokens)
            wl_trace_add_tokens(t);
        if (a->has_tokens && a->has_hashes)
            wl_trace_add_block_hashes(t, a->hash_block_tokens);
        size_t j = 0;
        gsl_ran_discrete_t *split = NULL;
        gsl_rng *rng = NULL;
        if (spec->map == WL_MAP_SPLIT) {
            double *weight = mx_malloc_array(n_models, sizeof(double));
            for (uint32_t k = 0; k < n_models; k++)
                weight[k] = pow(k + 1.0, -spec->split_alpha);
            split = gsl_ran_discrete_preproc(n_models, weight);
            rng = mx_rng_new(spec->seed, "import/split", 0);
            free(weight);
        }
        for (size_t i = 0; i < a->n; i++) {
            int32_t model = m.model_of_key[a->key[i]];
            if (model < 0)
                continue;
            if (split)
                model = (int32_t)gsl_ran_discrete(rng, split);
            fill_request(t, j++, a, i, model, spec, report);
        }
        if (split) {
            gsl_ran_discrete_free(split);
            gsl_rng_free(rng);
        }
        t->start_s = 0;
        t->duration_s = a->end_s;
        if ((rc = check_decoders(t, spec, path)) < 0)
            wl_trace_free(t);
        else
            *out = t;
    }
    wl__keys_release(&m.models);
    free(m.model_of_key);
    free(ranked);
    return rc;
}
