/* The import preset burstgpt with its defaults: BurstGPT: CSV, whole seconds, the model as the key. */
#include "fuzz.h"

static int read_burstgpt(const char *path, int variant)
{
    (void)variant;
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "burstgpt";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(burstgpt, "input.csv", read_burstgpt, 1)
