/* muxplan plan, compare and capacity: the planner from the command line. */
#include "cli.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_time.h"
#include "planner.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "sim_metrics.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plan_help[] =
    "usage: muxplan plan --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                    --policy NAME -o PLAN.json [options]\n"
    "\n"
    "Searches a placement of the models on the cluster by simulated SLO attainment on the\n"
    "training workload and writes the plan (policies below).\n"
    "\n"
    "  --trace        training workload; without it one is generated from the models' \"rate\" "
    "and\n"
    "                 \"cv\" over max(100 s, 30000 / total rate) (--duration overrides)\n"
    "  --dispatch     the dispatch policy plans are scored with (default earliest-free, as\n"
    "                 AlpaServe's planner); random overheads are scored at their means\n"
    "  --group-size S round-robin's group size (4)     --beam K  beam search of width K (1: "
    "greedy)\n"
    "  --max-op N, --max-pp N  alpaserve's limits (4, 8)  --window S  clockwork++ window (60)\n"
    "  --swap-cost    clockwork++: a device loading models it did not hold in the window before\n"
    "                 serves nothing for their weight bytes / the cluster's load bandwidth\n"
    "  --activation-memory  models need their batch-1 activation bytes besides their weights\n"
    "  --seed K, --threads N, --json\n"
    "\n"
    "example:\n"
    "  muxplan plan --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 \\\n"
    "      --models examples/models.json --trace train.h5 --policy alpaserve -o plan.json\n"
    "\n"
    "policies:\n";

static const char compare_help[] =
    "usage: muxplan compare --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                       [--test-trace TEST.h5] --policies sr,clockwork++,alpaserve [options]\n"
    "\n"
    "Plans with each policy on the training workload, simulates each plan on the test workload\n"
    "(default: the training one) and prints policy, groups and configs, replicas, attainment,\n"
    "p99 latency of good requests and planning time. Takes plan's options, and --warmup S and\n"
    "--plans-dir DIR (write each plan there as POLICY.json).\n"
    "\n"
    "example:\n"
    "  muxplan compare --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --models examples/models.json --trace train.h5 --policies sr,clockwork++,alpaserve\n"
    "\n"
    "policies:\n";

static const char capacity_help[] =
    "usage: muxplan capacity --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                        [--test-trace TEST.h5] --policy NAME [--target 0.99]\n"
    "                        [--max-devices N] [options]\n"
    "\n"
    "The smallest device count (1 .. --max-devices, default 4096) whose plan reaches the target\n"
    "attainment on the test workload: doubling from 1 device until it is reached, then bisecting.\n"
    "Prints the attainment of every device count tried. Assumes attainment grows with devices.\n"
    "\n"
    "example:\n"
    "  muxplan capacity --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --models examples/models.json --trace train.h5 --policy alpaserve --target 0.99\n"
    "\n"
    "policies:\n";

static const struct option plan_options[] = {{"cluster", required_argument, NULL, 'c'},
                                             {"profile", required_argument, NULL, 'p'},
                                             {"models", required_argument, NULL, 'm'},
                                             {"trace", required_argument, NULL, 't'},
                                             {"test-trace", required_argument, NULL, 'T'},
                                             {"policy", required_argument, NULL, 'P'},
                                             {"policies", required_argument, NULL, 'L'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"dispatch", required_argument, NULL, 'd'},
                                             {"group-size", required_argument, NULL, 'g'},
                                             {"beam", required_argument, NULL, 'b'},
                                             {"max-op", required_argument, NULL, 'O'},
                                             {"max-pp", required_argument, NULL, 'Q'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"swap-cost", no_argument, NULL, 'S'},
                                             {"activation-memory", no_argument, NULL, 'a'},
                                             {"duration", required_argument, NULL, 'D'},
                                             {"seed", required_argument, NULL, 'k'},
                                             {"threads", required_argument, NULL, 'n'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"warmup", required_argument, NULL, 'W'},
                                             {"plans-dir", required_argument, NULL, 'R'},
                                             {"target", required_argument, NULL, 'A'},
                                             {"max-devices", required_argument, NULL, 'M'},
                                             {NULL, 0, NULL, 0}};

struct plan_args {
    const char *command;
    const char *cluster_path, *profile_path, *models_path, *train_path, *test_path;
    const char *policy, *policies, *out_path, *plans_dir;
    const struct sim_dispatch_policy *dispatch;
    struct plan_params params;
    double duration_s, warmup_s, target;
    uint64_t seed, max_devices;
    unsigned threads;
    bool json, activation_memory;
};

/* Everything a planner command loads. */
struct inputs {
    struct spec_cluster cluster;
    struct spec_profile *db;
    struct spec_model_set *set;
    struct wl_trace *train, *test; /* test may be train */
};

static void release_inputs(struct inputs *in)
{
    if (in->test != in->train)
        wl_trace_free(in->test);
    wl_trace_free(in->train);
    spec_models_free(in->set);
    spec_profile_free(in->db);
}

static int parse_args(int argc, char **argv, struct plan_args *a)
{
    uint64_t v;
    int opt, rc = MX_OK;
    a->params = plan_params_default();
    a->dispatch = &sim_dispatch_earliest_free;
    a->threads = 1;
    a->target = 0.99;
    a->max_devices = 4096;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", plan_options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->cluster_path = optarg;
            break;
        case 'p':
            a->profile_path = optarg;
            break;
        case 'm':
            a->models_path = optarg;
            break;
        case 't':
            a->train_path = optarg;
            break;
        case 'T':
            a->test_path = optarg;
            break;
        case 'P':
            a->policy = optarg;
            break;
        case 'L':
            a->policies = optarg;
            break;
        case 'o':
            a->out_path = optarg;
            break;
        case 'R':
            a->plans_dir = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'S':
            a->params.swap_cost = true;
            break;
        case 'a':
            a->activation_memory = true;
            break;
        case 'd':
            a->dispatch = sim_dispatch_find(optarg);
            if (!a->dispatch)
                rc = cli_usage_error(a->command, "--dispatch: unknown policy \"%s\"", optarg);
            break;
        case 'g':
            rc = cli_parse_u64("--group-size", optarg, 1, 1 << 20, &v);
            a->params.group_size = (uint32_t)v;
            break;
        case 'b':
            rc = cli_parse_u64("--beam", optarg, 1, 1024, &v);
            a->params.beam = (uint32_t)v;
            break;
        case 'O':
            rc = cli_parse_u64("--max-op", optarg, 1, 4096, &v);
            a->params.max_op = (uint32_t)v;
            break;
        case 'Q':
            rc = cli_parse_u64("--max-pp", optarg, 1, 4096, &v);
            a->params.max_pp = (uint32_t)v;
            break;
        case 'w':
            rc = cli_parse_f64("--window", optarg, 1e-3, 1e9, &a->params.window_s);
            break;
        case 'D':
            rc = cli_parse_f64("--duration", optarg, 1e-3, 1e9, &a->duration_s);
            break;
        case 'W':
            rc = cli_parse_f64("--warmup", optarg, 0, 1e9, &a->warmup_s);
            break;
        case 'A':
            rc = cli_parse_f64("--target", optarg, 0, 1, &a->target);
            break;
        case 'M':
            rc = cli_parse_u64("--max-devices", optarg, 1, 1 << 20, &a->max_devices);
            break;
        case 'k':
            rc = cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &a->seed);
            break;
        case 'n':
            rc = cli_parse_u64("--threads", optarg, 1, 1024, &v);
            a->threads = (unsigned)v;
            break;
        default:
            rc = cli_usage_error(a->command, "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error(a->command, "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK && (!a->cluster_path || !a->profile_path || !a->models_path))
        rc = cli_usage_error(a->command, "--cluster, --profile and --models are required");
    return rc;
}

/* The training trace over the model set's indices: loaded (its models must be the set's) or
 * generated from the set's rates. */
static int training_trace(const struct plan_args *a, const struct spec_model_set *set,
                          struct wl_trace **out)
{
    if (!a->train_path) {
        struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                                   .rate_dist = WL_RATES_EXPLICIT,
                                   .total_rate = -1,
                                   .cv = 1,
                                   .seed = a->seed,
                                   .threads = a->threads};
        double total = 0;
        for (uint32_t m = 0; m < set->n; m++) {
            if (set->models[m].rate < 0)
                return cli_usage_error(a->command,
                                       "without --trace every model needs a \"rate\" "
                                       "(%s: \"%s\" has none)",
                                       set->path, set->models[m].name);
            total += set->models[m].rate;
        }
        spec.duration_s =
            a->duration_s > 0 ? a->duration_s : fmax(100.0, total > 0 ? 30000.0 / total : 100.0);
        return wl_gen(set, &spec, out);
    }
    return wl_trace_read_for_models(set, a->train_path, out);
}

static int load_inputs(const struct plan_args *a, struct inputs *in)
{
    int rc;
    memset(in, 0, sizeof(*in));
    if ((rc = spec_cluster_read(a->cluster_path, &in->cluster)) < 0 ||
        (rc = spec_profile_load(a->profile_path, &in->db)) < 0 ||
        (rc = spec_models_read(a->models_path, &in->set)) < 0 ||
        (rc = spec_models_resolve(in->set, in->db, a->profile_path)) < 0 ||
        (rc = training_trace(a, in->set, &in->train)) < 0)
        return rc;
    in->test = in->train;
    if (a->test_path)
        rc = wl_trace_read_h5(a->test_path, &in->test);
    return rc;
}

static struct plan_problem problem(const struct plan_args *a, const struct inputs *in,
                                   const struct spec_cluster *cluster)
{
    return (struct plan_problem){cluster, a->cluster_path,     in->db,      a->profile_path,
                                 in->set, in->train,           a->dispatch, a->threads,
                                 a->seed, a->activation_memory};
}

/* Simulate plan on the test workload as the planner scores: the figures compare reports. */
static int simulate(const struct plan_args *a, const struct inputs *in,
                    const struct spec_cluster *cluster, const struct spec_plan *plan,
                    struct sim_summary *summary)
{
    struct plan_problem pb = problem(a, in, cluster);
    return plan_score(&pb, plan, in->test, a->warmup_s, summary);
}

static json_t *groups_json(const struct spec_plan *p)
{
    json_t *list = json_array();
    const struct spec_plan_segment *s = &p->segments[p->n_segments - 1];
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct spec_plan_group *grp = &s->groups[g];
        json_t *models = json_array();
        for (uint32_t m = 0; m < grp->n_models; m++)
            mx_json_append(models, json_string(p->models[grp->models[m]].name));
        mx_json_append(list, json_pack("{s:i, s:[iii], s:i, s:i, s:o}", "id", grp->id, "config",
                                       grp->dp, grp->op, grp->pp, "first_device", grp->devices[0],
                                       "devices", grp->n_devices, "models", models));
    }
    return list;
}

static int run_plan(const struct plan_args *a)
{
    struct inputs in = {0};
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    struct plan_params params = a->params;
    const struct plan_policy *policy = a->policy ? plan_policy_find(a->policy, &params) : NULL;
    if (!a->policy || !a->out_path)
        return cli_usage_error("plan", "--policy and -o are required");
    if (!policy)
        return cli_usage_error("plan", "--policy: unknown policy \"%s\"", a->policy);
    int rc = mx_output_check(a->out_path);
    if (rc == MX_OK)
        rc = load_inputs(a, &in);
    if (rc < 0) {
        release_inputs(&in);
        return rc;
    }
    struct plan_problem pb = problem(a, &in, &in.cluster);
    double start = mx_wall_s();
    rc = plan_solve(policy, &pb, &params, &plan, &outcome);
    double planning_s = mx_wall_s() - start;
    if (rc == MX_OK) {
        mx_json_set(plan->extra, "provenance", cli_provenance(plan_options, a->seed));
        rc = spec_plan_write(plan, a->out_path);
    }
    if (rc == MX_OK) {
        if (a->json) {
            json_t *o = json_object();
            mx_json_set(o, "policy", json_string(a->policy));
            mx_json_set(o, "attainment", json_real(outcome.attainment));
            mx_json_set(o, "mean_latency_s", json_real(outcome.mean_latency_s));
            mx_json_set(o, "planning_s", json_real(planning_s));
            mx_json_set(o, "replicas", json_integer(outcome.replicas));
            mx_json_set(o, "evaluations", json_integer(outcome.evaluations));
            mx_json_set(o, "segments", json_integer(plan->n_segments));
            mx_json_set(o, "groups", groups_json(plan));
            mx_json_set(o, "plan", json_string(a->out_path));
            json_t *unplaced = json_object_get(plan->extra, "unplaced");
            if (unplaced)
                mx_json_set(o, "unplaced", json_incref(unplaced));
            rc = mx_json_print(stdout, o);
            json_decref(o);
        } else {
            char *groups = spec_plan_describe_groups(plan);
            printf("%s: %s, %u replicas; predicted attainment %.4f on the training workload "
                   "(%zu requests); planned in %.2f s (%u simulations); wrote %s\n",
                   a->policy, groups, outcome.replicas, outcome.attainment, in.train->n, planning_s,
                   outcome.evaluations, a->out_path);
            free(groups);
            json_t *unplaced = json_object_get(plan->extra, "unplaced");
            if (unplaced)
                printf("unplaced (no memory left for them): %zu models\n",
                       json_array_size(unplaced));
        }
    }
    spec_plan_free(plan);
    release_inputs(&in);
    return rc;
}

static int run_compare(const struct plan_args *a)
{
    struct inputs in = {0};
    if (!a->policies)
        return cli_usage_error("compare", "--policies is required");
    int rc = load_inputs(a, &in);
    json_t *rows = json_array();
    char *list = mx_strdup(a->policies), *save = NULL;
    if (rc == MX_OK && !a->json)
        printf("%-14s %-34s %9s %11s %10s %11s\n", "policy", "groups and configs", "replicas",
               "attainment", "p99 ms", "planning s");
    for (char *name = strtok_r(list, ",", &save); name && rc == MX_OK;
         name = strtok_r(NULL, ",", &save)) {
        struct plan_params params = a->params;
        const struct plan_policy *policy = plan_policy_find(name, &params);
        if (!policy) {
            rc = cli_usage_error("compare", "--policies: unknown policy \"%s\"", name);
            break;
        }
        struct plan_problem pb = problem(a, &in, &in.cluster);
        struct spec_plan *plan = NULL;
        struct plan_outcome outcome;
        struct sim_summary summary = {0};
        double start = mx_wall_s();
        rc = plan_solve(policy, &pb, &params, &plan, &outcome);
        double planning_s = mx_wall_s() - start;
        if (rc == MX_OK && a->plans_dir) {
            char *path = mx_strfmt("%s/%s.json", a->plans_dir, name);
            mx_json_set(plan->extra, "provenance", cli_provenance(plan_options, a->seed));
            if ((rc = mx_output_check(path)) == MX_OK)
                rc = spec_plan_write(plan, path);
            free(path);
        }
        if (rc == MX_OK)
            rc = simulate(a, &in, &in.cluster, plan, &summary);
        if (rc == MX_OK) {
            char *groups = spec_plan_describe_groups(plan);
            if (a->json)
                mx_json_append(rows, json_pack("{s:s, s:s, s:i, s:f, s:o, s:f, s:f}", "policy",
                                               name, "groups", groups, "replicas", outcome.replicas,
                                               "attainment", summary.attainment, "p99_s",
                                               mx_json_real_or_null(summary.good_latency.p99_s),
                                               "planning_s", planning_s, "predicted_attainment",
                                               outcome.attainment));
            else
                printf("%-14s %-34s %9u %11.4f %10.1f %11.2f\n", name, groups, outcome.replicas,
                       summary.attainment, summary.good_latency.p99_s * 1e3, planning_s);
            free(groups);
        }
        sim_summary_release(&summary);
        spec_plan_free(plan);
    }
    if (rc == MX_OK && a->json) {
        json_t *o = json_object();
        mx_json_set(o, "test_workload", json_string(a->test_path ? a->test_path : "training"));
        mx_json_set(o, "policies", json_incref(rows));
        rc = mx_json_print(stdout, o);
        json_decref(o);
    }
    json_decref(rows);
    free(list);
    release_inputs(&in);
    return rc;
}

/* Plan for n devices and simulate it on the test workload. */
static int attainment_at(const struct plan_args *a, const struct inputs *in,
                         const struct plan_policy *policy, const struct plan_params *params,
                         uint32_t n, double *attainment)
{
    struct spec_cluster cluster = in->cluster;
    cluster.devices = n;
    struct plan_problem pb = problem(a, in, &cluster);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    struct sim_summary summary = {0};
    int rc = plan_solve(policy, &pb, params, &plan, &outcome);
    if (rc == MX_OK)
        rc = simulate(a, in, &cluster, plan, &summary);
    if (rc == MX_OK)
        *attainment = summary.attainment;
    sim_summary_release(&summary);
    spec_plan_free(plan);
    return rc;
}

static int run_capacity(const struct plan_args *a)
{
    struct inputs in = {0};
    struct plan_params params = a->params;
    const struct plan_policy *policy = a->policy ? plan_policy_find(a->policy, &params) : NULL;
    if (!policy)
        return cli_usage_error("capacity",
                               a->policy ? "--policy: unknown policy" : "--policy is required");
    int rc = load_inputs(a, &in);
    uint32_t max = (uint32_t)a->max_devices, tried = 0;
    uint32_t *ns = MX_NEW_ARRAY(uint32_t, 64);
    double *att = MX_NEW_ARRAY(double, 64);
    uint32_t lo = 0, hi = 0; /* lo fails (0: none tried), hi reaches the target (0: none yet) */
    for (uint32_t n = 1; rc == MX_OK;) {
        rc = attainment_at(a, &in, policy, &params, n, &att[tried]);
        ns[tried] = n;
        if (rc == MX_OK && att[tried++] >= a->target)
            hi = n;
        else
            lo = n;
        if (hi || n >= max)
            break;
        n = n > max / 2 ? max : 2 * n;
    }
    while (rc == MX_OK && hi && hi - lo > 1 && tried < 64) {
        uint32_t mid = lo + (hi - lo) / 2;
        rc = attainment_at(a, &in, policy, &params, mid, &att[tried]);
        ns[tried] = mid;
        if (rc == MX_OK && att[tried++] >= a->target)
            hi = mid;
        else if (rc == MX_OK)
            lo = mid;
    }
    if (rc == MX_OK) {
        if (a->json) {
            json_t *curve = json_array();
            for (uint32_t k = 0; k < tried; k++)
                mx_json_append(curve,
                               json_pack("{s:i, s:f}", "devices", ns[k], "attainment", att[k]));
            json_t *o = json_pack("{s:s, s:f, s:o}", "policy", a->policy, "target", a->target,
                                  "curve", curve);
            mx_json_set(o, "devices", hi ? json_integer(hi) : json_null());
            rc = mx_json_print(stdout, o);
            json_decref(o);
        } else {
            printf("%-10s %11s\n", "devices", "attainment");
            for (uint32_t k = 0; k < tried; k++)
                printf("%-10u %11.4f\n", ns[k], att[k]);
            if (hi)
                printf("%s reaches %.4f with %u devices\n", a->policy, a->target, hi);
            else
                printf("%s does not reach %.4f within %u devices\n", a->policy, a->target, max);
        }
    }
    free(ns);
    free(att);
    release_inputs(&in);
    return rc;
}

static int dispatch_command(int argc, char **argv, const char *help,
                            int (*run)(const struct plan_args *))
{
    struct plan_args a = {.command = argv[0]};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            for (const struct plan_policy *const *p = plan_policies; *p; p++)
                printf("  %-14s %s\n", (*p)->name, (*p)->summary);
            return 0;
        }
    int rc = parse_args(argc, argv, &a);
    if (rc == MX_OK)
        rc = run(&a);
    return rc == MX_OK ? 0 : cli_report(rc);
}

int cli_plan(int argc, char **argv)
{
    return dispatch_command(argc, argv, plan_help, run_plan);
}

int cli_compare(int argc, char **argv)
{
    return dispatch_command(argc, argv, compare_help, run_compare);
}

int cli_capacity(int argc, char **argv)
{
    return dispatch_command(argc, argv, capacity_help, run_capacity);
}
