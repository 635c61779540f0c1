/* Hardware specs: what a device and its links can do, and how close to that real code gets.
 *
 * JSON form ("muxplan-hardware/1"), one file per device kind in data/hardware/:
 *   {"format": "muxplan-hardware/1", "name": "v100-16gb", "calibrated": true,
 *    "source": "...",
 *    "device": {"peak_flops": 125e12, "mem_bandwidth_bytes_per_s": 900e9, "mem_bytes":
 * 17179869184}, "devices_per_node": 8, "links": {"intra_node_bytes_per_s": 1.3e11,
 * "intra_node_latency_s": 1e-5, "inter_node_bytes_per_s": 3.125e9, "inter_node_latency_s": 3e-5},
 *    "efficiency": {...}}
 * "efficiency" holds the achieved-efficiency model of the roofline backend (prof_roofline.c and
 * docs/profiler.md): every field has a default, and an unknown field is an error. */
#ifndef PROF_HW_H
#define PROF_HW_H

#include <stdbool.h>
#include <stdint.h>

/* The roofline's achieved-efficiency model (docs/profiler.md). A dense GEMM of m rows and inner
 * size k (one GEMM of a batch) reaches, of the peak,
 *   e = max(gemm_min, gemm_max / (1 + (gemm_half_mk / (m k))^gemm_steepness)),
 * so small GEMMs run far below the peak and large ones level off (V100: batch 1 to 2 is far from
 * linear). The attention GEMMs (inner size h/heads) reach attention_max. Every op is also bounded
 * by memory: its bytes at memory_efficiency of the bandwidth. Fixed costs: layer_overhead_s per
 * layer, stage_overhead_s per pipeline stage, first_stage_s and last_stage_s on the first and last
 * stage (embedding; output). */
struct prof_efficiency {
    double gemm_max, gemm_min;
    double gemm_half_mk; /* m k at which a GEMM reaches half of gemm_max */
    double gemm_steepness;
    double attention_max;
    double memory_efficiency;
    double layer_overhead_s;
    double stage_overhead_s;
    double first_stage_s, last_stage_s;
};

struct prof_hw {
    char *name;
    char *source; /* where the numbers come from, or NULL */
    bool calibrated;
    double peak_flops;                /* dense fp16/bf16 (tensor cores) per device, FLOP/s */
    double mem_bandwidth_bytes_per_s; /* device memory */
    int64_t mem_bytes;
    int32_t devices_per_node;
    double intra_node_bytes_per_s, intra_node_latency_s; /* one direction of one link */
    double inter_node_bytes_per_s, inter_node_latency_s;
    struct prof_efficiency eff;
};

/* Read a hardware spec; every problem is MX_EINPUT naming the file and the member. Free with
 * prof_hw_free(). */
int prof_hw_read(const char *path, struct prof_hw **out);
void prof_hw_free(struct prof_hw *hw);

#endif
