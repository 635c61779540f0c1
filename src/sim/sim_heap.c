/* Event heap storage; the operations are inline in sim_heap.h. */
#include "sim_heap.h"

#include <stdlib.h>

void sim__heap_init(struct sim_heap *h, size_t cap)
{
    h->events = mx_malloc_array(cap ? cap : 1, sizeof(struct sim_event));
    h->n = 0;
    h->cap = cap;
    h->sequence = 0;
}

void sim__heap_release(struct sim_heap *h)
{
    free(h->events);
    h->events = NULL;
    h->n = h->cap = 0;
}

void sim__heap_reserve(struct sim_heap *h, size_t extra)
{
    if (h->n + extra <= h->cap)
        return;
    size_t cap = 2 * h->cap > h->n + extra ? 2 * h->cap : h->n + extra;
    h->events = mx_realloc_array(h->events, cap, sizeof(struct sim_event));
    h->cap = cap;
}
