/* muxplan compare: plan with several policies and score each plan on a test workload. */
#include "cli.h"
#include "cli_planning.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_time.h"
#include "sim_metrics.h"
#include "spec_plan.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
    "usage: muxplan compare --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                       [--test-trace TEST.h5] --policies sr,clockwork++,alpaserve [options]\n"
    "\n"
    "Plans with each policy on the training workload, simulates each plan on the test workload\n"
    "and prints policy, groups and configs, replicas, attainment, its mean over windows of the\n"
    "test workload with a 95% confidence interval (bootstrap over the windows), p99 latency of\n"
    "good requests and planning time.\n"
    "\n"
    "  --policies LIST   comma-separated policies (below), each once\n"
    "  --test-trace T.h5 the test workload (default: the training one)\n"
    "  --warmup S        leave out requests in the first and last S seconds of the test (0)\n"
    "  --windows W       cut the test workload into W windows of equal length (10)\n"
    "  --plans-dir DIR   write each plan there as POLICY.json, all of them when every policy\n"
    "                    succeeded; DIR is created if missing (its parent must exist)\n"
    "\n"
    "example:\n"
    "  muxplan compare --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --models examples/models.json --trace train.h5 --policies sr,clockwork++,alpaserve\n";

static const struct option own[] = {
    {"policies", required_argument, NULL, 'L'}, {"test-trace", required_argument, NULL, 'T'},
    {"warmup", required_argument, NULL, 'W'},   {"plans-dir", required_argument, NULL, 'R'},
    {"windows", required_argument, NULL, 'N'},  {NULL, 0, NULL, 0}};

struct compare_args {
    const char *policies, *test_path, *plans_dir;
    double warmup_s;
    uint64_t windows;
};

static int take(void *ctx, int code, const char *arg)
{
    struct compare_args *a = ctx;
    switch (code) {
    case 'L':
        a->policies = arg;
        return MX_OK;
    case 'T':
        a->test_path = arg;
        return MX_OK;
    case 'W':
        return cli_parse_f64("--warmup", arg, 0, 1e9, &a->warmup_s);
    case 'R':
        a->plans_dir = arg;
        return MX_OK;
    case 'N':
        return cli_parse_u64("--windows", arg, 1, CLI_MAX_WINDOWS, &a->windows);
    }
    return 1;
}

/* A row of decoder figures: attainment overall and by TTFT and TPOT alone, their p99s, goodput. */
static void decoder_row(const struct cli_planning *p, const char *name, const char *groups,
                        const struct plan_outcome *outcome, const struct sim_llm_summary *s,
                        const struct cli_spread *spread, const double *windows, uint32_t n_windows,
                        double planning_s, json_t *rows)
{
    if (p->json) {
        json_t *row = json_object();
        mx_json_set(row, "policy", json_string(name));
        mx_json_set(row, "groups", json_string(groups));
        mx_json_set(row, "replicas", json_integer(outcome->replicas));
        mx_json_set(row, "attainment", mx_json_real_or_null(s->attainment));
        mx_json_set(row, "ttft_attainment", mx_json_real_or_null(s->ttft_attainment));
        mx_json_set(row, "tpot_attainment", mx_json_real_or_null(s->tpot_attainment));
        mx_json_set(row, "ttft_p99_s", mx_json_real_or_null(s->ttft.p99_s));
        mx_json_set(row, "tpot_p99_s", mx_json_real_or_null(s->tpot.p99_s));
        mx_json_set(row, "goodput_per_s", mx_json_real_or_null(s->goodput));
        mx_json_set(row, "planning_s", json_real(planning_s));
        mx_json_set(row, "predicted_attainment", json_real(outcome->attainment));
        mx_json_set(row, "windows", cli_spread_json(spread, windows, n_windows));
        mx_json_append(rows, row);
        return;
    }
    char ci[64];
    cli_spread_text(spread, ci, sizeof(ci));
    printf("%-14s %-34s %9u %11.4f %26s %6.4f %6.4f %10.1f %9.2f %9.3f %11.2f\n", name, groups,
           outcome->replicas, s->attainment, ci, s->ttft_attainment, s->tpot_attainment,
           s->ttft.p99_s * 1e3, s->tpot.p99_s * 1e3, s->goodput, planning_s);
}

/* Plan with policy k of ps, write the plan if asked, score it on test and print or collect its
 * row, after ending the progress line. */
static int compare_one(const struct cli_planning *p, const struct compare_args *a,
                       const struct cli_planning_inputs *in, const struct wl_trace *test,
                       const struct cli_policies *ps, uint32_t k, json_t *rows,
                       struct mx_progress *line)
{
    const char *name = ps->names[k];
    struct plan_problem pb = cli_planning_problem(p, in, &in->cluster);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    struct plan_test summary = {0};
    double start = mx_wall_s();
    int rc = plan_solve(ps->policies[k], &pb, &ps->params[k], &plan, &outcome);
    double planning_s = mx_wall_s() - start;
    if (rc == MX_OK && a->plans_dir) {
        char *path = mx_strfmt("%s/%s.json", a->plans_dir, name);
        mx_json_set(plan->extra, "provenance", cli_provenance(cli_planning_options(own), p->seed));
        rc = spec_plan_write(plan, path); /* appears with the others, at the end */
        free(path);
    }
    double *windows = MX_NEW_ARRAY(double, a->windows);
    if (rc == MX_OK)
        rc = plan_score_windows(&pb, plan, test, a->warmup_s, (uint32_t)a->windows, windows,
                                &summary);
    if (rc == MX_OK) {
        struct cli_spread spread = cli_spread_of(windows, (uint32_t)a->windows, p->seed);
        char *groups = spec_plan_describe_groups(plan);
        mx_progress_end(line); /* a row does not share its line */
        if (summary.decoders) {
            decoder_row(p, name, groups, &outcome, &summary.llm, &spread, windows,
                        (uint32_t)a->windows, planning_s, rows);
        } else if (p->json) {
            json_t *row =
                json_pack("{s:s, s:s, s:i, s:f, s:o, s:f, s:f}", "policy", name, "groups", groups,
                          "replicas", outcome.replicas, "attainment", summary.attainment, "p99_s",
                          mx_json_real_or_null(summary.encoders.good_latency.p99_s), "planning_s",
                          planning_s, "predicted_attainment", outcome.attainment);
            mx_json_set(row, "windows", cli_spread_json(&spread, windows, (uint32_t)a->windows));
            mx_json_append(rows, row);
        } else {
            char ci[64];
            cli_spread_text(&spread, ci, sizeof(ci));
            printf("%-14s %-34s %9u %11.4f %26s %10.1f %11.2f\n", name, groups, outcome.replicas,
                   summary.attainment, ci, summary.encoders.good_latency.p99_s * 1e3, planning_s);
        }
        free(groups);
    }
    free(windows);
    plan_test_release(&summary);
    spec_plan_free(plan);
    return rc;
}

int cli_compare(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_planning_help(help);
        return 0;
    }
    struct cli_planning p = cli_planning_defaults("compare");
    struct compare_args a = {.windows = 10};
    struct cli_policies ps = {0};
    struct cli_planning_inputs in = {0};
    struct wl_trace *test = NULL;
    json_t *rows = json_array();
    int rc = cli_planning_parse(argc, argv, &p, own, take, &a);
    if (rc == MX_OK)
        rc = cli_policies_parse(&p, "--policies", a.policies, true, &ps);
    /* The plans appear together when every policy succeeded, or none (nor the folder if made). */
    mx_outset_begin();
    if (rc == MX_OK && a.plans_dir) {
        cli_planning_note_inputs(&p, a.test_path);
        rc = mx_outset_dir(a.plans_dir);
        for (uint32_t k = 0; k < ps.n && rc == MX_OK; k++) {
            char *path = mx_strfmt("%s/%s.json", a.plans_dir, ps.names[k]);
            rc = mx_output_check(path);
            free(path);
        }
    }
    if (rc == MX_OK && (rc = cli_planning_load(&p, &in)) == MX_OK)
        rc = cli_planning_test(&p, &in, a.test_path, &test);
    if (rc == MX_OK && !p.json) {
        struct plan_problem pb = cli_planning_problem(&p, &in, &in.cluster);
        if (plan_has_decoders(&pb))
            printf("%-14s %-34s %9s %11s %26s %6s %6s %10s %9s %9s %11s\n", "policy",
                   "groups and configs", "replicas", "attainment", "windows: mean [95% CI]", "TTFT",
                   "TPOT", "TTFT p99", "TPOT p99", "goodput/s", "planning s");
        else
            printf("%-14s %-34s %9s %11s %26s %10s %11s\n", "policy", "groups and configs",
                   "replicas", "attainment", "windows: mean [95% CI]", "p99 ms", "planning s");
    }
    struct mx_progress line;
    mx_progress_begin(&line, "compare");
    const struct mx_progress_sink whole = mx_progress_sink(&line);
    for (uint32_t k = 0; k < ps.n && rc == MX_OK; k++) {
        struct mx_progress_span span;
        p.progress = mx_progress_within(&span, &whole, (double)k / ps.n, (double)(k + 1) / ps.n);
        rc = compare_one(&p, &a, &in, test ? test : in.train, &ps, k, rows, &line);
    }
    mx_progress_end(&line);
    if (rc == MX_OK && p.json) {
        json_t *o = json_object();
        mx_json_set(o, "test_workload", json_string(a.test_path ? a.test_path : "training"));
        mx_json_set(o, "policies", json_incref(rows));
        rc = mx_json_print(stdout, o);
        json_decref(o);
    }
    if (rc == MX_OK)
        rc = mx_outset_commit();
    else
        mx_outset_abort();
    json_decref(rows);
    wl_trace_free(test);
    cli_planning_release(&in);
    cli_policies_release(&ps);
    return rc == MX_OK ? 0 : cli_report(rc);
}
