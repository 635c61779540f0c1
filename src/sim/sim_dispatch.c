/* The table of dispatch policies. */
#include "sim_dispatch.h"

#include "mx_error.h"
#include "spec_plan.h"

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

const struct sim_dispatch_policy *const sim_dispatch_default = &sim_dispatch_least_outstanding;

int sim_dispatch_of_plan(const struct spec_plan *p, const struct sim_dispatch_policy **out)
{
    const char *name = spec_plan_dispatch(p);
    *out = name ? sim_dispatch_find(name) : sim_dispatch_default;
    if (!*out)
        return mx_error(MX_EINPUT,
                        "%s: dispatch: unknown policy \"%s\" (expected least-outstanding, "
                        "earliest-free or best-finish)",
                        p->path, name);
    return MX_OK;
}
