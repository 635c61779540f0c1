/* The import preset azure-functions with its defaults: Azure Functions (2019): per-minute invocation counts, a rate trace. */
#include "fuzz.h"

static int read_azure_functions(const char *path, int variant)
{
    (void)variant;
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "azure-functions";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(azure_functions, "input.csv", read_azure_functions, 1)
