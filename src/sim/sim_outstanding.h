/* Outstanding requests per group, for least-outstanding dispatch (docs/simulator.md): a request counts at
 * its group from its dispatch until it finishes its last stage, or until the group refuses it
 * (after the dispatch overhead). The fast path knows both ends at dispatch time; the runtime's
 * controller knows the refusals' (its admitted requests end when the stages say so). Both keep the
 * requests whose end is known in per-group FIFO lists, each in the order those ends come, and
 * retire them before every decision at a group: at equal times an end goes first. Internal to
 * src/sim. */
#ifndef SIM_OUTSTANDING_H
#define SIM_OUTSTANDING_H

#include "mx_time.h"

#include <stddef.h>
#include <stdint.h>

#define SIM_NIL UINT32_MAX

/* Which list a request waits in: ends come in order within each. */
enum sim_outstanding_list {
    SIM_OUT_ADMITTED, /* ends at its last stage's finish: groups finish in admission order */
    SIM_OUT_REFUSED,  /* ends when its group refuses it: in dispatch order */
    SIM_OUT_LISTS
};

struct sim_outstanding {
    uint32_t *count; /* [groups] outstanding requests: what least-outstanding reads */
    uint32_t *next;  /* [requests] intrusive list links, by request index */
    mx_ns *done_ns;  /* [requests] when the request stops being outstanding */
    uint32_t *head[SIM_OUT_LISTS], *tail[SIM_OUT_LISTS]; /* [groups] */
};

/* Zero counts and empty lists for n_requests requests (indices below it) over n_groups groups. */
void sim__outstanding_init(struct sim_outstanding *o, size_t n_requests, uint32_t n_groups);
void sim__outstanding_release(struct sim_outstanding *o);

/* Request req (an index below n_requests) is dispatched to group g: it counts until done_ns. */
static inline void sim__outstanding_push(struct sim_outstanding *o, enum sim_outstanding_list list,
                                         uint32_t g, uint32_t req, mx_ns done_ns)
{
    o->count[g]++;
    o->next[req] = SIM_NIL;
    o->done_ns[req] = done_ns;
    if (o->tail[list][g] == SIM_NIL)
        o->head[list][g] = req;
    else
        o->next[o->tail[list][g]] = req;
    o->tail[list][g] = req;
}

/* Retire from group g every listed request that ended at or before now. */
static inline void sim__outstanding_retire(struct sim_outstanding *o, uint32_t g, mx_ns now)
{
    for (int l = 0; l < SIM_OUT_LISTS; l++) {
        uint32_t req = o->head[l][g];
        while (req != SIM_NIL && o->done_ns[req] <= now) {
            o->count[g]--;
            req = o->next[req];
        }
        o->head[l][g] = req;
        if (req == SIM_NIL)
            o->tail[l][g] = SIM_NIL;
    }
}

#endif
