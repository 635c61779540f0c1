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
 * docs/profiler.md): every field has a default, and an unknown field is an error.
 *
 * "decoder" (optional; the roofline backend needs it for decoder models, with "device.l2_bytes")
 * holds the cost model of autoregressive decoders' ops (struct prof_decoder_eff below), fitted to
 * measurements by tools/calibrate_llm.py:
 *   "decoder": {"source": "...", "fit_error": {...},
 *     "gemm": {"fixed_s", "mem_efficiency", "compute_efficiency", "half_outputs",
 *              "occupancy_exp", "k_half", "blend_p", "tile_m"},
 *     "small_ops": {"norm" | "rope" | "act" | "add" | "emb":
 *                   {"fixed_s", "dram_efficiency", "l2_efficiency"}},
 *     "attention": {"prefill_efficiency", "prefill_half_len", "decode_mem_efficiency", "fixed_s"},
 *     "allreduce": {"latency_s", "bus_bytes_per_s", "half_bytes", "exp"},
 *     "p2p": {"intra_node_latency_s", "intra_node_bytes_per_s", "inter_node_latency_s",
 *             "inter_node_bytes_per_s"}}
 * Every member of each object is required; "fit_error" (the fit's errors, for readers) and "note"
 * members are free. */
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

/* A memory-bound op's cost (RMSNorm, rotary embedding, SiLU-and-multiply, residual add,
 * embedding lookup) moving B bytes: fixed_s + B / (bandwidth e(B)), where
 * e(B) = dram_efficiency + (l2_efficiency - dram_efficiency) / (1 + B / l2_bytes). */
struct prof_small_eff {
    double fixed_s, dram_efficiency, l2_efficiency;
};

enum prof_small_kind {
    PROF_SMALL_NORM,
    PROF_SMALL_ROPE,
    PROF_SMALL_ACT,
    PROF_SMALL_ADD,
    PROF_SMALL_EMB,
    PROF_SMALL_KINDS
};

/* The decoder cost model's parameters (docs/profiler.md, "Decoders"; formulas in prof_decoder.h).
 * GEMM C[m][n] = A[m][k] B[k][n]: the p-norm blend of its memory time (bytes at mem_efficiency of
 * the bandwidth) and its compute time (m padded to tiles of tile_m rows once above one tile, at
 * compute_efficiency / (1 + (half_outputs / (m_pad n))^occupancy_exp) * k / (k + k_half) of the
 * peak), plus fixed_s. Attention: prefill at prefill_efficiency * L / (L + prefill_half_len) of the
 * peak for chunks of L tokens; decode reading the KV cache at decode_mem_efficiency of the
 * bandwidth; fixed_s per layer and iteration. All-reduce over n devices of a node:
 * latency_s + 2 (n - 1) / n * B / (bus_bytes_per_s / (1 + (half_bytes / B)^exp)). A pipeline hop:
 * latency + B / bandwidth, within or between nodes. */
struct prof_decoder_eff {
    bool present; /* the spec has a "decoder" member */
    double gemm_fixed_s, gemm_mem_efficiency, gemm_compute_efficiency, gemm_half_outputs,
        gemm_occupancy_exp, gemm_k_half, gemm_blend_p, gemm_tile_m;
    struct prof_small_eff small[PROF_SMALL_KINDS];
    double attn_prefill_efficiency, attn_prefill_half_len, attn_decode_mem_efficiency, attn_fixed_s;
    double allreduce_latency_s, allreduce_bus_bytes_per_s, allreduce_half_bytes, allreduce_exp;
    double p2p_intra_latency_s, p2p_intra_bytes_per_s, p2p_inter_latency_s, p2p_inter_bytes_per_s;
};

struct prof_hw {
    char *name;
    char *path;   /* the file it was read from, or NULL (messages name it) */
    char *source; /* where the numbers come from, or NULL */
    bool calibrated;
    double peak_flops;                /* dense fp16/bf16 (tensor cores) per device, FLOP/s */
    double mem_bandwidth_bytes_per_s; /* device memory */
    int64_t mem_bytes;
    double l2_bytes; /* last-level cache; 0 when the spec does not say */
    int32_t devices_per_node;
    double intra_node_bytes_per_s, intra_node_latency_s; /* one direction of one link */
    double inter_node_bytes_per_s, inter_node_latency_s;
    struct prof_efficiency eff;
    struct prof_decoder_eff dec;
};

/* MX_OK when hw holds what the roofline backend needs to cost decoder models, else MX_EINPUT
 * naming the spec's file and the missing member. */
int prof_hw_check_decoder(const struct prof_hw *hw);

/* Read a hardware spec; every problem is MX_EINPUT naming the file and the member. Free with
 * prof_hw_free(). */
int prof_hw_read(const char *path, struct prof_hw **out);
void prof_hw_free(struct prof_hw *hw);

#endif
