/* mux, muxplan's own placement policy (src/planner/policy_mux.c): the spread fill on a hand-checked
 * case, plans on small cases whose best placement is known, --robust on a workload whose windows
 * differ on purpose (a model whose traffic moves), batching and dispatch chosen where they serve
 * better, predicted attainment equal to the simulator's, the same plan for any thread count, and
 * the errors of its parameters. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "plan_int.h"
#include "sim_dispatch.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* A problem built in memory: models m0, m1, ... of base "a", one SLO for every request. */
struct problem {
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_model_set *set;
    struct wl_trace *trace;
    struct plan_problem pb;
};

static struct problem problem_new(uint32_t devices, int64_t budget, struct spec_profile *db,
                                  uint32_t n_models, double slo_s, size_t n, const double *time,
                                  const int32_t *model)
{
    struct problem p = {.cluster = fx_cluster(devices, devices), .db = db};
    p.cluster.mem_budget_bytes = budget;
    p.set = MX_NEW(struct spec_model_set);
    p.set->path = mx_strdup("models.json");
    p.set->n = n_models;
    p.set->models = MX_NEW_ARRAY(struct spec_model, n_models);
    for (uint32_t m = 0; m < n_models; m++) {
        char *name = mx_strfmt("m%u", m);
        p.set->models[m] = spec_model_make(name, "a", slo_s);
        free(name);
    }
    double *slo = MX_NEW_ARRAY(double, n);
    for (size_t i = 0; i < n; i++)
        slo[i] = slo_s;
    p.trace = fx_trace(n, time, model, slo, n_models);
    free(slo);
    return p;
}

/* pb points into p: call once p has its final address. */
static void problem_bind(struct problem *p, unsigned threads)
{
    p->pb = (struct plan_problem){.cluster = &p->cluster,
                                  .cluster_path = "cluster.json",
                                  .db = p->db,
                                  .db_path = "profile.h5",
                                  .models = p->set,
                                  .train = p->trace,
                                  .dispatch = &sim_dispatch_earliest_free,
                                  .threads = threads,
                                  .seed = 3};
}

static void problem_free(struct problem *p)
{
    wl_trace_free(p->trace);
    spec_models_free(p->set);
    spec_profile_free(p->db);
}

/* Model m's replicas in the plan's one segment. */
static uint32_t replicas_of(const struct spec_plan *plan, uint32_t m)
{
    uint32_t n = 0;
    for (uint32_t g = 0; g < plan->segments[0].n_groups; g++)
        for (uint32_t j = 0; j < plan->segments[0].groups[g].n_models; j++)
            n += plan->segments[0].groups[g].models[j] == m;
    return n;
}

static struct spec_plan *solve(struct problem *p, const struct plan_params *pa,
                               struct plan_outcome *outcome)
{
    struct plan_params params = *pa;
    const struct plan_policy *mux = plan_policy_find("mux", &params);
    cr_assert_not_null(mux);
    struct spec_plan *plan = NULL;
    cr_assert_eq(plan_solve(mux, &p->pb, &params, &plan, outcome), MX_OK, "%s", mx_error_message());
    cr_assert_eq(spec_plan_validate(plan, &p->cluster, "cluster.json", p->db, "profile.h5"), MX_OK,
                 "%s", mx_error_message());
    return plan;
}

/* The plan's attainment on trace t, as compare scores it (its own dispatch and batch size). */
static double score_on(struct problem *p, const struct spec_plan *plan, const struct wl_trace *t)
{
    struct plan_test s = {0};
    cr_assert_eq(plan_score(&p->pb, plan, t, 0, &s), MX_OK, "%s", mx_error_message());
    double a = s.attainment;
    plan_test_release(&s);
    return a;
}

Test(mux, spread_fill_places_by_requests_then_work_per_replica)
{
    /* Two one-device groups with room for two models each; m0, m1, m2 send 6, 4 and 2 requests. */
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    static const double time[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    static const int32_t model[12] = {0, 1, 0, 2, 0, 1, 0, 1, 0, 2, 0, 1};
    struct problem p = problem_new(2, 20, db, 3, 0.25, 12, time, model);
    problem_bind(&p, 1);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK, "%s", mx_error_message());
    struct spec_placement layout;
    pl_placement_layout(&layout, 2, 1, 1, 1);
    /* Once each, most requests per byte first, on the least loaded group (ties to the lower one):
     * m0 on device 0; m1 on device 1 (load 0 against 0.6); m2 on device 1 (0.4 against 0.6).
     * Then the most work per replica: m0 (0.6) finds no room beside its own group (device 1 is
     * full); m1 (0.4) goes on device 0; then nothing fits. */
    pl_fill_spread(&c, &layout, (double[]){6, 4, 2}, 20, NULL, NULL);
    cr_assert_eq(layout.n_groups, 2);
    const struct spec_group *g0 =
        layout.groups[0].first_device == 0 ? &layout.groups[0] : &layout.groups[1];
    const struct spec_group *g1 = g0 == &layout.groups[0] ? &layout.groups[1] : &layout.groups[0];
    cr_assert_eq(g0->n_models, 2);
    cr_assert(g0->models[0] == 0 && g0->models[1] == 1);
    cr_assert_eq(g1->n_models, 2);
    cr_assert(g1->models[0] == 1 && g1->models[1] == 2);
    spec_placement_release(&layout);
    pl_context_release(&c);
    problem_free(&p);
}

/* Four one-device groups with room for one model each. m0 sends two requests at once every second
 * for 20 s, which one device cannot serve within the SLO (0.15 s, 0.1 s each); m1 and m2 one at a
 * time. The only placement that serves everything: m0 twice, m1 and m2 once. */
Test(mux, serves_a_model_that_comes_in_pairs_from_two_devices)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    double time[80];
    int32_t model[80];
    size_t n = 0;
    for (int k = 0; k < 20; k++) {
        time[n] = k, model[n++] = 0;
        time[n] = k, model[n++] = 0;
        time[n] = k + 0.3, model[n++] = 1;
        time[n] = k + 0.6, model[n++] = 2;
    }
    struct problem p = problem_new(4, 10, db, 3, 0.15, n, time, model);
    problem_bind(&p, 1);
    struct plan_outcome outcome;
    struct plan_params pa = plan_params_default();
    struct spec_plan *plan = solve(&p, &pa, &outcome);
    cr_assert_eq(outcome.attainment, 1);
    cr_assert_eq(replicas_of(plan, 0), 2);
    cr_assert_eq(replicas_of(plan, 1), 1);
    cr_assert_eq(replicas_of(plan, 2), 1);
    /* Predicted is what the simulator measures. */
    cr_assert_eq(score_on(&p, plan, p.trace), outcome.attainment);
    spec_plan_free(plan);
    problem_free(&p);
}

/* The moving model: four one-device groups with room for one model each, three models. In the
 * first minute m0 sends 20 pairs at once (the second of a pair needs a second device) among 160
 * single requests of m2; in the second m1 sends 15 pairs among 21 of m2. One spare device: on the
 * whole workload, m0 should have it (20 misses saved against 15); judged by the worse of the two
 * minutes, m1 (the first minute at 180/200 against the second at 36/51). */
static struct problem moving_model(void)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    double *time = MX_NEW_ARRAY(double, 251);
    int32_t *model = MX_NEW_ARRAY(int32_t, 251);
    size_t n = 0;
    for (int k = 0; k < 20; k++) {
        time[n] = k, model[n++] = 0;
        time[n] = k, model[n++] = 0;
    }
    for (int k = 0; k < 160; k++)
        time[n] = 20 + 0.25 * k, model[n++] = 2;
    for (int k = 0; k < 15; k++) {
        time[n] = 61 + k, model[n++] = 1;
        time[n] = 61 + k, model[n++] = 1;
    }
    for (int k = 0; k < 21; k++)
        time[n] = 80 + 2 * k, model[n++] = 2;
    struct problem p = problem_new(4, 10, db, 3, 0.15, n, time, model);
    free(time);
    free(model);
    return p;
}

/* The plan's attainment in each half of the training workload. */
static void halves(struct problem *p, const struct spec_plan *plan, double *first, double *second)
{
    const struct wl_trace *t = p->trace;
    const int32_t identity[3] = {0, 1, 2};
    const double middle = t->start_s + t->duration_s / 2;
    struct wl_trace *a =
        wl_trace_select(t, -1e9, middle, identity, 3, (const char *const *)t->model_names);
    struct wl_trace *b =
        wl_trace_select(t, middle, 1e9, identity, 3, (const char *const *)t->model_names);
    *first = score_on(p, plan, a);
    *second = score_on(p, plan, b);
    wl_trace_free(a);
    wl_trace_free(b);
}

Test(mux, robust_plans_for_the_worse_window_when_a_model_moves)
{
    struct problem p = moving_model();
    problem_bind(&p, 1);
    struct plan_outcome outcome;
    struct plan_params pa = plan_params_default();
    struct spec_plan *plain = solve(&p, &pa, &outcome);
    double first, second;
    halves(&p, plain, &first, &second);
    cr_assert_eq(replicas_of(plain, 0), 2);
    cr_assert_float_eq(first, 1, 1e-12);
    cr_assert_float_eq(second, 36.0 / 51, 1e-12);
    cr_assert_float_eq(outcome.attainment, 236.0 / 251, 1e-12);

    pa.robust = 2;
    struct spec_plan *robust = solve(&p, &pa, &outcome);
    halves(&p, robust, &first, &second);
    cr_assert_eq(replicas_of(robust, 1), 2);
    cr_assert_float_eq(first, 180.0 / 200, 1e-12);
    cr_assert_float_eq(second, 1, 1e-12);
    /* It records each window's attainment; its prediction is the whole workload's, simulated. */
    json_t *w =
        json_object_get(json_object_get(json_object_get(robust->extra, "predicted"), "search"),
                        "window_attainment");
    cr_assert_eq(json_array_size(w), 2);
    cr_assert_float_eq(json_real_value(json_array_get(w, 0)), 0.9, 1e-12);
    cr_assert_float_eq(json_real_value(json_array_get(w, 1)), 1, 1e-12);
    cr_assert_eq(outcome.attainment, score_on(&p, robust, p.trace));
    spec_plan_free(plain);
    spec_plan_free(robust);
    problem_free(&p);
}

Test(mux, batches_and_dispatch_are_chosen_where_they_serve_better)
{
    /* One device; m0 sends three requests a second: one, then two 10 ms later. Alone each takes
     * 0.1 s, two together 0.12 s; SLO 0.25 s. Without batching the third misses (0.3 s after it
     * came); in a batch of two the second and third finish at 0.22 s. */
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add_batches(db, "a", 1, 1, 2, (int32_t[]){1, 2}, (double[]){0.1, 0.12}, 10);
    double time[30];
    int32_t model[30] = {0};
    for (int k = 0; k < 10; k++) {
        time[3 * k] = k;
        time[3 * k + 1] = time[3 * k + 2] = k + 0.01;
    }
    struct problem p = problem_new(1, 10, db, 1, 0.25, 30, time, model);
    problem_bind(&p, 1);
    struct plan_outcome outcome;
    struct plan_params pa = plan_params_default();
    struct spec_plan *plan = solve(&p, &pa, &outcome);
    cr_assert_eq(spec_plan_max_batch(plan), 2);
    cr_assert_str_eq(spec_plan_dispatch(plan), "least-outstanding");
    cr_assert_eq(outcome.attainment, 1);
    cr_assert_eq(score_on(&p, plan, p.trace), 1);
    json_t *search = json_object_get(json_object_get(plan->extra, "predicted"), "search");
    cr_assert_float_eq(json_real_value(json_object_get(
                           json_object_get(search, "attainment_by_dispatch"), "earliest-free")),
                       20.0 / 30, 1e-12);
    spec_plan_free(plan);
    /* --max-batch 1 keeps batching out; then earliest-free stays (nothing serves better). */
    pa.max_batch = 1;
    plan = solve(&p, &pa, &outcome);
    cr_assert_eq(spec_plan_max_batch(plan), 1);
    cr_assert_str_eq(spec_plan_dispatch(plan), "earliest-free");
    cr_assert_float_eq(outcome.attainment, 20.0 / 30, 1e-12);
    cr_assert_eq(score_on(&p, plan, p.trace), outcome.attainment);
    spec_plan_free(plan);
    problem_free(&p);
}

/* A case with several layouts to search (groups of 1, 2 and 4 of 8 devices) and misses to chase. */
static struct problem layouts_case(void)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    fx_profile_add(db, "a", 1, 2, (double[]){0.052, 0.052}, 5);
    fx_profile_add(db, "a", 1, 4, (double[]){0.027, 0.027, 0.027, 0.027}, 3);
    enum { N = 3000 };
    double *time = MX_NEW_ARRAY(double, N);
    int32_t *model = MX_NEW_ARRAY(int32_t, N);
    uint64_t x = 12345;
    double t = 0;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const double u = (double)(x >> 11) / 9007199254740992.0;
        t += (i % 50 < 10) ? 0.001 : 0.05 * u; /* bursts every 50 requests */
        time[i] = t;
        model[i] = (int32_t)((x >> 33) % 12 < 6 ? (x >> 40) % 3 : (x >> 40) % 12);
    }
    struct problem p = problem_new(8, 40, db, 12, 0.3, N, time, model);
    free(time);
    free(model);
    return p;
}

Test(mux, plans_are_the_same_for_any_thread_count)
{
    const char *dir = fx_tmpdir();
    for (int robust = 1; robust <= 2; robust++) {
        char *text[2];
        for (unsigned k = 0; k < 2; k++) {
            struct problem p = layouts_case();
            problem_bind(&p, k ? 3 : 1);
            struct plan_outcome outcome;
            struct plan_params pa = plan_params_default();
            pa.robust = (uint32_t)robust;
            struct spec_plan *plan = solve(&p, &pa, &outcome);
            const char *path = fx_path(dir, k ? "three.json" : "one.json");
            cr_assert_eq(spec_plan_write(plan, path), MX_OK, "%s", mx_error_message());
            text[k] = fx_read_file(path, NULL);
            cr_assert_eq(outcome.attainment, score_on(&p, plan, p.trace), "robust %d", robust);
            spec_plan_free(plan);
            problem_free(&p);
        }
        cr_assert_str_eq(text[0], text[1], "robust %d", robust);
        free(text[0]);
        free(text[1]);
    }
}

Test(mux, a_robust_window_without_requests_is_an_error)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    /* Every request in the first quarter but the last, at 100 s. */
    static const double time[4] = {0, 1, 2, 100};
    static const int32_t model[4] = {0, 0, 0, 0};
    struct problem p = problem_new(1, 10, db, 1, 1, 4, time, model);
    problem_bind(&p, 1);
    struct plan_params pa = plan_params_default();
    pa.robust = 4;
    const struct plan_policy *mux = plan_policy_find("mux", &pa);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    fx_expect_error(plan_solve(mux, &p.pb, &pa, &plan, &outcome), MX_EINPUT,
                    "mux --robust 4: window 2 of the training workload (25 s to 50 s) has no "
                    "requests; use fewer windows");
    cr_assert_null(plan);
    problem_free(&p);
}
