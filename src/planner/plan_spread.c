/* A placement without simulating: spread every model's work over the groups (mux's first
 * placement of a layout, docs/planner.md). */
#include "plan_int.h"

#include "mx_alloc.h"
#include "spec_models.h"
#include "spec_profile.h"

#include <stdlib.h>

/* What the fill keeps while it adds replicas. */
struct fill {
    const struct pl_context *c;
    struct spec_placement *p;
    int64_t budget;
    uint32_t n_configs;
    struct pl_weight *config; /* [n_configs] the groups' distinct (op, pp) (bytes unused) */
    uint32_t *config_of;      /* [n_groups] */
    double *stage_s;          /* [n_configs][n_models] slowest stage, seconds, or -1 */
    int64_t *weight;          /* [n_configs][n_models] bytes per device, or -1 */
    const double *requests;   /* [n_models] */
    uint32_t *replicas;       /* [n_models] */
    uint32_t **hosts;         /* [n_models][replicas] the groups holding each model */
    double *load;             /* [n_groups] seconds of work per replica, summed */
};

static double slowest_stage_s(const struct spec_config *cfg)
{
    double worst = 0;
    const double *l = spec_config_latency(cfg, 0);
    for (int32_t k = 0; k < cfg->pp; k++)
        if (l[k] > worst)
            worst = l[k];
    return worst;
}

static size_t at(const struct fill *f, uint32_t config, uint32_t m)
{
    return (size_t)config * f->c->n_models + m;
}

static void fill_init(struct fill *f, const struct pl_context *c, struct spec_placement *p,
                      const double *requests, int64_t budget)
{
    *f = (struct fill){.c = c, .p = p, .budget = budget, .requests = requests};
    const uint32_t n_groups = p->n_groups ? p->n_groups : 1, n = c->n_models;
    f->config = MX_NEW_ARRAY(struct pl_weight, n_groups);
    f->config_of = MX_NEW_ARRAY(uint32_t, n_groups);
    for (uint32_t g = 0; g < p->n_groups; g++) {
        uint32_t k = 0;
        while (k < f->n_configs &&
               (f->config[k].op != p->groups[g].op || f->config[k].pp != p->groups[g].pp))
            k++;
        if (k == f->n_configs)
            f->config[f->n_configs++] = (struct pl_weight){p->groups[g].op, p->groups[g].pp, 0};
        f->config_of[g] = k;
    }
    f->stage_s = MX_NEW_ARRAY(double, (size_t)f->n_configs *n + 1);
    f->weight = MX_NEW_ARRAY(int64_t, (size_t)f->n_configs * n + 1);
    for (uint32_t k = 0; k < f->n_configs; k++)
        for (uint32_t m = 0; m < n; m++) {
            const struct spec_config *cfg = spec_profile_find(
                c->pb->db, c->pb->models->models[m].base, 1, f->config[k].op, f->config[k].pp);
            f->stage_s[at(f, k, m)] = cfg ? slowest_stage_s(cfg) : -1;
            f->weight[at(f, k, m)] = cfg ? pl_weight(c, m, cfg->op, cfg->pp) : -1;
        }
    f->replicas = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    f->hosts = MX_NEW_ARRAY(uint32_t *, n ? n : 1);
    f->load = MX_NEW_ARRAY(double, n_groups);
    for (uint32_t g = 0; g < p->n_groups; g++)
        for (uint32_t j = 0; j < p->groups[g].n_models; j++) {
            uint32_t m = p->groups[g].models[j];
            f->hosts[m] = mx_realloc_array(f->hosts[m], f->replicas[m] + 1, sizeof(uint32_t));
            f->hosts[m][f->replicas[m]++] = g;
        }
    for (uint32_t m = 0; m < n; m++)
        for (uint32_t r = 0; r < f->replicas[m]; r++) {
            uint32_t g = f->hosts[m][r];
            f->load[g] += requests[m] / f->replicas[m] * f->stage_s[at(f, f->config_of[g], m)];
        }
}

static void fill_release(struct fill *f)
{
    for (uint32_t m = 0; m < f->c->n_models; m++)
        free(f->hosts[m]);
    free(f->hosts);
    free(f->config);
    free(f->config_of);
    free(f->stage_s);
    free(f->weight);
    free(f->replicas);
    free(f->load);
}

/* The least loaded group (the lower index at a tie) with room for m that does not hold it, or -1.
 */
static int64_t least_loaded(const struct fill *f, uint32_t m)
{
    int64_t best = -1;
    for (uint32_t g = 0; g < f->p->n_groups; g++) {
        const struct spec_group *grp = &f->p->groups[g];
        int64_t w = f->weight[at(f, f->config_of[g], m)];
        if (w < 0 || grp->mem_bytes + w > f->budget || (best >= 0 && f->load[g] >= f->load[best]))
            continue;
        if (!spec_group_has(grp, m))
            best = g;
    }
    return best;
}

static void fill_add(struct fill *f, uint32_t m, uint32_t g)
{
    const uint32_t r = f->replicas[m];
    const double share = r ? f->requests[m] / r - f->requests[m] / (r + 1) : 0;
    for (uint32_t k = 0; k < r; k++) {
        uint32_t h = f->hosts[m][k];
        f->load[h] -= share * f->stage_s[at(f, f->config_of[h], m)];
    }
    f->hosts[m] = mx_realloc_array(f->hosts[m], r + 1, sizeof(uint32_t));
    f->hosts[m][r] = g;
    f->replicas[m] = r + 1;
    f->load[g] += f->requests[m] / (r + 1) * f->stage_s[at(f, f->config_of[g], m)];
    spec_group_add(&f->p->groups[g], m, f->weight[at(f, f->config_of[g], m)]);
}

/* A model's work: its requests times its slowest stage in the first of the groups' configs that
 * has it (0 when none has); its weight there in *bytes (0 when none has). */
static double work_of(const struct fill *f, uint32_t m, int64_t *bytes)
{
    for (uint32_t k = 0; k < f->n_configs; k++)
        if (f->stage_s[at(f, k, m)] >= 0) {
            *bytes = f->weight[at(f, k, m)];
            return f->requests[m] * f->stage_s[at(f, k, m)];
        }
    *bytes = 0;
    return 0;
}

struct ranked {
    double key;
    uint32_t index;
};

static int by_key_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Most unserved requests first, for the rounds; no more rounds than this. */
#define MAX_ROUNDS 64

void pl_fill_spread(const struct pl_context *c, struct spec_placement *p, const double *requests,
                    int64_t budget, pl_unserved_fn unserved, void *arg)
{
    struct fill f;
    fill_init(&f, c, p, requests, budget);
    const uint32_t n = c->n_models;
    struct ranked *order = MX_NEW_ARRAY(struct ranked, n ? n : 1);
    double *work = MX_NEW_ARRAY(double, n ? n : 1), *missed = MX_NEW_ARRAY(double, n ? n : 1);
    bool *done = MX_NEW_ARRAY(bool, n ? n : 1);
    /* Every model once, the most requests per byte first: when memory cannot hold them all, those
     * that serve the most for their room. */
    for (uint32_t m = 0; m < n; m++) {
        int64_t bytes;
        work[m] = work_of(&f, m, &bytes);
        order[m] = (struct ranked){bytes > 0 ? requests[m] / (double)bytes : 0, m};
    }
    qsort(order, n, sizeof(*order), by_key_desc);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m = order[i].index;
        int64_t g = f.replicas[m] ? -1 : least_loaded(&f, m);
        if (g >= 0)
            fill_add(&f, m, (uint32_t)g);
    }
    /* Rounds, when asked for: one more replica to each model that missed requests, most first, up
     * to a replica per group a round. */
    for (uint32_t round = 0; unserved && round < MAX_ROUNDS; round++) {
        unserved(p, missed, arg);
        uint32_t k = 0;
        for (uint32_t m = 0; m < n; m++)
            if (missed[m] > 0 && f.replicas[m] > 0)
                order[k++] = (struct ranked){missed[m], m};
        qsort(order, k, sizeof(*order), by_key_desc);
        uint32_t added = 0;
        for (uint32_t i = 0; i < k && added < p->n_groups; i++) {
            int64_t g = least_loaded(&f, order[i].index);
            if (g >= 0) {
                fill_add(&f, order[i].index, (uint32_t)g);
                added++;
            }
        }
        if (added == 0)
            break;
    }
    /* Then the model with the most work per replica, until nothing fits; a model that finds no
     * room is done. */
    for (uint32_t m = 0; m < n; m++)
        done[m] = f.replicas[m] == 0;
    for (;;) {
        int64_t best = -1;
        for (uint32_t m = 0; m < n; m++)
            if (!done[m] && (best < 0 || work[m] / f.replicas[m] > work[best] / f.replicas[best]))
                best = m;
        if (best < 0)
            break;
        int64_t g = least_loaded(&f, (uint32_t)best);
        if (g < 0)
            done[best] = true;
        else
            fill_add(&f, (uint32_t)best, (uint32_t)g);
    }
    free(done);
    free(work);
    free(missed);
    free(order);
    fill_release(&f);
    pl_placement_normalize(p);
}
