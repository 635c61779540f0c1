/* Outstanding requests per group (sim_outstanding.h): allocation. */
#include "sim_outstanding.h"

#include "mx_alloc.h"

#include <stdlib.h>

void sim__outstanding_init(struct sim_outstanding *o, size_t n_requests, uint32_t n_groups)
{
    size_t groups = n_groups ? n_groups : 1;
    o->count = MX_NEW_ARRAY(uint32_t, groups);
    o->next = mx_malloc_array(n_requests ? n_requests : 1, sizeof(uint32_t));
    o->done_ns = mx_malloc_array(n_requests ? n_requests : 1, sizeof(mx_ns));
    for (int l = 0; l < SIM_OUT_LISTS; l++) {
        o->head[l] = mx_malloc_array(groups, sizeof(uint32_t));
        o->tail[l] = mx_malloc_array(groups, sizeof(uint32_t));
        for (uint32_t g = 0; g < n_groups; g++)
            o->head[l][g] = o->tail[l][g] = SIM_NIL;
    }
}

void sim__outstanding_release(struct sim_outstanding *o)
{
    free(o->count);
    free(o->next);
    free(o->done_ns);
    for (int l = 0; l < SIM_OUT_LISTS; l++) {
        free(o->head[l]);
        free(o->tail[l]);
    }
}
