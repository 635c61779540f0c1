/* Variable stage times (docs/simulator.md, Variability): the cluster's "interference" and
 * "stage_time" members; the distributions' draws; interference computed by hand, forwards in the
 * event engine and backwards from measured spans (sim_interference_work); a neutral model runs the
 * variability machinery (drawn times, moved finishes, corrected clocks, learned speeds) and must
 * reproduce the event engine request by request on random cases; draws are seeded and do not
 * depend on the thread count. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "random_case.h"
#include "sim_interference.h"
#include "spec_cluster.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#define NS(s) ((mx_ns)llround((s)*1e9))

static const char *const base_a[4] = {"a", "a", "a", "a"};

static struct sim_options event_options(bool variability)
{
    return (struct sim_options){
        .engine = SIM_ENGINE_EVENT, .max_batch = 1, .threads = 1, .variability = variability};
}

/* ---- the cluster file ---- */

static const char *cluster_file(const char *dir, const char *members)
{
    const char *path = fx_path(dir, "c.json");
    char *text = mx_strfmt("{\"format\": \"muxplan-cluster/1\", \"devices\": 2, "
                           "\"devices_per_node\": 2, \"mem_budget_bytes\": 1000%s%s}",
                           members[0] ? ", " : "", members);
    fx_write_file(path, text);
    free(text);
    return path;
}

Test(variability, cluster_members_read_write_and_default_to_none)
{
    const char *dir = fx_tmpdir();
    struct spec_cluster c;
    cr_assert_eq(spec_cluster_read(cluster_file(dir, ""), &c), MX_OK, "%s", mx_error_message());
    cr_assert_eq(c.interference.n, 0);
    cr_assert_eq(c.stage_time.kind, SPEC_DIST_CONSTANT);
    cr_assert_not(spec_cluster_varies(&c));

    const char *path = cluster_file(dir, "\"interference\": {\"busy_slowdown\": [1, 1.5]}, "
                                         "\"stage_time\": {\"dist\": \"empirical\", "
                                         "\"quantiles\": [0.9, 1, 1.4]}");
    cr_assert_eq(spec_cluster_read(path, &c), MX_OK, "%s", mx_error_message());
    cr_assert_eq(c.interference.n, 2);
    cr_assert_float_eq(spec_interference_slowdown(&c.interference, 1), 1.0, 0);
    cr_assert_float_eq(spec_interference_slowdown(&c.interference, 2), 1.5, 0);
    cr_assert_float_eq(spec_interference_slowdown(&c.interference, 9), 1.5, 0,
                       "counts beyond the list take its last entry");
    cr_assert_eq(c.stage_time.kind, SPEC_DIST_EMPIRICAL);
    cr_assert_eq(c.stage_time.n, 3);
    cr_assert(spec_cluster_varies(&c));
    const char *out = fx_path(dir, "back.json");
    cr_assert_eq(spec_cluster_write(&c, out), MX_OK);
    struct spec_cluster back;
    cr_assert_eq(spec_cluster_read(out, &back), MX_OK, "%s", mx_error_message());
    cr_assert_eq(back.interference.n, 2);
    cr_assert_float_eq(back.interference.busy_slowdown[1], 1.5, 0);
    cr_assert_eq(back.stage_time.n, 3);
    cr_assert_float_eq(back.stage_time.q[2], 1.4, 0);

    path = cluster_file(dir, "\"stage_time\": {\"dist\": \"gamma\", \"cv\": 0.25}");
    cr_assert_eq(spec_cluster_read(path, &c), MX_OK, "%s", mx_error_message());
    cr_assert_eq(c.stage_time.kind, SPEC_DIST_GAMMA);
    cr_assert_float_eq(c.stage_time.cv, 0.25, 0);
    /* An empirical distribution of ones is no variability. */
    path = cluster_file(dir, "\"stage_time\": {\"dist\": \"empirical\", \"quantiles\": [1, 1]}");
    cr_assert_eq(spec_cluster_read(path, &c), MX_OK, "%s", mx_error_message());
    cr_assert_not(spec_cluster_varies(&c));
}

Test(variability, bad_cluster_members_name_the_file_and_place)
{
    const char *dir = fx_tmpdir();
    static const struct {
        const char *members, *message;
    } cases[] = {
        {"\"interference\": {\"busy_slowdown\": []}", "c.json: interference.busy_slowdown:"},
        {"\"interference\": {\"busy_slowdown\": [1, 0]}", "c.json: interference.busy_slowdown[1]:"},
        {"\"interference\": {\"slowdown\": [1]}", "c.json: interference"},
        {"\"interference\": [1, 2]", "c.json: interference"},
        {"\"stage_time\": {\"cv\": 0.2}", "c.json: stage_time: has no \"dist\""},
        {"\"stage_time\": {\"dist\": \"normal\", \"cv\": 0.2}",
         "c.json: stage_time.dist: unknown \"normal\" (expected constant, lognormal, gamma or "
         "empirical)"},
        {"\"stage_time\": {\"dist\": \"lognormal\"}",
         "c.json: stage_time: a lognormal distribution needs \"cv\""},
        {"\"stage_time\": {\"dist\": \"constant\", \"cv\": 1}",
         "c.json: stage_time: a constant distribution takes no \"cv\""},
        {"\"stage_time\": {\"dist\": \"gamma\", \"cv\": 11}", "c.json: stage_time.cv:"},
        {"\"stage_time\": {\"dist\": \"empirical\", \"quantiles\": [1]}",
         "c.json: stage_time.quantiles:"},
        {"\"stage_time\": {\"dist\": \"empirical\", \"quantiles\": [1, 2, 1.5]}",
         "c.json: stage_time.quantiles[2]: 1.5 is below the quantile before it (2)"},
        {"\"stage_time\": {\"dist\": \"lognormal\", \"cv\": 0.2, \"quantiles\": [1, 2]}",
         "c.json: stage_time: a lognormal distribution takes no \"quantiles\""},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct spec_cluster c;
        int rc = spec_cluster_read(cluster_file(dir, cases[k].members), &c);
        cr_assert_eq(rc, MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
    }
}

/* ---- the distributions ---- */

static void moments(const struct spec_dist *d, size_t n, double *mean, double *cv)
{
    gsl_rng *r = mx_rng_new(7, "test/moments", d->kind);
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        double x = spec_dist_draw(d, r);
        cr_assert(x > 0);
        sum += x;
        sum2 += x * x;
    }
    gsl_rng_free(r);
    *mean = sum / (double)n;
    *cv = sqrt(sum2 / (double)n - *mean * *mean) / *mean;
}

Test(variability, distributions_have_their_moments)
{
    double mean, cv;
    for (int kind = SPEC_DIST_LOGNORMAL; kind <= SPEC_DIST_GAMMA; kind++) {
        struct spec_dist d = {.kind = (enum spec_dist_kind)kind, .cv = 0.3};
        moments(&d, 400000, &mean, &cv);
        cr_assert_float_eq(mean, 1.0, 0.005, "%s mean %g", spec_dist_names[kind], mean);
        cr_assert_float_eq(cv, 0.3, 0.005, "%s cv %g", spec_dist_names[kind], cv);
    }
    /* Empirical: uniform between 1 and 3 (two quantiles), mean 2, cv 1 / (2 sqrt 3). */
    struct spec_dist u = {.kind = SPEC_DIST_EMPIRICAL, .n = 2, .q = {1, 3}};
    moments(&u, 400000, &mean, &cv);
    cr_assert_float_eq(spec_dist_mean(&u), 2.0, 1e-12);
    cr_assert_float_eq(mean, 2.0, 0.005);
    cr_assert_float_eq(cv, 1 / (2 * sqrt(3)), 0.005);
    struct spec_dist constant = {.kind = SPEC_DIST_CONSTANT};
    cr_assert_float_eq(spec_dist_draw(&constant, NULL), 1.0, 0);
    cr_assert_not(spec_dist_varies(&constant));
}

Test(variability, empirical_fit_interpolates_order_statistics)
{
    double v[] = {4, 1, 3, 2, 5};
    struct spec_dist d;
    spec_dist_from_samples(v, 5, 9, &d);
    cr_assert_eq(d.kind, SPEC_DIST_EMPIRICAL);
    cr_assert_eq(d.n, 9);
    for (uint32_t j = 0; j < 9; j++)
        cr_assert_float_eq(d.q[j], 1 + 0.5 * j, 1e-12, "quantile %u: %g", j, d.q[j]);
    double one = 2.5;
    spec_dist_from_samples(&one, 1, 3, &d);
    cr_assert_float_eq(d.q[0], 2.5, 0);
    cr_assert_float_eq(d.q[2], 2.5, 0);
}

/* ---- interference, by hand ---- */

/* Two one-stage groups of one device each (devices 0 and 1, 10 ms each), one request each, at 0
 * and 5 ms, on a cluster of `per_node` devices per node with slowdown [1, 2]. */
static struct sim_results *two_devices(uint32_t per_node, const char *const *bases)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.010}, 1);
    fx_profile_add(db, "b", 1, 1, (double[]){0.010}, 1);
    struct spec_plan *p = fx_plan_new(2, bases);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_group(p, 1, 1, 1, 1, (uint32_t[]){1});
    struct wl_trace *t = fx_trace(2, (double[]){0, 0.005}, (int32_t[]){0, 1}, (double[]){1, 1}, 2);
    struct spec_cluster c = fx_cluster(2, per_node);
    c.interference = (struct spec_interference){2, {1, 2}};
    struct sim_options o = event_options(true);
    struct sim_results *r = fx_run(&c, db, p, t, &o, NULL);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
    return r;
}

Test(variability, interference_stretches_work_while_the_node_is_busy)
{
    static const char *const bases[2] = {"a", "b"};
    /* Same node: A alone 0-5 ms (5 ms of work), both busy 5-15 ms at half speed (A's last 5 ms,
     * B's first 5 ms), B alone 15-20 ms. */
    struct sim_results *r = two_devices(2, bases);
    cr_assert_str_eq(r->engine, "event-variable");
    cr_assert_eq(r->finish_ns[0], NS(0.015));
    cr_assert_eq(r->finish_ns[1], NS(0.020));
    cr_assert_eq(r->exec_ns[0], NS(0.015));
    cr_assert_eq(r->exec_ns[1], NS(0.015));
    cr_assert_eq(r->busy_ns[0] + r->busy_ns[1], NS(0.030));
    sim_results_free(r);
    /* One device a node: nothing interferes. */
    r = two_devices(1, bases);
    cr_assert_eq(r->finish_ns[0], NS(0.010));
    cr_assert_eq(r->finish_ns[1], NS(0.015));
    sim_results_free(r);

    /* The inverse: the two measured spans did 10 ms of alone work each. */
    struct spec_interference f = {2, {1, 2}};
    struct sim_span spans[] = {{0, NS(0.015), 0, 1}, {NS(0.005), NS(0.020), 0, 1}};
    double work[2];
    sim_interference_work(&f, spans, 2, work);
    cr_assert_float_eq(work[0], 1e7, 1e-3);
    cr_assert_float_eq(work[1], 1e7, 1e-3);
    /* On two nodes, a span's work is its length. */
    spans[1].node = 1;
    sim_interference_work(&f, spans, 2, work);
    cr_assert_float_eq(work[0], 1.5e7, 1e-3);
    cr_assert_float_eq(work[1], 1.5e7, 1e-3);
}

/* Which busy count a measured run spent most of its time at: 0 when none held for the share. */
Test(variability, busy_counts_of_measured_spans)
{
    struct sim_span spans[] = {
        {0, 10, 0, 1},                  /* alone */
        {20, 30, 0, 1},                 /* beside the next one all along */
        {20, 30, 0, 1}, {40, 55, 0, 1}, /* 2/3 beside the next */
        {45, 60, 0, 1}, {40, 50, 1, 2}, /* another node, two devices */
        {70, 70, 0, 1},                 /* empty */
    };
    uint32_t busy[7];
    sim_interference_busy(spans, 7, 0.9, busy);
    static const uint32_t expected[7] = {1, 2, 2, 0, 0, 2, 0};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(busy[i], expected[i], "span %d: %u", i, busy[i]);
    sim_interference_busy(spans, 7, 0.6, busy);
    cr_assert_eq(busy[3], 2);
    cr_assert_eq(busy[4], 2);
}

/* A stage of op devices was profiled with its own devices busy: alone it runs at its latency
 * whatever slowdown(op) is; a one-device stage beside it slows both. */
Test(variability, a_stage_is_not_slowed_by_its_own_devices)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 2, 1, (double[]){0.010}, 1);
    fx_profile_add(db, "a", 1, 1, (double[]){0.010}, 1);
    struct spec_plan *p = fx_plan_new(2, base_a);
    fx_plan_add_group(p, 2, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_group(p, 1, 1, 2, 1, (uint32_t[]){1});
    /* The op-2 stage alone at 0 (10 ms); then both from 20 ms, the one-device stage at 20 ms. */
    struct wl_trace *t =
        fx_trace(3, (double[]){0, 0.020, 0.020}, (int32_t[]){0, 0, 1}, (double[]){1, 1, 1}, 2);
    struct spec_cluster c = fx_cluster(3, 3);
    c.interference = (struct spec_interference){3, {1, 2, 3}};
    struct sim_options o = event_options(true);
    struct sim_results *r = fx_run(&c, db, p, t, &o, NULL);
    cr_assert_eq(r->finish_ns[0], NS(0.010));
    /* Together: the op-2 stage at slowdown(3) / slowdown(2) = 1.5, the other at 3. */
    cr_assert_eq(r->finish_ns[1], NS(0.035));
    /* The other did 5 ms in 15 ms, then its last 5 ms alone. */
    cr_assert_eq(r->finish_ns[2], NS(0.040));
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

/* Every run of a stage draws its ratio: a distribution of twos doubles each stage time, and the
 * controller learns it (a request that the profile's latency would admit but the learned one
 * would not is refused). */
Test(variability, drawn_stage_times_and_the_learned_speed)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.010}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    enum { N = 60 };
    double arrival[N], slo[N];
    int32_t model[N];
    for (int i = 0; i < N; i++) {
        arrival[i] = 0.1 * i;
        model[i] = 0;
        slo[i] = 0.015; /* 10 ms predicted fits; 20 ms taken does not */
    }
    struct wl_trace *t = fx_trace(N, arrival, model, slo, 1);
    struct spec_cluster c = fx_cluster(1, 1);
    c.stage_time = (struct spec_dist){.kind = SPEC_DIST_EMPIRICAL, .n = 2, .q = {2, 2}};
    struct sim_options o = event_options(true);
    struct sim_results *r = fx_run(&c, db, p, t, &o, NULL);
    cr_assert_eq(r->status[0], SIM_LATE, "admitted on the profile, then twice as slow");
    cr_assert_eq(r->exec_ns[0], NS(0.020));
    /* The learned ratio goes 1, 1.1, 1.19, ...: past 1.5 after 7 runs, the rest are refused. */
    size_t late = 0, rejected = 0;
    for (int i = 0; i < N; i++) {
        late += r->status[i] == SIM_LATE;
        rejected += r->status[i] == SIM_REJECTED;
        if (r->status[i] == SIM_LATE)
            cr_assert_eq(r->exec_ns[i], NS(0.020));
    }
    cr_assert_eq(late, 7);
    cr_assert_eq(rejected, N - 7);
    sim_results_free(r);
    /* Off, the same world runs on the profile. */
    o.variability = false;
    o.engine = SIM_ENGINE_AUTO;
    r = fx_run(&c, db, p, t, &o, NULL);
    cr_assert_str_eq(r->engine, "fast");
    for (int i = 0; i < N; i++)
        cr_assert_eq(r->status[i], SIM_GOOD);
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

/* ---- properties ---- */

/* A model that changes nothing (slowdown 1 at every count) still runs every part of the machinery:
 * finishes from the tracker, clocks corrected at every finish, learned speeds. Stage times are the
 * predicted ones, so outcomes must be the event engine's, with and without random overheads,
 * batching, schedules and loading times. */
Test(variability, a_neutral_model_reproduces_the_event_engine)
{
    size_t requests = 0, batched = 0;
    for (uint64_t seed = 1; seed <= 600; seed++) {
        bool batching = seed % 3 == 0;
        struct random_case rc = random_case(
            seed,
            (struct case_shape){.batching = batching, .schedule = true, .loading = seed % 2 == 0});
        rc.o.engine = SIM_ENGINE_EVENT;
        struct sim_results *plain = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.c.interference = (struct spec_interference){1, {1}};
        rc.o.variability = true;
        struct sim_results *neutral = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        cr_assert_str_eq(neutral->engine, "event-variable");
        random_case_assert_same(plain, neutral, seed);
        requests += plain->n;
        for (size_t i = 0; i < plain->n; i++)
            batched += plain->batch[i] > 1;
        sim_results_free(plain);
        sim_results_free(neutral);
        random_case_free(&rc);
    }
    cr_assert_gt(requests, 40000);
    cr_assert_gt(batched, 1000);
}

/* Random stage times and interference on random cases: every request ends once, the same seed
 * gives the same outcomes on 1 and 4 threads, and another seed other ones. */
Test(variability, seeded_and_independent_of_the_thread_count)
{
    size_t differ = 0;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        struct random_case rc =
            random_case(seed, (struct case_shape){.batching = seed % 4 == 0,
                                                  .schedule = true,
                                                  .random_overheads = seed % 2 == 0});
        rc.c.interference = (struct spec_interference){3, {1, 1.4, 1.9}};
        rc.c.stage_time = (struct spec_dist){.kind = SPEC_DIST_LOGNORMAL, .cv = 0.4};
        rc.o.engine = SIM_ENGINE_AUTO;
        rc.o.variability = true;
        rc.o.seed = seed;
        struct sim_results *one = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.o.threads = 4;
        struct sim_results *four = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        random_case_assert_same(one, four, seed);
        rc.o.seed = seed + 1000;
        struct sim_results *other = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        for (size_t i = 0; i < one->n; i++) {
            cr_assert_lt(one->status[i], SIM_FAILED);
            if (one->status[i] == SIM_GOOD || one->status[i] == SIM_LATE)
                cr_assert_geq(one->finish_ns[i], one->start_ns[i] + one->exec_ns[i]);
            differ += one->finish_ns[i] != other->finish_ns[i];
        }
        sim_results_free(one);
        sim_results_free(four);
        sim_results_free(other);
        random_case_free(&rc);
    }
    cr_assert_gt(differ, 1000);
}

/* A stage given its own distribution draws from it; the others keep the cluster's. */
Test(variability, a_stage_may_have_its_own_distribution)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 2, (double[]){0.010, 0.010}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    struct sim_world *w;
    cr_assert_eq(sim_world_new(&c, "c.json", db, "db", p, t, &w), MX_OK, "%s", mx_error_message());
    cr_assert_not(sim_world_varies(w));
    sim_world_set_stage_time(w, 0, 1,
                             &(struct spec_dist){.kind = SPEC_DIST_EMPIRICAL, .n = 2, .q = {3, 3}});
    cr_assert(sim_world_varies(w));
    struct sim_options o = event_options(true);
    struct sim_results *r;
    cr_assert_eq(sim_run(w, &o, &r), MX_OK);
    cr_assert_eq(r->busy_ns[0], NS(0.010));
    cr_assert_eq(r->busy_ns[1], NS(0.030));
    cr_assert_eq(r->finish_ns[0], NS(0.040));
    sim_results_free(r);
    sim_world_free(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

/* Per-stage distributions in a file ("muxplan-stage-times/1"): written and read back; simulate
 * --stage-times gives them to the listed stages; bad files name the file and entry. */
Test(variability, stage_times_files)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "st.json");
    struct spec_stage_time st[2] = {
        {0, 1, 40, {.kind = SPEC_DIST_EMPIRICAL, .n = 2, .q = {3, 3}}},
        {1, 0, 7, {.kind = SPEC_DIST_GAMMA, .cv = 0.5}},
    };
    cr_assert_eq(spec_stage_times_write(path, st, 2), MX_OK);
    struct spec_stage_time *back;
    size_t n;
    cr_assert_eq(spec_stage_times_read(path, &back, &n), MX_OK, "%s", mx_error_message());
    cr_assert_eq(n, 2);
    cr_assert_eq(back[0].group, 0);
    cr_assert_eq(back[0].stage, 1);
    cr_assert_eq(back[0].runs, 40);
    cr_assert_eq(back[0].dist.kind, SPEC_DIST_EMPIRICAL);
    cr_assert_float_eq(back[0].dist.q[1], 3.0, 0);
    cr_assert_eq(back[1].dist.kind, SPEC_DIST_GAMMA);
    free(back);

    /* A one-request trace through the pipeline example (stage 1 now 3x). */
    const char *profile = fx_path(dir, "p.json"), *trace = fx_path(dir, "t.h5");
    fx_write_file(profile,
                  "{\"format\": \"muxplan-profile/1\", \"hardware\": \"test\", \"models\": "
                  "[{\"name\": \"tiny-4l-256\", \"configs\": [{\"dp\": 1, \"op\": 1, "
                  "\"pp\": 2, \"batches\": [{\"batch\": 1, \"stage_latency_s\": [0.01, "
                  "0.01]}], \"weight_bytes\": [1, 1]}]}]}");
    struct wl_trace *t = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 2);
    free(t->model_names[0]);
    free(t->model_names[1]);
    t->model_names[0] = mx_strdup("a");
    t->model_names[1] = mx_strdup("b");
    cr_assert_eq(wl_trace_write_h5(t, trace), MX_OK, "%s", mx_error_message());
    wl_trace_free(t);
    const char *cluster = fx_source_path("examples/runtime/cluster-cpu.json"),
               *plan = fx_source_path("examples/runtime/plan-pipeline.json");
    struct spec_stage_time one = {0, 1, 1, {.kind = SPEC_DIST_EMPIRICAL, .n = 2, .q = {3, 3}}};
    cr_assert_eq(spec_stage_times_write(path, &one, 1), MX_OK);
    struct fx_output r = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s "
                                    "--stage-times %s --json",
                                    cluster, profile, plan, trace, path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert_not_null(doc, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "engine")), "event-variable");
    /* The cluster's stage factor 1.1 x (10 ms + 3 x 10 ms) */
    double max = json_real_value(json_object_get(json_object_get(doc, "latency_good_s"), "max"));
    cr_assert_float_eq(max, 0.044, 1e-9, "%g", max);
    json_decref(doc);

    static const struct {
        const char *text, *message;
    } bad[] = {
        {"{\"format\": \"muxplan-stage-times/1\", \"stages\": [{\"group\": 7, \"stage\": 0, "
         "\"dist\": \"constant\"}]}",
         "st.json: stages[0]: the plan has no group 7"},
        {"{\"format\": \"muxplan-stage-times/1\", \"stages\": [{\"group\": 0, \"stage\": 5, "
         "\"dist\": \"constant\"}]}",
         "st.json: stages[0]: group 0 has 2 stages, not stage 5"},
        {"{\"format\": \"muxplan-stage-times/1\", \"stages\": [{\"group\": 0, \"stage\": 0}]}",
         "st.json: stages[0]: has no \"dist\""},
        {"{\"format\": \"muxplan-stage-times/1\", \"stages\": [{\"group\": 0, \"stage\": 0, "
         "\"dist\": \"constant\"}, {\"group\": 0, \"stage\": 0, \"dist\": \"constant\"}]}",
         "st.json: stages[1]: group 0 stage 0 is also stages[0]"},
        {"{\"format\": \"muxplan-stage-times/1\", \"stages\": [{\"group\": 0, \"stage\": 0, "
         "\"dist\": \"constant\", \"colour\": 1}]}",
         "st.json: stages[0]"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        fx_write_file(path, bad[k].text);
        r = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s --stage-times %s",
                       cluster, profile, plan, trace, path);
        cr_assert_eq(r.status, 2, "case %zu: %s", k, r.err);
        cr_assert(strstr(r.err, bad[k].message), "case %zu: %s", k, r.err);
    }
}
