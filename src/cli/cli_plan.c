/* muxplan plan: search a placement with one policy and write the plan. */
#include "cli.h"
#include "cli_planning.h"

#include "mx_error.h"
#include "mx_file.h"
#include "mx_json.h"
#include "mx_time.h"
#include "spec_plan.h"
#include "wl_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: muxplan plan --cluster C.json --profile DB.h5 --models M.json [--trace TRAIN.h5]\n"
    "                    --policy NAME -o PLAN.json [options]\n"
    "\n"
    "Searches a placement of the models on the cluster by simulated SLO attainment on the\n"
    "training workload and writes the plan, with the policy, its parameters and its predicted\n"
    "metrics.\n"
    "\n"
    "  --policy NAME  the policy (below)\n"
    "  -o PLAN.json   the plan to write (-: standard output, and the report goes to stderr)\n"
    "\n"
    "example:\n"
    "  muxplan plan --cluster examples/cluster.json --profile data/profiles/v100-reference.h5 \\\n"
    "      --models examples/models.json --trace train.h5 --policy alpaserve -o plan.json\n";

static const struct option own[] = {{"policy", required_argument, NULL, 'P'},
                                    {"output", required_argument, NULL, 'o'},
                                    {NULL, 0, NULL, 0}};

struct plan_args {
    const char *policy, *out_path;
};

static int take(void *ctx, int code, const char *arg)
{
    struct plan_args *a = ctx;
    switch (code) {
    case 'P':
        a->policy = arg;
        return MX_OK;
    case 'o':
        a->out_path = arg;
        return MX_OK;
    }
    return 1;
}

static json_t *groups_json(const struct spec_plan *p)
{
    json_t *list = json_array();
    const struct spec_plan_segment *s = &p->segments[p->n_segments - 1];
    for (uint32_t g = 0; g < s->n_groups; g++) {
        const struct spec_plan_group *grp = &s->groups[g];
        json_t *models = json_array();
        for (uint32_t m = 0; m < grp->n_models; m++)
            mx_json_append(models, json_string(p->models[grp->models[m]].name));
        mx_json_append(list, json_pack("{s:i, s:[iii], s:i, s:i, s:o}", "id", grp->id, "config",
                                       grp->dp, grp->op, grp->pp, "first_device", grp->devices[0],
                                       "devices", grp->n_devices, "models", models));
    }
    return list;
}

static int report(const struct cli_planning *p, const struct plan_args *a,
                  const struct cli_planning_inputs *in, const struct spec_plan *plan,
                  const struct plan_outcome *outcome, double planning_s)
{
    json_t *unplaced = json_object_get(plan->extra, "unplaced");
    FILE *to = strcmp(a->out_path, "-") == 0 ? stderr : stdout; /* the plan may be on stdout */
    if (!p->json) {
        char *groups = spec_plan_describe_groups(plan);
        fprintf(to,
                "%s: %s, %u replicas; predicted attainment %.4f on the training workload "
                "(%zu requests, SLOs of the %s); planned in %.2f s (%u simulations); wrote %s\n",
                a->policy, groups, outcome->replicas, outcome->attainment, in->train->n,
                p->train_path && !p->model_slos ? "trace" : "model set", planning_s,
                outcome->evaluations, a->out_path);
        free(groups);
        if (unplaced)
            fprintf(to, "unplaced (no memory left for them): %zu models\n",
                    json_array_size(unplaced));
        return MX_OK;
    }
    json_t *o = json_object();
    mx_json_set(o, "policy", json_string(a->policy));
    mx_json_set(o, "attainment", json_real(outcome->attainment));
    mx_json_set(o, "mean_latency_s", json_real(outcome->mean_latency_s));
    mx_json_set(o, "planning_s", json_real(planning_s));
    mx_json_set(o, "replicas", json_integer(outcome->replicas));
    mx_json_set(o, "evaluations", json_integer(outcome->evaluations));
    mx_json_set(o, "segments", json_integer(plan->n_segments));
    mx_json_set(o, "groups", groups_json(plan));
    mx_json_set(o, "plan", json_string(a->out_path));
    if (unplaced)
        mx_json_set(o, "unplaced", json_incref(unplaced));
    int rc = mx_json_print(to, o);
    json_decref(o);
    return rc;
}

int cli_plan(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_planning_help(help);
        return 0;
    }
    struct cli_planning p = cli_planning_defaults("plan");
    struct plan_args a = {0};
    struct cli_policies ps = {0};
    struct cli_planning_inputs in = {0};
    struct spec_plan *plan = NULL;
    struct plan_outcome outcome;
    int rc = cli_planning_parse(argc, argv, &p, own, take, &a);
    if (rc == MX_OK && !a.out_path)
        rc = cli_usage_error("plan", "-o is required");
    if (rc == MX_OK)
        rc = cli_policies_parse(&p, "--policy", a.policy, false, &ps);
    if (rc == MX_OK)
        cli_planning_note_inputs(&p, NULL);
    if (rc == MX_OK && (rc = mx_output_check_text(a.out_path)) == MX_OK)
        rc = cli_planning_load(&p, &in);
    if (rc == MX_OK) {
        struct mx_progress line;
        char what[96];
        snprintf(what, sizeof(what), "plan %s", ps.names[0]);
        mx_progress_begin(&line, what);
        p.progress = mx_progress_sink(&line);
        struct plan_problem pb = cli_planning_problem(&p, &in, &in.cluster);
        double start = mx_wall_s();
        rc = plan_solve(ps.policies[0], &pb, &ps.params[0], &plan, &outcome);
        double planning_s = mx_wall_s() - start;
        mx_progress_end(&line);
        if (rc == MX_OK) {
            mx_json_set(plan->extra, "provenance",
                        cli_provenance(cli_planning_options(own), p.seed));
            rc = spec_plan_write(plan, a.out_path);
        }
        if (rc == MX_OK)
            rc = report(&p, &a, &in, plan, &outcome, planning_s);
    }
    spec_plan_free(plan);
    cli_planning_release(&in);
    cli_policies_release(&ps);
    return rc == MX_OK ? 0 : cli_report(rc);
}
