/* muxplan simulate: replay a trace against a plan. */
#include "cli.h"

#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "sim.h"
#include "sim_dispatch.h"
#include "sim_llm.h"
#include "sim_output.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char simulate_help[] =
    "usage: muxplan simulate --cluster C.json --profile DB.h5 --plan P.json --trace T.h5\n"
    "                        [--engine auto|fast|event] [--dispatch POLICY] [--max-batch B]\n"
    "                        [--warmup S] [--seed K] [--threads N] [--variability on|off]\n"
    "                        [--stage-times ST.json] [--json] [--requests-out R.h5]\n"
    "\n"
    "Replays the trace against the plan (docs/simulator.md) and prints SLO attainment, latency\n"
    "percentiles, and per-model and per-group figures; --json prints them as one JSON object.\n"
    "Requests of decoder models (autoregressive LLMs) run on the iteration-level simulator\n"
    "(docs/decoders.md): TTFT, TPOT, inter-token gaps, tokens per second, KV use and\n"
    "preemptions; their dispatch, admission and KV block size are the cluster's \"decoder\"\n"
    "settings and their batching each group's \"scheduler\". A plan may mix both kinds.\n"
    "\n"
    "  --engine     auto (default) runs the fast path when it is valid (no batching, constant\n"
    "               overheads) and the event engine otherwise; both give identical outcomes\n"
    "  --dispatch   least-outstanding, earliest-free or best-finish (default: the plan's\n"
    "               \"dispatch\", the one the planner scored it with, else least-outstanding);\n"
    "               encoders only\n"
    "  --max-batch  batch up to B requests of one model (event engine); 1 means no batching\n"
    "               (default: the plan's \"max_batch\", the one the planner scored it with, else "
    "1);\n"
    "               encoders only\n"
    "  --warmup     leave out requests arriving in the first and last S seconds (default 0;\n"
    "               AlpaServe uses 10)\n"
    "  --seed       seed of the random overhead and stage-time streams (default 0)\n"
    "  --variability  on (default): stage times vary as the cluster's \"interference\" and\n"
    "               \"stage_time\" say, on the event engine (engine \"event-variable\"); off:\n"
    "               every stage takes its profiled latency; encoders only\n"
    "  --stage-times  the listed stages draw their times from these distributions instead of\n"
    "               the cluster's \"stage_time\" (fidelity --stage-times-out writes them)\n"
    "  --threads    run the segments of a time-varying plan in parallel\n"
    "  --requests-out  write per-request results (HDF5)\n"
    "\n"
    "example:\n"
    "  muxplan simulate --cluster examples/cluster.json \\\n"
    "      --profile data/profiles/v100-reference.h5 --plan examples/plan-pipeline.json \\\n"
    "      --trace example.h5 --dispatch earliest-free\n";

static const struct option simulate_options[] = {{"cluster", required_argument, NULL, 'c'},
                                                 {"profile", required_argument, NULL, 'p'},
                                                 {"plan", required_argument, NULL, 'P'},
                                                 {"trace", required_argument, NULL, 't'},
                                                 {"engine", required_argument, NULL, 'e'},
                                                 {"dispatch", required_argument, NULL, 'd'},
                                                 {"max-batch", required_argument, NULL, 'b'},
                                                 {"warmup", required_argument, NULL, 'w'},
                                                 {"seed", required_argument, NULL, 'k'},
                                                 {"threads", required_argument, NULL, 'T'},
                                                 {"variability", required_argument, NULL, 'V'},
                                                 {"json", no_argument, NULL, 'j'},
                                                 {"requests-out", required_argument, NULL, 'r'},
                                                 {"stage-times", required_argument, NULL, 'S'},
                                                 {NULL, 0, NULL, 0}};

struct simulate_args {
    const char *cluster, *profile, *plan, *trace, *requests_out, *stage_times;
    struct sim_options options;
    double warmup_s;
    bool json;
};

static int parse_engine(const char *arg, enum sim_engine *out)
{
    static const char *const names[] = {"auto", "fast", "event"};
    for (int e = 0; e < 3; e++)
        if (strcmp(arg, names[e]) == 0) {
            *out = (enum sim_engine)e;
            return MX_OK;
        }
    return cli_usage_error("simulate", "--engine: expected auto, fast or event, got \"%s\"", arg);
}

static int parse_args(int argc, char **argv, struct simulate_args *a)
{
    uint64_t value;
    int opt, rc = MX_OK;
    memset(a, 0, sizeof(*a));
    a->options.max_batch = 0; /* the plan's, unless given */
    a->options.threads = 1;
    a->options.variability = true;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "", simulate_options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->cluster = optarg;
            break;
        case 'p':
            a->profile = optarg;
            break;
        case 'P':
            a->plan = optarg;
            break;
        case 't':
            a->trace = optarg;
            break;
        case 'e':
            rc = parse_engine(optarg, &a->options.engine);
            break;
        case 'd':
            a->options.dispatch = sim_dispatch_find(optarg);
            if (!a->options.dispatch)
                rc = cli_usage_error("simulate",
                                     "--dispatch: expected least-outstanding, "
                                     "earliest-free or best-finish, got \"%s\"",
                                     optarg);
            break;
        case 'b':
            rc = cli_parse_u64("--max-batch", optarg, 1, 4096, &value);
            a->options.max_batch = (uint32_t)value;
            break;
        case 'w':
            rc = cli_parse_f64("--warmup", optarg, 0, 1e9, &a->warmup_s);
            break;
        case 'k':
            rc = cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &a->options.seed);
            break;
        case 'T':
            rc = cli_parse_u64("--threads", optarg, 1, 1024, &value);
            a->options.threads = (unsigned)value;
            break;
        case 'V':
            if (strcmp(optarg, "on") == 0 || strcmp(optarg, "off") == 0)
                a->options.variability = strcmp(optarg, "on") == 0;
            else
                rc = cli_usage_error("simulate", "--variability: expected on or off, got \"%s\"",
                                     optarg);
            break;
        case 'S':
            a->stage_times = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'r':
            a->requests_out = optarg;
            break;
        default:
            rc = cli_usage_error("simulate", "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error("simulate", "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK && (!a->cluster || !a->profile || !a->plan || !a->trace))
        rc = cli_usage_error("simulate", "--cluster, --profile, --plan and --trace are required");
    return rc;
}

/* What one simulation holds: the inputs, each kind's world, results and summary. */
struct simulation {
    struct spec_cluster cluster;
    struct spec_stage_time *stage_times; /* --stage-times */
    size_t n_stage_times;
    struct spec_profile *db;
    struct spec_plan *plan;
    struct wl_trace *trace, *encoder_trace;
    struct sim_world *world;
    struct sim_results *results;
    struct sim_summary summary;
    struct sim_llm *llm;
    struct sim_llm_results *llm_results;
    struct sim_llm_summary llm_summary;
};

/* Run the encoder requests on the request-level engines and the decoder requests on the
 * iteration-level one (docs/decoders.md), each when there are any. */
static int simulate(const struct simulate_args *a, struct simulation *s)
{
    int rc;
    if ((rc = sim_llm_new(&s->cluster, a->cluster, s->db, a->profile, s->plan, s->trace, &s->llm)) <
        0)
        return rc;
    if (sim_llm_requests(s->llm) > 0) {
        if ((rc = sim_llm_run(s->llm, a->warmup_s, &s->llm_results)) < 0)
            return rc;
        sim_llm_summarize(s->llm, s->llm_results, a->warmup_s, &s->llm_summary);
    } else {
        sim_llm_free(s->llm);
        s->llm = NULL;
    }
    s->encoder_trace = sim_encoder_requests(s->plan, s->db, s->trace);
    if (!s->encoder_trace)
        return MX_OK;
    if ((rc = sim_world_new(&s->cluster, a->cluster, s->db, a->profile, s->plan, s->encoder_trace,
                            &s->world)) < 0 ||
        (rc = sim_world_set_stage_times(s->world, s->stage_times, s->n_stage_times,
                                        a->stage_times)) < 0 ||
        (rc = sim_run(s->world, &a->options, &s->results)) < 0)
        return rc;
    return sim_summarize(s->world, s->results, a->warmup_s, &s->summary);
}

static void simulation_release(struct simulation *s)
{
    sim_summary_release(&s->summary);
    sim_results_free(s->results);
    sim_world_free(s->world);
    sim_llm_summary_release(&s->llm_summary);
    sim_llm_results_free(s->llm_results);
    sim_llm_free(s->llm);
    wl_trace_free(s->encoder_trace);
    wl_trace_free(s->trace);
    spec_plan_free(s->plan);
    spec_profile_free(s->db);
    free(s->stage_times);
}

int cli_simulate(int argc, char **argv)
{
    struct simulate_args a;
    struct simulation s = {0};
    json_t *provenance = NULL;
    int rc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(simulate_help, stdout);
            return 0;
        }
    if ((rc = parse_args(argc, argv, &a)) == MX_OK) {
        const char *inputs[] = {a.cluster, a.profile, a.plan, a.trace, a.stage_times};
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
            mx_input_note(inputs[i]);
    }
    if (rc < 0 || (a.requests_out && (rc = mx_output_check(a.requests_out)) < 0) ||
        (rc = spec_cluster_read(a.cluster, &s.cluster)) < 0 ||
        (a.stage_times &&
         (rc = spec_stage_times_read(a.stage_times, &s.stage_times, &s.n_stage_times)) < 0) ||
        (rc = spec_profile_load(a.profile, &s.db)) < 0 ||
        (rc = spec_plan_read(a.plan, &s.plan)) < 0 ||
        (!a.options.dispatch && (rc = sim_dispatch_of_plan(s.plan, &a.options.dispatch)) < 0) ||
        (rc = wl_trace_read_h5(a.trace, &s.trace)) < 0)
        goto done;
    if (!a.options.max_batch)
        a.options.max_batch = spec_plan_max_batch(s.plan);
    if ((rc = simulate(&a, &s)) < 0)
        goto done;
    provenance = cli_provenance(simulate_options, a.options.seed);
    struct sim_run_info info = {s.results ? s.results->engine : "iteration",
                                s.results ? a.options.dispatch->name
                                          : spec_llm_dispatch_names[s.cluster.decoder.dispatch],
                                a.options.max_batch, provenance, NULL};
    struct sim_outcome outcome = {s.world, s.results,     &s.summary,
                                  s.llm,   s.llm_results, &s.llm_summary};
    if (!s.world)
        outcome.s = NULL;
    if (a.requests_out && (rc = sim_outcome_write_h5(&outcome, &info, a.requests_out)) < 0)
        goto done;
    if (a.json) {
        json_t *o = sim_outcome_json(&outcome, &info);
        rc = mx_json_print(stdout, o);
        json_decref(o);
    } else {
        sim_outcome_print(stdout, &outcome, &info);
    }
done:
    json_decref(provenance);
    simulation_release(&s);
    return rc == MX_OK ? 0 : cli_report(rc);
}
