/* bench/llm_plan_speed: planning time and attainment of the decoder policies (issue 24's case).
 *
 * 8 decoders of mixed sizes (Llama-2-7B twice, Mistral-7B, Llama-3-8B, Llama-2-13B,
 * CodeLlama-34B, Llama-2-70B, Llama-3-70B) on 32 H100s (4 nodes of 8, 80 GiB each; the calibrated
 * roofline profile data/profiles/h100-llm.h5); one hour of the Azure LLM 2023 conversation trace
 * with its real prompt and output lengths, each request sent to a model drawn by a power law
 * (alpha 1, as `trace import --map split:1`), prompts cut to fit their model's context; TTFT SLO 10
 * times and TPOT SLO 5 times each model's reference figures. --clones K repeats every request K
 * times (K times the rate). The plan is scored on the trace it was planned on. One JSON line per
 * policy and thread count: planning time (reading and importing excluded), predicted attainment,
 * attainment by simulate, groups and replicas.
 *
 * usage: llm_plan_speed [--profile DB.h5] [--policies dedicated,spatial,alpaserve,mux-llm]
 *                       [--threads 1,2] [--clones 1] */
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_time.h"
#include "planner.h"
#include "sim_dispatch.h"
#include "spec_cluster.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_import.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const bases[8] = {"llama-2-7b",  "llama-2-7b",    "mistral-7b",  "llama-3-8b",
                                     "llama-2-13b", "codellama-34b", "llama-2-70b", "llama-3-70b"};

static struct spec_model_set *model_set(const struct spec_profile *db, const char *db_path, int *rc)
{
    struct spec_model_set *set = MX_NEW(struct spec_model_set);
    set->path = mx_strdup("bench");
    set->n = 8;
    set->models = MX_NEW_ARRAY(struct spec_model, 8);
    for (uint32_t m = 0; m < 8; m++) {
        char *name = mx_strfmt("m%u-%s", m, bases[m]);
        set->models[m] = spec_model_make(name, bases[m], INFINITY);
        set->models[m].ttft = (struct spec_slo){0, 10};
        set->models[m].tpot = (struct spec_slo){0, 5};
        free(name);
    }
    *rc = spec_models_resolve(set, db, db_path);
    return set;
}

/* Every request of t k times. */
static struct wl_trace *cloned(const struct wl_trace *t, uint32_t k)
{
    struct wl_trace *c = wl_trace_new(t->n * k, t->n_models, (const char *const *)t->model_names);
    wl_trace_add_tokens(c);
    for (size_t i = 0; i < t->n * k; i++)
        wl_trace_copy_request(c, i, t, i / k);
    c->start_s = t->start_s;
    c->duration_s = t->duration_s;
    c->path = mx_strdup("conversation hour");
    return c;
}

int main(int argc, char **argv)
{
    const char *profile = "data/profiles/h100-llm.h5",
               *policies = "dedicated,spatial,alpaserve,mux-llm";
    const char *threads = "1,2";
    uint32_t clones = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--profile") == 0)
            profile = argv[i + 1];
        else if (strcmp(argv[i], "--policies") == 0)
            policies = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = argv[i + 1];
        else if (strcmp(argv[i], "--clones") == 0)
            clones = (uint32_t)atoi(argv[i + 1]);
        else {
            fprintf(stderr, "llm_plan_speed: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct spec_profile *db = NULL;
    struct wl_trace *hour = NULL, *trace = NULL;
    struct spec_model_set *set = NULL;
    int rc = spec_profile_load(profile, &db);
    if (rc == MX_OK)
        set = model_set(db, profile, &rc);
    if (rc == MX_OK) {
        struct wl_import_spec spec = wl_import_spec_default();
        struct wl_import_report report;
        spec.format = "azure-llm-2023";
        spec.set = set;
        spec.db = db;
        spec.map = WL_MAP_SPLIT;
        spec.split_alpha = 1;
        spec.seed = 1;
        rc = wl_import("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv", &spec, &hour,
                       &report);
    }
    if (rc == MX_OK)
        trace = cloned(hour, clones);
    struct spec_cluster cluster;
    spec_cluster_defaults(&cluster);
    cluster.devices = 32;
    cluster.devices_per_node = 8;
    cluster.mem_budget_bytes = (int64_t)80 << 30;
    char *policy_list = mx_strdup(policies), *ps = NULL;
    for (char *name = strtok_r(policy_list, ",", &ps); name && rc == MX_OK;
         name = strtok_r(NULL, ",", &ps)) {
        char *thread_list = mx_strdup(threads), *ts = NULL;
        for (char *t = strtok_r(thread_list, ",", &ts); t && rc == MX_OK;
             t = strtok_r(NULL, ",", &ts)) {
            struct plan_params params = plan_params_default();
            const struct plan_policy *policy = plan_policy_find(name, &params);
            if (!policy) {
                rc = mx_error(MX_EUSAGE, "unknown policy %s", name);
                break;
            }
            struct plan_problem pb = {.cluster = &cluster,
                                      .cluster_path = "bench",
                                      .db = db,
                                      .db_path = profile,
                                      .models = set,
                                      .train = trace,
                                      .dispatch = &sim_dispatch_earliest_free,
                                      .threads = (unsigned)atoi(t),
                                      .kv_margin = PLAN_DEFAULT_KV_MARGIN};
            struct spec_plan *plan = NULL;
            struct plan_outcome outcome;
            struct plan_test test = {0};
            double t0 = mx_wall_s();
            rc = plan_solve(policy, &pb, &params, &plan, &outcome);
            double seconds = mx_wall_s() - t0;
            if (rc == MX_OK)
                rc = plan_score(&pb, plan, trace, 0, &test);
            if (rc == MX_OK) {
                char *groups = spec_plan_describe_groups(plan);
                printf("{\"bench\": \"llm_plan_speed\", \"policy\": \"%s\", \"threads\": %s, "
                       "\"clones\": %u, \"requests\": %zu, \"seconds\": %.2f, "
                       "\"predicted\": %.6f, \"attainment\": %.6f, \"ttft_attainment\": %.6f, "
                       "\"tpot_attainment\": %.6f, \"groups\": \"%s\", \"replicas\": %u, "
                       "\"evaluations\": %u}\n",
                       name, t, clones, trace->n, seconds, outcome.attainment, test.attainment,
                       test.llm.ttft_attainment, test.llm.tpot_attainment, groups, outcome.replicas,
                       outcome.evaluations);
                fflush(stdout);
                free(groups);
            }
            plan_test_release(&test);
            spec_plan_free(plan);
        }
        free(thread_list);
    }
    free(policy_list);
    if (rc < 0)
        fprintf(stderr, "llm_plan_speed: %s\n", mx_error_message());
    wl_trace_free(trace);
    wl_trace_free(hour);
    spec_models_free(set);
    spec_profile_free(db);
    return rc < 0 ? 1 : 0;
}
