/* Placements (spec_placement.h): group membership and copies. */
#include "spec_placement.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

bool spec_group_has(const struct spec_group *g, uint32_t model)
{
    uint32_t lo = 0, hi = g->n_models;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (g->models[mid] < model)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n_models && g->models[lo] == model;
}

void spec_group_add(struct spec_group *g, uint32_t model, int64_t bytes)
{
    if (g->n_models == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 8;
        g->models = mx_realloc_array(g->models, g->cap, sizeof(uint32_t));
    }
    uint32_t at = g->n_models;
    while (at > 0 && g->models[at - 1] > model) {
        g->models[at] = g->models[at - 1];
        at--;
    }
    g->models[at] = model;
    g->n_models++;
    g->mem_bytes += bytes;
}

void spec_placement_copy(struct spec_placement *dst, const struct spec_placement *src)
{
    dst->n_groups = src->n_groups;
    dst->groups = MX_NEW_ARRAY(struct spec_group, src->n_groups ? src->n_groups : 1);
    for (uint32_t g = 0; g < src->n_groups; g++) {
        dst->groups[g] = src->groups[g];
        dst->groups[g].cap = src->groups[g].n_models;
        dst->groups[g].models = MX_NEW_ARRAY(uint32_t, dst->groups[g].cap ? dst->groups[g].cap : 1);
        if (src->groups[g].n_models > 0)
            memcpy(dst->groups[g].models, src->groups[g].models,
                   src->groups[g].n_models * sizeof(uint32_t));
    }
}

void spec_placement_release(struct spec_placement *p)
{
    for (uint32_t g = 0; g < p->n_groups; g++)
        free(p->groups[g].models);
    free(p->groups);
    p->groups = NULL;
    p->n_groups = 0;
}

uint32_t spec_placement_replicas(const struct spec_placement *p)
{
    uint32_t n = 0;
    for (uint32_t g = 0; g < p->n_groups; g++)
        n += p->groups[g].n_models;
    return n;
}
