/* The event queue: an array binary heap of events with their key inline.
 *
 * Events are ordered by (time, order), where order = kind << 56 | insertion sequence: at equal
 * times lower kinds go first (a stage finishing before a dispatch decision, see sim_event.c), and
 * within a kind events keep their insertion order, so ties are FIFO and every run is reproducible.
 * The heap is sized once; pushing past its capacity is a bug, except after sim__heap_reserve (for
 * the events whose number has no bound known in advance: finishes moved by interference). */
#ifndef SIM_HEAP_H
#define SIM_HEAP_H

#include "mx_alloc.h"
#include "mx_time.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_event {
    mx_ns time;
    uint64_t order; /* kind << 56 | sequence */
    uint32_t id;    /* request or job index */
    uint32_t group; /* global group index */
    uint16_t stage;
    uint8_t kind;
};

struct sim_heap {
    struct sim_event *events; /* private: [cap] */
    size_t n, cap;            /* read-only: pending events and capacity */
    uint64_t sequence;        /* private */
};

void sim__heap_init(struct sim_heap *h, size_t cap);
void sim__heap_release(struct sim_heap *h);
/* Make room for `extra` more events than are pending, doubling the capacity when short. */
void sim__heap_reserve(struct sim_heap *h, size_t extra);

static inline bool sim__event_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time < b->time || (a->time == b->time && a->order < b->order);
}

/* Add ev (its order is assigned from its kind and the insertion count). */
static inline void sim__heap_push(struct sim_heap *h, struct sim_event ev)
{
    if (h->n == h->cap)
        MX_BUG("event heap overflow at %zu events", h->cap);
    ev.order = (uint64_t)ev.kind << 56 | h->sequence++;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!sim__event_before(&ev, &h->events[parent]))
            break;
        h->events[i] = h->events[parent];
        i = parent;
    }
    h->events[i] = ev;
}

/* Remove and return the first event. The heap must not be empty. */
static inline struct sim_event sim__heap_pop(struct sim_heap *h)
{
    struct sim_event top = h->events[0];
    struct sim_event last = h->events[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && sim__event_before(&h->events[child + 1], &h->events[child]))
            child++;
        if (!sim__event_before(&h->events[child], &last))
            break;
        h->events[i] = h->events[child];
        i = child;
    }
    if (n > 0)
        h->events[i] = last;
    return top;
}

#endif
