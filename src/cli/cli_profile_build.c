/* muxplan profile --backend: profile zoo models into a DB (roofline, cpu or cuda). */
#include "cli.h"

#include "cu_prof.h"
#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_build.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "spec_profile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static const char build_help[] =
    "usage: muxplan profile --backend roofline|cpu|cuda [--hardware HW.json] --models "
    "NAME,...|all\n"
    "                       [--zoo DIR] [--ops 1,2,4,8] [--pps 1,2,4,8,16,32]\n"
    "                       [--batches 1,2,4,8,16] [--tokens 1,2,4,...] [--max-batch-tokens N]\n"
    "                       -o DB.h5\n"
    "\n"
    "Times one transformer layer of each model for every tensor-parallel degree and batch size\n"
    "with the backend, adds the all-reduces, splits the layers into pipeline stages by dynamic\n"
    "programming, and writes stage latencies, weights and activations per device for the grid\n"
    "(1, op, pp). roofline computes from --hardware (data/hardware/*.json); cpu measures FP32\n"
    "on this machine (one thread, OpenBLAS); cuda measures fp16 on the first visible GPU.\n"
    "--hardware is optional for cpu and cuda (links then default to this machine's). The DB's\n"
    "provenance records the backend, hardware, date (SOURCE_DATE_EPOCH when set), version and\n"
    "the raw per-layer numbers. --zoo defaults to the bundled data/models.\n"
    "\n"
    "Decoder models (kind \"decoder\", docs/decoders.md) get, per config (1, op, pp) with op 1,\n"
    "2, 4, 8 and pp 1, 2, 4, 8 by default, each stage's cost of an iteration: a dense table over\n"
    "the tokens of an iteration (--tokens, ascending from 1; by default 1, 2, 3, 4, 6, ... to\n"
    "16384, dense around the GEMM tile steps), the prefill and decode attention coefficients, a\n"
    "fixed cost per iteration, weights, and KV-cache and activation bytes per token, with the\n"
    "model's reference TTFT and TPOT. The grid must reach --max-batch-tokens (default 16384).\n"
    "roofline needs the hardware spec's \"decoder\" member (data/hardware/h100-80gb.json).\n"
    "cpu times decoders as the CPU runtime runs them (FP32 layers over one prefill chunk of T\n"
    "tokens, the embedding, the LM head) on a sparser grid (1, 2, 4, 8, 16, 24, 32, 48, ...) to\n"
    "--max-batch-tokens (default 512 for cpu), fits the attention coefficients to layers\n"
    "timed over context lengths, and counts weights, KV cache and activations in FP32, as the\n"
    "runtime holds them; it takes decoders of up to 1 GiB of weights per device.\n"
    "\n"
    "example:\n"
    "  muxplan profile --backend roofline --hardware data/hardware/v100-16gb.json \\\n"
    "      --models bert-1.3b,bert-2.6b -o v100.h5\n"
    "  muxplan profile --backend roofline --hardware data/hardware/h100-80gb.json \\\n"
    "      --models llama-2-7b,llama-3-70b -o h100-llm.h5\n"
    "  muxplan profile --backend cpu --models tiny-llama-2l-256,tiny-llama-4l-512 -o cpu.h5\n";

enum {
    OPT_BACKEND = 256,
    OPT_HARDWARE,
    OPT_MODELS,
    OPT_ZOO,
    OPT_OPS,
    OPT_PPS,
    OPT_BATCHES,
    OPT_TOKENS,
    OPT_MAX_BATCH_TOKENS
};

static const struct option build_options[] = {
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"hardware", required_argument, NULL, OPT_HARDWARE},
    {"models", required_argument, NULL, OPT_MODELS},
    {"zoo", required_argument, NULL, OPT_ZOO},
    {"ops", required_argument, NULL, OPT_OPS},
    {"pps", required_argument, NULL, OPT_PPS},
    {"batches", required_argument, NULL, OPT_BATCHES},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"max-batch-tokens", required_argument, NULL, OPT_MAX_BATCH_TOKENS},
    {"output", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

/* A comma-separated list of at most max_n ascending integers in [1, max]. */
static int parse_list_up_to(const char *option, const char *arg, uint64_t max, uint32_t max_n,
                            int32_t *values, uint32_t *n)
{
    char *copy = mx_strdup(arg), *save = NULL;
    int rc = MX_OK;
    *n = 0;
    for (char *tok = strtok_r(copy, ",", &save); rc == MX_OK && tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        rc = cli_parse_u64(option, tok, 1, max, &v);
        if (rc == MX_OK && (*n == max_n || (*n > 0 && (int32_t)v <= values[*n - 1])))
            rc = cli_usage_error("profile", "%s: expected at most %u ascending values, got \"%s\"",
                                 option, max_n, arg);
        if (rc == MX_OK)
            values[(*n)++] = (int32_t)v;
    }
    if (rc == MX_OK && *n == 0)
        rc = cli_usage_error("profile", "%s: empty list", option);
    free(copy);
    return rc;
}

/* A comma-separated list of ascending positive integers (at most 64, each at most 4096). */
static int parse_list(const char *option, const char *arg, int32_t *values, uint32_t *n)
{
    return parse_list_up_to(option, arg, 4096, 64, values, n);
}

/* Without --hardware: this machine, for the measuring backends. */
static struct prof_hw *local_hardware(const char *backend)
{
    struct prof_hw *hw = MX_NEW(struct prof_hw);
    char name[128] = "cpu-local";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int32_t devices = (int32_t)(cores > 0 ? cores : 1);
    if (strcmp(backend, "cuda") == 0) {
        devices = cu_prof_device_count() > 0 ? cu_prof_device_count() : 1;
        if (cu_prof_device_name(0, name, sizeof(name)) < 0)
            snprintf(name, sizeof(name), "cuda-local");
    }
    hw->name = mx_strdup(name);
    hw->source = mx_strdup("this machine (no --hardware): links are nominal, not measured");
    hw->devices_per_node = devices;
    /* Nominal links: memory copies between threads, or between GPUs of one machine. */
    hw->intra_node_bytes_per_s = hw->inter_node_bytes_per_s = 1e10;
    hw->intra_node_latency_s = hw->inter_node_latency_s = 5e-6;
    hw->eff.gemm_max = hw->eff.attention_max = hw->eff.memory_efficiency = 1;
    /* What a device holds: a core of the cpu backend takes decoders of up to 1 GiB of FP32
     * weights (prof_cpu_decoder.c); decoders' reference figures use the configs that fit it. */
    if (strcmp(backend, "cpu") == 0)
        hw->mem_bytes = 1LL << 30;
    return hw;
}

/* The zoo's model names (every NAME.json of dir), sorted, as a comma-separated list. */
static int zoo_all(const char *dir, char **out)
{
    DIR *d = opendir(dir);
    if (!d)
        return mx_error(MX_EINPUT, "%s: cannot open the zoo: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0, len = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 5 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        if (n == cap)
            names = mx_realloc_array(names, cap = cap ? 2 * cap : 32, sizeof(char *));
        names[n] = mx_strdup(e->d_name);
        names[n++][l - 5] = '\0';
        len += l - 4;
    }
    closedir(d);
    /* Sorted, so the DB's model order does not depend on the directory's. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    char *list = mx_calloc(len, 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(list, ",");
        strcat(list, names[i]);
        free(names[i]);
    }
    free(names);
    *out = list;
    return n ? MX_OK : mx_error(MX_EINPUT, "%s: no models in the zoo", dir);
}

static void iso_date(char buf[32])
{
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    time_t t = epoch ? (time_t)strtoll(epoch, NULL, 10) : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct build_args {
    const char *backend, *hardware, *models, *zoo, *out_path;
    int32_t ops[64], pps[64], batches[64], tokens[PROF_DECODER_MAX_TOKENS];
    struct prof_grid grid;
    struct prof_decoder_grid decoder; /* decoder models' */
};

static const int32_t decoder_pps[] = {1, 2, 4, 8};

/* The cpu backend's default --max-batch-tokens for decoders: a core runs batches of a few hundred
 * tokens (the bundled CPU plans use 256), and every point of the grid is timed for real. */
#define CPU_MAX_BATCH_TOKENS 512

/* The decoders' grid: the encoders' op degrees, pp 1 to 8, the default tokens. */
static void decoder_defaults(struct build_args *a)
{
    a->decoder = (struct prof_decoder_grid){.n_ops = a->grid.n_ops,
                                            .n_pps = 4,
                                            .ops_given = 0,
                                            .ops = a->grid.ops,
                                            .pps = decoder_pps,
                                            .max_batch_tokens = 16384};
}

static int parse_args(int argc, char **argv, struct build_args *a)
{
    int opt, rc = MX_OK;
    a->zoo = NULL;
    a->grid = prof_grid_default;
    decoder_defaults(a);
    bool pps_given = false, max_batch_given = false;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", build_options, NULL)) != -1) {
        switch (opt) {
        case OPT_BACKEND:
            a->backend = optarg;
            break;
        case OPT_HARDWARE:
            a->hardware = optarg;
            break;
        case OPT_MODELS:
            a->models = optarg;
            break;
        case OPT_ZOO:
            a->zoo = optarg;
            break;
        case OPT_OPS:
            rc = parse_list("--ops", optarg, a->ops, &a->grid.n_ops);
            a->grid.ops = a->ops;
            a->grid.ops_given = 1;
            break;
        case OPT_PPS:
            rc = parse_list("--pps", optarg, a->pps, &a->grid.n_pps);
            a->grid.pps = a->pps;
            pps_given = true;
            break;
        case OPT_TOKENS:
            rc = parse_list_up_to("--tokens", optarg, SPEC_MAX_CONTEXT_TOKENS,
                                  PROF_DECODER_MAX_TOKENS, a->tokens, &a->decoder.n_tokens);
            if (rc == MX_OK && a->tokens[0] != 1)
                rc = cli_usage_error("profile", "--tokens must start at 1");
            break;
        case OPT_MAX_BATCH_TOKENS: {
            uint64_t v;
            rc = cli_parse_u64("--max-batch-tokens", optarg, 1, SPEC_MAX_CONTEXT_TOKENS, &v);
            a->decoder.max_batch_tokens = (int64_t)v;
            max_batch_given = true;
            break;
        }
        case OPT_BATCHES:
            rc = parse_list("--batches", optarg, a->batches, &a->grid.n_batches);
            a->grid.batches = a->batches;
            if (rc == MX_OK && a->batches[0] != 1)
                rc = cli_usage_error("profile", "--batches must start at 1");
            break;
        case 'o':
            a->out_path = optarg;
            break;
        default:
            rc =
                cli_usage_error("profile", "unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error("profile", "unexpected argument \"%s\"", argv[optind]);
    a->decoder.ops = a->grid.ops;
    a->decoder.n_ops = a->grid.n_ops;
    a->decoder.ops_given = a->grid.ops_given;
    if (pps_given) {
        a->decoder.pps = a->grid.pps;
        a->decoder.n_pps = a->grid.n_pps;
    }
    /* The cpu backend runs every point of the grid for real: its decoders get a sparser grid to
     * 2048 tokens (the tiny decoders' context, and a plan group's default max_batch_tokens). */
    bool cpu = a->backend && strcmp(a->backend, "cpu") == 0;
    if (cpu && !max_batch_given)
        a->decoder.max_batch_tokens = CPU_MAX_BATCH_TOKENS;
    if (a->decoder.n_tokens == 0 && cpu)
        a->decoder.n_tokens = prof_decoder_sparse_tokens(a->decoder.max_batch_tokens, a->tokens);
    else if (a->decoder.n_tokens == 0)
        a->decoder.n_tokens = prof_decoder_default_tokens(a->decoder.max_batch_tokens, a->tokens);
    a->decoder.tokens = a->tokens;
    if (rc == MX_OK && (!a->backend || !a->models || !a->out_path))
        rc = cli_usage_error("profile", "--backend, --models and -o are required");
    return rc;
}

static int profile_models(const struct build_args *a, const struct prof_hw *hw,
                          struct prof_backend *be, const char *list, struct spec_profile *db,
                          json_t *raw)
{
    char *copy = mx_strdup(list), *save = NULL;
    size_t total = 1, done = 0;
    for (const char *c = list; *c; c++)
        total += *c == ',';
    bool progress = isatty(STDERR_FILENO);
    int rc = MX_OK;
    for (char *name = strtok_r(copy, ",", &save); rc == MX_OK && name;
         name = strtok_r(NULL, ",", &save)) {
        struct prof_arch *arch = NULL;
        if (progress)
            fprintf(stderr, "\rmuxplan: profiling %zu/%zu %-24s", ++done, total, name);
        if (spec_profile_find_model(db, name))
            rc = cli_usage_error("profile", "--models names \"%s\" twice", name);
        if (rc == MX_OK)
            rc = prof_arch_find(a->zoo, name, &arch);
        if (rc == MX_OK && arch->kind == PROF_ARCH_DECODER)
            rc = prof_build_decoder(db, arch, hw, be, &a->decoder, raw);
        else if (rc == MX_OK)
            rc = prof_build_model(db, arch, hw, be, &a->grid, raw);
        prof_arch_free(arch);
    }
    if (progress)
        fputc('\n', stderr);
    free(copy);
    return rc;
}

int cli_profile_build(int argc, char **argv)
{
    struct build_args a = {0};
    struct prof_hw *hw = NULL;
    struct prof_backend *be = NULL;
    struct spec_profile *db = NULL;
    char *all = NULL, date[32];
    json_t *raw = json_array();
    if (cli_wants_help(argc, argv)) {
        fputs(build_help, stdout);
        json_decref(raw);
        return 0;
    }
    int rc = parse_args(argc, argv, &a);
    if (!a.zoo)
        a.zoo = cli_bundled("data/models");
    if (rc == MX_OK) {
        mx_input_note(a.hardware);
        rc = mx_output_check(a.out_path);
    }
    if (rc == MX_OK && a.hardware)
        rc = prof_hw_read(a.hardware, &hw);
    else if (rc == MX_OK && strcmp(a.backend, "roofline") != 0)
        hw = local_hardware(a.backend);
    if (rc == MX_OK)
        rc = prof_backend_open(a.backend, hw, &be);
    if (rc == MX_OK && strcmp(a.models, "all") == 0)
        rc = zoo_all(a.zoo, &all);
    if (rc == MX_OK) {
        db = spec_profile_new(hw->name);
        rc = profile_models(&a, hw, be, all ? all : a.models, db, raw);
    }
    if (rc == MX_OK) {
        json_t *provenance = cli_provenance(build_options, 0);
        iso_date(date);
        mx_json_set(provenance, "backend", json_string(be->name));
        mx_json_set(provenance, "hardware", json_string(hw->name));
        mx_json_set(provenance, "hardware_calibrated", json_boolean(hw->calibrated));
        mx_json_set(provenance, "date", json_string(date));
        mx_json_set(provenance, "raw", json_incref(raw));
        char *text = json_dumps(provenance, JSON_COMPACT | JSON_REAL_PRECISION(17));
        spec_profile_set_provenance(db, text);
        free(text);
        json_decref(provenance);
        rc = spec_profile_write_h5(db, a.out_path);
    }
    if (rc == MX_OK)
        fprintf(stderr, "muxplan: wrote %u models profiled by %s on %s to %s\n",
                spec_profile_model_count(db), be->name, hw->name, a.out_path);
    json_decref(raw);
    free(all);
    spec_profile_free(db);
    if (be)
        be->free(be);
    prof_hw_free(hw);
    return rc == MX_OK ? 0 : cli_report(rc);
}
