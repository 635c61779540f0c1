/* Filling groups with replicas: AlpaServe's greedy (its Algorithm 1 as its code runs it), the beam
 * variant, and round robin. */
#include "plan_int.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

/* Sort keys for groups: requests received, fewest first; ties to the lower index (AlpaServe leaves
 * them to numpy's argsort). */
struct ranked {
    double key;
    uint32_t index;
};

static int by_key_asc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The smallest weight any model needs in config (op, pp): a group of it that cannot take that is
 * full. -1: no model has the config. */
static int64_t lightest(const struct pl_context *c, int32_t op, int32_t pp)
{
    int64_t least = -1;
    for (uint32_t m = 0; m < c->n_models; m++) {
        int64_t w = pl_weight(c, m, op, pp);
        if (w >= 0 && (least < 0 || w < least))
            least = w;
    }
    return least;
}

/* The model the greedy adds to group g: among those that fit it and are not on it, the one with the
 * most unserved requests, the higher index at a tie. That is the first in AlpaServe's order, which
 * reverses a stable ascending argsort (numpy's sort of these short arrays, up to numpy 1.24, with
 * which AlpaServe's plans were made: tests/planner/golden). -1: none. */
static int64_t best_model_for(const struct pl_context *c, const struct spec_group *g,
                              const double *unserved, int64_t budget)
{
    int64_t best = -1;
    for (uint32_t m = 0; m < c->n_models; m++) {
        if (best >= 0 && unserved[m] < unserved[best])
            continue;
        int64_t w = pl_weight(c, m, g->op, g->pp);
        if (w >= 0 && g->mem_bytes + w <= budget && !spec_group_has(g, m))
            best = m;
    }
    return best;
}

bool pl_greedy_next(const struct pl_context *c, const struct spec_placement *p,
                    const struct sim_eval_result *r, uint32_t *g_out, uint32_t *m_out)
{
    int64_t budget = c->pb->cluster->mem_budget_bytes;
    double *unserved = MX_NEW_ARRAY(double, c->n_models ? c->n_models : 1);
    struct ranked *groups = MX_NEW_ARRAY(struct ranked, p->n_groups ? p->n_groups : 1);
    for (uint32_t m = 0; m < c->n_models; m++) {
        /* AlpaServe's expression, with its 1e-6 guard, so that ties break as there. */
        double n = (double)r->model_requests[m], good = (double)r->model_good[m];
        unserved[m] = n * (1 - good / (n + 1e-6));
    }
    for (uint32_t g = 0; g < p->n_groups; g++)
        groups[g] = (struct ranked){(double)r->group_requests[g], g};
    qsort(groups, p->n_groups, sizeof(*groups), by_key_asc);
    /* The lightest model of the config last asked about: groups mostly share one. */
    int32_t op = 0, pp = 0;
    int64_t least = -1, best = -1;
    for (uint32_t gi = 0; gi < p->n_groups && best < 0; gi++) {
        const struct spec_group *g = &p->groups[groups[gi].index];
        if (g->op != op || g->pp != pp) {
            op = g->op;
            pp = g->pp;
            least = lightest(c, op, pp);
        }
        if (least < 0 || g->mem_bytes + least > budget)
            continue;
        best = best_model_for(c, g, unserved, budget);
        if (best >= 0) {
            *g_out = groups[gi].index;
            *m_out = (uint32_t)best;
        }
    }
    free(unserved);
    free(groups);
    return best >= 0;
}

bool pl_greedy_step(const struct pl_context *c, struct sim_eval_state *s, struct spec_placement *p,
                    struct pl_score *score, uint32_t *evaluations)
{
    struct sim_eval_result r;
    *score = pl_evaluate_next(s, p, &r);
    (*evaluations)++;
    uint32_t g, m;
    if (!pl_greedy_next(c, p, &r, &g, &m))
        return false;
    spec_group_add(&p->groups[g], m, pl_weight(c, m, p->groups[g].op, p->groups[g].pp));
    pl_placement_normalize(p);
    return true;
}

double pl_fill_progress(const struct pl_context *c, const struct spec_placement *p)
{
    const double budget = (double)c->pb->cluster->mem_budget_bytes * p->n_groups;
    double used = 0;
    for (uint32_t g = 0; g < p->n_groups; g++)
        used += (double)p->groups[g].mem_bytes;
    return budget > 0 ? used / budget : 1;
}

static struct pl_score fill_greedy(const struct pl_context *c, struct sim_eval_state *s,
                                   struct spec_placement *p, uint32_t *evaluations,
                                   const struct mx_progress_sink *progress)
{
    struct pl_score score;
    while (pl_greedy_step(c, s, p, &score, evaluations))
        if (progress)
            mx_progress_report(progress, pl_fill_progress(c, p));
    return score;
}

/* A placement's identity for the beam's visited set: a 64-bit hash of its normalised groups'
 * configs and model lists, not their devices. Groups of one config are interchangeable, so
 * placements that differ only in which of them holds a model list are one placement (AlpaServe
 * keys its visited set by the model lists alone; its beam searches have one config). Two different
 * placements colliding is a 2^-64 event. */
static uint64_t placement_hash(const struct spec_placement *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint32_t g = 0; g < p->n_groups; g++) {
        const struct spec_group *grp = &p->groups[g];
        uint64_t words[2] = {(uint64_t)grp->op << 32 | (uint32_t)grp->pp, grp->n_models};
        for (int k = 0; k < 2; k++)
            h = (h ^ words[k]) * 0x100000001b3ULL;
        for (uint32_t j = 0; j < grp->n_models; j++)
            h = (h ^ grp->models[j]) * 0x100000001b3ULL;
    }
    return h;
}

struct visited {
    uint64_t *slots; /* open addressing; 0 marks empty (a hash of 0 is stored as 1) */
    size_t cap, count;
};

static bool visit(struct visited *v, uint64_t h)
{
    h = h ? h : 1;
    if (2 * (v->count + 1) > v->cap) {
        struct visited bigger = {MX_NEW_ARRAY(uint64_t, v->cap ? 2 * v->cap : 1024), 0, 0};
        bigger.cap = v->cap ? 2 * v->cap : 1024;
        for (size_t i = 0; i < v->cap; i++)
            if (v->slots[i])
                visit(&bigger, v->slots[i]);
        free(v->slots);
        *v = bigger;
    }
    size_t i = (size_t)h & (v->cap - 1);
    while (v->slots[i] && v->slots[i] != h)
        i = (i + 1) & (v->cap - 1);
    if (v->slots[i])
        return false;
    v->slots[i] = h;
    v->count++;
    return true;
}

struct beam_scoring {
    const struct pl_context *c;
    const struct spec_placement *candidates;
    struct pl_score *scores;
};

/* Candidates in rank order: best score first, ties by index. */
struct ranked_candidate {
    struct pl_score score;
    uint32_t index;
};

static int by_score_desc(const void *a, const void *b)
{
    const struct ranked_candidate *x = a, *y = b;
    int cmp = pl_score_compare(&y->score, &x->score);
    return cmp ? cmp : (x->index > y->index) - (x->index < y->index);
}

static void score_candidate(uint32_t item, struct sim_eval_state *s, void *arg)
{
    struct beam_scoring *b = arg;
    struct sim_eval_result r;
    b->scores[item] = pl_evaluate(s, &b->candidates[item], &r);
}

/* AlpaServe's beam search: expand every member by every feasible pair (memory strictly under the
 * budget, as its code has it), score the new placements, keep the best `width`, return the best
 * seen (the starting placement included). */
static struct pl_score fill_beam(const struct pl_context *c, struct spec_placement *p,
                                 uint32_t width, uint32_t *evaluations)
{
    int64_t budget = c->pb->cluster->mem_budget_bytes;
    struct spec_placement *beam = MX_NEW_ARRAY(struct spec_placement, width);
    uint32_t n_beam = 1;
    spec_placement_copy(&beam[0], p);
    struct spec_placement best;
    spec_placement_copy(&best, p);
    struct pl_score best_score;
    struct beam_scoring start = {c, p, &best_score};
    pl_parallel(1, 1, c->eval, score_candidate, &start);
    (*evaluations)++;
    struct visited visited = {0};
    for (;;) {
        struct spec_placement *next = NULL;
        uint32_t n_next = 0, cap = 0;
        for (uint32_t b = 0; b < n_beam; b++)
            for (uint32_t g = 0; g < beam[b].n_groups; g++)
                for (uint32_t m = 0; m < c->n_models; m++) {
                    const struct spec_group *grp = &beam[b].groups[g];
                    int64_t w = pl_weight(c, m, grp->op, grp->pp);
                    if (w < 0 || grp->mem_bytes + w >= budget || spec_group_has(grp, m))
                        continue;
                    struct spec_placement cand;
                    spec_placement_copy(&cand, &beam[b]);
                    spec_group_add(&cand.groups[g], m, w);
                    pl_placement_normalize(&cand);
                    if (!visit(&visited, placement_hash(&cand))) {
                        spec_placement_release(&cand);
                        continue;
                    }
                    if (n_next == cap) {
                        cap = cap ? 2 * cap : 64;
                        next = mx_realloc_array(next, cap, sizeof(*next));
                    }
                    next[n_next++] = cand;
                }
        if (n_next == 0) {
            free(next);
            break;
        }
        struct pl_score *scores = MX_NEW_ARRAY(struct pl_score, n_next);
        struct beam_scoring scoring = {c, next, scores};
        pl_parallel(n_next, c->pb->threads, c->eval, score_candidate, &scoring);
        *evaluations += n_next;
        struct ranked_candidate *order = MX_NEW_ARRAY(struct ranked_candidate, n_next);
        for (uint32_t k = 0; k < n_next; k++)
            order[k] = (struct ranked_candidate){scores[k], k};
        qsort(order, n_next, sizeof(*order), by_score_desc);
        for (uint32_t b = 0; b < n_beam; b++)
            spec_placement_release(&beam[b]);
        n_beam = n_next < width ? n_next : width;
        for (uint32_t b = 0; b < n_beam; b++) {
            uint32_t k = order[b].index;
            spec_placement_copy(&beam[b], &next[k]);
            if (pl_score_compare(&scores[k], &best_score) > 0) {
                best_score = scores[k];
                spec_placement_release(&best);
                spec_placement_copy(&best, &next[k]);
            }
        }
        for (uint32_t k = 0; k < n_next; k++)
            spec_placement_release(&next[k]);
        free(next);
        free(order);
        free(scores);
    }
    for (uint32_t b = 0; b < n_beam; b++)
        spec_placement_release(&beam[b]);
    free(beam);
    free(visited.slots);
    spec_placement_release(p);
    *p = best;
    return best_score;
}

struct pl_score pl_fill(const struct pl_context *c, struct sim_eval_state *s,
                        struct spec_placement *p, uint32_t beam, uint32_t *evaluations,
                        const struct mx_progress_sink *progress)
{
    return beam > 1 ? fill_beam(c, p, beam, evaluations)
                    : fill_greedy(c, s, p, evaluations, progress);
}

void pl_fill_round_robin(const struct pl_context *c, struct spec_placement *p)
{
    int64_t budget = c->pb->cluster->mem_budget_bytes;
    uint32_t g = 0;
    bool found = p->n_groups > 0;
    while (found) {
        found = false;
        for (uint32_t m = 0; m < c->n_models; m++) {
            struct spec_group *grp = &p->groups[g];
            int64_t w = pl_weight(c, m, grp->op, grp->pp);
            if (w >= 0 && grp->mem_bytes + w <= budget && !spec_group_has(grp, m)) {
                spec_group_add(grp, m, w);
                found = true;
                g = (g + 1) % p->n_groups;
            }
        }
    }
}
