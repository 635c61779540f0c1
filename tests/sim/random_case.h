/* Random simulation cases for property tests: a random profile, plan, trace and cluster from a
 * seed (GSL stream "test/random-case"). */
#ifndef RANDOM_CASE_H
#define RANDOM_CASE_H

#include "fixture.h"

#include <stdbool.h>
#include <stdint.h>

struct random_case {
    struct spec_profile *db;
    struct spec_plan *p;
    struct wl_trace *t;
    struct spec_cluster c;
    struct sim_options o; /* event engine, a random dispatch policy, one thread */
};

struct case_shape {
    bool random_overheads;
    bool batching;
    bool schedule; /* maybe a second segment halfway */
    bool loading;  /* groups may load weights at their segment's start */
    bool one_base; /* every model has base b0: every segment is uniform (one latency vector a
                      group) */
};

/* 1 to 5 models over two bases (or one: shape.one_base), 1 to 4 groups whose configs are profiled
 * for both bases (so any model may join any group), 20 to 200 requests. */
struct random_case random_case(uint64_t seed, struct case_shape shape);
void random_case_free(struct random_case *rc);

#endif
