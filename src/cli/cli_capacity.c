/* muxplan capacity: the fewest devices whose plan reaches a target attainment. */
#include "cli.h"
#include "cli_planning.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "sim_metrics.h"
#include "spec_plan.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
    "usage: muxplan capacity --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                        [--test-trace TEST.h5] --policy NAME [--target 0.99]\n"
    "                        [--max-devices N] [options]\n"
    "\n"
    "The smallest device count (1 .. --max-devices, default 4096) whose plan reaches the target\n"
    "attainment on the test workload: doubling from 1 device until it is reached, then bisecting.\n"
    "Prints the attainment of every device count tried. Assumes attainment grows with devices.\n"
    "\n"
    "  --policy NAME     the policy (below)\n"
    "  --target A        attainment to reach, in [0, 1] (0.99)\n"
    "  --max-devices N   the most devices to try (4096)\n"
    "  --test-trace T.h5 the test workload (default: the training one)\n"
    "  --warmup S        leave out requests in the first and last S seconds of the test (0)\n"
    "\n"
    "example:\n"
    "  muxplan capacity --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 "
    "\\\n"
    "      --models examples/models.json --trace train.h5 --policy alpaserve --target 0.99\n";

static const struct option own[] = {
    {"policy", required_argument, NULL, 'P'},      {"test-trace", required_argument, NULL, 'T'},
    {"warmup", required_argument, NULL, 'W'},      {"target", required_argument, NULL, 'A'},
    {"max-devices", required_argument, NULL, 'M'}, {NULL, 0, NULL, 0}};

struct capacity_args {
    const char *policy, *test_path;
    double warmup_s, target;
    uint64_t max_devices;
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
        return cli_parse_u64("--max-devices", arg, 1, 1 << 20, &a->max_devices);
    }
    return 1;
}

/* What a search needs at each device count. */
struct search {
    const struct cli_planning *p;
    const struct capacity_args *a;
    const struct cli_planning_inputs *in;
    const struct wl_trace *test;
    const struct cli_policies *ps;
};

/* Plan for n devices and simulate the plan on the test workload. */
static int attainment_at(const struct search *s, uint32_t n, double *attainment)
{
    struct spec_cluster cluster = s->in->cluster;
    cluster.devices = n;
    struct plan_problem pb = cli_planning_problem(s->p, s->in, &cluster);
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    struct sim_summary summary = {0};
    int rc = plan_solve(s->ps->policies[0], &pb, &s->ps->params[0], &plan, &outcome);
    if (rc == MX_OK)
        rc = plan_score(&pb, plan, s->test, s->a->warmup_s, &summary);
    if (rc == MX_OK)
        *attainment = summary.attainment;
    sim_summary_release(&summary);
    spec_plan_free(plan);
    return rc;
}

static int print_curve(const struct search *s, const uint32_t *ns, const double *att,
                       uint32_t tried, uint32_t hi)
{
    const struct capacity_args *a = s->a;
    if (!s->p->json) {
        printf("%-10s %11s\n", "devices", "attainment");
        for (uint32_t k = 0; k < tried; k++)
            printf("%-10u %11.4f\n", ns[k], att[k]);
        if (hi)
            printf("%s reaches %.4f with %u devices\n", a->policy, a->target, hi);
        else
            printf("%s does not reach %.4f within %u devices\n", a->policy, a->target,
                   (uint32_t)a->max_devices);
        return MX_OK;
    }
    json_t *curve = json_array();
    for (uint32_t k = 0; k < tried; k++)
        mx_json_append(curve, json_pack("{s:i, s:f}", "devices", ns[k], "attainment", att[k]));
    json_t *o =
        json_pack("{s:s, s:f, s:o}", "policy", a->policy, "target", a->target, "curve", curve);
    mx_json_set(o, "devices", hi ? json_integer(hi) : json_null());
    int rc = mx_json_print(stdout, o);
    json_decref(o);
    return rc;
}

/* Doubling from 1 device until the target is reached, then bisecting. */
static int search(const struct search *s)
{
    uint32_t max = (uint32_t)s->a->max_devices, tried = 0;
    uint32_t ns[64];
    double att[64];
    uint32_t lo = 0, hi = 0; /* lo fails (0: none tried), hi reaches the target (0: none yet) */
    int rc = MX_OK;
    for (uint32_t n = 1; rc == MX_OK;) {
        rc = attainment_at(s, n, &att[tried]);
        ns[tried] = n;
        if (rc == MX_OK && att[tried++] >= s->a->target)
            hi = n;
        else
            lo = n;
        if (hi || n >= max)
            break;
        n = n > max / 2 ? max : 2 * n;
    }
    while (rc == MX_OK && hi && hi - lo > 1 && tried < 64) {
        uint32_t mid = lo + (hi - lo) / 2;
        rc = attainment_at(s, mid, &att[tried]);
        ns[tried] = mid;
        if (rc == MX_OK && att[tried++] >= s->a->target)
            hi = mid;
        else if (rc == MX_OK)
            lo = mid;
    }
    return rc == MX_OK ? print_curve(s, ns, att, tried, hi) : rc;
}

int cli_capacity(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_planning_help(help);
        return 0;
    }
    struct cli_planning p = cli_planning_defaults("capacity");
    struct capacity_args a = {.target = 0.99, .max_devices = 4096};
    struct cli_policies ps = {0};
    struct cli_planning_inputs in = {0};
    struct wl_trace *test = NULL;
    int rc = cli_planning_parse(argc, argv, &p, own, take, &a);
    if (rc == MX_OK)
        rc = cli_policies_parse(&p, "--policy", a.policy, false, &ps);
    if (rc == MX_OK && (rc = cli_planning_load(&p, &in)) == MX_OK)
        rc = cli_planning_test(&in, a.test_path, &test);
    if (rc == MX_OK)
        rc = search(&(struct search){&p, &a, &in, test ? test : in.train, &ps});
    wl_trace_free(test);
    cli_planning_release(&in);
    cli_policies_release(&ps);
    return rc == MX_OK ? 0 : cli_report(rc);
}
