/* Reading sweep specs and enumerating their cases. */
#include "sweep.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "planner.h"
#include "spec_cluster.h"
#include "spec_models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sweep_param_names[SWEEP_PARAMS] = {"devices", "rate_scale", "cv_scale",
                                                     "slo_scale"};

/* More cases than this is a typing error, not an experiment. */
#define SWEEP_MAX_CASES 100000

/* Each parameter's allowed range. */
static const double param_min[SWEEP_PARAMS] = {1, 1e-6, 1e-3, 1e-3};
static const double param_max[SWEEP_PARAMS] = {SPEC_MAX_DEVICES, 1e6, 100, 1e6};

/* path relative to the spec's folder, unless absolute. */
static char *resolve(const char *spec_path, const char *path)
{
    const char *slash = strrchr(spec_path, '/');
    if (path[0] == '/' || !slash)
        return mx_strdup(path);
    return mx_strfmt("%.*s/%s", (int)(slash - spec_path), spec_path, path);
}

static int read_param_value(const struct mx_jpath *at, json_t *v, enum sweep_param p, double *out)
{
    int rc = mx_json_to_f64(at, v, param_min[p], param_max[p], out);
    if (rc == MX_OK && p == SWEEP_DEVICES && *out != floor(*out))
        rc = mx_jpath_error(at, "expected a whole number of devices");
    return rc;
}

static int read_workload(const struct mx_jpath *at, json_t *w, struct sweep_spec *s)
{
    static const char *const kinds[] = {"generate", "trace", NULL};
    static const char *const gen_keys[] = {"total_rate", "rate_dist", "cv", "duration_s", NULL};
    static const char *const trace_keys[] = {"train", "test", "refit_window_s", NULL};
    int rc = mx_json_expect_object(at, w);
    if (rc == MX_OK)
        rc = mx_json_check_keys(at, w, kinds);
    json_t *gen = json_object_get(w, "generate"), *trace = json_object_get(w, "trace");
    if (rc == MX_OK && !gen == !trace)
        return mx_jpath_error(at, "give exactly one of \"generate\" and \"trace\"");
    if (rc < 0)
        return rc;
    if (gen) {
        struct mx_jpath g = mx_jpath_key(at, "generate");
        const char *dist = "power:0.5";
        s->generated = true;
        s->cv = 1;
        if ((rc = mx_json_expect_object(&g, gen)) < 0 ||
            (rc = mx_json_check_keys(&g, gen, gen_keys)) < 0 ||
            (rc = mx_json_get_f64(&g, gen, "total_rate", 1e-9, 1e9, &s->total_rate)) < 0 ||
            (rc = mx_json_get_f64(&g, gen, "duration_s", 1e-3, 1e8, &s->duration_s)) < 0 ||
            (rc = mx_json_opt_f64(&g, gen, "cv", SPEC_MIN_CV, SPEC_MAX_CV, &s->cv, NULL)) < 0 ||
            (rc = mx_json_opt_str(&g, gen, "rate_dist", &dist, NULL)) < 0)
            return rc;
        const char *expected = wl_rate_dist_parse(dist, false, &s->rate_dist, &s->alpha);
        if (expected) {
            struct mx_jpath d = mx_jpath_key(&g, "rate_dist");
            return mx_jpath_error(&d, "%s, got \"%s\"", expected, dist);
        }
        return MX_OK;
    }
    struct mx_jpath t = mx_jpath_key(at, "trace");
    const char *train, *test = NULL;
    s->refit_window_s = 60;
    if ((rc = mx_json_expect_object(&t, trace)) < 0 ||
        (rc = mx_json_check_keys(&t, trace, trace_keys)) < 0 ||
        (rc = mx_json_get_str(&t, trace, "train", &train)) < 0 ||
        (rc = mx_json_opt_str(&t, trace, "test", &test, NULL)) < 0 ||
        (rc = mx_json_opt_f64(&t, trace, "refit_window_s", 1e-3, 1e7, &s->refit_window_s, NULL)) <
            0)
        return rc;
    s->train_path = resolve(s->path, train);
    s->test_path = resolve(s->path, test ? test : train);
    return MX_OK;
}

static int read_sweep(const struct mx_jpath *at, json_t *sweep, struct sweep_spec *s)
{
    int rc = mx_json_expect_object(at, sweep);
    if (rc == MX_OK)
        rc = mx_json_check_keys(
            at, sweep,
            (const char *const[]){"devices", "rate_scale", "cv_scale", "slo_scale", NULL});
    const char *key;
    json_t *list;
    json_object_foreach(sweep, key, list)
    {
        if (rc < 0)
            break;
        enum sweep_param p = SWEEP_DEVICES;
        while (strcmp(sweep_param_names[p], key) != 0)
            p++;
        struct mx_jpath at_key = mx_jpath_key(at, key);
        size_t n;
        if ((rc = mx_json_expect_array(&at_key, list, 1, &n)) < 0)
            break;
        uint32_t k = s->n_swept++;
        s->swept[k] = p;
        s->n_values[k] = (uint32_t)n;
        s->values[k] = mx_malloc_array(n, sizeof(double));
        for (size_t i = 0; rc == MX_OK && i < n; i++) {
            struct mx_jpath at_i = mx_jpath_index(&at_key, i);
            rc = read_param_value(&at_i, json_array_get(list, i), p, &s->values[k][i]);
        }
    }
    if (rc == MX_OK && s->n_swept == 0)
        rc = mx_jpath_error(at, "sweep nothing: give at least one of devices, rate_scale, "
                                "cv_scale and slo_scale");
    double cases = 1;
    for (uint32_t k = 0; k < s->n_swept; k++)
        cases *= s->n_values[k];
    if (rc == MX_OK && cases > SWEEP_MAX_CASES)
        rc = mx_jpath_error(at, "%.0f cases: at most %d", cases, SWEEP_MAX_CASES);
    return rc;
}

static int read_policies(const struct mx_jpath *at, json_t *list, struct sweep_spec *s)
{
    size_t n;
    int rc = mx_json_expect_array(at, list, 1, &n);
    if (rc < 0)
        return rc;
    s->policies = MX_NEW_ARRAY(char *, n);
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        struct mx_jpath at_i = mx_jpath_index(at, i);
        struct plan_params params = plan_params_default();
        const char *name;
        if ((rc = mx_json_to_str(&at_i, json_array_get(list, i), &name)) < 0)
            break;
        if (!plan_policy_find(name, &params))
            rc = mx_jpath_error(&at_i, "unknown policy \"%s\"", name);
        for (uint32_t k = 0; rc == MX_OK && k < s->n_policies; k++)
            if (strcmp(s->policies[k], name) == 0)
                rc = mx_jpath_error(&at_i, "\"%s\" is listed twice", name);
        if (rc == MX_OK)
            s->policies[s->n_policies++] = mx_strdup(name);
    }
    return rc;
}

int sweep_spec_check(const struct sweep_spec *s, enum sweep_param p,
                     const char *(*problem)(double value, const void *arg, char *buf, size_t size),
                     const void *arg)
{
    char why[256];
    uint32_t k = 0;
    while (k < s->n_swept && s->swept[k] != p)
        k++;
    if (k == s->n_swept)
        return problem(s->base[p], arg, why, sizeof(why))
                   ? mx_error(MX_EINPUT, "%s: %s: %s", s->path, sweep_param_names[p], why)
                   : MX_OK;
    for (uint32_t i = 0; i < s->n_values[k]; i++)
        if (problem(s->values[k][i], arg, why, sizeof(why)))
            return mx_error(MX_EINPUT, "%s: sweep.%s[%u]: %s", s->path, sweep_param_names[p], i,
                            why);
    return MX_OK;
}

/* A generated workload's CV times cv_scale (arg: the CV) must be a CV a generator takes. */
static const char *cv_problem(double scale, const void *arg, char *buf, size_t size)
{
    double cv = *(const double *)arg * scale;
    if (cv >= SPEC_MIN_CV && cv <= SPEC_MAX_CV)
        return NULL;
    snprintf(buf, size, "the workload's cv %g times %g is %g, outside [%g, %g]",
             *(const double *)arg, scale, cv, SPEC_MIN_CV, SPEC_MAX_CV);
    return buf;
}

int sweep_spec_read(const char *path, struct sweep_spec **out)
{
    static const char *const keys[] = {
        "format",   "cluster",   "profile", "models",   "workload", "devices", "rate_scale",
        "cv_scale", "slo_scale", "sweep",   "policies", "seed",     "note",    NULL};
    struct mx_jpath at = mx_jpath_root(path);
    struct sweep_spec *s = MX_NEW(struct sweep_spec);
    json_t *doc = NULL, *member;
    const char *cluster, *profile, *models;
    int64_t seed = 0;
    int rc;
    s->path = mx_strdup(path);
    if ((rc = mx_json_load(path, &doc)) < 0 ||
        (rc = mx_json_check_format(&at, doc, "sweep", 1)) < 0 ||
        (rc = mx_json_check_keys(&at, doc, keys)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "cluster", &cluster)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "profile", &profile)) < 0 ||
        (rc = mx_json_get_str(&at, doc, "models", &models)) < 0)
        goto done;
    s->cluster_path = resolve(path, cluster);
    s->profile_path = resolve(path, profile);
    s->models_path = resolve(path, models);
    struct mx_jpath at_w = mx_jpath_key(&at, "workload"), at_s = mx_jpath_key(&at, "sweep"),
                    at_p = mx_jpath_key(&at, "policies");
    if ((rc = mx_json_get(&at, doc, "workload", &member)) < 0 ||
        (rc = read_workload(&at_w, member, s)) < 0)
        goto done;
    s->base[SWEEP_DEVICES] = 0; /* 0: the cluster's own */
    s->base[SWEEP_RATE_SCALE] = s->base[SWEEP_CV_SCALE] = s->base[SWEEP_SLO_SCALE] = 1;
    for (int p = 0; p < SWEEP_PARAMS && rc == MX_OK; p++)
        if ((member = json_object_get(doc, sweep_param_names[p]))) {
            struct mx_jpath at_p_name = mx_jpath_key(&at, sweep_param_names[p]);
            rc = read_param_value(&at_p_name, member, (enum sweep_param)p, &s->base[p]);
        }
    if (rc < 0 || (rc = mx_json_get(&at, doc, "sweep", &member)) < 0 ||
        (rc = read_sweep(&at_s, member, s)) < 0 ||
        (rc = mx_json_get(&at, doc, "policies", &member)) < 0 ||
        (rc = read_policies(&at_p, member, s)) < 0)
        goto done;
    if ((member = json_object_get(doc, "seed"))) {
        struct mx_jpath at_seed = mx_jpath_key(&at, "seed");
        if ((rc = mx_json_to_i64(&at_seed, member, 0, INT64_MAX, &seed)) < 0)
            goto done;
    }
    s->seed = (uint64_t)seed;
    if (s->generated && (rc = sweep_spec_check(s, SWEEP_CV_SCALE, cv_problem, &s->cv)) < 0)
        goto done;
    *out = s;
    s = NULL;
done:
    json_decref(doc);
    sweep_spec_free(s);
    return rc;
}

void sweep_spec_free(struct sweep_spec *s)
{
    if (!s)
        return;
    for (uint32_t k = 0; k < s->n_swept; k++)
        free(s->values[k]);
    for (uint32_t p = 0; p < s->n_policies; p++)
        free(s->policies[p]);
    free(s->policies);
    free(s->path);
    free(s->cluster_path);
    free(s->profile_path);
    free(s->models_path);
    free(s->train_path);
    free(s->test_path);
    free(s);
}

uint32_t sweep_case_count(const struct sweep_spec *s)
{
    uint32_t n = 1;
    for (uint32_t k = 0; k < s->n_swept; k++)
        n *= s->n_values[k];
    return n;
}

void sweep_case_params(const struct sweep_spec *s, uint32_t c, double params[SWEEP_PARAMS])
{
    memcpy(params, s->base, sizeof(double) * SWEEP_PARAMS);
    /* The last swept parameter varies fastest. */
    for (uint32_t k = s->n_swept; k-- > 0;) {
        params[s->swept[k]] = s->values[k][c % s->n_values[k]];
        c /= s->n_values[k];
    }
}
