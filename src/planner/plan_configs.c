/* The group layouts the alpaserve policies search over. */
#include "plan_int.h"

#include "mx_alloc.h"

#include <stdlib.h>

bool pl_layout_valid(const struct spec_placement *p, uint32_t per_node)
{
    for (uint32_t g = 0; g < p->n_groups; g++) {
        const struct spec_group *grp = &p->groups[g];
        for (int32_t k = 0; k < grp->pp; k++) {
            uint32_t first = grp->first_device + (uint32_t)(k * grp->op);
            uint32_t last = first + (uint32_t)grp->op - 1;
            if (first / per_node != last / per_node)
                return false;
        }
    }
    return true;
}

uint32_t pl_enumerate_configs(uint32_t devices, uint32_t per_node, uint32_t max_op, uint32_t max_pp,
                              struct pl_config **out)
{
    struct pl_config *list = NULL;
    uint32_t n = 0;
    for (uint32_t size = 1; size <= devices; size *= 2) {
        if (size > per_node && size % per_node != 0)
            continue;
        for (uint32_t pp = 1; pp <= size; pp++) {
            uint32_t op = size / pp;
            if (size % pp != 0 || pp > max_pp || op > max_op)
                continue;
            struct spec_placement layout;
            pl_placement_layout(&layout, devices, size, (int32_t)op, (int32_t)pp);
            bool valid = pl_layout_valid(&layout, per_node);
            spec_placement_release(&layout);
            if (!valid)
                continue;
            list = mx_realloc_array(list, n + 1, sizeof(*list));
            list[n++] = (struct pl_config){size, (int32_t)op, (int32_t)pp};
        }
    }
    *out = list;
    return n;
}
