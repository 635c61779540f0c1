/* How far real stage times depart from the profile: the interference between the devices of a
 * node, and the distribution of a stage's time around its profiled latency (docs/simulator.md,
 * "Variability"; the cluster file's members in docs/formats.md).
 *
 * Both apply to any unit of work that runs on a set of devices: an encoder group's pipeline stage
 * or a decoder group's iteration on one stage. The rules, stated once here and implemented by
 * sim_interference.h:
 *
 * - Interference. busy(t) counts the devices of a node that run work at time t (a stage counts its
 *   op devices while it runs a job). Work of op devices whose alone time is W progresses at rate
 *   slowdown(op) / slowdown(busy(t)): it ends when the integral of that rate from its start reaches
 *   W. slowdown(b) is busy_slowdown[b - 1], the last entry beyond the list, 1 without a model; the
 *   profile's latency of an op-device stage was measured with its own op devices busy, hence the
 *   division by slowdown(op).
 * - Stage time. Each run of a stage draws a ratio r from the distribution and its alone time is
 *   W = r x latency (the profiled latency times the cluster's stage factor). lognormal and gamma
 *   have mean 1 and the given coefficient of variation; empirical draws by the inverse of the
 *   piecewise-linear distribution through its quantiles (n values at probabilities j / (n - 1)),
 *   whose mean is what the quantiles make it.
 *
 * Plain values: a cluster carries them by copy. */
#ifndef SPEC_VARIABILITY_H
#define SPEC_VARIABILITY_H

#include "mx_json.h"

#include <gsl/gsl_rng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest busy_slowdown list (busy counts beyond take its last entry). */
#define SPEC_MAX_BUSY 64
/* The most quantiles of an empirical distribution. */
#define SPEC_DIST_QUANTILES 129

struct spec_interference {
    uint32_t n;                          /* entries; 0: no interference */
    double busy_slowdown[SPEC_MAX_BUSY]; /* [b - 1]: time factor while b devices are busy */
};

enum spec_dist_kind {
    SPEC_DIST_CONSTANT,  /* r = 1 (no variability) */
    SPEC_DIST_LOGNORMAL, /* mean 1, coefficient of variation cv */
    SPEC_DIST_GAMMA,     /* mean 1, coefficient of variation cv */
    SPEC_DIST_EMPIRICAL, /* quantiles */
    SPEC_DIST_N_KINDS
};

/* JSON names of the kinds: "constant", "lognormal", "gamma", "empirical". */
extern const char *const spec_dist_names[SPEC_DIST_N_KINDS];

struct spec_dist {
    enum spec_dist_kind kind;
    double cv;                     /* lognormal, gamma: in (0, 10] */
    uint32_t n;                    /* empirical: 2 to SPEC_DIST_QUANTILES */
    double q[SPEC_DIST_QUANTILES]; /* empirical: positive, nondecreasing, at j / (n - 1) */
};

/* slowdown(busy) of the model (1 without one, and for busy == 0). */
double spec_interference_slowdown(const struct spec_interference *f, uint32_t busy);

/* Whether d draws anything but 1. */
bool spec_dist_varies(const struct spec_dist *d);

/* One ratio drawn from d with r (not used by the constant kind). */
double spec_dist_draw(const struct spec_dist *d, gsl_rng *r);

/* The mean of d (1 for every kind but empirical). */
double spec_dist_mean(const struct spec_dist *d);

/* The empirical distribution of n >= 1 positive samples v with n_quantiles quantiles (2 to
 * SPEC_DIST_QUANTILES), each interpolated linearly between the order statistics around it (one
 * sample makes every quantile equal to it). v is sorted in place. */
void spec_dist_from_samples(double *v, size_t n, uint32_t n_quantiles, struct spec_dist *out);

/* Read {"busy_slowdown": [...]} at `at`; entries in [0.01, 100]. MX_EINPUT names the place. */
int spec_interference_read(const struct mx_jpath *at, json_t *v, struct spec_interference *out);
json_t *spec_interference_json(const struct spec_interference *f);

/* Read {"dist": KIND, ...}: "cv" for lognormal and gamma, "quantiles" for empirical, nothing for
 * constant. MX_EINPUT names the place. */
int spec_dist_read(const struct mx_jpath *at, json_t *v, struct spec_dist *out);
json_t *spec_dist_json(const struct spec_dist *d);

/* Stage-time distributions of a plan's stages, measured (fidelity --stage-times-out) and given to
 * the simulator (simulate --stage-times). JSON ("muxplan-stage-times/1"):
 *   {"format": "muxplan-stage-times/1", "stages": [{"group": 0, "stage": 1, "runs": 812,
 *    "dist": "empirical", "quantiles": [0.9, 1.0, 1.3]}, ...]}
 * group is the plan's group id; runs (optional) how many runs the distribution was made of. */
struct spec_stage_time {
    int32_t group;
    uint32_t stage;
    uint64_t runs;
    struct spec_dist dist;
};

/* Read path into *out (caller frees) and *n; errors name the file and member. Each (group, stage)
 * at most once. */
int spec_stage_times_read(const char *path, struct spec_stage_time **out, size_t *n);
/* Write n entries to path (atomic). */
int spec_stage_times_write(const char *path, const struct spec_stage_time *st, size_t n);

#endif
