/* alpaserve-sep: split the models into buckets of similar latency and the devices into
 * node-aligned parts (plan_split.c), solve each bucket with the alpaserve search on its part, and
 * keep the best of those splits and the unseparated solution, all scored on the whole workload. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_models.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

/* A bucket: its models (global indices), its leader's latency, its rate, and the context that
 * solves it alone. */
struct bucket {
    uint32_t n_models;
    uint32_t *models;
    uint64_t requests;         /* in the training workload */
    struct spec_model_set set; /* a view of its models (names and bases borrowed) */
    struct wl_trace *trace;    /* the training requests of its models, renumbered */
    struct plan_problem pb;
    struct pl_context c;
    struct spec_placement *solved; /* [devices + 1] solution on that many devices, memoised */
    bool *have;
};

struct separation {
    uint32_t n;
    struct bucket *buckets;   /* [n] */
    double *latency_s, *rate; /* [n] leader latency, requests per second */
};

/* Bucket pb's models (pl_bucket_models) into sep; released by release_separation() even on
 * failure. */
static int make_buckets(const struct plan_problem *pb, struct separation *sep)
{
    const struct spec_model_set *set = pb->models;
    uint32_t *bucket_of = MX_NEW_ARRAY(uint32_t, set->n ? set->n : 1);
    sep->latency_s = MX_NEW_ARRAY(double, set->n ? set->n : 1);
    int rc = pl_bucket_models(set, pb->db, pb->db_path, bucket_of, sep->latency_s, &sep->n);
    sep->buckets = MX_NEW_ARRAY(struct bucket, sep->n ? sep->n : 1);
    sep->rate = MX_NEW_ARRAY(double, sep->n ? sep->n : 1);
    for (uint32_t m = 0; rc == MX_OK && m < set->n; m++) {
        struct bucket *bk = &sep->buckets[bucket_of[m]];
        bk->models = mx_realloc_array(bk->models, bk->n_models + 1, sizeof(uint32_t));
        bk->models[bk->n_models++] = m;
    }
    for (size_t i = 0; rc == MX_OK && i < pb->train->n; i++)
        sep->buckets[bucket_of[pb->train->model[i]]].requests++;
    free(bucket_of);
    return rc;
}

/* Give bucket j its own problem: its models, their requests, the whole cluster's budget. */
static int prepare_bucket(const struct plan_problem *pb, struct separation *sep, uint32_t j)
{
    struct bucket *b = &sep->buckets[j];
    const struct spec_model_set *set = pb->models;
    int32_t *map = MX_NEW_ARRAY(int32_t, set->n);
    const char **names = MX_NEW_ARRAY(const char *, b->n_models);
    for (uint32_t m = 0; m < set->n; m++)
        map[m] = -1;
    b->set = (struct spec_model_set){set->path, b->n_models,
                                     MX_NEW_ARRAY(struct spec_model, b->n_models)};
    for (uint32_t k = 0; k < b->n_models; k++) {
        map[b->models[k]] = (int32_t)k;
        names[k] = set->models[b->models[k]].name;
        b->set.models[k] = set->models[b->models[k]];
    }
    const struct wl_trace *t = pb->train;
    b->trace = wl_trace_select(t, -INFINITY, INFINITY, map, b->n_models, names);
    sep->rate[j] = t->duration_s > 0 ? (double)b->trace->n / t->duration_s : (double)b->trace->n;
    free(map);
    free(names);
    b->pb = *pb;
    b->pb.models = &b->set;
    b->pb.train = b->trace;
    b->solved = MX_NEW_ARRAY(struct spec_placement, (size_t)pb->cluster->devices + 1);
    b->have = MX_NEW_ARRAY(bool, (size_t)pb->cluster->devices + 1);
    return pl_context_init(&b->c, &b->pb, b->trace);
}

static void release_separation(struct separation *sep, uint32_t devices)
{
    for (uint32_t j = 0; j < sep->n; j++) {
        struct bucket *b = &sep->buckets[j];
        for (uint32_t d = 0; b->solved && d <= devices; d++)
            if (b->have[d])
                spec_placement_release(&b->solved[d]);
        free(b->solved);
        free(b->have);
        if (b->c.eval)
            pl_context_release(&b->c);
        wl_trace_free(b->trace);
        free(b->set.models);
        free(b->models);
    }
    free(sep->buckets);
    free(sep->latency_s);
    free(sep->rate);
}

/* Concatenate the buckets' solutions for one split into a placement of the whole cluster. */
static int assemble(const struct plan_params *pa, struct separation *sep, const uint32_t *parts,
                    struct spec_placement *out, uint32_t *evaluations)
{
    out->n_groups = 0;
    out->groups = NULL;
    uint32_t offset = 0;
    for (uint32_t j = 0; j < sep->n; j++) {
        struct bucket *b = &sep->buckets[j];
        uint32_t d = parts[j];
        if (!b->have[d]) {
            /* A split too small for a bucket's models is no error: they stay unplaced, and the
             * split scores low. */
            int rc = pl_alpaserve_search(&b->c, d, pa, false, &b->solved[d], evaluations, NULL);
            if (rc < 0)
                return rc;
            b->have[d] = true;
        }
        const struct spec_placement *part = &b->solved[d];
        out->groups =
            mx_realloc_array(out->groups, out->n_groups + part->n_groups + 1, sizeof(*out->groups));
        for (uint32_t g = 0; g < part->n_groups; g++) {
            struct spec_group *grp = &out->groups[out->n_groups++];
            *grp = part->groups[g];
            grp->first_device += offset;
            grp->cap = grp->n_models;
            grp->models = MX_NEW_ARRAY(uint32_t, grp->n_models ? grp->n_models : 1);
            for (uint32_t i = 0; i < grp->n_models; i++)
                grp->models[i] = b->models[part->groups[g].models[i]];
        }
        offset += d;
    }
    return MX_OK;
}

/* Try every kept split; *best (scored *best_score) becomes the best of them and itself. */
static int try_splits(const struct plan_problem *pb, const struct plan_params *pa,
                      struct separation *sep, struct sim_eval_state *s, struct spec_placement *best,
                      struct pl_score *best_score, uint32_t *evaluations,
                      const struct mx_progress_sink *progress)
{
    int rc = MX_OK;
    for (uint32_t j = 0; j < sep->n && rc == MX_OK; j++)
        rc = prepare_bucket(pb, sep, j);
    if (rc < 0)
        return rc;
    struct pl_splits all;
    pl_enumerate_splits(pb->cluster->devices, sep->n, pb->cluster->devices_per_node, &all);
    uint32_t *kept = NULL, n_kept = pl_filter_splits(&all, sep->rate, sep->latency_s, &kept);
    for (uint32_t k = 0; k < n_kept && rc == MX_OK; k++) {
        mx_progress_report(progress, (double)k / n_kept);
        struct spec_placement candidate;
        rc = assemble(pa, sep, all.parts + (size_t)kept[k] * sep->n, &candidate, evaluations);
        if (rc < 0) {
            spec_placement_release(&candidate);
            break;
        }
        /* Each bucket was laid out as if its part began a node; a part that begins mid-node (a
         * partial part before it) can put a tensor-parallel stage across a node boundary. Such a
         * split is no candidate. */
        if (!pl_layout_valid(&candidate, pb->cluster->devices_per_node)) {
            spec_placement_release(&candidate);
            continue;
        }
        struct sim_eval_result r;
        struct pl_score score = pl_evaluate(s, &candidate, &r);
        (*evaluations)++;
        if (pl_score_compare(&score, best_score) > 0) {
            *best_score = score;
            spec_placement_release(best);
            *best = candidate;
        } else {
            spec_placement_release(&candidate);
        }
    }
    free(kept);
    pl_splits_release(&all);
    return rc;
}

static int solve_alpaserve_sep(const struct plan_policy *self, const struct plan_problem *pb,
                               const struct plan_params *pa, struct spec_plan **out,
                               struct plan_outcome *outcome)
{
    struct pl_context c;
    struct separation sep = {0};
    uint32_t evaluations = 0, devices = pb->cluster->devices;
    struct spec_placement best = {0};
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    struct sim_eval_state *s = sim_eval_state_new(c.eval);
    /* The unseparated search, then the splits (where the buckets' searches run). */
    struct mx_progress_span first, splits;
    const struct mx_progress_sink first_sink = mx_progress_within(&first, &pb->progress, 0, 0.4);
    const struct mx_progress_sink splits_sink = mx_progress_within(&splits, &pb->progress, 0.4, 1);
    if ((rc = pl_alpaserve_search(&c, devices, pa, true, &best, &evaluations, &first_sink)) ==
            MX_OK &&
        (rc = make_buckets(pb, &sep)) == MX_OK) {
        struct sim_eval_result r;
        struct pl_score best_score = pl_evaluate(s, &best, &r);
        /* A bucket without training requests cannot be planned apart: nothing says how many
         * devices it needs. Then only the unseparated plan is a candidate. */
        bool separable = sep.n > 1 && sep.n <= devices;
        for (uint32_t j = 0; j < sep.n && separable; j++)
            separable = sep.buckets[j].requests > 0;
        if (separable)
            rc = try_splits(pb, pa, &sep, s, &best, &best_score, &evaluations, &splits_sink);
    }
    if (rc == MX_OK) {
        rc = pl_finish(&c, s, &best, evaluations, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, self, self->name, pb, pa, outcome);
    }
    release_separation(&sep, devices);
    spec_placement_release(&best);
    sim_eval_state_free(s);
    pl_context_release(&c);
    return rc;
}

const struct plan_policy plan_policy_alpaserve_sep = {
    .name = "alpaserve-sep",
    .summary =
        "alpaserve per bucket of similar models on node-aligned device splits, or unseparated",
    .n_params = 3,
    .params = pl_alpaserve_params,
    .solve = solve_alpaserve_sep};
