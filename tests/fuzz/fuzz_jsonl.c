/* The JSON Lines importer: wl_import() format jsonl, with a key field and times in seconds
 * (variant 0), or ISO 8601 date-time strings (variant 1). */
#include "fuzz.h"

static int read_jsonl(const char *path, int variant)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "jsonl";
    spec.time_column = "timestamp";
    spec.time_unit = variant == 0 ? "s" : "datetime";
    spec.key_column = variant == 0 ? "model" : "key";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(jsonl, "trace.jsonl", read_jsonl, 2)
