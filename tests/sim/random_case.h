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

/* The most models and the most groups a segment any case has (wide ones). */
enum { RANDOM_CASE_MAX_MODELS = 16, RANDOM_CASE_MAX_GROUPS = 16 };

struct case_shape {
    bool random_overheads;
    bool batching;
    bool schedule; /* maybe a second segment halfway */
    bool loading;  /* groups may load weights at their segment's start */
    bool one_base; /* every model has base b0: every segment is uniform (one latency vector a
                      group) */
    bool wide;     /* larger cases: 1 to 16 models, 1 to 16 groups a segment with pp 1 to 8,
                      2,000 to 4,000 requests at a rate that grows with the groups, SLOs up to
                      2 s */
};

/* 1 to 5 models over two bases (or one: shape.one_base), 1 to 4 groups a segment with pp 1 to 4 and
 * op 1 or 2, whose configs are profiled for both bases (so any model may join any group), 20 to 200
 * requests; or wider (shape.wide). A shape without `wide` draws exactly what it drew before wide
 * cases existed. */
struct random_case random_case(uint64_t seed, struct case_shape shape);
void random_case_free(struct random_case *rc);

/* Assert that two runs of case seed gave the same outcome for every request (status, group,
 * start, finish, execution, batch) and the same busy time on every stage. */
void random_case_assert_same(const struct sim_results *a, const struct sim_results *b,
                             uint64_t seed);

#endif
