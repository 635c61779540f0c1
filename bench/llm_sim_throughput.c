/* bench/llm_sim_throughput: the decoder simulator's speed on a real trace (issue 22's targets).
 *
 * The requests of a trace (by default the Azure LLM 2023 conversation trace: 19,366 requests over
 * one hour with their real prompt and output lengths) all go to one model, served by R replicas
 * of one decoder, each a group of its own config (1, op, pp) on the profile's hardware (default:
 * Llama-2-7B on one H100 each, 8 replicas), with the default scheduler and decoder settings and no
 * overheads. Each --clones K (default 1 and 4) repeats every request K times, which multiplies the
 * rate by K. Prompts longer than the model's context allows are cut to fit (the conversation trace
 * has 1,612 over Llama-2-7B's 4,096 tokens), and counted. Compiling the world is outside the timed
 * region; each case runs --repeat times (default 3) and the fastest is reported, with simulated
 * requests, tokens and iterations per second of that run, as one JSON line per case.
 *
 * usage: llm_sim_throughput [--trace T.h5|T.csv] [--profile DB.h5] [--base NAME] [--op N]
 *                           [--pp N] [--replicas R] [--clones 1,4] [--repeat N]
 *                           [--requests N] [--rate R]
 * --requests keeps the first N requests; --rate rescales their times to R requests per second
 * (the comparison with other simulators: 20,000 requests at 8 req/s on one replica).
 * A trace of muxplan's own (HDF5 or CSV, with token columns) is read as it is; without --trace,
 * traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv is imported as `trace import
 * azure-llm-2023` does. */
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_time.h"
#include "sim_llm.h"
#include "spec_cluster.h"
#include "spec_models.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
    const char *trace, *profile, *base, *clones;
    int op, pp, replicas, repeat;
    double rate;   /* requests per second after rescaling time, or 0: the trace's own */
    long requests; /* the first this many, or 0: all */
};

/* replicas groups of config (1, op, pp), each hosting the one model "llm" of base. */
static struct spec_plan *replicas_plan(const struct options *o)
{
    struct spec_plan *p = MX_NEW(struct spec_plan);
    p->path = mx_strdup("bench");
    p->extra = json_object();
    p->static_form = 1;
    p->n_models = 1;
    p->models = MX_NEW_ARRAY(struct spec_plan_model, 1);
    p->models[0] = (struct spec_plan_model){mx_strdup("llm"), mx_strdup(o->base)};
    p->n_segments = 1;
    p->segments = MX_NEW(struct spec_plan_segment);
    struct spec_plan_segment *s = &p->segments[0];
    s->n_groups = (uint32_t)o->replicas;
    s->groups = MX_NEW_ARRAY(struct spec_plan_group, s->n_groups);
    uint32_t size = (uint32_t)(o->op * o->pp);
    for (uint32_t g = 0; g < s->n_groups; g++) {
        struct spec_plan_group *grp = &s->groups[g];
        *grp = (struct spec_plan_group){.id = (int32_t)g,
                                        .dp = 1,
                                        .op = o->op,
                                        .pp = o->pp,
                                        .n_devices = size,
                                        .n_models = 1,
                                        .scheduler = spec_scheduler_default()};
        grp->devices = MX_NEW_ARRAY(uint32_t, size);
        for (uint32_t d = 0; d < size; d++)
            grp->devices[d] = g * size + d;
        grp->models = MX_NEW_ARRAY(uint32_t, 1);
    }
    return p;
}

/* The trace's requests, each k times, all of model "llm", with prompts cut to fit the context
 * (as a client truncates them; *clipped counts them, once). */
static struct wl_trace *cloned(const struct wl_trace *t, uint32_t k, uint32_t context,
                               size_t *clipped)
{
    const char *names[1] = {"llm"};
    struct wl_trace *c = wl_trace_new(t->n * k, 1, names);
    wl_trace_add_tokens(c);
    *clipped = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < k; j++) {
            size_t n = i * k + j;
            wl_trace_copy_request(c, n, t, i);
            c->model[n] = 0;
            if (c->output_tokens[n] >= (int32_t)context)
                c->output_tokens[n] = (int32_t)context - 1;
            if (c->input_tokens[n] + c->output_tokens[n] > (int32_t)context) {
                c->input_tokens[n] = (int32_t)context - c->output_tokens[n];
                *clipped += j == 0;
            }
        }
    c->start_s = t->start_s;
    c->duration_s = t->duration_s;
    return c;
}

/* The first o->requests requests of t, their times scaled to o->rate requests per second. */
static void reshape(const struct options *o, struct wl_trace *t)
{
    if (o->requests > 0 && (size_t)o->requests < t->n)
        t->n = (size_t)o->requests;
    double span = t->arrival_s[t->n - 1] - t->arrival_s[0];
    if (o->rate > 0 && span > 0) {
        double scale = (double)(t->n - 1) / o->rate / span, first = t->arrival_s[0];
        for (size_t i = 0; i < t->n; i++)
            t->arrival_s[i] = round((t->arrival_s[i] - first) * scale * 1e9) / 1e9;
        t->start_s = 0;
        t->duration_s = t->arrival_s[t->n - 1];
    }
}

static int read_trace(const struct options *o, struct wl_trace **out)
{
    if (o->trace) {
        size_t len = strlen(o->trace);
        return len > 4 && strcmp(o->trace + len - 4, ".csv") == 0 ? wl_trace_read_csv(o->trace, out)
                                                                  : wl_trace_read_h5(o->trace, out);
    }
    struct wl_import_spec spec = wl_import_spec_default();
    struct wl_import_report report;
    spec.format = "azure-llm-2023";
    spec.slo_s = SPEC_MAX_SLO_S;
    return wl_import("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv", &spec, out, &report);
}

static int load_trace(const struct options *o, struct wl_trace **out)
{
    int rc = read_trace(o, out);
    if (rc == MX_OK)
        reshape(o, *out);
    return rc;
}

static int run_case(const struct options *o, const struct spec_profile *db,
                    const struct spec_plan *plan, const struct wl_trace *trace, uint32_t clones)
{
    struct spec_cluster cluster;
    spec_cluster_defaults(&cluster);
    cluster.devices = (uint32_t)(o->replicas * o->op * o->pp);
    cluster.devices_per_node = cluster.devices;
    cluster.mem_budget_bytes = (int64_t)80 << 30;
    size_t clipped;
    uint32_t context = spec_profile_find_model(db, o->base)->decoder.context_tokens;
    struct wl_trace *t = cloned(trace, clones, context, &clipped);
    struct sim_llm *w = NULL;
    int rc = sim_llm_new(&cluster, "bench", db, o->profile, plan, t, &w);
    double best = INFINITY;
    uint64_t iterations = 0, tokens = 0;
    for (int k = 0; rc == MX_OK && k < o->repeat; k++) {
        struct sim_llm_results *r = NULL;
        double t0 = mx_wall_s();
        rc = sim_llm_run(w, 0, &r);
        double seconds = mx_wall_s() - t0;
        if (rc == MX_OK && seconds < best) {
            best = seconds;
            iterations = tokens = 0;
            for (uint32_t g = 0; g < r->n_groups; g++) {
                iterations += r->iterations[g];
                tokens += r->tokens[g];
            }
        }
        sim_llm_results_free(r);
    }
    if (rc == MX_OK)
        printf("{\"bench\": \"llm_sim_throughput\", \"base\": \"%s\", \"config\": [1, %d, %d], "
               "\"replicas\": %d, \"clones\": %u, \"requests\": %zu, \"prompts_clipped\": %zu, "
               "\"tokens\": %llu, "
               "\"iterations\": %llu, \"trace_s\": %.1f, \"rate\": %.2f, \"seconds\": %.4f, "
               "\"requests_per_s\": %.0f, \"tokens_per_s\": %.0f, \"iterations_per_s\": %.0f}\n",
               o->base, o->op, o->pp, o->replicas, clones, t->n, clipped,
               (unsigned long long)tokens, (unsigned long long)iterations, trace->duration_s,
               (double)t->n / trace->duration_s, best, (double)t->n / best, (double)tokens / best,
               (double)iterations / best);
    sim_llm_free(w);
    wl_trace_free(t);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {NULL, "data/profiles/h100-llm.h5", "llama-2-7b", "1,4", 1, 1, 8, 3, 0, 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--trace") == 0)
            o.trace = argv[i + 1];
        else if (strcmp(argv[i], "--profile") == 0)
            o.profile = argv[i + 1];
        else if (strcmp(argv[i], "--base") == 0)
            o.base = argv[i + 1];
        else if (strcmp(argv[i], "--clones") == 0)
            o.clones = argv[i + 1];
        else if (strcmp(argv[i], "--op") == 0)
            o.op = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--pp") == 0)
            o.pp = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--replicas") == 0)
            o.replicas = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            o.repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            o.rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--requests") == 0)
            o.requests = atol(argv[i + 1]);
        else {
            fprintf(stderr, "llm_sim_throughput: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct spec_profile *db = NULL;
    struct wl_trace *trace = NULL;
    int rc = spec_profile_load(o.profile, &db);
    if (rc == MX_OK)
        rc = load_trace(&o, &trace);
    struct spec_plan *plan = replicas_plan(&o);
    char *list = mx_strdup(o.clones), *save = NULL;
    for (char *k = strtok_r(list, ",", &save); k && rc == MX_OK; k = strtok_r(NULL, ",", &save))
        rc = run_case(&o, db, plan, trace, (uint32_t)atoi(k));
    free(list);
    if (rc < 0)
        fprintf(stderr, "llm_sim_throughput: %s\n", mx_error_message());
    spec_plan_free(plan);
    wl_trace_free(trace);
    spec_profile_free(db);
    return rc < 0 ? 1 : 0;
}
