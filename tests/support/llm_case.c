/* Decoder simulation cases for tests (llm_case.h). */
#include "llm_case.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_rng.h"
#include "spec_llm.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct llm_cost_spec llm_standard_cost(int pp)
{
    struct llm_cost_spec c = {.n_tokens = 12,
                              .tokens = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
                              .pair_s = 1e-9,
                              .context_s = 1e-9,
                              .iteration_s = 1e-5,
                              .kv_bytes_per_token = 1};
    for (int s = 0; s < pp; s++)
        for (uint32_t j = 0; j < c.n_tokens; j++)
            c.dense_s[s][j] = c.tokens[j] * 1e-6;
    return c;
}

static char *base_name(uint32_t m)
{
    return mx_strfmt("b%u", m);
}

struct llm_case llm_case_new(uint32_t n_models, int64_t budget_bytes)
{
    return llm_case_new_with_context(n_models, budget_bytes, 1u << 20);
}

struct llm_case llm_case_new_with_context(uint32_t n_models, int64_t budget_bytes, uint32_t context)
{
    struct llm_case c = {spec_profile_new("test"), NULL, fx_cluster(64, 64), NULL};
    c.cluster.mem_budget_bytes = budget_bytes;
    char **bases = MX_NEW_ARRAY(char *, n_models);
    for (uint32_t m = 0; m < n_models; m++) {
        bases[m] = base_name(m);
        struct spec_decoder_model info = {context, 8, 0.001, 0.0001};
        spec_profile_add_decoder(c.db, bases[m], &info);
    }
    c.plan = fx_plan_new(n_models, (const char *const *)bases);
    for (uint32_t m = 0; m < n_models; m++)
        free(bases[m]);
    free(bases);
    return c;
}

/* Profile (1, op, pp) for base m with cost, unless it is there. */
static void profile_config(struct spec_profile *db, uint32_t m, int op, int pp,
                           const struct llm_cost_spec *cost)
{
    char *base = base_name(m);
    bool present = spec_profile_find(db, base, 1, op, pp) != NULL;
    free(base);
    if (present)
        return;
    uint32_t n = cost->n_tokens;
    int64_t weight[4], kv[4], act[4];
    double dense[4 * 16], pair[4], context[4], iteration[4];
    for (int s = 0; s < pp; s++) {
        weight[s] = cost->weight_bytes;
        kv[s] = cost->kv_bytes_per_token;
        act[s] = cost->act_bytes_per_token;
        pair[s] = cost->pair_s;
        context[s] = cost->context_s;
        iteration[s] = cost->iteration_s;
        memcpy(dense + s * n, cost->dense_s[s], n * sizeof(double));
    }
    struct spec_config cfg = {.dp = 1, .op = op, .pp = pp, .weight_bytes = weight};
    cfg.decoder = (struct spec_decoder_cost){
        n, (int32_t *)cost->tokens, dense, pair, context, iteration, kv, act};
    int rc = spec_profile_add_config(db, m, &cfg, "test profile");
    cr_assert_eq(rc, MX_OK, "%s", mx_error_message());
}

void llm_case_profile(struct llm_case *c, uint32_t m, int op, int pp,
                      const struct llm_cost_spec *cost)
{
    profile_config(c->db, m, op, pp, cost);
}

uint32_t llm_case_group(struct llm_case *c, int pp, uint32_t n, const uint32_t *models,
                        const struct llm_cost_spec *cost, struct spec_scheduler scheduler)
{
    uint32_t first = 0;
    const struct spec_plan_segment *s = &c->plan->segments[0];
    for (uint32_t g = 0; g < s->n_groups; g++)
        first += s->groups[g].n_devices;
    for (uint32_t k = 0; k < n; k++)
        profile_config(c->db, models[k], 1, pp, cost);
    fx_plan_add_group(c->plan, 1, pp, first, n, models);
    struct spec_plan_group *g = &c->plan->segments[0].groups[s->n_groups - 1];
    g->scheduler = scheduler;
    g->has_scheduler = true;
    return s->n_groups - 1;
}

void llm_case_requests(struct llm_case *c, size_t n, const struct llm_request *requests)
{
    double *arrival = MX_NEW_ARRAY(double, n ? n : 1), *slo = MX_NEW_ARRAY(double, n ? n : 1);
    int32_t *model = MX_NEW_ARRAY(int32_t, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        arrival[i] = requests[i].arrival_ns / 1e9;
        model[i] = requests[i].model;
        slo[i] = INFINITY;
    }
    c->trace = fx_trace(n, arrival, model, slo, c->plan->n_models);
    wl_trace_add_tokens(c->trace);
    for (size_t i = 0; i < n; i++) {
        c->trace->input_tokens[i] = requests[i].input;
        c->trace->output_tokens[i] = requests[i].output;
        c->trace->ttft_slo_s[i] = requests[i].ttft_ns ? requests[i].ttft_ns / 1e9 : INFINITY;
        c->trace->tpot_slo_s[i] = requests[i].tpot_ns ? requests[i].tpot_ns / 1e9 : INFINITY;
    }
    free(arrival);
    free(slo);
    free(model);
}

void llm_case_free(struct llm_case *c)
{
    spec_profile_free(c->db);
    spec_plan_free(c->plan);
    wl_trace_free(c->trace);
}

struct sim_llm_results *llm_case_run(const struct llm_case *c, struct sim_llm **world_out)
{
    struct sim_llm *w = NULL;
    struct sim_llm_results *r = NULL;
    int rc = sim_llm_new(&c->cluster, "cluster", c->db, "db", c->plan, c->trace, &w);
    cr_assert_eq(rc, MX_OK, "%s", mx_error_message());
    cr_assert_eq(sim_llm_run(w, 0, &r), MX_OK, "%s", mx_error_message());
    *world_out = w;
    return r;
}

static uint32_t draw(gsl_rng *rng, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)gsl_rng_uniform_int(rng, hi - lo + 1);
}

/* A random cost with a 1, 2, 4, ..., 64 grid of growing dense costs. */
static struct llm_cost_spec random_cost(gsl_rng *rng, int pp)
{
    struct llm_cost_spec c = llm_standard_cost(pp);
    for (int s = 0; s < pp; s++) {
        double d = 2e-6 + 20e-6 * gsl_rng_uniform(rng);
        for (uint32_t j = 0; j < c.n_tokens; j++) {
            c.dense_s[s][j] = d;
            d += c.tokens[j] * 1e-6 * gsl_rng_uniform(rng);
        }
    }
    c.pair_s = 3e-9 * gsl_rng_uniform(rng);
    c.context_s = 3e-9 * gsl_rng_uniform(rng);
    c.iteration_s = 2e-5 * gsl_rng_uniform(rng);
    c.kv_bytes_per_token = draw(rng, 1, 4);
    c.act_bytes_per_token = draw(rng, 0, 2);
    return c;
}

struct llm_case llm_case_random(uint64_t seed)
{
    gsl_rng *rng = mx_rng_new(seed, "test/llm-case", 0);
    uint32_t n_models = draw(rng, 1, 4);
    struct llm_case c = llm_case_new(n_models, draw(rng, 300, 3000));
    struct spec_llm_settings *st = &c.cluster.decoder;
    static const uint32_t blocks[3] = {1, 4, 16};
    st->dispatch = (enum spec_llm_dispatch)draw(rng, 0, SPEC_LLM_DISPATCH_COUNT - 1);
    st->admission = (enum spec_llm_admission)draw(rng, 0, SPEC_LLM_ADMISSION_COUNT - 1);
    st->block_tokens = blocks[draw(rng, 0, 2)];
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        c.cluster.overheads.term[t].mean_s =
            gsl_rng_uniform(rng) < 0.5 ? 0 : draw(rng, 0, 40) * 1e-6;
    if (gsl_rng_uniform(rng) < 0.3) {
        c.cluster.overheads.stage_factor = 0.5 + gsl_rng_uniform(rng);
        c.cluster.overheads.stage_factor_per_pp = 0.05 * gsl_rng_uniform(rng);
    }
    /* Each model's cost is drawn once per pp (a profile has one config per pp). */
    struct llm_cost_spec costs[4][4];
    for (uint32_t m = 0; m < n_models; m++)
        for (int pp = 1; pp <= 3; pp++)
            costs[m][pp] = random_cost(rng, pp);
    uint32_t n_groups = draw(rng, 1, 3);
    for (uint32_t g = 0; g < n_groups; g++) {
        int pp = (int)draw(rng, 1, 3);
        uint32_t models[4], n = 0;
        for (uint32_t m = 0; m < n_models; m++)
            if (gsl_rng_uniform(rng) < 0.6)
                models[n++] = m;
        if (n == 0)
            models[n++] = draw(rng, 0, n_models - 1);
        static const uint32_t budgets[5] = {4, 8, 16, 32, 64};
        struct spec_scheduler sch = {budgets[draw(rng, 0, 4)], draw(rng, 1, 8),
                                     (enum spec_mm_policy)draw(rng, 0, SPEC_MM_POLICY_COUNT - 1)};
        for (uint32_t k = 0; k < n; k++)
            profile_config(c.db, models[k], 1, pp, &costs[models[k]][pp]);
        llm_case_group(&c, pp, n, models, &costs[models[0]][pp], sch);
    }
    size_t n = draw(rng, 1, 40);
    struct llm_request *req = MX_NEW_ARRAY(struct llm_request, n);
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += gsl_rng_uniform(rng) < 0.3 ? 0 : draw(rng, 0, 200) * 1000;
        req[i] = (struct llm_request){t,
                                      (int32_t)draw(rng, 0, n_models - 1),
                                      (int32_t)draw(rng, 1, 80),
                                      (int32_t)draw(rng, 1, 40),
                                      gsl_rng_uniform(rng) < 0.5 ? 0 : draw(rng, 20, 2000) * 1000,
                                      gsl_rng_uniform(rng) < 0.5 ? 0 : draw(rng, 10, 200) * 1000};
    }
    llm_case_requests(&c, n, req);
    free(req);
    gsl_rng_free(rng);
    return c;
}

static json_t *int_array(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t k = 0; k < n; k++)
        mx_json_append(a, json_integer(v[k]));
    return a;
}

static json_t *real_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t k = 0; k < n; k++)
        mx_json_append(a, json_real(v[k]));
    return a;
}

static json_t *hosted_json(const struct spec_config *cfg, uint32_t model)
{
    const struct spec_decoder_cost *d = &cfg->decoder;
    size_t pp = (size_t)cfg->pp, n = d->n_tokens;
    json_t *h = json_object(), *tokens = json_array(), *dense = json_array();
    for (size_t j = 0; j < n; j++)
        mx_json_append(tokens, json_integer(d->tokens[j]));
    for (size_t s = 0; s < pp; s++)
        mx_json_append(dense, real_array(d->dense_s + s * n, n));
    mx_json_set(h, "model", json_integer(model));
    mx_json_set(h, "weight_bytes", int_array(cfg->weight_bytes, pp));
    mx_json_set(h, "act_bytes_per_token", int_array(d->act_bytes_per_token, pp));
    mx_json_set(h, "kv_bytes_per_token", int_array(d->kv_bytes_per_token, pp));
    mx_json_set(h, "tokens", tokens);
    mx_json_set(h, "dense_s", dense);
    mx_json_set(h, "prefill_pair_s", real_array(d->prefill_pair_s, pp));
    mx_json_set(h, "decode_token_s", real_array(d->decode_token_s, pp));
    mx_json_set(h, "iteration_s", real_array(d->iteration_s, pp));
    return h;
}

static json_t *slo_json(double s)
{
    return isinf(s) ? json_null() : json_integer(mx_s_to_ns(s));
}

void llm_case_write_reference(const struct llm_case *c, const char *path)
{
    const struct spec_plan *p = c->plan;
    const struct spec_plan_segment *seg = &p->segments[0];
    const struct spec_overheads *o = &c->cluster.overheads;
    json_t *doc = json_object(), *delays = json_object(), *models = json_array();
    json_t *groups = json_array(), *replicas = json_array(), *requests = json_array();
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        mx_json_set(delays, spec_overhead_names[t], json_integer(mx_s_to_ns(o->term[t].mean_s)));
    for (uint32_t m = 0; m < p->n_models; m++) {
        mx_json_append(models, json_pack("{ss}", "name", p->models[m].name));
        json_t *list = json_array();
        for (uint32_t g = 0; g < seg->n_groups; g++)
            for (uint32_t j = 0; j < seg->groups[g].n_models; j++)
                if (seg->groups[g].models[j] == m)
                    mx_json_append(list, json_integer(g));
        mx_json_append(replicas, list);
    }
    for (uint32_t g = 0; g < seg->n_groups; g++) {
        const struct spec_plan_group *pg = &seg->groups[g];
        json_t *hosted = json_array();
        for (uint32_t j = 0; j < pg->n_models; j++)
            mx_json_append(hosted,
                           hosted_json(spec_profile_find(c->db, p->models[pg->models[j]].base, 1,
                                                         pg->op, pg->pp),
                                       pg->models[j]));
        double f = o->stage_factor * (1 + o->stage_factor_per_pp * pg->pp);
        mx_json_append(groups,
                       json_pack("{sisfsisisssO}", "stages", pg->pp, "f", f, "max_batch_tokens",
                                 (int)pg->scheduler.max_batch_tokens, "max_seqs",
                                 (int)pg->scheduler.max_seqs, "policy",
                                 spec_mm_policy_names[pg->scheduler.policy], "models", hosted));
        json_decref(hosted);
    }
    const struct wl_trace *t = c->trace;
    for (size_t i = 0; i < t->n; i++) {
        json_t *r = json_object();
        mx_json_set(r, "arrival_ns", json_integer(mx_s_to_ns(t->arrival_s[i])));
        mx_json_set(r, "model", json_integer(t->model[i]));
        mx_json_set(r, "input", json_integer(t->input_tokens[i]));
        mx_json_set(r, "output", json_integer(t->output_tokens[i]));
        mx_json_set(r, "ttft_slo_ns", slo_json(t->ttft_slo_s[i]));
        mx_json_set(r, "tpot_slo_ns", slo_json(t->tpot_slo_s[i]));
        mx_json_set(r, "slo_ns", slo_json(t->slo_s[i]));
        mx_json_append(requests, r);
    }
    mx_json_set(doc, "block_tokens", json_integer(c->cluster.decoder.block_tokens));
    mx_json_set(doc, "delays_ns", delays);
    mx_json_set(doc, "admission",
                json_string(spec_llm_admission_names[c->cluster.decoder.admission]));
    mx_json_set(doc, "dispatch", json_string(spec_llm_dispatch_names[c->cluster.decoder.dispatch]));
    mx_json_set(doc, "budget_bytes", json_integer(c->cluster.mem_budget_bytes));
    mx_json_set(doc, "models", models);
    mx_json_set(doc, "groups", groups);
    mx_json_set(doc, "replicas", replicas);
    mx_json_set(doc, "requests", requests);
    cr_assert_eq(mx_json_write_file(path, doc), MX_OK, "%s", mx_error_message());
    json_decref(doc);
}

static int64_t time_or_never(json_t *v)
{
    return json_is_null(v) ? MX_NS_NEVER : json_integer_value(v);
}

void llm_case_check_reference(const struct llm_case *c, const struct sim_llm *w,
                              const struct sim_llm_results *r, const char *what)
{
    const char *dir = fx_tmpdir();
    const char *case_path = fx_path(dir, "case.json"), *out = fx_path(dir, "results.json");
    llm_case_write_reference(c, case_path);
    char *cmd = mx_strfmt("python3 %s %s > %s", fx_source_path("tests/sim/llm_reference.py"),
                          case_path, out);
    int status = system(cmd);
    free(cmd);
    cr_assert_eq(status, 0, "%s: the reference model failed on %s", what, case_path);
    json_error_t err;
    json_t *doc = json_load_file(out, 0, &err);
    cr_assert_not_null(doc, "%s: %s", what, err.text);
    json_t *requests = json_object_get(doc, "requests");
    cr_assert_eq(json_array_size(requests), c->trace->n, "%s", what);
    cr_assert_eq(sim_llm_requests(w), c->trace->n, "%s", what);
    uint64_t iterations = 0;
    for (uint32_t g = 0; g < r->n_groups; g++)
        iterations += r->iterations[g];
    for (size_t i = 0; i < c->trace->n; i++) {
        json_t *e = json_array_get(requests, i);
        const char *status_name = json_string_value(json_object_get(e, "status"));
        cr_assert_str_eq(sim_status_names[r->status[i]], status_name, "%s: request %zu", what, i);
        cr_assert_eq(r->group[i], json_integer_value(json_object_get(e, "group")),
                     "%s: request %zu group", what, i);
        cr_assert_eq(r->first_token_ns[i], time_or_never(json_object_get(e, "first_token_ns")),
                     "%s: request %zu first token", what, i);
        cr_assert_eq(r->finish_ns[i], time_or_never(json_object_get(e, "finish_ns")),
                     "%s: request %zu finish", what, i);
        cr_assert_eq(r->generated[i], json_integer_value(json_object_get(e, "generated")),
                     "%s: request %zu tokens", what, i);
        cr_assert_eq(r->preemptions[i], json_integer_value(json_object_get(e, "preemptions")),
                     "%s: request %zu preemptions", what, i);
    }
    cr_assert_eq(iterations, json_integer_value(json_object_get(doc, "iterations")),
                 "%s: iterations", what);
    json_decref(doc);
}
