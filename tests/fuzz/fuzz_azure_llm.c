/* The import preset azure-llm-2023 with its defaults: Azure LLM inference traces (2023): CSV, TIMESTAMP date-times, one service per file. */
#include "fuzz.h"

static int read_azure_llm(const char *path, int variant)
{
    (void)variant;
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "azure-llm-2023";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(azure_llm, "input.csv", read_azure_llm, 1)
