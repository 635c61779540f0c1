/* bench/cuda_links: the bandwidths the cuda backend measures, as JSON lines: device-to-device copy
 * on GPU 0 for buffers of 1 MiB to 1 GiB, and NCCL all-reduce bus bandwidth over every visible GPU
 * when there are two or more. Needs a GPU; prints one line saying why not otherwise.
 *
 * usage: cuda_links */
#include "cu_prof.h"
#include "mx_error.h"

#include <stdio.h>

int main(void)
{
    int gpus = cu_prof_device_count();
    char name[128] = "";
    if (gpus == 0 || cu_prof_device_name(0, name, sizeof(name)) < 0) {
        printf("{\"bench\": \"cuda_links\", \"error\": \"no GPU is visible\"}\n");
        return 1;
    }
    for (size_t bytes = (size_t)1 << 20; bytes <= (size_t)1 << 30; bytes <<= 2) {
        double bw;
        if (cu_prof_copy_bandwidth(0, bytes, &bw) < 0) {
            printf("{\"bench\": \"cuda_links\", \"error\": \"%s\"}\n", mx_error_message());
            return 1;
        }
        printf("{\"bench\": \"cuda_links\", \"gpu\": \"%s\", \"what\": \"copy\", \"bytes\": %zu, "
               "\"bytes_per_s\": %.4g}\n",
               name, bytes, bw);
    }
    for (size_t bytes = (size_t)1 << 20; gpus >= 2 && bytes <= (size_t)1 << 30; bytes <<= 2) {
        double bw;
        if (cu_prof_allreduce_bandwidth(gpus, bytes, &bw) < 0) {
            printf("{\"bench\": \"cuda_links\", \"error\": \"%s\"}\n", mx_error_message());
            return 1;
        }
        printf("{\"bench\": \"cuda_links\", \"gpus\": %d, \"what\": \"allreduce\", \"bytes\": %zu, "
               "\"bus_bytes_per_s\": %.4g}\n",
               gpus, bytes, bw);
    }
    if (gpus < 2)
        printf("{\"bench\": \"cuda_links\", \"what\": \"allreduce\", \"skipped\": \"one GPU\"}\n");
    return 0;
}
