/* Summaries of decoder simulation results (sim_llm_metrics.h). */
#include "sim_llm_metrics.h"

#include "mx_alloc.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "sim_llm_int.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sorts values in place. */
static void stats(double *values, size_t n, struct sim_llm_stats *out)
{
    mx_sort_f64(values, n);
    *out = (struct sim_llm_stats){n, mx_mean(values, n), mx_quantile_sorted(values, n, 0.50),
                                  mx_quantile_sorted(values, n, 0.90),
                                  mx_quantile_sorted(values, n, 0.99)};
}

/* The lower edge of gap bin b, in ns (exact below 256 ns). */
static double gap_bin_ns(uint32_t b)
{
    uint32_t e = b / 256, m = b % 256;
    return e >= 8 ? ldexp(256 + m, (int)e - 8) : (double)((256 + m) >> (8 - e));
}

static double gap_quantile_s(const struct sim_llm_results *r, double q)
{
    if (r->gaps == 0)
        return NAN;
    uint64_t rank = (uint64_t)ceil(q * (double)r->gaps), seen = 0;
    if (rank == 0)
        rank = 1;
    for (uint32_t b = 0; b < SIM_LLM_GAP_BINS; b++)
        if ((seen += r->gap_bins[b]) >= rank)
            return gap_bin_ns(b) / 1e9;
    return NAN;
}

/* The time per output token of completed request i, seconds (0 for one token). */
static double tpot_s(const struct sim_llm *w, const struct sim_llm_results *r, size_t i)
{
    uint32_t gaps = w->output[i] - 1;
    return gaps ? mx_ns_to_s(r->finish_ns[i] - r->first_token_ns[i]) / gaps : 0;
}

static bool within(mx_ns value, mx_ns slo)
{
    return slo == MX_NS_NEVER || value <= slo;
}

/* The TPOT rule of docs/decoders.md, in integers. */
static bool tpot_within(const struct sim_llm *w, const struct sim_llm_results *r, size_t i)
{
    uint64_t gaps = w->output[i] - 1;
    return gaps == 0 || w->tpot_slo_ns[i] == MX_NS_NEVER ||
           ((uint64_t)(r->finish_ns[i] - r->first_token_ns[i]) + gaps - 1) / gaps <=
               (uint64_t)w->tpot_slo_ns[i];
}

static void group_figures(const struct sim_llm *w, const struct sim_llm_results *r,
                          struct sim_llm_summary *s)
{
    mx_ns begin = w->n ? w->arrival_ns[0] : 0, end = begin;
    for (size_t i = 0; i < w->n; i++)
        if (r->finish_ns[i] != MX_NS_NEVER && r->finish_ns[i] > end)
            end = r->finish_ns[i];
    s->n_groups = w->n_groups;
    s->groups = MX_NEW_ARRAY(struct sim_llm_group_summary, w->n_groups ? w->n_groups : 1);
    for (uint32_t g = 0; g < w->n_groups; g++) {
        struct sim_llm_group_summary *gs = &s->groups[g];
        gs->iterations = r->iterations[g];
        gs->tokens = r->tokens[g];
        gs->preemptions = r->preempted[g];
        gs->tokens_per_iteration = gs->iterations ? (double)gs->tokens / gs->iterations : NAN;
        gs->busy_fraction = end > begin ? (double)r->busy_ns[g] / (double)(end - begin) : 0;
        gs->kv_mean = r->kv_mean[g];
        gs->kv_max = r->kv_max[g];
        s->iterations += gs->iterations;
        s->preemptions += gs->preemptions;
    }
}

void sim_llm_summarize(const struct sim_llm *w, const struct sim_llm_results *r, double warmup_s,
                       struct sim_llm_summary *out)
{
    const struct wl_trace *t = w->trace;
    mx_ns from, to;
    memset(out, 0, sizeof(*out));
    sim_llm_window(w, warmup_s, &from, &to);
    out->warmup_s = warmup_s;
    out->window_start_s = t->arrival_s[0] + warmup_s;
    out->window_end_s = t->arrival_s[t->n - 1] - warmup_s;
    double window = out->window_end_s - out->window_start_s;
    group_figures(w, r, out);
    out->n_models = t->n_models;
    out->models = MX_NEW_ARRAY(struct sim_llm_model_summary, t->n_models ? t->n_models : 1);
    size_t n = w->n ? w->n : 1, done = 0, ttft_ok = 0, tpot_ok = 0;
    double *ttft = MX_NEW_ARRAY(double, n), *tpot = MX_NEW_ARRAY(double, n);
    double *e2e = MX_NEW_ARRAY(double, n);
    uint32_t *model_of = MX_NEW_ARRAY(uint32_t, n);
    /* Results name groups by plan index; the summary by decoder group. */
    uint32_t plan_groups = w->n_groups ? w->groups[w->n_groups - 1].plan_index + 1 : 1;
    uint32_t *decoder_group = MX_NEW_ARRAY(uint32_t, plan_groups);
    for (uint32_t g = 0; g < w->n_groups; g++)
        decoder_group[w->groups[g].plan_index] = g;
    uint64_t input = 0, output = 0, tokens = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->arrival_ns[i] < from || w->arrival_ns[i] > to)
            continue;
        uint8_t status = r->status[i];
        uint32_t m = sim_llm_request_model(w, i);
        struct sim_llm_model_summary *ms = &out->models[m];
        out->requests++;
        out->count[status]++;
        ms->requests++;
        ms->good += status == SIM_GOOD;
        if (r->group[i] >= 0) {
            struct sim_llm_group_summary *gs = &out->groups[decoder_group[r->group[i]]];
            gs->requests++;
            gs->good += status == SIM_GOOD;
        }
        if (status != SIM_GOOD && status != SIM_LATE)
            continue;
        mx_ns first = r->first_token_ns[i] - w->arrival_ns[i];
        ttft_ok += within(first, w->ttft_slo_ns[i]);
        tpot_ok += tpot_within(w, r, i);
        ttft[done] = mx_ns_to_s(first);
        tpot[done] = tpot_s(w, r, i);
        e2e[done] = mx_ns_to_s(r->finish_ns[i] - w->arrival_ns[i]);
        model_of[done++] = m;
        input += w->input[i];
        output += w->output[i];
    }
    for (uint32_t g = 0; g < w->n_groups; g++)
        tokens += r->tokens[g];
    double requests = (double)out->requests;
    out->attainment = out->requests ? (double)out->count[SIM_GOOD] / requests : NAN;
    out->ttft_attainment = out->requests ? (double)ttft_ok / requests : NAN;
    out->tpot_attainment = out->requests ? (double)tpot_ok / requests : NAN;
    out->goodput = window > 0 ? (double)out->count[SIM_GOOD] / window : NAN;
    out->input_tokens_per_s = window > 0 ? (double)input / window : NAN;
    out->output_tokens_per_s = window > 0 ? (double)output / window : NAN;
    out->tokens_per_iteration = out->iterations ? (double)tokens / out->iterations : NAN;
    out->gap = (struct sim_llm_stats){
        r->gaps, r->gaps ? (double)r->gap_sum_ns / r->gaps / 1e9 : NAN, gap_quantile_s(r, 0.50),
        gap_quantile_s(r, 0.90), gap_quantile_s(r, 0.99)};
    /* Per model p99s: regroup each measure by model before sorting the whole. */
    double *mine = MX_NEW_ARRAY(double, n);
    for (uint32_t m = 0; m < t->n_models; m++) {
        struct sim_llm_model_summary *ms = &out->models[m];
        ms->attainment = ms->requests ? (double)ms->good / (double)ms->requests : NAN;
        ms->goodput = window > 0 ? (double)ms->good / window : NAN;
        for (int measure = 0; measure < 2; measure++) {
            const double *v = measure == 0 ? ttft : tpot;
            size_t k = 0;
            for (size_t j = 0; j < done; j++)
                if (model_of[j] == m)
                    mine[k++] = v[j];
            mx_sort_f64(mine, k);
            *(measure == 0 ? &ms->ttft_p50_s : &ms->tpot_p50_s) = mx_quantile_sorted(mine, k, 0.50);
            *(measure == 0 ? &ms->ttft_p99_s : &ms->tpot_p99_s) = mx_quantile_sorted(mine, k, 0.99);
        }
    }
    stats(ttft, done, &out->ttft);
    stats(tpot, done, &out->tpot);
    stats(e2e, done, &out->e2e);
    free(mine);
    free(decoder_group);
    free(model_of);
    free(ttft);
    free(tpot);
    free(e2e);
}

void sim_llm_summary_release(struct sim_llm_summary *s)
{
    free(s->models);
    free(s->groups);
    memset(s, 0, sizeof(*s));
}

static json_t *stats_json(const struct sim_llm_stats *st)
{
    json_t *o = json_object();
    mx_json_set(o, "n", json_integer((json_int_t)st->n));
    mx_json_set(o, "mean", mx_json_real_or_null(st->mean_s));
    mx_json_set(o, "p50", mx_json_real_or_null(st->p50_s));
    mx_json_set(o, "p90", mx_json_real_or_null(st->p90_s));
    mx_json_set(o, "p99", mx_json_real_or_null(st->p99_s));
    return o;
}

json_t *sim_llm_summary_json(const struct sim_llm *w, const struct sim_llm_summary *s)
{
    json_t *o = json_object(), *models = json_array(), *groups = json_array();
    mx_json_set(o, "requests", json_integer((json_int_t)s->requests));
    for (int k = 0; k < SIM_N_STATUS; k++)
        if (k != SIM_DROPPED && k != SIM_FAILED)
            mx_json_set(o, sim_status_names[k], json_integer((json_int_t)s->count[k]));
    mx_json_set(o, "attainment", mx_json_real_or_null(s->attainment));
    mx_json_set(o, "ttft_attainment", mx_json_real_or_null(s->ttft_attainment));
    mx_json_set(o, "tpot_attainment", mx_json_real_or_null(s->tpot_attainment));
    mx_json_set(o, "goodput_per_s", mx_json_real_or_null(s->goodput));
    mx_json_set(o, "input_tokens_per_s", mx_json_real_or_null(s->input_tokens_per_s));
    mx_json_set(o, "output_tokens_per_s", mx_json_real_or_null(s->output_tokens_per_s));
    mx_json_set(o, "ttft_s", stats_json(&s->ttft));
    mx_json_set(o, "tpot_s", stats_json(&s->tpot));
    mx_json_set(o, "inter_token_gap_s", stats_json(&s->gap));
    mx_json_set(o, "e2e_latency_s", stats_json(&s->e2e));
    mx_json_set(o, "iterations", json_integer((json_int_t)s->iterations));
    mx_json_set(o, "tokens_per_iteration", mx_json_real_or_null(s->tokens_per_iteration));
    mx_json_set(o, "preemptions", json_integer((json_int_t)s->preemptions));
    const struct wl_trace *t = sim_llm_trace(w);
    for (uint32_t m = 0; m < s->n_models; m++) {
        const struct sim_llm_model_summary *ms = &s->models[m];
        if (ms->requests == 0)
            continue;
        json_t *e = json_object();
        mx_json_set(e, "name", json_string(t->model_names[m]));
        mx_json_set(e, "requests", json_integer((json_int_t)ms->requests));
        mx_json_set(e, "good", json_integer((json_int_t)ms->good));
        mx_json_set(e, "attainment", mx_json_real_or_null(ms->attainment));
        mx_json_set(e, "ttft_p99_s", mx_json_real_or_null(ms->ttft_p99_s));
        mx_json_set(e, "tpot_p99_s", mx_json_real_or_null(ms->tpot_p99_s));
        mx_json_append(models, e);
    }
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct sim_llm_group_summary *gs = &s->groups[g];
        json_t *e = json_object();
        mx_json_set(e, "id", json_integer(sim_llm_group_id(w, g)));
        mx_json_set(e, "requests", json_integer((json_int_t)gs->requests));
        mx_json_set(e, "good", json_integer((json_int_t)gs->good));
        mx_json_set(e, "iterations", json_integer((json_int_t)gs->iterations));
        mx_json_set(e, "tokens_per_iteration", mx_json_real_or_null(gs->tokens_per_iteration));
        mx_json_set(e, "busy_fraction", json_real(gs->busy_fraction));
        mx_json_set(e, "kv_mean", json_real(gs->kv_mean));
        mx_json_set(e, "kv_max", json_real(gs->kv_max));
        mx_json_set(e, "preemptions", json_integer((json_int_t)gs->preemptions));
        mx_json_append(groups, e);
    }
    mx_json_set(o, "models", models);
    mx_json_set(o, "groups", groups);
    return o;
}

static void print_stats(FILE *fp, const char *what, const struct sim_llm_stats *st)
{
    fprintf(fp, "  %-18s mean %9.1f  p50 %9.1f  p90 %9.1f  p99 %9.1f ms\n", what, st->mean_s * 1e3,
            st->p50_s * 1e3, st->p90_s * 1e3, st->p99_s * 1e3);
}

void sim_llm_summary_print(FILE *fp, const struct sim_llm *w, const struct sim_llm_summary *s)
{
    fprintf(fp,
            "decoders: SLO attainment %.4f (%.2f%%) over %zu requests in [%.3f, %.3f] s; by TTFT "
            "alone %.4f, by TPOT alone %.4f\n",
            s->attainment, 100 * s->attainment, s->requests, s->window_start_s, s->window_end_s,
            s->ttft_attainment, s->tpot_attainment);
    fprintf(fp, "  good %zu, late %zu, rejected %zu, no replica %zu; goodput %.3f requests/s\n",
            s->count[SIM_GOOD], s->count[SIM_LATE], s->count[SIM_REJECTED],
            s->count[SIM_NO_REPLICA], s->goodput);
    fprintf(fp, "  tokens/s %.1f in, %.1f out; %llu iterations of %.1f tokens; %llu preemptions\n",
            s->input_tokens_per_s, s->output_tokens_per_s, (unsigned long long)s->iterations,
            s->tokens_per_iteration, (unsigned long long)s->preemptions);
    print_stats(fp, "TTFT", &s->ttft);
    print_stats(fp, "TPOT", &s->tpot);
    print_stats(fp, "inter-token gap", &s->gap);
    print_stats(fp, "end-to-end", &s->e2e);
    const struct wl_trace *t = sim_llm_trace(w);
    fprintf(fp, "\n%-24s %10s %11s %12s %12s\n", "decoder model", "requests", "attainment",
            "TTFT p99 ms", "TPOT p99 ms");
    for (uint32_t m = 0; m < s->n_models; m++) {
        const struct sim_llm_model_summary *ms = &s->models[m];
        if (ms->requests)
            fprintf(fp, "%-24s %10zu %11.4f %12.1f %12.2f\n", t->model_names[m], ms->requests,
                    ms->attainment, ms->ttft_p99_s * 1e3, ms->tpot_p99_s * 1e3);
    }
    fprintf(fp, "\n%-8s %10s %11s %12s %10s %6s %8s %8s %11s\n", "group", "requests", "attainment",
            "iterations", "tok/iter", "busy", "KV mean", "KV max", "preemptions");
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct sim_llm_group_summary *gs = &s->groups[g];
        fprintf(fp, "%-8d %10zu %11.4f %12llu %10.1f %6.3f %8.3f %8.3f %11llu\n",
                sim_llm_group_id(w, g), gs->requests,
                gs->requests ? (double)gs->good / (double)gs->requests : NAN,
                (unsigned long long)gs->iterations, gs->tokens_per_iteration, gs->busy_fraction,
                gs->kv_mean, gs->kv_max, (unsigned long long)gs->preemptions);
    }
}
