/* alpaserve (AlpaServe's Algorithm 2): for every group layout of pl_enumerate_configs(), fill the
 * groups greedily and keep the best score. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim.h"

#include <stdlib.h>

struct config_search {
    const struct pl_context *c;
    uint32_t n, beam;
    struct spec_placement
        *placements; /* [n] each config's layout, by group size, filled in place */
    struct pl_score *scores;
    uint32_t *evaluations;
};

/* Config k = n - 1 - item: threads start the configs largest groups first, as those take the
 * longest to fill (more models per group). A greedy fill goes one step at a time, so that the
 * threads can share the fills out as they go (pl_parallel_steps); a beam fill in one. */
static bool fill_config_step(uint32_t item, struct sim_eval_state *s, void *arg)
{
    struct config_search *cs = arg;
    uint32_t k = cs->n - 1 - item;
    if (cs->beam > 1) {
        cs->scores[k] = pl_fill(cs->c, s, &cs->placements[k], cs->beam, &cs->evaluations[k], NULL);
        return false;
    }
    return pl_greedy_step(cs->c, s, &cs->placements[k], &cs->scores[k], &cs->evaluations[k]);
}

static double fill_config_progress(uint32_t item, void *arg)
{
    struct config_search *cs = arg;
    return pl_fill_progress(cs->c, &cs->placements[cs->n - 1 - item]);
}

/* The good requests of placement p on the training workload with variable stage times (the
 * event engine, the problem's seed). */
static uint64_t variable_good(const struct pl_context *c, const struct spec_placement *p)
{
    const struct plan_problem *pb = c->pb;
    struct spec_plan *plan = pl_to_plan(c, p);
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    const struct sim_options o = {.engine = SIM_ENGINE_EVENT,
                                  .dispatch = pb->dispatch,
                                  .max_batch = 1,
                                  .seed = pb->seed,
                                  .threads = pb->threads,
                                  .variability = true};
    uint64_t good = 0;
    /* The placement was built for this cluster and profile: compiling it cannot fail. */
    if (sim_world_new(pb->cluster, pb->cluster_path, pb->db, pb->db_path, plan, pb->train, &w) !=
            MX_OK ||
        sim_run(w, &o, &r) != MX_OK)
        MX_BUG("a planned placement does not simulate: %s", mx_error_message());
    for (size_t i = 0; i < r->n; i++)
        good += r->status[i] == SIM_GOOD;
    sim_results_free(r);
    sim_world_free(w);
    spec_plan_free(plan);
    return good;
}

/* Of the n filled layouts, the one to keep: the best by score, or with variance finalists the
 * best of the top k by good requests with variable stage times (ties to the better score). */
static uint32_t choose_layout(const struct pl_context *c, const struct config_search *cs,
                              uint32_t best)
{
    uint32_t k = c->pb->variance_finalists < cs->n ? c->pb->variance_finalists : cs->n;
    if (k < 2 || !spec_cluster_varies(c->pb->cluster))
        return best;
    /* The top k by score, best first (a selection: k is small). */
    uint32_t *top = MX_NEW_ARRAY(uint32_t, k);
    bool *taken = MX_NEW_ARRAY(bool, cs->n);
    for (uint32_t j = 0; j < k; j++) {
        uint32_t pick = cs->n;
        for (uint32_t i = 0; i < cs->n; i++)
            if (!taken[i] &&
                (pick == cs->n || pl_score_compare(&cs->scores[i], &cs->scores[pick]) > 0))
                pick = i;
        taken[pick] = true;
        top[j] = pick;
    }
    uint32_t chosen = top[0];
    uint64_t most = variable_good(c, &cs->placements[top[0]]);
    for (uint32_t j = 1; j < k; j++) {
        uint64_t good = variable_good(c, &cs->placements[top[j]]);
        if (good > most) {
            most = good;
            chosen = top[j];
        }
    }
    free(taken);
    free(top);
    return chosen;
}

int pl_alpaserve_search(const struct pl_context *c, uint32_t devices, const struct plan_params *pa,
                        bool check_fits, struct spec_placement *best, uint32_t *evaluations,
                        const struct mx_progress_sink *progress)
{
    struct pl_config *configs = NULL;
    uint32_t n = pl_enumerate_configs(devices, c->pb->cluster->devices_per_node, pa->max_op,
                                      pa->max_pp, &configs);
    if (n == 0) /* one device or more has the layout (1, 1, 1) */
        MX_BUG("no group layout for %u devices", devices);
    struct config_search cs = {c,
                               n,
                               pa->beam,
                               MX_NEW_ARRAY(struct spec_placement, n),
                               MX_NEW_ARRAY(struct pl_score, n),
                               MX_NEW_ARRAY(uint32_t, n)};
    for (uint32_t k = 0; k < n; k++)
        pl_placement_layout(&cs.placements[k], devices, configs[k].group_size, configs[k].op,
                            configs[k].pp);
    free(configs);
    int rc = check_fits ? pl_check_fits(c, cs.placements, n) : MX_OK;
    uint32_t chosen = n; /* none, until the search has run */
    if (rc == MX_OK) {
        pl_parallel_steps(n, c->pb->threads, c->eval, fill_config_step, fill_config_progress, &cs,
                          progress);
        chosen = 0;
        for (uint32_t k = 0; k < n; k++) {
            *evaluations += cs.evaluations[k];
            if (pl_score_compare(&cs.scores[k], &cs.scores[chosen]) > 0)
                chosen = k;
        }
        if (check_fits) /* the search of the whole problem, not one of alpaserve-sep's parts */
            chosen = choose_layout(c, &cs, chosen);
        *best = cs.placements[chosen];
    }
    for (uint32_t k = 0; k < n; k++)
        if (k != chosen)
            spec_placement_release(&cs.placements[k]);
    free(cs.placements);
    free(cs.scores);
    free(cs.evaluations);
    return rc;
}

static int solve_alpaserve(const struct plan_policy *self, const struct plan_problem *pb,
                           const struct plan_params *pa, struct spec_plan **out,
                           struct plan_outcome *outcome)
{
    struct pl_context c;
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    struct spec_placement best;
    uint32_t evaluations = 0;
    if ((rc = pl_alpaserve_search(&c, pb->cluster->devices, pa, true, &best, &evaluations,
                                  &pb->progress)) == MX_OK) {
        struct sim_eval_state *s = sim_eval_state_new(c.eval);
        rc = pl_finish(&c, s, &best, evaluations, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, self, self->name, pb, pa, outcome);
        sim_eval_state_free(s);
        spec_placement_release(&best);
    }
    pl_context_release(&c);
    return rc;
}

/* alpaserve-sep reads the same. */
const enum plan_param_id pl_alpaserve_params[3] = {PLAN_PARAM_MAX_OP, PLAN_PARAM_MAX_PP,
                                                   PLAN_PARAM_BEAM};

const struct plan_policy plan_policy_alpaserve = {
    .name = "alpaserve",
    .decoders = PLAN_BOTH,
    .summary =
        "groups of 1, 2, 4, ... devices in every (op, pp), greedy fill, the best (AlpaServe)",
    .n_params = 3,
    .params = pl_alpaserve_params,
    .solve = solve_alpaserve};
