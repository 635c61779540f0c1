/* prof_partition(): best[k][i] is the smallest possible largest-stage cost of putting the last
 * n_layers - i layers into the stages k .. pp-1; filled from the back, then read forwards: each
 * stage takes, among the ends that stay optimal, the one closest to an even share of what is left
 * (so 10 equal layers in 4 stages split 2, 3, 2, 3, not 1, 3, 3, 3). */
#include "prof_partition.h"

#include "mx_alloc.h"

#include <math.h>
#include <stdlib.h>

double prof_partition(const double *layer_s, int n_layers, int pp, const double *extra_s,
                      int *bounds)
{
    size_t width = (size_t)n_layers + 1;
    double *prefix = mx_malloc_array(width, sizeof(double));
    double *best = mx_malloc_array((size_t)(pp + 1) * width, sizeof(double));
    prefix[0] = 0;
    for (int i = 0; i < n_layers; i++)
        prefix[i + 1] = prefix[i] + layer_s[i];
    /* best[pp][i]: no stage left; only valid when no layer is left either. */
    for (int i = 0; i <= n_layers; i++)
        best[(size_t)pp * width + (size_t)i] = i == n_layers ? 0 : INFINITY;
    for (int k = pp - 1; k >= 0; k--) {
        double extra = extra_s ? extra_s[k] : 0;
        for (int i = 0; i <= n_layers; i++) {
            double value = INFINITY;
            /* Stage k takes layers i .. j-1, leaving enough layers for the stages after it. */
            for (int j = i + 1; j <= n_layers - (pp - 1 - k); j++) {
                double stage = prefix[j] - prefix[i] + extra;
                double rest = best[(size_t)(k + 1) * width + (size_t)j];
                value = fmin(value, fmax(stage, rest));
            }
            best[(size_t)k * width + (size_t)i] = value;
        }
    }
    double optimum = best[0];
    double extra_total = 0;
    for (int k = 0; k < pp; k++)
        extra_total += extra_s ? extra_s[k] : 0;
    bounds[0] = 0;
    for (int k = 0; k < pp; k++) {
        double extra = extra_s ? extra_s[k] : 0;
        int i = bounds[k], chosen = n_layers;
        /* Of the ends that keep this stage and the rest within the optimum, the one whose stage is
         * closest to an even share of what is left (ties: the earlier end). */
        double share = (prefix[n_layers] - prefix[i] + extra_total) / (pp - k), closest = INFINITY;
        for (int j = i + 1; k + 1 < pp && j <= n_layers - (pp - 1 - k); j++) {
            double stage = prefix[j] - prefix[i] + extra;
            if (stage > optimum || best[(size_t)(k + 1) * width + (size_t)j] > optimum)
                continue;
            if (fabs(stage - share) < closest) {
                closest = fabs(stage - share);
                chosen = j;
            }
        }
        bounds[k + 1] = chosen;
        extra_total -= extra;
    }
    free(best);
    free(prefix);
    return optimum;
}
