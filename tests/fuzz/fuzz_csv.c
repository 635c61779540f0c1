/* The CSV importer (trace import csv with options): wl_import() format csv, with a key column and
 * times in seconds (variant 0), or ISO 8601 date-times (variant 1). */
#include "fuzz.h"

static int read_csv(const char *path, int variant)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "csv";
    spec.time_column = variant == 0 ? "arrival_s" : "time";
    spec.time_unit = variant == 0 ? "s" : "datetime";
    spec.key_column = variant == 0 ? "model" : "key";
    return fuzz_import(path, spec);
}

FUZZ_TARGET(csv, "trace.csv", read_csv, 2)
