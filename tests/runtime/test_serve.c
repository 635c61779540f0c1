/* muxplan serve and fidelity: real runs on this machine's cores, short ones. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cu_rt.h"
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_cluster.h"
#include "spec_profile.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *example(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", fx_source_path("examples/runtime"), name);
    return b;
}

/* A CPU profile of tiny-4l-256 ((1, 1, 1) and (1, 1, 2), batch 1) measured by the binary under
 * test, so that loads are right for its build: a sanitized build runs the layers slower than
 * data/profiles/cpu-local.h5 says. Measured once, next to the binary, again when the binary is
 * newer. */
static const char *cpu_profile(void)
{
    static char path[4096];
    const char *bin = getenv("MUXPLAN_BIN");
    struct stat b, p;
    cr_assert(bin, "MUXPLAN_BIN is not set");
    snprintf(path, sizeof(path), "%s.tiny-profile.h5", bin);
    if (stat(bin, &b) == 0 && stat(path, &p) == 0 && p.st_mtime >= b.st_mtime)
        return path;
    struct fx_output r = fx_muxplan("profile --backend cpu --models tiny-4l-256 --ops 1 "
                                    "--pps 1,2 --batches 1 -o %s",
                                    path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    return path;
}

/* The batch-1 latency of tiny-4l-256 on one core, from cpu_profile() (seconds). */
static double one_core_latency_s(void)
{
    struct spec_profile *db;
    cr_assert_eq(spec_profile_load(cpu_profile(), &db), MX_OK, "%s", mx_error_message());
    const struct spec_config *cfg = spec_profile_find(db, "tiny-4l-256", 1, 1, 1);
    cr_assert_not_null(cfg, "no tiny-4l-256 (1,1,1) in %s", cpu_profile());
    double latency = spec_config_latency(cfg, 0)[0];
    spec_profile_free(db);
    cr_assert(latency > 0 && latency < 1, "tiny-4l-256 takes %g s", latency);
    return latency;
}

/* A trace of the two example models at load (fraction of the two cores' capacity, by the
 * profile). */
static const char *trace_of(const char *dir, const char *models, double load, double cv,
                            double duration_s)
{
    const char *out = fx_path(dir, "trace.h5");
    double rate = load * 2.0 / one_core_latency_s();
    struct fx_output r = fx_muxplan("trace gen --models %s --profile %s --rate-dist equal "
                                    "--total-rate %.3f --cv %.2f --duration %.1f --seed 3 -o %s",
                                    models, cpu_profile(), rate, cv, duration_s, out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    return out;
}

static const char *bursty_trace(const char *dir, double load, double cv, double duration_s)
{
    return trace_of(dir, example("models.json"), load, cv, duration_s);
}

/* The same, with model b's SLO a minute: whatever the machine's speed (a loaded machine runs the
 * stages several times slower than the profile, and then refuses every request of a 5x SLO), b's
 * requests are admitted and run through both stages of a pipeline. */
static const char *lenient_trace(const char *dir, double load, double cv, double duration_s)
{
    const char *models = fx_path(dir, "models.json");
    fx_write_file(models, "{\"format\": \"muxplan-models/1\", \"models\": ["
                          "{\"name\": \"a\", \"base\": \"tiny-4l-256\", \"slo_scale\": 5}, "
                          "{\"name\": \"b\", \"base\": \"tiny-4l-256\", \"slo_s\": 60}]}");
    return trace_of(dir, models, load, cv, duration_s);
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "not JSON: %s (%s)", err.text, text);
    return doc;
}

static long long count(json_t *side, const char *key)
{
    return json_integer_value(json_object_get(side, key));
}

static void expect_conserved(json_t *side, const char *what)
{
    long long n = count(side, "requests");
    cr_assert_gt(n, 0);
    cr_assert_eq(count(side, "good") + count(side, "late") + count(side, "rejected") +
                     count(side, "failed"),
                 n, "%s: outcomes do not add up to %lld requests", what, n);
}

/* One short fidelity run of the pipeline example: every request accounted for on each side (the
 * three simulations, the replay and the run), the run calibrated (interference measured: both
 * stages are on one node), both stages used. Returns the share of requests whose group and outcome
 * the replay repeats: the replay applies the simulator's rules (and its controller) to the run's
 * own decision and stage times. */
static double short_fidelity_run(const char *trace)
{
    const char *stage_times = fx_path(fx_tmpdir(), "stage-times.json");
    struct fx_output r = fx_muxplan("fidelity --cluster %s --plan %s --trace %s --profile %s "
                                    "--calibrate --stage-times-out %s --json",
                                    example("cluster-cpu.json"), example("plan-pipeline.json"),
                                    trace, cpu_profile(), stage_times);
    cr_assert_eq(r.status, 0, "%s", r.err);
    struct spec_stage_time *st;
    size_t n_st;
    cr_assert_eq(spec_stage_times_read(stage_times, &st, &n_st), MX_OK, "%s", mx_error_message());
    cr_assert_eq(n_st, 2, "both stages of the pipeline ran");
    cr_assert_eq(st[1].stage, 1);
    cr_assert_eq(st[1].dist.kind, SPEC_DIST_EMPIRICAL);
    free(st);
    json_t *doc = parse(r.out);
    json_t *sim = json_object_get(doc, "sim"), *real = json_object_get(doc, "real");
    json_t *replay = json_object_get(doc, "replay");
    expect_conserved(sim, "sim");
    expect_conserved(replay, "replay");
    expect_conserved(real, "real");
    expect_conserved(json_object_get(doc, "sim_calibration"), "sim_calibration");
    expect_conserved(json_object_get(doc, "sim_constant"), "sim_constant");
    cr_assert(json_is_true(json_object_get(doc, "variability")));
    json_t *cal = json_object_get(doc, "calibration");
    json_t *slowdown = json_object_get(json_object_get(cal, "interference"), "busy_slowdown");
    cr_assert_eq(json_array_size(slowdown), 2, "interference of 1 and 2 busy cores");
    cr_assert_float_eq(json_real_value(json_array_get(slowdown, 0)), 1.0, 0);
    cr_assert_gt(json_real_value(json_array_get(slowdown, 1)), 0);
    cr_assert_eq(count(real, "requests"), count(sim, "requests"));
    cr_assert_eq(count(real, "requests"), count(replay, "requests"));
    cr_assert_eq(count(real, "failed"), 0);
    double agreement = json_real_value(json_object_get(doc, "replay_agreement"));
    json_t *stages = json_object_get(json_object_get(doc, "runtime"), "stages");
    cr_assert(json_is_true(json_object_get(doc, "calibrated")));
    cr_assert_eq(json_array_size(stages), 2);
    cr_assert_gt(json_integer_value(json_object_get(json_array_get(stages, 1), "runs")), 0);
    json_decref(doc);
    return agreement;
}

/* The runtime follows the simulator's rules: replayed on the run's own decision times and stage
 * times, the simulator repeats the run's decisions and outcomes, whatever the machine's speed (a
 * busy machine slows the stages, which the replay sees too). Only a race between a decision and a
 * stage completion within microseconds of each other may go the other way: every request agreed
 * in runs with another CPU-bound process on the machine. A runtime that departs from the rules
 * (one that ignores an admission decision or reorders a stage's queue, say) misses many. Against
 * the profile, the gap is the machine's noise, which bench/fidelity measures, not a test. Model
 * b's SLO is a minute, so that its requests run through both stages however slow the machine is
 * (at a load average of 6, a 5x SLO refused every request). */
Test(serve, short_run_conserves_requests_and_follows_the_simulator)
{
    const char *trace = lenient_trace(fx_tmpdir(), 0.4, 2, 6);
    double agreement = short_fidelity_run(trace);
    cr_assert(agreement >= 0.98, "the replay repeats %.2f%% of the requests", 100 * agreement);
}

Test(serve, overload_accounts_for_every_request_in_bounded_memory)
{
    const char *dir = fx_tmpdir(), *trace = bursty_trace(dir, 5, 3, 3);
    const char *results = fx_path(dir, "r.h5");
    struct fx_output r = fx_muxplan("serve --cluster %s --plan %s --trace %s --profile %s --json "
                                    "--requests-out %s",
                                    example("cluster-cpu.json"), example("plan-separate.json"),
                                    trace, cpu_profile(), results);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = parse(r.out);
    long long n = count(doc, "requests");
    static const char *const outcomes[] = {"good",    "late",       "rejected",
                                           "dropped", "no_replica", "failed"};
    long long sum = 0;
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        sum += count(doc, outcomes[i]);
    cr_assert_eq(sum, n, "outcomes add up to %lld of %lld requests", sum, n);
    cr_assert_gt(count(doc, "rejected"), n / 2, "at 5x capacity most requests must be refused");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "engine")), "runtime-cpu");
    json_decref(doc);
    struct rusage use;
    getrusage(RUSAGE_CHILDREN, &use);
    cr_assert_lt(use.ru_maxrss, 512 * 1024, "peak memory %ld KiB", use.ru_maxrss);
    cr_assert(access(results, F_OK) == 0);
}

Test(serve, ctrl_c_stops_and_reports_what_was_released)
{
    const char *dir = fx_tmpdir(), *trace = bursty_trace(dir, 0.3, 2, 60);
    const char *out = fx_path(dir, "out.json"), *profile = cpu_profile();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (!freopen(out, "w", stdout))
            _exit(99);
        execl(getenv("MUXPLAN_BIN"), "muxplan", "serve", "--cluster", example("cluster-cpu.json"),
              "--plan", example("plan-pipeline.json"), "--trace", trace, "--profile", profile,
              "--json", (char *)NULL);
        _exit(98);
    }
    sleep(3);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    size_t len;
    char *text = fx_read_file(out, &len);
    json_t *doc = parse(text);
    json_t *rt = json_object_get(doc, "runtime");
    cr_assert(json_is_true(json_object_get(rt, "interrupted")));
    long long released = json_integer_value(json_object_get(rt, "released"));
    cr_assert_gt(released, 0);
    cr_assert_eq(count(doc, "requests"), released, "the report covers the released requests");
    json_decref(doc);
    free(text);
}

Test(serve, refuses_plans_it_cannot_run)
{
    const char *dir = fx_tmpdir(), *trace = bursty_trace(dir, 0.3, 2, 2);
    const char *out = fx_path(dir, "r.h5");
    const char *cluster = example("cluster-cpu.json");

    /* A model whose base is profiled but not in the zoo. */
    const char *zoo = fx_path(dir, "zoo");
    cr_assert_eq(mkdir(zoo, 0755), 0);
    fx_expect_bad(out,
                  (const char *const[]){"plan-pipeline.json: model \"a\" cannot run",
                                        "no model \"tiny-4l-256\" in the zoo", NULL},
                  "serve --cluster %s --plan %s --trace %s --profile %s --zoo %s --requests-out %s",
                  cluster, example("plan-pipeline.json"), trace, cpu_profile(), zoo, out);

    /* More devices than this process has cores. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char text[2048];
    const char *big = fx_path(dir, "big.json"), *plan = fx_path(dir, "plan.json");
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-cluster/1\", \"devices\": %ld, \"devices_per_node\": %ld, "
             "\"mem_budget_bytes\": 1073741824}",
             cores + 1, cores + 1);
    fx_write_file(big, text);
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"a\", \"base\": "
             "\"tiny-4l-256\"}, {\"name\": \"b\", \"base\": \"tiny-4l-256\"}], \"groups\": "
             "[{\"id\": 0, \"devices\": [%ld], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": "
             "[\"a\", \"b\"]}]}",
             cores);
    fx_write_file(plan, text);
    fx_expect_bad(
        out, (const char *const[]){"plan.json: group 0 uses device", "a device is one core", NULL},
        "serve --cluster %s --plan %s --trace %s --profile %s --requests-out %s", big, plan, trace,
        cpu_profile(), out);

    /* A plan that changes over time. */
    fx_write_file(plan, "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"a\", "
                        "\"base\": \"tiny-4l-256\"}, {\"name\": \"b\", \"base\": "
                        "\"tiny-4l-256\"}], \"schedule\": [{\"start_s\": 0, \"groups\": [{\"id\": "
                        "0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"a\", "
                        "\"b\"]}]}, {\"start_s\": 1, \"groups\": [{\"id\": 0, \"devices\": [1], "
                        "\"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"a\", \"b\"]}]}]}");
    fx_expect_bad(out, (const char *const[]){"plan.json: the plan changes over time", NULL},
                  "serve --cluster %s --plan %s --trace %s --profile %s --requests-out %s", cluster,
                  plan, trace, cpu_profile(), out);

    /* Usage. */
    fx_expect_bad(out, (const char *const[]){"--backend: expected cpu or cuda", NULL},
                  "serve --cluster %s --plan %s --trace %s --backend tpu --requests-out %s",
                  cluster, example("plan-pipeline.json"), trace, out);
    fx_expect_bad(out, (const char *const[]){"--profile is required with --backend cuda", NULL},
                  "serve --cluster %s --plan %s --trace %s --backend cuda --requests-out %s",
                  cluster, example("plan-pipeline.json"), trace, out);
    fx_expect_bad(out, (const char *const[]){"--stage-times-out needs --calibrate", NULL},
                  "fidelity --cluster %s --plan %s --trace %s --stage-times-out %s", cluster,
                  example("plan-pipeline.json"), trace, out);
    fx_expect_bad(out, (const char *const[]){"--stage-times-out belongs to muxplan fidelity", NULL},
                  "serve --cluster %s --plan %s --trace %s --stage-times-out %s", cluster,
                  example("plan-pipeline.json"), trace, out);
}

Test(serve, cuda_backend_without_a_gpu_says_so)
{
    if (cu_rt_device_count() > 0)
        cr_skip_test("a GPU is present: bench/ and the device script run the cuda backend");
    const char *dir = fx_tmpdir(), *trace = bursty_trace(dir, 0.3, 2, 1);
    const char *out = fx_path(dir, "r.h5");
    fx_expect_bad(out, (const char *const[]){"the cuda backend needs a GPU", NULL},
                  "serve --cluster %s --plan %s --trace %s --backend cuda --profile %s "
                  "--requests-out %s",
                  example("cluster-cpu.json"), example("plan-pipeline.json"), trace, cpu_profile(),
                  out);
}

/* The GPU example (tools/device-check serves it on a lent GPU) stays a valid plan: the simulator
 * runs it against the bundled H200 profile. */
Test(serve, gpu_example_is_a_valid_plan)
{
    const char *dir = fx_tmpdir(), *trace = fx_path(dir, "bert.h5"),
               *profile = fx_source_path("data/profiles/h200.h5");
    struct fx_output r = fx_muxplan("trace gen --models %s --profile %s --rate-dist equal "
                                    "--total-rate 60 --cv 3 --duration 5 --seed 1 -o %s",
                                    example("models-gpu.json"), profile, trace);
    cr_assert_eq(r.status, 0, "%s", r.err);
    r = fx_muxplan("simulate --cluster %s --plan %s --trace %s --profile %s --json",
                   example("cluster-gpu.json"), example("plan-gpu-shared.json"), trace, profile);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = parse(r.out);
    double a = json_real_value(json_object_get(doc, "attainment"));
    cr_assert(a > 0 && a <= 1, "attainment %g", a);
    json_decref(doc);
}

/* "cpu_cores" is the runtime's member of the cluster file: serve validates it first. */
Test(serve, cluster_cpu_cores_are_validated)
{
    const char *dir = fx_tmpdir(), *c = fx_path(dir, "c.json"), *out = fx_path(dir, "p.json");
    const char *head = "{\"format\": \"muxplan-cluster/1\", \"devices\": 2, \"devices_per_node\": "
                       "2, \"mem_budget_bytes\": 1073741824, \"cpu_cores\": ";
    char text[512];
    snprintf(text, sizeof(text), "%s[0]}", head);
    fx_write_file(c, text);
    fx_expect_bad(out,
                  (const char *const[]){"c.json: cpu_cores: lists 1 cores for 2 devices", NULL},
                  "serve --cluster %s --profile %s --plan %s --trace x.h5 --requests-out %s", c,
                  cpu_profile(), example("plan-pipeline.json"), out);
    snprintf(text, sizeof(text), "%s[1, 1]}", head);
    fx_write_file(c, text);
    fx_expect_bad(out,
                  (const char *const[]){"c.json: cpu_cores[1]: core 1 is already device 0's", NULL},
                  "serve --cluster %s --profile %s --plan %s --trace x.h5 --requests-out %s", c,
                  cpu_profile(), example("plan-pipeline.json"), out);
}

/* --calibrate-out writes the cluster file with what the calibration measured, its other members
 * kept: a stage factor, the interference of one and two busy cores (both example stages are on
 * one node), and an empirical stage-time distribution; simulate then reads it. Values are the
 * machine's (bench/fidelity reports them); only their form is tested. The report says where the
 * controller ran: on a core no device uses, or (on a machine of two cores, both devices) on
 * theirs, with a warning. */
Test(serve, calibration_writes_the_cluster_and_the_controller_says_where_it_ran)
{
    const char *dir = fx_tmpdir(), *trace = lenient_trace(dir, 0.3, 2, 1);
    const char *out = fx_path(dir, "calibrated.json");
    struct fx_output r = fx_muxplan(
        "serve --cluster %s --plan %s --trace %s --profile %s --calibrate-out %s --json",
        example("cluster-cpu.json"), example("plan-separate.json"), trace, cpu_profile(), out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = parse(r.out);
    json_t *controller = json_object_get(json_object_get(doc, "runtime"), "controller");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t allowed;
    cr_assert_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    if (CPU_COUNT(&allowed) > 2 && CPU_ISSET(2, &allowed)) {
        cr_assert_eq(json_integer_value(json_object_get(controller, "core")), 2);
        cr_assert(json_is_false(json_object_get(controller, "shared")));
    } else if (CPU_COUNT(&allowed) == 2) {
        cr_assert(json_is_null(json_object_get(controller, "core")), "%ld cores", cores);
        cr_assert(json_is_true(json_object_get(controller, "shared")));
        cr_assert(strstr(r.err, "warning: the plan's devices use every core"), "%s", r.err);
    }
    json_decref(doc);

    struct spec_cluster c;
    cr_assert_eq(spec_cluster_read(out, &c), MX_OK, "%s", mx_error_message());
    cr_assert_gt(c.overheads.stage_factor, 0);
    cr_assert_eq(c.interference.n, 2);
    cr_assert_float_eq(c.interference.busy_slowdown[0], 1.0, 0);
    cr_assert_eq(c.stage_time.kind, SPEC_DIST_EMPIRICAL);
    cr_assert_eq(c.stage_time.n, 33);
    size_t len;
    char *text = fx_read_file(out, &len);
    cr_assert(strstr(text, "\"cpu_cores\""), "the runtime's members are kept: %s", text);
    free(text);
    r = fx_muxplan("simulate --cluster %s --plan %s --trace %s --profile %s --json", out,
                   example("plan-separate.json"), trace, cpu_profile());
    cr_assert_eq(r.status, 0, "%s", r.err);
    doc = parse(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "engine")), "event-variable");
    json_decref(doc);
}

/* The cluster's "controller_core" must be a core this process may use that no device of the plan
 * runs on. */
Test(serve, controller_core_must_be_a_free_core)
{
    const char *dir = fx_tmpdir(), *trace = bursty_trace(dir, 0.3, 2, 1);
    const char *c = fx_path(dir, "c.json"), *out = fx_path(dir, "r.h5");
    const char *head = "{\"format\": \"muxplan-cluster/1\", \"devices\": 2, \"devices_per_node\": "
                       "2, \"mem_budget_bytes\": 1073741824, \"controller_core\": ";
    char text[512];
    snprintf(text, sizeof(text), "%s1}", head);
    fx_write_file(c, text);
    fx_expect_bad(out,
                  (const char *const[]){"c.json: controller_core: core 1 runs a device of",
                                        "plan-pipeline.json", NULL},
                  "serve --cluster %s --profile %s --plan %s --trace %s --requests-out %s", c,
                  cpu_profile(), example("plan-pipeline.json"), trace, out);
    snprintf(text, sizeof(text), "%s1000}", head);
    fx_write_file(c, text);
    fx_expect_bad(out,
                  (const char *const[]){"c.json: controller_core: this process may not run on "
                                        "core 1000",
                                        NULL},
                  "serve --cluster %s --profile %s --plan %s --trace %s --requests-out %s", c,
                  cpu_profile(), example("plan-pipeline.json"), trace, out);
    snprintf(text, sizeof(text), "%s-1}", head);
    fx_write_file(c, text);
    fx_expect_bad(out, (const char *const[]){"c.json: controller_core:", NULL},
                  "serve --cluster %s --profile %s --plan %s --trace %s --requests-out %s", c,
                  cpu_profile(), example("plan-pipeline.json"), trace, out);
}

/* fidelity's text report has one unit per quantity, the population named (issue 21, item 19):
 * attainment in percent overall and per model, latency percentiles of good requests in ms. */
Test(serve, fidelity_reports_percent_and_good_request_latency)
{
    const char *dir = fx_tmpdir(), *trace = lenient_trace(dir, 0.3, 2, 2);
    struct fx_output r = fx_muxplan("fidelity --cluster %s --plan %s --trace %s --profile %s",
                                    example("cluster-cpu.json"), example("plan-separate.json"),
                                    trace, cpu_profile());
    cr_assert_eq(r.status, 0, "%s", r.err);
    int attainment_rows = 0, latency_rows = 0;
    char *text = mx_strdup(r.out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *label = line + strspn(line, " ");
        size_t len = strlen(line);
        if (strncmp(label, "attainment ", 11) == 0) {
            attainment_rows++;
            double simulated;
            cr_assert_eq(sscanf(label + 11, "%lf", &simulated), 1, "%s", line);
            cr_assert(simulated >= 0 && simulated <= 100, "%s", line);
            cr_assert(len > 2 && strcmp(line + len - 2, " %") == 0, "%s", line);
        } else if (strncmp(label, "good-request latency p", 22) == 0) {
            latency_rows++;
            cr_assert(len > 3 && strcmp(line + len - 3, " ms") == 0, "%s", line);
        }
    }
    free(text);
    cr_assert_eq(attainment_rows, 3, "overall and both models");
    cr_assert_eq(latency_rows, 5, "p50, p90, p99 overall; p99 per model");
}
