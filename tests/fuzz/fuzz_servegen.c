/* The import preset servegen with its defaults: ServeGen: one client's per-window rate statistics, a rate trace. */
#include "fuzz.h"

static int read_servegen(const char *path, int variant)
{
    (void)variant;
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "servegen";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(servegen, "chunk-7-trace.csv", read_servegen, 1)
