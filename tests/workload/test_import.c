/* src/workload importers: every format on small fixtures, the transforms' statistics, the windowed
 * refit recovering a Gamma trace, and key-to-model mapping. Bad inputs are in tests/cli. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "mx_stats.h"
#include "spec_models.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct wl_trace *import(const char *format, const char *path, struct wl_import_spec spec)
{
    struct wl_trace *t = NULL;
    struct wl_import_report report;
    spec.format = format;
    if (spec.slo_s <= 0 && !spec.set)
        spec.slo_s = 1;
    int rc = wl_import(path, &spec, &t, &report);
    cr_assert_eq(rc, MX_OK, "%s %s: %s", format, path, mx_error_message());
    return t;
}

static const char *fixture(const char *name)
{
    char relative[256];
    snprintf(relative, sizeof(relative), "tests/data/traces/%s", name);
    return fx_source_path(relative);
}

static size_t count_model(const struct wl_trace *t, int32_t model)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->model[i] == model;
    return n;
}

static int32_t model_named(const struct wl_trace *t, const char *name)
{
    for (uint32_t m = 0; m < t->n_models; m++)
        if (strcmp(t->model_names[m], name) == 0)
            return (int32_t)m;
    cr_assert_fail("no model \"%s\"", name);
    return -1;
}

Test(import, azure_llm_2023_keeps_100ns_digits_of_epoch_datetimes)
{
    struct wl_trace *t =
        import("azure-llm-2023", fixture("azure_code_head20.csv"), wl_import_spec_default());
    cr_assert_eq(t->n, 20);
    cr_assert_eq(t->n_models, 1);
    cr_assert_str_eq(t->model_names[0], "azure_code_head20");
    cr_assert_eq(t->arrival_s[0], 0);
    /* 18:17:03.9799600 then 18:17:04.0319600 */
    cr_assert_float_eq(t->arrival_s[1], 0.052, 1e-9);
    cr_assert_eq(t->start_s, 0);
    cr_assert_float_eq(t->duration_s, t->arrival_s[19], 1e-12);
    wl_trace_free(t);
}

Test(import, datetimes_iso8601_zones_and_strptime_formats)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "t.csv");
    fx_write_file(path, "when,who\n"
                        "2024-02-28T23:59:59.5Z,a\n"
                        "2024-02-29 00:00:00,a\n"
                        "2024-02-29T01:00:01+01:00,b\n"
                        "2024-03-01T00:00:00.25-0000,b\n");
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "when";
    spec.time_unit = "datetime";
    spec.key_column = "who";
    struct wl_trace *t = import("csv", path, spec);
    double expected[4] = {0, 0.5, 1.5, 86400.75};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(t->arrival_s[i], expected[i], 1e-9, "row %d: %.9f", i, t->arrival_s[i]);
    wl_trace_free(t);

    fx_write_file(path, "when\n28/02/2024 23:59:59.5\n29/02/2024 00:00:03\n");
    spec.key_column = NULL;
    spec.time_format = "%d/%m/%Y %H:%M:%S";
    t = import("csv", path, spec);
    cr_assert_float_eq(t->arrival_s[1], 3.5, 1e-9);
    wl_trace_free(t);
}

Test(import, tsv_and_jsonl_with_units_and_keys)
{
    const char *dir = fx_tmpdir(), *tsv = fx_path(dir, "t.tsv"), *jsonl = fx_path(dir, "t.jsonl");
    fx_write_file(tsv, "t_ms\tfn\n1000\tx\n1500\ty\n4000\tx\n");
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t_ms";
    spec.time_unit = "ms";
    spec.key_column = "fn";
    struct wl_trace *t = import("tsv", tsv, spec);
    cr_assert_eq(t->n, 3);
    cr_assert_float_eq(t->arrival_s[2], 3.0, 1e-12);
    cr_assert_eq(t->n_models, 2);
    wl_trace_free(t);

    fx_write_file(jsonl, "{\"ts\": 10, \"client\": 7}\n\n{\"ts\": 10.5, \"client\": \"z\"}\n");
    spec.time_column = "ts";
    spec.time_unit = "min";
    spec.key_column = "client";
    t = import("jsonl", jsonl, spec);
    cr_assert_eq(t->n, 2);
    cr_assert_float_eq(t->arrival_s[1], 30.0, 1e-12);
    cr_assert_str_eq(t->model_names[0], "7");
    wl_trace_free(t);
}

Test(import, mooncake_spreads_3s_steps_reproducibly)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.seed = 5;
    struct wl_trace *a = import("mooncake", fixture("mooncake_head40.jsonl"), spec);
    struct wl_trace *b = import("mooncake", fixture("mooncake_head40.jsonl"), spec);
    cr_assert_eq(a->n, 40);
    /* Steps at 0, 3, 6, 9 and 12 s hold 10, 16, 3, 9 and 2 requests; each lands inside its step.
     */
    size_t per_step[5] = {0};
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->arrival_s[i], b->arrival_s[i]);
        if (i > 0)
            cr_assert_geq(a->arrival_s[i], a->arrival_s[i - 1]);
        per_step[(size_t)floor(a->arrival_s[i] / 2.9995)]++;
    }
    cr_assert_eq(per_step[0], 10);
    cr_assert_eq(per_step[1], 16);
    cr_assert_eq(per_step[4], 2);
    cr_assert_float_eq(a->duration_s, 15.0, 1e-9);
    spec.spread_s = 0;
    struct wl_trace *c = import("mooncake", fixture("mooncake_head40.jsonl"), spec);
    cr_assert_eq(c->arrival_s[9], 0);
    cr_assert_eq(c->arrival_s[10], 3.0);
    wl_trace_free(a);
    wl_trace_free(b);
    wl_trace_free(c);
}

Test(import, genai_lora_skips_rows_without_a_model)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.spread_s = 0;
    struct wl_trace *t = NULL;
    struct wl_import_report report;
    spec.format = "alibaba-genai-lora";
    spec.slo_s = 2;
    cr_assert_eq(wl_import(fixture("genai_lora_synthetic.csv"), &spec, &t, &report), MX_OK, "%s",
                 mx_error_message());
    cr_assert_eq(report.rows, 6);
    cr_assert_eq(report.skipped_rows, 1);
    cr_assert_eq(t->n, 5);
    cr_assert_eq(count_model(t, model_named(t, "M0007")), 3);
    cr_assert_eq(count_model(t, model_named(t, "M0003")), 2);
    cr_assert_eq(t->arrival_s[4], 150);
    cr_assert_eq(t->slo_s[0], 2);
    wl_trace_free(t);
}

Test(import, burstgpt_models_from_the_bundled_head)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.no_tokens = true; /* every row, the failed one too (test_import_tokens.c has the rest) */
    struct wl_trace *t = import(
        "burstgpt", fx_source_path("traces/burstgpt_head_slices/BurstGPT_3_first400.csv"), spec);
    cr_assert_eq(t->n, 400);
    cr_assert_eq(count_model(t, model_named(t, "ChatGPT")), 305);
    cr_assert_eq(count_model(t, model_named(t, "GPT-4")), 95);
    wl_trace_free(t);
}

Test(import, azure_functions_counts_become_poisson_windows)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.seed = 1;
    struct wl_trace *t = import("azure-functions", fixture("azure_functions_synthetic.csv"), spec);
    cr_assert_eq(t->duration_s, 300);
    int32_t busy = model_named(t, "f-busy"), small = model_named(t, "f-small");
    cr_assert_eq(t->n_models, 2, "f-idle has no requests and no model");
    size_t n_busy = count_model(t, busy);
    cr_assert(fabs((double)n_busy - 3000) < 4 * sqrt(3000), "%zu", n_busy);
    size_t in_third_minute = 0;
    for (size_t i = 0; i < t->n; i++)
        in_third_minute += t->model[i] == busy && t->arrival_s[i] >= 120 && t->arrival_s[i] < 180;
    cr_assert_eq(in_third_minute, 0);
    cr_assert(count_model(t, small) > 120 && count_model(t, small) < 240);
    wl_trace_free(t);

    /* --rate-scale and --count-window apply to the generated windows. */
    spec.rate_scale = 0.5;
    spec.count_window_s = 120;
    t = import("azure-functions", fixture("azure_functions_synthetic.csv"), spec);
    cr_assert_eq(t->duration_s, 600);
    n_busy = count_model(t, model_named(t, "f-busy"));
    cr_assert(fabs((double)n_busy - 1500) < 4 * sqrt(1500), "%zu", n_busy);
    wl_trace_free(t);
}

Test(import, servegen_folder_generates_each_clients_windows)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.seed = 2;
    struct wl_trace *t = import("servegen", fixture("servegen"), spec);
    cr_assert_eq(t->duration_s, 7200);
    int32_t idle_until_6600 = model_named(t, "client-3");
    for (size_t i = 0; i < t->n; i++)
        if (t->model[i] == idle_until_6600)
            cr_assert_geq(t->arrival_s[i], 6600);
    /* client-3 asks for 2.34 req/s over its last window (Weibull gaps, CV 15.6): the count is
     * noisy, its expectation 1404. */
    size_t n3 = count_model(t, idle_until_6600);
    cr_assert(n3 > 100 && n3 < 6000, "%zu", n3);
    wl_trace_free(t);

    /* A window cut and a speed-up: the rate doubles, the trace halves. */
    spec.from_s = 600;
    spec.to_s = 4200;
    spec.speed_up = 2;
    t = import("servegen", fixture("servegen"), spec);
    cr_assert_eq(t->duration_s, 1800);
    cr_assert_eq(t->n_models, 1, "client-3 was idle in the window");
    wl_trace_free(t);
}

struct keyed {
    double t;
    uint32_t key;
};

static int compare_keyed(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    return (a->t > b->t) - (a->t < b->t);
}

/* A Gamma(rate, cv) stream per key, n_keys keys, written as CSV "t,key" sorted by time. */
static const char *gamma_csv(const char *dir, double rate, double cv, double duration_s,
                             uint32_t n_keys, uint64_t seed)
{
    const char *path = fx_path(dir, "gamma.csv");
    size_t cap = (size_t)(rate * duration_s * n_keys * 2) + 16, n = 0;
    struct keyed *rows = mx_malloc_array(cap, sizeof(*rows));
    for (uint32_t k = 0; k < n_keys; k++) {
        gsl_rng *rng = mx_rng_new(seed, "test", k);
        double shape = 1 / (cv * cv), scale = cv * cv / rate;
        for (double x = gsl_ran_gamma(rng, shape, scale); x < duration_s && n < cap;
             x += gsl_ran_gamma(rng, shape, scale))
            rows[n++] = (struct keyed){x, k};
        gsl_rng_free(rng);
    }
    qsort(rows, n, sizeof(*rows), compare_keyed);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs("t,key\n", fp);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%.9f,k%u\n", rows[i].t, rows[i].key);
    fclose(fp);
    free(rows);
    return path;
}

static double model_cv(const struct wl_trace *t, int32_t model)
{
    double *v = mx_malloc_array(t->n, sizeof(double));
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->model[i] == model)
            v[n++] = t->arrival_s[i];
    double cv = mx_gap_cv(v, n);
    free(v);
    return cv;
}

Test(import, transforms_keep_count_rate_and_cv)
{
    const char *dir = fx_tmpdir(), *path = gamma_csv(dir, 10, 3, 2000, 1, 7);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "key";
    struct wl_trace *base = import("csv", path, spec);
    double base_cv = model_cv(base, 0), base_rate = (double)base->n / base->duration_s;
    cr_assert(fabs(base_rate - 10) < 1.5, "rate %g", base_rate);

    /* Speed-up: same count, twice the rate, the same CV. */
    spec.speed_up = 2;
    struct wl_trace *fast = import("csv", path, spec);
    cr_assert_eq(fast->n, base->n);
    cr_assert_float_eq(fast->duration_s, base->duration_s / 2, 1e-9);
    cr_assert_float_eq(model_cv(fast, 0), base_cv, 1e-6);

    /* A window keeps what falls in it, starting at 0. */
    spec.speed_up = 1;
    spec.from_s = 500;
    spec.to_s = 1500;
    struct wl_trace *cut = import("csv", path, spec);
    size_t inside = 0;
    for (size_t i = 0; i < base->n; i++)
        inside += base->arrival_s[i] >= 500 && base->arrival_s[i] < 1500;
    cr_assert_eq(cut->n, inside);
    cr_assert_eq(cut->duration_s, 1000);
    /* A window reaching past the end keeps the last request and ends with it. */
    spec.from_s = 0;
    spec.to_s = 1e6;
    struct wl_trace *all = import("csv", path, spec);
    cr_assert_eq(all->n, base->n);
    cr_assert_eq(all->duration_s, base->duration_s);
    wl_trace_free(all);

    /* Thinning and cloning scale the count; thinning moves the CV toward 1 as theory says
     * (cv^2 p + 1 - p), cloning keeps the rate's shape. */
    spec.from_s = 0;
    spec.to_s = 0;
    spec.rate_scale = 0.5;
    struct wl_trace *thin = import("csv", path, spec);
    double n = (double)base->n;
    cr_assert(fabs((double)thin->n - n / 2) < 4 * sqrt(n / 4), "%zu of %zu", thin->n, base->n);
    double expected_cv = sqrt(base_cv * base_cv * 0.5 + 0.5);
    cr_assert(fabs(model_cv(thin, 0) - expected_cv) < 0.15 * expected_cv, "%g vs %g",
              model_cv(thin, 0), expected_cv);
    spec.rate_scale = 2.5;
    struct wl_trace *clone = import("csv", path, spec);
    cr_assert(fabs((double)clone->n - 2.5 * n) < 4 * sqrt(n), "%zu", clone->n);
    cr_assert_eq(clone->duration_s, base->duration_s);
    for (size_t i = 1; i < clone->n; i++)
        cr_assert_geq(clone->arrival_s[i], clone->arrival_s[i - 1]);
    wl_trace_free(base);
    wl_trace_free(fast);
    wl_trace_free(cut);
    wl_trace_free(thin);
    wl_trace_free(clone);
}

Test(import, refit_recovers_rate_and_cv_of_a_gamma_trace)
{
    const char *dir = fx_tmpdir(), *path = gamma_csv(dir, 20, 3, 3600, 2, 11);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "key";
    spec.refit_window_s = 600;
    spec.seed = 4;
    struct wl_trace *t = import("csv", path, spec);
    for (int32_t m = 0; m < 2; m++) {
        double rate = (double)count_model(t, m) / t->duration_s, cv = model_cv(t, m);
        cr_assert(fabs(rate - 20) < 0.1 * 20, "model %d: rate %g", m, rate);
        cr_assert(fabs(cv - 3) < 0.15 * 3, "model %d: cv %g", m, cv);
    }
    wl_trace_free(t);
    /* --rate-scale and --cv-scale act on the refit. */
    spec.rate_scale = 2;
    spec.cv_scale = 0.5;
    t = import("csv", path, spec);
    for (int32_t m = 0; m < 2; m++) {
        double rate = (double)count_model(t, m) / t->duration_s, cv = model_cv(t, m);
        cr_assert(fabs(rate - 40) < 0.1 * 40, "model %d: rate %g", m, rate);
        cr_assert(fabs(cv - 1.5) < 0.15 * 1.5, "model %d: cv %g", m, cv);
    }
    wl_trace_free(t);
}

Test(import, keys_map_to_models_by_popularity_round_robin_or_a_file)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "k.csv");
    /* First appearance: c, a, b; popularity: a (3), b (2), c (1). */
    fx_write_file(path, "t,k\n0,c\n1,a\n2,b\n3,a\n4,b\n5,a\n");
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "k";
    spec.n_models = 2;
    struct wl_trace *t = import("csv", path, spec);
    int32_t popularity[6] = {0, 0, 1, 0, 1, 0}; /* c: rank 2 -> m0; a -> m0; b -> m1 */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(t->model[i], popularity[i], "row %d", i);
    cr_assert_str_eq(t->model_names[1], "m1");
    wl_trace_free(t);

    spec.map = WL_MAP_ROUND_ROBIN;
    t = import("csv", path, spec);
    int32_t round_robin[6] = {0, 1, 0, 1, 0, 1}; /* c -> m0, a -> m1, b -> m0 */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(t->model[i], round_robin[i], "row %d", i);
    wl_trace_free(t);

    spec.map = WL_MAP_DEFAULT;
    spec.n_models = 0;
    spec.top_k = 2;
    t = import("csv", path, spec);
    cr_assert_eq(t->n, 5);
    cr_assert_eq(t->n_models, 2);
    cr_assert_str_eq(t->model_names[0], "a");
    wl_trace_free(t);

    const char *map = fx_path(dir, "map.json");
    fx_write_file(map, "{\"format\": \"muxplan-trace-map/1\", \"map\": {\"a\": \"big\", \"b\": "
                       "\"small\", \"c\": \"small\"}}");
    spec.top_k = 0;
    spec.map_path = map;
    t = import("csv", path, spec);
    cr_assert_eq(t->n_models, 2);
    cr_assert_eq(count_model(t, model_named(t, "big")), 3);
    cr_assert_eq(count_model(t, model_named(t, "small")), 3);
    wl_trace_free(t);
}

Test(import, a_model_set_gives_names_and_slos)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "k.csv"), *models = fx_path(dir, "m.json");
    fx_write_file(path, "t,k\n0,x\n1,y\n2,y\n");
    fx_write_file(models, "{\"format\": \"muxplan-models/1\", \"models\": ["
                          "{\"name\": \"hot\", \"base\": \"b\", \"slo_s\": 0.5},"
                          "{\"name\": \"cold\", \"base\": \"b\", \"slo_s\": 2}]}");
    struct spec_model_set *set = NULL;
    cr_assert_eq(spec_models_read(models, &set), MX_OK, "%s", mx_error_message());
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "k";
    spec.set = set;
    struct wl_trace *t = import("csv", path, spec);
    cr_assert_eq(t->n_models, 2);
    cr_assert_eq(t->model[0], 1, "x is less popular: cold");
    cr_assert_eq(t->slo_s[0], 2);
    cr_assert_eq(t->model[1], 0);
    cr_assert_eq(t->slo_s[1], 0.5);
    wl_trace_free(t);
    spec_models_free(set);
}

Test(import, split_spreads_one_service_over_a_power_law)
{
    const char *dir = fx_tmpdir(), *path = gamma_csv(dir, 20, 2, 1000, 1, 5);
    struct wl_import_spec spec = wl_import_spec_default();
    spec.time_column = "t";
    spec.key_column = "key";
    spec.n_models = 4;
    spec.map = WL_MAP_SPLIT;
    spec.split_alpha = 1;
    spec.seed = 9;
    struct wl_trace *t = import("csv", path, spec);
    double total = 1 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4;
    for (int32_t m = 0; m < 4; m++) {
        double expected = (double)t->n / (m + 1) / total;
        double got = (double)count_model(t, m);
        cr_assert(fabs(got - expected) < 4 * sqrt(expected), "model %d: %g vs %g", m, got,
                  expected);
    }
    wl_trace_free(t);
}
