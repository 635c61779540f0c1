/* The fast path (DESIGN §4.6): the §4.4 recurrence in one pass over a segment's requests.
 *
 * Valid without batching and with constant overheads. Then a request's dispatch decision and its
 * admission can be computed together, in trace order: the controller's view of a group equals the
 * group's own stage clocks, because every earlier request's admission is already known. The only
 * state that depends on time rather than order is the outstanding count of least-outstanding: each
 * group keeps two FIFO lists of requests in flight (admitted ones finish in admission order;
 * refused ones are refused in dispatch order), and a decision at time t first retires everything in
 * them that completed at or before t. The event engine orders events so that it sees the same
 * counts.
 *
 * Nothing is allocated inside the loop; everything is sized before it. */
#include "sim_fast_step.h"
#include "sim_int.h"

#include "mx_alloc.h"
#include "sim_dispatch.h"
#include "sim_dispatch_best_finish.h"
#include "sim_dispatch_earliest_free.h"
#include "sim_dispatch_least_outstanding.h"

#include <stdlib.h>

#define NIL UINT32_MAX

/* Requests in flight per group, for least-outstanding: intrusive FIFO lists through next[]. */
struct in_flight {
    uint32_t *next;    /* [requests of the segment] */
    mx_ns *done_ns;    /* [requests of the segment] when the request stops being outstanding */
    uint32_t *head[2]; /* [groups] 0: admitted, 1: refused at admission */
    uint32_t *tail[2];
};

static void in_flight_init(struct in_flight *f, size_t n_requests, uint32_t n_groups)
{
    f->next = mx_malloc_array(n_requests, sizeof(uint32_t));
    f->done_ns = mx_malloc_array(n_requests, sizeof(mx_ns));
    for (int l = 0; l < 2; l++) {
        f->head[l] = mx_malloc_array(n_groups, sizeof(uint32_t));
        f->tail[l] = mx_malloc_array(n_groups, sizeof(uint32_t));
        for (uint32_t g = 0; g < n_groups; g++)
            f->head[l][g] = f->tail[l][g] = NIL;
    }
}

static void in_flight_release(struct in_flight *f)
{
    free(f->next);
    free(f->done_ns);
    for (int l = 0; l < 2; l++) {
        free(f->head[l]);
        free(f->tail[l]);
    }
}

static void in_flight_push(struct in_flight *f, int list, uint32_t g, uint32_t req, mx_ns done_ns)
{
    f->next[req] = NIL;
    f->done_ns[req] = done_ns;
    if (f->tail[list][g] == NIL)
        f->head[list][g] = req;
    else
        f->next[f->tail[list][g]] = req;
    f->tail[list][g] = req;
}

/* Retire from group g every request that completed at or before now. */
static void in_flight_retire(struct in_flight *f, uint32_t g, mx_ns now, uint32_t *outstanding)
{
    for (int l = 0; l < 2; l++) {
        uint32_t req = f->head[l][g];
        while (req != NIL && f->done_ns[req] <= now) {
            outstanding[g]--;
            req = f->next[req];
        }
        f->head[l][g] = req;
        if (req == NIL)
            f->tail[l][g] = NIL;
    }
}

/* The loop over one segment. Always inlined into one copy per dispatch policy, output mode and
 * admission form below, with the policy's choice and flags as constants, so each copy carries only
 * the code it needs. Per-request mode fills r; counting mode (the planner's) only adds to c.
 * uniform: the segment is, and the policy reads no inner stage's clock (admit_uniform). */
static inline __attribute__((always_inline)) void
run_segment(const struct sim_world *w, uint32_t segment, choose_fn choose,
            const bool count_outstanding, const bool may_refuse, const bool uniform,
            const bool counting, struct sim_results *r, struct sim_counts *c)
{
    const struct sim_segment *seg = &w->segments[segment];
    const mx_ns client = w->overhead_ns[SPEC_OH_CLIENT],
                dispatch = w->overhead_ns[SPEC_OH_DISPATCH];
    const mx_ns exec = w->overhead_ns[SPEC_OH_EXEC], fixed = w->overhead_ns[SPEC_OH_FIXED];
    const mx_ns reply = w->overhead_ns[SPEC_OH_REPLY];
    const size_t first = seg->first, end = seg->end;
    const uint32_t n_replicas = seg->rep_begin[w->n_models];
    const uint32_t *restrict rep_begin = seg->rep_begin;
    const struct sim_replica *restrict replicas = seg->replicas;

    /* Local restrict copies: the result arrays never alias each other or the inputs, and saying
     * so keeps their pointers in registers across the byte-sized status stores. */
    const mx_ns *restrict arrival = w->arrival_ns;
    const mx_ns *restrict deadline_of = w->deadline_ns;
    const int32_t *restrict model = w->model;
    uint8_t *restrict status = counting ? NULL : r->status;
    int32_t *restrict group = counting ? NULL : r->group;
    mx_ns *restrict start = counting ? NULL : r->start_ns;
    mx_ns *restrict finish = counting ? NULL : r->finish_ns;
    mx_ns *restrict executed = counting ? NULL : r->exec_ns;
    uint16_t *restrict batch = counting ? NULL : r->batch;
    uint64_t *restrict model_requests = counting ? c->model_requests : NULL;
    uint64_t *restrict model_good = counting ? c->model_good : NULL;
    uint64_t *restrict group_requests = counting ? c->group_requests : NULL;
    mx_ns latency_sum = 0;

    mx_ns *restrict clock = MX_NEW_ARRAY(mx_ns, w->n_stages);
    /* Groups loading weights at the segment's start serve nothing before they are done. */
    for (uint32_t g = seg->first_group; g < seg->first_group + seg->n_groups; g++)
        for (uint32_t k = 0; k < w->groups[g].n_stages; k++)
            clock[w->groups[g].stage_base + k] = w->groups[g].ready_ns;
    uint32_t *outstanding = MX_NEW_ARRAY(uint32_t, w->n_groups);
    uint64_t *restrict admitted = MX_NEW_ARRAY(uint64_t, n_replicas);
    mx_ns *restrict saved = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    struct in_flight flight = {0};
    if (count_outstanding)
        in_flight_init(&flight, end - first, w->n_groups);
    const struct sim_view view = {w->groups, clock, outstanding};

    for (size_t i = first; i < end; i++) {
        const uint32_t m = (uint32_t)model[i];
        const uint32_t begin = rep_begin[m], n = rep_begin[m + 1] - begin;
        const mx_ns decided = arrival[i] + client;
        const mx_ns deadline = deadline_of[i];
        if (counting)
            model_requests[m]++;
        const struct sim_replica *reps = replicas + begin;
        if (count_outstanding)
            for (uint32_t k = 0; k < n; k++)
                in_flight_retire(&flight, reps[k].group, decided, outstanding);
        const mx_ns received = decided + dispatch, ready = received + exec;
        const struct sim_dispatch_query q = {ready, deadline - fixed};
        bool accepted = false;
        mx_ns last = 0, started = 0;
        const int32_t chosen = sim__fast_decide(&view, clock, reps, n, choose, may_refuse, uniform,
                                                &q, ready, saved, &accepted, &last, &started);
        if (chosen < 0) {
            if (!counting) {
                status[i] = n == 0 ? SIM_NO_REPLICA : SIM_REJECTED;
                group[i] = -1;
                start[i] = MX_NS_NEVER;
                finish[i] = decided;
                executed[i] = 0;
                batch[i] = 0;
            }
            continue;
        }
        const struct sim_replica *rep = &reps[chosen];
        const uint32_t g = rep->group;
        if (counting)
            group_requests[g]++;
        else
            group[i] = (int32_t)g;
        if (!accepted) {
            if (!counting) {
                status[i] = SIM_REJECTED;
                start[i] = MX_NS_NEVER;
                finish[i] = received;
                executed[i] = 0;
                batch[i] = 0;
            }
            if (count_outstanding && dispatch > 0) {
                outstanding[g]++;
                in_flight_push(&flight, 1, g, (uint32_t)(i - first), received);
            }
            continue;
        }
        admitted[begin + (uint32_t)chosen]++;
        if (counting) {
            model_good[m] += last + reply <= deadline;
            latency_sum += last + reply - arrival[i];
        } else {
            start[i] = started;
            finish[i] = last + reply;
            executed[i] = rep->sum_ns;
            batch[i] = 1;
            status[i] = last + reply <= deadline ? SIM_GOOD : SIM_LATE;
        }
        if (count_outstanding) {
            outstanding[g]++;
            in_flight_push(&flight, 0, g, (uint32_t)(i - first), last);
        }
    }

    if (counting) {
        c->latency_sum_ns += latency_sum;
    } else {
        /* Busy time: each admitted request kept each stage of its group busy for its latency. */
        for (uint32_t k = 0; k < n_replicas; k++) {
            const struct sim_replica *rep = &replicas[k];
            mx_ns *busy = r->busy_ns + rep->stage_base;
            for (uint32_t s = 0; s < rep->n_stages; s++)
                busy[s] += (mx_ns)admitted[k] * rep->latency_ns[s];
        }
    }
    if (count_outstanding)
        in_flight_release(&flight);
    free(saved);
    free(admitted);
    free(outstanding);
    free(clock);
}

typedef void (*segment_fn)(const struct sim_world *, uint32_t, struct sim_results *,
                           struct sim_counts *);

/* One copy per output mode (run: per request; count) and admission form (general; _uniform). */
#define SPECIALISE_FORM(name, NAME, suffix, uniform)                                               \
    static void run_##name##suffix(const struct sim_world *w, uint32_t segment,                    \
                                   struct sim_results *r, struct sim_counts *c)                    \
    {                                                                                              \
        run_segment(w, segment, sim__choose_##name, SIM_##NAME##_NEEDS_OUTSTANDING,                \
                    SIM_##NAME##_MAY_REFUSE, uniform, false, r, c);                                \
    }                                                                                              \
    static void count_##name##suffix(const struct sim_world *w, uint32_t segment,                  \
                                     struct sim_results *r, struct sim_counts *c)                  \
    {                                                                                              \
        run_segment(w, segment, sim__choose_##name, SIM_##NAME##_NEEDS_OUTSTANDING,                \
                    SIM_##NAME##_MAY_REFUSE, uniform, true, r, c);                                 \
    }
#define SPECIALISE(name, NAME)                                                                     \
    SPECIALISE_FORM(name, NAME, , false)                                                           \
    SPECIALISE_FORM(name, NAME, _uniform, true)
SPECIALISE(least_outstanding, LEAST_OUTSTANDING)
SPECIALISE(earliest_free, EARLIEST_FREE)
SPECIALISE_FORM(best_finish, BEST_FINISH, , false)
#undef SPECIALISE
#undef SPECIALISE_FORM

/* Per policy: the general copies, and the uniform ones of the policies that read no inner stage's
 * clock (best-finish predicts through every stage: sim__uniform_form never picks its NULLs). */
static const struct {
    const struct sim_dispatch_policy *policy;
    segment_fn run, count, run_uniform, count_uniform;
} specialised[] = {
    {&sim_dispatch_least_outstanding, run_least_outstanding, count_least_outstanding,
     run_least_outstanding_uniform, count_least_outstanding_uniform},
    {&sim_dispatch_earliest_free, run_earliest_free, count_earliest_free, run_earliest_free_uniform,
     count_earliest_free_uniform},
    {&sim_dispatch_best_finish, run_best_finish, count_best_finish, NULL, NULL},
};

static void run_any(const struct sim_world *w, uint32_t segment,
                    const struct sim_dispatch_policy *policy, struct sim_results *r,
                    struct sim_counts *c)
{
    const bool uniform = sim__uniform_form(&w->segments[segment], policy);
    for (size_t k = 0; k < sizeof(specialised) / sizeof(specialised[0]); k++)
        if (specialised[k].policy == policy) {
            if (uniform)
                (c ? specialised[k].count_uniform : specialised[k].run_uniform)(w, segment, r, c);
            else
                (c ? specialised[k].count : specialised[k].run)(w, segment, r, c);
            return;
        }
    /* A policy added to the table without a specialisation: its choice through the pointer. */
    if (c)
        run_segment(w, segment, policy->choose, policy->needs_outstanding, policy->may_refuse,
                    uniform, true, r, c);
    else
        run_segment(w, segment, policy->choose, policy->needs_outstanding, policy->may_refuse,
                    uniform, false, r, c);
}

void sim__fast_run_segment(const struct sim_world *w, uint32_t segment, const struct sim_options *o,
                           struct sim_results *r)
{
    run_any(w, segment, o->dispatch, r, NULL);
}

void sim__fast_count_segment(const struct sim_world *w, uint32_t segment,
                             const struct sim_dispatch_policy *policy, struct sim_counts *c)
{
    run_any(w, segment, policy, NULL, c);
}
