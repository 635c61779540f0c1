/* The planner's search (src/planner): AlpaServe's greedy step by step on a hand-checked case, the
 * memory budget at its edge, the group configurations of 8, 16, 48 and 64 devices, latency buckets
 * and node-aligned splits, clockwork++'s windows and swap charges, resumable items stepped on
 * threads, and every policy's plan passing the simulator's validation, identical for any thread
 * count. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "plan_int.h"
#include "sim_dispatch.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A planning problem built in memory: models m0, m1, ... over the bases given. */
struct problem {
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_model_set *set;
    struct wl_trace *trace;
    struct plan_problem pb;
};

static struct spec_model_set *model_set(uint32_t n, const char *const *bases, double slo_s)
{
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    set->path = mx_strdup("models.json");
    set->n = n;
    set->models = MX_NEW_ARRAY(struct spec_model, n);
    for (uint32_t m = 0; m < n; m++) {
        char *name = mx_strfmt("m%u", m);
        set->models[m] = spec_model_make(name, bases[m], slo_s);
        free(name);
    }
    return set;
}

/* Requests one after the other, model[i] at time[i], all with the same SLO. */
static struct problem problem_new(uint32_t devices, uint32_t per_node, int64_t budget,
                                  struct spec_profile *db, uint32_t n_models,
                                  const char *const *bases, double slo_s, size_t n,
                                  const double *time, const int32_t *model)
{
    struct problem p = {.cluster = fx_cluster(devices, per_node), .db = db};
    p.cluster.mem_budget_bytes = budget;
    p.set = model_set(n_models, bases, slo_s);
    double *slo = MX_NEW_ARRAY(double, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        slo[i] = slo_s;
    p.trace = fx_trace(n, time, model, slo, n_models);
    free(slo);
    return p;
}

/* pb points into p: call once p has its final address. */
static void problem_bind(struct problem *p)
{
    p->pb = (struct plan_problem){.cluster = &p->cluster,
                                  .cluster_path = "cluster.json",
                                  .db = p->db,
                                  .db_path = "profile.h5",
                                  .models = p->set,
                                  .train = p->trace,
                                  .dispatch = &sim_dispatch_earliest_free,
                                  .threads = 1};
}

static void problem_free(struct problem *p)
{
    wl_trace_free(p->trace);
    spec_models_free(p->set);
    spec_profile_free(p->db);
}

static const char *const base_a[8] = {"a", "a", "a", "a", "a", "a", "a", "a"};

/* The models of the group on device d, as a bit set. */
static unsigned models_on(const struct spec_placement *p, uint32_t d)
{
    for (uint32_t g = 0; g < p->n_groups; g++)
        if (p->groups[g].first_device == d) {
            unsigned bits = 0;
            for (uint32_t j = 0; j < p->groups[g].n_models; j++)
                bits |= 1u << p->groups[g].models[j];
            return bits;
        }
    cr_assert_fail("no group on device %u", d);
    return 0;
}

/* Two single-device groups holding two of the three models each (10 bytes of a 20-byte budget);
 * m0, m1 and m2 send 6, 4 and 2 requests, one second apart, each served alone within its SLO. */
static struct problem three_models(int64_t budget)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    static const double time[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    static const int32_t model[12] = {0, 1, 0, 2, 0, 1, 0, 1, 0, 2, 0, 1};
    return problem_new(2, 2, budget, db, 3, base_a, 0.25, 12, time, model);
}

Test(greedy, adds_the_pairs_alpaserve_adds_in_its_order)
{
    struct problem p = three_models(20);
    problem_bind(&p);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK, "%s", mx_error_message());
    struct sim_eval_state *s = sim_eval_state_new(c.eval);
    struct spec_placement layout;
    pl_placement_layout(&layout, 2, 1, 1, 1);
    /* Each step: (device of the group, model), and why.
     * 1. Nothing placed: both groups received 0 requests, the tie goes to the first (device 0);
     *    m0 has the most unserved requests (6).
     * 2. Device 1's group received 0 requests against 6; m1 has 4 unserved, m2 2, m0 none.
     * 3. Device 1's group (4 requests) again; only m2 is unserved.
     * 4. Both groups received 6 requests: the first in lexicographic order of model lists, {m0},
     *    comes first. Everything is served, so AlpaServe's 1e-6 guard ranks the models by request
     *    count, n * 1e-6 / (n + 1e-6): m0 is there already, m1 is next.
     * Then both groups are full (two 10-byte models on a 20-byte budget). */
    static const uint32_t expect[4][2] = {{0, 0}, {1, 1}, {1, 2}, {0, 1}};
    for (int step = 0; step <= 4; step++) {
        struct sim_eval_result r;
        pl_evaluate(s, &layout, &r);
        uint32_t g, m;
        bool found = pl_greedy_next(&c, &layout, &r, &g, &m);
        if (step == 4) {
            cr_assert_not(found, "both groups are full");
            break;
        }
        cr_assert(found, "step %d", step + 1);
        cr_assert_eq(layout.groups[g].first_device, expect[step][0], "step %d: device %u", step + 1,
                     layout.groups[g].first_device);
        cr_assert_eq(m, expect[step][1], "step %d: model %u", step + 1, m);
        spec_group_add(&layout.groups[g], m, pl_weight(&c, m, 1, 1));
        pl_placement_normalize(&layout);
    }
    /* pl_fill makes the same placement, and serves every request. */
    struct spec_placement filled;
    pl_placement_layout(&filled, 2, 1, 1, 1);
    uint32_t evaluations = 0;
    struct pl_score score = pl_fill(&c, s, &filled, 1, &evaluations, NULL);
    cr_assert_eq(models_on(&filled, 0), 0x3u, "device 0 holds m0 and m1");
    cr_assert_eq(models_on(&filled, 1), 0x6u, "device 1 holds m1 and m2");
    cr_assert_eq(evaluations, 5);
    cr_assert_eq(score.good, 12);
    cr_assert_eq(score.replicas, 4);
    spec_placement_release(&filled);
    spec_placement_release(&layout);
    sim_eval_state_free(s);
    pl_context_release(&c);
    problem_free(&p);
}

/* Resumable items stepped on threads (pl_parallel_steps): item k takes 40 + 25 k steps of 0.2 ms,
 * long enough against the scheduler's quantum that items move between threads. Violations are
 * recorded in the worker threads and asserted in the test's. */
enum { STEPPED_ITEMS = 5 };

struct stepped_items {
    atomic_int busy[STEPPED_ITEMS];
    pthread_mutex_t lock; /* over steps and state, which a step reads for every item */
    uint32_t steps[STEPPED_ITEMS];
    struct sim_eval_state *state[STEPPED_ITEMS];
    atomic_bool overlapped; /* an item stepped on two threads at once */
    atomic_bool no_state;   /* a step without an evaluation state */
    atomic_bool changed;    /* an item's state changed between its steps */
    atomic_bool shared;     /* two items under way held one state at once */
};

static uint32_t stepped_target(uint32_t item)
{
    return 40 + 25 * item;
}

static bool step_item(uint32_t item, struct sim_eval_state *s, void *arg)
{
    struct stepped_items *t = arg;
    if (atomic_fetch_add(&t->busy[item], 1) != 0)
        t->overlapped = true;
    if (!s)
        t->no_state = true;
    pthread_mutex_lock(&t->lock);
    if (t->steps[item] == 0)
        t->state[item] = s;
    if (t->state[item] != s)
        t->changed = true;
    for (uint32_t k = 0; k < STEPPED_ITEMS; k++)
        if (k != item && t->state[k] == s && t->steps[k] > 0 && t->steps[k] < stepped_target(k))
            t->shared = true;
    pthread_mutex_unlock(&t->lock);
    nanosleep(&(struct timespec){0, 200000}, NULL);
    pthread_mutex_lock(&t->lock);
    const bool more = ++t->steps[item] < stepped_target(item);
    pthread_mutex_unlock(&t->lock);
    atomic_fetch_sub(&t->busy[item], 1);
    return more;
}

static double item_progress(uint32_t item, void *arg)
{
    const struct stepped_items *t = arg;
    return (double)t->steps[item] / stepped_target(item);
}

/* A broken schedule may hang (an item counted done twice): the timeout fails it. */
/* A progress sink keeping the last share, which must stay in [0, 1]. */
static void record_share(void *arg, double share)
{
    cr_assert(share >= 0 && share <= 1, "share %g", share);
    *(double *)arg = share;
}

Test(parallel, steps_every_item_to_its_end_one_thread_at_a_time_with_its_own_state)
{
    struct problem p = three_models(20);
    problem_bind(&p);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK);
    for (unsigned threads = 1; threads <= 3; threads++) {
        struct stepped_items t = {.lock = PTHREAD_MUTEX_INITIALIZER};
        double last = -1;
        const struct mx_progress_sink sink = {record_share, &last};
        pl_parallel_steps(STEPPED_ITEMS, threads, c.eval, step_item, item_progress, &t, &sink);
        cr_assert_float_eq(last, 1.0, 1e-12, "%u threads: the last report is %g", threads, last);
        for (uint32_t k = 0; k < STEPPED_ITEMS; k++)
            cr_assert_eq(t.steps[k], stepped_target(k), "%u threads: item %u took %u steps",
                         threads, k, t.steps[k]);
        cr_assert_not(t.overlapped, "%u threads: an item was stepped on two threads", threads);
        cr_assert_not(t.no_state, "%u threads: a step had no evaluation state", threads);
        cr_assert_not(t.changed, "%u threads: an item's state changed", threads);
        cr_assert_not(t.shared, "%u threads: items under way shared a state", threads);
    }
    pl_context_release(&c);
    problem_free(&p);
}

/* Replicas per group after filling the two-group layout of three_models(budget). */
static void fill_counts(int64_t budget, uint32_t beam, uint32_t counts[2])
{
    struct problem p = three_models(budget);
    problem_bind(&p);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK);
    struct sim_eval_state *s = sim_eval_state_new(c.eval);
    struct spec_placement layout;
    pl_placement_layout(&layout, 2, 1, 1, 1);
    uint32_t evaluations = 0;
    pl_fill(&c, s, &layout, beam, &evaluations, NULL);
    for (uint32_t d = 0; d < 2; d++)
        counts[d] = (uint32_t)__builtin_popcount(models_on(&layout, d));
    spec_placement_release(&layout);
    sim_eval_state_free(s);
    pl_context_release(&c);
    problem_free(&p);
}

Test(greedy, memory_feasibility_at_the_budget_edge)
{
    uint32_t n[2];
    fill_counts(20, 1, n);
    cr_assert(n[0] == 2 && n[1] == 2, "exactly at the budget fits (<=): %u %u", n[0], n[1]);
    fill_counts(19, 1, n);
    cr_assert(n[0] == 1 && n[1] == 1, "one byte short: %u %u", n[0], n[1]);
    /* The beam search checks < the budget, as AlpaServe's code does. */
    fill_counts(20, 2, n);
    cr_assert(n[0] == 1 && n[1] == 1, "beam at the budget: %u %u", n[0], n[1]);
    fill_counts(21, 2, n);
    cr_assert(n[0] == 2 && n[1] == 2, "beam one byte over: %u %u", n[0], n[1]);

    /* A model bigger than the budget is an error naming it, its size and the budget. */
    struct problem p = three_models(9);
    problem_bind(&p);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK);
    struct spec_placement layout;
    pl_placement_layout(&layout, 2, 1, 1, 1);
    cr_assert_eq(pl_check_fits(&c, &layout, 1), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "model \"m0\""), "%s", mx_error_message());
    cr_assert(strstr(mx_error_message(), "at least 10 bytes per device"), "%s", mx_error_message());
    cr_assert(strstr(mx_error_message(), "budget of 9 bytes"), "%s", mx_error_message());
    spec_placement_release(&layout);
    pl_context_release(&c);
    problem_free(&p);
}

Test(greedy, activation_memory_counts_against_the_budget)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    /* Give the config 3 activation bytes at batch size 1. */
    const struct spec_profile_model *pm = spec_profile_find_model(db, "a");
    struct spec_config *cfg = (struct spec_config *)&pm->configs[0];
    cfg->act_bytes = MX_NEW_ARRAY(int64_t, 1);
    cfg->act_bytes[0] = 3;
    struct problem p = problem_new(1, 1, 26, db, 1, base_a, 1, 1, (double[]){0}, (int32_t[]){0});
    problem_bind(&p);
    struct pl_context c;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK);
    cr_assert_eq(pl_weight(&c, 0, 1, 1), 10);
    pl_context_release(&c);
    p.pb.activation_memory = true;
    cr_assert_eq(pl_context_init(&c, &p.pb, p.trace), MX_OK);
    cr_assert_eq(pl_weight(&c, 0, 1, 1), 13);
    pl_context_release(&c);
    problem_free(&p);
}

struct expected_configs {
    uint32_t devices, n;
    struct pl_config configs[16];
};

Test(configs, enumerated_for_8_16_48_and_64_devices)
{
    /* 8 devices per node, op <= 4, pp <= 8: sizes 1, 2, 4, ... that fit a node or are whole nodes,
     * up to the device count, every factorization within the limits, op descending (AlpaServe's
     * order). 64 devices allow a size of 64, but no op * pp = 64 is within the limits. */
    static const struct expected_configs expected[] = {
        {8,
         9,
         {{1, 1, 1},
          {2, 2, 1},
          {2, 1, 2},
          {4, 4, 1},
          {4, 2, 2},
          {4, 1, 4},
          {8, 4, 2},
          {8, 2, 4},
          {8, 1, 8}}},
        {16,
         11,
         {{1, 1, 1},
          {2, 2, 1},
          {2, 1, 2},
          {4, 4, 1},
          {4, 2, 2},
          {4, 1, 4},
          {8, 4, 2},
          {8, 2, 4},
          {8, 1, 8},
          {16, 4, 4},
          {16, 2, 8}}},
        {48,
         12,
         {{1, 1, 1},
          {2, 2, 1},
          {2, 1, 2},
          {4, 4, 1},
          {4, 2, 2},
          {4, 1, 4},
          {8, 4, 2},
          {8, 2, 4},
          {8, 1, 8},
          {16, 4, 4},
          {16, 2, 8},
          {32, 4, 8}}},
        {64,
         12,
         {{1, 1, 1},
          {2, 2, 1},
          {2, 1, 2},
          {4, 4, 1},
          {4, 2, 2},
          {4, 1, 4},
          {8, 4, 2},
          {8, 2, 4},
          {8, 1, 8},
          {16, 4, 4},
          {16, 2, 8},
          {32, 4, 8}}},
    };
    for (size_t k = 0; k < sizeof(expected) / sizeof(expected[0]); k++) {
        const struct expected_configs *e = &expected[k];
        struct pl_config *got = NULL;
        uint32_t n = pl_enumerate_configs(e->devices, 8, 4, 8, &got);
        for (uint32_t i = 0; i < n; i++)
            cr_log_info("%u devices: (%u, %d, %d)", e->devices, got[i].group_size, got[i].op,
                        got[i].pp);
        cr_assert_eq(n, e->n, "%u devices: %u configs", e->devices, n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert(got[i].group_size == e->configs[i].group_size &&
                          got[i].op == e->configs[i].op && got[i].pp == e->configs[i].pp,
                      "%u devices, config %u: (%u, %d, %d)", e->devices, i, got[i].group_size,
                      got[i].op, got[i].pp);
        free(got);
    }
}

Test(configs, layouts_put_the_remainder_in_power_of_two_pipelines)
{
    /* 48 devices in groups of 32: one (1, 4, 8) and a (1, 1, 16) pipeline for the other 16. */
    struct spec_placement p;
    pl_placement_layout(&p, 48, 32, 4, 8);
    cr_assert_eq(p.n_groups, 2);
    cr_assert(p.groups[0].op == 4 && p.groups[0].pp == 8 && p.groups[0].first_device == 0);
    cr_assert(p.groups[1].op == 1 && p.groups[1].pp == 16 && p.groups[1].first_device == 32);
    spec_placement_release(&p);
    /* 11 devices in groups of 4: two groups, then pipelines of 1 and 2 devices, smallest first. */
    pl_placement_layout(&p, 11, 4, 2, 2);
    cr_assert_eq(p.n_groups, 4);
    cr_assert(p.groups[2].pp == 1 && p.groups[2].first_device == 8);
    cr_assert(p.groups[3].pp == 2 && p.groups[3].first_device == 9);
    spec_placement_release(&p);
}

Test(separation, buckets_follow_the_first_members_latency)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 1);
    fx_profile_add(db, "b", 1, 1, (double[]){0.137}, 1); /* 37% above a: joins a's bucket */
    fx_profile_add(db, "c", 1, 1, (double[]){0.139}, 1); /* 39% above a: a bucket of its own */
    fx_profile_add(db, "d", 1, 1, (double[]){0.1}, 1);
    fx_profile_add(db, "e", 1, 1, (double[]){0.19}, 1); /* 37% above c: c's bucket */
    static const char *const bases[5] = {"a", "c", "b", "e", "d"};
    struct spec_model_set *set = model_set(5, bases, 1);
    uint32_t bucket_of[5], n = 0;
    double leader[5];
    cr_assert_eq(pl_bucket_models(set, db, "profile.h5", bucket_of, leader, &n), MX_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(leader[0], 0.1);
    cr_assert_eq(leader[1], 0.139);
    static const uint32_t expected[5] = {0, 1, 0, 1, 0};
    for (int m = 0; m < 5; m++)
        cr_assert_eq(bucket_of[m], expected[m], "model %d", m);
    spec_models_free(set);

    /* A base without a single-device config cannot be bucketed. */
    fx_profile_add(db, "f", 1, 2, (double[]){0.1, 0.1}, 1);
    static const char *const only_f[1] = {"f"};
    set = model_set(1, only_f, 1);
    cr_assert_eq(pl_bucket_models(set, db, "profile.h5", bucket_of, leader, &n), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "profile.h5 has no (1, 1, 1) config for \"f\""), "%s",
              mx_error_message());
    spec_models_free(set);
    spec_profile_free(db);
}

Test(separation, splits_are_node_aligned)
{
    /* 10 devices, 4 per node, 3 buckets. The last part first: 1 or 2 (at most 10 mod 4) or 6
     * (leaving 4); then the middle part of what remains: of 9, 1 or 5; of 8 (whole nodes),
     * anything; of 4, anything. The first part takes the rest. */
    static const uint32_t expected[12][3] = {{8, 1, 1}, {4, 5, 1}, {7, 1, 2}, {6, 2, 2},
                                             {5, 3, 2}, {4, 4, 2}, {3, 5, 2}, {2, 6, 2},
                                             {1, 7, 2}, {3, 1, 6}, {2, 2, 6}, {1, 3, 6}};
    struct pl_splits s;
    pl_enumerate_splits(10, 3, 4, &s);
    cr_assert_eq(s.n, 12, "%u splits", s.n);
    for (uint32_t k = 0; k < s.n; k++)
        for (int j = 0; j < 3; j++)
            cr_assert_eq(s.parts[k * 3 + j], expected[k][j], "split %u part %d", k, j);
    pl_splits_release(&s);

    /* 12 devices, 8 per node, 2 buckets: the second part is at most 12 mod 8 = 4. */
    pl_enumerate_splits(12, 2, 8, &s);
    cr_assert_eq(s.n, 4);
    for (uint32_t k = 0; k < 4; k++)
        cr_assert(s.parts[2 * k] == 11 - k && s.parts[2 * k + 1] == k + 1, "split %u", k);
    pl_splits_release(&s);
    cr_assert(pl_part_aligned(16, 5, 8), "16 is whole nodes: any cut");
    cr_assert_not(pl_part_aligned(13, 6, 8));
    cr_assert(pl_part_aligned(13, 5, 8), "leaves 8");
}

Test(separation, splits_are_filtered_by_rate_and_capacity)
{
    /* Two buckets of equal rate and latency over 128 single-device nodes: all 127 splits are
     * within 1 and .5 of the even share, too many; within .3 leaves 26 .. 102 devices for the
     * second bucket: 77 splits. */
    struct pl_splits s;
    pl_enumerate_splits(128, 2, 1, &s);
    cr_assert_eq(s.n, 127);
    uint32_t *kept = NULL;
    uint32_t n = pl_filter_splits(&s, (double[]){5, 5}, (double[]){0.1, 0.1}, &kept);
    cr_assert_eq(n, 77, "%u kept", n);
    cr_assert_eq(s.parts[2 * kept[0] + 1], 26);
    cr_assert_eq(s.parts[2 * kept[n - 1] + 1], 102);
    free(kept);
    pl_splits_release(&s);
    /* Few splits: all are kept under the first threshold. */
    pl_enumerate_splits(4, 2, 2, &s);
    cr_assert_eq(s.n, 3);
    n = pl_filter_splits(&s, (double[]){3, 1}, (double[]){0.1, 0.1}, &kept);
    cr_assert_eq(n, 3);
    free(kept);
    pl_splits_release(&s);
}

/* A one-device cluster that holds one model: each window gets the model with the most requests
 * in it. Windows of 60 s from the first arrival (100 s): [100, 160) has m0 three times;
 * [160, 220) m1 at exactly 160 and 170 and m0 once; [220, 280) nothing, so its placement stays;
 * [280, ...) m0. */
static struct problem window_problem(void)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    static const double time[7] = {100, 110, 159.9, 160, 170, 200, 290};
    static const int32_t model[7] = {0, 0, 0, 1, 1, 0, 0};
    return problem_new(1, 1, 10, db, 2, base_a, 1, 7, time, model);
}

static uint32_t only_model(const struct spec_plan_segment *s)
{
    cr_assert_eq(s->n_groups, 1);
    cr_assert_eq(s->groups[0].n_models, 1);
    return s->groups[0].models[0];
}

Test(clockwork, windows_start_at_the_trace_and_own_their_first_instant)
{
    struct problem p = window_problem();
    problem_bind(&p);
    struct plan_params pa = plan_params_default();
    const struct plan_policy *policy = plan_policy_find("clockwork++", &pa);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    cr_assert_eq(plan_solve(policy, &p.pb, &pa, &plan, &outcome), MX_OK, "%s", mx_error_message());
    cr_assert_eq(plan->n_segments, 4);
    static const double start[4] = {100, 160, 220, 280};
    static const uint32_t model[4] = {0, 1, 1, 0};
    for (uint32_t k = 0; k < 4; k++) {
        cr_assert_eq(plan->segments[k].start_s, start[k], "window %u starts at %g", k,
                     plan->segments[k].start_s);
        cr_assert_eq(only_model(&plan->segments[k]), model[k], "window %u", k);
        cr_assert_eq(plan->segments[k].groups[0].load_s, 0, "swaps are free by default");
    }
    /* Requests 100, 110, 159.9, 160, 170, 290 are served; 200 (m0 in m1's window) is not. */
    cr_assert_float_eq(outcome.attainment, 6.0 / 7.0, 1e-12);
    cr_assert_eq(spec_plan_validate(plan, &p.cluster, "cluster.json", p.db, "profile.h5"), MX_OK,
                 "%s", mx_error_message());
    spec_plan_free(plan);
    problem_free(&p);
}

Test(clockwork, swap_cost_charges_loading_what_the_window_before_lacked)
{
    struct problem p = window_problem();
    problem_bind(&p);
    struct plan_params pa = plan_params_default();
    pa.swap_cost = true;
    const struct plan_policy *policy = plan_policy_find("clockwork++", &pa);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    cr_assert_eq(plan_solve(policy, &p.pb, &pa, &plan, &outcome), MX_EUSAGE);
    cr_assert(strstr(mx_error_message(), "--swap-cost needs the cluster's "
                                         "load_bandwidth_bytes_per_s"),
              "%s", mx_error_message());
    /* 10 bytes at 20 bytes/s: half a second wherever the model changes. */
    p.cluster.load_bandwidth_bytes_per_s = 20;
    cr_assert_eq(plan_solve(policy, &p.pb, &pa, &plan, &outcome), MX_OK, "%s", mx_error_message());
    static const double load[4] = {0, 0.5, 0, 0.5};
    for (uint32_t k = 0; k < 4; k++)
        cr_assert_eq(plan->segments[k].groups[0].load_s, load[k], "window %u", k);
    /* m1 at exactly 160 now waits for its load until 160.5 and finishes at 160.6 (SLO 1 s): still
     * good; the counts stay those of free swaps. */
    cr_assert_float_eq(outcome.attainment, 6.0 / 7.0, 1e-12);
    spec_plan_free(plan);
    /* A load no plan may state (10 bytes at 1e-6 bytes/s: 1e7 s) is an error, not a plan. */
    p.cluster.load_bandwidth_bytes_per_s = 1e-6;
    plan = NULL;
    cr_assert_eq(plan_solve(policy, &p.pb, &pa, &plan, &outcome), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "loading 10 bytes at 1e-06 bytes/s (cluster cluster.json) "
                                         "takes 10000000 s, over the 1e+06 s a plan may state"),
              "%s", mx_error_message());
    cr_assert_null(plan);
    problem_free(&p);
}

Test(separation, a_bucket_without_requests_leaves_the_unseparated_plan)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 10);
    fx_profile_add(db, "b", 1, 1, (double[]){0.3}, 10); /* a bucket of its own */
    static const char *const bases[2] = {"a", "b"};
    struct problem p =
        problem_new(2, 2, 20, db, 2, bases, 1, 3, (double[]){0, 1, 2}, (int32_t[]){0, 0, 0});
    problem_bind(&p);
    struct plan_params pa = plan_params_default();
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    cr_assert_eq(plan_solve(plan_policy_find("alpaserve-sep", &pa), &p.pb, &pa, &plan, &outcome),
                 MX_OK, "%s", mx_error_message());
    cr_assert_eq(outcome.attainment, 1);
    cr_assert_eq(spec_plan_validate(plan, &p.cluster, "cluster.json", p.db, "profile.h5"), MX_OK);
    spec_plan_free(plan);
    problem_free(&p);
}
