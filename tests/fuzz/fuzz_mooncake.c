/* The import preset mooncake with its defaults: Mooncake: JSON Lines, timestamps in milliseconds, spread over 3 s. */
#include "fuzz.h"

static int read_mooncake(const char *path, int variant)
{
    (void)variant;
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "mooncake";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(mooncake, "input.jsonl", read_mooncake, 1)
