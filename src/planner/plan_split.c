/* AlpaServe's model separation, as pure functions: latency buckets of models, and the node-aligned
 * splits of the devices among them, filtered by how well capacity follows rate. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_models.h"
#include "spec_profile.h"

#include <math.h>
#include <stdlib.h>

/* AlpaServe's bucketing threshold: a model joins a bucket whose first member's single-device
 * latency is within 38% of its own. */
#define SAME_MODEL_THRESHOLD 0.38
/* Splits are filtered with the first of these thresholds that leaves fewer than this many. */
#define MAX_SPLITS 100

int pl_bucket_models(const struct spec_model_set *set, const struct spec_profile *db,
                     const char *db_path, uint32_t *bucket_of, double *leader_latency_s,
                     uint32_t *n_buckets)
{
    uint32_t n = 0;
    for (uint32_t m = 0; m < set->n; m++) {
        double latency = spec_profile_single_device_latency_s(db, set->models[m].base);
        if (latency <= 0)
            return mx_error(MX_EINPUT,
                            "alpaserve-sep buckets models by single-device latency, but profile %s "
                            "has no (1, 1, 1) config for \"%s\" (model \"%s\")",
                            db_path, set->models[m].base, set->models[m].name);
        uint32_t b = 0;
        while (b < n &&
               !(fabs(latency - leader_latency_s[b]) / leader_latency_s[b] < SAME_MODEL_THRESHOLD))
            b++;
        if (b == n)
            leader_latency_s[n++] = latency;
        bucket_of[m] = b;
    }
    *n_buckets = n;
    return MX_OK;
}

bool pl_part_aligned(uint32_t n, uint32_t i, uint32_t per_node)
{
    return i <= n % per_node || (n - i) % per_node == 0 || n % per_node == 0;
}

/* The last `depth` parts go into prefix from the last backwards; the remaining n is the first. */
static void enumerate(uint32_t n, uint32_t per_node, uint32_t *prefix, uint32_t depth,
                      struct pl_splits *out)
{
    const uint32_t k = out->k;
    if (depth == 0) {
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 64;
            out->parts = mx_realloc_array(out->parts, (size_t)out->cap * k, sizeof(uint32_t));
        }
        uint32_t *row = out->parts + (size_t)out->n++ * k;
        row[0] = n;
        for (uint32_t j = 1; j < k; j++)
            row[j] = prefix[k - 1 - j];
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        if (!pl_part_aligned(n, i, per_node))
            continue;
        prefix[k - 1 - depth] = i;
        enumerate(n - i, per_node, prefix, depth - 1, out);
    }
}

void pl_enumerate_splits(uint32_t devices, uint32_t k, uint32_t per_node, struct pl_splits *out)
{
    *out = (struct pl_splits){.k = k};
    if (k == 0 || devices < k)
        return;
    uint32_t *prefix = MX_NEW_ARRAY(uint32_t, k);
    enumerate(devices, per_node, prefix, k - 1, out);
    free(prefix);
}

void pl_splits_release(struct pl_splits *s)
{
    free(s->parts);
    *s = (struct pl_splits){0};
}

uint32_t pl_filter_splits(const struct pl_splits *all, const double *rate, const double *latency_s,
                          uint32_t **kept)
{
    static const double thresholds[] = {1.0, 0.5, 0.3, 0.2, 0.1};
    double total_rate = 0;
    for (uint32_t j = 0; j < all->k; j++)
        total_rate += rate[j];
    uint32_t *list = MX_NEW_ARRAY(uint32_t, all->n ? all->n : 1), n = 0;
    for (size_t t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
        n = 0;
        for (uint32_t s = 0; s < all->n; s++) {
            const uint32_t *row = all->parts + (size_t)s * all->k;
            double capacity = 0, distance = 0;
            for (uint32_t j = 0; j < all->k; j++)
                capacity += row[j] / latency_s[j];
            for (uint32_t j = 0; j < all->k; j++) {
                double d = fabs(rate[j] / total_rate - row[j] / latency_s[j] / capacity);
                distance = d > distance ? d : distance;
            }
            if (distance < thresholds[t])
                list[n++] = s;
        }
        if (n < MAX_SPLITS)
            break;
    }
    *kept = list;
    return n;
}
