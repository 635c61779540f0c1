/* Profile DBs in HDF5: spec_profile_load(), which tells the forms apart by their first bytes and
 * reads HDF5 with spec_profile_read_h5(). */
#include "fuzz.h"

#include "spec_profile.h"

static int read_profile(const char *path, int variant)
{
    (void)variant;
    struct spec_profile *db;
    int rc = spec_profile_load(path, &db);
    if (rc == 0)
        spec_profile_free(db);
    return rc;
}

FUZZ_TARGET(profile_h5, "profile.h5", read_profile, 1)
