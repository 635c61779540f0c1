/* Sweeps: plan and score every policy over a grid of cases ("sweep spec -> table +
 * plots"), the way AlpaServe's evaluation varies cluster size, rate, burstiness and SLO.
 *
 * Spec ("muxplan-sweep/1", JSON; paths relative to the spec's folder):
 *   {"format": "muxplan-sweep/1",
 *    "cluster": "cluster.json", "profile": "v100.h5", "models": "models.json",
 *    "workload": {"generate": {"total_rate": 20, "rate_dist": "power:0.5", "cv": 4,
 *                              "duration_s": 600}}
 *             or {"trace": {"train": "train.h5", "test": "test.h5", "refit_window_s": 60}},
 *    "devices": 8, "rate_scale": 1, "cv_scale": 1, "slo_scale": 1,
 *    "sweep": {"rate_scale": [0.5, 1, 2], "devices": [4, 8]},
 *    "policies": ["sr", "alpaserve"], "seed": 1}
 * A case sets each swept parameter to one of its values (the cartesian product, the first swept
 * parameter varying slowest); the others keep their base values. In a case, the cluster has
 * `devices` devices; every model's SLO is multiplied by slo_scale; a generated workload has
 * total_rate x rate_scale and cv x cv_scale, training on seed and testing on seed + 1; a trace
 * workload is used as is when both scales are 1, and otherwise refit per model and window
 * (wl_trace_refit) with those scales. Each policy plans on the training workload and its plan is
 * scored on the test workload (plan_score). */
#ifndef SWEEP_H
#define SWEEP_H

#include "wl_gen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sweep_param { SWEEP_DEVICES, SWEEP_RATE_SCALE, SWEEP_CV_SCALE, SWEEP_SLO_SCALE, SWEEP_PARAMS };

/* "devices", "rate_scale", "cv_scale", "slo_scale". */
extern const char *const sweep_param_names[SWEEP_PARAMS];

struct sweep_spec {
    char *path;                                      /* the spec file, for messages */
    char *cluster_path, *profile_path, *models_path; /* resolved against the spec's folder */
    bool generated;
    enum wl_rate_dist rate_dist; /* generated: equal or power */
    double alpha;                /* power's */
    double total_rate, cv, duration_s;
    char *train_path, *test_path; /* trace workloads; test may equal train */
    double refit_window_s;
    double base[SWEEP_PARAMS];
    uint32_t n_swept;
    enum sweep_param swept[SWEEP_PARAMS]; /* in the spec's order */
    uint32_t n_values[SWEEP_PARAMS];      /* by swept index */
    double *values[SWEEP_PARAMS];         /* by swept index, [n_values] */
    uint32_t n_policies;
    char **policies;
    uint64_t seed;
};

/* Read and validate a spec: every problem is MX_EINPUT naming the file and the member. What needs
 * the cluster (device counts fill whole nodes) is checked by sweep_context_open, before any case
 * runs. Free with sweep_spec_free(). */
int sweep_spec_read(const char *path, struct sweep_spec **out);
void sweep_spec_free(struct sweep_spec *s);

/* Check every value parameter p takes in s (its base, or each swept value): problem(value, arg,
 * buf, size) returns NULL for a good one, else why, written in buf. MX_EINPUT names the spec and
 * the member ("sweep.devices[2]: ..."). */
int sweep_spec_check(const struct sweep_spec *s, enum sweep_param p,
                     const char *(*problem)(double value, const void *arg, char *buf, size_t size),
                     const void *arg);

/* The number of cases, and the parameters of case c (0-based) into params[SWEEP_PARAMS]. */
uint32_t sweep_case_count(const struct sweep_spec *s);
void sweep_case_params(const struct sweep_spec *s, uint32_t c, double params[SWEEP_PARAMS]);

/* One (case, policy): what it scored. */
struct sweep_row {
    uint32_t case_index, policy;
    double params[SWEEP_PARAMS];
    double attainment;           /* on the test workload */
    double predicted_attainment; /* the planner's, on the training workload */
    double p50_s, p90_s, p99_s;  /* latency of good requests (NaN when none) */
    uint32_t groups, replicas;
    double planning_s;  /* wall time of planning: the only column that varies between runs */
    char describe[96];  /* spec_plan_describe_groups(), cut to fit */
    char plan_file[64]; /* relative to the output folder: plans/case-<c>-<policy>.json */
};

/* The inputs every case shares (cluster, profile, model set, traces), loaded once. */
struct sweep_context;

int sweep_context_open(const struct sweep_spec *s, struct sweep_context **out);
void sweep_context_free(struct sweep_context *ctx);

/* Run case c with every policy on threads threads into rows[n_policies], writing each plan under
 * out_dir (which must hold a plans/ folder). */
int sweep_run_case(const struct sweep_context *ctx, uint32_t c, unsigned threads,
                   const char *out_dir, struct sweep_row *rows);

/* Make out_dir ready for a sweep's outputs, before any work, within the process's output set
 * (mx_file.h): created when missing (its parent must exist), with its plans/ folder. A folder that
 * is empty or holds only a previous sweep's outputs (results.tsv, results.h5,
 * attainment_vs_<param>.{png,svg,tsv}, plans/case-<c>-<policy>.json, and temporaries of these) is
 * taken: the set's commit replaces those outputs as a whole, its abort leaves them. Anything else
 * there is MX_EUSAGE naming it: a sweep never removes what a sweep did not write. */
int sweep_output_prepare(const char *out_dir);

/* Write out_dir/results.tsv and results.h5 (one row per case and policy, in case then policy
 * order) and one plot per swept parameter, attainment_vs_<param>.{png,svg,tsv}: attainment
 * against the parameter, one line per policy, a dashed line at 0.99, the other swept parameters
 * at their first value. */
int sweep_write(const struct sweep_spec *s, const struct sweep_row *rows, const char *out_dir);

#endif
