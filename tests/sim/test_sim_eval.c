/* The planner's evaluator: its counts equal the simulator's on random cases, and its incremental
 * runs (sim_eval_run_next) equal full runs along random sequences of placement changes: the kind a
 * greedy fill makes, and groups appearing, disappearing, moving and changing config; on narrow and
 * wide cases (up to 16 groups of up to 8 stages, thousands of requests), with both of the
 * incremental run's walks (streams and scan) taken and doing work. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "random_case.h"
#include "sim_dispatch.h"
#include "sim_eval.h"
#include "sim_eval_int.h"
#include "spec_placement.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct sim_eval *new_evaluator(const struct random_case *rc)
{
    const char *bases[RANDOM_CASE_MAX_MODELS];
    for (uint32_t m = 0; m < rc->p->n_models; m++)
        bases[m] = rc->p->models[m].base;
    struct sim_eval *e = NULL;
    cr_assert_eq(sim_eval_new(&rc->c, rc->db, "db", rc->t, bases, rc->o.dispatch, &e), MX_OK, "%s",
                 mx_error_message());
    return e;
}

/* The evaluator's view of segment 0, keyed by each group's first device. */
static uint32_t placement_of(const struct spec_plan_segment *ps, struct spec_group *groups)
{
    for (uint32_t g = 0; g < ps->n_groups; g++)
        groups[g] = (struct spec_group){.first_device = ps->groups[g].devices[0],
                                        .op = ps->groups[g].op,
                                        .pp = ps->groups[g].pp,
                                        .n_models = ps->groups[g].n_models,
                                        .models = ps->groups[g].models};
    return ps->n_groups;
}

Test(eval, counts_what_the_simulator_measures)
{
    for (uint64_t seed = 30000; seed < 30300; seed++) {
        struct random_case rc = random_case(seed, (struct case_shape){false, false, false});
        rc.o.engine = SIM_ENGINE_FAST;
        struct sim_results *r = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        struct sim_eval *e = new_evaluator(&rc);
        const struct spec_plan_segment *ps = &rc.p->segments[0];
        struct spec_group groups[8];
        uint32_t n_groups = placement_of(ps, groups);
        struct sim_eval_state *state = sim_eval_state_new(e);
        struct sim_eval_result out;
        for (int twice = 0; twice < 2; twice++) { /* a state is reusable */
            sim_eval_run(state, &(struct spec_placement){n_groups, groups}, &out);
            uint64_t good = 0, model_good[8] = {0}, group_requests[8] = {0};
            double latency = 0;
            for (size_t i = 0; i < r->n; i++) {
                good += r->status[i] == SIM_GOOD;
                model_good[rc.t->model[i]] += r->status[i] == SIM_GOOD;
                if (r->group[i] >= 0)
                    group_requests[r->group[i]]++;
                if (r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE)
                    latency += (double)(r->finish_ns[i] - llround(rc.t->arrival_s[i] * 1e9)) / 1e9;
            }
            cr_assert_eq(out.requests, r->n);
            cr_assert_eq(out.simulated, r->n);
            cr_assert_eq(out.good, good, "case %llu", (unsigned long long)seed);
            for (uint32_t m = 0; m < rc.p->n_models; m++)
                cr_assert_eq(out.model_good[m], model_good[m]);
            for (uint32_t g = 0; g < n_groups; g++)
                cr_assert_eq(out.group_requests[g], group_requests[g]);
            cr_assert_float_eq(out.mean_latency_s, latency / (double)r->n, 1e-9);
        }
        sim_eval_state_free(state);
        sim_eval_free(e);
        sim_results_free(r);
        random_case_free(&rc);
    }
}

/* A placement the test edits: model lists it owns, and the configs it may give a group. It keeps
 * at most max_groups groups: 8 in narrow cases, MAX_GROUPS in wide ones. */
#define MAX_GROUPS RANDOM_CASE_MAX_GROUPS
struct editable {
    uint32_t n_groups, max_groups, devices;
    struct spec_group groups[MAX_GROUPS];
    uint32_t models[MAX_GROUPS][RANDOM_CASE_MAX_MODELS];
    uint32_t n_configs;
    int32_t configs[MAX_GROUPS][2]; /* (op, pp) of the case's groups: all profiled */
};

static bool hosts(const struct spec_group *g, uint32_t m)
{
    for (uint32_t j = 0; j < g->n_models; j++)
        if (g->models[j] == m)
            return true;
    return false;
}

static bool key_taken(const struct editable *p, uint32_t key)
{
    for (uint32_t g = 0; g < p->n_groups; g++)
        if (p->groups[g].first_device == key)
            return true;
    return false;
}

/* Group g moves to position `to`, the others keeping their order. */
static void move_group(struct editable *p, uint32_t g, uint32_t to)
{
    struct spec_group group = p->groups[g];
    uint32_t models[RANDOM_CASE_MAX_MODELS];
    memcpy(models, p->models[g], sizeof(models));
    for (; g > to; g--) {
        p->groups[g] = p->groups[g - 1];
        memcpy(p->models[g], p->models[g - 1], sizeof(models));
    }
    for (; g < to; g++) {
        p->groups[g] = p->groups[g + 1];
        memcpy(p->models[g], p->models[g + 1], sizeof(models));
    }
    p->groups[to] = group;
    memcpy(p->models[to], models, sizeof(models));
}

/* One random change: add a replica (most often), remove one, move a group in the list (dispatch's
 * tie order), give a group another config, add a group at a free key, remove a group, or move a
 * group to a free key. */
static void random_edit(gsl_rng *rng, struct editable *p, uint32_t n_models)
{
    double u = gsl_rng_uniform(rng);
    uint32_t key = (uint32_t)gsl_rng_uniform_int(rng, p->devices);
    if (p->n_groups == 0 || (u < 0.08 && p->n_groups < p->max_groups)) {
        if (key_taken(p, key))
            return;
        const int32_t *c = p->configs[gsl_rng_uniform_int(rng, p->n_configs)];
        uint32_t g = p->n_groups++;
        p->groups[g] = (struct spec_group){.first_device = key, .op = c[0], .pp = c[1]};
        for (uint32_t m = 0; m < n_models; m++)
            if (gsl_rng_uniform(rng) < 0.4)
                p->models[g][p->groups[g].n_models++] = m;
        move_group(p, g, (uint32_t)gsl_rng_uniform_int(rng, p->n_groups));
    } else {
        uint32_t g = (uint32_t)gsl_rng_uniform_int(rng, p->n_groups);
        struct spec_group *grp = &p->groups[g];
        if (u < 0.14) {
            move_group(p, g, p->n_groups - 1);
            p->n_groups--;
        } else if (u < 0.2) {
            if (!key_taken(p, key))
                grp->first_device = key;
        } else if (u < 0.65) {
            uint32_t m = (uint32_t)gsl_rng_uniform_int(rng, n_models);
            if (!hosts(grp, m))
                p->models[g][grp->n_models++] = m;
        } else if (u < 0.8) {
            if (grp->n_models > 0) {
                uint32_t j = (uint32_t)gsl_rng_uniform_int(rng, grp->n_models);
                p->models[g][j] = p->models[g][--grp->n_models];
            }
        } else if (u < 0.95) {
            move_group(p, g, (uint32_t)gsl_rng_uniform_int(rng, p->n_groups));
        } else {
            const int32_t *c = p->configs[gsl_rng_uniform_int(rng, p->n_configs)];
            grp->op = c[0];
            grp->pp = c[1];
        }
    }
    for (uint32_t k = 0; k < p->n_groups; k++)
        p->groups[k].models = p->models[k];
}

static void assert_same_outcome(const struct sim_eval_result *a, const struct sim_eval_result *b,
                                uint32_t n_models, uint32_t n_groups, uint64_t seed, int step)
{
    cr_assert_eq(a->good, b->good, "case %llu step %d: %llu good, a full run %llu",
                 (unsigned long long)seed, step, (unsigned long long)a->good,
                 (unsigned long long)b->good);
    cr_assert_eq(a->mean_latency_s, b->mean_latency_s, "case %llu step %d: mean latency",
                 (unsigned long long)seed, step);
    for (uint32_t m = 0; m < n_models; m++) {
        cr_assert_eq(a->model_requests[m], b->model_requests[m]);
        cr_assert_eq(a->model_good[m], b->model_good[m], "case %llu step %d model %u",
                     (unsigned long long)seed, step, m);
    }
    for (uint32_t g = 0; g < n_groups; g++)
        cr_assert_eq(a->group_requests[g], b->group_requests[g], "case %llu step %d group %u",
                     (unsigned long long)seed, step, g);
}

/* What the evaluations of check_random_edits did, over all its steps. */
struct edit_counts {
    uint64_t requests;  /* evaluated */
    uint64_t simulated; /* simulated, by full runs and incremental ones */
    /* The incremental runs by walk (streams, scan: the state's walks): runs, the requests they
     * evaluated, the requests they re-simulated. */
    uint64_t walks[2], walked[2], rerun[2];
};

/* Along 60 random edits of each case's placement, incremental runs equal full runs at every step.
 * Adds what the incremental runs did to *counts. */
static void check_random_edits(uint64_t first_seed, uint64_t end_seed, struct case_shape shape,
                               struct edit_counts *counts)
{
    for (uint64_t seed = first_seed; seed < end_seed; seed++) {
        struct random_case rc = random_case(seed, shape);
        rc.o.dispatch = seed % 2 ? &sim_dispatch_earliest_free : &sim_dispatch_best_finish;
        struct sim_eval *e = new_evaluator(&rc);
        struct editable p = {.max_groups = shape.wide ? MAX_GROUPS : 8, .devices = rc.c.devices};
        p.n_groups = placement_of(&rc.p->segments[0], p.groups);
        for (uint32_t g = 0; g < p.n_groups; g++) {
            memcpy(p.models[g], p.groups[g].models, p.groups[g].n_models * sizeof(uint32_t));
            p.groups[g].models = p.models[g];
            p.configs[p.n_configs][0] = p.groups[g].op;
            p.configs[p.n_configs++][1] = p.groups[g].pp;
        }
        struct sim_eval_state *incremental = sim_eval_state_new(e), *full = sim_eval_state_new(e);
        gsl_rng *rng = mx_rng_new(seed, "test/edits", 0);
        for (int step = 0; step < 60; step++) {
            struct sim_eval_result a, b;
            const uint64_t scans = incremental->walks[1], walks = scans + incremental->walks[0];
            if (gsl_rng_uniform(rng) < 0.03) /* a full run in between drops the baseline */
                sim_eval_run(incremental, &(struct spec_placement){p.n_groups, p.groups}, &a);
            else
                sim_eval_run_next(incremental, &(struct spec_placement){p.n_groups, p.groups}, &a);
            sim_eval_run(full, &(struct spec_placement){p.n_groups, p.groups}, &b);
            assert_same_outcome(&a, &b, rc.p->n_models, p.n_groups, seed, step);
            counts->requests += a.requests;
            counts->simulated += a.simulated;
            if (incremental->walks[0] + incremental->walks[1] > walks) { /* it ran incrementally */
                const int scan = incremental->walks[1] > scans;
                counts->walks[scan]++;
                counts->walked[scan] += a.requests;
                counts->rerun[scan] += a.simulated;
            }
            for (int k = 1 + (int)gsl_rng_uniform_int(rng, 2); k > 0; k--)
                random_edit(rng, &p, rc.p->n_models);
        }
        gsl_rng_free(rng);
        sim_eval_state_free(incremental);
        sim_eval_state_free(full);
        sim_eval_free(e);
        random_case_free(&rc);
    }
}

static const char *const walk_names[2] = {"streams", "scan"};

/* Both walks must have been taken many times, re-simulating requests each time on average: a
 * change that left one of them unused (its choice, SCAN_RATIO, the counts it is made from) fails
 * here. */
static void assert_both_walks_taken(const struct edit_counts *c, uint64_t min_runs)
{
    for (int k = 0; k < 2; k++) {
        cr_assert_geq(c->walks[k], min_runs, "%llu incremental runs by %s",
                      (unsigned long long)c->walks[k], walk_names[k]);
        cr_assert_geq(c->rerun[k], c->walks[k], "%s runs re-simulated %llu requests in %llu runs",
                      walk_names[k], (unsigned long long)c->rerun[k],
                      (unsigned long long)c->walks[k]);
    }
}

/* Models of two bases: placements go in and out of the uniform form (one latency vector a group).
 */
Test(eval, incremental_runs_equal_full_runs_along_random_edits)
{
    struct edit_counts c = {0};
    check_random_edits(40000, 40400, (struct case_shape){0}, &c);
    /* The incremental runs must have skipped work for the comparison to test them. */
    cr_assert_lt(c.simulated, c.requests * 3 / 4, "simulated %llu of %llu requests",
                 (unsigned long long)c.simulated, (unsigned long long)c.requests);
    assert_both_walks_taken(&c, 200);
}

/* Models of one base: earliest-free's baselines keep each group's last stage clock only. */
Test(eval, incremental_runs_in_the_uniform_form_equal_full_runs)
{
    struct edit_counts c = {0};
    check_random_edits(41000, 41400, (struct case_shape){.one_base = true}, &c);
    cr_assert_lt(c.simulated, c.requests * 3 / 4, "simulated %llu of %llu requests",
                 (unsigned long long)c.simulated, (unsigned long long)c.requests);
    assert_both_walks_taken(&c, 200);
}

/* Wide cases, in both forms. Their edits (a moved or added group changes the replicas of most
 * models) make heavier incremental runs, after which the next evaluation is often a full one; the
 * incremental runs themselves must still have skipped work. */
static void check_wide_edits(uint64_t first_seed, bool one_base)
{
    struct edit_counts c = {0};
    check_random_edits(first_seed, first_seed + 40,
                       (struct case_shape){.one_base = one_base, .wide = true}, &c);
    const uint64_t walked = c.walked[0] + c.walked[1], rerun = c.rerun[0] + c.rerun[1];
    cr_assert_lt(rerun, walked * 3 / 4, "incremental runs re-simulated %llu of %llu requests",
                 (unsigned long long)rerun, (unsigned long long)walked);
    assert_both_walks_taken(&c, 30);
}

Test(eval, incremental_runs_equal_full_runs_on_wide_cases)
{
    check_wide_edits(43000, false);
}

Test(eval, incremental_runs_in_the_uniform_form_equal_full_runs_on_wide_cases)
{
    check_wide_edits(44000, true);
}

/* Two groups that host every model tie at their first request (both clocks at 0), which goes to the
 * one listed first: listing them the other way round must move it, though neither group changed. */
Test(eval, a_tie_follows_the_order_of_the_groups)
{
    int checked = 0;
    for (uint64_t seed = 42000; seed < 42200; seed++) {
        struct random_case rc = random_case(seed, (struct case_shape){.one_base = seed % 2});
        rc.o.dispatch = &sim_dispatch_earliest_free;
        struct spec_group groups[8];
        if (placement_of(&rc.p->segments[0], groups) < 2) {
            random_case_free(&rc);
            continue;
        }
        uint32_t all[8];
        for (uint32_t m = 0; m < rc.p->n_models; m++)
            all[m] = m;
        struct spec_group pair[2] = {groups[0], groups[1]};
        for (int g = 0; g < 2; g++) {
            pair[g].n_models = rc.p->n_models;
            pair[g].models = all;
        }
        struct spec_group swapped[2] = {pair[1], pair[0]};
        struct sim_eval *e = new_evaluator(&rc);
        struct sim_eval_state *incremental = sim_eval_state_new(e), *full = sim_eval_state_new(e);
        struct sim_eval_result a, b;
        sim_eval_run_next(incremental, &(struct spec_placement){2, pair}, &a);
        sim_eval_run_next(incremental, &(struct spec_placement){2, swapped}, &a);
        sim_eval_run(full, &(struct spec_placement){2, swapped}, &b);
        assert_same_outcome(&a, &b, rc.p->n_models, 2, seed, 1);
        checked++;
        sim_eval_state_free(incremental);
        sim_eval_state_free(full);
        sim_eval_free(e);
        random_case_free(&rc);
    }
    cr_assert_gt(checked, 50);
}
