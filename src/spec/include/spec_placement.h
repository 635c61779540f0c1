/* A placement under construction or evaluation: groups of consecutive devices, each with one
 * parallel config (1, op, pp) and the models it hosts. The planner builds placements and the
 * simulator's evaluator (sim_eval.h) runs them as they are; a plan file's groups (spec_plan.h),
 * which may name any devices and carry ids and load times, are made from a placement once, when the
 * planner writes its plan. */
#ifndef SPEC_PLACEMENT_H
#define SPEC_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct spec_group {
    uint32_t first_device; /* devices first_device .. first_device + op * pp - 1; it names the
                              group across the evaluations of a search (unique in a placement) */
    int32_t op, pp;
    uint32_t n_models;
    uint32_t *models;  /* [n_models] model indices, ascending; owned */
    uint32_t cap;      /* room in models */
    int64_t mem_bytes; /* per-device bytes of its models (spec_memory.h), as added */
};

struct spec_placement {
    uint32_t n_groups;
    struct spec_group *groups; /* [n_groups] owned */
};

/* Whether g hosts model (binary search). */
bool spec_group_has(const struct spec_group *g, uint32_t model);

/* Add model (not hosted yet), which needs bytes per device, keeping models ascending. */
void spec_group_add(struct spec_group *g, uint32_t model, int64_t bytes);

/* A deep copy of src into dst (which holds nothing). */
void spec_placement_copy(struct spec_placement *dst, const struct spec_placement *src);
void spec_placement_release(struct spec_placement *p);

/* Models hosted, summed over the groups. */
uint32_t spec_placement_replicas(const struct spec_placement *p);

#endif
