/* The options, inputs and policies that plan, compare and capacity share (cli_planning.h). */
#include "cli_planning.h"

#include "cli.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_rng.h"
#include "mx_stats.h"
#include "sim_dispatch.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_CLUSTER = CLI_PLANNING_CODE,
    OPT_PROFILE,
    OPT_MODELS,
    OPT_TRACE,
    OPT_DISPATCH,
    OPT_ACTIVATION_MEMORY,
    OPT_KV_MARGIN,
    OPT_DURATION,
    OPT_SEED,
    OPT_THREADS,
    OPT_JSON,
    OPT_MODEL_SLOS,
    OPT_VARIANCE_FINALISTS,
    OPT_PARAM /* + enum plan_param_id */
};

static const struct option shared[] = {
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"models", required_argument, NULL, OPT_MODELS},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"dispatch", required_argument, NULL, OPT_DISPATCH},
    {"activation-memory", no_argument, NULL, OPT_ACTIVATION_MEMORY},
    {"kv-margin", required_argument, NULL, OPT_KV_MARGIN},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"seed", required_argument, NULL, OPT_SEED},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"json", no_argument, NULL, OPT_JSON},
    {"model-slos", no_argument, NULL, OPT_MODEL_SLOS},
    {"variance-finalists", required_argument, NULL, OPT_VARIANCE_FINALISTS},
};
#define N_SHARED (sizeof(shared) / sizeof(shared[0]))

struct cli_planning cli_planning_defaults(const char *command)
{
    return (struct cli_planning){.command = command,
                                 .dispatch = plan_default_dispatch,
                                 .params = plan_params_default(),
                                 .kv_margin = PLAN_DEFAULT_KV_MARGIN,
                                 .threads = 1};
}

const struct option *cli_planning_options(const struct option *own)
{
    static struct option table[N_SHARED + PLAN_N_PARAMS + 32];
    size_t n = 0;
    for (size_t k = 0; k < N_SHARED; k++)
        table[n++] = shared[k];
    for (int id = 0; id < PLAN_N_PARAMS; id++) {
        const struct plan_param *pp = &plan_param_table[id];
        table[n++] = (struct option){pp->option,
                                     pp->kind == PLAN_PARAM_FLAG ? no_argument : required_argument,
                                     NULL, OPT_PARAM + id};
    }
    for (; own->name; own++) {
        if (n + 1 >= sizeof(table) / sizeof(table[0]))
            MX_BUG("too many options");
        table[n++] = *own;
    }
    table[n] = (struct option){NULL, 0, NULL, 0};
    return table;
}

/* The value of parameter id's option. */
static int parse_param(struct cli_planning *p, enum plan_param_id id, const char *arg)
{
    const struct plan_param *pp = &plan_param_table[id];
    char option[64];
    snprintf(option, sizeof(option), "--%s", pp->option);
    double v = 1;
    int rc = MX_OK;
    if (pp->kind == PLAN_PARAM_COUNT) {
        uint64_t u;
        rc = cli_parse_u64(option, arg, (uint64_t)pp->min, (uint64_t)pp->max, &u);
        v = (double)u;
    } else if (pp->kind == PLAN_PARAM_REAL) {
        rc = cli_parse_f64(option, arg, pp->min, pp->max, &v);
    }
    if (rc == MX_OK) {
        plan_param_set(&p->params, id, v);
        p->given[id] = true;
    }
    return rc;
}

/* Take a shared option (code, with its argument): MX_OK; 1 when code is not a shared option's. */
static int take_shared(struct cli_planning *p, int code, const char *arg)
{
    uint64_t v;
    int rc = MX_OK;
    switch (code) {
    case OPT_CLUSTER:
        p->cluster_path = arg;
        return MX_OK;
    case OPT_PROFILE:
        p->profile_path = arg;
        return MX_OK;
    case OPT_MODELS:
        p->models_path = arg;
        return MX_OK;
    case OPT_TRACE:
        p->train_path = arg;
        return MX_OK;
    case OPT_DISPATCH:
        p->dispatch = sim_dispatch_find(arg);
        return p->dispatch ? MX_OK
                           : cli_usage_error(p->command, "--dispatch: unknown policy \"%s\"", arg);
    case OPT_ACTIVATION_MEMORY:
        p->activation_memory = true;
        return MX_OK;
    case OPT_KV_MARGIN:
        return cli_parse_f64("--kv-margin", arg, 0, 100, &p->kv_margin);
    case OPT_DURATION:
        return cli_parse_f64("--duration", arg, 1e-3, 1e9, &p->duration_s);
    case OPT_SEED:
        return cli_parse_u64("--seed", arg, 0, UINT64_MAX, &p->seed);
    case OPT_THREADS:
        rc = cli_parse_u64("--threads", arg, 1, 1024, &v);
        p->threads = (unsigned)v;
        return rc;
    case OPT_JSON:
        p->json = true;
        return MX_OK;
    case OPT_MODEL_SLOS:
        p->model_slos = true;
        return MX_OK;
    case OPT_VARIANCE_FINALISTS:
        rc = cli_parse_u64("--variance-finalists", arg, 0, 1024, &v);
        p->variance_finalists = (uint32_t)v;
        return rc;
    default:
        if (code >= OPT_PARAM && code < OPT_PARAM + PLAN_N_PARAMS)
            return parse_param(p, (enum plan_param_id)(code - OPT_PARAM), arg);
        return 1;
    }
}

int cli_planning_parse(int argc, char **argv, struct cli_planning *p, const struct option *own,
                       int (*take)(void *ctx, int code, const char *arg), void *ctx)
{
    const struct option *table = cli_planning_options(own);
    /* -o is short for --output, where the command writes one. */
    const char *shorts = "";
    for (const struct option *o = own; o->name; o++)
        if (o->val == 'o')
            shorts = "o:";
    int opt, rc = MX_OK;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, shorts, table, NULL)) != -1) {
        rc = opt == '?' || opt == ':' ? 1 : take_shared(p, opt, optarg);
        if (rc == 1 && opt != '?' && opt != ':')
            rc = take(ctx, opt, optarg);
        if (rc == 1)
            rc = cli_usage_error(p->command, "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error(p->command, "unexpected argument \"%s\"", argv[optind]);
    return rc;
}

void cli_policies_release(struct cli_policies *ps)
{
    for (uint32_t k = 0; k < ps->n; k++)
        free(ps->names[k]);
    free(ps->names);
    free(ps->policies);
    free(ps->params);
    *ps = (struct cli_policies){0};
}

static void policies_add(struct cli_policies *ps, const char *name,
                         const struct plan_policy *policy, const struct plan_params *params)
{
    ps->names = mx_realloc_array(ps->names, ps->n + 1, sizeof(*ps->names));
    ps->policies = mx_realloc_array(ps->policies, ps->n + 1, sizeof(*ps->policies));
    ps->params = mx_realloc_array(ps->params, ps->n + 1, sizeof(*ps->params));
    ps->names[ps->n] = mx_strdup(name);
    ps->policies[ps->n] = policy;
    ps->params[ps->n++] = *params;
}

int cli_policies_parse(const struct cli_planning *p, const char *option, const char *list,
                       bool many, struct cli_policies *out)
{
    *out = (struct cli_policies){0};
    if (!list)
        return cli_usage_error(p->command, "%s is required", option);
    if (!many && strchr(list, ','))
        return cli_usage_error(p->command, "%s takes one policy (\"%s\")", option, list);
    int rc = MX_OK;
    const char *at = list;
    for (;;) {
        size_t len = strcspn(at, ",");
        char name[128];
        if (len == 0 || len >= sizeof(name)) {
            rc = cli_usage_error(p->command, "%s: %s policy name in \"%s\"", option,
                                 len ? "an overlong" : "an empty", list);
            break;
        }
        memcpy(name, at, len);
        name[len] = '\0';
        struct plan_params params = p->params;
        const struct plan_policy *policy = plan_policy_find(name, &params);
        if (!policy) {
            rc = cli_usage_error(p->command, "%s: unknown policy \"%s\"", option, name);
            break;
        }
        for (uint32_t k = 0; k < out->n; k++)
            if (strcmp(out->names[k], name) == 0)
                rc = cli_usage_error(p->command, "%s: \"%s\" is listed twice", option, name);
        if (rc < 0)
            break;
        policies_add(out, name, policy, &params);
        if (at[len] == '\0')
            break;
        at += len + 1;
    }
    /* A parameter given must be read by a policy that runs. */
    for (int id = 0; rc == MX_OK && id < PLAN_N_PARAMS; id++) {
        bool read = !p->given[id];
        for (uint32_t k = 0; k < out->n && !read; k++)
            read = plan_policy_takes(out->policies[k], (enum plan_param_id)id);
        if (!read)
            rc = cli_usage_error(p->command, "--%s applies to none of the policies (%s)",
                                 plan_param_table[id].option, list);
    }
    if (rc < 0)
        cli_policies_release(out);
    return rc;
}

int cli_planning_generate(const struct cli_planning *p, const struct spec_model_set *set,
                          uint64_t seed, struct wl_trace **out)
{
    struct wl_gen_spec spec = {.process = WL_PROCESS_GAMMA,
                               .rate_dist = WL_RATES_EXPLICIT,
                               .total_rate = -1,
                               .cv = 1,
                               .seed = seed,
                               .threads = p->threads};
    double total = 0;
    for (uint32_t m = 0; m < set->n; m++) {
        if (set->models[m].rate < 0)
            return cli_usage_error(p->command,
                                   "without --trace every model needs a \"rate\" "
                                   "(%s: \"%s\" has none)",
                                   set->path, set->models[m].name);
        total += set->models[m].rate;
    }
    spec.duration_s =
        p->duration_s > 0 ? p->duration_s : fmax(100.0, total > 0 ? 30000.0 / total : 100.0);
    return wl_gen(set, &spec, out);
}

int cli_planning_generate_train(const struct cli_planning *p, const struct spec_model_set *set,
                                uint64_t seed, struct wl_trace **out)
{
    const uint32_t k_windows = p->given[PLAN_PARAM_ROBUST] ? p->params.robust : 1;
    struct wl_trace **part = MX_NEW_ARRAY(struct wl_trace *, k_windows);
    int rc = MX_OK;
    size_t n = 0;
    for (uint32_t k = 0; k < k_windows && rc == MX_OK; k++) {
        rc = cli_planning_generate(p, set, k ? mx_rng_derive(seed, "robust", k) : seed, &part[k]);
        if (rc == MX_OK)
            n += part[k]->n;
    }
    if (rc == MX_OK && k_windows == 1) {
        *out = part[0];
        part[0] = NULL;
    } else if (rc == MX_OK) {
        /* One after the other, each shifted by the length of those before it. */
        struct wl_trace *t = wl_trace_new(n, set->n, (const char *const *)part[0]->model_names);
        size_t at = 0;
        double shift = 0;
        for (uint32_t k = 0; k < k_windows; k++) {
            for (size_t i = 0; i < part[k]->n; i++, at++) {
                wl_trace_copy_request(t, at, part[k], i);
                t->arrival_s[at] += shift;
            }
            shift += part[k]->duration_s;
        }
        t->start_s = part[0]->start_s;
        t->duration_s = shift;
        *out = t;
    }
    for (uint32_t k = 0; k < k_windows; k++)
        wl_trace_free(part[k]);
    free(part);
    return rc;
}

/* With --model-slos, every request of t (over set's models) takes its model's SLO. */
static void apply_model_slos(const struct cli_planning *p, const struct spec_model_set *set,
                             struct wl_trace *t)
{
    if (p->model_slos)
        wl_trace_set_model_slos(t, set);
}

void cli_planning_note_inputs(const struct cli_planning *p, const char *test_path)
{
    const char *inputs[] = {p->cluster_path, p->profile_path, p->models_path, p->train_path,
                            test_path};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        mx_input_note(inputs[i]);
}

int cli_planning_load(const struct cli_planning *p, struct cli_planning_inputs *in)
{
    int rc;
    memset(in, 0, sizeof(*in));
    if (!p->cluster_path || !p->profile_path || !p->models_path)
        return cli_usage_error(p->command, "--cluster, --profile and --models are required");
    if ((rc = spec_cluster_read(p->cluster_path, &in->cluster)) < 0 ||
        (rc = spec_profile_load(p->profile_path, &in->db)) < 0 ||
        (rc = spec_models_read(p->models_path, &in->set)) < 0 ||
        (rc = spec_models_resolve(in->set, in->db, p->profile_path)) < 0)
        return rc;
    if (!p->train_path)
        return cli_planning_generate_train(p, in->set, p->seed, &in->train);
    if ((rc = wl_trace_read_for_models(in->set, p->train_path, &in->train)) == MX_OK)
        apply_model_slos(p, in->set, in->train);
    return rc;
}

void cli_planning_release(struct cli_planning_inputs *in)
{
    wl_trace_free(in->train);
    spec_models_free(in->set);
    spec_profile_free(in->db);
    memset(in, 0, sizeof(*in));
}

struct plan_problem cli_planning_problem(const struct cli_planning *p,
                                         const struct cli_planning_inputs *in,
                                         const struct spec_cluster *cluster)
{
    return (struct plan_problem){.cluster = cluster,
                                 .cluster_path = p->cluster_path,
                                 .db = in->db,
                                 .db_path = p->profile_path,
                                 .models = in->set,
                                 .train = in->train,
                                 .dispatch = p->dispatch,
                                 .threads = p->threads,
                                 .seed = p->seed,
                                 .activation_memory = p->activation_memory,
                                 .kv_margin = p->kv_margin,
                                 .variance_finalists = p->variance_finalists,
                                 .progress = p->progress};
}

int cli_planning_test(const struct cli_planning *p, const struct cli_planning_inputs *in,
                      const char *path, struct wl_trace **out)
{
    *out = NULL;
    int rc = path ? wl_trace_read_for_models(in->set, path, out) : MX_OK;
    if (rc == MX_OK && *out)
        apply_model_slos(p, in->set, *out);
    return rc;
}

void cli_planning_help(const char *help)
{
    fputs(help, stdout);
    printf(
        "\ninputs and scoring:\n"
        "  --cluster C.json, --profile DB.h5, --models M.json  (required)\n"
        "  --trace T.h5   training workload; without it one is generated from the models'\n"
        "                 \"rate\" and \"cv\" over max(100 s, 30000 / total rate) (--duration S\n"
        "                 sets its length). A trace's requests keep the SLOs it gives them\n"
        "                 (slo_s), not the model set's, unless --model-slos\n"
        "  --model-slos   requests of the traces read take their model's SLO from the model set\n"
        "  --dispatch P   the dispatch policy plans are scored with (default %s, as\n"
        "                 AlpaServe's planner); random overheads are scored at their means\n"
        "  --activation-memory  models need their batch-1 activation bytes besides weights\n"
        "  --kv-margin F  decoders: a group must keep a KV cache for 1 + F requests of each\n"
        "                 hosted model's full context (default %g; docs/planner.md)\n"
        "  --variance-finalists K  alpaserve, alpaserve-sep: rescore the best K group layouts\n"
        "                 with the cluster's variable stage times (\"interference\",\n"
        "                 \"stage_time\"; event engine, --seed) and keep the best of them\n"
        "  --seed K, --threads N, --json\n"
        "\npolicy parameters (an error for a policy that does not read it):\n",
        plan_default_dispatch->name, PLAN_DEFAULT_KV_MARGIN);
    for (int id = 0; id < PLAN_N_PARAMS; id++) {
        const struct plan_param *pp = &plan_param_table[id];
        char option[48];
        snprintf(option, sizeof(option), "--%s%s%s", pp->option, pp->value ? " " : "",
                 pp->value ? pp->value : "");
        if (pp->kind == PLAN_PARAM_FLAG)
            printf("  %-16s %s\n", option, pp->help);
        else
            printf("  %-16s %s (%g)\n", option, pp->help, pp->def);
    }
    printf("\npolicies:\n");
    for (const struct plan_policy *const *pol = plan_policies; *pol; pol++)
        printf("  %-14s %s\n", (*pol)->name, (*pol)->summary);
}

struct cli_spread cli_spread_of(const double *attainment, uint32_t n, uint64_t seed)
{
    struct cli_spread s = {0, NAN, NAN, NAN};
    double sum = 0;
    for (uint32_t k = 0; k < n; k++)
        if (!isnan(attainment[k])) {
            sum += attainment[k];
            s.windows++;
        }
    if (s.windows)
        s.mean = sum / s.windows;
    mx_bootstrap_mean_ci(attainment, n, CLI_BOOTSTRAP, 0.95, seed, &s.ci_low, &s.ci_high);
    return s;
}

json_t *cli_spread_json(const struct cli_spread *s, const double *attainment, uint32_t n)
{
    json_t *each = json_array();
    for (uint32_t k = 0; k < n; k++)
        mx_json_append(each, mx_json_real_or_null(attainment[k]));
    json_t *o = json_object();
    mx_json_set(o, "windows", json_integer(n));
    mx_json_set(o, "mean", mx_json_real_or_null(s->mean));
    mx_json_set(o, "ci_low", mx_json_real_or_null(s->ci_low));
    mx_json_set(o, "ci_high", mx_json_real_or_null(s->ci_high));
    mx_json_set(o, "attainment", each);
    return o;
}

void cli_spread_text(const struct cli_spread *s, char *buf, size_t size)
{
    snprintf(buf, size, "%.4f [%.4f, %.4f]", s->mean, s->ci_low, s->ci_high);
}
