/* Attainment against devices: a policy's attainment on the training workload does not fall as
 * devices are added, which `muxplan capacity` assumes (docs/planner.md). On 200 generated planning
 * problems (one or two base models profiled for every (1, op, pp) the policies use, 2 to 6 models
 * with power-law rates, Gamma arrivals, SLOs of 2 to 10 times their latency, one to three models'
 * weights a device), sr, round-robin, greedy-2, alpaserve and clockwork++ plan for every count of
 * 1 to 8 devices (one node) they accept, and each count's attainment must be at least the one
 * before.
 *
 * It is not always so, and the exceptions are kept exact rather than tolerated:
 *   - The greedy fills (sr, greedy-2, alpaserve's layouts, clockwork++'s sr per window) add
 *     replicas until memory is full, as AlpaServe's greedy does, without asking whether a replica
 *     helps; with more devices, models can end up sharing groups differently, a model with a tight
 *     SLO queued behind slow ones. E.g. alpaserve on case 112: with 7 devices the tight model m0
 *     (21 ms, SLO 133 ms) has a device to itself besides three 2-device groups that host all three
 *     models, 0.9985; with 8, four such groups and no device to itself, 0.9954. These falls are
 *     listed in known_falls with both attainments, and the test requires them exactly: a planner
 *     change that ends one or makes another must update the list (and say why).
 *   - round-robin's fill (AlpaServe's replica_placement_round_robin, which pl_fill_round_robin
 *     reproduces) gives models to the groups in turn and stops as soon as the group whose turn it
 *     is has no room for any model, though others may have. Where a layout adds a one-device group
 *     (5 = 4 + 1 and 7 = 4 + 1 + 2 devices) that group fills after a model or two and the fill
 *     stops at it: models are left without a replica (case 3: with 4 devices the pipeline hosts
 *     all five models, 0.8638; with 5, m3 and m4 have no replica though the pipeline has room,
 *     0.4489) or with that one device as their only replica (case 18: m3, the tightest SLO,
 *     0.9221 against 0.8814). It falls there in about half of the cases, so the steps to 5 and 7
 *     devices are not checked for round-robin; its other steps are (its one fall from 7 to 8
 *     devices, for the greedy fills' reason, is listed). */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "planner.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CASES = 200, MAX_DEVICES = 8, MAX_MODELS = 6, BUDGET = 1000 };

/* A planning problem; every policy plans it for several device counts. */
struct problem {
    struct spec_cluster cluster; /* one node of MAX_DEVICES: any count up to it is valid */
    struct spec_profile *db;
    struct spec_model_set *set;
    struct wl_trace *trace;
    double duration_s;
};

static const char *const base_names[2] = {"a", "b"};

/* Every (1, op, pp) the policies use up to MAX_DEVICES devices (op <= 4, pp <= 8, op * pp a power
 * of two): stages of equal latency, op costing 10% a degree, the weights spread over the devices.
 */
static void add_configs(struct spec_profile *db, const char *base, double latency_s,
                        int64_t weight_bytes)
{
    for (int size = 1; size <= MAX_DEVICES; size *= 2)
        for (int pp = 1; pp <= size; pp *= 2) {
            int op = size / pp;
            if (op > 4)
                continue;
            double lat[MAX_DEVICES];
            for (int k = 0; k < pp; k++)
                lat[k] = latency_s * (1 + 0.1 * (op - 1)) / size;
            fx_profile_add(db, base, op, pp, lat, (weight_bytes + size - 1) / size);
        }
}

/* Requests in time order (the streams of the models merged by insertion: a few thousand). */
static void sort_by_time(size_t n, double *arrival, int32_t *model, double *slo)
{
    for (size_t i = 1; i < n; i++) {
        double a = arrival[i], s = slo[i];
        int32_t m = model[i];
        size_t j = i;
        for (; j > 0 && arrival[j - 1] > a; j--) {
            arrival[j] = arrival[j - 1];
            model[j] = model[j - 1];
            slo[j] = slo[j - 1];
        }
        arrival[j] = a;
        model[j] = m;
        slo[j] = s;
    }
}

/* Case `seed`: bases of 20 to 120 ms on one device whose weights take 30% to 95% of a device's
 * memory; models with rates proportional to (m + 1)^-alpha, alpha in [0, 1.5), totalling the work
 * of 1 to 7 devices; 400 to 1,200 requests expected; the alpaserve-fast overheads. */
static struct problem random_problem(uint64_t seed)
{
    gsl_rng *rng = mx_rng_new(seed, "test/monotone", 0);
    struct problem p = {.cluster = fx_cluster(MAX_DEVICES, MAX_DEVICES)};
    spec_overheads_preset("alpaserve-fast", &p.cluster.overheads);
    p.cluster.mem_budget_bytes = BUDGET;
    p.db = spec_profile_new("monotone");
    uint32_t n_bases = 1 + (uint32_t)gsl_rng_uniform_int(rng, 2);
    double latency[2];
    for (uint32_t b = 0; b < n_bases; b++) {
        latency[b] = 0.02 + 0.1 * gsl_rng_uniform(rng);
        add_configs(p.db, base_names[b], latency[b],
                    (int64_t)(BUDGET * (0.3 + 0.65 * gsl_rng_uniform(rng))));
    }
    uint32_t n_models = 2 + (uint32_t)gsl_rng_uniform_int(rng, MAX_MODELS - 1);
    p.set = MX_NEW(struct spec_model_set);
    p.set->path = mx_strdup("models.json");
    p.set->n = n_models;
    p.set->models = MX_NEW_ARRAY(struct spec_model, n_models);
    double share[MAX_MODELS], total_share = 0, mean_latency = 0;
    double alpha = 1.5 * gsl_rng_uniform(rng);
    uint32_t base[MAX_MODELS];
    for (uint32_t m = 0; m < n_models; m++) {
        base[m] = (uint32_t)gsl_rng_uniform_int(rng, n_bases);
        double slo = 0.011 + (2 + 8 * gsl_rng_uniform(rng)) * latency[base[m]];
        p.set->models[m] = (struct spec_model){
            mx_strfmt("m%u", m), mx_strdup(base_names[base[m]]), slo, 0, -1, -1};
        share[m] = pow(m + 1, -alpha);
        total_share += share[m];
    }
    for (uint32_t m = 0; m < n_models; m++)
        mean_latency += share[m] / total_share * latency[base[m]];
    double rate = (1 + 6 * gsl_rng_uniform(rng)) / mean_latency;
    size_t expected = 400 + gsl_rng_uniform_int(rng, 801);
    p.duration_s = (double)expected / rate;
    double cv = 0.5 + 3.5 * gsl_rng_uniform(rng);
    size_t cap = 2 * expected + 64, n = 0;
    double *arrival = MX_NEW_ARRAY(double, cap), *slo = MX_NEW_ARRAY(double, cap);
    int32_t *model = MX_NEW_ARRAY(int32_t, cap);
    for (uint32_t m = 0; m < n_models; m++) {
        double r = rate * share[m] / total_share;
        for (double t = gsl_ran_gamma(rng, 1 / (cv * cv), cv * cv / r); t < p.duration_s;
             t += gsl_ran_gamma(rng, 1 / (cv * cv), cv * cv / r)) {
            if (n == cap) {
                cap *= 2;
                arrival = mx_realloc_array(arrival, cap, sizeof(double));
                slo = mx_realloc_array(slo, cap, sizeof(double));
                model = mx_realloc_array(model, cap, sizeof(int32_t));
            }
            arrival[n] = floor(t * 1e9) / 1e9; /* on the simulator's nanosecond grid */
            model[n] = (int32_t)m;
            slo[n++] = p.set->models[m].slo_s;
        }
    }
    sort_by_time(n, arrival, model, slo);
    p.trace = fx_trace(n, arrival, model, slo, n_models);
    free(arrival);
    free(slo);
    free(model);
    gsl_rng_free(rng);
    return p;
}

static void problem_free(struct problem *p)
{
    wl_trace_free(p->trace);
    spec_models_free(p->set);
    spec_profile_free(p->db);
}

/* The attainment the policy's plan for `devices` devices predicts on the training workload (what
 * capacity's search reads, there on a test workload). clockwork++ plans windows of a quarter of
 * the trace. */
static double attainment(const struct problem *p, const char *policy_name, uint32_t devices)
{
    struct spec_cluster cluster = p->cluster;
    cluster.devices = devices;
    struct plan_problem pb = {.cluster = &cluster,
                              .cluster_path = "cluster.json",
                              .db = p->db,
                              .db_path = "profile.h5",
                              .models = p->set,
                              .train = p->trace,
                              .dispatch = plan_default_dispatch,
                              .threads = 1};
    struct plan_params pa = plan_params_default();
    const struct plan_policy *policy = plan_policy_find(policy_name, &pa);
    cr_assert_not_null(policy, "%s", policy_name);
    pa.window_s = p->duration_s / 4;
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    cr_assert_eq(plan_solve(policy, &pb, &pa, &plan, &outcome), MX_OK, "%s, %u devices: %s",
                 policy_name, devices, mx_error_message());
    spec_plan_free(plan);
    return outcome.attainment;
}

/* A known fall: the policy's attainment on case `seed` with `devices` devices (after) is below
 * that with one device fewer (before). Attainments to 4 decimals. */
struct known_fall {
    const char *policy;
    uint64_t seed;
    uint32_t devices;
    double before, after;
};

static const struct known_fall known_falls[] = {
    {"sr", 15, 5, 0.9645, 0.9630},           {"sr", 73, 8, 1.0000, 0.9986},
    {"sr", 180, 7, 0.8861, 0.8821},          {"greedy-2", 24, 3, 0.4705, 0.3954},
    {"greedy-2", 39, 7, 0.9982, 0.9946},     {"greedy-2", 45, 8, 0.9804, 0.9711},
    {"greedy-2", 54, 8, 1.0000, 0.9989},     {"greedy-2", 57, 3, 0.6552, 0.5569},
    {"greedy-2", 57, 6, 0.8828, 0.8655},     {"greedy-2", 64, 5, 0.9696, 0.9687},
    {"greedy-2", 79, 7, 0.9652, 0.9634},     {"greedy-2", 112, 8, 0.9938, 0.9923},
    {"greedy-2", 116, 7, 1.0000, 0.9965},    {"greedy-2", 131, 6, 0.9410, 0.9399},
    {"greedy-2", 138, 7, 0.8660, 0.8456},    {"greedy-2", 152, 7, 0.9630, 0.9467},
    {"greedy-2", 179, 3, 0.5365, 0.4706},    {"greedy-2", 179, 4, 0.4706, 0.4652},
    {"alpaserve", 45, 8, 0.9832, 0.9767},    {"alpaserve", 112, 8, 0.9985, 0.9954},
    {"clockwork++", 18, 8, 1.0000, 0.9982},  {"clockwork++", 130, 8, 1.0000, 0.9991},
    {"clockwork++", 180, 8, 0.9705, 0.9627}, {"clockwork++", 196, 8, 1.0000, 0.9983},
    {"round-robin", 167, 8, 0.9463, 0.9298},
};

static const struct known_fall *known_fall(const char *policy, uint64_t seed, uint32_t devices)
{
    for (size_t k = 0; k < sizeof(known_falls) / sizeof(known_falls[0]); k++)
        if (strcmp(known_falls[k].policy, policy) == 0 && known_falls[k].seed == seed &&
            known_falls[k].devices == devices)
            return &known_falls[k];
    return NULL;
}

/* The policy plans every case for `first` to MAX_DEVICES devices; the step to d devices is checked
 * unless bit d of `unchecked` is set. Returns the known falls it met. */
static size_t check_policy(const char *policy, uint32_t first, unsigned unchecked)
{
    size_t met = 0, rising = 0;
    for (uint64_t seed = 1; seed <= CASES; seed++) {
        struct problem p = random_problem(seed);
        double att[MAX_DEVICES + 1];
        for (uint32_t d = first; d <= MAX_DEVICES; d++) {
            att[d] = attainment(&p, policy, d);
            if (d == first || (unchecked >> d & 1))
                continue;
            const struct known_fall *f = known_fall(policy, seed, d);
            if (!f) {
                cr_assert_geq(att[d], att[d - 1],
                              "%s, case %llu: attainment %.4f with %u devices, %.4f with %u",
                              policy, (unsigned long long)seed, att[d - 1], d - 1, att[d], d);
                continue;
            }
            cr_assert(fabs(att[d - 1] - f->before) < 5e-5 && fabs(att[d] - f->after) < 5e-5,
                      "%s, case %llu: the known fall from %.4f with %u devices to %.4f with %u "
                      "is now from %.4f to %.4f: update known_falls",
                      policy, (unsigned long long)seed, f->before, d - 1, f->after, d, att[d - 1],
                      att[d]);
            met++;
        }
        rising += att[MAX_DEVICES] - att[first] >= 0.2;
        problem_free(&p);
    }
    /* The cases must not be ones the devices make no difference to. */
    cr_assert_gt(rising, CASES / 3, "%s: attainment rose by 0.2 or more in %zu cases", policy,
                 rising);
    return met;
}

/* Every known fall of the policy must have been met (its case and count are in the range). */
static void check_policy_falls(const char *policy, uint32_t first, unsigned unchecked)
{
    size_t listed = 0;
    for (size_t k = 0; k < sizeof(known_falls) / sizeof(known_falls[0]); k++)
        listed += strcmp(known_falls[k].policy, policy) == 0;
    cr_assert_eq(check_policy(policy, first, unchecked), listed);
}

Test(monotone, sr, .timeout = 60)
{
    check_policy_falls("sr", 1, 0);
}

Test(monotone, greedy_2, .timeout = 60)
{
    check_policy_falls("greedy-2", 2, 0);
}

Test(monotone, alpaserve, .timeout = 60)
{
    check_policy_falls("alpaserve", 1, 0);
}

Test(monotone, clockwork, .timeout = 60)
{
    check_policy_falls("clockwork++", 1, 0);
}

/* Groups of 4 (the default --group-size): counts from 4; the steps to 5 and 7 devices add a
 * one-device group, at which the round-robin fill stops (above). */
Test(monotone, round_robin_where_no_one_device_group_is_added, .timeout = 60)
{
    check_policy_falls("round-robin", 4, 1u << 5 | 1u << 7);
}
