/* mux: muxplan's own placement policy (docs/planner.md, "mux"). It searches the layouts alpaserve
 * does, but places replicas without a simulation per replica: each layout starts from a spread
 * placement (plan_spread.c), layouts are screened on a sample of the workload, and the promising
 * ones are improved by a local search that simulates short windows around the misses
 * (plan_windows.c) and confirms with whole-workload simulations. With --robust K it plans against
 * K windows of the training workload at once, maximising the worst one's attainment. Last, it
 * picks the dispatch policy that serves the placement best. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_rng.h"
#include "sim_dispatch.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Search constants (docs/planner.md gives the measurements behind them). */
#define CORE_LEAD_SLO 2.0   /* a miss's window starts this many SLOs before it */
#define CORE_TAIL_SLO 2.0   /* and ends this many after it */
#define PEAK_WIDTH_SLO 1.0  /* a model's peak: its most requests within one SLO */
#define PEAK_MARGIN_SLO 1.0 /* simulated with one SLO before and after */
#define SAMPLE_WINDOWS 32   /* screening: the first window and 31 more spread evenly */
#define SAMPLE_SHARE 0.05   /* covering 5% of the workload */
#define SAMPLE_MIN_SLO 4.0  /* each at least 4 SLOs long */
#define KEEP_FACTOR 1.5     /* layouts estimated within 1.5x the best one's misses go on */
#define REFINE_FACTOR 1.5   /* and are searched when within 1.5x after a whole simulation */
#define CANDIDATES 4        /* moves tried per round */
#define GREEDY_WORK 20e6    /* the greedy fill runs where replicas x N is at most this */
#define GREEDY_MARGIN 0.7   /* another fill replaces the greedy one with 30% fewer misses */
#define DONOR_TRIES 4       /* models of the target group looked at for a replica to give */
#define GROUP_TRIES 3       /* groups looked at for the one to gain a replica */
#define VERIFY_ROUNDS 100   /* rounds between whole-workload simulations */
#define STALE_VERIFY 3      /* stop after this many of them bring no improvement */
#define CORE_MIN 20000      /* the core holds at least this many requests when misses allow */
#define CORE_SHARE 0.01     /* or this share of the workload, when more */
#define BUDGET_ABS 20e6     /* a layout's search simulates min(effort x N, 20 M + 4 N) requests */

/* ---- what is being planned for ---- */

/* One training workload the placement is judged on: the whole training workload, or one of
 * --robust's windows of it. */
struct scenario {
    uint32_t window;      /* of --robust's windows */
    struct wl_trace *own; /* a window cut from the training workload, or NULL */
    const struct wl_trace *train;
    struct pl_context c;
    size_t *peak;   /* [2 n_models] each model's peak window */
    size_t *sample; /* screening windows */
    uint32_t n_sample;
    double sample_scale; /* requests after the first sample window / those in the other ones */
};

/* How placements rank: the worst scenario's attainment, then the mean one, then the mean latency
 * (AlpaServe's, refused requests counting 0), then more replicas. With one scenario that is
 * alpaserve's order. */
struct mux_score {
    double worst, mean, latency_s;
    uint32_t replicas;
};

static int score_compare(const struct mux_score *a, const struct mux_score *b)
{
    if (a->worst != b->worst)
        return a->worst > b->worst ? 1 : -1;
    if (a->mean != b->mean)
        return a->mean > b->mean ? 1 : -1;
    if (a->latency_s != b->latency_s)
        return a->latency_s < b->latency_s ? 1 : -1;
    return (a->replicas > b->replicas) - (a->replicas < b->replicas);
}

/* One layout's search and its best placement. */
struct layout {
    struct pl_config config;
    struct spec_placement p;      /* the best placement verified on the whole scenarios */
    struct spec_placement greedy; /* screening: the greedy fill the samples ranked below p, for
                                     phase 2 to settle on the whole scenarios (no groups: none) */
    struct mux_score score;
    uint64_t *good;    /* [n_sc] p's good requests per scenario */
    double *latency_s; /* [n_sc] p's mean latency per scenario */
    uint32_t **miss;   /* [n_sc] the requests p missed, from its first whole simulation */
    size_t *n_miss;    /* [n_sc] */
    double estimate;   /* screening: worst estimated attainment on the samples */
    bool empty, dropped, searched;
    uint32_t evaluations; /* whole-workload simulations */
    uint32_t window_evaluations;
    uint64_t work; /* requests simulated */
};

struct mux {
    const struct plan_problem *pb;
    const struct plan_params *pa;
    uint32_t n_sc, n_windows;
    struct scenario *sc;
    const struct pl_context *c; /* sc[0].c: the models' weights (the same in every scenario) */
    double *requests;           /* [n_models] training requests, over the scenarios */
    double slo_s;               /* the longest SLO of the training workload */
    uint64_t total;             /* requests, over the scenarios */
    double budget;              /* requests a layout's search may simulate */
    uint32_t n;
    struct layout *L;
    uint64_t refine_limit; /* search layouts missing at most this many (summed) */
};

static struct mux_score score_of(const struct mux *mx, const uint64_t *good,
                                 const double *latency_s, uint32_t replicas)
{
    struct mux_score s = {INFINITY, 0, 0, replicas};
    double *sum = MX_NEW_ARRAY(double, mx->n_windows);
    uint32_t *count = MX_NEW_ARRAY(uint32_t, mx->n_windows);
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        sum[mx->sc[k].window] += (double)good[k] / (double)mx->sc[k].train->n;
        count[mx->sc[k].window]++;
        s.latency_s += latency_s[k] / mx->n_sc;
    }
    for (uint32_t w = 0; w < mx->n_windows; w++) {
        const double a = sum[w] / count[w];
        s.worst = a < s.worst ? a : s.worst;
        s.mean += a / mx->n_windows;
    }
    free(sum);
    free(count);
    return s;
}

/* States over every scenario's evaluator, for one thread. */
static struct sim_eval_state **states_new(const struct mux *mx)
{
    struct sim_eval_state **s = MX_NEW_ARRAY(struct sim_eval_state *, mx->n_sc);
    for (uint32_t k = 0; k < mx->n_sc; k++)
        s[k] = sim_eval_state_new(mx->sc[k].c.eval);
    return s;
}

static void states_free(const struct mux *mx, struct sim_eval_state **s)
{
    for (uint32_t k = 0; k < mx->n_sc; k++)
        sim_eval_state_free(s[k]);
    free(s);
}

/* Simulate p on every whole scenario with dispatch (NULL: the problem's); misses[k] (NULL: not
 * kept) gets scenario k's misses and n_miss[k] their number. */
static struct mux_score simulate_whole(const struct mux *mx, struct sim_eval_state **s,
                                       const struct spec_placement *p,
                                       const struct sim_dispatch_policy *dispatch,
                                       uint32_t **misses, size_t *n_miss, uint64_t *good,
                                       double *latency_s)
{
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        struct sim_eval_result r;
        const size_t n = mx->sc[k].train->n;
        sim_eval_run_misses(s[k], p, dispatch, misses ? misses[k] : NULL, misses ? n : 0, &r);
        good[k] = r.good;
        latency_s[k] = r.mean_latency_s;
        if (n_miss)
            n_miss[k] = r.requests - r.good;
    }
    return score_of(mx, good, latency_s, spec_placement_replicas(p));
}

/* ---- phase 1: screening ---- */

/* The misses of p on the sample windows, extrapolated to the whole of each scenario; the worst
 * scenario's attainment so estimated. */
static double sample_estimate(const struct mux *mx, struct sim_eval_state **s,
                              const struct spec_placement *p,
                              const struct sim_dispatch_policy *dispatch, uint64_t *work)
{
    double worst = INFINITY;
    for (uint32_t j = 0; j < mx->n_sc; j++) {
        const struct scenario *sc = &mx->sc[j];
        struct sim_eval_result r;
        uint64_t *good = MX_NEW_ARRAY(uint64_t, sc->n_sample);
        sim_eval_run_ranges(s[j], p, dispatch, sc->sample, sc->n_sample, good, &r);
        *work += r.requests;
        /* The first window stands for itself, the others for the rest of the workload. */
        const double first = (double)(sc->sample[1] - sc->sample[0]) - (double)good[0];
        const double rest = (double)(r.requests - r.good) - first;
        const double attainment = 1 - (first + rest * sc->sample_scale) / (double)sc->train->n;
        worst = attainment < worst ? attainment : worst;
        free(good);
    }
    return worst;
}

/* The rounds fill's view of a placement: its misses on the sample windows of every scenario. */
struct sampler {
    struct mux *mx;
    struct sim_eval_state **s;
    uint64_t work;
};

static void sample_unserved(const struct spec_placement *p, double *unserved, void *arg)
{
    struct sampler *sm = arg;
    const struct mux *mx = sm->mx;
    for (uint32_t m = 0; m < mx->c->n_models; m++)
        unserved[m] = 0;
    for (uint32_t j = 0; j < mx->n_sc; j++) {
        struct sim_eval_result r;
        sim_eval_run_ranges(sm->s[j], p, NULL, mx->sc[j].sample, mx->sc[j].n_sample, NULL, &r);
        sm->work += r.requests;
        for (uint32_t m = 0; m < mx->c->n_models; m++)
            unserved[m] += (double)(r.model_requests[m] - r.model_good[m]);
    }
}

/* Fill layout k two ways, spread and in rounds (pl_fill_spread), and keep the one whose misses,
 * estimated from the sample windows, are fewer (the spread one at a tie). */
static void layout_screen(uint32_t k, struct sim_eval_state *unused, void *arg)
{
    (void)unused;
    struct mux *mx = arg;
    struct layout *l = &mx->L[k];
    const struct plan_problem *pb = mx->pb;
    pl_placement_layout(&l->p, pb->cluster->devices, l->config.group_size, l->config.op,
                        l->config.pp);
    struct spec_placement rounds;
    spec_placement_copy(&rounds, &l->p);
    pl_fill_spread(mx->c, &l->p, mx->requests, pb->cluster->mem_budget_bytes, NULL, NULL);
    if (spec_placement_replicas(&l->p) == 0) {
        l->empty = true;
        spec_placement_release(&rounds);
        return;
    }
    struct sampler sm = {mx, states_new(mx), 0};
    l->estimate = sample_estimate(mx, sm.s, &l->p, NULL, &l->work);
    pl_fill_spread(mx->c, &rounds, mx->requests, pb->cluster->mem_budget_bytes, sample_unserved,
                   &sm);
    const double estimate = sample_estimate(mx, sm.s, &rounds, NULL, &l->work);
    if (estimate > l->estimate) {
        spec_placement_release(&l->p);
        l->p = rounds;
        l->estimate = estimate;
    } else {
        spec_placement_release(&rounds);
    }
    /* AlpaServe's greedy fill (one simulation per replica, incremental, at most a whole one each),
     * where a whole simulation per replica stays within GREEDY_WORK requests: on small workloads it
     * often serves best. */
    const uint32_t replicas = spec_placement_replicas(&l->p);
    if (mx->n_sc == 1 && (double)replicas * (double)mx->total <= GREEDY_WORK) {
        struct spec_placement greedy;
        pl_placement_layout(&greedy, pb->cluster->devices, l->config.group_size, l->config.op,
                            l->config.pp);
        uint32_t evaluations = 0;
        pl_fill(mx->c, sm.s[0], &greedy, 1, &evaluations, NULL);
        l->work += (uint64_t)evaluations * mx->total / 8; /* incremental runs: a rough share */
        const double g = sample_estimate(mx, sm.s, &greedy, NULL, &l->work);
        /* The greedy's placement generalises best (docs/planner.md): it stays unless another
         * fill's estimated misses are fewer by a tenth. */
        if (1 - l->estimate >= GREEDY_MARGIN * (1 - g)) {
            spec_placement_release(&l->p);
            l->p = greedy;
            l->estimate = g;
        } else {
            l->greedy = greedy; /* samples can mislead: phase 2 simulates it whole too */
        }
    }
    l->work += sm.work;
    states_free(mx, sm.s);
}

/* ---- phase 2: one whole simulation of the layouts kept ---- */

static void layout_start(uint32_t k, struct sim_eval_state *unused, void *arg)
{
    (void)unused;
    struct mux *mx = arg;
    struct layout *l = &mx->L[k];
    if (l->empty || l->dropped)
        return;
    struct sim_eval_state **s = states_new(mx);
    for (uint32_t j = 0; j < mx->n_sc; j++)
        l->miss[j] = MX_NEW_ARRAY(uint32_t, mx->sc[j].train->n);
    l->score = simulate_whole(mx, s, &l->p, NULL, l->miss, l->n_miss, l->good, l->latency_s);
    l->evaluations++;
    l->work += mx->total;
    /* A greedy fill the samples ranked lower is kept when the whole workload ranks it higher: the
     * search then never starts below AlpaServe's fill of this layout. */
    if (l->greedy.n_groups) {
        uint64_t *good = MX_NEW_ARRAY(uint64_t, mx->n_sc);
        double *latency_s = MX_NEW_ARRAY(double, mx->n_sc);
        struct mux_score g = simulate_whole(mx, s, &l->greedy, NULL, NULL, NULL, good, latency_s);
        l->evaluations++;
        l->work += mx->total;
        if (score_compare(&g, &l->score) > 0) { /* again, for its misses */
            spec_placement_release(&l->p);
            l->p = l->greedy;
            l->greedy = (struct spec_placement){0};
            l->score =
                simulate_whole(mx, s, &l->p, NULL, l->miss, l->n_miss, l->good, l->latency_s);
            l->evaluations++;
            l->work += mx->total;
        }
        free(good);
        free(latency_s);
    }
    spec_placement_release(&l->greedy);
    states_free(mx, s);
}

/* ---- phase 3: the local search ---- */

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *x, uint32_t n)
{
    return (uint32_t)(rng_next(x) % n);
}

static void group_remove(struct spec_group *g, uint32_t m, int64_t bytes)
{
    uint32_t j = 0;
    while (g->models[j] != m)
        j++;
    memmove(&g->models[j], &g->models[j + 1], (g->n_models - j - 1) * sizeof(uint32_t));
    g->n_models--;
    g->mem_bytes -= bytes;
}

/* A layout's search. The current placement p is judged on each scenario's core, the windows around
 * every miss seen so far: its estimated good requests in scenario k are base_good[k] (a placement
 * simulated whole) plus its core good minus that placement's core good. A move that improves the
 * estimate must also keep the good requests of the peak windows of the models it moves or takes a
 * replica from. */
struct search {
    const struct mux *mx;
    struct layout *l;
    struct sim_eval_state **s; /* [n_sc] */
    size_t **core;             /* [n_sc] ranges */
    uint32_t *n_core;          /* [n_sc] */
    uint32_t **known;          /* [n_sc] every miss seen, ascending */
    size_t *n_known;           /* [n_sc] */
    uint64_t *base_good;       /* [n_sc] whole-workload good of the base placement */
    double *base_latency_s;    /* [n_sc] its mean latency */
    uint64_t *base_core;       /* [n_sc] its core good */
    double *base_core_latency; /* [n_sc] its core latency sum, seconds */
    struct spec_placement p;
    struct mux_score score; /* p's estimate */
    uint64_t *miss;         /* [n_models] p's core misses, over the scenarios */
    uint64_t *load;         /* [n_groups] p's groups' core requests, over the scenarios */
    uint32_t *replicas;     /* [n_models] */
    uint64_t rng;
    uint64_t work;
    uint32_t window_evaluations;
};

/* p's estimated score from its core results (good and latency sums per scenario). */
static struct mux_score estimate(const struct search *se, const uint64_t *core_good,
                                 const double *core_latency, uint32_t replicas)
{
    const struct mux *mx = se->mx;
    uint64_t *good = MX_NEW_ARRAY(uint64_t, mx->n_sc);
    double *latency = MX_NEW_ARRAY(double, mx->n_sc);
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        const double n = (double)mx->sc[k].train->n;
        good[k] = se->base_good[k] + core_good[k] - se->base_core[k];
        latency[k] = se->base_latency_s[k] + (core_latency[k] - se->base_core_latency[k]) / n;
    }
    struct mux_score s = score_of(mx, good, latency, replicas);
    free(good);
    free(latency);
    return s;
}

/* Simulate q on every core; good and latency sums per scenario; guide (optional): keep the
 * per-model misses and per-group requests in se. */
static void run_cores(struct search *se, const struct spec_placement *q, uint64_t *good,
                      double *latency, bool guide)
{
    const struct mux *mx = se->mx;
    if (guide) {
        memset(se->miss, 0, mx->c->n_models * sizeof(uint64_t));
        memset(se->load, 0, q->n_groups * sizeof(uint64_t));
    }
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        good[k] = 0;
        latency[k] = 0;
        if (se->n_core[k] == 0)
            continue;
        struct sim_eval_result r;
        sim_eval_run_ranges(se->s[k], q, NULL, se->core[k], se->n_core[k], NULL, &r);
        se->work += r.requests;
        good[k] = r.good;
        latency[k] = r.mean_latency_s * (double)r.requests;
        if (guide) {
            for (uint32_t m = 0; m < mx->c->n_models; m++)
                se->miss[m] += r.model_requests[m] - r.model_good[m];
            for (uint32_t g = 0; g < q->n_groups; g++)
                se->load[g] += r.group_requests[g];
        }
    }
    se->window_evaluations++;
}

/* Make the current placement the base (its whole-workload results given) and rescore it. */
static void set_base(struct search *se, const uint64_t *good, const double *latency_s)
{
    const struct mux *mx = se->mx;
    memcpy(se->base_good, good, mx->n_sc * sizeof(uint64_t));
    memcpy(se->base_latency_s, latency_s, mx->n_sc * sizeof(double));
    run_cores(se, &se->p, se->base_core, se->base_core_latency, true);
    se->score = estimate(se, se->base_core, se->base_core_latency, spec_placement_replicas(&se->p));
    memset(se->replicas, 0, mx->c->n_models * sizeof(uint32_t));
    for (uint32_t g = 0; g < se->p.n_groups; g++)
        for (uint32_t j = 0; j < se->p.groups[g].n_models; j++)
            se->replicas[se->p.groups[g].models[j]]++;
}

/* After a move: rescore the current placement and its guidance. */
static void rescore(struct search *se)
{
    const struct mux *mx = se->mx;
    uint64_t *good = MX_NEW_ARRAY(uint64_t, mx->n_sc);
    double *latency = MX_NEW_ARRAY(double, mx->n_sc);
    run_cores(se, &se->p, good, latency, true);
    se->score = estimate(se, good, latency, spec_placement_replicas(&se->p));
    memset(se->replicas, 0, mx->c->n_models * sizeof(uint32_t));
    for (uint32_t g = 0; g < se->p.n_groups; g++)
        for (uint32_t j = 0; j < se->p.groups[g].n_models; j++)
            se->replicas[se->p.groups[g].models[j]]++;
    free(good);
    free(latency);
}

struct move {
    uint32_t a; /* gains a replica on group h */
    int64_t b;  /* loses its replica on h (and, in an exchange, gains a's place), or -1 */
};

/* A move into q (a changed copy of the current placement), drawn from the core's misses: a model a
 * that missed (by its misses) gains a replica on the least loaded of a few groups h without it,
 * either exchanged with a model b of h that takes a's place on a's busiest group, or in place of a
 * replica of b (which keeps another), or in memory left free. b is the model of a few looked at on
 * h that missed nothing there and whose work per replica stays lowest. False when the draw finds
 * no move (q untouched). */
static bool propose(struct search *se, struct spec_placement *q, struct move *mv)
{
    const struct pl_context *c = se->mx->c;
    const double *rate = se->mx->requests;
    const int64_t budget = c->pb->cluster->mem_budget_bytes;
    const struct spec_placement *p = &se->p;
    uint64_t total = 0;
    for (uint32_t m = 0; m < c->n_models; m++)
        total += se->miss[m];
    if (total == 0 || p->n_groups < 2)
        return false;
    uint64_t pick = rng_next(&se->rng) % total;
    uint32_t a = 0;
    while (pick >= se->miss[a])
        pick -= se->miss[a++];
    uint32_t h = UINT32_MAX;
    for (int t = 0; t < GROUP_TRIES; t++) {
        const uint32_t g = rng_below(&se->rng, p->n_groups);
        if (spec_group_has(&p->groups[g], a) ||
            pl_weight(c, a, p->groups[g].op, p->groups[g].pp) < 0)
            continue;
        if (h == UINT32_MAX || se->load[g] < se->load[h])
            h = g;
    }
    if (h == UINT32_MAX)
        return false;
    const struct spec_group *gh = &p->groups[h];
    const int64_t wa = pl_weight(c, a, gh->op, gh->pp);
    bool exchange = rng_below(&se->rng, 2) == 0;
    uint32_t from = UINT32_MAX;
    for (uint32_t g = 0; exchange && g < p->n_groups; g++)
        if (spec_group_has(&p->groups[g], a) &&
            (from == UINT32_MAX || se->load[g] > se->load[from]))
            from = g;
    exchange = exchange && from != UINT32_MAX;
    int64_t b = -1;
    if (exchange || gh->mem_bytes + wa > budget) {
        for (int t = 0; t < DONOR_TRIES && gh->n_models; t++) {
            const uint32_t x = gh->models[rng_below(&se->rng, gh->n_models)];
            if (x == a || se->miss[x] > 0 || (!exchange && se->replicas[x] < 2))
                continue;
            if (gh->mem_bytes - pl_weight(c, x, gh->op, gh->pp) + wa > budget)
                continue;
            if (exchange) {
                const struct spec_group *gf = &p->groups[from];
                const int64_t wx = pl_weight(c, x, gf->op, gf->pp);
                if (spec_group_has(gf, x) || wx < 0 ||
                    gf->mem_bytes - pl_weight(c, a, gf->op, gf->pp) + wx > budget)
                    continue;
            }
            /* Its requests per replica once the move is made. */
            const double after =
                exchange ? rate[x] / se->replicas[x] : rate[x] / (se->replicas[x] - 1);
            const double b_after = b < 0      ? 0
                                   : exchange ? rate[b] / se->replicas[b]
                                              : rate[b] / (se->replicas[b] - 1);
            if (b < 0 || after < b_after)
                b = x;
        }
        if (b < 0)
            return false;
    }
    spec_placement_copy(q, p);
    struct spec_group *qh = &q->groups[h];
    if (b >= 0)
        group_remove(qh, (uint32_t)b, pl_weight(c, (uint32_t)b, qh->op, qh->pp));
    spec_group_add(qh, a, wa);
    if (exchange) {
        struct spec_group *qf = &q->groups[from];
        group_remove(qf, a, pl_weight(c, a, qf->op, qf->pp));
        spec_group_add(qf, (uint32_t)b, pl_weight(c, (uint32_t)b, qf->op, qf->pp));
    }
    pl_placement_normalize(q);
    *mv = (struct move){a, b};
    return true;
}

/* Whether range r (requests [r[0], r[1])) meets one of the n ranges of core. */
static bool meets(const size_t *r, const size_t *core, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (r[0] < core[2 * k + 1] && core[2 * k] < r[1])
            return true;
    return false;
}

/* The guard: add to q's core results (good and latency per scenario) what q gains or loses against
 * the current placement in the peak windows, outside the core, of the models mv touches: the
 * windows where taking a model's replica away would show first. */
static void add_guard(struct search *se, const struct spec_placement *q, const struct move *mv,
                      uint64_t *good, double *latency)
{
    const struct mux *mx = se->mx;
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        size_t ranges[4];
        uint32_t n = 0;
        const uint32_t models[2] = {mv->a, mv->b >= 0 ? (uint32_t)mv->b : mv->a};
        for (int j = 0; j < 2; j++) {
            const size_t *r = &mx->sc[k].peak[2 * models[j]];
            if (r[1] > r[0] && (j == 0 || models[1] != models[0]) &&
                !meets(r, se->core[k], se->n_core[k])) {
                ranges[2 * n] = r[0];
                ranges[2 * n + 1] = r[1];
                n++;
            }
        }
        if (n == 2 && ranges[0] < ranges[3] && ranges[2] < ranges[1]) {
            /* Overlapping peaks: one window over both. */
            ranges[0] = ranges[0] < ranges[2] ? ranges[0] : ranges[2];
            ranges[1] = ranges[1] > ranges[3] ? ranges[1] : ranges[3];
            n = 1;
        }
        if (n == 0)
            continue;
        struct sim_eval_result now, then;
        sim_eval_run_ranges(se->s[k], &se->p, NULL, ranges, n, NULL, &now);
        sim_eval_run_ranges(se->s[k], q, NULL, ranges, n, NULL, &then);
        se->work += now.requests + then.requests;
        se->window_evaluations += 2;
        good[k] = good[k] + then.good - now.good;
        latency[k] += (then.mean_latency_s - now.mean_latency_s) * (double)now.requests;
    }
}

/* One round: CANDIDATES moves scored on the cores; the best that still improves the estimate once
 * the guard has added its windows is made. */
static bool search_round(struct search *se)
{
    const uint32_t n_sc = se->mx->n_sc;
    struct spec_placement qs[CANDIDATES];
    struct mux_score sc[CANDIDATES];
    struct move mv[CANDIDATES];
    uint64_t *good = MX_NEW_ARRAY(uint64_t, CANDIDATES * n_sc);
    double *latency = MX_NEW_ARRAY(double, CANDIDATES *n_sc);
    int n = 0;
    for (int k = 0; k < CANDIDATES; k++) {
        if (!propose(se, &qs[n], &mv[n]))
            continue;
        run_cores(se, &qs[n], &good[n * n_sc], &latency[n * n_sc], false);
        sc[n] = estimate(se, &good[n * n_sc], &latency[n * n_sc], spec_placement_replicas(&qs[n]));
        if (score_compare(&sc[n], &se->score) > 0)
            n++;
        else
            spec_placement_release(&qs[n]);
    }
    bool moved = false;
    bool *tried = MX_NEW_ARRAY(bool, CANDIDATES);
    for (int left = n; left > 0 && !moved; left--) {
        int best = -1;
        for (int k = 0; k < n; k++)
            if (!tried[k] && (best < 0 || score_compare(&sc[k], &sc[best]) > 0))
                best = k;
        tried[best] = true;
        add_guard(se, &qs[best], &mv[best], &good[best * n_sc], &latency[best * n_sc]);
        struct mux_score guarded = estimate(se, &good[best * n_sc], &latency[best * n_sc],
                                            spec_placement_replicas(&qs[best]));
        if (score_compare(&guarded, &se->score) > 0) {
            spec_placement_release(&se->p);
            se->p = qs[best];
            qs[best] = (struct spec_placement){0};
            moved = true;
        }
    }
    for (int k = 0; k < n; k++)
        spec_placement_release(&qs[k]);
    free(tried);
    free(good);
    free(latency);
    if (moved)
        rescore(se);
    return moved;
}

/* Sorted union of a[0 .. na) and b[0 .. nb) into out; returns its length. */
static size_t merge_sorted(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                           uint32_t *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i] < b[j]))
            out[n++] = a[i++];
        else if (i == na || b[j] < a[i])
            out[n++] = b[j++];
        else {
            out[n++] = a[i++];
            j++;
        }
    }
    return n;
}

/* Add scenario k's new misses to what is known, and rebuild its core when that grew. */
static void learn_misses(struct search *se, uint32_t k, const uint32_t *miss, size_t n_miss)
{
    const struct mux *mx = se->mx;
    const struct wl_trace *t = mx->sc[k].train;
    uint32_t *merged = MX_NEW_ARRAY(uint32_t, se->n_known[k] + n_miss + 1);
    const size_t n = merge_sorted(se->known[k], se->n_known[k], miss, n_miss, merged);
    if (n > se->n_known[k] || !se->core[k]) {
        free(se->known[k]);
        se->known[k] = merged;
        se->n_known[k] = n;
        free(se->core[k]);
        const size_t cap = (size_t)fmax(CORE_MIN, CORE_SHARE * (double)t->n);
        se->n_core[k] = pl_miss_windows(t, merged, n, CORE_LEAD_SLO * mx->slo_s,
                                        CORE_TAIL_SLO * mx->slo_s, cap, &se->core[k]);
    } else {
        free(merged);
    }
}

static void layout_search(uint32_t k, struct sim_eval_state *unused, void *arg)
{
    (void)unused;
    struct mux *mx = arg;
    struct layout *l = &mx->L[k];
    if (l->empty || l->dropped)
        return;
    uint64_t missed = 0;
    for (uint32_t j = 0; j < mx->n_sc; j++)
        missed += l->n_miss[j];
    if (missed == 0 || missed > mx->refine_limit)
        return;
    l->searched = true;
    const uint32_t n_sc = mx->n_sc;
    struct search se = {.mx = mx, .l = l};
    se.s = states_new(mx);
    se.core = MX_NEW_ARRAY(size_t *, n_sc);
    se.n_core = MX_NEW_ARRAY(uint32_t, n_sc);
    se.known = MX_NEW_ARRAY(uint32_t *, n_sc);
    se.n_known = MX_NEW_ARRAY(size_t, n_sc);
    se.base_good = MX_NEW_ARRAY(uint64_t, n_sc);
    se.base_latency_s = MX_NEW_ARRAY(double, n_sc);
    se.base_core = MX_NEW_ARRAY(uint64_t, n_sc);
    se.base_core_latency = MX_NEW_ARRAY(double, n_sc);
    se.miss = MX_NEW_ARRAY(uint64_t, mx->c->n_models);
    se.load = MX_NEW_ARRAY(uint64_t, l->p.n_groups);
    se.replicas = MX_NEW_ARRAY(uint32_t, mx->c->n_models);
    se.rng = mx_rng_derive(mx->pb->seed, "mux", k);
    for (uint32_t j = 0; j < n_sc; j++)
        learn_misses(&se, j, l->miss[j], l->n_miss[j]);
    spec_placement_copy(&se.p, &l->p);
    set_base(&se, l->good, l->latency_s);

    uint32_t **miss = MX_NEW_ARRAY(uint32_t *, n_sc);
    size_t *n_miss = MX_NEW_ARRAY(size_t, n_sc);
    uint64_t *good = MX_NEW_ARRAY(uint64_t, n_sc);
    double *latency = MX_NEW_ARRAY(double, n_sc);
    for (uint32_t j = 0; j < n_sc; j++)
        miss[j] = MX_NEW_ARRAY(uint32_t, mx->sc[j].train->n);
    uint64_t whole = 0; /* requests simulated by whole-workload runs */
    int stale = 0;
    for (uint32_t round = 1;; round++) {
        search_round(&se);
        const bool last = (double)(l->work + se.work + whole + mx->total) > mx->budget;
        if (round % VERIFY_ROUNDS != 0 && !last)
            continue;
        /* A whole simulation: keep the placement if it is the best yet, learn where it misses,
         * and go on from the best. */
        struct mux_score s = simulate_whole(mx, se.s, &se.p, NULL, miss, n_miss, good, latency);
        whole += mx->total;
        l->evaluations++;
        const bool better = score_compare(&s, &l->score) > 0;
        if (better) {
            spec_placement_release(&l->p);
            spec_placement_copy(&l->p, &se.p);
            l->score = s;
            memcpy(l->good, good, n_sc * sizeof(uint64_t));
            memcpy(l->latency_s, latency, n_sc * sizeof(double));
        }
        stale = better ? 0 : stale + 1;
        if (last || stale >= STALE_VERIFY)
            break;
        for (uint32_t j = 0; j < n_sc; j++)
            learn_misses(&se, j, miss[j], n_miss[j]);
        if (!better) {
            spec_placement_release(&se.p);
            spec_placement_copy(&se.p, &l->p);
        }
        set_base(&se, l->good, l->latency_s);
    }
    l->work += se.work + whole;
    l->window_evaluations += se.window_evaluations;
    for (uint32_t j = 0; j < n_sc; j++) {
        free(miss[j]);
        free(se.core[j]);
        free(se.known[j]);
    }
    free(miss);
    free(n_miss);
    free(good);
    free(latency);
    spec_placement_release(&se.p);
    states_free(mx, se.s);
    free(se.core);
    free(se.n_core);
    free(se.known);
    free(se.n_known);
    free(se.base_good);
    free(se.base_latency_s);
    free(se.base_core);
    free(se.base_core_latency);
    free(se.miss);
    free(se.load);
    free(se.replicas);
}

/* ---- the policy ---- */

/* The scenarios: the training workload, or its K windows of equal length. */
static int scenarios_init(struct mux *mx)
{
    const struct plan_problem *pb = mx->pb;
    const struct wl_trace *t = pb->train;
    const uint32_t K = mx->pa->robust;
    mx->n_windows = mx->n_sc = K;
    mx->sc = MX_NEW_ARRAY(struct scenario, K);
    int32_t *identity = MX_NEW_ARRAY(int32_t, t->n_models ? t->n_models : 1);
    for (uint32_t m = 0; m < t->n_models; m++)
        identity[m] = (int32_t)m;
    int rc = MX_OK;
    for (uint32_t k = 0; k < K && rc == MX_OK; k++) {
        struct scenario *sc = &mx->sc[k];
        sc->window = k;
        sc->train = t;
        if (K > 1) {
            const double from = k == 0 ? -INFINITY : t->start_s + t->duration_s * k / K;
            const double to = k + 1 == K ? INFINITY : t->start_s + t->duration_s * (k + 1) / K;
            sc->own = wl_trace_select(t, from, to, identity, t->n_models,
                                      (const char *const *)t->model_names);
            sc->train = sc->own;
            if (sc->own->n == 0)
                rc = mx_error(MX_EINPUT,
                              "mux --robust %u: window %u of %s (%.6g s to %.6g s) has no "
                              "requests; use fewer windows",
                              K, k + 1, t->path ? t->path : "the training workload",
                              t->start_s + t->duration_s * k / K,
                              t->start_s + t->duration_s * (k + 1) / K);
        }
        if (rc == MX_OK)
            rc = pl_context_init(&sc->c, pb, sc->train);
        if (rc == MX_OK) {
            const struct wl_trace *w = sc->train;
            mx->total += w->n;
            sc->peak = MX_NEW_ARRAY(size_t, 2 * (size_t)t->n_models + 2);
            pl_model_peaks(w, PEAK_WIDTH_SLO * mx->slo_s, PEAK_MARGIN_SLO * mx->slo_s,
                           PEAK_MARGIN_SLO * mx->slo_s, sc->peak);
            sc->n_sample =
                pl_sample_windows(w, SAMPLE_WINDOWS, SAMPLE_SHARE, SAMPLE_MIN_SLO * mx->slo_s,
                                  &sc->sample, &sc->sample_scale);
            for (size_t i = 0; i < w->n; i++)
                mx->requests[w->model[i]] += 1;
        }
    }
    free(identity);
    return rc;
}

static void scenarios_release(struct mux *mx)
{
    for (uint32_t k = 0; k < mx->n_sc; k++) {
        struct scenario *sc = &mx->sc[k];
        if (sc->c.eval)
            pl_context_release(&sc->c);
        wl_trace_free(sc->own);
        free(sc->peak);
        free(sc->sample);
    }
    free(mx->sc);
}

/* ---- phase 4: how to serve it ---- */

/* A way to serve a layout's best placement: a dispatch policy and a batch size. */
struct serving {
    uint32_t layout, dispatch; /* dispatch: index into sim_dispatch_policies */
    uint32_t max_batch;
    struct mux_score score;
    int rc;
    bool scored; /* simulated whole (an unbatched one only where the sample says it may win) */
};

struct servings {
    const struct mux *mx;
    struct serving *v;
    struct spec_plan *
        *plans; /* [n layouts] the layouts' placements as plans, for the event engine */
};

static void score_serving(uint32_t item, struct sim_eval_state *unused, void *arg)
{
    (void)unused;
    struct servings *sv = arg;
    const struct mux *mx = sv->mx;
    struct serving *v = &sv->v[item];
    const struct layout *l = &mx->L[v->layout];
    const struct sim_dispatch_policy *dispatch = sim_dispatch_policies[v->dispatch];
    if (v->max_batch <= 1) {
        /* Another dispatch policy without batching: simulated whole only where it does better on
         * the sample windows. */
        uint64_t work = 0;
        struct sim_eval_state **s = states_new(mx);
        const double mine = sample_estimate(mx, s, &l->p, mx->pb->dispatch, &work);
        const double theirs = sample_estimate(mx, s, &l->p, dispatch, &work);
        states_free(mx, s);
        if (!(theirs > mine))
            return;
    }
    uint64_t *good = MX_NEW_ARRAY(uint64_t, mx->n_sc);
    double *latency = MX_NEW_ARRAY(double, mx->n_sc);
    for (uint32_t k = 0; k < mx->n_sc && v->rc == MX_OK; k++) {
        if (v->max_batch > 1) {
            v->rc = pl_simulate_with(mx->pb, sv->plans[v->layout], mx->sc[k].train, dispatch,
                                     v->max_batch, &good[k], &latency[k]);
        } else {
            struct sim_eval_state *s = sim_eval_state_new(mx->sc[k].c.eval);
            struct sim_eval_result r;
            sim_eval_run_misses(s, &l->p, dispatch, NULL, 0, &r);
            good[k] = r.good;
            latency[k] = r.mean_latency_s;
            sim_eval_state_free(s);
        }
    }
    v->score = score_of(mx, good, latency, l->score.replicas);
    v->scored = true;
    free(good);
    free(latency);
}

/* The largest batch size any config of the models has profiled. */
static uint32_t largest_batch(const struct mux *mx)
{
    uint32_t largest = 1;
    for (uint32_t m = 0; m < mx->c->n_models; m++) {
        const struct spec_profile_model *pm =
            spec_profile_find_model(mx->pb->db, mx->pb->models->models[m].base);
        for (uint32_t k = 0; pm && k < pm->n_configs; k++)
            if (pm->configs[k].n_batches &&
                (uint32_t)pm->configs[k].batch[pm->configs[k].n_batches - 1] > largest)
                largest = (uint32_t)pm->configs[k].batch[pm->configs[k].n_batches - 1];
    }
    return largest;
}

/* How many layouts' placements are scored with batching: the best few. */
#define BATCHED_LAYOUTS 2

/* The best way to serve: the search's best placement under the problem's dispatch policy and no
 * batching (its score known), unless another dispatch policy (simulated whole where it does better
 * on the sample windows), or batches of up to the batch size (the best BATCHED_LAYOUTS layouts'
 * placements under every dispatch policy, on the event engine), scores strictly better; ties go to
 * the earlier of that order. Fills *chosen; attainment[d] gets the best layout's worst-scenario
 * attainment under policy d without batching, and batched_attainment[d] with (NAN when not
 * simulated whole). */
static int choose_serving(const struct mux *mx, uint32_t best, struct serving *chosen,
                          double *attainment, double *batched_attainment, uint32_t *runs)
{
    uint32_t n_policies = 0;
    while (sim_dispatch_policies[n_policies])
        n_policies++;
    const uint32_t B = mx->pa->max_batch ? mx->pa->max_batch : largest_batch(mx);
    /* The layouts to batch: the best, then the others by score. */
    uint32_t batched[BATCHED_LAYOUTS], n_batched = 0;
    batched[n_batched++] = best;
    while (B > 1 && n_batched < BATCHED_LAYOUTS) {
        int64_t next = -1;
        for (uint32_t k = 0; k < mx->n; k++) {
            const struct layout *l = &mx->L[k];
            bool taken = false;
            for (uint32_t j = 0; j < n_batched; j++)
                taken = taken || batched[j] == k;
            if (!l->empty && !l->dropped && !taken &&
                (next < 0 || score_compare(&l->score, &mx->L[next].score) > 0))
                next = k;
        }
        if (next < 0)
            break;
        batched[n_batched++] = (uint32_t)next;
    }
    struct servings sv = {mx, MX_NEW_ARRAY(struct serving, n_policies * (1 + n_batched)),
                          MX_NEW_ARRAY(struct spec_plan *, mx->n)};
    uint32_t n = 0;
    for (uint32_t d = 0; d < n_policies; d++)
        if (sim_dispatch_policies[d] != mx->pb->dispatch)
            sv.v[n++] = (struct serving){best, d, 1};
    for (uint32_t j = 0; B > 1 && j < n_batched; j++) {
        sv.plans[batched[j]] = pl_to_plan(mx->c, &mx->L[batched[j]].p);
        for (uint32_t d = 0; d < n_policies; d++)
            sv.v[n++] = (struct serving){batched[j], d, B};
    }
    pl_parallel(n, mx->pb->threads, NULL, score_serving, &sv);
    uint32_t search_dispatch = 0;
    while (sim_dispatch_policies[search_dispatch] != mx->pb->dispatch)
        search_dispatch++;
    *chosen = (struct serving){best, search_dispatch, 1, mx->L[best].score, MX_OK};
    int rc = MX_OK;
    for (uint32_t d = 0; d < n_policies; d++)
        attainment[d] = batched_attainment[d] = NAN;
    attainment[search_dispatch] = chosen->score.worst;
    for (uint32_t k = 0; k < n && rc == MX_OK; k++) {
        const struct serving *v = &sv.v[k];
        rc = v->rc;
        if (!v->scored)
            continue;
        (*runs) += mx->n_sc;
        if (v->layout == best)
            (v->max_batch > 1 ? batched_attainment : attainment)[v->dispatch] = v->score.worst;
        if (rc == MX_OK && score_compare(&v->score, &chosen->score) > 0)
            *chosen = *v;
    }
    for (uint32_t k = 0; k < mx->n; k++)
        spec_plan_free(sv.plans[k]);
    free(sv.plans);
    free(sv.v);
    return rc;
}

static int solve_mux(const struct plan_policy *self, const struct plan_problem *pb,
                     const struct plan_params *pa, struct spec_plan **out,
                     struct plan_outcome *outcome)
{
    struct mux mx = {.pb = pb, .pa = pa};
    const struct wl_trace *t = pb->train;
    for (size_t i = 0; i < t->n; i++)
        if (isfinite(t->slo_s[i]) && t->slo_s[i] > mx.slo_s)
            mx.slo_s = t->slo_s[i];
    if (mx.slo_s <= 0)
        mx.slo_s = 1;
    mx.requests = MX_NEW_ARRAY(double, t->n_models ? t->n_models : 1);
    int rc = scenarios_init(&mx);
    struct pl_config *configs = NULL;
    if (rc == MX_OK) {
        mx.c = &mx.sc[0].c;
        mx.budget = fmin(pa->effort * (double)mx.total, BUDGET_ABS + 4.0 * (double)mx.total);
        mx.n = pl_enumerate_configs(pb->cluster->devices, pb->cluster->devices_per_node, pa->max_op,
                                    pa->max_pp, &configs);
        mx.L = MX_NEW_ARRAY(struct layout, mx.n ? mx.n : 1);
        for (uint32_t k = 0; k < mx.n; k++) {
            struct layout *l = &mx.L[k];
            l->config = configs[k];
            l->good = MX_NEW_ARRAY(uint64_t, mx.n_sc);
            l->latency_s = MX_NEW_ARRAY(double, mx.n_sc);
            l->miss = MX_NEW_ARRAY(uint32_t *, mx.n_sc);
            l->n_miss = MX_NEW_ARRAY(size_t, mx.n_sc);
        }
        struct spec_placement *layouts = MX_NEW_ARRAY(struct spec_placement, mx.n ? mx.n : 1);
        for (uint32_t k = 0; k < mx.n; k++)
            pl_placement_layout(&layouts[k], pb->cluster->devices, configs[k].group_size,
                                configs[k].op, configs[k].pp);
        rc = pl_check_fits(mx.c, layouts, mx.n);
        for (uint32_t k = 0; k < mx.n; k++)
            spec_placement_release(&layouts[k]);
        free(layouts);
    }
    free(configs);
    int64_t best = -1;
    if (rc == MX_OK) {
        pl_parallel(mx.n, pb->threads, NULL, layout_screen, &mx);
        double top = -INFINITY;
        for (uint32_t k = 0; k < mx.n; k++)
            if (!mx.L[k].empty && mx.L[k].estimate > top)
                top = mx.L[k].estimate;
        /* Keep the layouts whose estimated misses are within KEEP_FACTOR of the fewest. */
        const double fewest = (1 - top) * (double)t->n;
        for (uint32_t k = 0; k < mx.n; k++) {
            struct layout *l = &mx.L[k];
            l->dropped = !l->empty && (1 - l->estimate) * (double)t->n > KEEP_FACTOR * fewest + 16;
        }
        if (pb->progress.report)
            mx_progress_report(&pb->progress, 0.1);
        pl_parallel(mx.n, pb->threads, NULL, layout_start, &mx);
        for (uint32_t k = 0; k < mx.n; k++)
            if (!mx.L[k].empty && !mx.L[k].dropped &&
                (best < 0 || score_compare(&mx.L[k].score, &mx.L[best].score) > 0))
                best = k;
        uint64_t least = 0;
        for (uint32_t j = 0; j < mx.n_sc; j++)
            least += mx.L[best].n_miss[j];
        mx.refine_limit = (uint64_t)(REFINE_FACTOR * (double)least) + 16;
        if (pb->progress.report)
            mx_progress_report(&pb->progress, 0.2);
        pl_parallel(mx.n, pb->threads, NULL, layout_search, &mx);
        best = -1;
        for (uint32_t k = 0; k < mx.n; k++)
            if (!mx.L[k].empty && !mx.L[k].dropped &&
                (best < 0 || score_compare(&mx.L[k].score, &mx.L[best].score) > 0))
                best = k;
    }
    struct serving chosen = {0};
    uint32_t evaluations = 0, window_evaluations = 0, searched = 0;
    uint64_t work = 0;
    double attainment[16], batched_attainment[16];
    if (rc == MX_OK) {
        for (uint32_t k = 0; k < mx.n; k++) {
            evaluations += mx.L[k].evaluations;
            window_evaluations += mx.L[k].window_evaluations;
            work += mx.L[k].work;
            searched += mx.L[k].searched;
        }
        rc = choose_serving(&mx, (uint32_t)best, &chosen, attainment, batched_attainment,
                            &evaluations);
    }
    if (rc == MX_OK) {
        const struct layout *l = &mx.L[chosen.layout];
        struct plan_problem served = *pb;
        served.dispatch = sim_dispatch_policies[chosen.dispatch];
        *out = pl_to_plan(mx.c, &l->p);
        mx_json_set((*out)->extra, "dispatch", json_string(served.dispatch->name));
        if (chosen.max_batch > 1)
            mx_json_set((*out)->extra, "max_batch", json_integer(chosen.max_batch));
        outcome->groups = l->p.n_groups;
        outcome->replicas = spec_placement_replicas(&l->p);
        outcome->evaluations = evaluations;
        if (mx.n_sc == 1) {
            outcome->attainment = chosen.score.worst;
            outcome->mean_latency_s = chosen.score.latency_s;
        } else {
            rc = pl_simulate(&served, *out, outcome);
            outcome->evaluations++;
        }
        if (rc == MX_OK) {
            pl_record(*out, self, self->name, &served, pa, outcome);
            json_t *search = json_object();
            mx_json_set(search, "layout",
                        json_pack("[i, i, i]", 1, (int)l->config.op, (int)l->config.pp));
            mx_json_set(search, "layouts_searched", json_integer(searched));
            mx_json_set(search, "window_evaluations", json_integer(window_evaluations));
            mx_json_set(search, "requests_simulated", json_integer((json_int_t)work));
            json_t *by_dispatch = json_object(), *batched = json_object();
            for (uint32_t d = 0; sim_dispatch_policies[d]; d++) {
                mx_json_set(by_dispatch, sim_dispatch_policies[d]->name,
                            mx_json_real_or_null(attainment[d]));
                if (!isnan(batched_attainment[d]))
                    mx_json_set(batched, sim_dispatch_policies[d]->name,
                                json_real(batched_attainment[d]));
            }
            mx_json_set(search, "attainment_by_dispatch", by_dispatch);
            if (json_object_size(batched))
                mx_json_set(search, "batched_attainment_by_dispatch", batched);
            else
                json_decref(batched);
            if (mx.n_sc > 1) {
                json_t *windows = json_array();
                for (uint32_t j = 0; j < mx.n_sc; j++)
                    mx_json_append(windows,
                                   json_real((double)l->good[j] / (double)mx.sc[j].train->n));
                mx_json_set(search, "window_attainment", windows);
            }
            mx_json_set(json_object_get((*out)->extra, "predicted"), "search", search);
        } else {
            spec_plan_free(*out);
            *out = NULL;
        }
    }
    for (uint32_t k = 0; k < mx.n; k++) {
        struct layout *l = &mx.L[k];
        spec_placement_release(&l->p);
        spec_placement_release(&l->greedy);
        for (uint32_t j = 0; j < mx.n_sc; j++)
            free(l->miss[j]);
        free(l->miss);
        free(l->n_miss);
        free(l->good);
        free(l->latency_s);
    }
    free(mx.L);
    free(mx.requests);
    scenarios_release(&mx);
    return rc;
}

static const enum plan_param_id mux_params[] = {PLAN_PARAM_MAX_OP, PLAN_PARAM_MAX_PP,
                                                PLAN_PARAM_ROBUST, PLAN_PARAM_EFFORT,
                                                PLAN_PARAM_MAX_BATCH};

const struct plan_policy plan_policy_mux = {
    .name = "mux",
    .decoders = PLAN_ENCODERS_ONLY,
    .summary = "alpaserve's layouts, each from a spread placement improved by a local search on "
               "windows around its misses; the best, with the dispatch that serves it best",
    .n_params = sizeof(mux_params) / sizeof(mux_params[0]),
    .params = mux_params,
    .solve = solve_mux};
