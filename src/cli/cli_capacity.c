/* muxplan capacity: the fewest devices whose plan reaches a target attainment, and that plan. */
#include "cli.h"
#include "cli_planning.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_stats.h"
#include "sim_metrics.h"
#include "spec_plan.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: muxplan capacity --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                        [--test-trace TEST.h5] --policy NAME [--target 0.99]\n"
    "                        [--max-devices N] [--seeds K] [-o DIR] [options]\n"
    "\n"
    "The smallest device count whose plan reaches the target attainment on the test workload,\n"
    "searched in the cluster's granularity: a count fills whole nodes, or is at most one node,\n"
    "as the cluster reader accepts (1, 2, 4, ... up to a node, then 2, 4, ... nodes until the\n"
    "target is reached; then bisecting among the valid counts in between). Prints the\n"
    "attainment at every count tried. It assumes attainment grows with devices (docs/planner.md\n"
    "says when it may not).\n"
    "\n"
    "  --policy NAME     the policy (below)\n"
    "  --target A        attainment to reach, in [0, 1] (0.99)\n"
    "  --max-devices N   the most devices to try (4096)\n"
    "  --seeds K         plan and score K times on workloads generated from the model set's rates\n"
    "                    with seeds S, S+1, ... (S: --seed), each plan on its own training and\n"
    "                    test workloads; reports the mean, lowest and highest attainment at each\n"
    "                    count, and the count at which the target holds on all K (1)\n"
    "  --test-trace T.h5 the test workload (default: the training one)\n"
    "  --warmup S        leave out requests in the first and last S seconds of the test (0)\n"
    "  --windows W       at each count, also the mean attainment over W windows of equal length\n"
    "                    of each test workload with a 95% confidence interval (bootstrap over\n"
    "                    the windows of every seed) (10)\n"
    "  -o DIR            write DIR/plan.json (the plan at the count found; with --seeds, the\n"
    "                    first seed's) and DIR/cluster.json (the cluster at that count)\n"
    "\n"
    "example:\n"
    "  muxplan capacity --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --models examples/models.json --trace train.h5 --policy alpaserve --target 0.99 -o "
    "cap\n";

static const struct option own[] = {{"policy", required_argument, NULL, 'P'},
                                    {"test-trace", required_argument, NULL, 'T'},
                                    {"warmup", required_argument, NULL, 'W'},
                                    {"target", required_argument, NULL, 'A'},
                                    {"max-devices", required_argument, NULL, 'M'},
                                    {"seeds", required_argument, NULL, 'K'},
                                    {"output", required_argument, NULL, 'o'},
                                    {"windows", required_argument, NULL, 'N'},
                                    {NULL, 0, NULL, 0}};

struct capacity_args {
    const char *policy, *test_path, *out_dir;
    double warmup_s, target;
    uint64_t max_devices, seeds, windows;
};

static int take(void *ctx, int code, const char *arg)
{
    struct capacity_args *a = ctx;
    switch (code) {
    case 'P':
        a->policy = arg;
        return MX_OK;
    case 'T':
        a->test_path = arg;
        return MX_OK;
    case 'W':
        return cli_parse_f64("--warmup", arg, 0, 1e9, &a->warmup_s);
    case 'A':
        return cli_parse_f64("--target", arg, 0, 1, &a->target);
    case 'M':
        return cli_parse_u64("--max-devices", arg, 1, SPEC_MAX_DEVICES, &a->max_devices);
    case 'K':
        return cli_parse_u64("--seeds", arg, 1, 64, &a->seeds);
    case 'o':
        a->out_dir = arg;
        return MX_OK;
    case 'N':
        return cli_parse_u64("--windows", arg, 1, CLI_MAX_WINDOWS, &a->windows);
    }
    return 1;
}

/* ---- the counts a cluster can have ---- */

/* The valid device counts of a cluster with nodes of per_node, in order: 1 .. per_node, then 2, 3,
 * ... whole nodes. Index i names the (i + 1)-th. */
static uint32_t count_at(uint32_t per_node, uint32_t i)
{
    return i < per_node ? i + 1 : (i - per_node + 2) * per_node;
}

/* The index of the largest valid count at most n (n >= 1). */
static uint32_t index_below(uint32_t per_node, uint32_t n)
{
    return n <= per_node ? n - 1 : n / per_node + per_node - 2;
}

/* ---- one count ---- */

/* The workloads a search plans and scores on: one pair per seed. */
struct workloads {
    uint32_t n;
    struct wl_trace **train, **test; /* [n]; test[k] may be train[k] */
    bool own_test;                   /* test traces were loaded or generated apart */
};

struct search {
    const struct cli_planning *p;
    const struct capacity_args *a;
    const struct cli_planning_inputs *in;
    const struct cli_policies *ps;
    struct workloads wl;
    struct mx_progress *line; /* the planner reports into it, on the count being tried */
};

/* Plan for n devices on workload k; score it on its test workload. Keeps the plan in *plan when
 * plan is not NULL. */
static int attainment_at(const struct search *s, uint32_t n, uint32_t k, double *attainment,
                         double *windows, struct spec_plan **plan_out)
{
    struct spec_cluster cluster = s->in->cluster;
    cluster.devices = n;
    struct plan_problem pb = cli_planning_problem(s->p, s->in, &cluster);
    pb.train = s->wl.train[k];
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    struct plan_test summary = {0};
    int rc = plan_solve(s->ps->policies[0], &pb, &s->ps->params[0], &plan, &outcome);
    if (rc == MX_OK)
        rc = plan_score_windows(&pb, plan, s->wl.test[k], s->a->warmup_s, (uint32_t)s->a->windows,
                                windows, &summary);
    if (rc == MX_OK)
        *attainment = summary.attainment;
    plan_test_release(&summary);
    if (rc == MX_OK && plan_out)
        *plan_out = plan;
    else
        spec_plan_free(plan);
    return rc;
}

/* A count tried: its attainment on every workload, and its plan on the first. */
struct point {
    uint32_t devices;
    double mean, low, high;
    double *each;    /* [workloads] */
    double *windows; /* [workloads][windows] */
    struct cli_spread spread;
    struct spec_plan *plan;
};

static int try_count(const struct search *s, uint32_t n, struct point *pt)
{
    const uint32_t w = (uint32_t)s->a->windows;
    *pt = (struct point){.devices = n,
                         .each = MX_NEW_ARRAY(double, s->wl.n),
                         .windows = MX_NEW_ARRAY(double, (size_t)s->wl.n *w)};
    mx_progress_on(s->line, "%u devices", n);
    int rc = MX_OK;
    for (uint32_t k = 0; k < s->wl.n && rc == MX_OK; k++)
        rc = attainment_at(s, n, k, &pt->each[k], &pt->windows[(size_t)k * w],
                           k == 0 ? &pt->plan : NULL);
    if (rc == MX_OK) {
        pt->spread = cli_spread_of(pt->windows, s->wl.n * w, s->p->seed);
        pt->mean = mx_mean(pt->each, s->wl.n);
        pt->low = pt->high = pt->each[0];
        for (uint32_t k = 1; k < s->wl.n; k++) {
            pt->low = pt->each[k] < pt->low ? pt->each[k] : pt->low;
            pt->high = pt->each[k] > pt->high ? pt->each[k] : pt->high;
        }
    }
    return rc;
}

/* ---- the search ---- */

/* Doubling through the valid counts from 1 until the target holds on every workload (or the
 * largest count fails), then bisecting among the valid counts in between. Fills the points tried
 * (at most 64) and *found (0: none reaches the target). */
static int search(const struct search *s, struct point *points, uint32_t *n_points, uint32_t *found)
{
    const uint32_t per_node = s->in->cluster.devices_per_node;
    const uint32_t last = index_below(per_node, (uint32_t)s->a->max_devices);
    int64_t lo = -1, hi = -1; /* indices: lo fails (-1: none tried), hi holds (-1: none yet) */
    int rc = MX_OK;
    *n_points = 0;
    for (uint32_t i = 0; rc == MX_OK;) {
        struct point *pt = &points[(*n_points)++];
        rc = try_count(s, count_at(per_node, i), pt);
        if (rc == MX_OK && pt->low >= s->a->target)
            hi = i;
        else
            lo = i;
        if (hi >= 0 || i >= last)
            break;
        /* The next count is about twice this one. */
        uint32_t next = index_below(per_node, 2 * count_at(per_node, i));
        i = next > last ? last : next > i ? next : i + 1;
    }
    while (rc == MX_OK && hi >= 0 && hi - lo > 1 && *n_points < 64) {
        uint32_t mid = (uint32_t)(lo + (hi - lo) / 2);
        struct point *pt = &points[(*n_points)++];
        rc = try_count(s, count_at(per_node, mid), pt);
        if (rc == MX_OK && pt->low >= s->a->target)
            hi = mid;
        else if (rc == MX_OK)
            lo = mid;
    }
    *found = hi >= 0 ? count_at(per_node, (uint32_t)hi) : 0;
    return rc;
}

static int print_points(const struct search *s, const struct point *points, uint32_t n,
                        uint32_t found)
{
    const struct capacity_args *a = s->a;
    const bool spread = s->wl.n > 1;
    if (!s->p->json) {
        if (spread)
            printf("%-10s %11s %11s %11s %26s   (%u seeds)\n", "devices", "attainment", "lowest",
                   "highest", "windows: mean [95% CI]", s->wl.n);
        else
            printf("%-10s %11s %26s\n", "devices", "attainment", "windows: mean [95% CI]");
        for (uint32_t k = 0; k < n; k++) {
            char ci[64];
            cli_spread_text(&points[k].spread, ci, sizeof(ci));
            if (spread)
                printf("%-10u %11.4f %11.4f %11.4f %26s\n", points[k].devices, points[k].mean,
                       points[k].low, points[k].high, ci);
            else
                printf("%-10u %11.4f %26s\n", points[k].devices, points[k].mean, ci);
        }
        if (found)
            printf("%s reaches %.4f%s with %u devices\n", a->policy, a->target,
                   spread ? " on every seed" : "", found);
        else
            printf("%s does not reach %.4f within %u devices\n", a->policy, a->target,
                   (uint32_t)a->max_devices);
        return MX_OK;
    }
    json_t *curve = json_array();
    for (uint32_t k = 0; k < n; k++) {
        json_t *each = json_array();
        for (uint32_t j = 0; j < s->wl.n; j++)
            mx_json_append(each, json_real(points[k].each[j]));
        json_t *point = json_pack("{s:i, s:f, s:f, s:f, s:o}", "devices", points[k].devices,
                                  "attainment", points[k].mean, "lowest", points[k].low, "highest",
                                  points[k].high, "each", each);
        mx_json_set(
            point, "windows",
            cli_spread_json(&points[k].spread, points[k].windows, s->wl.n * (uint32_t)a->windows));
        mx_json_append(curve, point);
    }
    json_t *o = json_pack("{s:s, s:f, s:i, s:o}", "policy", a->policy, "target", a->target, "seeds",
                          (json_int_t)s->wl.n, "curve", curve);
    mx_json_set(o, "devices", found ? json_integer(found) : json_null());
    if (a->out_dir && found)
        mx_json_set(o, "written", json_string(a->out_dir));
    int rc = mx_json_print(stdout, o);
    json_decref(o);
    return rc;
}

/* ---- workloads and outputs ---- */

static int load_workloads(const struct cli_planning *p, const struct capacity_args *a,
                          const struct cli_planning_inputs *in, struct workloads *wl)
{
    wl->n = (uint32_t)(a->seeds ? a->seeds : 1);
    wl->train = MX_NEW_ARRAY(struct wl_trace *, wl->n);
    wl->test = MX_NEW_ARRAY(struct wl_trace *, wl->n);
    if (wl->n == 1) {
        wl->train[0] = in->train;
        wl->own_test = a->test_path != NULL;
        int rc = cli_planning_test(p, in, a->test_path, &wl->test[0]);
        if (!wl->test[0])
            wl->test[0] = in->train;
        return rc;
    }
    if (p->train_path || a->test_path)
        return cli_usage_error("capacity",
                               "--seeds generates its workloads from the model set's rates; "
                               "it takes neither --trace nor --test-trace");
    /* Seed k plans on the workload of seed S + 2k and is scored on that of S + 2k + 1: the first
     * training workload is the one cli_planning_load made. */
    wl->own_test = true;
    int rc = MX_OK;
    for (uint32_t k = 0; k < wl->n && rc == MX_OK; k++) {
        if (k == 0)
            wl->train[0] = in->train;
        else
            rc = cli_planning_generate_train(p, in->set, p->seed + 2 * k, &wl->train[k]);
        if (rc == MX_OK)
            rc = cli_planning_generate(p, in->set, p->seed + 2 * k + 1, &wl->test[k]);
    }
    return rc;
}

static void release_workloads(struct workloads *wl, const struct cli_planning_inputs *in)
{
    for (uint32_t k = 0; k < wl->n; k++) {
        if (wl->own_test && wl->test[k] != wl->train[k])
            wl_trace_free(wl->test[k]);
        if (wl->train[k] != in->train)
            wl_trace_free(wl->train[k]);
    }
    free(wl->train);
    free(wl->test);
}

/* Write DIR/plan.json and DIR/cluster.json for the count of pt, as files of the output set: they
 * appear together at its commit. */
static int write_outputs(const struct search *s, const struct point *pt)
{
    char *plan_path = mx_strfmt("%s/plan.json", s->a->out_dir),
         *cluster_path = mx_strfmt("%s/cluster.json", s->a->out_dir);
    struct spec_cluster cluster = s->in->cluster;
    cluster.devices = pt->devices;
    mx_json_set(pt->plan->extra, "provenance",
                cli_provenance(cli_planning_options(own), s->p->seed));
    int rc = spec_cluster_write(&cluster, cluster_path);
    if (rc == MX_OK)
        rc = spec_plan_write(pt->plan, plan_path);
    free(plan_path);
    free(cluster_path);
    return rc;
}

/* -o DIR, checked before any work: a folder of this output set (made if missing, one level) and
 * the two files it will hold. */
static int check_outputs(const struct cli_planning *p, const struct capacity_args *a)
{
    cli_planning_note_inputs(p, a->test_path);
    int rc = mx_outset_dir(a->out_dir);
    static const char *const names[] = {"plan.json", "cluster.json"};
    for (size_t i = 0; i < 2 && rc == MX_OK; i++) {
        char *path = mx_strfmt("%s/%s", a->out_dir, names[i]);
        rc = mx_output_check(path);
        free(path);
    }
    return rc;
}

int cli_capacity(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_planning_help(help);
        return 0;
    }
    struct cli_planning p = cli_planning_defaults("capacity");
    struct capacity_args a = {.target = 0.99, .max_devices = 4096, .seeds = 1, .windows = 10};
    struct cli_policies ps = {0};
    struct cli_planning_inputs in = {0};
    struct mx_progress line;
    mx_progress_begin(&line, "capacity");
    p.progress = mx_progress_sink(&line);
    struct search s = {&p, &a, &in, &ps, {0}, &line};
    struct point points[64];
    uint32_t n_points = 0, found = 0;
    int rc = cli_planning_parse(argc, argv, &p, own, take, &a);
    if (rc == MX_OK)
        rc = cli_policies_parse(&p, "--policy", a.policy, false, &ps);
    /* The plan and cluster appear together, or neither (nor the folder if made). */
    mx_outset_begin();
    if (rc == MX_OK && a.out_dir)
        rc = check_outputs(&p, &a);
    if (rc == MX_OK && (rc = cli_planning_load(&p, &in)) == MX_OK)
        rc = load_workloads(&p, &a, &in, &s.wl);
    if (rc == MX_OK)
        rc = search(&s, points, &n_points, &found);
    mx_progress_end(&line);
    for (uint32_t k = 0; rc == MX_OK && a.out_dir && found && k < n_points; k++)
        if (points[k].devices == found)
            rc = write_outputs(&s, &points[k]);
    if (rc == MX_OK)
        rc = print_points(&s, points, n_points, found);
    if (rc == MX_OK)
        rc = mx_outset_commit();
    else
        mx_outset_abort();
    for (uint32_t k = 0; k < n_points; k++) {
        free(points[k].each);
        free(points[k].windows);
        spec_plan_free(points[k].plan);
    }
    if (s.wl.train)
        release_workloads(&s.wl, &in);
    cli_planning_release(&in);
    cli_policies_release(&ps);
    return rc == MX_OK ? 0 : cli_report(rc);
}
