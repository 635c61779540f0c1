/* Cluster specs: spec_cluster_read(). */
#include "fuzz.h"

#include "spec_cluster.h"

static int read_cluster(const char *path, int variant)
{
    (void)variant;
    struct spec_cluster cluster;
    return spec_cluster_read(path, &cluster);
}

FUZZ_TARGET(cluster, "cluster.json", read_cluster, 1)
