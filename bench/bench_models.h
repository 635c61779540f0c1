/* The benchmarks' model sets: n copies of bert-1.3b (m0, m1, ...) with an SLO of 5x its
 * single-device latency in the profile. */
#ifndef BENCH_MODELS_H
#define BENCH_MODELS_H

#include <stdint.h>

struct spec_profile;
struct spec_model_set;

/* Free with spec_models_free(). */
struct spec_model_set *bench_bert_models(const struct spec_profile *db, uint32_t n);

#endif
