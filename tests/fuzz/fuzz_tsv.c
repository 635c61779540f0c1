/* The TSV importer: wl_import() format tsv, with a key column and times in milliseconds
 * (variant 0), or date-times of a strptime(3) format without a key column (variant 1). */
#include "fuzz.h"

static int read_tsv(const char *path, int variant)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "tsv";
    spec.time_column = variant == 0 ? "arrival_s" : "time";
    spec.time_unit = variant == 0 ? "ms" : "datetime";
    spec.time_format = variant == 0 ? NULL : "%d/%m/%Y %H:%M:%S";
    spec.key_column = variant == 0 ? "model" : NULL;
    return fuzz_import(path, spec);
}

FUZZ_TARGET(tsv, "trace.tsv", read_tsv, 2)
