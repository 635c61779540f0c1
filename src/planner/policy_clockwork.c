/* clockwork++: the oracle AlpaServe compares against. Split the training workload into windows of
 * window_s seconds from its start and run sr on each window's own requests; the plan is a schedule
 * of one placement per window, each served from empty queues. Swaps between windows are charged
 * when the cluster gives its load bandwidth (or swap_cost insists): a device that must load models
 * it did not hold in the window before serves nothing for their weight bytes / that bandwidth (the
 * plan's load_s). free_swaps makes them free, as AlpaServe's oracle has them. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "spec_memory.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

struct window {
    struct spec_placement placement;
    bool solved; /* false: no requests, the previous window's placement stays */
    uint32_t evaluations;
    int rc;
};

struct windows {
    const struct plan_problem *pb;
    const struct plan_params *pa;
    double start_s, window_s;
    uint32_t n;
    struct window *w;
};

static void solve_window(uint32_t k, struct sim_eval_state *unused, void *arg)
{
    (void)unused;
    struct windows *ws = arg;
    const struct plan_problem *pb = ws->pb;
    const struct wl_trace *t = pb->train;
    struct window *win = &ws->w[k];
    int32_t *identity = MX_NEW_ARRAY(int32_t, t->n_models);
    for (uint32_t m = 0; m < t->n_models; m++)
        identity[m] = (int32_t)m;
    double from = k == 0 ? -INFINITY : ws->start_s + k * ws->window_s;
    double to = k + 1 == ws->n ? INFINITY : ws->start_s + (k + 1) * ws->window_s;
    struct wl_trace *sub =
        wl_trace_select(t, from, to, identity, t->n_models, (const char *const *)t->model_names);
    free(identity);
    if (sub->n > 0) {
        struct pl_context c;
        win->rc = pl_context_init(&c, pb, sub);
        if (win->rc == MX_OK) {
            struct sim_eval_state *s = sim_eval_state_new(c.eval);
            pl_solve_layout(&c, s, pb->cluster->devices, 1, 1, 1, false, ws->pa->beam,
                            &win->placement, &win->evaluations, NULL);
            win->solved = true;
            sim_eval_state_free(s);
            pl_context_release(&c);
        }
    }
    wl_trace_free(sub);
}

/* Move the one segment of single onto the end of p's schedule. */
static void append_segment(struct spec_plan *p, struct spec_plan *single, double start_s)
{
    p->segments = mx_realloc_array(p->segments, p->n_segments + 1, sizeof(*p->segments));
    p->segments[p->n_segments] = single->segments[0];
    p->segments[p->n_segments++].start_s = start_s;
    single->n_segments = 0;
    spec_plan_free(single);
}

/* on[d]: the group of segment s holding device d, or NULL (on has the cluster's devices). */
static void groups_on_devices(const struct spec_plan_segment *s, uint32_t devices,
                              const struct spec_plan_group **on)
{
    for (uint32_t d = 0; d < devices; d++)
        on[d] = NULL;
    for (uint32_t g = 0; g < s->n_groups; g++)
        for (uint32_t k = 0; k < s->groups[g].n_devices; k++)
            on[s->groups[g].devices[k]] = &s->groups[g];
}

static bool hosts(const struct spec_plan_group *g, uint32_t model)
{
    for (uint32_t j = 0; j < g->n_models; j++)
        if (g->models[j] == model)
            return true;
    return false;
}

/* Charge each group of every window after the first the time its devices take to load the models
 * they did not hold in the window before (a device holds the same part of a model when it has the
 * same place in a group of the same config). The first window's placement is taken as loaded before
 * the trace starts. A load over SPEC_PLAN_MAX_LOAD_S is MX_EINPUT. */
static int charge_swaps(const struct plan_problem *pb, struct spec_plan *plan)
{
    const struct spec_plan_group **on =
        MX_NEW_ARRAY(const struct spec_plan_group *, pb->cluster->devices);
    int rc = MX_OK;
    for (uint32_t s = 1; s < plan->n_segments && rc == MX_OK; s++) {
        groups_on_devices(&plan->segments[s - 1], pb->cluster->devices, on);
        for (uint32_t g = 0; g < plan->segments[s].n_groups && rc == MX_OK; g++) {
            struct spec_plan_group *grp = &plan->segments[s].groups[g];
            double slowest = 0;
            for (uint32_t k = 0; k < grp->n_devices; k++) {
                const struct spec_plan_group *before = on[grp->devices[k]];
                bool same_part = before && before->op == grp->op && before->pp == grp->pp &&
                                 before->devices[k] == grp->devices[k];
                double bytes = 0;
                for (uint32_t j = 0; j < grp->n_models; j++) {
                    if (same_part && hosts(before, grp->models[j]))
                        continue;
                    const struct spec_config *cfg = spec_profile_find(
                        pb->db, plan->models[grp->models[j]].base, 1, grp->op, grp->pp);
                    bytes += (double)spec_model_device_bytes(cfg, false);
                }
                if (bytes > slowest)
                    slowest = bytes;
            }
            grp->load_s = slowest / pb->cluster->load_bandwidth_bytes_per_s;
            if (grp->load_s > SPEC_PLAN_MAX_LOAD_S)
                rc = mx_error(MX_EINPUT,
                              "clockwork++ --swap-cost: loading %.0f bytes at %g bytes/s (cluster "
                              "%s) takes %.0f s, over the %g s a plan may state",
                              slowest, pb->cluster->load_bandwidth_bytes_per_s, pb->cluster_path,
                              grp->load_s, SPEC_PLAN_MAX_LOAD_S);
        }
    }
    free(on);
    return rc;
}

static int check_request(const struct plan_problem *pb, const struct plan_params *pa,
                         const struct wl_trace *t, double windows)
{
    if (!(pa->window_s > 0))
        return mx_error(MX_EUSAGE, "clockwork++: --window must be positive");
    if (windows > 1e6)
        return mx_error(MX_EUSAGE,
                        "clockwork++: --window %g s makes %.0f windows of %s; use "
                        "longer ones",
                        pa->window_s, windows, t->path ? t->path : "the training workload");
    if (pa->swap_cost && pa->free_swaps)
        return mx_error(MX_EUSAGE, "clockwork++: give one of --swap-cost and --free-swaps");
    if (pa->swap_cost && !(pb->cluster->load_bandwidth_bytes_per_s > 0))
        return mx_error(MX_EUSAGE,
                        "clockwork++: --swap-cost needs the cluster's load_bandwidth_bytes_per_s, "
                        "which %s does not give",
                        pb->cluster_path);
    return MX_OK;
}

static int solve_clockwork(const struct plan_policy *self, const struct plan_problem *pb,
                           const struct plan_params *pa, struct spec_plan **out,
                           struct plan_outcome *outcome)
{
    const struct wl_trace *t = pb->train;
    double windows = pa->window_s > 0 ? ceil(t->duration_s / pa->window_s) : 0;
    int rc = check_request(pb, pa, t, windows);
    if (rc < 0)
        return rc;
    struct pl_context c;
    if ((rc = pl_context_init(&c, pb, t)) < 0)
        return rc;
    struct spec_placement layout;
    pl_placement_layout(&layout, pb->cluster->devices, 1, 1, 1);
    if ((rc = pl_check_fits(&c, &layout, 1)) < 0) {
        spec_placement_release(&layout);
        pl_context_release(&c);
        return rc;
    }
    struct windows ws = {pb,  pa, t->start_s, pa->window_s, windows >= 1 ? (uint32_t)windows : 1,
                         NULL};
    ws.w = MX_NEW_ARRAY(struct window, ws.n);
    pl_parallel(ws.n, pb->threads, NULL, solve_window, &ws);

    struct spec_plan *plan = NULL;
    const struct spec_placement *current = &layout; /* empty until a window has requests */
    for (uint32_t k = 0; k < ws.n && rc == MX_OK; k++) {
        struct window *win = &ws.w[k];
        if ((rc = win->rc) < 0)
            break;
        if (win->solved)
            current = &win->placement;
        outcome->evaluations += win->evaluations;
        uint32_t replicas = spec_placement_replicas(current);
        if (replicas > outcome->replicas)
            outcome->replicas = replicas; /* the most any window holds */
        struct spec_plan *single = pl_to_plan(&c, current);
        if (!plan) {
            plan = single;
            plan->static_form = 0;
            plan->segments[0].start_s = t->start_s;
        } else {
            append_segment(plan, single, t->start_s + k * pa->window_s);
        }
    }
    for (uint32_t k = 0; k < ws.n; k++)
        if (ws.w[k].solved)
            spec_placement_release(&ws.w[k].placement);
    free(ws.w);
    spec_placement_release(&layout);
    pl_context_release(&c);
    const bool charged =
        pa->swap_cost || (!pa->free_swaps && pb->cluster->load_bandwidth_bytes_per_s > 0);
    if (rc == MX_OK && charged)
        rc = charge_swaps(pb, plan);
    if (rc == MX_OK)
        rc = pl_simulate(pb, plan, outcome);
    if (rc < 0) {
        spec_plan_free(plan);
        return rc;
    }
    outcome->evaluations++;
    outcome->groups = pb->cluster->devices;
    /* "unplaced" is per window in spirit; the plan's first window carried one, drop it. */
    json_object_del(plan->extra, "unplaced");
    pl_record(plan, self, self->name, pb, pa, outcome);
    mx_json_set(json_object_get(plan->extra, "predicted"), "swaps",
                json_string(charged ? "charged" : "free"));
    *out = plan;
    return MX_OK;
}

static const enum plan_param_id windowed[] = {PLAN_PARAM_WINDOW, PLAN_PARAM_SWAP_COST,
                                              PLAN_PARAM_FREE_SWAPS, PLAN_PARAM_BEAM};

const struct plan_policy plan_policy_clockwork = {
    .name = "clockwork++",
    .summary = "sr re-planned every --window seconds on that window's requests (an oracle)",
    .n_params = 4,
    .params = windowed,
    .solve = solve_clockwork};
