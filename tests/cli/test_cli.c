/* The muxplan command line, run as users run it: help, whole runs on the bundled examples,
 * determinism of every output file across thread counts, and every bad input: exit status 2, a
 * message naming the file and the place, and no output file left behind. */
#include "fixture.h"
#include "mx_error.h"
#include "mx_h5.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROFILE "data/profiles/v100-reference.h5"

/* Generate the bundled example workload into dir/name. */
static void gen_example(const char *dir, const char *name, int threads, double duration)
{
    struct fx_output o = fx_muxplan(
        "trace gen --models %s --profile %s --rate-dist power:0.5 --total-rate 30 --cv 4 "
        "--duration %g --seed 1 --threads %d -o %s",
        fx_source_path("examples/models.json"), fx_source_path(PROFILE), duration, threads,
        fx_path(dir, name));
    cr_assert_eq(o.status, 0, "trace gen: %s", o.err);
}

Test(cli, help_everywhere)
{
    struct fx_output o = fx_muxplan("--help");
    cr_assert_eq(o.status, 0);
    cr_assert(strstr(o.out, "simulate"));
    static const char *const commands[] = {
        "trace gen", "trace import", "trace export", "trace stats", "simulate", "profile", "sweep"};
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        o = fx_muxplan("%s --help", commands[k]);
        cr_assert_eq(o.status, 0, "%s --help", commands[k]);
        cr_assert(strstr(o.out, "example"), "%s --help has an example", commands[k]);
    }
    o = fx_muxplan("frobnicate");
    cr_assert_eq(o.status, 2);
    cr_assert_str_eq(o.err, "muxplan: unknown command \"frobnicate\" (see 'muxplan --help')\n");
    o = fx_muxplan("simulate --plan x.json");
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "--cluster, --profile, --plan and --trace are required"), "%s", o.err);
    o = fx_muxplan("trace gen --models m.json --duration abc -o x.h5");
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "--duration: \"abc\" is not a number"), "%s", o.err);
}

Test(cli, generate_describe_simulate_export)
{
    const char *dir = fx_tmpdir();
    gen_example(dir, "t.h5", 1, 120);
    struct fx_output o = fx_muxplan("trace stats %s --json", fx_path(dir, "t.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_t *stats = json_loads(o.out, 0, NULL);
    cr_assert_not_null(stats, "%s", o.out);
    cr_assert_gt(json_integer_value(json_object_get(stats, "requests")), 3000);
    cr_assert_eq(json_array_size(json_object_get(stats, "models")), 8);
    cr_assert_float_eq(json_real_value(json_object_get(stats, "duration_s")), 120, 1e-9);
    json_decref(stats);

    o = fx_muxplan("simulate --cluster %s --profile %s --plan %s --trace %s --dispatch "
                   "earliest-free --json --requests-out %s",
                   fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                   fx_source_path("examples/plan-pipeline.json"), fx_path(dir, "t.h5"),
                   fx_path(dir, "r.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    json_t *summary = json_loads(o.out, 0, NULL);
    cr_assert_not_null(summary, "%s", o.out);
    double attainment = json_real_value(json_object_get(summary, "attainment"));
    cr_assert(attainment > 0.5 && attainment <= 1, "attainment %g", attainment);
    cr_assert_str_eq(json_string_value(json_object_get(summary, "engine")), "fast");
    json_int_t requests = json_integer_value(json_object_get(summary, "requests"));
    json_int_t good = json_integer_value(json_object_get(summary, "good"));
    json_int_t late = json_integer_value(json_object_get(summary, "late"));
    json_int_t rejected = json_integer_value(json_object_get(summary, "rejected_total"));
    cr_assert_eq(requests, good + late + rejected, "conservation");
    cr_assert_not_null(json_object_get(json_object_get(summary, "latency_good_s"), "p99.9"));
    json_decref(summary);

    struct mx_h5 h;
    cr_assert_eq(mx_h5_open(fx_path(dir, "r.h5"), "results", 1, &h), MX_OK, "%s",
                 mx_error_message());
    uint8_t *status, *good_column;
    size_t dims[2], dims_good[2];
    cr_assert_eq(mx_h5_read(&h, "/status", MX_H5_U8, 1, dims, (void **)&status), MX_OK);
    cr_assert_eq(mx_h5_read(&h, "/good", MX_H5_U8, 1, dims_good, (void **)&good_column), MX_OK);
    cr_assert_eq(dims[0], (size_t)requests);
    size_t counted = 0;
    for (size_t i = 0; i < dims[0]; i++) {
        cr_assert_eq(good_column[i], status[i] == 0);
        counted += good_column[i];
    }
    cr_assert_eq(counted, (size_t)good);
    free(status);
    free(good_column);
    double attainment_attr;
    cr_assert_eq(mx_h5_attr_read_f64(&h, "/", "attainment", &attainment_attr), MX_OK);
    cr_assert_float_eq(attainment_attr, attainment, 1e-15);
    mx_h5_abort(&h);

    o = fx_muxplan("trace export csv %s -o %s", fx_path(dir, "t.h5"), fx_path(dir, "t.csv"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("trace import csv %s -o %s", fx_path(dir, "t.csv"), fx_path(dir, "t2.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("trace export csv %s -o %s", fx_path(dir, "t2.h5"), fx_path(dir, "t2.csv"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(fx_same_file(fx_path(dir, "t.csv"), fx_path(dir, "t2.csv")), "CSV round trip");
}

Test(cli, profile_import_export)
{
    const char *dir = fx_tmpdir();
    struct fx_output o =
        fx_muxplan("profile export %s -o %s", fx_source_path(PROFILE), fx_path(dir, "p.json"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("profile import %s -o %s", fx_path(dir, "p.json"), fx_path(dir, "p.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(fx_same_file(fx_path(dir, "p.h5"), fx_source_path(PROFILE)),
              "the bundled DB is what importing its JSON gives, byte for byte");
}

static const char schedule_plan[] =
    "{\"format\": \"muxplan-plan/1\",\n"
    " \"models\": [{\"name\": \"m0\", \"base\": \"bert-1.3b\"}, {\"name\": \"m1\", \"base\": "
    "\"bert-1.3b\"}, {\"name\": \"m2\", \"base\": \"bert-1.3b\"}, {\"name\": \"m3\", \"base\": "
    "\"bert-1.3b\"}, {\"name\": \"m4\", \"base\": \"bert-1.3b\"}, {\"name\": \"m5\", \"base\": "
    "\"bert-1.3b\"}, {\"name\": \"m6\", \"base\": \"bert-2.6b\"}, {\"name\": \"m7\", \"base\": "
    "\"bert-2.6b\"}],\n"
    " \"schedule\": [\n"
    "  {\"start_s\": 0, \"groups\": [{\"id\": 0, \"devices\": [0, 1, 2, 3], \"dp\": 1, \"op\": 1, "
    "\"pp\": 4, \"models\": [\"m0\", \"m1\", \"m2\", \"m3\", \"m4\", \"m5\", \"m6\", \"m7\"]}]},\n"
    "  {\"start_s\": 20, \"groups\": [{\"id\": 0, \"devices\": [0, 1], \"dp\": 1, \"op\": 1, "
    "\"pp\": 2, \"models\": [\"m0\", \"m1\", \"m2\", \"m3\", \"m6\"]}, {\"id\": 1, \"devices\": "
    "[2, "
    "3], \"dp\": 1, \"op\": 1, \"pp\": 2, \"models\": [\"m4\", \"m5\", \"m7\", \"m0\"]}]},\n"
    "  {\"start_s\": 40, \"groups\": [{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": "
    "1, "
    "\"models\": [\"m0\", \"m1\", \"m2\", \"m3\"]}, {\"id\": 1, \"devices\": [1, 2, 3, 4], \"dp\": "
    "1, "
    "\"op\": 1, \"pp\": 4, \"models\": [\"m0\", \"m1\", \"m2\", \"m3\", \"m4\", \"m5\", \"m6\", "
    "\"m7\"]}]}]}\n";

static const char random_cluster[] =
    "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, \"devices_per_node\": 8,\n"
    " \"mem_budget_bytes\": 13958643712, \"overheads\": {\"preset\": \"alpaserve\"}}\n";

Test(cli, byte_identical_outputs_for_any_thread_count)
{
    const char *dir = fx_tmpdir();
    gen_example(dir, "a.h5", 1, 60);
    gen_example(dir, "b.h5", 2, 60);
    cr_assert(fx_same_file(fx_path(dir, "a.h5"), fx_path(dir, "b.h5")), "trace gen");

    fx_write_file(fx_path(dir, "plan.json"), schedule_plan);
    fx_write_file(fx_path(dir, "cluster.json"), random_cluster);
    char *summary[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        /* The second run abbreviates the options, as getopt allows: provenance must not see it. */
        struct fx_output o = fx_muxplan(
            "simulate --cluster %s --profile %s --plan %s --trace %s --seed 3 %s %d --json %s %s",
            fx_path(dir, "cluster.json"), fx_source_path(PROFILE), fx_path(dir, "plan.json"),
            fx_path(dir, "a.h5"), k ? "--thr" : "--threads", k ? 3 : 1,
            k ? "--requests" : "--requests-out", fx_path(dir, k ? "r3.h5" : "r1.h5"));
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert(strstr(o.out, "\"engine\": \"event\""), "random overheads need the event engine");
        summary[k] = strdup(o.out);
    }
    cr_assert_str_eq(summary[0], summary[1], "summary");
    cr_assert(fx_same_file(fx_path(dir, "r1.h5"), fx_path(dir, "r3.h5")), "per-request results");
    free(summary[0]);
    free(summary[1]);
}

struct simulate_inputs {
    const char *cluster, *plan, *trace;
};

static void expect_bad_simulate(const char *dir, struct simulate_inputs in,
                                const char *const *fragments)
{
    const char *out = fx_path(dir, "results.h5");
    fx_expect_bad(out, fragments,
                  "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s",
                  in.cluster, fx_source_path(PROFILE), in.plan, in.trace, out);
}

Test(cli, bad_inputs_exit_2_name_the_place_and_leave_nothing)
{
    const char *dir = fx_tmpdir();
    gen_example(dir, "t.h5", 1, 30);
    const char *cluster = fx_source_path("examples/cluster.json");
    const char *plan = fx_source_path("examples/plan-pipeline.json");
    const char *trace = fx_path(dir, "t.h5");
    const char *bad = fx_path(dir, "bad.json");

    /* Malformed JSON: line and column. */
    fx_write_file(bad, "{\"format\": \"muxplan-plan/1\",\n \"models\": [,]}");
    expect_bad_simulate(dir, (struct simulate_inputs){cluster, bad, trace},
                        (const char *const[]){"bad.json:2:", NULL});
    /* Missing member, wrong type, negative number in the cluster. */
    fx_write_file(bad, "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, \"devices_per_node\": "
                       "8}");
    expect_bad_simulate(
        dir, (struct simulate_inputs){bad, plan, trace},
        (const char *const[]){"bad.json", "missing member \"mem_budget_bytes\"", NULL});
    fx_write_file(bad, "{\"format\": \"muxplan-cluster/1\", \"devices\": 8, \"devices_per_node\": "
                       "8, \"mem_budget_bytes\": -5}");
    expect_bad_simulate(
        dir, (struct simulate_inputs){bad, plan, trace},
        (const char *const[]){"bad.json: mem_budget_bytes: -5 is out of range", NULL});
    fx_write_file(bad,
                  "{\"format\": \"muxplan-cluster/1\", \"devices\": [8], \"devices_per_node\": "
                  "8, \"mem_budget_bytes\": 5}");
    expect_bad_simulate(dir, (struct simulate_inputs){bad, plan, trace},
                        (const char *const[]){"bad.json: devices: expected an integer", NULL});
    /* Unknown base model; a trace model missing from the plan. */
    fx_write_file(bad, "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                       "\"gpt-9\"}], \"groups\": []}");
    expect_bad_simulate(dir, (struct simulate_inputs){cluster, bad, trace},
                        (const char *const[]){"bad.json: models[0]: base \"gpt-9\"", NULL});
    fx_write_file(bad, "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                       "\"bert-1.3b\"}], \"groups\": []}");
    expect_bad_simulate(
        dir, (struct simulate_inputs){cluster, bad, trace},
        (const char *const[]){"t.h5: model \"m1\" of the trace is not among the models of", NULL});
    /* A group over its memory budget; a config the profile lacks. */
    fx_write_file(bad,
                  "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"bert-2.6b\"}, {\"name\": \"m1\", \"base\": \"bert-2.6b\"}, {\"name\": "
                  "\"m2\", \"base\": \"bert-2.6b\"}, {\"name\": \"m3\", \"base\": "
                  "\"bert-2.6b\"}, {\"name\": \"m4\", \"base\": \"bert-1.3b\"}, {\"name\": "
                  "\"m5\", \"base\": \"bert-1.3b\"}, {\"name\": \"m6\", \"base\": "
                  "\"bert-1.3b\"}, {\"name\": \"m7\", \"base\": \"bert-1.3b\"}], \"groups\": "
                  "[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": "
                  "[\"m0\", \"m1\", \"m2\"]}]}");
    expect_bad_simulate(dir, (struct simulate_inputs){cluster, bad, trace},
                        (const char *const[]){"bad.json: groups[0] (id 0): its 3 models need",
                                              "over the budget", "cluster.json", NULL});
    fx_write_file(bad, "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                       "\"bert-1.3b\"}], \"groups\": [{\"id\": 0, \"devices\": [0, 1, 2], \"dp\": "
                       "1, \"op\": 1, \"pp\": 3, \"models\": [\"m0\"]}]}");
    expect_bad_simulate(
        dir, (struct simulate_inputs){cluster, bad, trace},
        (const char *const[]){"has no config (1, 1, 3) for base \"bert-1.3b\"", NULL});
    /* A truncated HDF5 trace. */
    const char *cut = fx_path(dir, "cut.h5");
    size_t len;
    char *bytes = fx_read_file(trace, &len);
    FILE *fp = fopen(cut, "wb");
    fwrite(bytes, 1, len / 2, fp);
    fclose(fp);
    free(bytes);
    expect_bad_simulate(dir, (struct simulate_inputs){cluster, plan, cut},
                        (const char *const[]){"cut.h5", NULL});
    /* Unsorted, negative and NaN arrivals in an imported CSV. */
    const char *csv = fx_path(dir, "bad.csv"), *out = fx_path(dir, "imported.h5");
    fx_write_file(csv, "arrival_s,model,slo_s\n1,m0,0.5\n0.5,m0,0.5\n");
    fx_expect_bad(out, (const char *const[]){"bad.csv:3: arrival_s", "sorted", NULL},
                  "trace import csv %s -o %s", csv, out);
    fx_write_file(csv, "arrival_s,model,slo_s\n-1,m0,0.5\n");
    fx_expect_bad(out,
                  (const char *const[]){"bad.csv:2: arrival_s: arrival time is negative", NULL},
                  "trace import csv %s -o %s", csv, out);
    fx_write_file(csv, "arrival_s,model,slo_s\nnan,m0,0.5\n");
    fx_expect_bad(out, (const char *const[]){"bad.csv:2: arrival_s: \"nan\" is not a number", NULL},
                  "trace import csv %s -o %s", csv, out);
    /* A model set with a wrong type, for trace gen. */
    fx_write_file(bad,
                  "{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"bert-1.3b\", \"slo_s\": \"soon\"}]}");
    fx_expect_bad(out, (const char *const[]){"bad.json: models[0].slo_s: expected a number", NULL},
                  "trace gen --models %s --total-rate 1 --duration 10 -o %s", bad, out);
    /* A CV the generators cannot take: the reader says so, with the one range they share. */
    fx_write_file(bad,
                  "{\"format\": \"muxplan-models/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"bert-1.3b\", \"slo_s\": 1, \"cv\": 0}]}");
    fx_expect_bad(
        out, (const char *const[]){"bad.json: models[0].cv: 0 is out of range [0.01, 100]", NULL},
        "trace gen --models %s --total-rate 1 --duration 10 -o %s", bad, out);
    /* A profile JSON with a bad value, for profile import. */
    fx_write_file(bad, "{\"format\": \"muxplan-profile/1\", \"hardware\": \"x\", \"models\": "
                       "[{\"name\": \"a\", \"configs\": [{\"dp\": 1, \"op\": 1, \"pp\": 1, "
                       "\"weight_bytes\": [1], \"batches\": [{\"batch\": 1, \"stage_latency_s\": "
                       "[0]}]}]}]}");
    fx_expect_bad(out, (const char *const[]){"bad.json: models[0].configs[0]: batch 1", NULL},
                  "profile import %s -o %s", bad, out);
    /* A directory for a file, an output in a directory that does not exist, a workload too large.
     */
    fx_expect_bad(out, (const char *const[]){"is a directory, not a file", NULL},
                  "trace import csv %s -o %s", dir, out);
    fx_expect_bad(
        fx_path(dir, "results.h5"),
        (const char *const[]){"cannot write there: directory", "does not exist", NULL},
        "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s/no/r.h5",
        cluster, fx_source_path(PROFILE), plan, trace, dir);
    fx_expect_bad(out, (const char *const[]){"more than 1e+09", NULL},
                  "trace gen --models %s --profile %s --total-rate 1e8 --duration 1e4 -o %s",
                  fx_source_path("examples/models.json"), fx_source_path(PROFILE), out);
    /* Warmup that leaves nothing. */
    fx_expect_bad(fx_path(dir, "results.h5"), (const char *const[]){"leaves no request", NULL},
                  "simulate --cluster %s --profile %s --plan %s --trace %s --warmup 100 "
                  "--requests-out %s",
                  cluster, fx_source_path(PROFILE), plan, trace, fx_path(dir, "results.h5"));
}

/* Running out of memory is a failure while running (status 1) with a message, not a bug (an
 * abort), and leaves no output behind. The binary runs under an address-space limit, which an
 * AddressSanitizer build cannot take (its shadow memory alone is larger): skipped there. */
Test(cli, out_of_memory_is_a_clear_failure)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("AddressSanitizer reserves more address space than the limit");
#else
    const char *out = fx_path(fx_tmpdir(), "big.h5");
    int err[2];
    cr_assert_eq(pipe(err), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit limit = {(rlim_t)2500 << 20, (rlim_t)2500 << 20};
        setrlimit(RLIMIT_AS, &limit);
        dup2(err[1], 2);
        close(err[0]);
        execl(getenv("MUXPLAN_BIN"), "muxplan", "trace", "gen", "--models",
              fx_source_path("examples/models.json"), "--profile",
              fx_source_path("data/profiles/v100-reference.h5"), "--total-rate", "100000",
              "--duration", "10000", "-o", out, (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    char text[4096] = "";
    size_t len = 0;
    ssize_t got;
    while (len + 1 < sizeof(text) && (got = read(err[0], text + len, sizeof(text) - 1 - len)) > 0)
        len += (size_t)got;
    text[len] = '\0';
    close(err[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, text);
    cr_assert(strstr(text, "muxplan: out of memory: ") && !strstr(text, "bug"), "%s", text);
    cr_assert(access(out, F_OK) != 0, "an output was left");
#endif
}
