/* Latency tables: each profiled config a placement uses, compiled once to integer nanoseconds with
 * the cluster's stage factor. The simulator's worlds and the planner's evaluator share this code.
 */
#include "sim_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_profile.h"

#include <stdlib.h>
#include <string.h>

/* With at most 4096 stages of 1e5 s, a finish is at most 4.1e8 s after a deadline of at most
 * 6.2e9 s: every sum of times stays far from int64 overflow. */
#define MAX_STAGE_LATENCY_S 1e5

void sim__tables_init(struct sim_tables *t, const struct spec_overheads *o, const char *db_path)
{
    memset(t, 0, sizeof(*t));
    t->overheads = o;
    t->db_path = db_path;
}

void sim__tables_release(struct sim_tables *t)
{
    free(t->latency);
    free(t->batch);
    free(t->entries);
    memset(t, 0, sizeof(*t));
}

int sim__tables_add(struct sim_tables *t, const char *base, const struct spec_config *cfg,
                    uint32_t *entry)
{
    for (uint32_t e = 0; e < t->n_entries; e++)
        if (t->entries[e].cfg == cfg) {
            *entry = e;
            return MX_OK;
        }
    size_t cells = (size_t)cfg->n_batches * (size_t)cfg->pp;
    double factor = t->overheads->stage_factor * (1 + t->overheads->stage_factor_per_pp * cfg->pp);
    for (size_t i = 0; i < cells; i++)
        if (cfg->stage_latency_s[i] * factor > MAX_STAGE_LATENCY_S)
            return mx_error(MX_EINPUT,
                            "profile %s: %s (%d, %d, %d): a stage latency of %g s times the "
                            "cluster's stage factor %g exceeds %g s",
                            t->db_path, base, cfg->dp, cfg->op, cfg->pp, cfg->stage_latency_s[i],
                            factor, MAX_STAGE_LATENCY_S);
    t->entries = mx_realloc_array(t->entries, t->n_entries + 1, sizeof(*t->entries));
    t->entries[t->n_entries] = (struct sim_table_entry){cfg, t->n_latency, t->n_batch};
    t->latency = mx_realloc_array(t->latency, t->n_latency + cells, sizeof(mx_ns));
    t->batch = mx_realloc_array(t->batch, t->n_batch + cfg->n_batches, sizeof(int32_t));
    for (size_t i = 0; i < cells; i++) {
        mx_ns ns = mx_s_to_ns(cfg->stage_latency_s[i] * factor);
        t->latency[t->n_latency + i] = ns > 0 ? ns : 1;
    }
    memcpy(t->batch + t->n_batch, cfg->batch, cfg->n_batches * sizeof(int32_t));
    t->n_latency += cells;
    t->n_batch += cfg->n_batches;
    *entry = t->n_entries++;
    return MX_OK;
}

bool sim__tables_same_batch1(const struct sim_tables *t, uint32_t a, uint32_t b)
{
    const struct sim_table_entry *ea = &t->entries[a], *eb = &t->entries[b];
    if (a == b)
        return true;
    if (ea->cfg->pp != eb->cfg->pp)
        return false;
    return memcmp(t->latency + ea->latency, t->latency + eb->latency,
                  (size_t)ea->cfg->pp * sizeof(mx_ns)) == 0;
}

void sim__tables_replica(const struct sim_tables *t, uint32_t entry, struct sim_replica *rep)
{
    const struct sim_table_entry *e = &t->entries[entry];
    rep->n_stages = (uint32_t)e->cfg->pp;
    rep->n_batches = e->cfg->n_batches;
    rep->latency_ns = t->latency + e->latency;
    rep->batch_sizes = t->batch + e->batch;
    rep->sum_ns = rep->max_ns = 0;
    for (uint32_t k = 0; k < rep->n_stages; k++) {
        rep->sum_ns += rep->latency_ns[k];
        if (rep->latency_ns[k] > rep->max_ns)
            rep->max_ns = rep->latency_ns[k];
    }
}
