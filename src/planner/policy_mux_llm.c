/* mux-llm: our own placement of decoders (docs/planner.md), free in how it searches.
 *
 * AlpaServe's search fills every group layout greedily on the whole training workload. For
 * decoders most layouts lose for a reason known before any simulation: a group too small to hold
 * the largest model alone leaves that model fewer places, and larger groups only add pipeline or
 * all-reduce time to every token. So this policy
 *   1. keeps the layouts of uniform groups of the smallest size S in which every model fits alone
 *      (and 2 S), each as one config, tensor parallelism first (op up to the node);
 *   2. fills each with AlpaServe's greedy (one simulation per added replica) on a sample of the
 *      training workload (its first quarter, at least 600 s of it), keeping the best placement
 *      met along the fill rather than the last: with decoders a replica that shares a group can
 *      cost its neighbours more than it serves (their tokens wait for its iterations);
 *   3. does the same from the `dedicated` placement (each model alone in replicas of its
 *      smallest config; on a cluster too small for every model, the only start), then scores
 *      every candidate on the whole workload and keeps the best;
 *   4. chooses the groups' batch budget (max_batch_tokens 1024, 2048 or 4096) by simulating the
 *      chosen plan with each on the whole workload.
 * Candidates are scored by the iteration-level simulator, so its predicted attainment is the
 * simulator's (the last evaluation is on the whole workload). */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

/* The share of the training workload the fills simulate: its first quarter, at least this long. */
#define SAMPLE_SHARE 0.25
#define SAMPLE_MIN_S 600.0

/* The smallest group size (a power of two) in which every model fits alone in some config; 0 when
 * no group of the cluster's devices holds every model. */
static uint32_t smallest_size(const struct pl_context *c, uint32_t devices)
{
    int64_t budget = c->pb->cluster->mem_budget_bytes;
    for (uint32_t size = 1; size <= devices; size *= 2) {
        bool all = true;
        for (uint32_t m = 0; m < c->n_models && all; m++) {
            bool fits = false;
            uint32_t per_node = c->pb->cluster->devices_per_node;
            for (int32_t op = 1; op <= (int32_t)size && (uint32_t)op <= per_node && !fits;
                 op *= 2) {
                int64_t w = pl_weight(c, m, op, (int32_t)size / op);
                fits = w >= 0 && w <= budget;
            }
            all = fits;
        }
        if (all)
            return size;
    }
    return 0;
}

/* The layout of uniform groups of size devices, tensor parallelism first. */
static void uniform_layout(const struct pl_context *c, uint32_t devices, uint32_t size,
                           struct spec_placement *out)
{
    uint32_t per_node = c->pb->cluster->devices_per_node;
    int32_t op = (int32_t)(size < per_node ? size : per_node);
    uint32_t n = devices / size;
    out->n_groups = n;
    out->groups = MX_NEW_ARRAY(struct spec_group, n ? n : 1);
    for (uint32_t g = 0; g < n; g++)
        out->groups[g] =
            (struct spec_group){.first_device = g * size, .op = op, .pp = (int32_t)size / op};
}

/* The first share of t the fills simulate. */
static struct wl_trace *sample(const struct wl_trace *t)
{
    double span = fmax(t->duration_s * SAMPLE_SHARE, SAMPLE_MIN_S);
    int32_t *identity = MX_NEW_ARRAY(int32_t, t->n_models ? t->n_models : 1);
    for (uint32_t m = 0; m < t->n_models; m++)
        identity[m] = (int32_t)m;
    struct wl_trace *s = wl_trace_select(t, t->start_s, t->start_s + span, identity, t->n_models,
                                         (const char *const *)t->model_names);
    free(identity);
    return s;
}

/* Step 4: the batch budget, by simulating plan with each on the whole workload. */
static int choose_batch_budget(const struct plan_problem *pb, struct spec_plan *plan,
                               struct plan_outcome *outcome)
{
    static const uint32_t budgets[] = {1024, 2048, 4096};
    struct spec_plan_segment *s = &plan->segments[0];
    uint32_t best = SPEC_DEFAULT_MAX_BATCH_TOKENS;
    double best_attainment = -1;
    int rc = MX_OK;
    for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]) && rc == MX_OK; k++) {
        for (uint32_t g = 0; g < s->n_groups; g++)
            s->groups[g].scheduler.max_batch_tokens = budgets[k];
        struct plan_test test;
        rc = plan_score(pb, plan, pb->train, 0, &test);
        if (rc < 0 && budgets[k] != SPEC_DEFAULT_MAX_BATCH_TOKENS) {
            rc = MX_OK; /* its activations leave some group no KV cache: not a choice */
            continue;
        }
        if (rc == MX_OK && test.attainment > best_attainment) {
            best_attainment = test.attainment;
            best = budgets[k];
            outcome->attainment = test.attainment;
        }
        plan_test_release(&test);
        outcome->evaluations++;
    }
    for (uint32_t g = 0; g < s->n_groups; g++)
        s->groups[g].scheduler.max_batch_tokens = best;
    return rc;
}

/* The layouts to fill: uniform groups of size and 2 size, each where the profile has their
 * config for every model. */
static uint32_t layouts(const struct pl_context *c, uint32_t devices, uint32_t size,
                        struct spec_placement *out)
{
    uint32_t n = 0, per_node = c->pb->cluster->devices_per_node;
    for (uint32_t s = size; s > 0 && s <= 2 * size && s <= devices; s *= 2) {
        uint32_t op = s < per_node ? s : per_node;
        bool profiled = true;
        for (uint32_t m = 0; m < c->n_models && profiled; m++)
            profiled = pl_weight(c, m, (int32_t)op, (int32_t)(s / op)) >= 0;
        if (profiled)
            uniform_layout(c, devices, s, &out[n++]);
    }
    return n;
}

/* The fills: one greedy step of candidate `item` per call, on the sample, remembering the best
 * placement met. */
struct fills {
    const struct pl_context *c;
    struct spec_placement *p, *best;
    struct pl_score *scores;
    uint32_t *evaluations;
};

static bool fill_step(uint32_t item, struct sim_eval_state *s, void *arg)
{
    struct fills *f = arg;
    struct spec_placement before;
    spec_placement_copy(&before, &f->p[item]);
    struct pl_score score;
    bool more = pl_greedy_step(f->c, s, &f->p[item], &score, &f->evaluations[item]);
    if (f->best[item].n_groups == 0 || pl_score_compare(&score, &f->scores[item]) > 0) {
        spec_placement_release(&f->best[item]);
        f->best[item] = before;
        f->scores[item] = score;
    } else {
        spec_placement_release(&before);
    }
    return more;
}

static double fill_progress(uint32_t item, void *arg)
{
    struct fills *f = arg;
    return pl_fill_progress(f->c, &f->p[item]);
}

/* Steps 1 to 3: the best layout filled on the sample, by its score on the whole workload. */
static int search(const struct plan_problem *pb, const struct pl_context *fill,
                  const struct pl_context *whole, struct sim_eval_state *ws,
                  struct spec_placement *best, uint32_t *evaluations)
{
    /* size 0: no group of the cluster holds every model; the dedicated placement (which leaves
     * out what does not fit) is then the only start. */
    uint32_t devices = pb->cluster->devices, size = smallest_size(whole, devices);
    /* Two uniform layouts at most, and the dedicated placement. */
    struct spec_placement p[3], found[3] = {{0}};
    struct pl_score scores[3];
    uint32_t counts[3] = {0, 0, 0}, n = layouts(whole, devices, size, p);
    int rc = pl_llm_dedicated(whole, &p[n]);
    if (rc < 0) {
        for (uint32_t k = 0; k < n; k++)
            spec_placement_release(&p[k]);
        return rc;
    }
    n++;
    struct fills f = {fill, p, found, scores, counts};
    pl_parallel_steps(n, pb->threads, fill->eval, fill_step, fill_progress, &f, &pb->progress);
    uint32_t chosen = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct sim_eval_result r;
        scores[k] = pl_evaluate(ws, &found[k], &r);
        *evaluations += counts[k] + 1;
        if (pl_score_compare(&scores[k], &scores[chosen]) > 0)
            chosen = k;
        spec_placement_release(&p[k]);
    }
    for (uint32_t k = 0; k < n; k++)
        if (k != chosen)
            spec_placement_release(&found[k]);
    *best = found[chosen];
    return MX_OK;
}

static int solve_mux_llm(const struct plan_policy *self, const struct plan_problem *pb,
                         const struct plan_params *pa, struct spec_plan **out,
                         struct plan_outcome *outcome)
{
    struct wl_trace *part = sample(pb->train);
    struct pl_context fill, whole;
    int rc = pl_context_init(&fill, pb, part);
    if (rc == MX_OK && (rc = pl_context_init(&whole, pb, pb->train)) < 0)
        pl_context_release(&fill);
    if (rc < 0) {
        wl_trace_free(part);
        return rc;
    }
    struct sim_eval_state *ws = sim_eval_state_new(whole.eval);
    struct spec_placement best = {0};
    uint32_t evaluations = 0;
    if ((rc = search(pb, &fill, &whole, ws, &best, &evaluations)) == MX_OK &&
        (rc = pl_finish(&whole, ws, &best, evaluations, out, outcome)) == MX_OK &&
        (rc = choose_batch_budget(pb, *out, outcome)) == MX_OK)
        pl_record(*out, self, self->name, pb, pa, outcome);
    spec_placement_release(&best);
    sim_eval_state_free(ws);
    pl_context_release(&fill);
    pl_context_release(&whole);
    wl_trace_free(part);
    return rc;
}

const struct plan_policy plan_policy_mux_llm = {
    .name = "mux-llm",
    .summary = "decoders: uniform groups where every model fits, greedy fill on a sample, the "
               "batch budget chosen (ours)",
    .decoders = PLAN_DECODERS_ONLY,
    .solve = solve_mux_llm};
