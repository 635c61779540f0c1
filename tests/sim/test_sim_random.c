/* Properties on random cases: the fast path and the event engine agree request by request;
 * conservation and sanity of every outcome in every mode; the same two on wide cases (pipelines of
 * up to 8 stages, up to 16 groups, thousands of requests); determinism across thread counts; and
 * the alpaserve-fast preset reproduces AlpaServe's fast simulator (a transcription of its
 * recurrence in double precision) request by request. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "random_case.h"
#include "sim_dispatch.h"

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

Test(random, fast_path_and_event_engine_agree_on_1200_cases)
{
    size_t requests = 0, outcomes[SIM_N_STATUS] = {0};
    for (uint64_t seed = 1; seed <= 1200; seed++) {
        struct random_case rc =
            random_case(seed, (struct case_shape){false, false, true, seed % 2 == 0});
        struct sim_results *event = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.o.engine = SIM_ENGINE_FAST;
        struct sim_results *fast = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        random_case_assert_same(fast, event, seed);
        requests += fast->n;
        for (size_t i = 0; i < fast->n; i++)
            outcomes[fast->status[i]]++;
        sim_results_free(event);
        sim_results_free(fast);
        random_case_free(&rc);
    }
    /* The cases must exercise every outcome the fast path can produce. */
    cr_assert_gt(requests, 100000);
    cr_assert_gt(outcomes[SIM_GOOD], requests / 10);
    cr_assert_gt(outcomes[SIM_REJECTED], requests / 10);
    cr_assert_gt(outcomes[SIM_LATE], 100, "late requests need reply overheads: %zu",
                 outcomes[SIM_LATE]);
    cr_assert_gt(outcomes[SIM_NO_REPLICA], 100);
}

/* Groups whose models share one latency vector keep two clocks on the fast path (admit_uniform):
 * the event engine, which runs every stage, must see the same outcomes, with and without loading
 * times, under the policies that take that form. */
Test(random, uniform_groups_agree_with_the_event_engine)
{
    size_t pipelined = 0, rejected = 0;
    for (uint64_t seed = 20000; seed < 20800; seed++) {
        struct random_case rc = random_case(
            seed,
            (struct case_shape){.schedule = true, .loading = seed % 2 == 0, .one_base = true});
        rc.o.dispatch =
            seed % 3 == 0 ? &sim_dispatch_least_outstanding : &sim_dispatch_earliest_free;
        struct sim_world *w;
        struct sim_results *event = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.o.engine = SIM_ENGINE_FAST;
        struct sim_results *fast = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, &w);
        random_case_assert_same(fast, event, seed);
        for (size_t i = 0; i < fast->n; i++) {
            bool ran = fast->status[i] == SIM_GOOD || fast->status[i] == SIM_LATE;
            pipelined += ran && sim_world_group_stages(w, (uint32_t)fast->group[i]) > 1;
            rejected += fast->status[i] == SIM_REJECTED;
        }
        sim_results_free(event);
        sim_results_free(fast);
        sim_world_free(w);
        random_case_free(&rc);
    }
    /* The cases must queue requests behind each other in pipelines, and refuse some. */
    cr_assert_gt(pipelined, 15000, "%zu requests ran in pipelines", pipelined);
    cr_assert_gt(rejected, 20000, "%zu requests refused", rejected);
}

/* Wide cases: every dispatch policy, schedules, loading times, and one base in half of them (the
 * fast path's uniform form under earliest-free and least-outstanding). */
Test(random, fast_path_and_event_engine_agree_on_wide_cases)
{
    size_t requests = 0, outcomes[SIM_N_STATUS] = {0}, deep = 0, far = 0, uniform = 0;
    for (uint64_t seed = 60000; seed < 60300; seed++) {
        struct random_case rc = random_case(seed, (struct case_shape){.schedule = true,
                                                                      .loading = seed % 2 == 0,
                                                                      .one_base = seed % 4 < 2,
                                                                      .wide = true});
        struct sim_world *w;
        struct sim_results *event = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.o.engine = SIM_ENGINE_FAST;
        struct sim_results *fast = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, &w);
        random_case_assert_same(fast, event, seed);
        requests += fast->n;
        for (size_t i = 0; i < fast->n; i++) {
            outcomes[fast->status[i]]++;
            bool ran = fast->status[i] == SIM_GOOD || fast->status[i] == SIM_LATE;
            deep += ran && sim_world_group_stages(w, (uint32_t)fast->group[i]) > 4;
            far += fast->group[i] >= 0 && sim_world_group_id(w, (uint32_t)fast->group[i]) >= 4;
            uniform += ran && seed % 4 < 2 && rc.o.dispatch != &sim_dispatch_best_finish;
        }
        sim_results_free(event);
        sim_results_free(fast);
        sim_world_free(w);
        random_case_free(&rc);
    }
    /* The cases must be wide where the narrow ones stop, and exercise every outcome. */
    cr_assert_gt(requests, 300 * 2000);
    cr_assert_gt(deep, requests / 20, "%zu requests ran in pipelines over 4 stages", deep);
    cr_assert_gt(far, requests / 10, "%zu requests went to a segment's groups past the fourth",
                 far);
    cr_assert_gt(uniform, requests / 10, "%zu requests ran in uniform segments", uniform);
    cr_assert_gt(outcomes[SIM_GOOD], requests / 10);
    cr_assert_gt(outcomes[SIM_REJECTED], requests / 10);
    cr_assert_gt(outcomes[SIM_LATE], 100, "%zu late", outcomes[SIM_LATE]);
    cr_assert_gt(outcomes[SIM_NO_REPLICA], 100, "%zu without a replica", outcomes[SIM_NO_REPLICA]);
}

/* Every request of case `seed` of `shape` has exactly one outcome, consistent with its times; the
 * stages were busy exactly with the executed work where there is no batching. Adds the outcomes'
 * counts to outcomes[SIM_N_STATUS]. */
static void check_conservation(uint64_t seed, struct case_shape shape, size_t *outcomes)
{
    struct random_case rc = random_case(seed, shape);
    struct sim_world *w;
    struct sim_results *r = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, &w);
    size_t count[SIM_N_STATUS] = {0};
    mx_ns busy = 0, exec = 0;
    for (size_t i = 0; i < r->n; i++) {
        mx_ns arrival = llround(rc.t->arrival_s[i] * 1e9);
        mx_ns deadline = arrival + llround(rc.t->slo_s[i] * 1e9);
        cr_assert_lt(r->status[i], SIM_FAILED, "case %llu request %zu has no outcome",
                     (unsigned long long)seed, i);
        count[r->status[i]]++;
        cr_assert_geq(r->finish_ns[i], arrival);
        bool ran = r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE;
        cr_assert_eq(ran, r->start_ns[i] != MX_NS_NEVER);
        cr_assert_eq(ran, r->batch[i] > 0);
        if (ran) {
            cr_assert_geq(r->start_ns[i], arrival);
            cr_assert_geq(r->finish_ns[i], r->start_ns[i] + r->exec_ns[i]);
            cr_assert_geq(r->group[i], 0);
            exec += r->exec_ns[i] / r->batch[i];
        }
        if (r->status[i] == SIM_GOOD)
            cr_assert_leq(r->finish_ns[i], deadline);
        if (r->status[i] == SIM_LATE)
            cr_assert_gt(r->finish_ns[i], deadline);
    }
    size_t total = 0;
    for (int s = 0; s < SIM_N_STATUS; s++) {
        total += count[s];
        outcomes[s] += count[s];
    }
    cr_assert_eq(total, r->n, "requests = good + late + rejected + dropped + no replica");
    for (size_t s = 0; s < r->n_stages; s++)
        busy += r->busy_ns[s];
    if (!shape.batching)
        cr_assert_eq(busy, exec, "case %llu: stage busy time is the executed work",
                     (unsigned long long)seed);
    sim_results_free(r);
    sim_world_free(w);
    random_case_free(&rc);
}

Test(random, every_request_ends_once_and_consistently)
{
    size_t outcomes[SIM_N_STATUS] = {0};
    for (uint64_t seed = 5000; seed < 5600; seed++)
        check_conservation(
            seed, (struct case_shape){seed % 2 == 0, seed % 3 != 0, true, seed % 5 < 2}, outcomes);
}

/* Wide cases in every mode: random overheads, batching, schedules, loading times, one base. */
Test(random, every_request_of_wide_cases_ends_once_and_consistently)
{
    size_t outcomes[SIM_N_STATUS] = {0};
    for (uint64_t seed = 61000; seed < 61200; seed++)
        check_conservation(seed,
                           (struct case_shape){.random_overheads = seed % 2 == 0,
                                               .batching = seed % 3 != 0,
                                               .schedule = true,
                                               .loading = seed % 5 < 2,
                                               .one_base = seed % 7 < 3,
                                               .wide = true},
                           outcomes);
    /* Every outcome occurs, dropped ones (batching) included. */
    for (int s = 0; s < SIM_N_STATUS; s++)
        if (s != SIM_FAILED)
            cr_assert_gt(outcomes[s], 100, "%zu requests of status %d", outcomes[s], s);
}

Test(random, identical_results_for_any_thread_count)
{
    for (uint64_t seed = 9000; seed < 9100; seed++) {
        struct random_case rc =
            random_case(seed, (struct case_shape){true, seed % 2 == 0, true, true});
        struct sim_results *one = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        rc.o.threads = 3;
        struct sim_results *three = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        random_case_assert_same(one, three, seed);
        sim_results_free(one);
        sim_results_free(three);
        random_case_free(&rc);
    }
}

Test(random, random_overheads_depend_on_the_seed)
{
    struct random_case rc = random_case(77, (struct case_shape){false, false, false});
    for (int k = 0; k < SPEC_OH_COUNT; k++)
        rc.c.overheads.term[k] = (struct spec_overhead){0.002, 0.001};
    struct sim_results *a = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
    struct sim_results *b = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
    random_case_assert_same(a, b, 77);
    rc.o.seed++;
    struct sim_results *c = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
    size_t differ = 0;
    for (size_t i = 0; i < a->n; i++)
        differ += a->finish_ns[i] != c->finish_ns[i];
    cr_assert_gt(differ, a->n / 2, "another seed draws other overheads");
    sim_results_free(a);
    sim_results_free(b);
    sim_results_free(c);
    random_case_free(&rc);
}

/* AlpaServe's fast simulator, transcribed from its published algorithm: dispatch to the replica
 * whose last stage frees first (strictly earlier wins), pipeline recurrence with stage latencies
 * times (1 + 0.009 pp), 11 ms added to the finish; accepted only if that finish is within the SLO.
 */
static void alpaserve_reference(const struct spec_plan *p, const struct spec_profile *db,
                                const struct wl_trace *t, bool *good, double *finish)
{
    const struct spec_plan_segment *s = &p->segments[0];
    double clocks[8][8] = {{0}};
    for (size_t i = 0; i < t->n; i++) {
        int best = -1;
        double earliest = INFINITY;
        for (uint32_t g = 0; g < s->n_groups; g++) {
            const struct spec_plan_group *grp = &s->groups[g];
            for (uint32_t j = 0; j < grp->n_models; j++)
                if ((int32_t)grp->models[j] == t->model[i] && clocks[g][grp->pp - 1] < earliest) {
                    earliest = clocks[g][grp->pp - 1];
                    best = (int)g;
                }
        }
        good[i] = false;
        finish[i] = t->arrival_s[i];
        if (best < 0)
            continue;
        const struct spec_plan_group *grp = &s->groups[best];
        const struct spec_config *cfg =
            spec_profile_find(db, p->models[t->model[i]].base, 1, grp->op, grp->pp);
        double stage_finish[8], tt = t->arrival_s[i];
        for (int k = 0; k < grp->pp; k++) {
            tt = fmax(tt, clocks[best][k]) + cfg->stage_latency_s[k] * (1 + 0.009 * grp->pp);
            stage_finish[k] = tt;
        }
        if (tt + 0.011 - t->arrival_s[i] <= t->slo_s[i]) {
            good[i] = true;
            finish[i] = tt + 0.011;
            for (int k = 0; k < grp->pp; k++)
                clocks[best][k] = stage_finish[k];
        }
    }
}

Test(random, alpaserve_fast_preset_reproduces_alpaserve_request_by_request)
{
    size_t compared = 0, good_total = 0;
    for (uint64_t seed = 20000; seed < 20300; seed++) {
        struct random_case rc = random_case(seed, (struct case_shape){false, false, false});
        spec_overheads_preset("alpaserve-fast", &rc.c.overheads);
        rc.o.dispatch = &sim_dispatch_earliest_free;
        rc.o.engine = SIM_ENGINE_AUTO;
        struct sim_results *r = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, NULL);
        bool *good = MX_NEW_ARRAY(bool, rc.t->n);
        double *finish = MX_NEW_ARRAY(double, rc.t->n);
        alpaserve_reference(rc.p, rc.db, rc.t, good, finish);
        for (size_t i = 0; i < rc.t->n; i++) {
            cr_assert_eq(r->status[i] == SIM_GOOD, good[i], "case %llu request %zu",
                         (unsigned long long)seed, i);
            /* Latencies are whole nanoseconds here: finish times drift by at most half a
             * nanosecond per stage over a busy period, far below a microsecond. */
            cr_assert_float_eq((double)r->finish_ns[i] / 1e9, finish[i], 1e-6,
                               "case %llu request %zu: finish %.9f s, AlpaServe %.9f s",
                               (unsigned long long)seed, i, (double)r->finish_ns[i] / 1e9,
                               finish[i]);
            good_total += good[i];
        }
        compared += rc.t->n;
        free(good);
        free(finish);
        sim_results_free(r);
        random_case_free(&rc);
    }
    cr_assert_gt(good_total, compared / 10);
    cr_assert_lt(good_total, compared - compared / 10);
}
