/* muxplan serve and muxplan fidelity: the runtime, and the runtime against the simulator. */
#include "cli.h"
#include "cli_serve_llm.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "rt_backend.h"
#include "rt_cores.h"
#include "rt_serve.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "sim_interference.h"
#include "sim_output.h"
#include "sim_replay.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char serve_help[] =
    "usage: muxplan serve --cluster C.json --plan P.json --trace T.h5 [--backend cpu|cuda]\n"
    "                     [--profile DB.h5] [--zoo DIR] [--dispatch POLICY] [--warmup S]\n"
    "                     [--seed K] [--queue N] [--calibrate] [--calibrate-out C2.json]\n"
    "                     [--json] [--requests-out R.h5]\n"
    "\n"
    "Executes the plan for real (docs/runtime.md): one worker per device runs its stages of the\n"
    "zoo's models on real weights (random from --seed); requests enter at their trace times,\n"
    "and dispatch and admission are the simulator's, on stage clocks corrected by measured\n"
    "completions. Prints the simulator's summary plus measured stage latencies; Ctrl-C stops\n"
    "releasing requests and reports on those released.\n"
    "\n"
    "  --backend    cpu (default): a device is a pinned core (cluster \"cpu_cores\", else core d)\n"
    "               running FP32 with single-threaded OpenBLAS; cuda: a device is a GPU\n"
    "               (device d on GPU d mod the GPU count: several share one as an emulation)\n"
    "  --profile    the stage latencies admission predicts with; default for cpu: the profile\n"
    "               tools/setup measured on this machine, data/profiles/cpu-local.h5\n"
    "  --zoo        the model architectures (default: the bundled data/models)\n"
    "  --dispatch   least-outstanding, earliest-free or best-finish (default: the plan's\n"
    "               \"dispatch\", the one it was planned with, else least-outstanding)\n"
    "  --warmup     leave out requests arriving in the first and last S seconds (default 0)\n"
    "  --queue      requests that may wait at a group's first stage (default 1024); a request\n"
    "               that finds it full fails\n"
    "  --calibrate  first build and warm up the stages, time each alone and those of a node\n"
    "               together, and use the ratio of their time alone to the profile's as the\n"
    "               cluster's stage_factor (docs/runtime.md)\n"
    "  --calibrate-out  with --calibrate (implied): also write the cluster file with what it\n"
    "               measured: overheads.stage_factor, \"interference\" (the slowdown by busy\n"
    "               devices) and \"stage_time\" (the distribution of a stage's time alone)\n"
    "\n"
    "The controller runs on a core of its own: the cluster's \"controller_core\", else the\n"
    "lowest core no device of the plan uses; when the devices use every core, it shares them\n"
    "(a warning says so) and takes time from their stages at every release.\n"
    "\n"
    "A plan of decoder models (docs/decoders.md) runs on the decoder runtime (cpu backend):\n"
    "iterations of continuous batching formed by the simulator's own scheduler, prefill chunks\n"
    "and decodes as one forward pass, a paged KV cache per device, greedy tokens; it prints\n"
    "simulate's decoder summary plus measured iterations per stage. --dispatch and --queue do\n"
    "not apply (the cluster's \"decoder\" settings do); such a plan hosts no encoders.\n"
    "\n"
    "example:\n"
    "  muxplan serve --cluster examples/runtime/cluster-cpu.json \\\n"
    "      --plan examples/runtime/plan-pipeline.json --trace burst.h5\n"
    "  muxplan serve --cluster examples/runtime/cluster-cpu.json \\\n"
    "      --plan examples/runtime/plan-llm-shared.json --trace llm.h5\n";

static const char fidelity_help[] =
    "usage: muxplan fidelity --cluster C.json --plan P.json --trace T.h5 [--backend cpu|cuda]\n"
    "                        [--profile DB.h5] [--zoo DIR] [--dispatch POLICY] [--warmup S]\n"
    "                        [--seed K] [--queue N] [--calibrate] [--calibrate-out C2.json]\n"
    "                        [--stage-times-out ST.json] [--json]\n"
    "\n"
    "Serves the plan for real (muxplan serve) and simulates it, and prints SLO attainment\n"
    "(percent) and the latency percentiles of good requests, overall and per model, for three\n"
    "sides: simulated; replayed (the simulator's rules, and its controller, on the run's own\n"
    "decision times and measured stage times: what the runtime should have done whatever the\n"
    "machine's speed); and real. Then real minus each. Options are serve's.\n"
    "\n"
    "The simulation uses the cluster as given (with its \"interference\" and \"stage_time\").\n"
    "With --calibrate it uses the stage factor the run started from, the interference the\n"
    "calibration measured, and each stage's times as the run had them net of that\n"
    "interference (docs/runtime.md); two more simulations are reported beside it: from the\n"
    "calibration alone (its distribution of stage times), and without variability at the\n"
    "stage factor the run realized. --stage-times-out (with --calibrate) writes each stage's\n"
    "distribution of times as the simulation drew them (simulate --stage-times reads it).\n"
    "\n"
    "For a plan of decoder models: attainment (overall, by TTFT and by TPOT alone), goodput,\n"
    "TTFT, TPOT and end-to-end percentiles, iterations and preemptions, overall and per model,\n"
    "simulated and real (no replay, no variability); --json gives\n"
    "\"muxplan-fidelity-decoder/1\".\n"
    "\n"
    "example:\n"
    "  muxplan fidelity --cluster examples/runtime/cluster-cpu.json \\\n"
    "      --plan examples/runtime/plan-pipeline.json --trace burst.h5 --json\n";

static const struct option serve_options[] = {{"cluster", required_argument, NULL, 'c'},
                                              {"plan", required_argument, NULL, 'P'},
                                              {"trace", required_argument, NULL, 't'},
                                              {"backend", required_argument, NULL, 'B'},
                                              {"profile", required_argument, NULL, 'p'},
                                              {"zoo", required_argument, NULL, 'z'},
                                              {"dispatch", required_argument, NULL, 'd'},
                                              {"warmup", required_argument, NULL, 'w'},
                                              {"seed", required_argument, NULL, 'k'},
                                              {"queue", required_argument, NULL, 'q'},
                                              {"calibrate", no_argument, NULL, 'C'},
                                              {"json", no_argument, NULL, 'j'},
                                              {"requests-out", required_argument, NULL, 'r'},
                                              {"calibrate-out", required_argument, NULL, 'O'},
                                              {"stage-times-out", required_argument, NULL, 'T'},
                                              {NULL, 0, NULL, 0}};

struct serve_args {
    const char *command;
    const char *cluster, *plan, *trace, *profile, *zoo, *requests_out, *calibrate_out,
        *stage_times_out;
    const struct rt_backend *backend;
    const struct sim_dispatch_policy *dispatch;
    double warmup_s;
    uint64_t seed, queue;
    bool calibrate, json;
};

static int parse_args(int argc, char **argv, const char *command, struct serve_args *a)
{
    int opt, rc = MX_OK;
    *a = (struct serve_args){.command = command, .backend = &rt_backend_cpu};
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "", serve_options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->cluster = optarg;
            break;
        case 'P':
            a->plan = optarg;
            break;
        case 't':
            a->trace = optarg;
            break;
        case 'B':
            if (!(a->backend = rt_backend_find(optarg)))
                rc =
                    cli_usage_error(command, "--backend: expected cpu or cuda, got \"%s\"", optarg);
            break;
        case 'p':
            a->profile = optarg;
            break;
        case 'z':
            a->zoo = optarg;
            break;
        case 'd':
            if (!(a->dispatch = sim_dispatch_find(optarg)))
                rc = cli_usage_error(command,
                                     "--dispatch: expected least-outstanding, earliest-free or "
                                     "best-finish, got \"%s\"",
                                     optarg);
            break;
        case 'w':
            rc = cli_parse_f64("--warmup", optarg, 0, 1e9, &a->warmup_s);
            break;
        case 'k':
            rc = cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &a->seed);
            break;
        case 'q':
            rc = cli_parse_u64("--queue", optarg, 1, 1 << 24, &a->queue);
            break;
        case 'C':
            a->calibrate = true;
            break;
        case 'O':
            a->calibrate_out = optarg;
            a->calibrate = true;
            break;
        case 'T':
            if (strcmp(command, "fidelity") == 0)
                a->stage_times_out = optarg;
            else
                rc = cli_usage_error(command, "--stage-times-out belongs to muxplan fidelity");
            break;
        case 'j':
            a->json = true;
            break;
        case 'r':
            if (strcmp(command, "serve") == 0)
                a->requests_out = optarg;
            else
                rc = cli_usage_error(command, "--requests-out belongs to muxplan serve");
            break;
        default:
            rc = cli_usage_error(command, "unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error(command, "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK && (!a->cluster || !a->plan || !a->trace))
        rc = cli_usage_error(command, "--cluster, --plan and --trace are required");
    if (rc == MX_OK && a->stage_times_out && !a->calibrate)
        rc = cli_usage_error(command, "--stage-times-out needs --calibrate");
    if (rc == MX_OK && !a->profile && a->backend != &rt_backend_cpu)
        rc = cli_usage_error(command, "--profile is required with --backend %s", a->backend->name);
    /* From here the two are owned copies (cli_bundled's buffer is reused by its next call). */
    if (rc < 0) {
        a->profile = a->zoo = NULL;
        return rc;
    }
    a->profile = mx_strdup(a->profile ? a->profile : cli_bundled("data/profiles/cpu-local.h5"));
    a->zoo = mx_strdup(a->zoo ? a->zoo : cli_bundled("data/models"));
    return MX_OK;
}

/* Ctrl-C: stop releasing requests (the run then drains and reports). */
static volatile sig_atomic_t stop_requested;

static void on_interrupt(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Everything a serve or fidelity run reads, and what it makes. */
struct serve_run {
    struct serve_args a;
    struct spec_cluster cluster;
    uint32_t *cores, n_cores; /* the cluster's "cpu_cores" (rt_cores.h), or none */
    int32_t controller_core;  /* the cluster's "controller_core", or -1 */
    struct spec_profile *db;
    struct spec_plan *plan;
    struct wl_trace *trace;
    struct sim_world *world;
    struct rt_report report;
    /* After an interrupted run: the released requests only. */
    struct wl_trace *released_trace;
    struct sim_world *released_world;
    struct sim_results *released_results;
    double calibrated; /* the stage factor --calibrate measured, NaN without it */
    struct spec_interference measured_interference; /* what --calibrate measured (n 0: none) */
    struct spec_dist measured_stage_time;           /* likewise */
    struct spec_interference run_interference;      /* fidelity: what the run showed (n 0: none) */
    double run_factor; /* the stage factor the run started from (the cluster's, or calibrated) */
    double stage_time_mean; /* fidelity --calibrate: the run's stage times net of interference
                               over the world's latencies (NaN: not computed) */
    struct sim_world *sim_worlds[3];     /* fidelity: the worlds simulated (sim_side order) */
    struct spec_stage_time *stage_times; /* fidelity --calibrate: each stage's, fitted to the run */
    size_t n_stage_times;
};

static int load_inputs(struct serve_run *s)
{
    int rc;
    const char *inputs[] = {s->a.cluster, s->a.profile, s->a.plan, s->a.trace};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        mx_input_note(inputs[i]);
    if ((s->a.requests_out && (rc = mx_output_check(s->a.requests_out)) < 0) ||
        (s->a.calibrate_out && (rc = mx_output_check(s->a.calibrate_out)) < 0) ||
        (s->a.stage_times_out && (rc = mx_output_check(s->a.stage_times_out)) < 0) ||
        (rc = spec_cluster_read(s->a.cluster, &s->cluster)) < 0 ||
        (rc = rt_cores_read(s->a.cluster, s->cluster.devices, &s->cores, &s->n_cores)) < 0 ||
        (rc = rt_controller_core_read(s->a.cluster, &s->controller_core)) < 0 ||
        (rc = spec_profile_load(s->a.profile, &s->db)) < 0 ||
        (rc = spec_plan_read(s->a.plan, &s->plan)) < 0 ||
        (!s->a.dispatch && (rc = sim_dispatch_of_plan(s->plan, &s->a.dispatch)) < 0) ||
        (rc = wl_trace_read_h5(s->a.trace, &s->trace)) < 0)
        return rc;
    return sim_world_new(&s->cluster, s->a.cluster, s->db, s->a.profile, s->plan, s->trace,
                         &s->world);
}

/* After an interrupt, a world and results of the released requests alone. */
static int keep_released(struct serve_run *s)
{
    const struct wl_trace *t = s->trace;
    size_t n = s->report.released;
    if (n == 0)
        return mx_error(MX_EIO, "interrupted before the first request was released");
    s->released_trace = wl_trace_new(n, t->n_models, (const char *const *)t->model_names);
    memcpy(s->released_trace->arrival_s, t->arrival_s, n * sizeof(double));
    memcpy(s->released_trace->model, t->model, n * sizeof(int32_t));
    memcpy(s->released_trace->slo_s, t->slo_s, n * sizeof(double));
    s->released_trace->start_s = t->arrival_s[0];
    s->released_trace->duration_s = t->arrival_s[n - 1] - t->arrival_s[0];
    int rc = sim_world_new(&s->cluster, s->a.cluster, s->db, s->a.profile, s->plan,
                           s->released_trace, &s->released_world);
    if (rc < 0)
        return rc;
    const struct sim_results *all = s->report.results;
    struct sim_results *r = sim_results_new(s->released_world);
    memcpy(r->status, all->status, n * sizeof(*r->status));
    memcpy(r->group, all->group, n * sizeof(*r->group));
    memcpy(r->start_ns, all->start_ns, n * sizeof(*r->start_ns));
    memcpy(r->finish_ns, all->finish_ns, n * sizeof(*r->finish_ns));
    memcpy(r->exec_ns, all->exec_ns, n * sizeof(*r->exec_ns));
    memcpy(r->batch, all->batch, n * sizeof(*r->batch));
    memcpy(r->busy_ns, all->busy_ns, r->n_stages * sizeof(*r->busy_ns));
    r->engine = all->engine;
    s->released_results = r;
    return MX_OK;
}

/* --calibrate: build and warm up the plan's stages, and make the measured ratio to the profile
 * the cluster's stage factor, for the run and for the simulation beside it. */
static int calibrate(struct serve_run *s, const struct rt_options *o)
{
    struct rt_options measure = *o;
    struct rt_report report;
    measure.calibrate_only = true;
    int rc = rt_serve(s->world, s->plan, s->a.plan, s->db, &measure, &report);
    if (rc < 0)
        return rc;
    s->calibrated = report.calibration;
    s->measured_interference = report.interference;
    s->measured_stage_time = report.stage_time;
    rt_report_release(&report);
    if (!isfinite(s->calibrated))
        return mx_error(MX_EINPUT, "%s: --calibrate: no stage of the plan has a profiled latency",
                        s->a.profile);
    s->cluster.overheads.stage_factor = s->calibrated;
    sim_world_free(s->world);
    s->world = NULL;
    return sim_world_new(&s->cluster, s->a.cluster, s->db, s->a.profile, s->plan, s->trace,
                         &s->world);
}

/* Serve s's plan, with Ctrl-C stopping the releases. */
static int serve(struct serve_run *s)
{
    struct rt_options o = {.backend = s->a.backend,
                           .dispatch = s->a.dispatch,
                           .zoo_dir = s->a.zoo,
                           .cores = s->cores,
                           .n_cores = s->n_cores,
                           .controller_core = s->controller_core,
                           .cluster_path = s->a.cluster,
                           .devices_per_node = s->cluster.devices_per_node,
                           .seed = s->a.seed,
                           .queue_capacity = (uint32_t)s->a.queue,
                           .stop = &stop_requested};
    s->calibrated = NAN;
    int rc = s->a.calibrate ? calibrate(s, &o) : MX_OK;
    if (rc < 0)
        return rc;
    s->run_factor = s->cluster.overheads.stage_factor;
    struct sigaction action = {.sa_handler = on_interrupt}, previous;
    sigemptyset(&action.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &action, &previous);
    struct mx_progress line;
    mx_progress_begin(&line, "serving: requests released");
    o.progress = mx_progress_sink(&line);
    rc = rt_serve(s->world, s->plan, s->a.plan, s->db, &o, &s->report);
    mx_progress_end(&line);
    sigaction(SIGINT, &previous, NULL);
    if (rc == MX_OK) { /* the run's report carries what its calibration measured */
        s->report.interference = s->measured_interference;
        s->report.stage_time = s->measured_stage_time;
    }
    if (rc == MX_OK && s->report.controller_shared)
        fprintf(stderr,
                "muxplan: warning: the plan's devices use every core this process may run on: "
                "the controller shared them and took time from their stages at every release "
                "(leave a core free, or name one in the cluster's \"controller_core\")\n");
    if (rc == MX_OK && s->report.released < sim_world_requests(s->world))
        rc = keep_released(s);
    return rc;
}

static const struct sim_world *served_world(const struct serve_run *s)
{
    return s->released_world ? s->released_world : s->world;
}

static const struct sim_results *served_results(const struct serve_run *s)
{
    return s->released_results ? s->released_results : s->report.results;
}

static void serve_run_release(struct serve_run *s)
{
    for (size_t k = 0; k < sizeof(s->sim_worlds) / sizeof(s->sim_worlds[0]); k++)
        sim_world_free(s->sim_worlds[k]);
    free(s->stage_times);
    sim_results_free(s->released_results);
    sim_world_free(s->released_world);
    wl_trace_free(s->released_trace);
    rt_report_release(&s->report);
    sim_world_free(s->world);
    wl_trace_free(s->trace);
    spec_plan_free(s->plan);
    free(s->cores);
    spec_profile_free(s->db);
    free((char *)s->a.profile);
    free((char *)s->a.zoo);
}

/* The simulations fidelity runs: the main one (side "sim"), and with --calibrate two more. */
enum sim_variant { SIM_RUN, SIM_CALIBRATION, SIM_CONSTANT, N_SIM_VARIANTS };
static const char *const sim_variant_names[N_SIM_VARIANTS] = {"sim", "sim_calibration",
                                                              "sim_constant"};

/* The quantiles of each stage's distribution fitted to a run. */
#define RUN_STAGE_QUANTILES 65

/* The runs of the served requests' stages, as spans of their devices (places from w), and the
 * cell (request x max_stages + stage) of each. The caller frees both. */
static size_t run_spans(const struct serve_run *s, const struct sim_world *w,
                        struct sim_span **spans_out, size_t **cells_out)
{
    const struct rt_report *rep = &s->report;
    const size_t n = sim_world_requests(w);
    const uint32_t stages = rep->max_stages;
    struct sim_span *spans = mx_malloc_array(n * stages + 1, sizeof(*spans));
    size_t *cell = mx_malloc_array(n * stages + 1, sizeof(size_t));
    size_t n_spans = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < stages; k++) {
            size_t c = i * stages + k;
            if (rep->run_start_ns[c] < 0 || rep->results->group[i] < 0 || rep->world_ns[c] <= 0)
                continue;
            struct sim_span *sp = &spans[n_spans];
            sp->start_ns = rep->run_start_ns[c];
            sp->end_ns = rep->run_end_ns[c];
            sim_world_stage_place(w, (uint32_t)rep->results->group[i], k, &sp->node, &sp->devices);
            cell[n_spans++] = c;
        }
    *spans_out = spans;
    *cells_out = cell;
    return n_spans;
}

/* The runs a busy count is measured on, at least (fidelity --calibrate). */
#define RUN_INTERFERENCE_RUNS 20

/* The interference the run itself shows (fidelity --calibrate), into *f (n 0 when it cannot
 * tell): the runs of one-device stages that spent 90% of their time at one busy count of their
 * node, grouped by that count; slowdown(b) is the median of measured over world time at b over
 * the median alone (b = 1), for every b with RUN_INTERFERENCE_RUNS runs (alone too), counts
 * between interpolated. Thousands of runs measure it better than the calibration's few
 * seconds, and at the speed the machine had during the run. */
static void run_interference(const struct serve_run *s, struct spec_interference *f)
{
    const struct rt_report *rep = &s->report;
    struct sim_span *spans;
    size_t *cell;
    size_t n_spans = run_spans(s, served_world(s), &spans, &cell);
    uint32_t *busy = mx_malloc_array(n_spans + 1, sizeof(uint32_t));
    double *v = mx_malloc_array(n_spans + 1, sizeof(double));
    sim_interference_busy(spans, n_spans, 0.9, busy);
    double median[SPEC_MAX_BUSY + 1];
    memset(f, 0, sizeof(*f));
    for (uint32_t b = 1; b <= SPEC_MAX_BUSY; b++) {
        size_t m = 0;
        for (size_t j = 0; j < n_spans; j++)
            if (busy[j] == b && spans[j].devices == 1)
                v[m++] = (double)rep->stage_ns[cell[j]] / (double)rep->world_ns[cell[j]];
        median[b] = NAN;
        if (m >= RUN_INTERFERENCE_RUNS) {
            mx_sort_f64(v, m);
            median[b] = mx_quantile_sorted(v, m, 0.5);
        }
    }
    uint32_t top = 1;
    for (uint32_t b = 2; b <= SPEC_MAX_BUSY && isfinite(median[1]); b++) {
        if (!isfinite(median[b]))
            continue;
        double from = top == 1 ? 1.0 : f->busy_slowdown[top - 1], to = median[b] / median[1];
        for (uint32_t c = top + 1; c <= b; c++)
            f->busy_slowdown[c - 1] = from + (to - from) * (double)(c - top) / (double)(b - top);
        f->busy_slowdown[0] = 1.0;
        f->n = b;
        top = b;
    }
    free(v);
    free(busy);
    free(cell);
    free(spans);
}

/* fidelity --calibrate: give every stage of w the distribution of its times in the run, net of
 * interference f: each run's alone time (sim_interference_work over the spans every stage of the
 * run held its devices) plus its hand-off, over the world's latency it was admitted with. Sets
 * s->stage_time_mean, their ratio over the whole run. */
static void fit_stage_times(struct serve_run *s, const struct spec_interference *f,
                            struct sim_world *w)
{
    const struct rt_report *rep = &s->report;
    const uint32_t stages = rep->max_stages;
    struct sim_span *spans;
    size_t *cell;
    size_t n_spans = run_spans(s, w, &spans, &cell);
    double *work = mx_malloc_array(n_spans + 1, sizeof(double));
    sim_interference_work(f, spans, n_spans, work);
    /* Ratios stage by stage: group by the world's group and stage. */
    double *ratio = mx_malloc_array(n_spans + 1, sizeof(double));
    double taken = 0, predicted = 0;
    size_t all_stages = 0;
    for (uint32_t g = 0; g < sim_world_group_count(w); g++)
        all_stages += sim_world_group_stages(w, g);
    s->stage_times = MX_NEW_ARRAY(struct spec_stage_time, all_stages ? all_stages : 1);
    for (uint32_t g = 0; g < sim_world_group_count(w); g++)
        for (uint32_t k = 0; k < sim_world_group_stages(w, g); k++) {
            size_t m = 0;
            for (size_t j = 0; j < n_spans; j++) {
                size_t i = cell[j] / stages;
                if (rep->results->group[i] != (int32_t)g || cell[j] % stages != k)
                    continue;
                double handoff =
                    (double)rep->stage_ns[cell[j]] - (double)(spans[j].end_ns - spans[j].start_ns);
                double alone = work[j] + (handoff > 0 ? handoff : 0);
                ratio[m++] = alone / (double)rep->world_ns[cell[j]];
                taken += alone;
                predicted += (double)rep->world_ns[cell[j]];
            }
            if (m == 0)
                continue;
            struct spec_stage_time *st = &s->stage_times[s->n_stage_times++];
            *st = (struct spec_stage_time){sim_world_group_id(w, g), k, m, {0}};
            spec_dist_from_samples(ratio, m, RUN_STAGE_QUANTILES, &st->dist);
            sim_world_set_stage_time(w, g, k, &st->dist);
        }
    s->stage_time_mean = predicted > 0 ? taken / predicted : NAN;
    free(ratio);
    free(work);
    free(cell);
    free(spans);
}

/* Simulate variant v of the served requests into *out (s->sim_worlds[v] keeps its world). Without
 * --calibrate: the cluster as given (SIM_RUN only). With it, every variant starts at the stage
 * factor the run started from. SIM_RUN takes the interference the run showed (run_interference;
 * else the calibration's, else the cluster's) and draws each stage's times from the run's, net of
 * it (fit_stage_times); SIM_CALIBRATION takes the calibration's interference and pooled
 * distribution; SIM_CONSTANT runs without variability at the stage factor the run realized (what
 * fidelity compared against before there was variability). */
static int simulate_variant(struct serve_run *s, enum sim_variant v, struct sim_results **out)
{
    struct spec_cluster c = s->cluster;
    struct sim_options o = {.engine = SIM_ENGINE_AUTO,
                            .dispatch = s->a.dispatch,
                            .max_batch = 1,
                            .seed = s->a.seed,
                            .threads = 1,
                            .variability = true};
    const bool calibrated = isfinite(s->calibrated);
    if (calibrated) {
        c.overheads.stage_factor = s->run_factor;
        if (v == SIM_RUN)
            run_interference(s, &s->run_interference);
        if (v == SIM_RUN && s->run_interference.n > 0)
            c.interference = s->run_interference;
        else if (s->measured_interference.n > 0)
            c.interference = s->measured_interference;
        c.stage_time = v == SIM_CALIBRATION ? s->measured_stage_time
                                            : (struct spec_dist){.kind = SPEC_DIST_CONSTANT};
        if (v == SIM_CONSTANT) {
            o.variability = false;
            if (isfinite(s->report.realized))
                c.overheads.stage_factor = s->run_factor * s->report.realized;
        }
    }
    int rc = sim_world_new(&c, s->a.cluster, s->db, s->a.profile, s->plan,
                           sim_world_trace(served_world(s)), &s->sim_worlds[v]);
    if (rc < 0)
        return rc;
    if (calibrated && v == SIM_RUN)
        fit_stage_times(s, &c.interference, s->sim_worlds[v]);
    return sim_run(s->sim_worlds[v], &o, out);
}

/* --calibrate-out: the cluster file with what the calibration measured, its other members kept. */
static int write_calibrated_cluster(const struct serve_run *s)
{
    json_t *doc;
    int rc = mx_json_load(s->a.cluster, &doc);
    if (rc < 0)
        return rc;
    json_t *oh = json_object_get(doc, "overheads");
    if (!json_is_object(oh)) {
        oh = json_object();
        mx_json_set(doc, "overheads", oh);
    }
    mx_json_set(oh, "stage_factor", json_real(s->calibrated));
    if (s->measured_interference.n > 0)
        mx_json_set(doc, "interference", spec_interference_json(&s->measured_interference));
    if (s->measured_stage_time.kind != SPEC_DIST_CONSTANT)
        mx_json_set(doc, "stage_time", spec_dist_json(&s->measured_stage_time));
    rc = mx_json_write_file(s->a.calibrate_out, doc);
    json_decref(doc);
    return rc;
}

static void print_runtime(FILE *fp, const struct sim_world *w, const struct rt_report *r)
{
    fprintf(fp, "\nruntime (%s backend): %zu requests released in %.3f s%s, %zu failed\n",
            r->backend, r->released, r->wall_s, r->interrupted ? " (interrupted)" : "", r->failed);
    if (r->first_failure)
        fprintf(fp, "first failure: %s\n", r->first_failure);
    fprintf(fp, "%s stage time over the profile's (weighted by the trace's models): %.3f\n",
            r->n_warm && isfinite(r->warm[0].alone_s) ? "alone" : "warm-up", r->calibration);
    if (r->controller_core >= 0)
        fprintf(fp, "controller on core %d%s\n", r->controller_core,
                r->realtime ? ", real-time priority" : "");
    else if (r->controller_shared)
        fprintf(fp, "controller on the devices' cores (none was free)%s\n",
                r->realtime ? ", real-time priority" : "");
    fprintf(fp, "%-6s %-6s %8s %10s %10s %10s %10s %11s\n", "group", "stage", "runs", "mean ms",
            "p50 ms", "p99 ms", "max ms", "profiled ms");
    for (size_t k = 0; k < r->n_stages; k++) {
        const struct rt_stage_report *s = &r->stages[k];
        fprintf(fp, "%-6d %-6u %8zu %10.3f %10.3f %10.3f %10.3f %11.3f\n",
                sim_world_group_id(w, s->group), s->stage, s->runs, s->mean_s * 1e3, s->p50_s * 1e3,
                s->p99_s * 1e3, s->max_s * 1e3, s->profiled_s * 1e3);
    }
    fprintf(fp,
            "controller overhead (ready to stage-0 start, idle stage, %zu requests): "
            "p50 %.1f us, p99 %.1f us, max %.1f us\n",
            r->overhead.idle_runs, r->overhead.p50_s * 1e6, r->overhead.p99_s * 1e6,
            r->overhead.max_s * 1e6);
}

/* A plan hosting decoder models runs on the decoder runtime (cli_serve_llm.c): whether a's does,
 * and then its status in *rc. A plan or profile that cannot be read is left to the path below,
 * which says why. */
static bool serve_decoders(const struct serve_args *a, int *rc)
{
    bool decoders = false;
    if (cli_llm_plan(a->plan, a->profile, &decoders) < 0 || !decoders)
        return false;
    struct cli_llm_args la = {
        a->command,  serve_options, a->cluster,      a->plan,    a->trace,
        a->profile,  a->zoo,        a->requests_out, a->backend, a->dispatch != NULL,
        a->warmup_s, a->seed,       a->calibrate,    a->json};
    *rc = strcmp(a->command, "fidelity") == 0 ? cli_fidelity_llm(&la) : cli_serve_llm(&la);
    return true;
}

int cli_serve(int argc, char **argv)
{
    struct serve_run s = {0};
    struct sim_summary summary = {0};
    json_t *provenance = NULL, *runtime = NULL;
    if (cli_wants_help(argc, argv)) {
        fputs(serve_help, stdout);
        return 0;
    }
    int rc = parse_args(argc, argv, "serve", &s.a);
    if (rc == MX_OK && serve_decoders(&s.a, &rc))
        goto done;
    if (rc < 0 || (rc = load_inputs(&s)) < 0 || (rc = serve(&s)) < 0 ||
        (rc = sim_summarize(served_world(&s), served_results(&s), s.a.warmup_s, &summary)) < 0)
        goto done;
    provenance = cli_provenance(serve_options, s.a.seed);
    runtime = rt_report_json(served_world(&s), &s.report);
    struct sim_run_info info = {served_results(&s)->engine, s.a.dispatch->name, 1, provenance,
                                runtime};
    if (s.a.requests_out && (rc = sim_results_write_h5(served_world(&s), served_results(&s),
                                                       &summary, &info, s.a.requests_out)) < 0)
        goto done;
    if (s.a.calibrate_out && (rc = write_calibrated_cluster(&s)) < 0)
        goto done;
    if (s.a.json) {
        json_t *o = sim_summary_json(served_world(&s), &summary, &info);
        rc = mx_json_print(stdout, o);
        json_decref(o);
    } else {
        sim_summary_print(stdout, served_world(&s), &summary, &info);
        print_runtime(stdout, served_world(&s), &s.report);
    }
done:
    json_decref(runtime);
    json_decref(provenance);
    sim_summary_release(&summary);
    serve_run_release(&s);
    return rc == MX_OK ? 0 : cli_report(rc);
}

/* ---- fidelity ---- */

/* The three sides of the comparison: the simulation, the replay of the run (the simulator's rules
 * on the run's own decision times and measured stage times: sim_replay.h) and the run. */
enum side { SIDE_SIM, SIDE_REPLAY, SIDE_REAL, N_SIDES };
static const char *const side_names[N_SIDES] = {"sim", "replay", "real"};

/* A stage's service time in the replay: what the run measured when the request ran on the same
 * group; else the world's latency times the run's realized ratio. */
struct measured_service {
    const struct rt_report *run;
    double ratio;
};

static mx_ns measured_time(void *arg, size_t i, uint32_t g, uint32_t k, mx_ns world_ns)
{
    const struct measured_service *m = arg;
    const struct rt_report *run = m->run;
    if (run->results->group[i] == (int32_t)g && run->stage_ns[i * run->max_stages + k] >= 0)
        return run->stage_ns[i * run->max_stages + k];
    return llround((double)world_ns * m->ratio);
}

/* Replay s's run (complete runs only: *out stays NULL after an interrupted one). */
static int replay_run(const struct serve_run *s, struct sim_results **out)
{
    *out = NULL;
    if (s->report.interrupted)
        return MX_OK;
    struct measured_service m = {&s->report,
                                 isfinite(s->report.realized) ? s->report.realized : 1.0};
    const struct sim_service service = {measured_time, &m};
    return sim_replay(s->world, s->a.dispatch, s->report.decided_ns, &service, out);
}

/* The share of the run's requests whose group and outcome the replay repeats (NaN without one). */
static double replay_agreement(const struct sim_results *real, const struct sim_results *replay)
{
    if (!replay)
        return NAN;
    size_t same = 0;
    for (size_t i = 0; i < real->n; i++)
        same += real->group[i] == replay->group[i] && real->status[i] == replay->status[i];
    return real->n ? (double)same / (double)real->n : NAN;
}

/* A side's figures: counts by outcome, attainment, and the latency of good requests. */
static json_t *side_json(const struct sim_summary *s)
{
    json_t *o = json_object();
    mx_json_set(o, "requests", json_integer((json_int_t)s->requests));
    mx_json_set(o, "good", json_integer((json_int_t)s->count[SIM_GOOD]));
    mx_json_set(o, "late", json_integer((json_int_t)s->count[SIM_LATE]));
    mx_json_set(o, "rejected", json_integer((json_int_t)s->rejected_total));
    mx_json_set(o, "failed", json_integer((json_int_t)s->count[SIM_FAILED]));
    mx_json_set(o, "attainment", mx_json_real_or_null(s->attainment));
    mx_json_set(o, "good_p50_s", mx_json_real_or_null(s->good_latency.p50_s));
    mx_json_set(o, "good_p90_s", mx_json_real_or_null(s->good_latency.p90_s));
    mx_json_set(o, "good_p99_s", mx_json_real_or_null(s->good_latency.p99_s));
    return o;
}

static json_t *fidelity_json(const struct serve_run *s, const struct sim_summary *const *side,
                             const struct sim_summary *const *variant, double agreement,
                             json_t *runtime)
{
    const struct sim_summary *real = side[SIDE_REAL];
    json_t *o = json_object(), *models = json_array();
    mx_json_set(o, "format", json_string("muxplan-fidelity/2"));
    mx_json_set(o, "requests", json_integer((json_int_t)real->requests));
    mx_json_set(o, "calibrated", json_boolean(isfinite(s->calibrated)));
    mx_json_set(o, "stage_factor_run", json_real(s->run_factor));
    mx_json_set(o, "stage_factor_sim", json_real(s->cluster.overheads.stage_factor));
    mx_json_set(o, "stage_factor_realized",
                mx_json_real_or_null(s->run_factor * s->report.realized));
    mx_json_set(o, "stage_time_mean", mx_json_real_or_null(s->stage_time_mean));
    mx_json_set(o, "variability", json_boolean(sim_world_varies(s->sim_worlds[SIM_RUN])));
    if (isfinite(s->calibrated)) {
        json_t *cal = json_object();
        mx_json_set(cal, "stage_factor", json_real(s->calibrated));
        mx_json_set(cal, "interference",
                    s->measured_interference.n > 0
                        ? spec_interference_json(&s->measured_interference)
                        : json_null());
        mx_json_set(cal, "stage_time", spec_dist_json(&s->measured_stage_time));
        mx_json_set(o, "calibration", cal);
        mx_json_set(o, "run_interference",
                    s->run_interference.n > 0 ? spec_interference_json(&s->run_interference)
                                              : json_null());
    }
    for (int k = 0; k < N_SIDES; k++)
        mx_json_set(o, side_names[k], side[k] ? side_json(side[k]) : json_null());
    for (int v = SIM_RUN + 1; v < N_SIM_VARIANTS; v++)
        mx_json_set(o, sim_variant_names[v], variant[v] ? side_json(variant[v]) : json_null());
    mx_json_set(o, "replay_agreement", mx_json_real_or_null(agreement));
    for (uint32_t m = 0; m < real->n_models; m++) {
        json_t *e = json_object();
        mx_json_set(e, "name", json_string(sim_world_model_name(served_world(s), m)));
        mx_json_set(e, "requests", json_integer((json_int_t)real->models[m].requests));
        for (int k = 0; k < N_SIDES; k++) {
            char key[32];
            const struct sim_model_summary *ms = side[k] ? &side[k]->models[m] : NULL;
            snprintf(key, sizeof(key), "%s_attainment", side_names[k]);
            mx_json_set(e, key, ms ? mx_json_real_or_null(ms->attainment) : json_null());
            snprintf(key, sizeof(key), "%s_good_p99_s", side_names[k]);
            mx_json_set(e, key, ms ? mx_json_real_or_null(ms->p99_s) : json_null());
        }
        mx_json_append(models, e);
    }
    mx_json_set(o, "models", models);
    mx_json_set(o, "runtime", json_incref(runtime));
    return o;
}

/* One row: the three sides (scaled) and real minus each of the other two; a missing replay is
 * "-". */
static void print_row(const char *label, const double *v, double scale, const char *unit)
{
    printf("%-26s", label);
    for (int k = 0; k < N_SIDES; k++)
        if (isnan(v[k]))
            printf(" %10s", "-");
        else
            printf(" %10.3f", v[k] * scale);
    for (int k = SIDE_SIM; k <= SIDE_REPLAY; k++)
        if (isnan(v[k]) || isnan(v[SIDE_REAL]))
            printf(" %11s", "-");
        else
            printf(" %+11.3f", (v[SIDE_REAL] - v[k]) * scale);
    printf(" %s\n", unit);
}

static void fidelity_print(const struct serve_run *s, const struct sim_summary *const *side,
                           const struct sim_summary *const *variant, double agreement)
{
    const struct sim_world *w = served_world(s);
    const struct sim_summary *real = side[SIDE_REAL];
    if (isfinite(s->calibrated)) {
        printf("%zu requests; stage factor %.3f (measured on the warm workers, each stage alone); "
               "the run's stage times net of interference were %.3f times that on average\n",
               real->requests, s->run_factor, s->stage_time_mean);
        const struct spec_interference *fs[2] = {&s->measured_interference, &s->run_interference};
        for (int k = 0; k < 2; k++) {
            printf("interference %s:", k == 0 ? "the calibration measured" : "the run showed");
            for (uint32_t b = 0; b < fs[k]->n; b++)
                printf(" %u busy %.3f", b + 1, fs[k]->busy_slowdown[b]);
            printf("%s\n", fs[k]->n ? "" : " none");
        }
        printf("simulated: the run's stage times net of interference (the run's, else the "
               "calibration's), drawn stage by stage, with that interference\n");
        for (int v = SIM_RUN + 1; v < N_SIM_VARIANTS; v++)
            if (variant[v])
                printf("%s: attainment %.3f%% (real - it: %+.3f)\n",
                       v == SIM_CALIBRATION
                           ? "simulated from the calibration alone"
                           : "simulated without variability at the realized stage factor",
                       100 * variant[v]->attainment,
                       100 * (real->attainment - variant[v]->attainment));
    } else {
        printf("%zu requests; stage factor %.3f (the cluster's)%s\n", real->requests,
               s->cluster.overheads.stage_factor,
               sim_world_varies(s->sim_worlds[SIM_RUN]) ? "; stage times vary as the cluster says"
                                                        : "");
    }
    if (side[SIDE_REPLAY])
        printf("replayed: the simulator's rules on the run's own decision and stage times; it "
               "repeats the group and outcome of %.2f%% of the requests\n\n",
               100 * agreement);
    else
        printf("replayed: not after an interrupted run\n\n");
    printf("%-26s %10s %10s %10s %11s %11s\n", "", "simulated", "replayed", "real", "real - sim",
           "real - rep");
#define ROW(label, expr, scale, unit)                                                              \
    do {                                                                                           \
        double v[N_SIDES];                                                                         \
        for (int k = 0; k < N_SIDES; k++)                                                          \
            v[k] = side[k] ? side[k]->expr : NAN;                                                  \
        print_row(label, v, scale, unit);                                                          \
    } while (0)
    ROW("attainment", attainment, 100, "%");
    ROW("good-request latency p50", good_latency.p50_s, 1e3, "ms");
    ROW("good-request latency p90", good_latency.p90_s, 1e3, "ms");
    ROW("good-request latency p99", good_latency.p99_s, 1e3, "ms");
    for (uint32_t m = 0; m < real->n_models; m++) {
        char label[64];
        printf("%s (%zu requests)\n", sim_world_model_name(w, m), real->models[m].requests);
        snprintf(label, sizeof(label), "  attainment");
        ROW(label, models[m].attainment, 100, "%");
        snprintf(label, sizeof(label), "  good-request latency p99");
        ROW(label, models[m].p99_s, 1e3, "ms");
    }
#undef ROW
}

int cli_fidelity(int argc, char **argv)
{
    struct serve_run s = {0};
    struct sim_results *simulated[N_SIM_VARIANTS] = {NULL}, *replayed = NULL;
    struct sim_summary summary[N_SIDES] = {0}, variants[N_SIM_VARIANTS] = {0};
    const struct sim_summary *side[N_SIDES] = {NULL}, *variant[N_SIM_VARIANTS] = {NULL};
    json_t *runtime = NULL;
    if (cli_wants_help(argc, argv)) {
        fputs(fidelity_help, stdout);
        return 0;
    }
    int rc = parse_args(argc, argv, "fidelity", &s.a);
    if (rc == MX_OK && serve_decoders(&s.a, &rc))
        goto done;
    if (rc < 0 || (rc = load_inputs(&s)) < 0 || (rc = serve(&s)) < 0)
        goto done;
    /* The simulations cover what was served: every request, or those released before Ctrl-C. */
    s.stage_time_mean = NAN;
    for (int v = 0; v < (isfinite(s.calibrated) ? N_SIM_VARIANTS : 1); v++) {
        if ((rc = simulate_variant(&s, (enum sim_variant)v, &simulated[v])) < 0 ||
            (rc = sim_summarize(s.sim_worlds[v], simulated[v], s.a.warmup_s,
                                v == SIM_RUN ? &summary[SIDE_SIM] : &variants[v])) < 0)
            goto done;
        variant[v] = v == SIM_RUN ? &summary[SIDE_SIM] : &variants[v];
    }
    if ((rc = replay_run(&s, &replayed)) < 0 ||
        (replayed &&
         (rc = sim_summarize(s.world, replayed, s.a.warmup_s, &summary[SIDE_REPLAY])) < 0) ||
        (rc = sim_summarize(served_world(&s), served_results(&s), s.a.warmup_s,
                            &summary[SIDE_REAL])) < 0)
        goto done;
    side[SIDE_SIM] = &summary[SIDE_SIM];
    side[SIDE_REPLAY] = replayed ? &summary[SIDE_REPLAY] : NULL;
    side[SIDE_REAL] = &summary[SIDE_REAL];
    if ((s.a.calibrate_out && (rc = write_calibrated_cluster(&s)) < 0) ||
        (s.a.stage_times_out &&
         (rc = spec_stage_times_write(s.a.stage_times_out, s.stage_times, s.n_stage_times)) < 0))
        goto done;
    double agreement = replay_agreement(served_results(&s), replayed);
    runtime = rt_report_json(served_world(&s), &s.report);
    if (s.a.json) {
        json_t *j = fidelity_json(&s, side, variant, agreement, runtime);
        rc = mx_json_print(stdout, j);
        json_decref(j);
    } else {
        fidelity_print(&s, side, variant, agreement);
        print_runtime(stdout, served_world(&s), &s.report);
    }
done:
    json_decref(runtime);
    for (int k = 0; k < N_SIDES; k++)
        sim_summary_release(&summary[k]);
    for (int v = 0; v < N_SIM_VARIANTS; v++) {
        sim_summary_release(&variants[v]);
        sim_results_free(simulated[v]);
    }
    sim_results_free(replayed);
    serve_run_release(&s);
    return rc == MX_OK ? 0 : cli_report(rc);
}
