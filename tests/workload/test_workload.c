/* src/workload: trace files (round trips, every bad-input path), the model set, the generators'
 * statistics and determinism, and trace statistics. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "mx_stats.h"
#include "spec_models.h"
#include "wl_gen.h"
#include "wl_stats.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct wl_trace *small_trace(void)
{
    struct wl_trace *t = fx_trace(4, (double[]){0.5, 0.5, 1.25, 3}, (int32_t[]){1, 0, 1, 1},
                                  (double[]){0.1, 0.2, 0.1, 0.3}, 2);
    t->start_s = 0;
    t->duration_s = 4;
    return t;
}

static void assert_same_trace(const struct wl_trace *a, const struct wl_trace *b)
{
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(a->n_models, b->n_models);
    for (uint32_t m = 0; m < a->n_models; m++)
        cr_assert_str_eq(a->model_names[m], b->model_names[m]);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->arrival_s[i], b->arrival_s[i]);
        cr_assert_eq(a->model[i], b->model[i]);
        cr_assert_eq(a->slo_s[i], b->slo_s[i]);
    }
}

Test(trace, hdf5_round_trip)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *t = small_trace(), *back = NULL;
    t->provenance = mx_strdup("{\"seed\": 1}");
    cr_assert_eq(wl_trace_write_h5(t, fx_path(dir, "t.h5")), MX_OK);
    cr_assert_eq(wl_trace_read_h5(fx_path(dir, "t.h5"), &back), MX_OK, "%s", mx_error_message());
    assert_same_trace(t, back);
    cr_assert_eq(back->start_s, 0);
    cr_assert_eq(back->duration_s, 4);
    cr_assert_str_eq(back->provenance, "{\"seed\": 1}");
    wl_trace_free(t);
    wl_trace_free(back);
}

Test(trace, csv_round_trip_keeps_every_bit)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *t = small_trace(), *back = NULL;
    t->arrival_s[3] = 3.0000000000000004; /* needs 17 digits */
    cr_assert_eq(wl_trace_write_csv(t, fx_path(dir, "t.csv")), MX_OK);
    cr_assert_eq(wl_trace_read_csv(fx_path(dir, "t.csv"), &back), MX_OK, "%s", mx_error_message());
    /* Model indices follow first appearance in the CSV: m1 comes first. */
    cr_assert_str_eq(back->model_names[0], "m1");
    for (size_t i = 0; i < t->n; i++) {
        cr_assert_eq(back->arrival_s[i], t->arrival_s[i]);
        cr_assert_str_eq(back->model_names[back->model[i]], t->model_names[t->model[i]]);
        cr_assert_eq(back->slo_s[i], t->slo_s[i]);
    }
    wl_trace_free(t);
    wl_trace_free(back);
}

Test(trace, csv_columns_in_any_order_extra_ignored_quoted_names)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "t.csv");
    fx_write_file(path, "slo_s,client,model,arrival_s\n0.5,c1,\"bert, big\",1\n0.5,c2,small,2\n");
    struct wl_trace *t = NULL;
    cr_assert_eq(wl_trace_read_csv(path, &t), MX_OK, "%s", mx_error_message());
    cr_assert_eq(t->n, 2);
    cr_assert_str_eq(t->model_names[0], "bert, big");
    cr_assert_eq(t->arrival_s[1], 2);
    cr_assert_eq(t->duration_s, 1);
    wl_trace_free(t);
}

/* Each malformed CSV and the message it must produce. */
struct bad_csv {
    const char *text;
    const char *message;
};

Test(trace, bad_csv_names_file_line_and_problem)
{
    static const struct bad_csv cases[] = {
        {"", "empty file"},
        {"arrival_s,model\n1,a\n", ":1: the header has no column \"slo_s\""},
        {"arrival_s,model,slo_s\n", "no requests after the header"},
        {"arrival_s,model,slo_s\n1,a,0.5\nx,a,0.5\n", ":3: arrival_s: \"x\" is not a number"},
        {"arrival_s,model,slo_s\n2,a,0.5\n1,a,0.5\n", ":3: arrival_s: arrival time is before"},
        {"arrival_s,model,slo_s\n-1,a,0.5\n", ":2: arrival_s: arrival time is negative"},
        {"arrival_s,model,slo_s\n1,a,0\n", ":2: slo_s: SLO is not a positive"},
        {"arrival_s,model,slo_s\n1,a,nan\n", ":2: slo_s: \"nan\" is not a number"},
        {"arrival_s,model,slo_s\n1,a,1e400\n", ":2: slo_s: \"1e400\" is not a number"},
        {"arrival_s,model,slo_s\n1,,0.5\n", ":2: model: empty name"},
        {"arrival_s,model,slo_s\n1,a\n", ":2: slo_s: missing"},
        {"arrival_s,model,slo_s\n1e12,a,0.5\n", ":2: arrival_s: arrival time is not a finite"},
    };
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.csv");
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        fx_write_file(path, cases[k].text);
        struct wl_trace *t = NULL;
        cr_assert_eq(wl_trace_read_csv(path, &t), MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
        cr_assert_null(t);
    }
}

/* Write a trace HDF5 whose arrays we choose, bypassing the writer's own checks. */
static void write_raw_trace(const char *path, size_t n, const double *arrival, const int32_t *model,
                            const double *slo, size_t n_names, const char *const *names)
{
    struct mx_h5 h;
    cr_assert_eq(mx_h5_create(path, "trace", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/arrival_s", MX_H5_F64, 1, (size_t[2]){n, 0}, arrival), MX_OK);
    if (model)
        cr_assert_eq(mx_h5_write(&h, "/model", MX_H5_I32, 1, (size_t[2]){n, 0}, model), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/slo_s", MX_H5_F64, 1, (size_t[2]){n, 0}, slo), MX_OK);
    cr_assert_eq(mx_h5_write_strings(&h, "/model_names", n_names, names), MX_OK);
    cr_assert_eq(mx_h5_close(&h), MX_OK);
}

Test(trace, bad_hdf5_names_file_dataset_and_row)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.h5");
    const char *names[2] = {"a", "b"};
    struct wl_trace *t = NULL;

    write_raw_trace(path, 3, (double[]){0, 2, 1}, (int32_t[]){0, 0, 0}, (double[]){1, 1, 1}, 1,
                    names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/arrival_s[2]: arrival time is before"), "%s",
              mx_error_message());

    write_raw_trace(path, 2, (double[]){0, NAN}, (int32_t[]){0, 0}, (double[]){1, 1}, 1, names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/arrival_s[1]: arrival time is not a finite"), "%s",
              mx_error_message());

    write_raw_trace(path, 2, (double[]){0, 1}, (int32_t[]){0, 5}, (double[]){1, 1}, 2, names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/model[1]: model index is outside"), "%s",
              mx_error_message());

    write_raw_trace(path, 2, (double[]){0, 1}, (int32_t[]){0, 0}, (double[]){1, -1}, 1, names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/slo_s[1]: SLO is not a positive"), "%s",
              mx_error_message());

    write_raw_trace(path, 2, (double[]){0, 1}, NULL, (double[]){1, 1}, 1, names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/model: missing dataset"), "%s", mx_error_message());

    const char *twice[2] = {"a", "a"};
    write_raw_trace(path, 1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 2, twice);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/model_names[1]: \"a\" is empty or repeated"), "%s",
              mx_error_message());

    write_raw_trace(path, 0, NULL, NULL, NULL, 1, names);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "no requests"), "%s", mx_error_message());
    cr_assert_null(t);
}

static struct spec_model_set *model_set(uint32_t n, double slo_s)
{
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    set->path = mx_strdup("test-models");
    set->n = n;
    set->models = MX_NEW_ARRAY(struct spec_model, n);
    for (uint32_t m = 0; m < n; m++) {
        char *name = mx_strfmt("m%u", m);
        set->models[m] = spec_model_make(name, "a", slo_s);
        free(name);
    }
    return set;
}

/* Arrival times of model m in t. */
static double *arrivals_of(const struct wl_trace *t, int32_t m, size_t *n)
{
    double *out = mx_malloc_array(t->n, sizeof(double));
    *n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->model[i] == m)
            out[(*n)++] = t->arrival_s[i];
    return out;
}

Test(gen, gamma_rate_and_cv_over_a_million_arrivals)
{
    static const double cvs[3] = {0.5, 1, 4};
    for (int c = 0; c < 3; c++) {
        struct spec_model_set *set = model_set(1, 1);
        struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                                   .rate_dist = WL_RATES_EQUAL,
                                   .total_rate = 1000,
                                   .cv = cvs[c],
                                   .duration_s = 1000,
                                   .seed = 42,
                                   .threads = 1};
        struct wl_trace *t = NULL;
        cr_assert_eq(wl_gen(set, &spec, &t), MX_OK);
        /* A million expected: rate within 2% even for CV 4 (sd of the count is cv * sqrt(n)). */
        cr_assert_float_eq((double)t->n / 1000.0, 1000.0, 20.0, "cv %g: rate %g", cvs[c],
                           (double)t->n / 1000.0);
        cr_assert_float_eq(mx_gap_cv(t->arrival_s, t->n), cvs[c], 0.03 * cvs[c],
                           "cv %g: measured %g", cvs[c], mx_gap_cv(t->arrival_s, t->n));
        wl_trace_free(t);
        spec_models_free(set);
    }
}

Test(gen, power_law_rates_poisson_and_deterministic)
{
    struct spec_model_set *set = model_set(4, 1);
    struct wl_gen_spec spec = {.process = WL_PROCESS_POISSON,
                               .rate_dist = WL_RATES_POWER,
                               .alpha = 1,
                               .total_rate = 2500,
                               .duration_s = 200,
                               .seed = 7,
                               .threads = 2};
    double rates[4];
    cr_assert_eq(wl_gen_rates(set, &spec, rates), MX_OK);
    /* 1, 1/2, 1/3, 1/4 normalised to 2500: 1200, 600, 400, 300. */
    cr_assert_float_eq(rates[0], 1200, 1e-9);
    cr_assert_float_eq(rates[3], 300, 1e-9);
    struct wl_trace *t = NULL;
    cr_assert_eq(wl_gen(set, &spec, &t), MX_OK);
    for (int32_t m = 0; m < 4; m++) {
        size_t n;
        double *a = arrivals_of(t, m, &n);
        cr_assert_float_eq((double)n / 200, rates[m], 0.05 * rates[m]);
        cr_assert_float_eq(mx_gap_cv(a, n), 1, 0.05, "Poisson gaps have CV 1");
        free(a);
    }
    wl_trace_free(t);

    spec.process = WL_PROCESS_DETERMINISTIC;
    spec.rate_dist = WL_RATES_EQUAL;
    spec.total_rate = 8;
    spec.duration_s = 10;
    cr_assert_eq(wl_gen(set, &spec, &t), MX_OK);
    cr_assert_eq(t->n, 80, "each model every 0.5 s from 0 to 9.5");
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(t->arrival_s[i], 0, "equal times ordered by model index");
        cr_assert_eq(t->model[i], (int32_t)i);
    }
    wl_trace_free(t);
    spec_models_free(set);
}

Test(gen, same_seed_same_trace_whatever_the_threads)
{
    struct spec_model_set *set = model_set(7, 0.5);
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_POWER,
                               .alpha = 0.5,
                               .total_rate = 50,
                               .cv = 3,
                               .duration_s = 300,
                               .seed = 11,
                               .threads = 1};
    struct wl_trace *one = NULL, *four = NULL, *other = NULL;
    cr_assert_eq(wl_gen(set, &spec, &one), MX_OK);
    spec.threads = 4;
    cr_assert_eq(wl_gen(set, &spec, &four), MX_OK);
    assert_same_trace(one, four);
    spec.seed = 12;
    cr_assert_eq(wl_gen(set, &spec, &other), MX_OK);
    cr_assert(other->n != one->n || other->arrival_s[0] != one->arrival_s[0]);
    for (size_t i = 0; i < one->n; i++)
        cr_assert_eq(one->slo_s[i], 0.5);
    wl_trace_free(one);
    wl_trace_free(four);
    wl_trace_free(other);
    spec_models_free(set);
}

Test(gen, explicit_rates_need_every_model)
{
    struct spec_model_set *set = model_set(2, 1);
    set->models[0].rate = 3;
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_EXPLICIT,
                               .total_rate = -1,
                               .cv = 1,
                               .duration_s = 10,
                               .threads = 1};
    double rates[2];
    cr_assert_eq(wl_gen_rates(set, &spec, rates), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "models[1] (\"m1\") gives no \"rate\""), "%s",
              mx_error_message());
    set->models[1].rate = 1;
    cr_assert_eq(wl_gen_rates(set, &spec, rates), MX_OK);
    cr_assert_eq(rates[0], 3, "explicit rates stay as given without --total-rate");
    spec.total_rate = 8;
    cr_assert_eq(wl_gen_rates(set, &spec, rates), MX_OK);
    cr_assert_float_eq(rates[0], 6, 1e-12);
    spec_models_free(set);
}

Test(models, read_resolve_and_reject)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "m.json");
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.2}, 1);
    fx_profile_add(db, "b", 1, 2, (double[]){0.1, 0.1}, 1);
    struct spec_model_set *set = NULL;

    fx_write_file(path,
                  "{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"a\", \"slo_scale\": 5, \"rate\": 2}, {\"name\": \"m1\", \"base\": \"a\", "
                  "\"slo_s\": 0.25}]}");
    cr_assert_eq(spec_models_read(path, &set), MX_OK, "%s", mx_error_message());
    cr_assert_eq(spec_models_resolve(set, db, "db.h5"), MX_OK);
    cr_assert_float_eq(set->models[0].slo.s, 1.0, 1e-12);
    cr_assert_eq(set->models[1].slo.s, 0.25);
    cr_assert_eq(set->models[0].rate, 2);
    cr_assert_eq(set->models[1].cv, -1);
    cr_assert_eq(spec_models_find(set, "m1"), 1);
    const char *out = fx_path(dir, "out.json");
    cr_assert_eq(spec_models_write(set, out), MX_OK);
    struct spec_model_set *back = NULL;
    cr_assert_eq(spec_models_read(out, &back), MX_OK);
    cr_assert_float_eq(back->models[0].slo.s, 1.0, 1e-12);
    spec_models_free(back);
    spec_models_free(set);

    static const struct bad_csv cases[] = {
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"zzz\", "
         "\"slo_s\": 1}]}",
         "models[0].base: \"zzz\" (of model \"m0\") is not in profile db.h5"},
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"b\", "
         "\"slo_scale\": 2}]}",
         "models[0].slo_scale: profile db.h5 has no (1, 1, 1) config for \"b\""},
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"a\"}]}",
         "models[0]: give exactly one of \"slo_s\" and \"slo_scale\""},
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"a\", "
         "\"slo_s\": -1}]}",
         "models[0].slo_s: -1 is out of range"},
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"a\", "
         "\"slo_s\": \"fast\"}]}",
         "models[0].slo_s: expected a number, got a string"},
        {"{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": \"a\", "
         "\"slo_s\": 1}, {\"name\": \"m0\", \"base\": \"a\", \"slo_s\": 1}]}",
         "models[1].name: model \"m0\" appears twice"},
        {"{\"format\": \"muxplan-models/1\", \"models\": []}", "models: expected at least 1"},
        {"{\"format\": \"muxplan-models/2\", \"models\": []}", "version 2 is newer"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        fx_write_file(path, cases[k].text);
        set = NULL;
        int rc = spec_models_read(path, &set);
        if (rc == MX_OK)
            rc = spec_models_resolve(set, db, "db.h5");
        cr_assert_eq(rc, MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
        spec_models_free(set);
    }
    spec_profile_free(db);
}

Test(stats, counts_rates_cv_and_peaks)
{
    /* Model 0: one request a second for 60 s; model 1: a burst of 30 in second 10. */
    size_t n = 90;
    double *arrival = mx_malloc_array(n, sizeof(double)), *slo = mx_malloc_array(n, sizeof(double));
    int32_t *model = mx_malloc_array(n, sizeof(int32_t));
    size_t k = 0;
    for (int s = 0; s < 60; s++) {
        arrival[k] = s + 0.5;
        model[k] = 0;
        slo[k++] = 1;
        if (s == 10)
            for (int b = 0; b < 30; b++) {
                arrival[k] = 10.6 + b * 0.01;
                model[k] = 1;
                slo[k++] = 1;
            }
    }
    struct wl_trace *t = fx_trace(n, arrival, model, slo, 2);
    t->start_s = 0;
    t->duration_s = 60;
    struct wl_trace_stats s;
    wl_trace_stats_compute(t, &s);
    cr_assert_eq(s.total.requests, 90);
    cr_assert_float_eq(s.total.rate, 1.5, 1e-12);
    cr_assert_float_eq(s.models[0].rate, 1, 1e-12);
    cr_assert_float_eq(s.models[0].cv, 0, 1e-9);
    cr_assert_float_eq(s.models[0].peak_to_mean[0], 1, 1e-12);
    cr_assert_float_eq(s.models[1].peak_to_mean[0], 60, 1e-9, "30 in one of 60 windows of 1 s");
    cr_assert_float_eq(s.models[1].peak_to_mean[1], 6, 1e-9, "30 in one of 6 windows of 10 s");
    cr_assert_float_eq(s.total.peak_to_mean[2], 1, 1e-12, "one whole 60 s window");
    wl_trace_stats_release(&s);
    wl_trace_free(t);
    free(arrival);
    free(slo);
    free(model);
}
