/* Pipeline stage partitioning: contiguous layers per stage, minimizing the slowest stage. */
#ifndef PROF_PARTITION_H
#define PROF_PARTITION_H

/* Split n_layers layers, layer i costing layer_s[i] seconds, into pp contiguous non-empty stages
 * (1 <= pp <= n_layers) so that the largest stage cost is smallest; stage k costs the sum of its
 * layers plus extra_s[k] (the embedding on the first stage, say; NULL for none). Among optimal
 * splits, each stage in turn takes the end closest to an even share of what is left (ties: the
 * earlier end), so the result is balanced and deterministic. Writes bounds[pp + 1] (stage k holds
 * layers bounds[k] .. bounds[k+1]-1; bounds[0] = 0, bounds[pp] = n_layers) and returns the largest
 * stage cost. Dynamic programming, O(pp n_layers^2) time, O(pp n_layers) memory. */
double prof_partition(const double *layer_s, int n_layers, int pp, const double *extra_s,
                      int *bounds);

#endif
