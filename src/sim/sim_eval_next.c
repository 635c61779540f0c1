/* Incremental evaluation: the outcome of a placement from the outcome of the previous one.
 *
 * The previous run (the baseline) left, for every request, the group it went to, whether it was
 * admitted and its stage finishes, and for every group (by key) its admissions in order: so the
 * stage clocks any group had just before any request can be looked up.
 *
 * A group is "clean" while its stage clocks in the new run equal the baseline's, "dirty" otherwise.
 * A request needs simulating again only if its model's replicas changed or one of its model's
 * groups is dirty when it arrives; every other request repeats its baseline outcome exactly, and
 * leaves clean groups clean. So the run walks, in request order, the requests that need it,
 * re-simulates them against the groups' clocks (a dirty group's own, a clean group's from the
 * baseline), and marks groups dirty or clean by comparing their new clocks with the baseline's
 * after each re-simulated request. Dirty groups turn clean again typically when a request finds
 * them idle in both runs. Counters change by the difference between the new and the baseline
 * outcome; the baseline becomes the new run's at the end.
 *
 * It walks in one of two ways, whichever the previous run's numbers say is cheaper (SCAN_RATIO):
 *   - streams: a heap of cursors, one over the requests of each model whose replicas changed, one
 *     over the stream of each dirty group (sim_eval_stream.c), dropped when it next comes up
 *     clean. Cheap when a group's models have a small share of the requests.
 *   - scan: every request while some group is dirty, simulating again those of models that a
 *     dirty group hosts (a count per model); from one changed model's request to the next while
 *     none is. Cheap when many of the requests it passes need it.
 *
 * The sweep reads per-request data in request order, and searches each key's admissions and
 * stream with a cursor that only moves forward.
 *
 * A group's state is its stage clocks, or in the uniform form (sim_eval_int.h) its last stage's
 * clock alone: `width` clocks either way, which is what records, dirty states and comparisons
 * hold. */
#include "sim_eval_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_dispatch.h"
#include "sim_fast_step.h"

#include <stdlib.h>
#include <string.h>

/* A scan walks every request while a group is dirty, at a few nanoseconds each where a stream
 * cursor costs tens (a heap step, the search that wakes it, keeping the streams): it is the cheaper
 * walk once one request in this many that it passes needs simulating again (bench/RESULTS.md). */
enum { SCAN_RATIO = 32 };

struct cursor {
    uint32_t request; /* heap key: the next request to look at */
    uint32_t owner;   /* a model below n_models (its requests), else n_models + a group key */
    uint32_t at;      /* the request's index in the owner's list */
};

/* A re-simulated request whose admission changed: the group keys that admitted it before and now
 * (-1: none; never equal). */
struct change {
    uint32_t request;
    int32_t from, to;
};

struct next_run {
    struct sim_eval_state *s;
    const struct sim_eval *e;
    struct sim_world *w;
    struct baseline *b;
    uint32_t stride;
    bool uniform;    /* the baseline's form */
    bool skip_clean; /* the policy ranks by last stage clocks: see choose_among_changed */
    bool *changed;   /* [n_models] the model's replica keys differ from the baseline's */
    /* [replicas] by compare_replicas: */
    bool *added;         /* its group did not host its model in the baseline */
    bool *moved;         /* not one of its model's kept replicas */
    uint32_t *hosted_by; /* [key_limit] 1 + the model compare_replicas marked the groups of last */
    struct sim_delays delays; /* the overheads, constant */
    mx_ns *clock;             /* the world's stage clocks, by stage_base */
    mx_ns *zeros;             /* [stride] the clocks of a group nothing ran on yet */
    uint32_t n_models;
    int32_t *group_of;   /* [key_limit] group index in the new placement, -1: absent */
    uint32_t *seen;      /* [key_limit] admissions of the key before the current request */
    bool *dirty;         /* [key_limit] the group's clocks differ from the baseline's */
    uint32_t n_dirty;    /* dirty groups of the placement */
    bool scan;           /* walk every request while a group is dirty, not the dirty streams */
    uint32_t *hot;       /* [n_models] dirty groups of the placement that host the model (scan;
                            NULL otherwise) */
    mx_ns *state;        /* [key_limit * stride] clocks of dirty groups */
    mx_ns *passed;       /* [key_limit * stride] the baseline's clocks of dirty groups then */
    bool *stream_active; /* [key_limit] the group's stream has a cursor in the heap */
    uint32_t *stream_at; /* [key_limit] its stream's entries before this are done */
    struct cursor *heap; /* [n_models + key_limit] */
    uint32_t heap_n;
    struct change *changes;
    uint32_t n_changes, cap_changes;
    /* Re-simulated admissions' stage finishes, written into the baseline once the run is over
     * (until then the run reads the baseline's). */
    uint32_t *pending_request;
    mx_ns *pending_finish; /* [stride] per entry */
    uint32_t n_pending, cap_pending;
};

/* Copy a group's state: short enough that the usual widths are copied inline rather than by a
 * call. */
static inline void copy_stages(mx_ns *restrict dst, const mx_ns *restrict src, uint32_t n)
{
    switch (n) {
    case 1:
        memcpy(dst, src, 1 * sizeof(mx_ns));
        return;
    case 2:
        memcpy(dst, src, 2 * sizeof(mx_ns));
        return;
    case 4:
        memcpy(dst, src, 4 * sizeof(mx_ns));
        return;
    case 8:
        memcpy(dst, src, 8 * sizeof(mx_ns));
        return;
    default:
        memcpy(dst, src, n * sizeof(mx_ns));
    }
}

static inline bool same_stages(const mx_ns *a, const mx_ns *b, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return false;
    return true;
}

static bool cursor_before(const struct cursor *a, const struct cursor *b)
{
    return a->request < b->request;
}

static void heap_push(struct next_run *r, struct cursor c)
{
    uint32_t i = r->heap_n++;
    while (i > 0 && cursor_before(&c, &r->heap[(i - 1) / 2])) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = c;
}

/* Put c where the top was and restore the heap below it. */
static void heap_replace_top(struct next_run *r, struct cursor c)
{
    uint32_t i = 0;
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= r->heap_n)
            break;
        if (child + 1 < r->heap_n && cursor_before(&r->heap[child + 1], &r->heap[child]))
            child++;
        if (!cursor_before(&r->heap[child], &c))
            break;
        r->heap[i] = r->heap[child];
        i = child;
    }
    r->heap[i] = c;
}

/* Remove the top. */
static void heap_pop(struct next_run *r)
{
    if (--r->heap_n > 0)
        heap_replace_top(r, r->heap[r->heap_n]);
}

/* Group key's stream has no cursor now; its entries before `at` are done. */
static void park_stream(struct next_run *r, uint32_t key, uint32_t at)
{
    r->stream_active[key] = false;
    r->stream_at[key] = at;
}

/* Move the top cursor, model m's, to entry `at` of m's requests in place, or remove it if that is
 * past their end. */
static void move_model_top(struct next_run *r, uint32_t m, uint32_t at)
{
    if (at < r->e->request_begin[m + 1])
        heap_replace_top(r, (struct cursor){r->e->request[at], m, at});
    else
        heap_pop(r);
}

/* Move the top cursor c to its next request, its model's or its group stream's, in place; or
 * remove it at its list's end (parking a stream there). */
static void advance_top(struct next_run *r, struct cursor c)
{
    uint32_t next = c.at + 1;
    if (c.owner < r->n_models) {
        move_model_top(r, c.owner, next);
        return;
    }
    const uint32_t key = c.owner - r->n_models;
    const struct group_stream *st = &r->s->streams.by_key[key];
    if (next < st->n) {
        heap_replace_top(r, (struct cursor){st->request[next], c.owner, next});
    } else {
        heap_pop(r);
        park_stream(r, key, st->n);
    }
}

/* Move the top cursor, a changed model's, to its model's first request after i, or remove it. */
static void skip_top(struct next_run *r, uint32_t i)
{
    const struct cursor c = r->heap[0];
    const uint32_t end = r->e->request_begin[c.owner + 1];
    move_model_top(r, c.owner, sim__gallop_above(r->e->request, c.at, end, (int64_t)i));
}

/* Give group key's stream a cursor at its first request after i, unless it has one: a cursor left
 * from an earlier dirty spell still points at its next request. The scan only moves forward. */
static void wake_stream(struct next_run *r, uint32_t key, uint32_t i)
{
    if (r->stream_active[key])
        return;
    const struct group_stream *st = &r->s->streams.by_key[key];
    uint32_t from = sim__index_start(&st->index, i);
    uint32_t at = sim__gallop_above(
        st->request, from > r->stream_at[key] ? from : r->stream_at[key], st->n, (int64_t)i);
    r->stream_at[key] = at;
    if (at < st->n) {
        r->stream_active[key] = true;
        heap_push(r, (struct cursor){st->request[at], r->n_models + key, at});
    }
}

/* How many of key's baseline admissions come before request i. Requests are asked about in
 * increasing order, so the count only grows. */
static uint32_t admissions_before(struct next_run *r, uint32_t key, uint32_t i)
{
    const struct admissions *l = &r->b->by_slot[key];
    const uint32_t lo = r->seen[key];
    if (lo >= l->n || l->request[lo] >= i)
        return lo;
    /* The search starts where the list's share of all requests puts request i: the cursor of a
     * group no one looked at for a while is far behind. */
    const uint64_t ahead = (uint64_t)(i - l->request[lo]) * l->n / r->w->n;
    const uint32_t guess = ahead < l->n - lo ? lo + (uint32_t)ahead : l->n - 1;
    return r->seen[key] = sim__gallop_above_near(l->request, lo, l->n, (int64_t)i - 1, guess);
}

/* The baseline clocks of group key just before request i: the finishes of its last admission. */
static const mx_ns *baseline_before(struct next_run *r, uint32_t key, uint32_t i)
{
    uint32_t k = admissions_before(r, key, i);
    return k == 0 ? r->zeros : sim__record(r->b, r->b->by_slot[key].request[k - 1]) + REC_FINISH;
}

/* Group key's state while it is dirty (stride clocks, its width used). */
static inline mx_ns *dirty_state(const struct next_run *r, uint32_t key)
{
    return r->state + (size_t)key * r->stride;
}

/* The baseline's clocks of group key, dirty, just after the request simulated last: every request
 * it admitted in the baseline since it turned dirty was simulated again (it hosts their models, or
 * their replicas changed) and passed it its finishes (settle). */
static inline mx_ns *dirty_baseline(const struct next_run *r, uint32_t key)
{
    return r->passed + (size_t)key * r->stride;
}

/* Group key's clocks in the new run just before request i. */
static const mx_ns *clocks_before(struct next_run *r, uint32_t key, uint32_t i)
{
    return r->dirty[key] ? dirty_state(r, key) : baseline_before(r, key, i);
}

/* The clocks a group of n_stages stages keeps as its state. */
static inline uint32_t width(const struct next_run *r, uint32_t n_stages)
{
    return r->uniform ? 1 : n_stages;
}

/* Where the state of rep's group lies among the world's stage clocks. */
static inline mx_ns *state_in_clock(const struct next_run *r, const struct sim_replica *rep)
{
    return r->clock + (r->uniform ? rep->last_stage : rep->stage_base);
}

/* Set rep's group's stage clocks from its state. In the uniform form stage 0 is set idle (its
 * clock never matters: sim_eval_int.h), before the last, which may be the same stage. */
static inline void load_state(struct next_run *r, const struct sim_replica *rep, const mx_ns *state)
{
    if (r->uniform) {
        r->clock[rep->stage_base] = 0;
        r->clock[rep->last_stage] = state[0];
    } else {
        copy_stages(r->clock + rep->stage_base, state, rep->n_stages);
    }
}

/* Group key's state in the new run just before request i, which the baseline dispatched to it
 * when the group's last stage clock was *dispatched: in the uniform form, that clock is all of a
 * clean group's state. */
static const mx_ns *state_before_dispatched(struct next_run *r, uint32_t key, uint32_t i,
                                            const mx_ns *dispatched)
{
    return r->uniform && !r->dirty[key] ? dispatched : clocks_before(r, key, i);
}

/* Group key's last stage clock in its dirty state; rep is one of its replicas. */
static inline mx_ns dirty_last_clock(const struct next_run *r, uint32_t key,
                                     const struct sim_replica *rep)
{
    return dirty_state(r, key)[width(r, rep->n_stages) - 1];
}

/* Where group key `before`, to which the baseline dispatched request i, is listed among its model's
 * replicas reps[0..n) now, if a policy that ranks by last stage clocks may choose again among a few
 * of them (choose_among_changed); else -1. */
static int32_t listed_at(const struct next_run *r, const struct sim_replica *reps, uint32_t n,
                         int32_t before)
{
    if (!r->skip_clean || before < 0)
        return -1;
    const uint32_t *keys = r->s->keys;
    uint32_t at = 0;
    while (at < n && keys[reps[at].group] != (uint32_t)before)
        at++;
    return at < n ? (int32_t)at : -1;
}

/* The dispatch of request i under a policy that ranks by last stage clocks (ranks_by_last_clock:
 * the first replica whose last stage frees earliest, earliest-free's rule), which the baseline
 * dispatched to the group listed at `at` (key `before`) when that group's last stage clock was
 * rec[REC_DISPATCH] and every other group's at least rec[REC_RIVAL] (the rival bound).
 *
 * It looks at `before` (at its dispatch clock if clean), the dirty groups and some others; every
 * group it leaves out is clean and hosted the model then, so it still has its clock of then, at or
 * above the rival bound. So the choice among those it looked at stands
 *   - when their earliest clock is below the rival bound, whatever the order: it looks at the
 *     groups new to the model (added), and the choice stands if so; always when `before` is clean
 *     with its dispatch clock below the bound;
 *   - when `before` is clean and its dispatch clock tied the bound: it beat the others then with
 *     the clock it still has, and one that tied it was listed after it, which it still is if both
 *     are kept (kept replicas keep their order), and is moved if `before` is not (kept ones are a
 *     prefix of the baseline's list); so it looks at the moved ones, and the choice stands.
 * Returns the replica chosen, or -1 where the choice does not stand; the earliest clock among the
 * others it looked at in *rival (MX_NS_NEVER: none); sets no clocks. */
static int32_t choose_among_changed(struct next_run *r, uint32_t i, const struct sim_replica *reps,
                                    uint32_t first, uint32_t n, int32_t at, uint32_t before,
                                    const mx_ns *rec, mx_ns *rival)
{
    const uint32_t *keys = r->s->keys;
    const bool clean_before = !r->dirty[before];
    /* A clean `before` that tied the rival bound may win again only by the order kept. */
    const bool by_order = clean_before && rec[REC_DISPATCH] == rec[REC_RIVAL];
    const bool *looked = (by_order ? r->moved : r->added) + first;
    int32_t best = -1;
    mx_ns earliest = MX_NS_NEVER, second = MX_NS_NEVER;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t key = keys[reps[k].group];
        mx_ns c;
        if (r->dirty[key])
            c = dirty_last_clock(r, key, &reps[k]);
        else if ((int32_t)k == at)
            c = rec[REC_DISPATCH];
        else if (looked[k])
            c = baseline_before(r, key, i)[width(r, reps[k].n_stages) - 1];
        else
            continue;
        if (c < earliest) {
            second = earliest;
            earliest = c;
            best = (int32_t)k;
        } else if (c < second) {
            second = c;
        }
    }
    *rival = second;
    return by_order || earliest < rec[REC_RIVAL] ? best : -1;
}

/* Group key turns dirty (+1) or clean (-1): count it, and in a scan, for the models it hosts. */
static void count_dirty(struct next_run *r, uint32_t key, int delta)
{
    const int32_t g = r->group_of[key];
    if (g < 0)
        return; /* it left the placement: no request reaches it */
    r->n_dirty += (uint32_t)delta;
    if (!r->scan)
        return;
    const struct sim_group_spec *spec = &r->s->specs[g];
    for (uint32_t k = 0; k < spec->n_models; k++)
        r->hot[spec->models[k]] += (uint32_t)delta;
}

/* Group key's new state after request i is value; the baseline's is baseline_value; both n clocks
 * wide. */
static void settle(struct next_run *r, uint32_t key, const mx_ns *value,
                   const mx_ns *baseline_value, uint32_t n, uint32_t i)
{
    if (same_stages(value, baseline_value, n)) {
        if (r->dirty[key])
            count_dirty(r, key, -1);
        r->dirty[key] = false; /* (a stream notices when its cursor next comes up) */
        return;
    }
    mx_ns *state = dirty_state(r, key), *passed = dirty_baseline(r, key);
    if (state != value)
        copy_stages(state, value, n);
    if (passed != baseline_value)
        copy_stages(passed, baseline_value, n);
    if (r->dirty[key])
        return;
    r->dirty[key] = true;
    /* Every request of the group's models must now be looked at again (a key that left the
     * placement has no models). */
    count_dirty(r, key, +1);
    if (!r->scan && r->group_of[key] >= 0)
        wake_stream(r, key, i);
}

static void log_change(struct next_run *r, struct change c)
{
    if (r->n_changes == r->cap_changes) {
        r->cap_changes = r->cap_changes ? 2 * r->cap_changes : 256;
        r->changes = mx_realloc_array(r->changes, r->cap_changes, sizeof(*r->changes));
    }
    r->changes[r->n_changes++] = c;
}

static void defer_finish(struct next_run *r, uint32_t i, const mx_ns *finish, uint32_t n)
{
    if (r->n_pending == r->cap_pending) {
        r->cap_pending = r->cap_pending ? 2 * r->cap_pending : 256;
        r->pending_request = mx_realloc_array(r->pending_request, r->cap_pending, sizeof(uint32_t));
        r->pending_finish =
            mx_realloc_array(r->pending_finish, (size_t)r->cap_pending * r->stride, sizeof(mx_ns));
    }
    mx_ns *to = r->pending_finish + (size_t)r->n_pending * r->stride;
    r->pending_request[r->n_pending++] = i;
    copy_stages(to, finish, n);
    memset(to + n, 0, (r->stride - n) * sizeof(mx_ns)); /* all of it is copied */
}

/* Simulate request i (of model m) again. */
static void resimulate(struct next_run *r, uint32_t m, uint32_t i)
{
    struct sim_world *w = r->w;
    struct baseline *b = r->b;
    const struct sim_segment *seg = &w->segments[0];
    const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
    const struct sim_replica *reps = seg->replicas + begin;
    mx_ns *rec = sim__record(b, i);
    const int32_t from = sim__outcome_slot(rec[REC_OUTCOME]);
    const bool was_admitted = sim__outcome_admitted(rec[REC_OUTCOME]);
    const mx_ns old_dispatch = rec[REC_DISPATCH], old_rival = rec[REC_RIVAL];
    const mx_ns arrival = r->e->times[i].arrival, deadline = r->e->times[i].deadline;
    const struct sim_dispatch_query q = sim__eval_query(r->delays, arrival, deadline);
    const mx_ns ready = q.ready_ns;
    const int32_t at = listed_at(r, reps, n, from);
    mx_ns rival;
    int32_t chosen =
        at < 0 ? -1 : choose_among_changed(r, i, reps, begin, n, at, (uint32_t)from, rec, &rival);
    if (chosen >= 0) {
        /* Groups left out are at or above the old bound. */
        rival = old_rival < rival ? old_rival : rival;
        if (chosen == at && !r->dirty[from]) {
            /* The same clean group, so the same state and outcome as in the baseline. */
            rec[REC_RIVAL] = rival;
            b->rerun++;
            return;
        }
        load_state(r, &reps[chosen], clocks_before(r, r->s->keys[reps[chosen].group], i));
    } else {
        for (uint32_t k = 0; k < n; k++)
            load_state(r, &reps[k], clocks_before(r, r->s->keys[reps[k].group], i));
        const struct sim_view view = {w->groups, r->clock, NULL};
        const struct sim_dispatch_policy *policy = r->e->dispatch;
        chosen = sim__fast_choose(&view, reps, n, policy->choose, policy->may_refuse, &q);
        rival = chosen < 0 ? MX_NS_NEVER : sim__rival_clock(r->clock, reps, n, chosen);
    }
    const int32_t to = chosen < 0 ? -1 : (int32_t)r->s->keys[reps[chosen].group];
    bool admitted = false;
    mx_ns last = 0, started = 0;
    if (chosen >= 0) {
        const struct sim_replica *rep = &reps[chosen];
        rec[REC_DISPATCH] = r->clock[rep->last_stage];
        rec[REC_RIVAL] = rival;
        last =
            sim__fast_admit(r->clock, rep, r->uniform, &q, ready, r->s->spill, &admitted, &started);
    }
    const mx_ns *old_finish = rec + REC_FINISH;
    const uint32_t old_width = was_admitted ? width(r, (uint32_t)b->slot_pp[from]) : 0;
    const mx_ns old_last = was_admitted ? old_finish[old_width - 1] : 0;

    /* The group that admitted it in the baseline and does not now keeps its state from before. */
    if (was_admitted && !(admitted && to == from))
        settle(r, (uint32_t)from, state_before_dispatched(r, (uint32_t)from, i, &old_dispatch),
               old_finish, old_width, i);
    /* The group that admits it now takes its finishes. */
    if (admitted) {
        const struct sim_replica *rep = &reps[chosen];
        /* If the baseline's did not admit it, its clocks then are those before it: a dirty group's
         * are at hand, a clean one's were just looked up. */
        const mx_ns *base = was_admitted && from == to ? old_finish
                            : r->dirty[to]             ? dirty_baseline(r, (uint32_t)to)
                                                       : baseline_before(r, (uint32_t)to, i);
        mx_ns *now = state_in_clock(r, rep);
        settle(r, (uint32_t)to, now, base, width(r, rep->n_stages), i);
        defer_finish(r, i, now, width(r, rep->n_stages));
    }

    const mx_ns finish_before = sim__finish_ns(r->delays, old_last);
    const mx_ns finish_now = sim__finish_ns(r->delays, last);
    bool good_before = was_admitted && sim__good(finish_before, deadline);
    bool good_now = admitted && sim__good(finish_now, deadline);
    r->s->model_good[m] += (uint64_t)good_now - (uint64_t)good_before;
    if (from >= 0)
        b->slot_requests[from]--;
    if (to >= 0)
        b->slot_requests[to]++;
    b->latency_sum_ns +=
        (admitted ? finish_now - arrival : 0) - (was_admitted ? finish_before - arrival : 0);
    int32_t admitted_from = was_admitted ? from : -1, admitted_to = admitted ? to : -1;
    if (admitted_from != admitted_to)
        log_change(r, (struct change){i, admitted_from, admitted_to});
    rec[REC_OUTCOME] = sim__outcome(to, admitted);
    b->rerun++;
}

/* Apply the logged admission changes to the per-key lists: bucket them by key (keeping request
 * order), then edit each key's list. */
static void update_lists(struct next_run *r)
{
    struct baseline *b = r->b;
    const uint32_t keys = r->e->key_limit;
    struct admission_edit *edits =
        mx_malloc_array(2 * (size_t)r->n_changes + 1, sizeof(struct admission_edit));
    uint32_t *begin = MX_NEW_ARRAY(uint32_t, (size_t)keys + 1);
    uint32_t *fill = MX_NEW_ARRAY(uint32_t, (size_t)keys + 1);
    for (uint32_t c = 0; c < r->n_changes; c++) {
        if (r->changes[c].from >= 0)
            begin[r->changes[c].from + 1]++;
        if (r->changes[c].to >= 0)
            begin[r->changes[c].to + 1]++;
    }
    for (uint32_t k = 0; k < keys; k++)
        begin[k + 1] += begin[k];
    memcpy(fill, begin, keys * sizeof(uint32_t));
    for (uint32_t c = 0; c < r->n_changes; c++) {
        const struct change *ch = &r->changes[c];
        if (ch->from >= 0)
            edits[fill[ch->from]++] = (struct admission_edit){ch->request, false};
        if (ch->to >= 0)
            edits[fill[ch->to]++] = (struct admission_edit){ch->request, true};
    }
    struct admissions_scratch scratch = {0};
    for (uint32_t k = 0; k < keys; k++)
        if (begin[k] < begin[k + 1])
            sim__admissions_edit(&b->by_slot[k], k, edits + begin[k], begin[k + 1] - begin[k],
                                 &scratch);
    free(scratch.blocks);
    free(edits);
    free(begin);
    free(fill);
}

static void apply_pending(struct next_run *r)
{
    for (uint32_t k = 0; k < r->n_pending; k++)
        copy_stages(sim__record(r->b, r->pending_request[k]) + REC_FINISH,
                    r->pending_finish + (size_t)k * r->stride, r->stride);
}

/* Compare model m's replica keys (in dispatch order) with the baseline's: set r->changed[m], mark
 * in r->added[] its replicas on groups that did not host it, and in r->moved[] every replica but
 * those that list a prefix of the baseline's keys in their order (the kept ones). */
static void compare_replicas(struct next_run *r, uint32_t m)
{
    const struct sim_segment *seg = &r->w->segments[0];
    const struct baseline *b = r->b;
    const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
    const uint32_t *old = b->rep_slot + b->rep_begin[m];
    const uint32_t n_old = b->rep_begin[m + 1] - b->rep_begin[m];
    for (uint32_t k = 0; k < n_old; k++)
        r->hosted_by[old[k]] = m + 1;
    uint32_t j = 0;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t key = r->s->keys[seg->replicas[begin + k].group];
        const bool kept = j < n_old && key == old[j];
        r->added[begin + k] = r->hosted_by[key] != m + 1;
        r->moved[begin + k] = !kept;
        j += kept;
    }
    r->changed[m] = n != n_old || j != n_old;
}

static void next_run_init(struct next_run *r, struct sim_eval_state *s)
{
    const struct sim_eval *e = s->e;
    struct sim_world *w = &s->w;
    size_t keys = e->key_limit ? e->key_limit : 1, models = w->n_models ? w->n_models : 1;
    size_t stride = s->b.stride;
    *r = (struct next_run){.s = s,
                           .e = e,
                           .w = w,
                           .b = &s->b,
                           .stride = s->b.stride,
                           .uniform = s->b.uniform,
                           .skip_clean = e->dispatch->ranks_by_last_clock,
                           .n_models = w->n_models};
    r->delays = sim__delays(w->overhead_ns);
    r->clock = MX_NEW_ARRAY(mx_ns, w->n_stages ? w->n_stages : 1);
    r->zeros = MX_NEW_ARRAY(mx_ns, stride);
    r->group_of = mx_malloc_array(keys, sizeof(int32_t));
    r->seen = MX_NEW_ARRAY(uint32_t, keys);
    r->dirty = MX_NEW_ARRAY(bool, keys);
    r->state = mx_malloc_array(keys * stride, sizeof(mx_ns));
    r->passed = mx_malloc_array(keys * stride, sizeof(mx_ns));
    r->stream_active = MX_NEW_ARRAY(bool, keys);
    r->stream_at = MX_NEW_ARRAY(uint32_t, keys);
    r->heap = mx_malloc_array(models + keys, sizeof(struct cursor));
    r->changed = MX_NEW_ARRAY(bool, models);
    r->added = MX_NEW_ARRAY(bool, w->segments[0].rep_begin[w->n_models] + 1);
    r->moved = MX_NEW_ARRAY(bool, w->segments[0].rep_begin[w->n_models] + 1);
    r->hosted_by = MX_NEW_ARRAY(uint32_t, keys);
    for (size_t k = 0; k < keys; k++)
        r->group_of[k] = -1;
    for (uint32_t g = 0; g < w->n_groups; g++)
        r->group_of[s->keys[g]] = (int32_t)g;
}

static void next_run_release(struct next_run *r)
{
    free(r->clock);
    free(r->zeros);
    free(r->group_of);
    free(r->seen);
    free(r->dirty);
    free(r->hot);
    free(r->state);
    free(r->passed);
    free(r->stream_active);
    free(r->stream_at);
    free(r->heap);
    free(r->changed);
    free(r->added);
    free(r->moved);
    free(r->hosted_by);
    free(r->changes);
    free(r->pending_request);
    free(r->pending_finish);
}

/* Walk the requests that need it with the heap of cursors: the changed models' and the dirty
 * groups' streams. */
static void walk_streams(struct next_run *r)
{
    int64_t last_done = -1; /* the request re-simulated last */
    while (r->heap_n > 0) {
        /* The top stays in place while its request is simulated: cursors woken meanwhile start
         * after it. */
        const struct cursor c = r->heap[0];
        if (c.owner >= r->n_models && !r->dirty[c.owner - r->n_models]) {
            heap_pop(r);
            park_stream(r, c.owner - r->n_models, c.at); /* clean again */
            continue;
        }
        /* Several cursors may hold the same request: they come up one after another. */
        if ((int64_t)c.request != last_done) {
            /* A scan would have walked every request since the last while a group was dirty. */
            r->b->covered += r->n_dirty > 0 && last_done >= 0 ? c.request - (uint32_t)last_done : 1;
            resimulate(r, (uint32_t)r->w->model[c.request], c.request);
            last_done = c.request;
        }
        advance_top(r, c);
    }
}

/* Walk the requests in order from the first that needs it: while a group is dirty, every request,
 * simulating again those of models it hosts; while none is, from one changed model's request to
 * the next (the heap holds only their cursors). */
static void walk_all(struct next_run *r)
{
    const int32_t *model = r->w->model;
    const uint32_t n = (uint32_t)r->w->n;
    while (r->heap_n > 0) {
        uint32_t i = r->heap[0].request, from = i;
        for (;;) {
            const uint32_t m = (uint32_t)model[i];
            if (r->changed[m] || r->hot[m])
                resimulate(r, m, i);
            if (r->n_dirty == 0 || ++i == n)
                break;
        }
        r->b->covered += i - from + (i < n);
        while (r->heap_n > 0 && r->heap[0].request <= i)
            skip_top(r, i);
    }
}

void sim__eval_next(struct sim_eval_state *s)
{
    const struct sim_eval *e = s->e;
    struct sim_world *w = &s->w;
    struct next_run r;
    next_run_init(&r, s);
    /* Scan when the last run re-simulated at least 1 in SCAN_RATIO of the requests a scan walks
     * (or would have). */
    r.scan = s->b.covered > 0 && (uint64_t)s->b.rerun * SCAN_RATIO >= s->b.covered;
    s->walks[r.scan]++;
    if (r.scan)
        r.hot = MX_NEW_ARRAY(uint32_t, w->n_models ? w->n_models : 1);
    else
        sim__streams_update(s);
    s->b.rerun = 0;
    s->b.covered = 0;
    /* Every request of a model whose replicas changed is simulated again. */
    for (uint32_t m = 0; m < w->n_models; m++) {
        compare_replicas(&r, m);
        if (e->request_begin[m] < e->request_begin[m + 1] && r.changed[m])
            heap_push(&r, (struct cursor){e->request[e->request_begin[m]], m, e->request_begin[m]});
    }
    if (r.scan)
        walk_all(&r);
    else
        walk_streams(&r);
    update_lists(&r);
    apply_pending(&r);
    for (uint32_t g = 0; g < w->n_groups; g++)
        s->group_requests[g] = s->b.slot_requests[s->keys[g]];
    sim__baseline_layout(s);
    next_run_release(&r);
}
