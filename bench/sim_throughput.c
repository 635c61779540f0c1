/* bench/sim_throughput: simulator speed on the reference case.
 *
 * 64 devices in 8 groups of (1, 1, 8); 96 models of bert-1.3b (reference profile), each on 3 groups
 * (group g hosts the models m with m mod 8 in {g, g + 1, g + 2}); power-law rates (alpha 0.5)
 * totalling 200 req/s, Gamma CV 4, SLO 5x the single-device latency, 1800 s; AlpaServe's fast
 * simulator's semantics (alpaserve-fast overheads, earliest-free dispatch). One thread. Reading
 * files, generating the trace, compiling the world and allocating the results are outside the timed
 * region; each engine runs --repeat times (default 5) and the fastest and the median run are
 * reported, as one JSON line per engine ("seconds" is the fastest).
 *
 * usage: sim_throughput [--profile data/profiles/v100-reference.h5] [--repeat N] [--write-case DIR]
 * --write-case also writes the case as DIR/trace.h5, DIR/plan.json and DIR/cluster.json, so that
 * `muxplan simulate` and other simulators can replay exactly the same input. */
#include "bench_models.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_time.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "spec_models.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include "mx_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_MODELS 96
#define N_GROUPS 8
#define REPLICAS 3

static struct spec_plan *bench_plan(void)
{
    struct spec_plan *p = MX_NEW(struct spec_plan);
    p->path = mx_strdup("bench");
    p->extra = json_object();
    p->static_form = 1;
    p->n_models = N_MODELS;
    p->models = MX_NEW_ARRAY(struct spec_plan_model, N_MODELS);
    for (uint32_t m = 0; m < N_MODELS; m++)
        p->models[m] = (struct spec_plan_model){mx_strfmt("m%u", m), mx_strdup("bert-1.3b")};
    p->n_segments = 1;
    p->segments = MX_NEW(struct spec_plan_segment);
    p->segments[0].n_groups = N_GROUPS;
    p->segments[0].groups = MX_NEW_ARRAY(struct spec_plan_group, N_GROUPS);
    for (uint32_t g = 0; g < N_GROUPS; g++) {
        struct spec_plan_group *grp = &p->segments[0].groups[g];
        *grp =
            (struct spec_plan_group){.id = (int32_t)g, .dp = 1, .op = 1, .pp = 8, .n_devices = 8};
        grp->devices = MX_NEW_ARRAY(uint32_t, 8);
        for (uint32_t d = 0; d < 8; d++)
            grp->devices[d] = 8 * g + d;
        grp->models = MX_NEW_ARRAY(uint32_t, N_MODELS);
        for (uint32_t m = 0; m < N_MODELS; m++)
            if ((m % N_GROUPS + N_GROUPS - g) % N_GROUPS < REPLICAS)
                grp->models[grp->n_models++] = m;
    }
    return p;
}

static int write_case(const char *dir, const struct wl_trace *trace, const struct spec_plan *plan,
                      const struct spec_cluster *cluster)
{
    char *path = mx_strfmt("%s/trace.h5", dir);
    int rc = wl_trace_write_h5(trace, path);
    free(path);
    if (rc == MX_OK) {
        path = mx_strfmt("%s/plan.json", dir);
        rc = spec_plan_write(plan, path);
        free(path);
    }
    if (rc == MX_OK) {
        path = mx_strfmt("%s/cluster.json", dir);
        rc = spec_cluster_write(cluster, path);
        free(path);
    }
    return rc;
}

static int run(const char *profile, int repeat, const char *case_dir)
{
    struct spec_profile *db = NULL;
    int rc = spec_profile_load(profile, &db);
    if (rc < 0)
        return rc;
    struct spec_model_set *set = bench_bert_models(db, N_MODELS);
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_POWER,
                               .alpha = 0.5,
                               .total_rate = 200,
                               .cv = 4,
                               .duration_s = 1800,
                               .seed = 1,
                               .threads = 1};
    struct wl_trace *trace = NULL;
    struct spec_plan *plan = bench_plan();
    struct spec_cluster cluster;
    spec_cluster_defaults(&cluster);
    cluster.devices = 64;
    cluster.devices_per_node = 8;
    cluster.mem_budget_bytes = 13958643712;
    spec_overheads_preset("alpaserve-fast", &cluster.overheads);
    struct sim_world *world = NULL;
    if ((rc = wl_gen(set, &spec, &trace)) < 0 ||
        (rc = sim_world_new(&cluster, "bench", db, profile, plan, trace, &world)) < 0 ||
        (case_dir && (rc = write_case(case_dir, trace, plan, &cluster)) < 0))
        goto done;
    static const enum sim_engine engines[2] = {SIM_ENGINE_FAST, SIM_ENGINE_EVENT};
    for (int e = 0; e < 2; e++) {
        struct sim_options o = {.engine = engines[e],
                                .dispatch = &sim_dispatch_earliest_free,
                                .max_batch = 1,
                                .threads = 1};
        double *seconds = MX_NEW_ARRAY(double, (size_t)repeat);
        uint64_t events = 0;
        size_t good = 0;
        /* Results are allocated once, as the planner does; the timed region is the run. */
        struct sim_results *r = sim_results_new(world);
        for (int k = 0; k < repeat; k++) {
            double start = mx_wall_s();
            rc = sim_run_into(world, &o, r);
            seconds[k] = mx_wall_s() - start;
            if (rc < 0)
                break;
            events = r->events;
            good = 0;
            for (size_t i = 0; i < r->n; i++)
                good += r->status[i] == SIM_GOOD;
        }
        sim_results_free(r);
        mx_sort_f64(seconds, (size_t)repeat);
        double best = seconds[0], median = mx_quantile_sorted(seconds, (size_t)repeat, 0.5);
        free(seconds);
        if (rc < 0)
            goto done;
        printf("{\"bench\": \"sim_throughput\", \"engine\": \"%s\", \"requests\": %zu, "
               "\"seconds\": %.6f, \"median_seconds\": %.6f, \"requests_per_s\": %.0f, "
               "\"median_requests_per_s\": %.0f, \"events\": %llu, \"events_per_s\": %.0f, "
               "\"attainment\": %.6f}\n",
               e == 0 ? "fast" : "event", trace->n, best, median, (double)trace->n / best,
               (double)trace->n / median, (unsigned long long)events, (double)events / best,
               (double)good / (double)trace->n);
    }
done:
    sim_world_free(world);
    wl_trace_free(trace);
    spec_plan_free(plan);
    spec_models_free(set);
    spec_profile_free(db);
    return rc;
}

int main(int argc, char **argv)
{
    const char *profile = "data/profiles/v100-reference.h5";
    const char *case_dir = NULL;
    int repeat = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--profile") == 0)
            profile = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else if (strcmp(argv[i], "--write-case") == 0)
            case_dir = argv[i + 1];
    }
    int rc = run(profile, repeat, case_dir);
    if (rc < 0) {
        fprintf(stderr, "sim_throughput: %s\n", mx_error_message());
        return 1;
    }
    return 0;
}
