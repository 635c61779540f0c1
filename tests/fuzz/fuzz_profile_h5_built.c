/* Profile DBs in HDF5 built from the input by fuzz_h5_build(): spec_profile_read_h5() on
 * well-formed files of any layout, types and values. */
#include "fuzz.h"

#include "spec_profile.h"

static const char *const names[] = {
    "models",      "bert-1.3b",   "bert-2.6b",       "dp1_op1_pp1",  "dp1_op1_pp2",
    "dp1_op2_pp1", "dp2_op1_pp1", "dp1_op1_pp0",     "batch",        "stage_latency_s",
    "weight_bytes", "act_bytes",  "layer_ranges",    "format",       "hardware",
    "provenance",  "dp",          "op",              "pp",           "note",
    "dp1_op1_pp3", "x"};

static int read_profile(const char *path, int variant)
{
    (void)variant;
    struct spec_profile *db;
    int rc = fuzz_h5_build(path, "profile", names, sizeof(names) / sizeof(names[0]));
    if (rc == 0)
        rc = spec_profile_read_h5(path, &db);
    if (rc == 0)
        spec_profile_free(db);
    return rc;
}

FUZZ_TARGET(profile_h5_built, "profile.h5", read_profile, 1)
