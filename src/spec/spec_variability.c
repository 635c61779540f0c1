/* The variability models of a cluster (spec_variability.h): interference between a node's
 * devices and the distribution of a stage's time around its profile, their JSON forms, and the
 * draws the simulator makes from them. */
#include "spec_variability.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_stats.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const spec_dist_names[SPEC_DIST_N_KINDS] = {"constant", "lognormal", "gamma",
                                                        "empirical"};

double spec_interference_slowdown(const struct spec_interference *f, uint32_t busy)
{
    if (f->n == 0 || busy == 0)
        return 1.0;
    return f->busy_slowdown[(busy < f->n ? busy : f->n) - 1];
}

bool spec_dist_varies(const struct spec_dist *d)
{
    if (d->kind == SPEC_DIST_CONSTANT)
        return false;
    if (d->kind != SPEC_DIST_EMPIRICAL)
        return true;
    return d->q[0] != 1.0 || d->q[d->n - 1] != 1.0;
}

double spec_dist_draw(const struct spec_dist *d, gsl_rng *r)
{
    switch (d->kind) {
    case SPEC_DIST_CONSTANT:
        return 1.0;
    case SPEC_DIST_LOGNORMAL: {
        double s2 = log1p(d->cv * d->cv);
        return gsl_ran_lognormal(r, -s2 / 2, sqrt(s2));
    }
    case SPEC_DIST_GAMMA:
        return gsl_ran_gamma(r, 1 / (d->cv * d->cv), d->cv * d->cv);
    case SPEC_DIST_EMPIRICAL: {
        double x = gsl_rng_uniform(r) * (double)(d->n - 1);
        uint32_t j = (uint32_t)x;
        if (j >= d->n - 1)
            return d->q[d->n - 1];
        return d->q[j] + (x - (double)j) * (d->q[j + 1] - d->q[j]);
    }
    case SPEC_DIST_N_KINDS:
        break;
    }
    MX_BUG("unknown distribution kind %d", (int)d->kind);
}

double spec_dist_mean(const struct spec_dist *d)
{
    if (d->kind != SPEC_DIST_EMPIRICAL)
        return 1.0;
    /* The mean of the piecewise-linear inverse CDF: the trapezoid rule over its pieces. */
    double sum = 0;
    for (uint32_t j = 0; j + 1 < d->n; j++)
        sum += (d->q[j] + d->q[j + 1]) / 2;
    return sum / (double)(d->n - 1);
}

void spec_dist_from_samples(double *v, size_t n, uint32_t n_quantiles, struct spec_dist *out)
{
    if (n == 0 || n_quantiles < 2 || n_quantiles > SPEC_DIST_QUANTILES)
        MX_BUG("%zu samples into %u quantiles", n, n_quantiles);
    mx_sort_f64(v, n);
    memset(out, 0, sizeof(*out));
    out->kind = SPEC_DIST_EMPIRICAL;
    out->n = n_quantiles;
    for (uint32_t j = 0; j < n_quantiles; j++) {
        double x = (double)j / (double)(n_quantiles - 1) * (double)(n - 1);
        size_t lo = (size_t)x;
        double q = lo + 1 < n ? v[lo] + (x - (double)lo) * (v[lo + 1] - v[lo]) : v[n - 1];
        /* Rounding may break the order by an ulp where samples are equal. */
        out->q[j] = j > 0 && q < out->q[j - 1] ? out->q[j - 1] : q;
    }
}

int spec_interference_read(const struct mx_jpath *at, json_t *v, struct spec_interference *out)
{
    static const char *const keys[] = {"busy_slowdown", NULL};
    struct mx_jpath lp = mx_jpath_key(at, "busy_slowdown");
    json_t *list;
    size_t n;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = mx_json_expect_object(at, v)) < 0 || (rc = mx_json_check_keys(at, v, keys)) < 0 ||
        (rc = mx_json_get(at, v, "busy_slowdown", &list)) < 0 ||
        (rc = mx_json_expect_array(&lp, list, 1, &n)) < 0)
        return rc;
    if (n > SPEC_MAX_BUSY)
        return mx_jpath_error(&lp, "lists %zu busy counts; at most %d (later counts take the last)",
                              n, SPEC_MAX_BUSY);
    for (size_t b = 0; b < n; b++) {
        struct mx_jpath bp = mx_jpath_index(&lp, b);
        if ((rc = mx_json_to_f64(&bp, json_array_get(list, b), 0.01, 100, &out->busy_slowdown[b])) <
            0)
            return rc;
    }
    out->n = (uint32_t)n;
    return MX_OK;
}

json_t *spec_interference_json(const struct spec_interference *f)
{
    json_t *list = json_array();
    for (uint32_t b = 0; b < f->n; b++)
        mx_json_append(list, json_real(f->busy_slowdown[b]));
    return json_pack("{so}", "busy_slowdown", list);
}

static int read_quantiles(const struct mx_jpath *at, json_t *obj, struct spec_dist *out)
{
    struct mx_jpath qp = mx_jpath_key(at, "quantiles");
    json_t *list;
    size_t n;
    int rc;
    if ((rc = mx_json_get(at, obj, "quantiles", &list)) < 0 ||
        (rc = mx_json_expect_array(&qp, list, 2, &n)) < 0)
        return rc;
    if (n > SPEC_DIST_QUANTILES)
        return mx_jpath_error(&qp, "lists %zu quantiles; at most %d", n, SPEC_DIST_QUANTILES);
    for (size_t j = 0; j < n; j++) {
        struct mx_jpath jp = mx_jpath_index(&qp, j);
        if ((rc = mx_json_to_f64(&jp, json_array_get(list, j), 1e-3, 1e3, &out->q[j])) < 0)
            return rc;
        if (j > 0 && out->q[j] < out->q[j - 1])
            return mx_jpath_error(&jp, "%g is below the quantile before it (%g): quantiles go up",
                                  out->q[j], out->q[j - 1]);
    }
    out->n = (uint32_t)n;
    return MX_OK;
}

int spec_dist_read(const struct mx_jpath *at, json_t *v, struct spec_dist *out)
{
    static const char *const keys[] = {"dist", "cv", "quantiles", NULL};
    int kind = SPEC_DIST_CONSTANT, rc;
    bool has_cv = false;
    memset(out, 0, sizeof(*out));
    if ((rc = mx_json_expect_object(at, v)) < 0 || (rc = mx_json_check_keys(at, v, keys)) < 0)
        return rc;
    if (!json_object_get(v, "dist"))
        return mx_jpath_error(at, "has no \"dist\" (constant, lognormal, gamma or empirical)");
    if ((rc = mx_json_opt_choice(at, v, "dist", spec_dist_names, SPEC_DIST_N_KINDS, &kind)) < 0 ||
        (rc = mx_json_opt_f64(at, v, "cv", 1e-6, 10, &out->cv, &has_cv)) < 0)
        return rc;
    out->kind = (enum spec_dist_kind)kind;
    bool wants_cv = kind == SPEC_DIST_LOGNORMAL || kind == SPEC_DIST_GAMMA;
    if (wants_cv != has_cv)
        return mx_jpath_error(
            at, wants_cv ? "a %s distribution needs \"cv\"" : "a %s distribution takes no \"cv\"",
            spec_dist_names[kind]);
    bool has_quantiles = json_object_get(v, "quantiles") != NULL;
    if (kind == SPEC_DIST_EMPIRICAL)
        return read_quantiles(at, v, out);
    if (has_quantiles)
        return mx_jpath_error(at, "a %s distribution takes no \"quantiles\"",
                              spec_dist_names[kind]);
    return MX_OK;
}

json_t *spec_dist_json(const struct spec_dist *d)
{
    json_t *o = json_object();
    mx_json_set(o, "dist", json_string(spec_dist_names[d->kind]));
    if (d->kind == SPEC_DIST_LOGNORMAL || d->kind == SPEC_DIST_GAMMA)
        mx_json_set(o, "cv", json_real(d->cv));
    if (d->kind == SPEC_DIST_EMPIRICAL) {
        json_t *q = json_array();
        for (uint32_t j = 0; j < d->n; j++)
            mx_json_append(q, json_real(d->q[j]));
        mx_json_set(o, "quantiles", q);
    }
    return o;
}

int spec_stage_times_read(const char *path, struct spec_stage_time **out, size_t *n_out)
{
    static const char *const root_keys[] = {"format", "stages", "note", NULL};
    static const char *const keys[] = {"group", "stage", "runs", "dist", "cv", "quantiles", NULL};
    struct mx_jpath root = mx_jpath_root(path), sp = mx_jpath_key(&root, "stages");
    json_t *doc = NULL, *list;
    size_t n = 0;
    struct spec_stage_time *st = NULL;
    *out = NULL;
    *n_out = 0;
    int rc = mx_json_load(path, &doc);
    if (rc < 0)
        return rc;
    if ((rc = mx_json_check_format(&root, doc, "stage-times", 1)) < 0 ||
        (rc = mx_json_check_keys(&root, doc, root_keys)) < 0 ||
        (rc = mx_json_get(&root, doc, "stages", &list)) < 0 ||
        (rc = mx_json_expect_array(&sp, list, 0, &n)) < 0)
        goto done;
    st = MX_NEW_ARRAY(struct spec_stage_time, n ? n : 1);
    for (size_t j = 0; j < n; j++) {
        struct mx_jpath ep = mx_jpath_index(&sp, j);
        json_t *e = json_array_get(list, j), *dist;
        int64_t group, stage, runs = 0;
        if ((rc = mx_json_expect_object(&ep, e)) < 0 ||
            (rc = mx_json_check_keys(&ep, e, keys)) < 0 ||
            (rc = mx_json_get_i64(&ep, e, "group", 0, INT32_MAX, &group)) < 0 ||
            (rc = mx_json_get_i64(&ep, e, "stage", 0, 4095, &stage)) < 0 ||
            (rc = mx_json_opt_i64(&ep, e, "runs", 0, INT64_MAX, &runs, NULL)) < 0)
            goto done;
        /* The distribution's members sit beside group and stage. */
        dist = json_deep_copy(e);
        json_object_del(dist, "group");
        json_object_del(dist, "stage");
        json_object_del(dist, "runs");
        rc = spec_dist_read(&ep, dist, &st[j].dist);
        json_decref(dist);
        if (rc < 0)
            goto done;
        st[j].group = (int32_t)group;
        st[j].stage = (uint32_t)stage;
        st[j].runs = (uint64_t)runs;
        for (size_t k = 0; k < j; k++)
            if (st[k].group == st[j].group && st[k].stage == st[j].stage) {
                rc = mx_jpath_error(&ep, "group %d stage %u is also stages[%zu]", st[j].group,
                                    st[j].stage, k);
                goto done;
            }
    }
done:
    json_decref(doc);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *out = st;
    *n_out = n;
    return MX_OK;
}

int spec_stage_times_write(const char *path, const struct spec_stage_time *st, size_t n)
{
    json_t *doc = json_object(), *list = json_array();
    mx_json_set(doc, "format", json_string("muxplan-stage-times/1"));
    for (size_t j = 0; j < n; j++) {
        json_t *e = json_object(), *d = spec_dist_json(&st[j].dist);
        mx_json_set(e, "group", json_integer(st[j].group));
        mx_json_set(e, "stage", json_integer(st[j].stage));
        mx_json_set(e, "runs", json_integer((json_int_t)st[j].runs));
        json_object_update(e, d);
        json_decref(d);
        mx_json_append(list, e);
    }
    mx_json_set(doc, "stages", list);
    int rc = mx_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}
