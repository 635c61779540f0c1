/* Profile DBs in JSON: spec_profile_read_json() and the single-device latency every model set with
 * slo_scale asks of it. */
#include "fuzz.h"

#include "spec_profile.h"

static int read_profile(const char *path, int variant)
{
    (void)variant;
    struct spec_profile *db;
    int rc = spec_profile_read_json(path, &db);
    if (rc < 0)
        return rc;
    for (uint32_t m = 0; m < spec_profile_model_count(db); m++)
        spec_profile_single_device_latency_s(db, spec_profile_model(db, m)->name);
    spec_profile_free(db);
    return rc;
}

FUZZ_TARGET(profile_json, "profile.json", read_profile, 1)
