/* The table of dispatch policies. */
#include "sim_dispatch.h"

#include <string.h>

const struct sim_dispatch_policy *const sim_dispatch_policies[] = {
    &sim_dispatch_least_outstanding,
    &sim_dispatch_earliest_free,
    &sim_dispatch_best_finish,
    NULL,
};

const struct sim_dispatch_policy *sim_dispatch_find(const char *name)
{
    for (const struct sim_dispatch_policy *const *p = sim_dispatch_policies; *p; p++)
        if (strcmp((*p)->name, name) == 0)
            return *p;
    return NULL;
}
