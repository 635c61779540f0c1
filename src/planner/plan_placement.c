/* Placements under construction: group layouts, membership, normalisation, and the finished plan.
 */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_json.h"
#include "spec_models.h"

#include <stdlib.h>
#include <string.h>

void pl_placement_layout(struct spec_placement *p, uint32_t devices, uint32_t group_size,
                         int32_t op, int32_t pp)
{
    uint32_t regular = devices / group_size, remaining = devices % group_size;
    uint32_t extra = (uint32_t)__builtin_popcount(remaining);
    p->n_groups = regular + extra;
    p->groups = MX_NEW_ARRAY(struct spec_group, p->n_groups ? p->n_groups : 1);
    uint32_t device = 0, g = 0;
    for (; g < regular; g++, device += group_size)
        p->groups[g] = (struct spec_group){.op = op, .pp = pp, .first_device = device};
    for (uint32_t size = 1; size <= remaining; size *= 2)
        if (remaining & size) {
            p->groups[g++] =
                (struct spec_group){.op = 1, .pp = (int32_t)size, .first_device = device};
            device += size;
        }
}

/* Lexicographic order of sorted model lists, as Python compares tuples: a prefix comes first. */
static int compare_models(const struct spec_group *a, const struct spec_group *b)
{
    uint32_t n = a->n_models < b->n_models ? a->n_models : b->n_models;
    for (uint32_t k = 0; k < n; k++)
        if (a->models[k] != b->models[k])
            return a->models[k] < b->models[k] ? -1 : 1;
    return (a->n_models > b->n_models) - (a->n_models < b->n_models);
}

void pl_placement_normalize(struct spec_placement *p)
{
    /* Insertion sort: stable, and after one greedy step only one group is out of place. */
    for (uint32_t i = 1; i < p->n_groups; i++) {
        struct spec_group g = p->groups[i];
        uint32_t j = i;
        while (j > 0 && compare_models(&p->groups[j - 1], &g) > 0) {
            p->groups[j] = p->groups[j - 1];
            j--;
        }
        p->groups[j] = g;
    }
}

struct spec_plan *pl_to_plan(const struct pl_context *c, const struct spec_placement *pl)
{
    const struct spec_model_set *set = c->pb->models;
    struct spec_plan *p = MX_NEW(struct spec_plan);
    p->path = mx_strdup("the planner's plan"); /* for messages: it has no file yet */
    p->extra = json_object();
    p->static_form = 1;
    p->n_models = set->n;
    p->models = MX_NEW_ARRAY(struct spec_plan_model, set->n);
    for (uint32_t m = 0; m < set->n; m++) {
        p->models[m].name = mx_strdup(set->models[m].name);
        p->models[m].base = mx_strdup(set->models[m].base);
    }
    p->n_segments = 1;
    p->segments = MX_NEW(struct spec_plan_segment);
    struct spec_plan_segment *s = &p->segments[0];
    s->n_groups = pl->n_groups;
    s->groups = MX_NEW_ARRAY(struct spec_plan_group, pl->n_groups ? pl->n_groups : 1);
    for (uint32_t g = 0; g < pl->n_groups; g++) {
        const struct spec_group *src = &pl->groups[g];
        struct spec_plan_group *dst = &s->groups[g];
        *dst = (struct spec_plan_group){.id = (int32_t)g, .dp = 1, .op = src->op, .pp = src->pp};
        dst->n_devices = (uint32_t)(src->op * src->pp);
        dst->devices = MX_NEW_ARRAY(uint32_t, dst->n_devices);
        for (uint32_t d = 0; d < dst->n_devices; d++)
            dst->devices[d] = src->first_device + d;
        dst->n_models = src->n_models;
        dst->models = MX_NEW_ARRAY(uint32_t, src->n_models ? src->n_models : 1);
        memcpy(dst->models, src->models, src->n_models * sizeof(uint32_t));
    }
    /* Models the placement could not fit anywhere are listed, not silently dropped. */
    json_t *unplaced = json_array();
    for (uint32_t m = 0; m < set->n; m++) {
        bool placed = false;
        for (uint32_t g = 0; g < pl->n_groups && !placed; g++)
            placed = spec_group_has(&pl->groups[g], m);
        if (!placed)
            mx_json_append(unplaced, json_string(set->models[m].name));
    }
    if (json_array_size(unplaced))
        mx_json_set(p->extra, "unplaced", unplaced);
    else
        json_decref(unplaced);
    return p;
}
