/* The simulator's controller run online (the runtime's): decisions as the simulator makes them,
 * and clocks and latencies corrected by measured stage finishes. */
#include "fixture.h"
#include "mx_error.h"
#include "sim_control.h"
#include "sim_dispatch.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#define MS(x) ((mx_ns)llround((x)*1e6))

static const char *const base_a[2] = {"a", "a"};

struct control_case {
    struct spec_profile *db;
    struct spec_plan *plan;
    struct wl_trace *trace;
    struct sim_world *world;
    struct sim_control *control;
};

/* One group (1, 1, 2) with 10 ms stages hosting one model; n requests at 0 with SLO slo_s. */
static void setup(struct control_case *c, size_t n, double slo_s)
{
    double arrival[8] = {0}, slo[8];
    int32_t model[8] = {0};
    for (size_t i = 0; i < n; i++)
        slo[i] = slo_s;
    struct spec_cluster cluster = fx_cluster(2, 2);
    c->db = spec_profile_new("test");
    fx_profile_add(c->db, "a", 1, 2, (double[]){0.010, 0.010}, 1);
    c->plan = fx_plan_new(1, base_a);
    fx_plan_add_group(c->plan, 1, 2, 0, 1, (uint32_t[]){0});
    c->trace = fx_trace(n, arrival, model, slo, 1);
    cr_assert_eq(sim_world_new(&cluster, "c", c->db, "db", c->plan, c->trace, &c->world), MX_OK);
    cr_assert_eq(sim_control_new(c->world, &sim_dispatch_least_outstanding, &c->control), MX_OK);
}

static void teardown(struct control_case *c)
{
    sim_control_free(c->control);
    sim_world_free(c->world);
    wl_trace_free(c->trace);
    spec_plan_free(c->plan);
    spec_profile_free(c->db);
}

Test(control, measured_finishes_move_the_clocks_and_the_latencies)
{
    struct control_case c;
    struct sim_decision d;
    setup(&c, 3, 1.0);
    sim_control_decide(c.control, 0, 0, &d);
    cr_assert(d.admitted);
    cr_assert_eq(d.predicted_ns[0], MS(10));
    cr_assert_eq(d.predicted_ns[1], MS(20));
    sim_control_decide(c.control, 1, 0, &d);
    cr_assert_eq(d.predicted_ns[0], MS(20));
    cr_assert_eq(d.predicted_ns[1], MS(30));

    /* Request 0 ran stage 0 in 12 ms: request 1, queued behind it, now ends stage 0 at 22 ms;
     * stage 0 learns a ratio of 1 + 0.1 (1.2 - 1) = 1.02. */
    sim_control_stage_done(c.control, 0, 0, 0, MS(12), MS(12), MS(10));
    /* Request 1 then took 7 ms, ending at 19 ms: early finishes count too. Ratio
     * 1.02 + 0.1 (0.7 - 1.02) = 0.988. */
    sim_control_stage_done(c.control, 0, 0, 1, MS(19), MS(7), MS(10));
    sim_control_decide(c.control, 2, 0, &d);
    cr_assert(d.admitted);
    cr_assert_eq(d.latency_ns[0], MS(10), "the world's latency is reported unscaled");
    cr_assert_eq(d.predicted_ns[0], MS(19) + MS(9.88), "%lld", (long long)d.predicted_ns[0]);
    /* Stage 1 has measured nothing yet, but its requests reached it at 12 and 19 ms instead of the
     * predicted 10 and 20: request 0 leaves it at 22, request 1 at max(19, 22) + 10 = 32 ms. */
    cr_assert_eq(d.predicted_ns[1], MS(42), "%lld", (long long)d.predicted_ns[1]);
    teardown(&c);
}

Test(control, refuses_what_cannot_meet_its_deadline_and_forgets_failures)
{
    struct control_case c;
    struct sim_decision d;
    setup(&c, 3, 0.025);
    sim_control_decide(c.control, 0, 0, &d);
    cr_assert(d.admitted, "finishes at 20 ms, SLO 25 ms");
    sim_control_decide(c.control, 1, 0, &d);
    cr_assert_not(d.admitted, "would finish at 30 ms");
    cr_assert_eq(d.group, 0);
    /* Request 0 fails on stage 0: it leaves both stages, and the next is admitted as if it never
     * was (a stage with nothing pending is free). */
    sim_control_request_done(c.control, 0, 0, false);
    sim_control_decide(c.control, 2, 0, &d);
    cr_assert(d.admitted);
    cr_assert_eq(d.predicted_ns[1], MS(20));
    teardown(&c);
}

Test(control, only_static_plans)
{
    struct spec_cluster cluster = fx_cluster(2, 2);
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.010}, 1);
    struct spec_plan *p = fx_plan_new(1, base_a);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    fx_plan_add_segment(p, 5.0);
    fx_plan_add_group(p, 1, 1, 1, 1, (uint32_t[]){0});
    struct wl_trace *t = fx_trace(2, (double[]){0, 6}, (int32_t[]){0, 0}, (double[]){1, 1}, 1);
    struct sim_world *w;
    struct sim_control *control;
    cr_assert_eq(sim_world_new(&cluster, "c", db, "db", p, t, &w), MX_OK);
    cr_assert_eq(sim_control_new(w, NULL, &control), MX_EUSAGE);
    cr_assert(strstr(mx_error_message(), "changes over time"));
    sim_world_free(w);
    wl_trace_free(t);
    spec_plan_free(p);
    spec_profile_free(db);
}
