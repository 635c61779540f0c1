/* Model sets: spec_models_read(), then spec_models_resolve() against the reference profile. */
#include "fuzz.h"

#include "spec_models.h"

static int read_models(const char *path, int variant)
{
    (void)variant;
    struct spec_model_set *set;
    int rc = spec_models_read(path, &set);
    if (rc < 0)
        return rc;
    rc = spec_models_resolve(set, fuzz_profile(), FUZZ_PROFILE_NAME);
    spec_models_free(set);
    return rc;
}

FUZZ_TARGET(models, "models.json", read_models, 1)
