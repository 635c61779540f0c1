/* Plans: spec_plan_read(), then what simulating checks (spec_plan_validate() against the example
 * cluster and the reference profile) and the description the commands print. */
#include "fuzz.h"

#include "spec_plan.h"

#include <stdlib.h>

static int read_plan(const char *path, int variant)
{
    (void)variant;
    struct spec_plan *plan;
    int rc = spec_plan_read(path, &plan);
    if (rc < 0)
        return rc;
    free(spec_plan_describe_groups(plan));
    rc = spec_plan_validate(plan, fuzz_cluster(), FUZZ_CLUSTER_NAME, fuzz_profile(),
                            FUZZ_PROFILE_NAME);
    spec_plan_free(plan);
    return rc;
}

FUZZ_TARGET(plan, "plan.json", read_plan, 1)
