/* bench/plan_speed: planning time and attainment of sr and alpaserve on issue 3's cases.
 *
 *   a: 16 devices, 48 x bert-1.3b, power-law rates (alpha 0.5) totalling 20 req/s, CV 4, 600 s
 *   b: 64 devices, 96 x bert-1.3b, 200 req/s, CV 4, 1800 s; training trace = test trace
 *   c: 1024 devices, 2000 x bert-1.3b, 2000 req/s, CV 4, 3600 s
 * SLO 5x the single-device latency; V100 reference profile; 8 devices per node, 13 GiB budget;
 * AlpaServe's fast-simulator semantics (alpaserve-fast overheads, earliest-free dispatch unless a
 * plan records another one). Test traces other than b's use another seed. One JSON line per case,
 * policy and thread count: the planning time (trace generation and file reading excluded), the
 * planner's predicted attainment on the training trace, the attainment of its plan on the test
 * trace, and with --held-out H its attainment on H more traces of the case (seeds 3 .. H + 2):
 * their mean, lowest and highest.
 *
 * usage: plan_speed [--profile DB.h5] [--cases abc] [--policies sr,alpaserve] [--threads 1,2]
 *                   [--held-out H] [--effort X]   (--effort: mux's search budget, default 12) */
#include "bench_models.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_time.h"
#include "planner.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "sim_metrics.h"
#include "spec_plan.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_case {
    char name;
    uint32_t devices, models;
    double rate, duration_s;
    bool test_is_train;
};

static const struct bench_case cases[] = {
    {'a', 16, 48, 20, 600, false},
    {'b', 64, 96, 200, 1800, true},
    {'c', 1024, 2000, 2000, 3600, false},
};

static int attainment_on(const struct spec_cluster *cluster, const struct spec_profile *db,
                         const struct spec_plan *plan, const struct wl_trace *test, double *out)
{
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    struct sim_summary s = {0};
    struct sim_options o = {.engine = SIM_ENGINE_FAST,
                            .dispatch = &sim_dispatch_earliest_free,
                            .max_batch = 1,
                            .threads = 1};
    int rc = spec_plan_dispatch(plan) ? sim_dispatch_of_plan(plan, &o.dispatch) : MX_OK;
    if (rc == MX_OK)
        rc = sim_world_new(cluster, "bench", db, "profile", plan, test, &w);
    if (rc == MX_OK)
        rc = sim_run(w, &o, &r);
    if (rc == MX_OK)
        rc = sim_summarize(w, r, 0, &s);
    if (rc == MX_OK)
        *out = s.attainment;
    sim_summary_release(&s);
    sim_results_free(r);
    sim_world_free(w);
    return rc;
}

static int run_case(const struct bench_case *bc, const struct spec_profile *db,
                    const char *policies, const char *threads, unsigned held_out, double effort)
{
    struct spec_model_set *set = bench_bert_models(db, bc->models);
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_POWER,
                               .alpha = 0.5,
                               .total_rate = bc->rate,
                               .cv = 4,
                               .duration_s = bc->duration_s,
                               .seed = 1,
                               .threads = 2};
    struct wl_trace *train = NULL, *test = NULL;
    int rc = wl_gen(set, &spec, &train);
    spec.seed = 2;
    if (rc == MX_OK && !bc->test_is_train)
        rc = wl_gen(set, &spec, &test);
    if (bc->test_is_train)
        test = train;
    struct wl_trace **more = MX_NEW_ARRAY(struct wl_trace *, held_out ? held_out : 1);
    for (unsigned k = 0; k < held_out && rc == MX_OK; k++) {
        spec.seed = 3 + k;
        rc = wl_gen(set, &spec, &more[k]);
    }
    struct spec_cluster cluster;
    spec_cluster_defaults(&cluster);
    cluster.devices = bc->devices;
    cluster.devices_per_node = 8;
    cluster.mem_budget_bytes = 13958643712;
    spec_overheads_preset("alpaserve-fast", &cluster.overheads);
    char *policy_list = mx_strdup(policies), *ps = NULL;
    for (char *name = strtok_r(policy_list, ",", &ps); name && rc == MX_OK;
         name = strtok_r(NULL, ",", &ps)) {
        char *thread_list = mx_strdup(threads), *ts = NULL;
        for (char *t = strtok_r(thread_list, ",", &ts); t && rc == MX_OK;
             t = strtok_r(NULL, ",", &ts)) {
            struct plan_params params = plan_params_default();
            const struct plan_policy *policy = plan_policy_find(name, &params);
            if (effort > 0)
                params.effort = effort;
            if (!policy) {
                rc = mx_error(MX_EUSAGE, "unknown policy %s", name);
                break;
            }
            struct plan_problem pb = {
                &cluster,          "bench", db, "profile", set, train, &sim_dispatch_earliest_free,
                (unsigned)atoi(t), 0};
            struct spec_plan *plan = NULL;
            struct plan_outcome outcome;
            double start = mx_wall_s();
            rc = plan_solve(policy, &pb, &params, &plan, &outcome);
            double seconds = mx_wall_s() - start;
            double attainment = 0, mean = 0, low = 1, high = 0;
            if (rc == MX_OK)
                rc = attainment_on(&cluster, db, plan, test, &attainment);
            for (unsigned k = 0; k < held_out && rc == MX_OK; k++) {
                double a = 0;
                rc = attainment_on(&cluster, db, plan, more[k], &a);
                mean += a / held_out;
                low = a < low ? a : low;
                high = a > high ? a : high;
            }
            if (rc == MX_OK) {
                printf("{\"bench\": \"plan_speed\", \"case\": \"%c\", \"policy\": \"%s\", "
                       "\"threads\": %s, \"planning_s\": %.3f, \"attainment\": %.6f, "
                       "\"predicted_attainment\": %.6f, \"requests\": %zu, \"replicas\": %u, "
                       "\"evaluations\": %u, \"dispatch\": \"%s\"",
                       bc->name, name, t, seconds, attainment, outcome.attainment, train->n,
                       outcome.replicas, outcome.evaluations,
                       spec_plan_dispatch(plan) ? spec_plan_dispatch(plan) : "earliest-free");
                if (held_out)
                    printf(", \"held_out\": %u, \"held_out_mean\": %.6f, \"held_out_low\": "
                           "%.6f, \"held_out_high\": %.6f",
                           held_out, mean, low, high);
                printf("}\n");
            }
            fflush(stdout);
            spec_plan_free(plan);
        }
        free(thread_list);
    }
    free(policy_list);
    for (unsigned k = 0; k < held_out; k++)
        wl_trace_free(more[k]);
    free(more);
    if (test != train)
        wl_trace_free(test);
    wl_trace_free(train);
    spec_models_free(set);
    return rc;
}

int main(int argc, char **argv)
{
    const char *profile = "data/profiles/v100-reference.h5", *which = "ab";
    const char *policies = "sr,alpaserve", *threads = "1,2";
    unsigned held_out = 0;
    double effort = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--profile") == 0)
            profile = argv[i + 1];
        else if (strcmp(argv[i], "--cases") == 0)
            which = argv[i + 1];
        else if (strcmp(argv[i], "--policies") == 0)
            policies = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = argv[i + 1];
        else if (strcmp(argv[i], "--held-out") == 0)
            held_out = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--effort") == 0)
            effort = atof(argv[i + 1]);
    }
    struct spec_profile *db = NULL;
    int rc = spec_profile_load(profile, &db);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]) && rc == MX_OK; k++)
        if (strchr(which, cases[k].name))
            rc = run_case(&cases[k], db, policies, threads, held_out, effort);
    spec_profile_free(db);
    if (rc < 0) {
        fprintf(stderr, "plan_speed: %s\n", mx_error_message());
        return 1;
    }
    return 0;
}
