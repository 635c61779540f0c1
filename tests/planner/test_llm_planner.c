/* Placing decoders (docs/planner.md): the baselines' hand-checked placements, the memory model at
 * the KV reserve's edge, predicted attainment equal to the simulator's, determinism across thread
 * counts, and which policies place which kind. Cases use llm_standard_cost and a context of 64
 * tokens: each model keeps a KV reserve of (1 + 0.5) 64 bytes. */
#include "fixture.h"
#include "llm_case.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "planner.h"
#include "sim_dispatch.h"
#include "spec_llm.h"
#include "spec_models.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* A planning problem over an llm_case: models m0, m1, ... with a TTFT and TPOT SLO each. */
struct llm_problem {
    struct llm_case c;
    struct spec_model_set *set;
    struct plan_problem pb;
};

static void bind(struct llm_problem *p, uint32_t devices)
{
    p->c.cluster.devices = devices;
    p->c.cluster.devices_per_node = devices;
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    set->path = mx_strdup("models.json");
    set->n = p->c.plan->n_models;
    set->models = MX_NEW_ARRAY(struct spec_model, set->n);
    for (uint32_t m = 0; m < set->n; m++) {
        set->models[m] =
            spec_model_make(p->c.plan->models[m].name, p->c.plan->models[m].base, INFINITY);
        set->models[m].ttft = (struct spec_slo){0.01, 0};
        set->models[m].tpot = (struct spec_slo){0.002, 0};
    }
    p->set = set;
    p->pb = (struct plan_problem){.cluster = &p->c.cluster,
                                  .cluster_path = "cluster.json",
                                  .db = p->c.db,
                                  .db_path = "profile.h5",
                                  .models = set,
                                  .train = p->c.trace,
                                  .dispatch = &sim_dispatch_earliest_free,
                                  .threads = 1,
                                  .kv_margin = PLAN_DEFAULT_KV_MARGIN};
}

static void release(struct llm_problem *p)
{
    spec_models_free(p->set);
    llm_case_free(&p->c);
}

/* n requests of model m, one every gap_ns from first_ns, 16 tokens in and 8 out, into req. */
static size_t stream(struct llm_request *req, int32_t m, size_t n, int64_t first_ns, int64_t gap_ns)
{
    for (size_t i = 0; i < n; i++)
        req[i] = (struct llm_request){first_ns + (int64_t)i * gap_ns, m, 16, 8, 10000000, 2000000};
    return n;
}

static int by_arrival(const void *a, const void *b)
{
    const struct llm_request *x = a, *y = b;
    if (x->arrival_ns != y->arrival_ns)
        return x->arrival_ns < y->arrival_ns ? -1 : 1;
    return x->model - y->model;
}

/* Into *out (its problem points into it): two models profiled at (1, 1, 1), (1, 2, 1) and
 * (1, 4, 1); m0 sends three requests for each of m1's over 1 s. */
static void three_to_one(struct llm_problem *out, int64_t budget, int64_t weight)
{
    struct llm_problem p = {.c = llm_case_new_with_context(2, budget, 64)};
    struct llm_cost_spec cost = llm_standard_cost(1);
    cost.weight_bytes = weight;
    for (uint32_t m = 0; m < 2; m++)
        for (int op = 1; op <= 4; op *= 2)
            llm_case_profile(&p.c, m, op, 1, &cost);
    struct llm_request req[40];
    size_t n = stream(req, 0, 30, 0, 33000000);
    n += stream(req + n, 1, 10, 1000, 100000000);
    qsort(req, n, sizeof(req[0]), by_arrival);
    llm_case_requests(&p.c, n, req);
    p.c.trace->duration_s = 1;
    *out = p;
    bind(out, 4);
}

/* The models of each group of plan, as "m0,m0|m1". */
static char *groups_of(const struct spec_plan *plan)
{
    char buf[512] = "";
    const struct spec_plan_segment *s = &plan->segments[0];
    for (uint32_t g = 0; g < s->n_groups; g++) {
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s(1,%d,%d)", g ? "|" : "",
                 s->groups[g].op, s->groups[g].pp);
        for (uint32_t j = 0; j < s->groups[g].n_models; j++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", j ? "," : ":",
                     plan->models[s->groups[g].models[j]].name);
    }
    return mx_strdup(buf);
}

static struct spec_plan *solve(struct llm_problem *p, const char *policy_name,
                               struct plan_outcome *outcome)
{
    struct plan_params params = plan_params_default();
    const struct plan_policy *policy = plan_policy_find(policy_name, &params);
    struct spec_plan *plan = NULL;
    int rc = plan_solve(policy, &p->pb, &params, &plan, outcome);
    cr_assert_eq(rc, MX_OK, "%s: %s", policy_name, mx_error_message());
    return plan;
}

Test(llm_planner, dedicated_gives_replicas_by_load)
{
    /* One replica each on (1, 1, 1); the two devices left go to m0, whose load per replica (3,
     * then 1.5) stays above m1's (1). */
    struct llm_problem p;
    three_to_one(&p, 1000, 0);
    struct plan_outcome outcome;
    struct spec_plan *plan = solve(&p, "dedicated", &outcome);
    char *groups = groups_of(plan);
    cr_assert_str_eq(groups, "(1,1,1):m0|(1,1,1):m0|(1,1,1):m0|(1,1,1):m1");
    free(groups);
    spec_plan_free(plan);
    release(&p);
}

Test(llm_planner, spatial_splits_the_devices_by_load)
{
    /* Shares of 3 and 1 devices: m0 takes its largest config within 3, (1, 2, 1); the device left
     * lets m1 grow to (1, 2, 1). */
    struct llm_problem p;
    three_to_one(&p, 1000, 0);
    struct plan_outcome outcome;
    struct spec_plan *plan = solve(&p, "spatial", &outcome);
    char *groups = groups_of(plan);
    cr_assert_str_eq(groups, "(1,2,1):m0|(1,2,1):m1");
    free(groups);
    spec_plan_free(plan);
    release(&p);
}

Test(llm_planner, a_model_fits_a_device_up_to_its_kv_reserve)
{
    /* 100 bytes of weights and a reserve of 1.5 x 64 tokens x 1 byte: 196 bytes fit, 195 do not. */
    struct llm_problem p;
    three_to_one(&p, 196, 100);
    struct plan_outcome outcome;
    struct spec_plan *plan = solve(&p, "dedicated", &outcome);
    const struct spec_plan_group *g = &plan->segments[0].groups[0];
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(g->info, "kv_pool_bytes"), 0)),
                 96, "the pool left is the reserve");
    spec_plan_free(plan);
    release(&p);
    three_to_one(&p, 195, 100);
    plan = solve(&p, "dedicated", &outcome);
    cr_assert_eq(plan->segments[0].n_groups, 0, "nothing fits");
    json_t *unplaced = json_object_get(plan->extra, "unplaced");
    cr_assert_eq(json_array_size(unplaced), 2);
    cr_assert_str_eq(json_string_value(json_array_get(unplaced, 0)), "m0");
    cr_assert_eq(outcome.attainment, 0);
    spec_plan_free(plan);
    release(&p);
}

Test(llm_planner, baselines_leave_the_least_loaded_models_out_of_a_cluster_too_small)
{
    /* One device, room for one model: the baselines keep m0 (30 requests against m1's 10) and
     * list m1 as unplaced; its requests count as misses. */
    static const char *const policies[] = {"dedicated", "spatial"};
    for (size_t k = 0; k < 2; k++) {
        struct llm_problem p;
        three_to_one(&p, 1000, 0);
        p.c.cluster.devices = p.c.cluster.devices_per_node = 1;
        struct plan_outcome outcome;
        struct spec_plan *plan = solve(&p, policies[k], &outcome);
        char *groups = groups_of(plan);
        cr_assert_str_eq(groups, "(1,1,1):m0", "%s: %s", policies[k], groups);
        free(groups);
        json_t *unplaced = json_object_get(plan->extra, "unplaced");
        cr_assert_eq(json_array_size(unplaced), 1);
        cr_assert_str_eq(json_string_value(json_array_get(unplaced, 0)), "m1");
        cr_assert(outcome.attainment <= 30.0 / 40.0, "%s: %g", policies[k], outcome.attainment);
        spec_plan_free(plan);
        release(&p);
    }
}

Test(llm_planner, predicted_attainment_is_the_simulators)
{
    static const char *const policies[] = {"dedicated", "spatial", "sr", "alpaserve", "mux-llm"};
    for (size_t k = 0; k < sizeof(policies) / sizeof(policies[0]); k++) {
        struct llm_problem p;
        three_to_one(&p, 1000, 0);
        struct plan_outcome outcome;
        struct spec_plan *plan = solve(&p, policies[k], &outcome);
        struct plan_test test;
        cr_assert_eq(plan_score(&p.pb, plan, p.c.trace, 0, &test), MX_OK, "%s", mx_error_message());
        cr_assert(test.decoders);
        cr_assert_eq(test.attainment, outcome.attainment, "%s", policies[k]);
        const json_t *predicted = json_object_get(plan->segments[0].groups[0].info, "predicted");
        cr_assert_not_null(predicted, "%s: groups record their predictions", policies[k]);
        plan_test_release(&test);
        spec_plan_free(plan);
        release(&p);
    }
}

Test(llm_planner, plans_do_not_depend_on_the_thread_count)
{
    static const char *const policies[] = {"alpaserve", "mux-llm"};
    for (size_t k = 0; k < 2; k++) {
        char *first = NULL;
        for (unsigned threads = 1; threads <= 3; threads++) {
            struct llm_problem p;
            three_to_one(&p, 1000, 0);
            p.pb.threads = threads;
            struct plan_outcome outcome;
            struct spec_plan *plan = solve(&p, policies[k], &outcome);
            char *groups = groups_of(plan);
            if (first)
                cr_assert_str_eq(groups, first, "%s on %u threads", policies[k], threads);
            free(first);
            first = groups;
            spec_plan_free(plan);
            release(&p);
        }
        free(first);
    }
}

Test(llm_planner, policies_say_which_kind_they_place)
{
    struct llm_problem p;
    three_to_one(&p, 1000, 0);
    struct plan_params params = plan_params_default();
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    fx_expect_error(
        plan_solve(plan_policy_find("clockwork++", &params), &p.pb, &params, &plan, &outcome),
        MX_EUSAGE,
        "policy clockwork++ places models served in one forward pass, and the models "
        "of models.json are decoders");
    release(&p);
}
