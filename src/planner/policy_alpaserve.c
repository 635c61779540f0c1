/* alpaserve (AlpaServe's Algorithm 2): for every group layout of pl_enumerate_configs(), fill the
 * groups greedily and keep the best score. alpaserve-sep: first split the models into buckets of
 * similar latency and the devices into node-aligned parts, solve each bucket on its part, and keep
 * the best of those splits and the unseparated solution. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "prof_db.h"
#include "wl_models.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct config_search {
    const struct pl_context *c;
    const struct pl_config *configs; /* [n], by group size */
    uint32_t n;
    uint32_t devices, beam;
    struct pl_placement *placements;
    struct pl_score *scores;
    uint32_t *evaluations;
};

/* Fill config k = n - 1 - item: threads take the configs largest groups first, as those take the
 * longest to fill (more models per group), which shortens the search on several threads. */
static void fill_config(uint32_t item, struct sim_eval_state *s, void *arg)
{
    struct config_search *cs = arg;
    uint32_t k = cs->n - 1 - item;
    const struct pl_config *cfg = &cs->configs[k];
    struct sim_eval_result r;
    pl_solve_layout(cs->c, s, cs->devices, cfg->group_size, cfg->op, cfg->pp, false, cs->beam,
                    &cs->placements[k], &cs->evaluations[k]);
    cs->scores[k] = pl_evaluate(s, &cs->placements[k], &r);
}

/* The alpaserve search over devices devices of context c: the best filled layout in *best. With
 * check_fits, a model that fits no group of any layout is an error; without, it stays unplaced. */
static int alpaserve_search(const struct pl_context *c, uint32_t devices,
                            const struct plan_params *pa, bool check_fits,
                            struct pl_placement *best, uint32_t *evaluations)
{
    struct pl_config *configs = NULL;
    uint32_t n = pl_enumerate_configs(devices, c->pb->cluster->devices_per_node, pa->max_op,
                                      pa->max_pp, &configs);
    struct pl_placement *layouts = MX_NEW_ARRAY(struct pl_placement, n ? n : 1);
    for (uint32_t k = 0; k < n; k++)
        pl_placement_layout(&layouts[k], devices, configs[k].group_size, configs[k].op,
                            configs[k].pp);
    int rc = check_fits ? pl_check_fits(c, layouts, n) : MX_OK;
    for (uint32_t k = 0; k < n; k++)
        pl_placement_release(&layouts[k]);
    free(layouts);
    if (rc < 0) {
        free(configs);
        return rc;
    }
    struct config_search cs = {c,
                               configs,
                               n,
                               devices,
                               pa->beam,
                               MX_NEW_ARRAY(struct pl_placement, n),
                               MX_NEW_ARRAY(struct pl_score, n),
                               MX_NEW_ARRAY(uint32_t, n)};
    pl_parallel(n, c->pb->threads, c->eval, fill_config, &cs);
    uint32_t chosen = 0;
    for (uint32_t k = 0; k < n; k++) {
        *evaluations += cs.evaluations[k] + 1;
        if (pl_score_compare(&cs.scores[k], &cs.scores[chosen]) > 0)
            chosen = k;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (k == chosen)
            *best = cs.placements[k];
        else
            pl_placement_release(&cs.placements[k]);
    }
    free(cs.placements);
    free(cs.scores);
    free(cs.evaluations);
    free(configs);
    return MX_OK;
}

static int solve_alpaserve(const struct plan_problem *pb, const struct plan_params *pa,
                           struct plan **out, struct plan_outcome *outcome)
{
    struct pl_context c;
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    struct pl_placement best;
    uint32_t evaluations = 0;
    if ((rc = alpaserve_search(&c, pb->cluster->devices, pa, true, &best, &evaluations)) == MX_OK) {
        struct sim_eval_state *s = sim_eval_state_new(c.eval);
        rc = pl_finish(&c, s, &best, evaluations, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, "alpaserve", pb, pa, outcome);
        sim_eval_state_free(s);
        pl_placement_release(&best);
    }
    pl_context_release(&c);
    return rc;
}

const struct plan_policy plan_policy_alpaserve = {
    "alpaserve",
    "groups of 1, 2, 4, ... devices in every (op, pp), greedy fill, the best (AlpaServe)",
    solve_alpaserve};

/* ---- alpaserve-sep ---- */

/* AlpaServe's bucketing threshold: a model joins a bucket whose first member's single-device
 * latency is within 38% of its own. */
#define SAME_MODEL_THRESHOLD 0.38
/* Splits are filtered with the first of these thresholds that leaves fewer than this many. */
#define MAX_SPLITS 100

/* A bucket: its models (global indices), its leader's latency, its share of the rate, and the
 * context that solves it alone. */
struct bucket {
    uint32_t n_models;
    uint32_t *models;
    double latency_s;
    double rate;
    struct wl_model_set set; /* a view of its models (names and bases borrowed) */
    struct wl_trace *trace;  /* the training requests of its models, renumbered */
    struct plan_problem pb;
    struct pl_context c;
    struct pl_placement *solved; /* [devices + 1] solution on that many devices, memoised */
    bool *have;
};

/* Bucket the models; *out and *n_out are set even on failure, for the caller to release. */
static int make_buckets(const struct plan_problem *pb, struct bucket **out, uint32_t *n_out)
{
    const struct wl_model_set *set = pb->models;
    struct bucket *buckets = MX_NEW_ARRAY(struct bucket, set->n);
    uint32_t n = 0;
    *out = buckets;
    *n_out = 0;
    for (uint32_t m = 0; m < set->n; m++) {
        double latency = prof_db_single_device_latency_s(pb->db, set->models[m].base);
        if (latency <= 0)
            return mx_error(MX_EINPUT,
                            "alpaserve-sep buckets models by single-device latency, but profile %s "
                            "has no (1, 1, 1) config for \"%s\" (model \"%s\")",
                            pb->db_path, set->models[m].base, set->models[m].name);
        uint32_t b = 0;
        while (b < n && !(fabs(latency - buckets[b].latency_s) / buckets[b].latency_s <
                          SAME_MODEL_THRESHOLD))
            b++;
        if (b == n)
            buckets[n++].latency_s = latency;
        *n_out = n;
        struct bucket *bk = &buckets[b];
        bk->models = mx_realloc_array(bk->models, bk->n_models + 1, sizeof(uint32_t));
        bk->models[bk->n_models++] = m;
    }
    return MX_OK;
}

/* Give each bucket its own problem: its models, their requests, the whole cluster's budget. */
static int prepare_bucket(const struct plan_problem *pb, struct bucket *b)
{
    const struct wl_model_set *set = pb->models;
    int32_t *map = MX_NEW_ARRAY(int32_t, set->n);
    const char **names = MX_NEW_ARRAY(const char *, b->n_models);
    for (uint32_t m = 0; m < set->n; m++)
        map[m] = -1;
    b->set =
        (struct wl_model_set){set->path, b->n_models, MX_NEW_ARRAY(struct wl_model, b->n_models)};
    for (uint32_t k = 0; k < b->n_models; k++) {
        map[b->models[k]] = (int32_t)k;
        names[k] = set->models[b->models[k]].name;
        b->set.models[k] = set->models[b->models[k]];
    }
    const struct wl_trace *t = pb->train;
    b->trace = wl_trace_select(t, -INFINITY, INFINITY, map, b->n_models, names);
    b->rate = t->duration_s > 0 ? (double)b->trace->n / t->duration_s : (double)b->trace->n;
    free(map);
    free(names);
    b->pb = *pb;
    b->pb.models = &b->set;
    b->pb.train = b->trace;
    b->solved = MX_NEW_ARRAY(struct pl_placement, (size_t)pb->cluster->devices + 1);
    b->have = MX_NEW_ARRAY(bool, (size_t)pb->cluster->devices + 1);
    if (b->trace->n == 0)
        return mx_error(MX_EINPUT,
                        "alpaserve-sep: the models of a latency bucket (first: \"%s\") "
                        "have no requests in the training workload",
                        b->set.models[0].name);
    return pl_context_init(&b->c, &b->pb, b->trace);
}

static void release_bucket(struct bucket *b, uint32_t devices)
{
    for (uint32_t d = 0; b->solved && d <= devices; d++)
        if (b->have[d])
            pl_placement_release(&b->solved[d]);
    free(b->solved);
    free(b->have);
    if (b->c.eval)
        pl_context_release(&b->c);
    wl_trace_free(b->trace);
    free(b->set.models);
    free(b->models);
}

/* AlpaServe's node alignment of splits: a part of i devices cut from n remaining is at most
 * n mod per_node, or leaves a multiple of per_node, or n is itself a multiple. */
static bool part_aligned(uint32_t n, uint32_t i, uint32_t per_node)
{
    return i <= n % per_node || (n - i) % per_node == 0 || n % per_node == 0;
}

struct splits {
    uint32_t k, n, cap;
    uint32_t *parts; /* [n][k] */
};

/* Every ordered split of n devices into k parts, as AlpaServe's get_partitions lists them: the last
 * part is chosen first, the rest split recursively. */
static void enumerate_splits(uint32_t n, uint32_t k, uint32_t per_node, uint32_t *prefix,
                             uint32_t depth, struct splits *out)
{
    if (depth == 0) {
        /* prefix holds the parts from last to first; the remaining n is the first part. */
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 64;
            out->parts = mx_realloc_array(out->parts, (size_t)out->cap * out->k, sizeof(uint32_t));
        }
        uint32_t *row = out->parts + (size_t)out->n++ * out->k;
        row[0] = n;
        for (uint32_t j = 1; j < out->k; j++)
            row[j] = prefix[out->k - 1 - j];
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        if (!part_aligned(n, i, per_node))
            continue;
        prefix[k - 1 - depth] = i;
        enumerate_splits(n - i, k, per_node, prefix, depth - 1, out);
    }
}

/* Keep the splits whose share of capacity is close to each bucket's share of the rate. */
static uint32_t filter_splits(const struct splits *all, const struct bucket *b, uint32_t **kept)
{
    static const double thresholds[] = {1.0, 0.5, 0.3, 0.2, 0.1};
    double total_rate = 0;
    for (uint32_t j = 0; j < all->k; j++)
        total_rate += b[j].rate;
    uint32_t *list = MX_NEW_ARRAY(uint32_t, all->n ? all->n : 1), n = 0;
    for (size_t t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
        n = 0;
        for (uint32_t s = 0; s < all->n; s++) {
            const uint32_t *row = all->parts + (size_t)s * all->k;
            double capacity = 0, distance = 0;
            for (uint32_t j = 0; j < all->k; j++)
                capacity += row[j] / b[j].latency_s;
            for (uint32_t j = 0; j < all->k; j++) {
                double d = fabs(b[j].rate / total_rate - row[j] / b[j].latency_s / capacity);
                distance = d > distance ? d : distance;
            }
            if (distance < thresholds[t])
                list[n++] = s;
        }
        if (n < MAX_SPLITS)
            break;
    }
    *kept = list;
    return n;
}

/* Concatenate the buckets' solutions for one split into a placement of the whole cluster. */
static int assemble(const struct plan_params *pa, struct bucket *b, uint32_t k,
                    const uint32_t *parts, struct pl_placement *out, uint32_t *evaluations)
{
    out->n_groups = 0;
    out->groups = NULL;
    uint32_t offset = 0;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t d = parts[j];
        if (!b[j].have[d]) {
            /* A split too small for a bucket's models is no error: they stay unplaced, and the
             * split scores low. */
            int rc = alpaserve_search(&b[j].c, d, pa, false, &b[j].solved[d], evaluations);
            if (rc < 0)
                return rc;
            b[j].have[d] = true;
        }
        const struct pl_placement *part = &b[j].solved[d];
        out->groups =
            mx_realloc_array(out->groups, out->n_groups + part->n_groups + 1, sizeof(*out->groups));
        for (uint32_t g = 0; g < part->n_groups; g++) {
            struct pl_group *grp = &out->groups[out->n_groups++];
            *grp = part->groups[g];
            grp->first_device += offset;
            grp->cap = grp->n_models;
            grp->models = MX_NEW_ARRAY(uint32_t, grp->n_models ? grp->n_models : 1);
            for (uint32_t i = 0; i < grp->n_models; i++)
                grp->models[i] = b[j].models[part->groups[g].models[i]];
        }
        offset += d;
    }
    return MX_OK;
}

static int solve_alpaserve_sep(const struct plan_problem *pb, const struct plan_params *pa,
                               struct plan **out, struct plan_outcome *outcome)
{
    struct pl_context c;
    struct bucket *buckets = NULL;
    uint32_t n_buckets = 0, evaluations = 0, devices = pb->cluster->devices;
    struct pl_placement best = {0};
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    struct sim_eval_state *s = sim_eval_state_new(c.eval);
    if ((rc = alpaserve_search(&c, devices, pa, true, &best, &evaluations)) < 0 ||
        (rc = make_buckets(pb, &buckets, &n_buckets)) < 0)
        goto done;
    struct sim_eval_result r;
    struct pl_score best_score = pl_evaluate(s, &best, &r);
    if (n_buckets > 1 && n_buckets <= devices) {
        for (uint32_t j = 0; j < n_buckets && rc == MX_OK; j++)
            rc = prepare_bucket(pb, &buckets[j]);
        struct splits all = {n_buckets, 0, 0, NULL};
        uint32_t *prefix = MX_NEW_ARRAY(uint32_t, n_buckets);
        if (rc == MX_OK)
            enumerate_splits(devices, n_buckets, pb->cluster->devices_per_node, prefix,
                             n_buckets - 1, &all);
        uint32_t *kept = NULL, n_kept = rc == MX_OK ? filter_splits(&all, buckets, &kept) : 0;
        for (uint32_t k = 0; k < n_kept && rc == MX_OK; k++) {
            struct pl_placement candidate;
            rc = assemble(pa, buckets, n_buckets, all.parts + (size_t)kept[k] * n_buckets,
                          &candidate, &evaluations);
            if (rc < 0)
                break;
            struct pl_score score = pl_evaluate(s, &candidate, &r);
            evaluations++;
            if (pl_score_compare(&score, &best_score) > 0) {
                best_score = score;
                pl_placement_release(&best);
                best = candidate;
            } else {
                pl_placement_release(&candidate);
            }
        }
        free(kept);
        free(prefix);
        free(all.parts);
    }
    if (rc == MX_OK) {
        rc = pl_finish(&c, s, &best, evaluations, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, "alpaserve-sep", pb, pa, outcome);
    }
done:
    for (uint32_t j = 0; j < n_buckets; j++)
        release_bucket(&buckets[j], devices);
    free(buckets);
    pl_placement_release(&best);
    sim_eval_state_free(s);
    pl_context_release(&c);
    return rc;
}

const struct plan_policy plan_policy_alpaserve_sep = {
    "alpaserve-sep",
    "alpaserve per bucket of similar models on node-aligned device splits, or unseparated",
    solve_alpaserve_sep};
