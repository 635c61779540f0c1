/* The benchmarks' model sets. */
#include "bench_models.h"

#include "mx_alloc.h"
#include "spec_models.h"
#include "spec_profile.h"

#include <stdlib.h>

struct spec_model_set *bench_bert_models(const struct spec_profile *db, uint32_t n)
{
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    set->path = mx_strdup("bench");
    set->n = n;
    set->models = MX_NEW_ARRAY(struct spec_model, n);
    double slo = 5 * spec_profile_single_device_latency_s(db, "bert-1.3b");
    for (uint32_t m = 0; m < n; m++) {
        char *name = mx_strfmt("m%u", m);
        set->models[m] = spec_model_make(name, "bert-1.3b", slo);
        set->models[m].slo.scale = 5;
        free(name);
    }
    return set;
}
