/* Policy parameters: each one's command-line name, plan key, default and range, written once. The
 * command line, sweeps and plans all read this table. */
#include "planner.h"

#include "mx_alloc.h"
#include "sim_dispatch.h"
#include "spec_cluster.h"

#include <stddef.h>

const struct plan_param plan_param_table[PLAN_N_PARAMS] = {
    [PLAN_PARAM_GROUP_SIZE] = {"group-size", "S", "group_size",
                               "devices per group of round-robin and greedy-<s>", PLAN_PARAM_COUNT,
                               offsetof(struct plan_params, group_size), 4, 1, SPEC_MAX_DEVICES},
    [PLAN_PARAM_BEAM] = {"beam", "K", "beam",
                         "beam search of width K instead of the greedy fill (1)", PLAN_PARAM_COUNT,
                         offsetof(struct plan_params, beam), 1, 1, 1024},
    [PLAN_PARAM_MAX_OP] = {"max-op", "N", "max_op", "alpaserve's largest tensor-parallel degree",
                           PLAN_PARAM_COUNT, offsetof(struct plan_params, max_op), 4, 1, 4096},
    [PLAN_PARAM_MAX_PP] = {"max-pp", "N", "max_pp", "alpaserve's largest pipeline depth",
                           PLAN_PARAM_COUNT, offsetof(struct plan_params, max_pp), 8, 1, 4096},
    [PLAN_PARAM_WINDOW] = {"window", "S", "window_s", "clockwork++'s window, seconds",
                           PLAN_PARAM_REAL, offsetof(struct plan_params, window_s), 60, 1e-3, 1e9},
    [PLAN_PARAM_SWAP_COST] = {"swap-cost", NULL, "swap_cost",
                              "clockwork++: a device loading models it did not hold in the window "
                              "before serves nothing for their weight bytes / the cluster's load "
                              "bandwidth (the default when the cluster gives it)",
                              PLAN_PARAM_FLAG, offsetof(struct plan_params, swap_cost), 0, 0, 1},
    [PLAN_PARAM_FREE_SWAPS] = {"free-swaps", NULL, "free_swaps",
                               "clockwork++: swaps between windows cost nothing (AlpaServe's "
                               "oracle)",
                               PLAN_PARAM_FLAG, offsetof(struct plan_params, free_swaps), 0, 0, 1},
    [PLAN_PARAM_ROBUST] = {"robust", "K", "robust",
                           "mux: plan against K windows of the training workload at once, for "
                           "the best worst one",
                           PLAN_PARAM_COUNT, offsetof(struct plan_params, robust), 1, 1, 64},
    [PLAN_PARAM_EFFORT] = {"effort", "X", "effort",
                           "mux: a layout's search simulates up to X times the training requests "
                           "(at most 20 M + 4 times)",
                           PLAN_PARAM_REAL, offsetof(struct plan_params, effort), 12, 0, 1e4},
    [PLAN_PARAM_MAX_BATCH] = {"max-batch", "B", "max_batch",
                              "mux: also score serving in batches of up to B requests (0: the "
                              "profile's largest batch; 1: no batching)",
                              PLAN_PARAM_COUNT, offsetof(struct plan_params, max_batch), 0, 0,
                              4096},
};

const struct sim_dispatch_policy *const plan_default_dispatch = &sim_dispatch_earliest_free;

double plan_param_get(const struct plan_params *pa, enum plan_param_id id)
{
    const struct plan_param *p = &plan_param_table[id];
    const char *field = (const char *)pa + p->offset;
    switch (p->kind) {
    case PLAN_PARAM_COUNT:
        return *(const uint32_t *)(const void *)field;
    case PLAN_PARAM_REAL:
        return *(const double *)(const void *)field;
    case PLAN_PARAM_FLAG:
        return *(const bool *)(const void *)field;
    }
    MX_BUG("parameter kind %d", (int)p->kind);
}

void plan_param_set(struct plan_params *pa, enum plan_param_id id, double v)
{
    const struct plan_param *p = &plan_param_table[id];
    char *field = (char *)pa + p->offset;
    switch (p->kind) {
    case PLAN_PARAM_COUNT:
        *(uint32_t *)(void *)field = (uint32_t)v;
        return;
    case PLAN_PARAM_REAL:
        *(double *)(void *)field = v;
        return;
    case PLAN_PARAM_FLAG:
        *(bool *)(void *)field = v != 0;
        return;
    }
    MX_BUG("parameter kind %d", (int)p->kind);
}

struct plan_params plan_params_default(void)
{
    struct plan_params pa;
    for (int id = 0; id < PLAN_N_PARAMS; id++)
        plan_param_set(&pa, (enum plan_param_id)id, plan_param_table[id].def);
    return pa;
}

bool plan_policy_takes(const struct plan_policy *policy, enum plan_param_id id)
{
    for (uint32_t k = 0; k < policy->n_params; k++)
        if (policy->params[k] == id)
            return true;
    return false;
}
