/* muxplan trace import: real traces in their own formats into muxplan's HDF5 trace. */
#include "cli.h"

#include "mx_error.h"
#include "mx_file.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char import_help[] =
    "usage: muxplan trace import FORMAT FILE -o T.h5 [options]\n"
    "\n"
    "FORMAT is csv, tsv or jsonl (a time column and an optional key column), a timestamp preset\n"
    "(azure-llm-2023, mooncake, alibaba-genai-lora, burstgpt), or a rate preset (azure-functions:\n"
    "per-minute counts; servegen: a folder of per-client statistics), whose requests are "
    "generated\n"
    "per window. 'csv' with no option but -o reads muxplan's own CSV (arrival_s,model,slo_s).\n"
    "\n"
    "reading:\n"
    "  --time-column NAME   the time column (default arrival_s; jsonl: timestamp)\n"
    "  --time-unit U        s, ms, us, ns, min, h, or datetime (default s)\n"
    "  --time-format F      datetime: iso8601 (default) or a strptime format, e.g. '%d/%m/%Y "
    "%H:%M:%S'\n"
    "  --key-column NAME    the model, function or client column (default: one key per file)\n"
    "  --input-column NAME --output-column NAME\n"
    "                       prompt and output token counts (the presets name their own); rows of\n"
    "                       0 tokens are dropped and counted\n"
    "  --no-tokens          read no token counts (an encoder trace; every row is a request)\n"
    "  --spread S           move each request by U[0, S) to undo coarse timestamps\n"
    "  --count-window S     azure-functions: seconds per count column (default 60)\n"
    "transforms (seconds after the first request):\n"
    "  --from S --to S      keep requests in [from, to); the result starts at 0\n"
    "  --speed-up X         divide every time by X\n"
    "  --rate-scale X       thin (X < 1) or clone (X > 1), or scale generated rates\n"
    "  --cv-scale X         scale generated CVs (rate presets, --refit)\n"
    "  --refit W            fit Gamma (rate, CV) per key and W-second window and regenerate\n"
    "mapping keys to models:\n"
    "  --top K              keep the K most requested keys\n"
    "  --models N           map onto models m0 .. m{N-1}\n"
    "  --model-set M.json   map onto a model set (names and SLOs; --profile for slo_scale)\n"
    "  --map HOW            popularity (default with models), round-robin, identity (one model\n"
    "                       per key, the default without), split:ALPHA (each request to model r\n"
    "                       with probability ~ (r+1)^-ALPHA), or FILE.json (muxplan-trace-map/1)\n"
    "  --slo S              every request's SLO without a model set\n"
    "  --seed K             seed of every random step (default 0)\n"
    "\n"
    "examples:\n"
    "  muxplan trace import azure-llm-2023 traces/azure_llm_2023/AzureLLMInferenceTrace_code.csv "
    "\\\n"
    "      --slo 1 -o code.h5\n"
    "  muxplan trace import servegen traces/servegen/reason/deepseek-r1 --to 3600 --top 8 \\\n"
    "      --model-set examples/models.json --profile data/profiles/v100-reference.h5 -o r1.h5\n";

enum {
    OPT_TIME_COLUMN = 256,
    OPT_TIME_UNIT,
    OPT_TIME_FORMAT,
    OPT_KEY_COLUMN,
    OPT_SPREAD,
    OPT_COUNT_WINDOW,
    OPT_FROM,
    OPT_TO,
    OPT_SPEED_UP,
    OPT_RATE_SCALE,
    OPT_CV_SCALE,
    OPT_REFIT,
    OPT_TOP,
    OPT_MODELS,
    OPT_MODEL_SET,
    OPT_PROFILE,
    OPT_MAP,
    OPT_SLO,
    OPT_SEED,
    OPT_INPUT_COLUMN,
    OPT_OUTPUT_COLUMN,
    OPT_NO_TOKENS,
};

static const struct option import_options[] = {
    {"time-column", required_argument, NULL, OPT_TIME_COLUMN},
    {"time-unit", required_argument, NULL, OPT_TIME_UNIT},
    {"time-format", required_argument, NULL, OPT_TIME_FORMAT},
    {"key-column", required_argument, NULL, OPT_KEY_COLUMN},
    {"spread", required_argument, NULL, OPT_SPREAD},
    {"count-window", required_argument, NULL, OPT_COUNT_WINDOW},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"speed-up", required_argument, NULL, OPT_SPEED_UP},
    {"rate-scale", required_argument, NULL, OPT_RATE_SCALE},
    {"cv-scale", required_argument, NULL, OPT_CV_SCALE},
    {"refit", required_argument, NULL, OPT_REFIT},
    {"top", required_argument, NULL, OPT_TOP},
    {"models", required_argument, NULL, OPT_MODELS},
    {"model-set", required_argument, NULL, OPT_MODEL_SET},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"map", required_argument, NULL, OPT_MAP},
    {"slo", required_argument, NULL, OPT_SLO},
    {"seed", required_argument, NULL, OPT_SEED},
    {"input-column", required_argument, NULL, OPT_INPUT_COLUMN},
    {"output-column", required_argument, NULL, OPT_OUTPUT_COLUMN},
    {"no-tokens", no_argument, NULL, OPT_NO_TOKENS},
    {"output", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

/* The command line of an import beyond FORMAT and FILE. */
struct import_args {
    struct wl_import_spec spec;
    const char *out_path, *model_set_path, *profile_path;
    int n_options; /* options other than -o */
};

static int parse_map(const char *arg, struct wl_import_spec *spec)
{
    static const char *const names[] = {"identity", "round-robin", "popularity"};
    static const enum wl_key_map values[] = {WL_MAP_IDENTITY, WL_MAP_ROUND_ROBIN,
                                             WL_MAP_POPULARITY};
    for (int i = 0; i < 3; i++)
        if (strcmp(arg, names[i]) == 0) {
            spec->map = values[i];
            return MX_OK;
        }
    if (strncmp(arg, "split", 5) == 0 && (arg[5] == '\0' || arg[5] == ':')) {
        spec->map = WL_MAP_SPLIT;
        spec->split_alpha = 0;
        return arg[5] ? cli_parse_f64("--map split:ALPHA", arg + 6, 0, 10, &spec->split_alpha)
                      : MX_OK;
    }
    if (strlen(arg) > 5 && strcmp(arg + strlen(arg) - 5, ".json") == 0) {
        spec->map_path = arg;
        return MX_OK;
    }
    return cli_usage_error("trace import",
                           "--map: expected popularity, round-robin, identity, split:ALPHA or "
                           "FILE.json, got \"%s\"",
                           arg);
}

static int parse_option(int opt, struct import_args *a)
{
    struct wl_import_spec *s = &a->spec;
    uint64_t value;
    int rc = MX_OK;
    a->n_options += opt != 'o';
    switch (opt) {
    case OPT_TIME_COLUMN:
        s->time_column = optarg;
        break;
    case OPT_TIME_UNIT:
        s->time_unit = optarg;
        break;
    case OPT_TIME_FORMAT:
        s->time_format = optarg;
        break;
    case OPT_KEY_COLUMN:
        s->key_column = optarg;
        break;
    case OPT_SPREAD:
        return cli_parse_f64("--spread", optarg, 0, 1e6, &s->spread_s);
    case OPT_COUNT_WINDOW:
        return cli_parse_f64("--count-window", optarg, 1e-3, 1e6, &s->count_window_s);
    case OPT_FROM:
        return cli_parse_f64("--from", optarg, 0, 3e9, &s->from_s);
    case OPT_TO:
        return cli_parse_f64("--to", optarg, 1e-9, 3e9, &s->to_s);
    case OPT_SPEED_UP:
        return cli_parse_f64("--speed-up", optarg, 1e-6, 1e6, &s->speed_up);
    case OPT_RATE_SCALE:
        return cli_parse_f64("--rate-scale", optarg, 1e-6, 1000, &s->rate_scale);
    case OPT_CV_SCALE:
        return cli_parse_f64("--cv-scale", optarg, 1e-3, 100, &s->cv_scale);
    case OPT_REFIT:
        return cli_parse_f64("--refit", optarg, 1e-3, 1e7, &s->refit_window_s);
    case OPT_TOP:
        rc = cli_parse_u64("--top", optarg, 1, UINT32_MAX, &value);
        s->top_k = (uint32_t)value;
        break;
    case OPT_MODELS:
        rc = cli_parse_u64("--models", optarg, 1, 1000000, &value);
        s->n_models = (uint32_t)value;
        break;
    case OPT_MODEL_SET:
        a->model_set_path = optarg;
        break;
    case OPT_PROFILE:
        a->profile_path = optarg;
        break;
    case OPT_MAP:
        return parse_map(optarg, s);
    case OPT_SLO:
        return cli_parse_f64("--slo", optarg, 1e-9, SPEC_MAX_SLO_S, &s->slo_s);
    case OPT_SEED:
        return cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &s->seed);
    case OPT_INPUT_COLUMN:
        s->input_column = optarg;
        break;
    case OPT_OUTPUT_COLUMN:
        s->output_column = optarg;
        break;
    case OPT_NO_TOKENS:
        s->no_tokens = true;
        break;
    default: /* 'o' */
        a->out_path = optarg;
    }
    return rc;
}

/* The model set, resolved against the profile when given (kept in *db: it tells decoders apart). */
static int load_model_set(struct import_args *a, struct spec_model_set **set,
                          struct spec_profile **db)
{
    int rc = spec_models_read(a->model_set_path, set);
    if (rc == MX_OK && a->profile_path) {
        rc = spec_profile_load(a->profile_path, db);
        if (rc == MX_OK)
            rc = spec_models_resolve(*set, *db, a->profile_path);
    }
    if (rc == MX_OK && !*db && spec_models_first_scaled(*set) >= 0)
        rc = cli_usage_error("trace import",
                             "model \"%s\" gives an SLO as a scale, which needs --profile",
                             (*set)->models[spec_models_first_scaled(*set)].name);
    return rc;
}

static int check_args(const struct import_args *a)
{
    const struct wl_import_spec *s = &a->spec;
    if (a->spec.n_models && a->model_set_path)
        return cli_usage_error("trace import", "give --models or --model-set, not both");
    if (a->profile_path && !a->model_set_path)
        return cli_usage_error("trace import", "--profile needs --model-set");
    if (!a->model_set_path && s->slo_s <= 0)
        return cli_usage_error("trace import",
                               "every request needs an SLO: give --slo S or --model-set M.json");
    if (a->model_set_path && s->slo_s > 0)
        return cli_usage_error("trace import", "--slo and --model-set exclude each other");
    if (s->to_s > 0 && s->to_s <= s->from_s)
        return cli_usage_error("trace import", "--to must be after --from");
    return MX_OK;
}

static void print_summary(const struct wl_trace *t, const struct wl_import_report *r,
                          const char *out_path)
{
    fprintf(stderr, "muxplan: read %zu rows", r->rows);
    if (r->skipped_rows)
        fprintf(stderr, " (%zu without a key, skipped)", r->skipped_rows);
    if (r->zero_token_rows)
        fprintf(stderr, " (%zu of 0 input or output tokens, dropped)", r->zero_token_rows);
    if (r->clipped_rows)
        fprintf(stderr, " (%zu longer than their model's context, prompt cut to fit)",
                r->clipped_rows);
    fprintf(stderr, " of %u keys, kept %u; wrote %zu requests of %u models%s over %g s to %s\n",
            r->keys, r->kept_keys, t->n, t->n_models,
            wl_trace_has_tokens(t) ? " with token counts" : "", t->duration_s, out_path);
}

int cli_trace_import(int argc, char **argv)
{
    struct import_args a = {.spec = wl_import_spec_default()};
    struct spec_model_set *set = NULL;
    struct spec_profile *db = NULL;
    struct wl_trace *trace = NULL;
    struct wl_import_report report = {0};
    int opt, rc = MX_OK;
    if (cli_wants_help(argc, argv)) {
        fputs(import_help, stdout);
        return 0;
    }
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", import_options, NULL)) != -1)
        rc = opt == '?' || opt == ':'
                 ? cli_usage_error("trace import", "unknown or incomplete option \"%s\"",
                                   argv[optind - 1])
                 : parse_option(opt, &a);
    if (rc == MX_OK && (argc - optind != 2 || !a.out_path))
        rc = cli_usage_error("trace import", "expected FORMAT FILE -o T.h5");
    bool own_csv = rc == MX_OK && strcmp(argv[optind], "csv") == 0 && a.n_options == 0;
    if (rc == MX_OK && !own_csv)
        rc = check_args(&a);
    if (rc == MX_OK) {
        mx_input_note(argv[optind + 1]);
        mx_input_note(a.model_set_path);
        rc = mx_output_check(a.out_path);
    }
    if (rc == MX_OK && a.model_set_path)
        rc = load_model_set(&a, &set, &db);
    a.spec.format = rc == MX_OK ? argv[optind] : NULL;
    a.spec.set = set;
    a.spec.db = db;
    if (rc == MX_OK)
        rc = own_csv ? wl_trace_read_csv(argv[optind + 1], &trace) /* muxplan's own form */
                     : wl_import(argv[optind + 1], &a.spec, &trace, &report);
    if (rc == MX_OK) {
        json_t *provenance = cli_provenance(import_options, a.spec.seed);
        trace->provenance = json_dumps(provenance, JSON_COMPACT);
        json_decref(provenance);
        rc = wl_trace_write_h5(trace, a.out_path);
    }
    if (rc == MX_OK && !own_csv)
        print_summary(trace, &report, a.out_path);
    wl_trace_free(trace);
    spec_profile_free(db);
    spec_models_free(set);
    return rc == MX_OK ? 0 : cli_report(rc);
}
