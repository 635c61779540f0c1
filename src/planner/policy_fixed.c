/* Policies with one fixed group layout: sr (single-device groups, greedy fill: AlpaServe's
 * selective replication), greedy-<s> (pure pipelines of s devices, greedy fill) and round-robin
 * (pure pipelines of --group-size devices, filled round robin). */
#include "plan_int.h"

#include "mx_error.h"
#include "spec_models.h"

#include <stdio.h>
#include <stdlib.h>

void pl_solve_layout(const struct pl_context *c, struct sim_eval_state *s, uint32_t devices,
                     uint32_t size, int32_t op, int32_t pp, bool round_robin, uint32_t beam,
                     struct spec_placement *out, uint32_t *evaluations,
                     const struct mx_progress_sink *progress)
{
    pl_placement_layout(out, devices, size, op, pp);
    if (round_robin)
        pl_fill_round_robin(c, out);
    else
        pl_fill(c, s, out, beam, evaluations, progress);
}

static int solve_fixed(const struct plan_policy *self, const struct plan_problem *pb,
                       const struct plan_params *pa, uint32_t size, bool round_robin,
                       const char *name, struct spec_plan **out, struct plan_outcome *outcome)
{
    uint32_t devices = pb->cluster->devices;
    if (size > devices)
        return mx_error(MX_EUSAGE,
                        "%s: groups of %u devices do not fit the %u devices of cluster %s", name,
                        size, devices, pb->cluster_path);
    struct pl_context c;
    int rc = pl_context_init(&c, pb, pb->train);
    if (rc < 0)
        return rc;
    bool profiled = false;
    for (uint32_t m = 0; m < c.n_models && !profiled; m++)
        profiled = pl_weight(&c, m, 1, (int32_t)size) >= 0;
    if (!profiled) {
        pl_context_release(&c);
        return mx_error(MX_EINPUT,
                        "%s: profile %s has the config (1, 1, %u) for none of the models", name,
                        pb->db_path, size);
    }
    struct spec_placement layout;
    pl_placement_layout(&layout, devices, size, 1, (int32_t)size);
    rc = pl_check_fits(&c, &layout, 1);
    spec_placement_release(&layout);
    if (rc == MX_OK) {
        struct sim_eval_state *s = sim_eval_state_new(c.eval);
        struct spec_placement p;
        uint32_t evaluations = 0;
        pl_solve_layout(&c, s, devices, size, 1, (int32_t)size, round_robin, pa->beam, &p,
                        &evaluations, &pb->progress);
        rc = pl_finish(&c, s, &p, evaluations, out, outcome);
        if (rc == MX_OK)
            pl_record(*out, self, name, pb, pa, outcome);
        spec_placement_release(&p);
        sim_eval_state_free(s);
    }
    pl_context_release(&c);
    return rc;
}

static int solve_sr(const struct plan_policy *self, const struct plan_problem *pb,
                    const struct plan_params *pa, struct spec_plan **out,
                    struct plan_outcome *outcome)
{
    return solve_fixed(self, pb, pa, 1, false, "sr", out, outcome);
}

static int solve_round_robin(const struct plan_policy *self, const struct plan_problem *pb,
                             const struct plan_params *pa, struct spec_plan **out,
                             struct plan_outcome *outcome)
{
    return solve_fixed(self, pb, pa, pa->group_size, true, "round-robin", out, outcome);
}

static int solve_greedy(const struct plan_policy *self, const struct plan_problem *pb,
                        const struct plan_params *pa, struct spec_plan **out,
                        struct plan_outcome *outcome)
{
    char name[32];
    snprintf(name, sizeof(name), "greedy-%u", pa->group_size);
    return solve_fixed(self, pb, pa, pa->group_size, false, name, out, outcome);
}

static const enum plan_param_id filled[] = {PLAN_PARAM_BEAM};
static const enum plan_param_id round_robin[] = {PLAN_PARAM_GROUP_SIZE};
static const enum plan_param_id sized_fill[] = {PLAN_PARAM_GROUP_SIZE, PLAN_PARAM_BEAM};

const struct plan_policy plan_policy_sr = {
    .name = "sr",
    .decoders = PLAN_BOTH,
    .summary = "selective replication: one model copy per device, greedy fill (AlpaServe's SR)",
    .n_params = 1,
    .params = filled,
    .solve = solve_sr};
const struct plan_policy plan_policy_round_robin = {
    .name = "round-robin",
    .decoders = PLAN_BOTH,
    .summary = "pipelines of --group-size devices, filled round robin",
    .n_params = 1,
    .params = round_robin,
    .solve = solve_round_robin};
const struct plan_policy plan_policy_greedy = {.name = "greedy-<s>",
                                               .decoders = PLAN_BOTH,
                                               .summary = "pipelines of s devices, greedy fill",
                                               .n_params = 2,
                                               .params = sized_fill,
                                               .solve = solve_greedy};
