/* Internals of the planner's evaluator, shared by the full runs (sim_eval.c), the recording run
 * that starts a baseline (sim_eval_record.c), the incremental runs (sim_eval_next.c) and the
 * groups' request streams they walk (sim_eval_stream.c).
 *
 * Incremental runs walk each changed model's requests in order: they are listed model by model,
 * model m's at request[request_begin[m] .. request_begin[m + 1]) in request order. Per-request data
 * stays in request order, where an incremental run's sweep reads it nearly sequentially. */
#ifndef SIM_EVAL_INT_H
#define SIM_EVAL_INT_H

#include "sim_eval.h"
#include "sim_eval_llm.h"
#include "sim_int.h"
#include "sim_request_index.h"
#include "sim_rules.h"

#include <pthread.h>
#include <stdbool.h>

/* A profiled config of a model, compiled. */
struct eval_config {
    int32_t op, pp;
    uint32_t entry; /* in the tables */
};

struct sim_eval {
    struct eval_llm *llm;            /* decoder mode (sim_eval_llm.h), or NULL */
    struct spec_overheads overheads; /* the cluster's, with every term at its mean */
    struct sim_world base;           /* requests, overheads and tables; no segments */
    int32_t *model;                  /* [n] the trace's, in huge pages: base.model points here */
    const struct sim_dispatch_policy *dispatch;
    uint32_t key_limit;     /* group keys are below this (the cluster's devices) */
    uint32_t stride;        /* the most stages any config has */
    uint32_t *config_begin; /* [n_models + 1] */
    struct eval_config *configs;
    /* Made by the first incremental run (sim_eval_run_next), under order_lock. */
    const struct wl_trace *trace;
    pthread_mutex_t order_lock;
    uint32_t *request_begin; /* [n_models + 1] */
    uint32_t *request;       /* [n] each model's requests */
    struct eval_times {
        mx_ns arrival, deadline;
    } * times; /* [n] by request, side by side for the incremental run */
    /* The per-request arrays that the incremental run reads at random (model, request, times and
     * the baseline's records) are in huge pages (mx_malloc_huge). */
};

/* A group's admissions in the baseline: their requests, in order. */
struct admissions {
    uint32_t *request;
    uint32_t n, cap;
};

/* What the last evaluation did, per request and per group key: the baseline an incremental
 * evaluation starts from. */
struct baseline {
    bool valid;
    /* Per request, in request order, `words` words (REC_*): its outcome; when it was dispatched,
     * the last stage clock of the group it went to and a lower bound on those of its model's other
     * groups; then its stage finishes if it was admitted. One place, so that the incremental run
     * loads a request with one miss; as narrow as the recorded placement allows (n * words * 8
     * bytes per state). */
    mx_ns *record;
    /* Recorded in the uniform form (sim__uniform_form): a group's state is its last stage's clock
     * alone, since every group started empty and stage 0 then never delays a uniform pipeline
     * (sim__admit_uniform in sim_rules.h). */
    bool uniform;
    uint32_t stride; /* clocks a group's state has: 1 if uniform, else the most stages of any
                        group of the recorded placement (at least 1) */
    uint32_t words;  /* REC_FINISH + stride */
    struct admissions *by_slot; /* [key_limit] */
    uint32_t *rep_begin;        /* [n_models + 1] each model's replica keys, in dispatch order */
    uint32_t *rep_slot;
    int32_t *slot_op, *slot_pp; /* [key_limit] the config of each key's group; pp 0: no group */
    uint64_t *slot_requests;    /* [key_limit] requests dispatched to each group */
    mx_ns latency_sum_ns;
    uint32_t rerun;   /* requests the last incremental evaluation re-simulated */
    uint64_t covered; /* requests a scan passed in it, or would have (sim_eval_next.c); 0 after a
                         full run */
};

/* A request's record in the baseline: word indices. The outcome is sim__outcome(slot, admitted);
 * the dispatch clock and the rival bound (MX_NS_NEVER: no other group) are meaningful when the slot
 * is not -1. */
enum { REC_OUTCOME, REC_DISPATCH, REC_RIVAL, REC_FINISH };

/* The first of the sorted values at[lo .. end) above `after`, as an index (end if none), by
 * bisection. */
static inline uint32_t sim__bisect_above(const uint32_t *at, uint32_t lo, uint32_t end,
                                         int64_t after)
{
    while (lo < end) {
        uint32_t mid = lo + (end - lo) / 2;
        if ((int64_t)at[mid] <= after)
            lo = mid + 1;
        else
            end = mid;
    }
    return lo;
}

/* The first of the sorted values at[lo .. hi) above `after`, as an index (hi if none), galloping
 * from lo: cheap when the answer is near lo. */
static inline uint32_t sim__gallop_above(const uint32_t *at, uint32_t lo, uint32_t hi,
                                         int64_t after)
{
    uint32_t step = 1, end = lo;
    while (end < hi && (int64_t)at[end] <= after) {
        lo = end + 1;
        end = step < hi - end ? end + step : hi;
        step *= 2;
    }
    return sim__bisect_above(at, lo, end, after);
}

/* The first of the sorted values at[lo .. hi) above `after`, as an index (hi if none), galloping
 * from `guess` (in [lo, hi)) forward or back: cheap when the answer is near the guess. */
static inline uint32_t sim__gallop_above_near(const uint32_t *at, uint32_t lo, uint32_t hi,
                                              int64_t after, uint32_t guess)
{
    if ((int64_t)at[guess] <= after)
        return sim__gallop_above(at, guess + 1, hi, after);
    /* The answer is in [lo, guess]: step back from the guess to a value at or below `after`. */
    uint32_t step = 1, end = guess;
    while (end > lo) {
        uint32_t start = step < end - lo ? end - step : lo;
        if ((int64_t)at[start] <= after) {
            lo = start + 1;
            break;
        }
        end = start;
        step *= 2;
    }
    return sim__bisect_above(at, lo, end, after);
}

/* The earliest last stage clock among replicas reps[0..n) other than `chosen`, in clock. */
static inline mx_ns sim__rival_clock(const mx_ns *clock, const struct sim_replica *reps, uint32_t n,
                                     int32_t chosen)
{
    mx_ns earliest = MX_NS_NEVER;
    for (uint32_t k = 0; k < n; k++) {
        const mx_ns c = clock[reps[k].last_stage];
        earliest = (int32_t)k != chosen && c < earliest ? c : earliest;
    }
    return earliest;
}

static inline mx_ns sim__outcome(int32_t slot, bool admitted)
{
    return ((mx_ns)slot + 1) * 2 + admitted;
}

static inline int32_t sim__outcome_slot(mx_ns outcome)
{
    return (int32_t)(outcome / 2) - 1;
}

static inline bool sim__outcome_admitted(mx_ns outcome)
{
    return outcome & 1;
}

static inline mx_ns *sim__record(const struct baseline *b, size_t i)
{
    return b->record + i * b->words;
}

/* The requests of the models a group key hosts, in request order: what a dirty group makes the
 * incremental run look at again (sim_eval_stream.c). */
struct group_stream {
    uint32_t *request;
    uint32_t n, cap;
    uint32_t *models; /* the model set it lists, sorted */
    uint32_t n_models, cap_models;
    struct request_index index;
};

/* Every key's stream, and the scratch their edits reuse. */
struct stream_set {
    struct group_stream *by_key; /* [key_limit], allocated on first use */
    uint32_t *mark, epoch;       /* [n_models] membership marks */
    uint32_t *scratch, scratch_cap;
    uint32_t *set, set_cap;         /* a group's models, sorted */
    uint32_t *changed, changed_cap; /* groups whose model set changed */
};

struct sim_eval_state {
    const struct sim_eval *e;
    struct sim_world w; /* borrows base's requests and tables */
    uint32_t groups_cap, replicas_cap;
    struct sim_group_spec *specs;          /* [groups_cap] */
    uint32_t *entries;                     /* [replicas_cap] */
    uint32_t *keys;                        /* [groups_cap] key of each group of the placement */
    int32_t *ops;                          /* [groups_cap] op of each group (pp: its stages) */
    uint32_t *key_seen, key_epoch;         /* [key_limit] to check keys are unique */
    uint64_t *model_requests, *model_good; /* [n_models] */
    uint64_t *group_requests;              /* [groups_cap] */
    mx_ns *spill;                          /* [stride] */
    uint64_t simulated;                    /* requests the last evaluation simulated */
    uint64_t walks[2];                     /* incremental runs by walk: streams, scan */
    struct baseline b;
    struct stream_set streams;
};

/* A request on the fast path with constant overheads d, arriving at arrival_ns: the controller's
 * query for it (when it may start stage 0, the latest finish admission accepts). */
static inline struct sim_dispatch_query sim__eval_query(struct sim_delays d, mx_ns arrival_ns,
                                                        mx_ns deadline_ns)
{
    return sim__query(d, sim__decided_ns(d, arrival_ns), deadline_ns);
}

/* Set up the state's world for placement p (no simulation). */
void sim__eval_place(struct sim_eval_state *s, const struct spec_placement *p);

/* Fill out from the state's counters. */
void sim__eval_result(struct sim_eval_state *s, mx_ns latency_sum_ns, struct sim_eval_result *out);

/* A full run of the placed world that records the baseline (sim_eval_record.c); only for dispatch
 * policies that read no outstanding counts. */
void sim__eval_record(struct sim_eval_state *s);

/* Record the placed world's layout (replica keys in dispatch order, each key's config) as the
 * baseline's. */
void sim__baseline_layout(struct sim_eval_state *s);

void sim__baseline_release(struct baseline *b, uint32_t key_limit);

/* Append to a group's admissions (sim_eval_admissions.c). */
void sim__admissions_push(struct admissions *l, uint32_t request);

/* A change to a group's admissions: a request joins them or leaves them. */
struct admission_edit {
    uint32_t request;
    bool insert; /* joins */
};

/* What sim__admissions_edit reuses from one call to the next; zero-initialised, freed by the
 * caller (blocks). */
struct admissions_scratch {
    struct admissions_block *blocks;
    uint32_t cap;
};

/* Apply n edits, in request order, to l, group key's list, in place: a request that leaves must be
 * in l, one that joins must not (a bug otherwise, whose message names the key). Cost: the edits'
 * searches plus the entries that move, which are none between edits that cancel out. */
void sim__admissions_edit(struct admissions *l, uint32_t key, const struct admission_edit *edits,
                          uint32_t n, struct admissions_scratch *scratch);

/* Bring the stream of every group of the placed world up to date with its models. */
void sim__streams_update(struct sim_eval_state *s);

void sim__streams_release(struct stream_set *ss, uint32_t key_limit);

/* The incremental run (sim_eval_next.c): s's world is placed and the baseline valid, with the
 * same config at every key both have. */
void sim__eval_next(struct sim_eval_state *s);

#endif
