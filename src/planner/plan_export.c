/* A plan of decoder groups as a launch description for vLLM (plan_export.h, docs/planner.md): one
 * `vllm serve` per (group, hosted model), on the group's devices, with its tensor and pipeline
 * sizes, the group's batch budget and sequence cap, blocks of the cluster's size, chunked prefill,
 * and the share of each device's memory the model may use. vLLM gives each server its own KV cache,
 * so what the group's servers' weights and activations leave of 98% of each device is split among
 * its models in proportion to their KV bytes per token. A starting point to adapt, not a guarantee:
 * vLLM's own scheduler, kernels and memory accounting differ from the simulator's. */
#include "plan_export.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_cluster.h"
#include "spec_plan.h"
#include "spec_profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append printf-formatted text to a growing buffer. */
struct text {
    char *s;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->len + (size_t)n + 1);
        t->s = mx_realloc_array(t->s, t->cap, 1);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The memory the servers of a group may use together, of each device's budget: vLLM runs its
 * own activations beside every server's, so the shares are taken from 98% of the budget. */
#define SERVED_SHARE 0.98

/* The memory share of model j of a group whose models have configs cfgs[0..n): on its largest
 * stage, its weights and activations, and its slice of what every server's weights and
 * activations leave, split by KV bytes per token; over the device budget. */
static double memory_share(const struct spec_config *const *cfgs, uint32_t n, uint32_t j,
                           int64_t budget, uint32_t batch)
{
    double most = 0, usable = SERVED_SHARE * (double)budget;
    for (int32_t k = 0; k < cfgs[j]->pp; k++) {
        double fixed = 0, kv_all = 0;
        for (uint32_t i = 0; i < n; i++) {
            fixed += (double)cfgs[i]->weight_bytes[k] +
                     (double)cfgs[i]->decoder.act_bytes_per_token[k] * batch;
            kv_all += (double)cfgs[i]->decoder.kv_bytes_per_token[k];
        }
        double left = usable > fixed ? usable - fixed : 0;
        double slice =
            kv_all > 0 ? left * cfgs[j]->decoder.kv_bytes_per_token[k] / kv_all : left / n;
        double bytes = (double)cfgs[j]->weight_bytes[k] +
                       (double)cfgs[j]->decoder.act_bytes_per_token[k] * batch + slice;
        if (bytes > most)
            most = bytes;
    }
    return most / (double)budget;
}

int plan_export_vllm(const struct spec_plan *plan, const struct spec_cluster *cluster,
                     const struct spec_profile *db, const char *db_path, char **out)
{
    if (plan->n_segments != 1)
        return mx_error(MX_EINPUT, "%s: a schedule of placements has no single launch description",
                        plan->path);
    const struct spec_plan_segment *seg = &plan->segments[0];
    struct text t = {0};
    int port = 8000, rc = MX_OK;
    put(&t,
        "#!/bin/sh\n# vLLM launch commands for %s: a starting point to adapt, not a guarantee\n"
        "# (docs/planner.md). One server per model of each group; models of one group share "
        "its devices.\n",
        plan->path);
    for (uint32_t g = 0; g < seg->n_groups && rc == MX_OK; g++) {
        const struct spec_plan_group *grp = &seg->groups[g];
        const struct spec_config **cfgs =
            MX_NEW_ARRAY(const struct spec_config *, grp->n_models + 1);
        for (uint32_t j = 0; j < grp->n_models && rc == MX_OK; j++) {
            const struct spec_plan_model *m = &plan->models[grp->models[j]];
            const struct spec_profile_model *pm = spec_profile_find_model(db, m->base);
            cfgs[j] = spec_profile_find(db, m->base, grp->dp, grp->op, grp->pp);
            if (!pm || pm->kind != SPEC_DECODER || !cfgs[j])
                rc = mx_error(MX_EINPUT,
                              "%s: group id %d: model \"%s\" (base \"%s\") is not a decoder with "
                              "the config (%d, %d, %d) in profile %s; vLLM commands are for "
                              "decoders",
                              plan->path, grp->id, m->name, m->base, grp->dp, grp->op, grp->pp,
                              db_path);
        }
        if (rc == MX_OK)
            put(&t, "\n# group %d: devices", grp->id);
        for (uint32_t d = 0; d < grp->n_devices && rc == MX_OK; d++)
            put(&t, "%s%u", d ? "," : " ", grp->devices[d]);
        if (rc == MX_OK)
            put(&t, ", tensor parallel %d, pipeline %d, %u model%s\n", grp->op, grp->pp,
                grp->n_models, grp->n_models == 1 ? "" : "s");
        for (uint32_t j = 0; j < grp->n_models && rc == MX_OK; j++) {
            const struct spec_plan_model *m = &plan->models[grp->models[j]];
            double share = memory_share(cfgs, grp->n_models, j, cluster->mem_budget_bytes,
                                        grp->scheduler.max_batch_tokens);
            put(&t, "CUDA_VISIBLE_DEVICES=");
            for (uint32_t d = 0; d < grp->n_devices; d++)
                put(&t, "%s%u", d ? "," : "", grp->devices[d]);
            put(&t,
                " vllm serve %s --served-model-name %s --tensor-parallel-size %d "
                "--pipeline-parallel-size %d --max-num-batched-tokens %u --max-num-seqs %u "
                "--enable-chunked-prefill --block-size %u --gpu-memory-utilization %.3f --port %d "
                "&\n",
                m->base, m->name, grp->op, grp->pp, grp->scheduler.max_batch_tokens,
                grp->scheduler.max_seqs, cluster->decoder.block_tokens, share, port++);
        }
        free(cfgs);
    }
    if (rc == MX_OK) {
        put(&t, "wait\n");
        *out = t.s;
    } else {
        free(t.s);
    }
    return rc;
}
