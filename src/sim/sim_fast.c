/* The fast path (DESIGN §4.6): the §4.4 recurrence in one pass over a segment's requests.
 *
 * Valid without batching and with constant overheads. Then a request's dispatch decision and its
 * admission can be computed together, in trace order: the controller's view of a group equals the
 * group's own stage clocks, because every earlier request's admission is already known. The only
 * state that depends on time rather than order is the outstanding count of least-outstanding: each
 * group keeps two FIFO lists of requests in flight (admitted ones finish in admission order; refused
 * ones are refused in dispatch order), and a decision at time t first retires everything in them that
 * completed at or before t. The event engine orders events so that it sees the same counts.
 *
 * Nothing is allocated inside the loop; everything is sized before it. */
#include "sim_int.h"

#include "mx_alloc.h"
#include "sim_dispatch.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* Requests in flight per group, for least-outstanding: intrusive FIFO lists through next[]. */
struct in_flight {
    uint32_t *next;      /* [requests of the segment] */
    mx_ns *done_ns;      /* [requests of the segment] when the request stops being outstanding */
    uint32_t *head[2];   /* [groups] 0: admitted, 1: refused at admission */
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

void sim__fast_run_segment(const struct sim_world *w, uint32_t segment, const struct sim_options *o,
                           struct sim_results *r)
{
    const struct sim_segment *seg = &w->segments[segment];
    const struct sim_dispatch_policy *policy = o->dispatch;
    const bool count_outstanding = policy->needs_outstanding;
    const mx_ns client = w->overhead_ns[SIM_OH_CLIENT], dispatch = w->overhead_ns[SIM_OH_DISPATCH];
    const mx_ns exec = w->overhead_ns[SIM_OH_EXEC], fixed = w->overhead_ns[SIM_OH_FIXED];
    const mx_ns reply = w->overhead_ns[SIM_OH_REPLY];
    const size_t first = seg->first;
    const uint32_t n_replicas = seg->rep_begin[w->n_models];

    mx_ns *clock = MX_NEW_ARRAY(mx_ns, w->n_stages);
    uint32_t *outstanding = MX_NEW_ARRAY(uint32_t, w->n_groups);
    uint64_t *admitted = MX_NEW_ARRAY(uint64_t, n_replicas);
    mx_ns *finish = MX_NEW_ARRAY(mx_ns, w->max_stages ? w->max_stages : 1);
    struct in_flight flight = {0};
    if (count_outstanding)
        in_flight_init(&flight, seg->end - first, w->n_groups);
    const struct sim_view view = {w->groups, clock, outstanding};

    for (size_t i = first; i < seg->end; i++) {
        const uint32_t m = (uint32_t)w->model[i];
        const uint32_t begin = seg->rep_begin[m], n = seg->rep_begin[m + 1] - begin;
        const mx_ns decided = w->arrival_ns[i] + client;
        const mx_ns deadline = w->deadline_ns[i];
        r->start_ns[i] = MX_NS_NEVER;
        r->exec_ns[i] = 0;
        r->batch[i] = 0;
        if (n == 0) {
            r->status[i] = SIM_NO_REPLICA;
            r->group[i] = -1;
            r->finish_ns[i] = decided;
            continue;
        }
        const struct sim_replica *reps = seg->replicas + begin;
        if (count_outstanding)
            for (uint32_t k = 0; k < n; k++)
                in_flight_retire(&flight, reps[k].group, decided, outstanding);
        const struct sim_dispatch_query q = {decided + dispatch + exec, deadline - fixed};
        const int32_t chosen = policy->choose(&view, reps, n, &q);
        if (chosen < 0) {
            r->status[i] = SIM_REJECTED;
            r->group[i] = -1;
            r->finish_ns[i] = decided;
            continue;
        }
        const struct sim_replica *rep = &reps[chosen];
        const uint32_t g = rep->group;
        mx_ns *gclock = clock + w->groups[g].stage_base;
        const mx_ns received = decided + dispatch;
        const mx_ns last = sim__predict(gclock, rep->latency_ns, rep->n_stages, received + exec,
                                        finish);
        r->group[i] = (int32_t)g;
        if (last + fixed > deadline) {
            r->status[i] = SIM_REJECTED;
            r->finish_ns[i] = received;
            if (count_outstanding && dispatch > 0) {
                outstanding[g]++;
                in_flight_push(&flight, 1, g, (uint32_t)(i - first), received);
            }
            continue;
        }
        memcpy(gclock, finish, rep->n_stages * sizeof(mx_ns));
        admitted[begin + (uint32_t)chosen]++;
        r->start_ns[i] = finish[0] - rep->latency_ns[0];
        r->finish_ns[i] = last + reply;
        r->exec_ns[i] = rep->sum_ns;
        r->batch[i] = 1;
        r->status[i] = last + reply <= deadline ? SIM_GOOD : SIM_LATE;
        if (count_outstanding) {
            outstanding[g]++;
            in_flight_push(&flight, 0, g, (uint32_t)(i - first), last);
        }
    }

    /* Busy time: each admitted request kept each stage of its group busy for its latency there. */
    for (uint32_t k = 0; k < n_replicas; k++) {
        const struct sim_replica *rep = &seg->replicas[k];
        mx_ns *busy = r->busy_ns + w->groups[rep->group].stage_base;
        for (uint32_t s = 0; s < rep->n_stages; s++)
            busy[s] += (mx_ns)admitted[k] * rep->latency_ns[s];
    }
    if (count_outstanding)
        in_flight_release(&flight);
    free(finish);
    free(admitted);
    free(outstanding);
    free(clock);
}
