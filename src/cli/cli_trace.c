/* muxplan trace: gen, import, export, stats. */
#include "cli.h"

#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char trace_help[] =
    "usage: muxplan trace <gen|import|export|stats> ...\n"
    "\n"
    "  gen     generate a synthetic workload from a model set\n"
    "  import  read a real trace (CSV, TSV, JSONL, presets) into HDF5\n"
    "  export  write an HDF5 trace as CSV\n"
    "  stats   per-model counts, rates, CV of gaps and peak-to-mean rates\n"
    "\n"
    "'muxplan trace <subcommand> --help' describes each, with an example.\n";

static const char gen_help[] =
    "usage: muxplan trace gen --models M.json [--profile DB.h5] --total-rate R --duration S\n"
    "                         [--rate-dist equal|power:ALPHA|explicit] [--cv C]\n"
    "                         [--process gamma|poisson|deterministic] [--start S] [--seed K]\n"
    "                         [--lengths SPEC] [--max-context N] [--threads N] -o T.h5\n"
    "\n"
    "Draws each model's arrivals from its own seeded stream: Gamma gaps with the model's CV (or\n"
    "--cv, default 1), Poisson, or deterministic. Rates are equal, a power law (rate_i ~ "
    "(i+1)^-ALPHA,\n"
    "'power' alone means ALPHA 0.5), or the model set's own \"rate\" (scaled to --total-rate if\n"
    "given). Each request's SLO comes from the model set; --profile resolves \"slo_scale\".\n"
    "\n"
    "Decoder requests draw their (input, output) token counts from the model's \"lengths\", or\n"
    "--lengths for models without: INPUT/OUTPUT with each side N, fixed:N, uniform:LO,HI,\n"
    "lognormal:MEDIAN,SIGMA or zipf:S,MAX (k in 1..MAX with probability ~ k^-S), or\n"
    "empirical:TRACE.h5[:MODEL] (the token pairs of a trace's requests). Pairs are drawn until\n"
    "input plus output fits --max-context and, with --profile, the decoder's context.\n"
    "\n"
    "example:\n"
    "  muxplan trace gen --models examples/models.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --rate-dist power:0.5 --total-rate 20 --cv 4 --duration 600 --seed 1 -o train.h5\n"
    "  muxplan trace gen --models chat.json --total-rate 5 --duration 600 \\\n"
    "      --lengths lognormal:1000,1/lognormal:200,0.8 --max-context 4096 -o chat.h5\n";

static const char export_help[] =
    "usage: muxplan trace export csv T.h5 -o FILE.csv\n"
    "\n"
    "Writes the trace as CSV with the header arrival_s,model,slo_s (and input_tokens,\n"
    "output_tokens,ttft_slo_s,tpot_slo_s for a trace with token counts; block hashes are left\n"
    "out); numbers read back exactly.\n"
    "\n"
    "example:\n"
    "  muxplan trace export csv train.h5 -o train.csv\n";

static const struct option gen_options[] = {
    {"models", required_argument, NULL, 'm'},    {"profile", required_argument, NULL, 'p'},
    {"rate-dist", required_argument, NULL, 'r'}, {"total-rate", required_argument, NULL, 'R'},
    {"cv", required_argument, NULL, 'c'},        {"process", required_argument, NULL, 'P'},
    {"duration", required_argument, NULL, 'd'},  {"start", required_argument, NULL, 's'},
    {"seed", required_argument, NULL, 'k'},      {"threads", required_argument, NULL, 't'},
    {"lengths", required_argument, NULL, 'L'},   {"max-context", required_argument, NULL, 'C'},
    {"output", required_argument, NULL, 'o'},    {NULL, 0, NULL, 0}};

static int parse_rate_dist(const char *arg, struct wl_gen_spec *spec)
{
    const char *expected = wl_rate_dist_parse(arg, true, &spec->rate_dist, &spec->alpha);
    return expected ? cli_usage_error("trace gen", "--rate-dist: %s, got \"%s\"", expected, arg)
                    : MX_OK;
}

static int parse_process(const char *arg, struct wl_gen_spec *spec)
{
    static const char *const names[] = {"gamma", "poisson", "deterministic"};
    for (int p = 0; p < 3; p++)
        if (strcmp(arg, names[p]) == 0) {
            spec->process = (enum wl_process)p;
            return MX_OK;
        }
    return cli_usage_error("trace gen",
                           "--process: expected gamma, poisson or deterministic, got "
                           "\"%s\"",
                           arg);
}

static int trace_gen(int argc, char **argv)
{
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_EQUAL,
                               .cv = 1,
                               .total_rate = -1,
                               .threads = 1};
    const char *models_path = NULL, *profile_path = NULL, *out_path = NULL;
    struct spec_model_set *set = NULL;
    struct spec_profile *db = NULL;
    struct wl_trace *trace = NULL;
    uint64_t value;
    int opt, rc = MX_OK;
    bool has_duration = false;
    if (cli_wants_help(argc, argv)) {
        fputs(gen_help, stdout);
        return 0;
    }
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", gen_options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            models_path = optarg;
            break;
        case 'p':
            profile_path = optarg;
            break;
        case 'r':
            rc = parse_rate_dist(optarg, &spec);
            break;
        case 'R':
            rc = cli_parse_f64("--total-rate", optarg, 1e-9, 1e9, &spec.total_rate);
            break;
        case 'c':
            rc = cli_parse_f64("--cv", optarg, SPEC_MIN_CV, SPEC_MAX_CV, &spec.cv);
            break;
        case 'P':
            rc = parse_process(optarg, &spec);
            break;
        case 'd':
            rc = cli_parse_f64("--duration", optarg, 1e-9, 3e9, &spec.duration_s);
            has_duration = true;
            break;
        case 's':
            rc = cli_parse_f64("--start", optarg, 0, 3e9, &spec.start_s);
            break;
        case 'k':
            rc = cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &spec.seed);
            break;
        case 't':
            rc = cli_parse_u64("--threads", optarg, 1, 1024, &value);
            spec.threads = (unsigned)value;
            break;
        case 'L':
            spec.lengths = optarg;
            spec.lengths_where = "--lengths";
            break;
        case 'C':
            rc = cli_parse_u64("--max-context", optarg, 2, SPEC_MAX_CONTEXT_TOKENS, &value);
            spec.max_context = (uint32_t)value;
            break;
        case 'o':
            out_path = optarg;
            break;
        default:
            rc = cli_usage_error("trace gen", "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
        }
    }
    if (rc == MX_OK && (!models_path || !out_path || !has_duration))
        rc = cli_usage_error("trace gen", "--models, --duration and -o are required");
    if (rc == MX_OK && spec.rate_dist != WL_RATES_EXPLICIT && spec.total_rate <= 0)
        rc = cli_usage_error("trace gen", "--total-rate is required unless --rate-dist explicit");
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error("trace gen", "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK) {
        mx_input_note(models_path);
        mx_input_note(profile_path);
        rc = mx_output_check(out_path);
    }
    if (rc == MX_OK)
        rc = spec_models_read(models_path, &set);
    if (rc == MX_OK && profile_path) {
        rc = spec_profile_load(profile_path, &db);
        if (rc == MX_OK)
            rc = spec_models_resolve(set, db, profile_path);
    }
    if (rc == MX_OK && !db && spec_models_first_scaled(set) >= 0)
        rc = cli_usage_error("trace gen",
                             "model \"%s\" gives an SLO as a scale, which needs --profile",
                             set->models[spec_models_first_scaled(set)].name);
    spec.db = db;
    if (rc == MX_OK)
        rc = wl_gen(set, &spec, &trace);
    if (rc == MX_OK) {
        json_t *provenance = cli_provenance(gen_options, spec.seed);
        trace->provenance = json_dumps(provenance, JSON_COMPACT);
        json_decref(provenance);
        rc = wl_trace_write_h5(trace, out_path);
    }
    if (rc == MX_OK)
        fprintf(stderr, "muxplan: wrote %zu requests of %u models%s over %g s to %s\n", trace->n,
                trace->n_models, wl_trace_has_tokens(trace) ? " with token counts" : "",
                spec.duration_s, out_path);
    wl_trace_free(trace);
    spec_profile_free(db);
    spec_models_free(set);
    return rc == MX_OK ? 0 : cli_report(rc);
}

static const struct option export_options[] = {{"output", required_argument, NULL, 'o'},
                                               {NULL, 0, NULL, 0}};

static int trace_export(int argc, char **argv)
{
    const char *out_path = NULL;
    struct wl_trace *t = NULL;
    int opt, rc = MX_OK;
    if (cli_wants_help(argc, argv)) {
        fputs(export_help, stdout);
        return 0;
    }
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", export_options, NULL)) != -1) {
        if (opt == 'o')
            out_path = optarg;
        else
            rc = cli_usage_error("trace export", "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
    }
    if (rc == MX_OK && (argc - optind != 2 || !out_path))
        rc = cli_usage_error("trace export", "expected FORMAT FILE -o OUTPUT");
    if (rc == MX_OK && strcmp(argv[optind], "csv") != 0)
        rc = cli_usage_error("trace export", "unknown format \"%s\" (this version writes csv)",
                             argv[optind]);
    if (rc == MX_OK) {
        mx_input_note(argv[optind + 1]);
        rc = mx_output_check_text(out_path);
    }
    if (rc == MX_OK)
        rc = wl_trace_read_h5(argv[optind + 1], &t);
    if (rc == MX_OK)
        rc = wl_trace_write_csv(t, out_path);
    wl_trace_free(t);
    return rc == MX_OK ? 0 : cli_report(rc);
}

int cli_trace(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(trace_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    if (strcmp(sub, "gen") == 0)
        return trace_gen(argc, argv);
    if (strcmp(sub, "import") == 0)
        return cli_trace_import(argc, argv);
    if (strcmp(sub, "export") == 0)
        return trace_export(argc, argv);
    if (strcmp(sub, "stats") == 0)
        return cli_trace_stats(argc, argv);
    return cli_report(cli_usage_error("trace", "unknown subcommand \"%s\"", sub));
}
