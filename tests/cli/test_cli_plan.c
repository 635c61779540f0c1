/* The planner's commands as users run them: every policy plans a two-kind model set, its plan is
 * byte-identical for 1 and 3 threads and passes the simulator's own validation with the attainment
 * the planner predicted; compare and capacity print their tables; and bad inputs exit 2 naming
 * what is wrong, leaving no plan behind. */
#include "fixture.h"
#include "mx_alloc.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROFILE "data/profiles/v100-reference.h5"

/* Four BERT-1.3B and four BERT-125M models (two latency buckets for alpaserve-sep). */
static const char two_kinds[] =
    "{\"format\": \"muxplan-models/1\", \"models\": [\n"
    " {\"name\": \"big0\", \"base\": \"bert-1.3b\", \"slo_scale\": 5, \"rate\": 6, \"cv\": 3},\n"
    " {\"name\": \"big1\", \"base\": \"bert-1.3b\", \"slo_scale\": 5, \"rate\": 3, \"cv\": 3},\n"
    " {\"name\": \"big2\", \"base\": \"bert-1.3b\", \"slo_scale\": 5, \"rate\": 2, \"cv\": 3},\n"
    " {\"name\": \"big3\", \"base\": \"bert-1.3b\", \"slo_scale\": 5, \"rate\": 1, \"cv\": 3},\n"
    " {\"name\": \"small0\", \"base\": \"bert-125m\", \"slo_scale\": 5, \"rate\": 20, \"cv\": 3},\n"
    " {\"name\": \"small1\", \"base\": \"bert-125m\", \"slo_scale\": 5, \"rate\": 10, \"cv\": 3},\n"
    " {\"name\": \"small2\", \"base\": \"bert-125m\", \"slo_scale\": 5, \"rate\": 5, \"cv\": 3},\n"
    " {\"name\": \"small3\", \"base\": \"bert-125m\", \"slo_scale\": 5, \"rate\": 5, \"cv\": "
    "3}]}\n";

struct setup {
    const char *dir, *cluster;
    char models[1024], trace[1024];
};

static struct setup setup(void)
{
    struct setup s = {.dir = fx_tmpdir(), .cluster = fx_source_path("examples/cluster.json")};
    snprintf(s.models, sizeof(s.models), "%s", fx_path(s.dir, "models.json"));
    snprintf(s.trace, sizeof(s.trace), "%s", fx_path(s.dir, "train.h5"));
    fx_write_file(s.models, two_kinds);
    struct fx_output o = fx_muxplan("trace gen --models %s --profile %s --rate-dist explicit "
                                    "--duration 120 --seed 4 "
                                    "-o %s",
                                    s.models, fx_source_path(PROFILE), s.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    return s;
}

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *j = json_loads(text, 0, &error);
    cr_assert_not_null(j, "%s: %s", error.text, text);
    return j;
}

Test(plan_cli, every_policy_is_deterministic_and_valid)
{
    struct setup s = setup();
    static const char *const policies[] = {"sr",
                                           "clockwork++ --window 30 --swap-cost",
                                           "round-robin --group-size 2",
                                           "greedy-2",
                                           "alpaserve",
                                           "alpaserve-sep",
                                           "alpaserve --beam 2",
                                           "mux",
                                           "mux --robust 2 --effort 4",
                                           NULL};
    for (const char *const *policy = policies; *policy; policy++) {
        char *predicted = NULL;
        for (int threads = 1; threads <= 3; threads += 2) {
            const char *out = fx_path(s.dir, threads == 1 ? "one.json" : "three.json");
            struct fx_output o = fx_muxplan(
                "plan --cluster %s --profile %s --models %s --trace %s --policy %s "
                "--threads %d --seed 9 --json -o %s",
                s.cluster, fx_source_path(PROFILE), s.models, s.trace, *policy, threads, out);
            cr_assert_eq(o.status, 0, "%s: %s", *policy, o.err);
            json_t *j = parse(o.out);
            for (const char *const *key =
                     (const char *const[]){"policy", "attainment", "planning_s", "groups",
                                           "replicas", NULL};
                 *key; key++)
                cr_assert_not_null(json_object_get(j, *key), "%s: no \"%s\"", *policy, *key);
            if (threads == 1)
                predicted = json_dumps(json_object_get(j, "attainment"), JSON_ENCODE_ANY);
            json_decref(j);
        }
        cr_assert(fx_same_file(fx_path(s.dir, "one.json"), fx_path(s.dir, "three.json")),
                  "%s: the plan depends on the thread count", *policy);
        /* The simulator accepts the plan and measures what the planner predicted, with the
         * dispatch policy the plan records (the planner's, earliest-free, unless the policy chose
         * another one) by default. */
        struct fx_output o =
            fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s --json", s.cluster,
                       fx_source_path(PROFILE), fx_path(s.dir, "one.json"), s.trace);
        cr_assert_eq(o.status, 0, "%s: simulate: %s", *policy, o.err);
        json_t *j = parse(o.out);
        char *measured = json_dumps(json_object_get(j, "attainment"), JSON_ENCODE_ANY);
        cr_assert_str_eq(measured, predicted, "%s", *policy);
        json_t *written = json_load_file(fx_path(s.dir, "one.json"), 0, NULL);
        cr_assert_not_null(written);
        const char *recorded = json_string_value(json_object_get(written, "dispatch"));
        cr_assert_str_eq(json_string_value(json_object_get(j, "dispatch")), recorded);
        if (strncmp(*policy, "mux", 3) != 0)
            cr_assert_str_eq(recorded, "earliest-free");
        json_decref(written);
        free(measured);
        free(predicted);
        json_decref(j);
    }
}

Test(plan_cli, compare_and_capacity_print_their_tables)
{
    struct setup s = setup();
    struct fx_output o = fx_muxplan("compare --cluster %s --profile %s --models %s --trace %s "
                                    "--policies sr,clockwork++,alpaserve --threads 2",
                                    s.cluster, fx_source_path(PROFILE), s.models, s.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    for (const char *const *f =
             (const char *const[]){"policy", "groups and configs", "replicas", "attainment",
                                   "p99 ms", "planning s", "\nsr ", "\nclockwork++ ",
                                   "\nalpaserve ", "8 x (1,1,1)", NULL};
         *f; f++)
        cr_assert(strstr(o.out, *f), "no \"%s\" in:\n%s", *f, o.out);

    o = fx_muxplan("capacity --cluster %s --profile %s --models %s --trace %s --policy sr "
                   "--target 0.9",
                   s.cluster, fx_source_path(PROFILE), s.models, s.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "devices") && strstr(o.out, "attainment"), "%s", o.out);
    cr_assert(strstr(o.out, "sr reaches"), "%s", o.out);
}

Test(plan_cli, bad_inputs_exit_2_and_leave_no_plan)
{
    struct setup s = setup();
    const char *plan = fx_path(s.dir, "plan.json");
    const char *small = fx_path(s.dir, "small.json");
    /* A budget no BERT-1.3B stage fits: the model, its size and the budget are named. */
    fx_write_file(small,
                  "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, \"devices_per_node\": "
                  "8, \"mem_budget_bytes\": 100000000}");
    fx_expect_bad(plan,
                  (const char *const[]){"model \"big0\" (base \"bert-1.3b\") needs at least",
                                        "bytes per device", "over the budget of 100000000 bytes",
                                        NULL},
                  "plan --cluster %s --profile %s --models %s --trace %s --policy alpaserve -o %s",
                  small, fx_source_path(PROFILE), s.models, s.trace, plan);
    /* More devices per group than the cluster has; a group size nothing is profiled for. */
    fx_expect_bad(
        plan,
        (const char *const[]){"greedy-16: groups of 16 devices do not fit the 8 devices", NULL},
        "plan --cluster %s --profile %s --models %s --trace %s --policy greedy-16 -o %s", s.cluster,
        fx_source_path(PROFILE), s.models, s.trace, plan);
    fx_expect_bad(
        plan, (const char *const[]){"greedy-3: profile", "has the config (1, 1, 3) for none", NULL},
        "plan --cluster %s --profile %s --models %s --trace %s --policy greedy-3 -o %s", s.cluster,
        fx_source_path(PROFILE), s.models, s.trace, plan);
    /* Unknown policy; swaps charged on a cluster that does not say how fast weights load. */
    fx_expect_bad(plan, (const char *const[]){"unknown policy \"best\"", NULL},
                  "plan --cluster %s --profile %s --models %s --trace %s --policy best -o %s",
                  s.cluster, fx_source_path(PROFILE), s.models, s.trace, plan);
    fx_write_file(small,
                  "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, \"devices_per_node\": "
                  "8, \"mem_budget_bytes\": 13958643712}");
    fx_expect_bad(plan,
                  (const char *const[]){"--swap-cost needs the cluster's "
                                        "load_bandwidth_bytes_per_s, which",
                                        "small.json does not give", NULL},
                  "plan --cluster %s --profile %s --models %s --trace %s --policy clockwork++ "
                  "--swap-cost -o %s",
                  small, fx_source_path(PROFILE), s.models, s.trace, plan);
    /* A model set that lacks the training trace's models. */
    fx_expect_bad(
        plan, (const char *const[]){"model \"big0\" of the trace is not in", "models.json", NULL},
        "plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s", s.cluster,
        fx_source_path(PROFILE), fx_source_path("examples/models.json"), s.trace, plan);
}

/* Messages that once misled (issue 21, items 7 and 11): each names what is wrong in the user's
 * terms, with status 2 and nothing written. */
Test(plan_cli, bad_sizes_and_characters_are_named_plainly)
{
    struct setup s = setup();
    const char *out = fx_path(s.dir, "x.h5"), *plan = fx_path(s.dir, "plan.json");
    fx_expect_bad(out,
                  (const char *const[]){"the generated workload has no requests (1 s at the "
                                        "models' rates): make it longer or its rates higher",
                                        NULL},
                  "trace gen --models %s --profile %s --total-rate 0.001 --duration 1 -o %s",
                  fx_source_path("examples/models.json"), fx_source_path(PROFILE), out);
    fx_expect_bad(
        out, (const char *const[]){"the total rate must be in (0, 1e9) requests per second", NULL},
        "trace gen --models %s --profile %s --total-rate 1e9 --duration 1e9 -o %s",
        fx_source_path("examples/models.json"), fx_source_path(PROFILE), out);
    const char *cluster = fx_path(s.dir, "c.json");
    fx_write_file(
        cluster,
        "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, "
        "\"devices_per_node\": 8, \"mem_budget_bytes\": 13958643712, \"x\": \"a\\u0000b\"}");
    fx_expect_bad(plan, (const char *const[]){"c.json:1:", "a NUL character", NULL},
                  "plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s",
                  cluster, fx_source_path(PROFILE), s.models, s.trace, plan);
    fx_write_file(cluster, "{\"format\": \"muxplan-cluster/1\", \"devices\": 1048576, "
                           "\"devices_per_node\": 8, \"mem_budget_bytes\": 13958643712}");
    fx_expect_bad(
        plan, (const char *const[]){"c.json: devices: 1048576 is out of range [1, 65536]", NULL},
        "plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s", cluster,
        fx_source_path(PROFILE), s.models, s.trace, plan);
}

/* With --trace, the trace's SLOs apply unless --model-slos gives every request its model's (issue
 * 21, item 17); plan's report says which. */
Test(plan_cli, model_slos_replace_the_traces_own)
{
    struct setup s = setup();
    const char *csv = fx_path(s.dir, "t.csv"), *loose = fx_path(s.dir, "loose.h5");
    struct fx_output o = fx_muxplan("trace export csv %s -o %s", s.trace, csv);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan(
        "trace import csv %s --time-column arrival_s --key-column model --slo 1000 -o %s", csv,
        loose);
    cr_assert_eq(o.status, 0, "%s", o.err);
    double attainment[2];
    for (int k = 0; k < 2; k++) {
        o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s%s",
                       s.cluster, fx_source_path(PROFILE), s.models, loose,
                       fx_path(s.dir, "p.json"), k ? " --model-slos" : "");
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert(strstr(o.out, k ? "SLOs of the model set" : "SLOs of the trace"), "%s", o.out);
        const char *at = strstr(o.out, "predicted attainment ");
        cr_assert(at && sscanf(at, "predicted attainment %lf", &attainment[k]) == 1, "%s", o.out);
    }
    cr_assert_eq(attainment[0], 1, "a 1000 s SLO is always met");
    cr_assert_lt(attainment[1], 1, "the model set's 5x SLOs are not, on 8 devices");
}

/* Each of plan, compare and capacity takes its own options and the parameters of the policies it
 * runs; everything is checked before any work starts (no plan is left, nothing is printed). */
Test(plan_cli, options_that_do_not_apply_are_errors)
{
    struct setup s = setup();
    const char *plan = fx_path(s.dir, "plan.json");
    const char *common = fx_path(s.dir, "x"); /* unused output of compare and capacity */
    char inputs[4096];
    snprintf(inputs, sizeof(inputs), "--cluster %s --profile %s --models %s --trace %s", s.cluster,
             fx_source_path(PROFILE), s.models, s.trace);
    fx_expect_bad(plan,
                  (const char *const[]){"plan: unknown or incomplete option \"--target\"", NULL},
                  "plan %s --policy sr --target 0.5 -o %s", inputs, plan);
    fx_expect_bad(plan,
                  (const char *const[]){"plan: unknown or incomplete option \"--plans-dir\"", NULL},
                  "plan %s --policy sr --plans-dir /nonexistent -o %s", inputs, plan);
    fx_expect_bad(plan,
                  (const char *const[]){"--window applies to none of the policies (sr)", NULL},
                  "plan %s --policy sr --window 30 -o %s", inputs, plan);
    fx_expect_bad(plan, (const char *const[]){"--policy takes one policy", NULL},
                  "plan %s --policy sr,alpaserve -o %s", inputs, plan);
    fx_expect_bad(
        common,
        (const char *const[]){"capacity: unknown or incomplete option \"--plans-dir\"", NULL},
        "capacity %s --policy sr --plans-dir %s", inputs, common);
    fx_expect_bad(common, (const char *const[]){"--policies: an empty policy name in \"\"", NULL},
                  "compare %s --policies=", inputs);
    /* The whole list is checked before sr is planned: no table header is printed. */
    struct fx_output o = fx_muxplan("compare %s --policies sr,,bogus", inputs);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "an empty policy name in \"sr,,bogus\""), "%s", o.err);
    cr_assert_str_empty(o.out);
    o = fx_muxplan("compare %s --policies sr,bogus", inputs);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "--policies: unknown policy \"bogus\""), "%s", o.err);
    cr_assert_str_empty(o.out);
    fx_expect_bad(common, (const char *const[]){"\"sr\" is listed twice", NULL},
                  "compare %s --policies sr,alpaserve,sr", inputs);
    /* A parameter applies when one of compare's policies reads it. */
    o = fx_muxplan("compare %s --policies sr,round-robin --group-size 2 --json", inputs);
    cr_assert_eq(o.status, 0, "%s", o.err);
    fx_expect_bad(common, (const char *const[]){"--max-op applies to none of the policies", NULL},
                  "compare %s --policies sr,round-robin --max-op 2", inputs);
}

/* compare --plans-dir: a FIFO where a plan goes is refused before any work; a failure after the
 * first plan was written (the second does not fit on the disk) leaves no plan nor the folder. */
Test(plan_cli, compare_writes_its_plans_all_or_none)
{
    struct setup s = setup();
    const char *fifo_dir = fx_path(s.dir, "fifo");
    cr_assert_eq(mkdir(fifo_dir, 0755), 0);
    cr_assert_eq(mkfifo(fx_path(fifo_dir, "sr.json"), 0644), 0);
    struct fx_output o =
        fx_muxplan("compare --cluster %s --profile %s --models %s --trace %s --policies "
                   "alpaserve,sr --plans-dir %s",
                   s.cluster, fx_source_path(PROFILE), s.models, s.trace, fifo_dir);
    cr_assert_eq(o.status, 2, "%s", o.err);
    cr_assert(strstr(o.err, "sr.json: exists and is not a regular file"), "%s", o.err);
    cr_assert_str_eq(o.out, "", "refused before any work");
    cr_assert_eq(fx_count_entries(fifo_dir, NULL), 1);
    /* The plans' sizes, from a run into a folder whose name has the same length (the provenance
     * holds it), then a file size limit between them, the smaller plan written first. */
    const char *ref = fx_path(s.dir, "ref"), *out = fx_path(s.dir, "out");
    o = fx_muxplan("compare --cluster %s --profile %s --models %s --trace %s --policies "
                   "alpaserve,sr --plans-dir %s",
                   s.cluster, fx_source_path(PROFILE), s.models, s.trace, ref);
    cr_assert_eq(o.status, 0, "%s", o.err);
    size_t size[2];
    static const char *const names[2] = {"alpaserve", "sr"};
    for (int k = 0; k < 2; k++) {
        char file[64];
        snprintf(file, sizeof(file), "%s.json", names[k]);
        free(fx_read_file(fx_path(ref, file), &size[k]));
    }
    cr_assert_neq(size[0], size[1]);
    int first = size[0] < size[1] ? 0 : 1;
    o = fx_muxplan_fsize((long)(size[0] + size[1]) / 2,
                         "compare --cluster %s --profile %s --models %s --trace %s --policies "
                         "%s,%s --plans-dir %s",
                         s.cluster, fx_source_path(PROFILE), s.models, s.trace, names[first],
                         names[1 - first], out);
    cr_assert_eq(o.status, 1, "%s", o.err);
    char expect[1100];
    snprintf(expect, sizeof(expect), "muxplan: %s/%s.json: cannot write: File too large\n", out,
             names[1 - first]);
    cr_assert_str_eq(o.err, expect);
    cr_assert(strstr(o.out, names[first]), "the first policy was planned: %s", o.out);
    cr_assert(!fx_exists(out), "%zu entries left", fx_count_entries(out, NULL));
}

/* A plan's "dispatch" must name a policy the simulator has. */
Test(plan_cli, a_plan_names_a_known_dispatch_policy)
{
    struct setup s = setup();
    const char *plan = fx_path(s.dir, "plan.json"), *out = fx_path(s.dir, "r.h5");
    fx_write_file(plan, "{\"format\": \"muxplan-plan/1\", \"dispatch\": \"fastest\", "
                        "\"models\": [{\"name\": \"big0\", \"base\": \"bert-1.3b\"}], "
                        "\"groups\": [{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, "
                        "\"pp\": 1, \"models\": [\"big0\"]}]}");
    fx_expect_bad(out,
                  (const char *const[]){"plan.json: dispatch: unknown policy \"fastest\"", NULL},
                  "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s",
                  s.cluster, fx_source_path(PROFILE), plan, s.trace, out);
    fx_write_file(plan, "{\"format\": \"muxplan-plan/1\", \"dispatch\": 3, \"models\": [], "
                        "\"groups\": []}");
    fx_expect_bad(
        out, (const char *const[]){"plan.json: dispatch: expected the name of a dispatch", NULL},
        "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s", s.cluster,
        fx_source_path(PROFILE), plan, s.trace, out);
}

/* capacity tries only the device counts a cluster can have (nodes of 8: 1, 2, 4, 8, then whole
 * nodes), writes the plan and cluster of the count it finds (which simulate accepts and which
 * reach the attainment capacity reported), and with --seeds reports the spread over workloads. */
Test(plan_cli, capacity_searches_valid_counts_and_writes_its_answer)
{
    struct setup s = setup();
    const char *dir = fx_path(s.dir, "answer"), *big = fx_path(s.dir, "big.json");
    fx_write_file(big, "{\"format\": \"muxplan-cluster/1\", \"devices\": 64, "
                       "\"devices_per_node\": 8, \"mem_budget_bytes\": 13958643712, "
                       "\"overheads\": {\"preset\": \"alpaserve-fast\"}}");
    struct fx_output o =
        fx_muxplan("capacity --cluster %s --profile %s --models %s --trace %s --policy sr "
                   "--target 0.995 --json -o %s",
                   big, fx_source_path(PROFILE), s.models, s.trace, dir);
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_t *j = parse(o.out);
    json_t *curve = json_object_get(j, "curve");
    json_int_t found = json_integer_value(json_object_get(j, "devices"));
    double reached = -1;
    for (size_t k = 0; k < json_array_size(curve); k++) {
        json_t *pt = json_array_get(curve, k);
        json_int_t n = json_integer_value(json_object_get(pt, "devices"));
        cr_assert(n <= 8 || n % 8 == 0, "tried %lld devices on nodes of 8", (long long)n);
        if (n == found)
            reached = json_real_value(json_object_get(pt, "attainment"));
    }
    cr_assert_gt(found, 8, "%s", o.out);
    json_decref(j);
    o = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s --json",
                   fx_path(dir, "cluster.json"), fx_source_path(PROFILE), fx_path(dir, "plan.json"),
                   s.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    j = parse(o.out);
    cr_assert_float_eq(json_real_value(json_object_get(j, "attainment")), reached, 1e-12);
    json_decref(j);

    o = fx_muxplan("capacity --cluster %s --profile %s --models %s --policy sr --seeds 2 "
                   "--duration 60 --target 0.9",
                   s.cluster, fx_source_path(PROFILE), s.models);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "lowest") && strstr(o.out, "(2 seeds)") &&
                  strstr(o.out, "on every seed"),
              "%s", o.out);
}

/* The share of good requests in simulate's JSON for plan on the setup's training trace, with the
 * cluster's variability, seed 9. */
static double variable_attainment(const struct setup *s, const char *cluster, const char *plan)
{
    struct fx_output o = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s "
                                    "--seed 9 --json",
                                    cluster, fx_source_path(PROFILE), plan, s->trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_t *j = parse(o.out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "engine")), "event-variable");
    double a = json_real_value(json_object_get(j, "attainment"));
    json_decref(j);
    return a;
}

/* --variance-finalists K rescores alpaserve's best K layouts with the cluster's variable stage
 * times and keeps the best of them by that score, so on the training workload (same seed) it can
 * only do as well as the deterministic choice or better; a cluster without variability plans
 * exactly as without the option. */
Test(plan_cli, variance_finalists_keep_the_best_under_variability)
{
    struct setup s = setup();
    const char *varying = fx_path(s.dir, "varying.json");
    size_t len;
    char *text = fx_read_file(s.cluster, &len);
    char *brace = strrchr(text, '}');
    cr_assert_not_null(brace);
    *brace = '\0';
    char *cluster = mx_strfmt("%s, \"interference\": {\"busy_slowdown\": [1, 1.3, 1.6, 2]}, "
                              "\"stage_time\": {\"dist\": \"lognormal\", \"cv\": 0.5}}",
                              text);
    fx_write_file(varying, cluster);
    free(cluster);
    free(text);
    const char *plain = fx_path(s.dir, "plain.json"), *finalists = fx_path(s.dir, "final.json");
    struct fx_output o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s "
                                    "--policy alpaserve --seed 9 -o %s",
                                    varying, fx_source_path(PROFILE), s.models, s.trace, plain);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s --policy alpaserve "
                   "--seed 9 --variance-finalists 4 -o %s",
                   varying, fx_source_path(PROFILE), s.models, s.trace, finalists);
    cr_assert_eq(o.status, 0, "%s", o.err);
    double before = variable_attainment(&s, varying, plain);
    double after = variable_attainment(&s, varying, finalists);
    cr_assert_geq(after, before, "finalists %g, plain %g", after, before);

    o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s --policy alpaserve "
                   "--seed 9 -o %s",
                   s.cluster, fx_source_path(PROFILE), s.models, s.trace, plain);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s --policy alpaserve "
                   "--seed 9 --variance-finalists 4 -o %s",
                   s.cluster, fx_source_path(PROFILE), s.models, s.trace, finalists);
    cr_assert_eq(o.status, 0, "%s", o.err);
    char *plain_text = fx_read_file(plain, &len), *finalists_text = fx_read_file(finalists, &len);
    json_t *a = parse(plain_text), *b = parse(finalists_text);
    cr_assert(json_equal(json_object_get(a, "groups"), json_object_get(b, "groups")));
    json_decref(a);
    json_decref(b);
    free(plain_text);
    free(finalists_text);
}
