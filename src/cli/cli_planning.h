/* What plan, compare and capacity share (cli_plan.c, cli_compare.c, cli_capacity.c): the inputs
 * they read, the policies and their parameters, the option table behind both, and the checks made
 * before any work starts. Internal to src/cli. */
#ifndef CLI_PLANNING_H
#define CLI_PLANNING_H

#include "planner.h"
#include "spec_cluster.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct spec_model_set;
struct spec_profile;
struct wl_trace;

/* Option codes of the shared options; a command's own options use printable characters. */
enum { CLI_PLANNING_CODE = 1000 };

/* The shared options' values, with their defaults. */
struct cli_planning {
    const char *command;
    const char *cluster_path, *profile_path, *models_path, *train_path;
    const struct sim_dispatch_policy *dispatch;
    struct plan_params params;
    bool given[PLAN_N_PARAMS]; /* parameters set on the command line */
    double duration_s;         /* of a generated training workload; 0: the default */
    uint64_t seed;
    unsigned threads;
    uint32_t variance_finalists; /* plan_problem's */
    bool json, activation_memory;
    double kv_margin; /* decoders' KV reserve beyond one full request per model */
    bool model_slos;  /* requests of traces read take their model's SLO from the model set */
    struct mx_progress_sink progress; /* where the planner reports (zero: nowhere) */
};

/* The policies a command runs, each with its parameters (greedy-<s>'s size set from its name). */
struct cli_policies {
    uint32_t n;
    char **names;                        /* [n] as given */
    const struct plan_policy **policies; /* [n] */
    struct plan_params *params;          /* [n] */
};

/* What a planning command loads. */
struct cli_planning_inputs {
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_model_set *set;
    struct wl_trace *train;
};

/* p at its defaults for command. */
struct cli_planning cli_planning_defaults(const char *command);

/* The getopt table of a command: the shared options, one for each policy parameter, then own
 * (NULL-terminated). Static storage, rebuilt by each call. */
const struct option *cli_planning_options(const struct option *own);

/* Parse argv (argv[0] the command): the shared options into p, the command's own (table own,
 * NULL-terminated) through take(ctx, code, argument), which returns MX_OK or an error. Anything
 * else, an option of neither kind or an argument, is a usage error. */
int cli_planning_parse(int argc, char **argv, struct cli_planning *p, const struct option *own,
                       int (*take)(void *ctx, int code, const char *arg), void *ctx);

/* The policies named by list (one name, or a comma list for many), checked before any work: known
 * names, none twice, none empty, and every parameter given on the command line read by one of
 * them. Release with cli_policies_release(). */
int cli_policies_parse(const struct cli_planning *p, const char *option, const char *list,
                       bool many, struct cli_policies *out);
void cli_policies_release(struct cli_policies *ps);

/* Note the files the planning options name, and test_path (may be NULL), as inputs of this command,
 * so that an output onto one of them is refused before any work (mx_file.h). */
void cli_planning_note_inputs(const struct cli_planning *p, const char *test_path);

/* Load the cluster, profile, model set and training workload (read, or generated from the model
 * set's rates), checking first that the required options were given. */
int cli_planning_load(const struct cli_planning *p, struct cli_planning_inputs *in);
void cli_planning_release(struct cli_planning_inputs *in);

/* A workload generated from the model set's rates and CVs (Gamma arrivals; every model needs a
 * "rate") with seed, over max(100 s, 30000 / total rate) or --duration. */
int cli_planning_generate(const struct cli_planning *p, const struct spec_model_set *set,
                          uint64_t seed, struct wl_trace **out);

/* The training workload generated from the model set: cli_planning_generate's with seed, or with
 * --robust K, K of them one after the other (seed, then seeds derived from it, each shifted to
 * start where the one before ends), so that the K windows mux plans against are K seeds. */
int cli_planning_generate_train(const struct cli_planning *p, const struct spec_model_set *set,
                                uint64_t seed, struct wl_trace **out);

/* The planner's problem over in, on cluster (the inputs' own, or a resized copy). */
struct plan_problem cli_planning_problem(const struct cli_planning *p,
                                         const struct cli_planning_inputs *in,
                                         const struct spec_cluster *cluster);

/* Print help (the command's own text), the shared options and the policies. */
void cli_planning_help(const char *help);

/* The test workload of compare and capacity: the trace at path, its models renumbered to the model
 * set's (with --model-slos, their SLOs), or NULL (path NULL) for the training workload. */
int cli_planning_test(const struct cli_planning *p, const struct cli_planning_inputs *in,
                      const char *path, struct wl_trace **out);

/* Attainment over held-out windows (plan_score_windows): the mean over the windows that have
 * requests and a 95% percentile bootstrap interval of that mean (CLI_BOOTSTRAP resamples of the
 * windows, drawn from the stream of the seed). */
#define CLI_MAX_WINDOWS 10000
#define CLI_BOOTSTRAP 2000
struct cli_spread {
    uint32_t windows; /* with requests */
    double mean, ci_low, ci_high;
};

struct cli_spread cli_spread_of(const double *attainment, uint32_t n, uint64_t seed);

/* {"windows": n, "mean", "ci_low", "ci_high", "attainment": [each window's, null without
 * requests]}. */
json_t *cli_spread_json(const struct cli_spread *s, const double *attainment, uint32_t n);

/* "0.9991 [0.9985, 0.9996]" into buf. */
void cli_spread_text(const struct cli_spread *s, char *buf, size_t size);

#endif
