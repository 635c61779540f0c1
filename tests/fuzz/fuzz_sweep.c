/* Sweep specs: sweep_spec_read() and the grid of cases it describes. */
#include "fuzz.h"

#include "sweep.h"

static int read_sweep(const char *path, int variant)
{
    (void)variant;
    struct sweep_spec *spec;
    int rc = sweep_spec_read(path, &spec);
    if (rc < 0)
        return rc;
    double params[SWEEP_PARAMS];
    uint32_t cases = sweep_case_count(spec);
    if (cases > 0) {
        sweep_case_params(spec, 0, params);
        sweep_case_params(spec, cases - 1, params);
    }
    sweep_spec_free(spec);
    return rc;
}

FUZZ_TARGET(sweep, "sweep.json", read_sweep, 1)
