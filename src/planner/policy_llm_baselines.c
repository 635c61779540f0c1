/* The deployments people run today for several LLMs (docs/planner.md), as policies to compare
 * against: `dedicated`, every model alone in replicas of its smallest config, as many as its load
 * asks; and `spatial`, the GPUs split among the models by load, each model one group on its share
 * (MuxServe's spatial partitioning). Neither simulates to decide; the plan is scored once. A
 * cluster too small for one group of every model leaves the least loaded models unplaced.
 *
 * A model's load is its request rate on the training workload times the device-seconds a mean
 * request (mean prompt and output) takes alone on a config: the prefill of the prompt as one
 * iteration, then one decode step per further token at the mean context, over every stage, times
 * the config's devices. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per model: its requests' mean prompt and output, and its rate. */
struct demand {
    double rate, input, output;
};

static void measure_demand(const struct wl_trace *t, uint32_t n_models, struct demand *d)
{
    memset(d, 0, n_models * sizeof(*d));
    for (size_t i = 0; i < t->n; i++) {
        struct demand *m = &d[t->model[i]];
        m->rate++;
        m->input += t->input_tokens[i];
        m->output += t->output_tokens[i];
    }
    double span = t->duration_s > 0 ? t->duration_s : 1;
    for (uint32_t m = 0; m < n_models; m++) {
        if (d[m].rate > 0) {
            d[m].input /= d[m].rate;
            d[m].output /= d[m].rate;
        }
        d[m].rate /= span;
    }
}

/* Device-seconds per second model m needs on config cfg (see the file's comment). */
static double load(const struct spec_config *cfg, const struct demand *d)
{
    const struct spec_decoder_cost *c = &cfg->decoder;
    double seconds = 0, in = d->input > 1 ? d->input : 1, context = in + d->output / 2;
    for (int32_t s = 0; s < cfg->pp; s++) {
        double prefill = spec_decoder_dense_s(c, (uint32_t)s, in) +
                         c->prefill_pair_s[s] * in * (in + 1) / 2 + c->iteration_s[s];
        double decode = spec_decoder_dense_s(c, (uint32_t)s, 1) + c->decode_token_s[s] * context +
                        c->iteration_s[s];
        seconds += prefill + (d->output > 1 ? d->output - 1 : 0) * decode;
    }
    return d->rate * seconds * cfg->op * cfg->pp;
}

/* Model m's configs that fit alone, by devices (then op first: more tensor parallelism). */
static const struct spec_config *config_within(const struct pl_context *c, uint32_t m,
                                               uint32_t most_devices)
{
    const struct plan_problem *pb = c->pb;
    const struct spec_profile_model *pm =
        spec_profile_find_model(pb->db, pb->models->models[m].base);
    const struct spec_config *best = NULL;
    uint32_t per_node = pb->cluster->devices_per_node;
    for (uint32_t k = 0; k < pm->n_configs; k++) {
        const struct spec_config *cfg = &pm->configs[k];
        uint32_t size = (uint32_t)(cfg->op * cfg->pp);
        int64_t bytes = pl_weight(c, m, cfg->op, cfg->pp);
        if (bytes < 0 || bytes > pb->cluster->mem_budget_bytes || size > most_devices ||
            (uint32_t)cfg->op > per_node)
            continue;
        if (!best || size > (uint32_t)(best->op * best->pp) ||
            (size == (uint32_t)(best->op * best->pp) && cfg->op > best->op))
            best = cfg;
    }
    return best;
}

/* The smallest config of model m that fits alone (fewest devices, then op first). */
static const struct spec_config *smallest_config(const struct pl_context *c, uint32_t m)
{
    for (uint32_t size = 1; size <= c->pb->cluster->devices; size *= 2) {
        const struct spec_config *cfg = config_within(c, m, size);
        if (cfg)
            return cfg;
    }
    return NULL;
}

/* Lay out groups of the given configs (largest first, so that power-of-two groups stay aligned
 * to nodes) on consecutive devices, group k hosting model[k]. */
static void lay_out(const struct pl_context *c, uint32_t n, const uint32_t *model,
                    const struct spec_config *const *cfg, struct spec_placement *out)
{
    uint32_t *order = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    for (uint32_t k = 0; k < n; k++)
        order[k] = k;
    for (uint32_t k = 1; k < n; k++) /* stable insertion sort by size, descending */
        for (uint32_t j = k; j > 0 && cfg[order[j]]->op * cfg[order[j]]->pp >
                                          cfg[order[j - 1]]->op * cfg[order[j - 1]]->pp;
             j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    out->n_groups = n;
    out->groups = MX_NEW_ARRAY(struct spec_group, n ? n : 1);
    uint32_t device = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct spec_config *f = cfg[order[k]];
        struct spec_group *g = &out->groups[k];
        *g = (struct spec_group){.first_device = device, .op = f->op, .pp = f->pp};
        spec_group_add(g, model[order[k]], pl_weight(c, model[order[k]], f->op, f->pp));
        device += (uint32_t)(f->op * f->pp);
    }
    free(order);
    pl_placement_normalize(out);
}

/* Which models get devices: each needs one group of its smallest config that fits alone; the
 * most loaded first while the devices last. The others stay unplaced (smallest[m] NULL; the plan
 * lists them), as policies for encoders leave out the models they have no memory for, so that a
 * cluster too small for every model still gets a plan (capacity searches up from one device).
 * Sets work[m], the load on that config, and returns the devices used. */
static uint32_t admit(const struct pl_context *c, const struct demand *d,
                      const struct spec_config **smallest, double *work)
{
    uint32_t n = c->n_models, used = 0;
    uint32_t *order = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    for (uint32_t m = 0; m < n; m++) {
        smallest[m] = smallest_config(c, m);
        work[m] = smallest[m] ? load(smallest[m], &d[m]) : 0;
        order[m] = m;
    }
    for (uint32_t k = 1; k < n; k++) /* stable insertion sort by load, descending */
        for (uint32_t j = k; j > 0 && work[order[j]] > work[order[j - 1]]; j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t m = order[k];
        if (!smallest[m])
            continue;
        uint32_t size = (uint32_t)(smallest[m]->op * smallest[m]->pp);
        if (used + size <= c->pb->cluster->devices)
            used += size;
        else
            smallest[m] = NULL;
    }
    free(order);
    return used;
}

/* dedicated: one replica of each admitted model's smallest config, then further replicas to the
 * model with the most load per replica that still fits the devices left. */
static int place_dedicated(const struct pl_context *c, const struct demand *d,
                           struct spec_placement *out)
{
    uint32_t n = c->n_models, devices = c->pb->cluster->devices, groups = 0;
    const struct spec_config **smallest = MX_NEW_ARRAY(const struct spec_config *, n ? n : 1);
    uint32_t *replicas = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    double *work = MX_NEW_ARRAY(double, n ? n : 1);
    uint32_t used = admit(c, d, smallest, work);
    for (uint32_t m = 0; m < n; m++)
        replicas[m] = smallest[m] ? 1 : 0;
    for (bool added = true; added;) {
        added = false;
        uint32_t best = n;
        for (uint32_t m = 0; m < n; m++)
            if (smallest[m] && used + (uint32_t)(smallest[m]->op * smallest[m]->pp) <= devices &&
                (best == n || work[m] / replicas[m] > work[best] / replicas[best]))
                best = m;
        if (best < n) {
            replicas[best]++;
            used += (uint32_t)(smallest[best]->op * smallest[best]->pp);
            added = true;
        }
    }
    for (uint32_t m = 0; m < n; m++)
        groups += replicas[m];
    uint32_t *model = MX_NEW_ARRAY(uint32_t, groups ? groups : 1);
    const struct spec_config **cfg = MX_NEW_ARRAY(const struct spec_config *, groups ? groups : 1);
    for (uint32_t m = 0, k = 0; m < n; m++)
        for (uint32_t r = 0; r < replicas[m]; r++, k++) {
            model[k] = m;
            cfg[k] = smallest[m];
        }
    lay_out(c, groups, model, cfg, out);
    free(model);
    free(cfg);
    free(smallest);
    free(replicas);
    free(work);
    return MX_OK;
}

/* spatial: each admitted model's share of the devices by its load on its smallest config (at
 * least that config's devices), then the largest config within its share; devices left grow the
 * model whose next larger config they allow, most load per device first. */
static int place_spatial(const struct pl_context *c, const struct demand *d,
                         struct spec_placement *out)
{
    uint32_t n = c->n_models, devices = c->pb->cluster->devices;
    const struct spec_config **cfg = MX_NEW_ARRAY(const struct spec_config *, n ? n : 1);
    double *work = MX_NEW_ARRAY(double, n ? n : 1), total = 0;
    uint32_t used = admit(c, d, cfg, work), admitted = 0;
    for (uint32_t m = 0; m < n; m++)
        if (cfg[m]) {
            total += work[m];
            admitted++;
        }
    for (uint32_t m = 0; m < n; m++) {
        if (!cfg[m])
            continue;
        uint32_t size = (uint32_t)(cfg[m]->op * cfg[m]->pp);
        double share = total > 0 ? devices * work[m] / total : (double)devices / admitted;
        const struct spec_config *within = config_within(c, m, (uint32_t)share);
        uint32_t grown = within ? (uint32_t)(within->op * within->pp) : 0;
        if (within && grown > size && used - size + grown <= devices) {
            used += grown - size;
            cfg[m] = within;
        }
    }
    for (bool grew = true; grew;) {
        grew = false;
        uint32_t best = n;
        const struct spec_config *best_cfg = NULL;
        for (uint32_t m = 0; m < n; m++) {
            if (!cfg[m])
                continue;
            uint32_t size = (uint32_t)(cfg[m]->op * cfg[m]->pp);
            const struct spec_config *next = config_within(c, m, size + (devices - used));
            if (next && (uint32_t)(next->op * next->pp) > size &&
                (best == n || work[m] / size > work[best] / (cfg[best]->op * cfg[best]->pp))) {
                best = m;
                best_cfg = next;
            }
        }
        if (best < n) {
            used += (uint32_t)(best_cfg->op * best_cfg->pp - cfg[best]->op * cfg[best]->pp);
            cfg[best] = best_cfg;
            grew = true;
        }
    }
    uint32_t *model = MX_NEW_ARRAY(uint32_t, admitted ? admitted : 1);
    const struct spec_config **placed =
        MX_NEW_ARRAY(const struct spec_config *, admitted ? admitted : 1);
    for (uint32_t m = 0, k = 0; m < n; m++)
        if (cfg[m]) {
            model[k] = m;
            placed[k++] = cfg[m];
        }
    lay_out(c, admitted, model, placed, out);
    free(model);
    free(placed);
    free(cfg);
    free(work);
    return MX_OK;
}

int pl_llm_dedicated(const struct pl_context *c, struct spec_placement *out)
{
    struct demand *d = MX_NEW_ARRAY(struct demand, c->n_models ? c->n_models : 1);
    measure_demand(c->pb->train, c->n_models, d);
    int rc = place_dedicated(c, d, out);
    free(d);
    return rc;
}

static int solve_baseline(const struct plan_policy *self, const struct plan_problem *pb,
                          const struct plan_params *pa, struct spec_plan **out,
                          struct plan_outcome *outcome,
                          int (*place)(const struct pl_context *, const struct demand *,
                                       struct spec_placement *))
{
    struct pl_context c;
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    struct demand *d = MX_NEW_ARRAY(struct demand, c.n_models ? c.n_models : 1);
    struct spec_placement p = {0};
    measure_demand(pb->train, c.n_models, d);
    if ((rc = place(&c, d, &p)) == MX_OK) {
        struct sim_eval_state *s = sim_eval_state_new(c.eval);
        rc = pl_finish(&c, s, &p, 0, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, self, self->name, pb, pa, outcome);
        sim_eval_state_free(s);
    }
    spec_placement_release(&p);
    free(d);
    pl_context_release(&c);
    return rc;
}

static int solve_dedicated(const struct plan_policy *self, const struct plan_problem *pb,
                           const struct plan_params *pa, struct spec_plan **out,
                           struct plan_outcome *outcome)
{
    return solve_baseline(self, pb, pa, out, outcome, place_dedicated);
}

static int solve_spatial(const struct plan_policy *self, const struct plan_problem *pb,
                         const struct plan_params *pa, struct spec_plan **out,
                         struct plan_outcome *outcome)
{
    return solve_baseline(self, pb, pa, out, outcome, place_spatial);
}

const struct plan_policy plan_policy_dedicated = {
    .name = "dedicated",
    .summary = "decoders: each model alone in replicas of its smallest config, by load",
    .decoders = PLAN_DECODERS_ONLY,
    .solve = solve_dedicated};
const struct plan_policy plan_policy_spatial = {
    .name = "spatial",
    .summary = "decoders: devices split among the models by load, one group each (MuxServe's)",
    .decoders = PLAN_DECODERS_ONLY,
    .solve = solve_spatial};
