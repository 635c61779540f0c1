/* Trace maps (muxplan-trace-map/1, trace import --map FILE.json): a fixed CSV trace of the keys
 * a, b, c and m0 imported through the map under test, onto model names (variant 0) or onto the
 * example model set (variant 1). */
#include "fuzz.h"

#include "mx_config.h"
#include "mx_error.h"
#include "spec_models.h"

#include <stdio.h>
#include <stdlib.h>

static const char keys_csv[] = "t,k\n0,a\n1,b\n2,c\n3,a\n4,m0\n";

static const char *keys_path(void)
{
    static char path[512];
    if (!path[0]) {
        snprintf(path, sizeof(path), "%s", fuzz_path("keys.csv"));
        FILE *fp = fopen(path, "w");
        if (!fp || fputs(keys_csv, fp) < 0 || fclose(fp) != 0) {
            perror("fuzz: cannot write keys.csv");
            abort();
        }
    }
    return path;
}

static const struct spec_model_set *model_set(void)
{
    static struct spec_model_set *set;
    if (!set && (spec_models_read(MX_SOURCE_ROOT "/examples/models.json", &set) < 0 ||
                 spec_models_resolve(set, fuzz_profile(), FUZZ_PROFILE_NAME) < 0)) {
        fprintf(stderr, "fuzz: %s\n", mx_error_message());
        abort();
    }
    return set;
}

static int read_map(const char *path, int variant)
{
    struct wl_import_spec spec = wl_import_spec_default();
    spec.format = "csv";
    spec.time_column = "t";
    spec.key_column = "k";
    spec.map_path = path;
    spec.set = variant == 1 ? model_set() : NULL;
    return fuzz_import(keys_path(), spec);
}

FUZZ_TARGET(trace_map, "map.json", read_map, 2)
