/* Hand-computed simulator cases: admission, deadlines, ties, each dispatch policy, overheads,
 * batching, warmup and time-varying plans. Every case runs on every engine that covers it. */
#include "fixture.h"
#include "mx_error.h"
#include "sim_dispatch.h"
#include "sim_metrics.h"

#include <criterion/criterion.h>
#include <math.h>

#define NS(s) ((mx_ns)llround((s)*1e9))

static const char *const base_a[8] = {"a", "a", "a", "a", "a", "a", "a", "a"};

/* Run on the fast path (when valid) and the event engine; check they agree; return the event run.
 */
static struct sim_results *run_both(const struct spec_cluster *c, const struct spec_profile *db,
                                    const struct spec_plan *p, const struct wl_trace *t,
                                    struct sim_options o)
{
    o.engine = SIM_ENGINE_EVENT;
    struct sim_results *event = fx_run(c, db, p, t, &o, NULL);
    if (o.max_batch <= 1 && spec_overheads_constant(&c->overheads)) {
        o.engine = SIM_ENGINE_FAST;
        struct sim_results *fast = fx_run(c, db, p, t, &o, NULL);
        for (size_t i = 0; i < t->n; i++) {
            cr_assert_eq(fast->status[i], event->status[i], "request %zu status", i);
            cr_assert_eq(fast->group[i], event->group[i], "request %zu group", i);
            cr_assert_eq(fast->finish_ns[i], event->finish_ns[i], "request %zu finish", i);
            cr_assert_eq(fast->start_ns[i], event->start_ns[i], "request %zu start", i);
        }
        sim_results_free(fast);
    }
    return event;
}

static struct sim_options options(const struct sim_dispatch_policy *policy)
{
    struct sim_options o = {
        .engine = SIM_ENGINE_AUTO, .dispatch = policy, .max_batch = 1, .threads = 1};
    return o;
}

Test(cases, rejected_because_a_later_stage_is_busy)
{
    /* Stage 1 is slow: the second request could pass stage 0 at once but would wait for stage 1. */
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 2, (double[]){0.1, 0.5}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(2, (double[]){0, 0.1}, (int32_t[]){0, 0}, (double[]){10, 0.7}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    struct sim_results *r = run_both(&c, db, p, t, options(&sim_dispatch_earliest_free));
    cr_assert_eq(r->status[0], SIM_GOOD);
    cr_assert_eq(r->finish_ns[0], NS(0.6));
    /* f0 = max(0.1, 0.1) + 0.1 = 0.2, f1 = max(0.6, 0.2) + 0.5 = 1.1 > 0.1 + 0.7 */
    cr_assert_eq(r->status[1], SIM_REJECTED);
    cr_assert_eq(r->group[1], 0);
    cr_assert_eq(r->finish_ns[1], NS(0.1), "refused when it reached the group");
    cr_assert_eq(r->start_ns[1], MX_NS_NEVER);
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, accepted_exactly_at_its_deadline)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.25}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(1, (double[]){1.0}, (int32_t[]){0}, (double[]){0.25}, 1);
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_results *r = run_both(&c, db, p, t, options(NULL));
    cr_assert_eq(r->status[0], SIM_GOOD, "finish == deadline is within the SLO");
    cr_assert_eq(r->finish_ns[0], NS(1.25));
    sim_results_free(r);

    /* Any admission margin now refuses it. */
    c.overheads.term[SPEC_OH_FIXED].mean_s = 1e-9;
    r = run_both(&c, db, p, t, options(NULL));
    cr_assert_eq(r->status[0], SIM_REJECTED);
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, ties_go_to_the_first_replica_in_plan_order)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_group(p, 1, 1, 1, 1, (uint32_t[]){0});
    /* Three requests at the same instant, in trace order. */
    struct wl_trace *t =
        fx_trace(3, (double[]){1, 1, 1}, (int32_t[]){0, 0, 0}, (double[]){1, 1, 1}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    for (const struct sim_dispatch_policy *const *pol = sim_dispatch_policies; *pol; pol++) {
        struct sim_results *r = run_both(&c, db, p, t, options(*pol));
        cr_assert_eq(r->group[0], 0, "%s: idle groups tie: the first wins", (*pol)->name);
        cr_assert_eq(r->group[1], 1, "%s: the second goes to the other group", (*pol)->name);
        cr_assert_eq(r->group[2], 0, "%s: both busy alike again: the first wins", (*pol)->name);
        cr_assert_eq(r->finish_ns[2], NS(1.2));
        sim_results_free(r);
    }
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

/* Group 0 is fast (0.1 s) and has two requests in flight; group 1 is slow (1.0 s) with one. A
 * request that both can serve separates the policies. */
struct policy_case {
    struct spec_profile *db;
    struct spec_plan *p;
    struct wl_trace *t;
    struct spec_cluster c;
};

static struct policy_case policy_case(double slo_of_last)
{
    struct policy_case pc;
    pc.db = spec_profile_new("test");
    fx_profile_add(pc.db, "fast", 1, 1, (double[]){0.1}, 1);
    fx_profile_add(pc.db, "slow", 1, 1, (double[]){1.0}, 1);
    /* m0 runs on group 0 only, m1 (slow) on group 1 only, m2 (fast) on both. */
    static const char *const bases[3] = {"fast", "slow", "fast"};
    pc.p = fx_plan_new(3, bases);
    fx_plan_add_group(pc.p, 1, 1, 0, 2, (uint32_t[]){0, 2});
    fx_plan_add_group(pc.p, 1, 1, 1, 2, (uint32_t[]){1, 2});
    pc.t = fx_trace(4, (double[]){0, 0, 0, 0.05}, (int32_t[]){0, 0, 1, 2},
                    (double[]){10, 10, 10, slo_of_last}, 3);
    pc.c = fx_cluster(2, 2);
    return pc;
}

static void policy_case_free(struct policy_case *pc)
{
    wl_trace_free(pc->t);
    spec_plan_free(pc->p);
    spec_profile_free(pc->db);
}

Test(cases, each_dispatch_policy)
{
    struct policy_case pc = policy_case(10);
    struct sim_results *r;
    /* least-outstanding: group 0 has 2 in flight, group 1 has 1: group 1. */
    r = run_both(&pc.c, pc.db, pc.p, pc.t, options(&sim_dispatch_least_outstanding));
    cr_assert_eq(r->group[3], 1);
    cr_assert_eq(r->finish_ns[3], NS(1.0 + 0.1), "m2 is priced by its own base on every group");
    sim_results_free(r);
    /* earliest-free: group 0 frees at 0.2, group 1 at 1.0: group 0. */
    r = run_both(&pc.c, pc.db, pc.p, pc.t, options(&sim_dispatch_earliest_free));
    cr_assert_eq(r->group[3], 0);
    cr_assert_eq(r->finish_ns[3], NS(0.3));
    sim_results_free(r);
    /* best-finish: group 0 finishes at 0.3, group 1 at 1.1: group 0. */
    r = run_both(&pc.c, pc.db, pc.p, pc.t, options(&sim_dispatch_best_finish));
    cr_assert_eq(r->group[3], 0);
    cr_assert_eq(r->status[3], SIM_GOOD);
    sim_results_free(r);
    policy_case_free(&pc);

    /* With an SLO of 0.2 s nobody can serve the last request in time. */
    pc = policy_case(0.2);
    r = run_both(&pc.c, pc.db, pc.p, pc.t, options(&sim_dispatch_best_finish));
    cr_assert_eq(r->status[3], SIM_REJECTED);
    cr_assert_eq(r->group[3], -1, "best-finish refuses at the controller");
    sim_results_free(r);
    r = run_both(&pc.c, pc.db, pc.p, pc.t, options(&sim_dispatch_earliest_free));
    cr_assert_eq(r->status[3], SIM_REJECTED);
    cr_assert_eq(r->group[3], 0, "earliest-free sends it, the group refuses it");
    sim_results_free(r);
    policy_case_free(&pc);
}

Test(cases, a_model_without_replica_rejects_everything)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 1);
    struct spec_plan *p = fx_plan_new(2, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(2, (double[]){0, 1}, (int32_t[]){1, 0}, (double[]){1, 1}, 2);
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_results *r = run_both(&c, db, p, t, options(NULL));
    cr_assert_eq(r->status[0], SIM_NO_REPLICA);
    cr_assert_eq(r->group[0], -1);
    cr_assert_eq(r->status[1], SIM_GOOD);
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, constant_overheads_in_order)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 2, (double[]){0.1, 0.1}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(2, (double[]){0, 0}, (int32_t[]){0, 0}, (double[]){1, 0.3}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    double values[SPEC_OH_COUNT] = {0.01, 0.02, 0.03, 0.05, 0.04};
    for (int k = 0; k < SPEC_OH_COUNT; k++)
        c.overheads.term[k].mean_s = values[k];
    c.overheads.stage_factor = 2;
    c.overheads.stage_factor_per_pp = 0.25; /* latencies x 2 x (1 + 0.25 * 2) = x3: 0.3 s */
    struct sim_results *r = run_both(&c, db, p, t, options(NULL));
    /* client 0.01 -> decided; dispatch 0.02 -> at the group 0.03; exec 0.03 -> stage 0 at 0.06;
     * stages 0.3 each -> 0.66; reply 0.04 -> 0.70. */
    cr_assert_eq(r->status[0], SIM_GOOD);
    cr_assert_eq(r->start_ns[0], NS(0.06));
    cr_assert_eq(r->finish_ns[0], NS(0.70));
    cr_assert_eq(r->exec_ns[0], NS(0.6));
    /* The second would finish its last stage at 0.96 and 0.96 + fixed > 0.3: refused at 0.03. */
    cr_assert_eq(r->status[1], SIM_REJECTED);
    cr_assert_eq(r->finish_ns[1], NS(0.03));
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, alpaserve_fast_preset)
{
    struct spec_overheads o;
    cr_assert(spec_overheads_preset("alpaserve-fast", &o));
    cr_assert_float_eq(o.term[SPEC_OH_FIXED].mean_s, 0.011, 1e-15);
    cr_assert_float_eq(o.term[SPEC_OH_REPLY].mean_s, 0.011, 1e-15);
    cr_assert_float_eq(o.stage_factor_per_pp, 0.009, 1e-15);
    cr_assert(spec_overheads_constant(&o));
    cr_assert(spec_overheads_preset("alpaserve", &o));
    cr_assert_float_eq(o.term[SPEC_OH_CLIENT].mean_s, 0.0025, 1e-15);
    cr_assert_float_eq(o.term[SPEC_OH_EXEC].sd_s, 0.0005, 1e-15);
    cr_assert_float_eq(o.term[SPEC_OH_FIXED].mean_s, 0.004, 1e-15);
    cr_assert_not(spec_overheads_constant(&o));
    cr_assert_not(spec_overheads_preset("alpaserve-slow", &o));
}

Test(cases, batching_groups_same_model_requests_and_drops_hopeless_ones)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add_batches(db, "a", 1, 1, 3, (int32_t[]){1, 2, 4}, (double[]){0.1, 0.15, 0.25}, 1);
    struct spec_plan *p = fx_plan_new(2, base_a);
    fx_plan_add_group(p, 1, 1, 0, 2, (uint32_t[]){0, 1});
    /* a (m0) runs alone at 0; b, c, d, e (m0) wait and run as one batch of 4 at 0.1; f (m1) waits
     * among them, is skipped by the batch, and at 0.35 can no longer make 0.225 even alone. */
    struct wl_trace *t =
        fx_trace(6, (double[]){0, 0.01, 0.02, 0.025, 0.03, 0.04}, (int32_t[]){0, 0, 0, 1, 0, 0},
                 (double[]){1, 1, 1, 0.2, 1, 0.2}, 2);
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_options o = options(NULL);
    o.max_batch = 8;
    struct sim_results *r = run_both(&c, db, p, t, o);
    cr_assert_eq(r->batch[0], 1);
    cr_assert_eq(r->finish_ns[0], NS(0.1));
    size_t members[4] = {1, 2, 4, 5};
    for (int k = 0; k < 4; k++) {
        size_t i = members[k];
        cr_assert_eq(r->batch[i], 4, "request %zu batched", i);
        cr_assert_eq(r->start_ns[i], NS(0.1));
        cr_assert_eq(r->finish_ns[i], NS(0.35));
    }
    cr_assert_eq(r->status[1], SIM_GOOD);
    cr_assert_eq(r->status[5], SIM_LATE,
                 "a batch member is late: only the oldest's deadline counts");
    cr_assert_eq(r->status[3], SIM_DROPPED);
    cr_assert_eq(r->finish_ns[3], NS(0.35));
    cr_assert_eq(r->busy_ns[0], NS(0.1 + 0.25));
    sim_results_free(r);

    /* With batches of at most 2: b and c run together until 0.25; then f is dropped, and so is e,
     * which can no longer make 0.24 even alone; d runs alone until 0.35. */
    o.max_batch = 2;
    r = run_both(&c, db, p, t, o);
    cr_assert_eq(r->batch[1], 2);
    cr_assert_eq(r->finish_ns[2], NS(0.25));
    cr_assert_eq(r->status[3], SIM_DROPPED);
    cr_assert_eq(r->status[5], SIM_DROPPED, "a hopeless request is dropped, not batched");
    cr_assert_eq(r->finish_ns[5], NS(0.25));
    cr_assert_eq(r->batch[4], 1);
    cr_assert_eq(r->finish_ns[4], NS(0.35));
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, warmup_trims_both_ends)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.01}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    double arrival[11], slo[11];
    int32_t model[11] = {0};
    for (int i = 0; i <= 10; i++) {
        arrival[i] = i;
        slo[i] = i < 5 ? 0.001 : 1; /* the first five miss */
    }
    struct wl_trace *t = fx_trace(11, arrival, model, slo, 1);
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_options o = options(NULL);
    struct sim_world *w;
    struct sim_results *r = fx_run(&c, db, p, t, &o, &w);
    struct sim_summary s;
    cr_assert_eq(sim_summarize(w, r, 2, &s), MX_OK);
    cr_assert_eq(s.requests, 7, "arrivals 2 .. 8 are kept");
    cr_assert_eq(s.count[SIM_GOOD], 4);
    cr_assert_eq(s.count[SIM_REJECTED], 3);
    cr_assert_float_eq(s.attainment, 4.0 / 7.0, 1e-12);
    cr_assert_float_eq(s.models[0].rate, 7.0 / 6.0, 1e-12);
    sim_summary_release(&s);
    cr_assert_eq(sim_summarize(w, r, 0, &s), MX_OK);
    cr_assert_eq(s.requests, 11);
    sim_summary_release(&s);
    cr_assert_eq(sim_summarize(w, r, 6, &s), MX_EUSAGE);
    cr_assert(strstr(mx_error_message(), "leaves no request"), "%s", mx_error_message());
    sim_results_free(r);
    sim_world_free(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, schedule_segments_start_empty)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){1.0}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_segment(p, 5);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    /* 4.5 runs in segment 0 until 5.5; 5.0 belongs to segment 1, whose group starts idle. */
    struct wl_trace *t =
        fx_trace(3, (double[]){0.5, 4.5, 5.0}, (int32_t[]){0, 0, 0}, (double[]){2, 2, 2}, 1);
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_results *r = run_both(&c, db, p, t, options(NULL));
    cr_assert_eq(r->group[1], 0);
    cr_assert_eq(r->group[2], 1, "the second segment's group has global index 1");
    cr_assert_eq(r->start_ns[2], NS(5.0));
    cr_assert_eq(r->finish_ns[2], NS(6.0));
    sim_results_free(r);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, a_loading_group_serves_nothing_until_loaded)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 2, (double[]){0.5, 0.5}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    fx_plan_add_segment(p, 10);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    p->segments[1].groups[0].load_s = 2;
    /* Segment 1's group loads over [10, 12): 10.5 waits for it (12 + 1 = 13 <= 10.5 + 3) and 11
     * queues behind it (13.5 <= 14); 11.2 would finish at 14 > 11.2 + 2.5: refused. */
    struct wl_trace *t = fx_trace(4, (double[]){9, 10.5, 11, 11.2}, (int32_t[]){0, 0, 0, 0},
                                  (double[]){2, 3, 3, 2.5}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    for (int k = 0; k < 2; k++) {
        struct sim_options o = options(NULL);
        o.max_batch = k == 0 ? 1 : 4; /* the batching event loop waits for the load too */
        struct sim_results *r = run_both(&c, db, p, t, o);
        cr_assert_eq(r->start_ns[0], NS(9), "segment 0's group has no load time");
        cr_assert_eq(r->start_ns[1], NS(12));
        cr_assert_eq(r->finish_ns[1], NS(13));
        cr_assert_eq(r->status[2], SIM_GOOD);
        cr_assert_eq(r->finish_ns[2], NS(13.5), "max_batch %u", o.max_batch);
        if (k == 0)
            cr_assert_eq(r->status[3], SIM_REJECTED);
        sim_results_free(r);
    }
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, fast_engine_refuses_what_it_does_not_cover)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    struct spec_cluster c = fx_cluster(1, 1);
    spec_overheads_preset("alpaserve", &c.overheads);
    struct sim_world *w;
    cr_assert_eq(sim_world_new(&c, "c", db, "db", p, t, &w), MX_OK);
    struct sim_options o = options(NULL);
    o.engine = SIM_ENGINE_FAST;
    struct sim_results *r = NULL;
    cr_assert_eq(sim_run(w, &o, &r), MX_EUSAGE);
    cr_assert(strstr(mx_error_message(), "--engine event"));
    o.engine = SIM_ENGINE_AUTO;
    cr_assert_eq(sim_run(w, &o, &r), MX_OK);
    cr_assert_str_eq(r->engine, "event");
    sim_results_free(r);
    sim_world_free(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, stage_latencies_are_bounded_after_the_stage_factor)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 2, (double[]){6e4, 1}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    struct spec_cluster c = fx_cluster(2, 2);
    struct sim_world *w = NULL;
    cr_assert_eq(sim_world_new(&c, "c", db, "db.h5", p, t, &w), MX_OK, "6e4 s is allowed");
    sim_world_free(w);
    w = NULL;
    c.overheads.stage_factor = 2;
    cr_assert_eq(sim_world_new(&c, "c", db, "db.h5", p, t, &w), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "profile db.h5: a (1, 1, 2): a stage latency of 60000 s "
                                         "times the cluster's stage factor 2 exceeds 100000 s"),
              "%s", mx_error_message());
    cr_assert_null(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cases, an_encoder_request_needs_an_slo)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){1}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(2, (double[]){0, 1}, (int32_t[]){0, 0}, (double[]){1, 1}, 1);
    t->slo_s[1] = INFINITY;
    struct spec_cluster c = fx_cluster(1, 1);
    struct sim_world *w = NULL;
    fx_expect_error(sim_world_new(&c, "c", db, "db.h5", p, t, &w), MX_EINPUT,
                    "trace: /slo_s[1]: the request of model \"m0\" has no SLO");
    cr_assert_null(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}
