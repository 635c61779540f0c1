/* muxplan serve and fidelity for decoder plans (cli_serve_llm.h): the decoder runtime serves the
 * plan; fidelity runs the iteration-level simulator on the same requests and prints TTFT, TPOT,
 * goodput and attainment, simulated and real, overall and per model. */
#include "cli.h"
#include "cli_serve_llm.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "rt_backend.h"
#include "rt_cores.h"
#include "rt_llm.h"
#include "sim_llm.h"
#include "sim_llm_metrics.h"
#include "sim_output.h"
#include "spec_cluster.h"
#include "spec_llm.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_decoder(const struct spec_profile *db, const char *base)
{
    const struct spec_profile_model *m = spec_profile_find_model(db, base);
    return m && m->kind == SPEC_DECODER;
}

int cli_llm_plan(const char *plan_path, const char *profile_path, bool *out)
{
    struct spec_plan *plan = NULL;
    struct spec_profile *db = NULL;
    *out = false;
    int rc = spec_plan_read(plan_path, &plan);
    if (rc == MX_OK)
        rc = spec_profile_load(profile_path, &db);
    for (uint32_t m = 0; rc == MX_OK && m < plan->n_models; m++)
        *out = *out || is_decoder(db, plan->models[m].base);
    spec_profile_free(db);
    spec_plan_free(plan);
    return rc;
}

/* Ctrl-C: stop releasing requests (the run then drains and reports). */
static volatile sig_atomic_t stop_requested;

static void on_interrupt(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Everything a run reads and makes. */
struct llm_serve {
    const struct cli_llm_args *a;
    struct spec_cluster cluster;
    uint32_t *cores, n_cores;
    struct spec_profile *db;
    struct spec_plan *plan;
    struct wl_trace *trace;
    struct sim_llm *world;
    struct rt_llm_report report;
    double calibrated; /* the stage factor --calibrate measured, NaN without it */
    double run_factor; /* the stage factor the run started from */
    /* After an interrupted run: the released requests alone. */
    struct wl_trace *released_trace;
    struct sim_llm *released_world;
    struct sim_llm_results *released_results;
};

/* One kind per run: a plan that also hosts encoders, or a trace of their requests, is refused. */
static int check_one_kind(const struct llm_serve *s)
{
    const struct spec_plan_segment *seg = &s->plan->segments[0];
    for (uint32_t g = 0; g < seg->n_groups; g++)
        for (uint32_t j = 0; j < seg->groups[g].n_models; j++) {
            const struct spec_plan_model *m = &s->plan->models[seg->groups[g].models[j]];
            if (!is_decoder(s->db, m->base))
                return mx_error(MX_EINPUT,
                                "%s: group %d hosts encoder model \"%s\" beside the plan's decoder "
                                "groups: the runtime serves a plan of one kind per run (serve the "
                                "encoder groups and the decoder groups as two plans)",
                                s->a->plan, seg->groups[g].id, m->name);
        }
    struct wl_trace *encoders = sim_encoder_requests(s->plan, s->db, s->trace);
    if (encoders) {
        size_t n = encoders->n;
        wl_trace_free(encoders);
        return mx_error(MX_EINPUT,
                        "%s: %zu requests are of encoder models, which a decoder plan does not "
                        "serve: the runtime serves one kind per run",
                        s->a->trace, n);
    }
    return MX_OK;
}

static int load(struct llm_serve *s)
{
    const struct cli_llm_args *a = s->a;
    const char *inputs[] = {a->cluster, a->profile, a->plan, a->trace};
    int rc;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        mx_input_note(inputs[i]);
    if (a->dispatch_given)
        return cli_usage_error(a->command,
                               "--dispatch is the encoders' policy: decoder groups dispatch by "
                               "the cluster's \"decoder\": {\"dispatch\"}");
    if ((a->requests_out && (rc = mx_output_check(a->requests_out)) < 0) ||
        (rc = spec_cluster_read(a->cluster, &s->cluster)) < 0 ||
        (rc = rt_cores_read(a->cluster, s->cluster.devices, &s->cores, &s->n_cores)) < 0 ||
        (rc = spec_profile_load(a->profile, &s->db)) < 0 ||
        (rc = spec_plan_read(a->plan, &s->plan)) < 0 ||
        (rc = wl_trace_read_h5(a->trace, &s->trace)) < 0 ||
        (rc = sim_llm_new(&s->cluster, a->cluster, s->db, a->profile, s->plan, s->trace,
                          &s->world)) < 0)
        return rc;
    return check_one_kind(s);
}

static struct rt_options options(const struct llm_serve *s)
{
    return (struct rt_options){.backend = s->a->backend,
                               .zoo_dir = s->a->zoo,
                               .cores = s->cores,
                               .n_cores = s->n_cores,
                               .seed = s->a->seed,
                               .stop = &stop_requested};
}

/* --calibrate: build and warm up the stages, and make the measured ratio of their time to the
 * profile's the cluster's stage factor, for the run and the simulation beside it. */
static int calibrate(struct llm_serve *s)
{
    struct rt_options o = options(s);
    struct rt_llm_report report;
    o.calibrate_only = true;
    int rc = rt_llm_serve(s->world, s->plan, s->a->plan, s->db, &o, &report);
    if (rc < 0)
        return rc;
    s->calibrated = report.calibration;
    rt_llm_report_release(&report);
    if (!isfinite(s->calibrated))
        return mx_error(MX_EINPUT, "%s: --calibrate: no stage of the plan has a profiled cost",
                        s->a->profile);
    s->cluster.overheads.stage_factor = s->calibrated;
    sim_llm_free(s->world);
    s->world = NULL;
    return sim_llm_new(&s->cluster, s->a->cluster, s->db, s->a->profile, s->plan, s->trace,
                       &s->world);
}

/* The first n requests of s's trace (every one a decoder request) and their results. */
static int keep_released(struct llm_serve *s)
{
    const struct wl_trace *t = s->trace;
    size_t n = s->report.released;
    if (n == 0)
        return mx_error(MX_EIO, "interrupted before the first request was released");
    struct wl_trace *k = wl_trace_new(n, t->n_models, (const char *const *)t->model_names);
    wl_trace_add_tokens(k);
    memcpy(k->arrival_s, t->arrival_s, n * sizeof(double));
    memcpy(k->model, t->model, n * sizeof(int32_t));
    memcpy(k->slo_s, t->slo_s, n * sizeof(double));
    memcpy(k->input_tokens, t->input_tokens, n * sizeof(int32_t));
    memcpy(k->output_tokens, t->output_tokens, n * sizeof(int32_t));
    memcpy(k->ttft_slo_s, t->ttft_slo_s, n * sizeof(double));
    memcpy(k->tpot_slo_s, t->tpot_slo_s, n * sizeof(double));
    k->start_s = t->arrival_s[0];
    k->duration_s = t->arrival_s[n - 1] - t->arrival_s[0];
    s->released_trace = k;
    int rc = sim_llm_new(&s->cluster, s->a->cluster, s->db, s->a->profile, s->plan, k,
                         &s->released_world);
    if (rc < 0)
        return rc;
    const struct sim_llm_results *all = s->report.results;
    struct sim_llm_results *r = MX_NEW(struct sim_llm_results);
    *r = *all;
    r->n = n;
#define PREFIX(field, count)                                                                       \
    do {                                                                                           \
        r->field = mx_malloc_array((count), sizeof(*all->field));                                  \
        memcpy(r->field, all->field, (count) * sizeof(*all->field));                               \
    } while (0)
    PREFIX(status, n);
    PREFIX(group, n);
    PREFIX(first_token_ns, n);
    PREFIX(finish_ns, n);
    PREFIX(generated, n);
    PREFIX(preemptions, n);
    size_t g = all->n_groups ? all->n_groups : 1;
    PREFIX(iterations, g);
    PREFIX(tokens, g);
    PREFIX(busy_ns, g);
    PREFIX(kv_mean, g);
    PREFIX(kv_max, g);
    PREFIX(preempted, g);
    PREFIX(gap_bins, (size_t)SIM_LLM_GAP_BINS);
#undef PREFIX
    s->released_results = r;
    return MX_OK;
}

/* Serve s's plan, with Ctrl-C stopping the releases. */
static int serve(struct llm_serve *s)
{
    s->calibrated = NAN;
    int rc = s->a->calibrate ? calibrate(s) : MX_OK;
    if (rc < 0)
        return rc;
    s->run_factor = s->cluster.overheads.stage_factor;
    struct rt_options o = options(s);
    struct sigaction action = {.sa_handler = on_interrupt}, previous;
    sigemptyset(&action.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &action, &previous);
    struct mx_progress line;
    mx_progress_begin(&line, "serving: requests released");
    o.progress = mx_progress_sink(&line);
    rc = rt_llm_serve(s->world, s->plan, s->a->plan, s->db, &o, &s->report);
    mx_progress_end(&line);
    sigaction(SIGINT, &previous, NULL);
    if (rc == MX_OK && s->report.released < sim_llm_requests(s->world))
        rc = keep_released(s);
    return rc;
}

static const struct sim_llm *served_world(const struct llm_serve *s)
{
    return s->released_world ? s->released_world : s->world;
}

static const struct sim_llm_results *served_results(const struct llm_serve *s)
{
    return s->released_results ? s->released_results : s->report.results;
}

static void release(struct llm_serve *s)
{
    sim_llm_results_free(s->released_results);
    sim_llm_free(s->released_world);
    wl_trace_free(s->released_trace);
    rt_llm_report_release(&s->report);
    sim_llm_free(s->world);
    wl_trace_free(s->trace);
    spec_plan_free(s->plan);
    spec_profile_free(s->db);
    free(s->cores);
}

static void print_runtime(FILE *fp, const struct sim_llm *w, const struct rt_llm_report *r)
{
    uint64_t generated = 0;
    for (size_t i = 0; i < r->results->n; i++)
        generated += r->results->generated[i];
    fprintf(fp,
            "\nruntime (%s backend, decoders): %zu requests released in %.3f s%s, %llu tokens "
            "generated\n",
            r->backend, r->released, r->wall_s, r->interrupted ? " (interrupted)" : "",
            (unsigned long long)generated);
    fprintf(fp,
            "warm-up iteration time over the profile's (weighted by the trace's models): %.3f; "
            "measured over predicted in the run: %.3f\n",
            r->calibration, r->realized);
    fprintf(fp, "%-6s %-6s %10s %10s %10s %10s %10s %12s %10s %10s\n", "group", "stage", "iters",
            "mean ms", "p50 ms", "p99 ms", "max ms", "predicted ms", "KV MiB", "pool MiB");
    for (size_t k = 0; k < r->n_stages; k++) {
        const struct rt_llm_stage_report *s = &r->stages[k];
        fprintf(fp, "%-6d %-6u %10zu %10.3f %10.3f %10.3f %10.3f %12.3f %10.2f %10.1f\n",
                sim_llm_group_id(w, s->group), s->stage, s->iterations, s->mean_s * 1e3,
                s->p50_s * 1e3, s->p99_s * 1e3, s->max_s * 1e3, s->predicted_mean_s * 1e3,
                (double)s->kv_peak_bytes / (1 << 20), (double)s->kv_pool_bytes / (1 << 20));
    }
}

int cli_serve_llm(const struct cli_llm_args *a)
{
    struct llm_serve s = {.a = a};
    struct sim_llm_summary summary = {0};
    json_t *provenance = NULL, *runtime = NULL;
    int rc = load(&s);
    if (rc < 0 || (rc = serve(&s)) < 0)
        goto done;
    sim_llm_summarize(served_world(&s), served_results(&s), a->warmup_s, &summary);
    provenance = cli_provenance(a->options, a->seed);
    runtime = rt_llm_report_json(served_world(&s), &s.report);
    struct sim_run_info info = {a->backend == &rt_backend_cpu ? "runtime-cpu" : "runtime-cuda",
                                spec_llm_dispatch_names[s.cluster.decoder.dispatch], 1, provenance,
                                runtime};
    struct sim_outcome outcome = {NULL, NULL, NULL, served_world(&s), served_results(&s), &summary};
    if (a->requests_out && (rc = sim_outcome_write_h5(&outcome, &info, a->requests_out)) < 0)
        goto done;
    if (a->json) {
        json_t *o = sim_outcome_json(&outcome, &info);
        rc = mx_json_print(stdout, o);
        json_decref(o);
    } else {
        sim_outcome_print(stdout, &outcome, &info);
        print_runtime(stdout, served_world(&s), &s.report);
    }
done:
    json_decref(runtime);
    json_decref(provenance);
    sim_llm_summary_release(&summary);
    release(&s);
    return rc;
}

/* ---- fidelity ---- */

enum side { SIDE_SIM, SIDE_REAL, N_SIDES };
static const char *const side_names[N_SIDES] = {"sim", "real"};

static json_t *stats_json(const struct sim_llm_stats *st)
{
    json_t *o = json_object();
    mx_json_set(o, "mean_s", mx_json_real_or_null(st->mean_s));
    mx_json_set(o, "p50_s", mx_json_real_or_null(st->p50_s));
    mx_json_set(o, "p90_s", mx_json_real_or_null(st->p90_s));
    mx_json_set(o, "p99_s", mx_json_real_or_null(st->p99_s));
    return o;
}

static json_t *side_json(const struct sim_llm_summary *s)
{
    json_t *o = json_object();
    mx_json_set(o, "requests", json_integer((json_int_t)s->requests));
    mx_json_set(o, "good", json_integer((json_int_t)s->count[SIM_GOOD]));
    mx_json_set(o, "late", json_integer((json_int_t)s->count[SIM_LATE]));
    mx_json_set(o, "rejected",
                json_integer((json_int_t)(s->count[SIM_REJECTED] + s->count[SIM_NO_REPLICA])));
    mx_json_set(o, "failed", json_integer((json_int_t)s->count[SIM_FAILED]));
    mx_json_set(o, "attainment", mx_json_real_or_null(s->attainment));
    mx_json_set(o, "ttft_attainment", mx_json_real_or_null(s->ttft_attainment));
    mx_json_set(o, "tpot_attainment", mx_json_real_or_null(s->tpot_attainment));
    mx_json_set(o, "goodput", mx_json_real_or_null(s->goodput));
    mx_json_set(o, "ttft", stats_json(&s->ttft));
    mx_json_set(o, "tpot", stats_json(&s->tpot));
    mx_json_set(o, "e2e", stats_json(&s->e2e));
    mx_json_set(o, "iterations", json_integer((json_int_t)s->iterations));
    mx_json_set(o, "preemptions", json_integer((json_int_t)s->preemptions));
    return o;
}

static json_t *model_side_json(const struct sim_llm_model_summary *m)
{
    json_t *o = json_object();
    mx_json_set(o, "good", json_integer((json_int_t)m->good));
    mx_json_set(o, "attainment", mx_json_real_or_null(m->attainment));
    mx_json_set(o, "goodput", mx_json_real_or_null(m->goodput));
    mx_json_set(o, "ttft_p50_s", mx_json_real_or_null(m->ttft_p50_s));
    mx_json_set(o, "ttft_p99_s", mx_json_real_or_null(m->ttft_p99_s));
    mx_json_set(o, "tpot_p50_s", mx_json_real_or_null(m->tpot_p50_s));
    mx_json_set(o, "tpot_p99_s", mx_json_real_or_null(m->tpot_p99_s));
    return o;
}

static json_t *fidelity_json(const struct llm_serve *s, const struct sim_llm_summary *side,
                             double sim_factor, json_t *runtime)
{
    const struct sim_llm_summary *real = &side[SIDE_REAL], *sim = &side[SIDE_SIM];
    const struct wl_trace *t = sim_llm_trace(served_world(s));
    json_t *o = json_object(), *models = json_array(), *diff = json_object();
    mx_json_set(o, "format", json_string("muxplan-fidelity-decoder/1"));
    mx_json_set(o, "requests", json_integer((json_int_t)real->requests));
    mx_json_set(o, "calibrated", json_boolean(isfinite(s->calibrated)));
    mx_json_set(o, "stage_factor_run", json_real(s->run_factor));
    mx_json_set(o, "stage_factor_sim", json_real(sim_factor));
    for (int k = 0; k < N_SIDES; k++)
        mx_json_set(o, side_names[k], side_json(&side[k]));
    mx_json_set(diff, "attainment", mx_json_real_or_null(real->attainment - sim->attainment));
    mx_json_set(diff, "goodput", mx_json_real_or_null(real->goodput - sim->goodput));
    mx_json_set(diff, "ttft_p50_s", mx_json_real_or_null(real->ttft.p50_s - sim->ttft.p50_s));
    mx_json_set(diff, "ttft_p99_s", mx_json_real_or_null(real->ttft.p99_s - sim->ttft.p99_s));
    mx_json_set(diff, "tpot_p50_s", mx_json_real_or_null(real->tpot.p50_s - sim->tpot.p50_s));
    mx_json_set(diff, "tpot_p99_s", mx_json_real_or_null(real->tpot.p99_s - sim->tpot.p99_s));
    mx_json_set(o, "diff", diff);
    for (uint32_t m = 0; m < real->n_models; m++) {
        if (!real->models[m].requests)
            continue;
        json_t *e = json_object();
        mx_json_set(e, "name", json_string(t->model_names[m]));
        mx_json_set(e, "requests", json_integer((json_int_t)real->models[m].requests));
        for (int k = 0; k < N_SIDES; k++)
            mx_json_set(e, side_names[k], model_side_json(&side[k].models[m]));
        mx_json_append(models, e);
    }
    mx_json_set(o, "models", models);
    mx_json_set(o, "runtime", json_incref(runtime));
    return o;
}

/* One row: both sides (scaled) and real minus simulated; counts (no unit) without decimals. */
static void print_row(const char *label, double sim, double real, double scale, const char *unit)
{
    int decimals = *unit ? 3 : 0;
    printf("%-28s", label);
    for (int k = 0; k < N_SIDES; k++) {
        double v = k == SIDE_SIM ? sim : real;
        if (isnan(v))
            printf(" %11s", "-");
        else
            printf(" %11.*f", decimals, v * scale);
    }
    if (isnan(sim) || isnan(real))
        printf(" %11s", "-");
    else
        printf(" %+11.*f", decimals, (real - sim) * scale);
    printf("%s%s\n", *unit ? " " : "", unit);
}

static void fidelity_print(const struct llm_serve *s, const struct sim_llm_summary *side,
                           double sim_factor)
{
    const struct sim_llm_summary *sim = &side[SIDE_SIM], *real = &side[SIDE_REAL];
    const struct wl_trace *t = sim_llm_trace(served_world(s));
    if (isfinite(s->calibrated))
        printf("%zu decoder requests; stage factor: the run started from %.3f (measured on the "
               "warm workers), the simulation used %.3f (what the run realized)\n\n",
               real->requests, s->run_factor, sim_factor);
    else
        printf("%zu decoder requests; stage factor %.3f (the cluster's)\n\n", real->requests,
               sim_factor);
    printf("%-28s %11s %11s %11s\n", "", "simulated", "real", "real - sim");
#define ROW(label, expr, scale, unit) print_row(label, sim->expr, real->expr, scale, unit)
    ROW("attainment", attainment, 100, "%");
    ROW("attainment by TTFT alone", ttft_attainment, 100, "%");
    ROW("attainment by TPOT alone", tpot_attainment, 100, "%");
    ROW("goodput", goodput, 1, "requests/s");
    ROW("TTFT p50", ttft.p50_s, 1e3, "ms");
    ROW("TTFT p90", ttft.p90_s, 1e3, "ms");
    ROW("TTFT p99", ttft.p99_s, 1e3, "ms");
    ROW("TPOT p50", tpot.p50_s, 1e3, "ms");
    ROW("TPOT p90", tpot.p90_s, 1e3, "ms");
    ROW("TPOT p99", tpot.p99_s, 1e3, "ms");
    ROW("end-to-end p50", e2e.p50_s, 1e3, "ms");
    ROW("end-to-end p99", e2e.p99_s, 1e3, "ms");
    print_row("iterations", (double)sim->iterations, (double)real->iterations, 1, "");
    print_row("preemptions", (double)sim->preemptions, (double)real->preemptions, 1, "");
    for (uint32_t m = 0; m < real->n_models; m++) {
        if (!real->models[m].requests)
            continue;
        printf("%s (%zu requests)\n", t->model_names[m], real->models[m].requests);
        ROW("  attainment", models[m].attainment, 100, "%");
        ROW("  goodput", models[m].goodput, 1, "requests/s");
        ROW("  TTFT p50", models[m].ttft_p50_s, 1e3, "ms");
        ROW("  TTFT p99", models[m].ttft_p99_s, 1e3, "ms");
        ROW("  TPOT p50", models[m].tpot_p50_s, 1e3, "ms");
        ROW("  TPOT p99", models[m].tpot_p99_s, 1e3, "ms");
    }
#undef ROW
}

int cli_fidelity_llm(const struct cli_llm_args *a)
{
    struct llm_serve s = {.a = a};
    struct sim_llm *calibrated_world = NULL;
    struct sim_llm_results *simulated = NULL;
    struct sim_llm_summary side[N_SIDES] = {0};
    json_t *runtime = NULL;
    int rc = load(&s);
    if (rc < 0 || (rc = serve(&s)) < 0)
        goto done;
    /* The simulation covers what was served; with --calibrate, at the stage factor the run
     * realized (its start factor times its measured over predicted stage time). */
    const struct sim_llm *sim_w = served_world(&s);
    double sim_factor = s.cluster.overheads.stage_factor;
    if (a->calibrate && isfinite(s.report.realized)) {
        sim_factor = s.run_factor * s.report.realized;
        s.cluster.overheads.stage_factor = sim_factor;
        if ((rc = sim_llm_new(&s.cluster, a->cluster, s.db, a->profile, s.plan,
                              sim_llm_trace(sim_w), &calibrated_world)) < 0)
            goto done;
        sim_w = calibrated_world;
    }
    if ((rc = sim_llm_run(sim_w, a->warmup_s, &simulated)) < 0)
        goto done;
    sim_llm_summarize(sim_w, simulated, a->warmup_s, &side[SIDE_SIM]);
    sim_llm_summarize(served_world(&s), served_results(&s), a->warmup_s, &side[SIDE_REAL]);
    runtime = rt_llm_report_json(served_world(&s), &s.report);
    if (a->json) {
        json_t *j = fidelity_json(&s, side, sim_factor, runtime);
        rc = mx_json_print(stdout, j);
        json_decref(j);
    } else {
        fidelity_print(&s, side, sim_factor);
        print_runtime(stdout, served_world(&s), &s.report);
    }
done:
    json_decref(runtime);
    for (int k = 0; k < N_SIDES; k++)
        sim_llm_summary_release(&side[k]);
    sim_llm_results_free(simulated);
    sim_llm_free(calibrated_world);
    release(&s);
    return rc;
}
