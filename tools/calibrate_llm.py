#!/usr/bin/env python3
"""Calibrate a per-operator roofline cost model of decoder LLM layers (Llama class) on H100 and A100.

What it does
  Fits, per GPU, the few parameters of a closed-form cost model (docs/profiler.md, "Decoders";
  the formulas are in gemm_time(), small_time(), allreduce_time() and p2p_time() below and are
  meant to be re-implemented in C expression for expression) to per-operator latencies measured
  by Vidur, then prints the fitted parameters and the error tables. One set of parameters per GPU
  serves every model; held-out errors (fit on two models, test on the third) are reported too.

  GEMM (m tokens, n output width, k input width, fp16):
    bytes = 2 (m k + k n + m n); t_mem = bytes / (bw e_mem)
    m_pad = m if m <= tile_m else ceil(m / tile_m) tile_m
    e_cmp = e_max / (1 + (half_outputs / (m_pad n))^occ_exp) * k / (k + k_half)
    t_cmp = 2 m_pad n k / (peak e_cmp)
    t = fixed + hi (1 + (lo / hi)^p)^(1/p),  hi = max(t_mem, t_cmp), lo = min(t_mem, t_cmp)
  Small ops (RMSNorm, RoPE, SiLU*mul, residual add, embedding lookup), bytes as in small_bytes():
    t = fixed + bytes / (bw e(bytes)),  e(bytes) = e_dram + (e_l2 - e_dram) / (1 + bytes / l2_bytes)
  All-reduce of B bytes over n GPUs of one node (ring):
    t = alpha + 2 (n - 1) / n * B / (bus_bw / (1 + (half_bytes / B)^exp)), with B raised to
    half_bytes (exp - 1)^(1 / exp) when exp > 1 (the formula's minimum: below it, it would grow
    as B shrinks)
  Send/recv: t = latency + B / bw (intra-node and inter-node fitted separately).

Data
  The directory given as the first argument (default data/reference/vidur-llm, the compact subset
  bundled with muxplan; see its README.md): Vidur's published profiles (microsoft/vidur,
  data/profiling, MIT licence), either as published or in the bundled compact form. <gpu>_<model>_mlp.csv: per-layer latencies in ms of emb, input_layernorm,
  attn_pre_proj (QKV), attn_rope, attn_post_proj, post_attention_layernorm, mlp_up_proj (gate+up),
  mlp_act, mlp_down_proj, add, for num_tokens 1..4096 (Llama-3-8B to 32768) and tensor parallelism
  1, 2, 4, 8 (each worker's share); net_<testbed>_{all_reduce,send_recv}.csv: NCCL latencies in ms by
  buffer size in bytes and worker count. The "median" column is the measurement compared against.

How to run
  python3 tools/calibrate_llm.py [DATA_DIR] [-o params.json] [--gpu h100|a100] [--no-heldout]
                                 [--vectors] [--table] [--validate DIR]
                                 [--write-specs] [--bundle OUT_DIR]
  Needs Python 3.11 and numpy only (pip install numpy); no scipy: the fits use the Nelder-Mead
  simplex method implemented below. About 20 s on one core (--no-heldout: about 6 s). Prints one
  JSON line per GPU (fitted parameters, error tables, held-out errors) and one per testbed
  (collectives); --table also prints readable tables on stderr; --vectors prints reference values
  of the formulas for unit tests of a C port; --validate DIR reports the errors of the fitted
  parameters on more Vidur profiles (same CSV format, not used by the fit); -o writes the
  parameters (and the assumed attention parameters) as one JSON object. --write-specs writes the
  fitted parameters, with their errors, into the "decoder" member of data/hardware/h100-80gb.json,
  a100-80gb.json and h200-141gb.json (H200: the H100's fit; every other member is kept).
  --bundle OUT_DIR writes the compact subset of the data that muxplan bundles (from the published
  files; see data/reference/vidur-llm/README.md).
"""
import argparse
import csv
import glob
import json
import math
import os
import sys

try:
    import numpy as np
except ImportError:  # the only dependency beyond the standard library
    sys.exit("calibrate_llm: needs numpy (pip install numpy)")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT_DATA = os.path.join(ROOT, "data", "reference", "vidur-llm")

# Datasheet figures the efficiencies are relative to (dense fp16/bf16 tensor-core peak, HBM bandwidth,
# L2 size). The fitted efficiencies are only meaningful together with these numbers.
GPUS = {
    "h100": {"name": "H100-SXM5-80GB", "peak_flops": 989e12, "mem_bandwidth_bytes_per_s": 3.35e12,
             "l2_bytes": 50e6, "testbed": "h100_dgx"},
    "a100": {"name": "A100-SXM4-80GB", "peak_flops": 312e12, "mem_bandwidth_bytes_per_s": 2.039e12,
             "l2_bytes": 40e6, "testbed": "a100_dgx"},
}
GEMM_OPS = ["attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj"]
SMALL_KINDS = {"input_layernorm": "norm", "post_attention_layernorm": "norm", "attn_rope": "rope",
               "mlp_act": "act", "add": "add", "emb": "emb"}
LAYER_OPS = ["input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj",
             "post_attention_layernorm", "mlp_up_proj", "mlp_act", "mlp_down_proj", "add"]
TARGET_MED, TARGET_P90 = 0.05, 0.12
MAX_TOKENS = 4096

# Assumed (not fitted: the data has no attention kernels) attention parameters; see calibration.md.
ATTENTION = {
    "h100": {"attn_prefill_efficiency": 0.38, "attn_prefill_half_len": 400.0,
             "attn_decode_mem_efficiency": 0.65, "attn_fixed_s": 1e-5,
             "note": "FlashAttention-2 kernels as vLLM ran them on Hopper (about 35% of peak, FA-3 paper); "
                     "with FlashAttention-3 use attn_prefill_efficiency 0.68, attn_prefill_half_len 600"},
    "a100": {"attn_prefill_efficiency": 0.68, "attn_prefill_half_len": 400.0,
             "attn_decode_mem_efficiency": 0.75, "attn_fixed_s": 1e-5,
             "note": "FlashAttention-2 forward, causal, head dim 128 (50-73% of peak, FA-2 paper)"},
}


# ----------------------------------------------------------------------------------------------
# Data

SHAPE_KEYS = ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp"]


def compact_shapes(data_dir):
    """The bundled form's models.csv: file name -> shape columns (None when not that form)."""
    path = os.path.join(data_dir, "models.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def load_ops(data_dir):
    """Rows of every <gpu>_<model>_mlp.csv (published) or <gpu>_<model>_ops.csv (bundled: times in
    microseconds, shapes in models.csv) as dicts of shapes and per-op median seconds."""
    rows = []
    shapes = compact_shapes(data_dir)
    suffix = "_ops.csv" if shapes is not None else "_mlp.csv"
    for path in sorted(glob.glob(os.path.join(data_dir, "*" + suffix))):
        base = os.path.basename(path)
        gpu = base.split("_")[0]
        model = base[len(gpu) + 1:-len(suffix)]
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if shapes is not None:
                shape = shapes[base]
                column, scale = "%s", 1e-6
            else:
                shape, column, scale = None, "time_stats.%s.median", 1e-3
            missing = [op for op in ["emb"] + LAYER_OPS if column % op not in reader.fieldnames]
            if missing:   # e.g. phi-2's parallel block has no post-attention norm: not a Llama layer
                print("calibrate_llm: skipping %s (no %s)" % (base, ", ".join(missing)), file=sys.stderr)
                continue
            for r in reader:
                src = shape if shape is not None else r
                d = {"gpu": gpu, "model": model, "m": int(r["num_tokens"]),
                     "tp": int(r["num_tensor_parallel_workers"]), "n_head": int(src["n_head"]),
                     "n_kv_head": int(src["n_kv_head"]), "h": int(src["n_embd"]),
                     "f": int(src["n_expanded_embd"]), "gated": src["use_gated_mlp"] == "True",
                     "vocab": int(src["vocab_size"])}
                for op in ["emb"] + LAYER_OPS:
                    d[op] = float(r[column % op]) * scale
                rows.append(d)
    if not rows:
        sys.exit("calibrate_llm: no *%s under %s" % (suffix, data_dir))
    return rows


def gemm_shape(r, op):
    """(n, k) of one worker's share of a projection (Megatron tensor parallelism)."""
    h, tp, hd = r["h"], r["tp"], r["h"] // r["n_head"]
    if op == "attn_pre_proj":   # Q, K and V fused, grouped-query
        return (r["n_head"] + 2 * r["n_kv_head"]) * hd // tp, h
    if op == "attn_post_proj":
        return h, h // tp
    if op == "mlp_up_proj":     # gate and up fused when gated
        return (2 if r["gated"] else 1) * r["f"] // tp, h
    if op == "mlp_down_proj":
        return h, r["f"] // tp
    raise ValueError(op)


def small_bytes(r, op):
    """Minimum HBM traffic (bytes, fp16 activations) of a non-GEMM op on one worker."""
    m, h, tp = float(r["m"]), float(r["h"]), float(r["tp"])
    hd = float(r["h"] // r["n_head"])
    if op in ("input_layernorm", "post_attention_layernorm"):   # read x, write y, read weight
        return 4.0 * m * h + 2.0 * h
    if op == "attn_rope":      # read and write q and k of this worker, read cos/sin per token
        return 4.0 * m * (r["n_head"] + r["n_kv_head"]) * hd / tp + 2.0 * m * hd
    if op == "mlp_act":        # gated: read gate and up, write SiLU(gate) * up; else read, write
        return (6.0 if r["gated"] else 4.0) * m * r["f"] / tp
    if op == "add":            # read two, write one
        return 6.0 * m * h
    if op == "emb":            # gather rows, write them, read int64 ids
        return 4.0 * m * h + 8.0 * m
    raise ValueError(op)


def load_net(data_dir, testbed, op):
    """(workers, devices per node, bytes, median seconds) of net_<testbed>_<op>.csv, published or
    bundled (times in microseconds)."""
    path = os.path.join(data_dir, "net_%s_%s.csv" % (testbed, op))
    out = []
    if not os.path.exists(path):
        return out
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        compact = "median_us" in reader.fieldnames
        for r in reader:
            t = float(r["median_us"]) * 1e-6 if compact else float(r["time_stats.%s.median" % op]) * 1e-3
            out.append((int(r["num_workers"]), int(r["devices_per_node"]), float(r["size"]), t))
    return out


def bundle(data_dir, out_dir):
    """Write the compact subset muxplan bundles: per-op medians in microseconds for num_tokens up to
    MAX_TOKENS (shapes once per model in models.csv), and the intra-node all-reduce and send/recv
    medians at up to 160 sizes per worker count (every size up to 64 KiB, then spread evenly in
    log size)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "models.csv"), "w", newline="") as mf:
        mw = csv.writer(mf, lineterminator="\n")
        mw.writerow(["file"] + SHAPE_KEYS)
        for path in sorted(glob.glob(os.path.join(data_dir, "*_mlp.csv"))):
            base = os.path.basename(path)
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            if any("time_stats.%s.median" % op not in rows[0] for op in ["emb"] + LAYER_OPS):
                continue
            name = base[:-len("_mlp.csv")] + "_ops.csv"
            mw.writerow([name] + [rows[0][k] for k in SHAPE_KEYS])
            with open(os.path.join(out_dir, name), "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["num_tokens", "num_tensor_parallel_workers"] + ["emb"] + LAYER_OPS)
                for r in rows:
                    if int(r["num_tokens"]) > MAX_TOKENS:
                        continue
                    w.writerow([r["num_tokens"], r["num_tensor_parallel_workers"]] +
                               ["%.6g" % (float(r["time_stats.%s.median" % op]) * 1e3) for op in ["emb"] + LAYER_OPS])
    for path in sorted(glob.glob(os.path.join(data_dir, "net_*_dgx_*.csv"))):
        base = os.path.basename(path)
        op = "all_reduce" if base.endswith("_all_reduce.csv") else "send_recv"
        testbed = base[len("net_"):-len("_%s.csv" % op)]
        pts = load_net(data_dir, testbed, op)
        keep = []
        for key in sorted({(x[0], x[1]) for x in pts}):
            if op == "all_reduce" and key[0] != key[1]:
                continue   # multi-node all-reduces: not bundled
            series = sorted(x for x in pts if (x[0], x[1]) == key)
            small = [x for x in series if x[2] <= 65536]
            large = [x for x in series if x[2] > 65536]
            picks = set()
            if large:
                ls = np.log([x[2] for x in large])
                for target in np.linspace(ls[0], ls[-1], 160 - len(small)):
                    picks.add(int(np.argmin(np.abs(ls - target))))
            keep += small + [large[i] for i in sorted(picks)]
        with open(os.path.join(out_dir, base), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["num_workers", "devices_per_node", "size", "median_us"])
            for x in keep:
                w.writerow([x[0], x[1], int(x[2]), "%.6g" % (x[3] * 1e6)])


# ----------------------------------------------------------------------------------------------
# The cost model (the formulas a C port reproduces)

def gemm_time(p, hw, m, n, k):
    """Seconds of a fp16 GEMM C[m][n] = A[m][k] B[k][n] (arrays or scalars, as float64)."""
    m = np.asarray(m, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    nbytes = 2.0 * (m * k + k * n + m * n)
    t_mem = nbytes / (hw["mem_bandwidth_bytes_per_s"] * p["gemm_mem_efficiency"])
    tile = p["gemm_tile_m"]
    m_pad = np.where(m <= tile, m, np.ceil(m / tile) * tile)
    e = p["gemm_compute_efficiency"] / (1.0 + np.power(p["gemm_half_outputs"] / (m_pad * n), p["gemm_occupancy_exp"]))
    e = e * (k / (k + p["gemm_k_half"]))
    t_cmp = 2.0 * m_pad * n * k / (hw["peak_flops"] * e)
    hi = np.maximum(t_mem, t_cmp)
    lo = np.minimum(t_mem, t_cmp)
    return p["gemm_fixed_s"] + hi * np.power(1.0 + np.power(lo / hi, p["gemm_blend_p"]), 1.0 / p["gemm_blend_p"])


def small_time(q, hw, nbytes):
    """Seconds of a memory-bound op moving nbytes; q: fixed_s, dram_efficiency, l2_efficiency."""
    nbytes = np.asarray(nbytes, dtype=np.float64)
    e = q["dram_efficiency"] + (q["l2_efficiency"] - q["dram_efficiency"]) / (1.0 + nbytes / hw["l2_bytes"])
    return q["fixed_s"] + nbytes / (hw["mem_bandwidth_bytes_per_s"] * e)


def allreduce_floor_bytes(c):
    """Below this size the all-reduce costs as much as at it: with allreduce_exp > 1 the formula
    would otherwise grow as the buffer shrinks (its minimum is at half (exp - 1)^(1 / exp))."""
    e = c["allreduce_exp"]
    return c["allreduce_half_bytes"] * math.pow(e - 1.0, 1.0 / e) if e > 1.0 else 0.0


def allreduce_time(c, n, nbytes):
    """Seconds of a ring all-reduce of nbytes over n GPUs of one node."""
    n = np.asarray(n, dtype=np.float64)
    nbytes = np.maximum(np.asarray(nbytes, dtype=np.float64), allreduce_floor_bytes(c))
    bw = c["allreduce_bus_bytes_per_s"] / (1.0 + np.power(c["allreduce_half_bytes"] / nbytes, c["allreduce_exp"]))
    return c["allreduce_latency_s"] + 2.0 * (n - 1.0) / n * nbytes / bw


def p2p_time(latency, bw, nbytes):
    return latency + np.asarray(nbytes, dtype=np.float64) / bw


def gemm_time_c(p, hw, m, n, k):
    """gemm_time() for one GEMM with Python floats and the C library's pow() and ceil(): the exact
    operation order a C port uses (double). numpy's vectorised pow may differ from libm's in the
    last bit (seen: 4e-16 relative), so the reference values of --vectors come from here."""
    m, n, k = float(m), float(n), float(k)
    nbytes = 2.0 * (m * k + k * n + m * n)
    t_mem = nbytes / (hw["mem_bandwidth_bytes_per_s"] * p["gemm_mem_efficiency"])
    tile = p["gemm_tile_m"]
    m_pad = m if m <= tile else math.ceil(m / tile) * tile
    e = p["gemm_compute_efficiency"] / (1.0 + math.pow(p["gemm_half_outputs"] / (m_pad * n), p["gemm_occupancy_exp"]))
    e = e * (k / (k + p["gemm_k_half"]))
    t_cmp = 2.0 * m_pad * n * k / (hw["peak_flops"] * e)
    hi = max(t_mem, t_cmp)
    lo = min(t_mem, t_cmp)
    return p["gemm_fixed_s"] + hi * math.pow(1.0 + math.pow(lo / hi, p["gemm_blend_p"]), 1.0 / p["gemm_blend_p"])


def allreduce_time_c(c, n, nbytes):
    n, nbytes = float(n), max(float(nbytes), allreduce_floor_bytes(c))
    bw = c["allreduce_bus_bytes_per_s"] / (1.0 + math.pow(c["allreduce_half_bytes"] / nbytes, c["allreduce_exp"]))
    return c["allreduce_latency_s"] + 2.0 * (n - 1.0) / n * nbytes / bw


def attention_prefill_time(a, hw, head_dim, heads, pairs, mean_query_len):
    """Assumed, not fitted: FLOPs 4 head_dim heads pairs (heads: this worker's share)."""
    e = a["attn_prefill_efficiency"] * mean_query_len / (mean_query_len + a["attn_prefill_half_len"])
    return a["attn_fixed_s"] + 4.0 * head_dim * heads * pairs / (hw["peak_flops"] * e)


def attention_decode_time(a, hw, head_dim, kv_heads, context_tokens):
    """Assumed, not fitted: reads the KV cache, 2 kv_heads head_dim 2 bytes per token (this worker)."""
    return a["attn_fixed_s"] + 4.0 * kv_heads * head_dim * context_tokens / (
        hw["mem_bandwidth_bytes_per_s"] * a["attn_decode_mem_efficiency"])


# ----------------------------------------------------------------------------------------------
# Nelder-Mead (adaptive coefficients, Gao and Han 2012), minimising f over R^d

def nelder_mead(f, x0, step=0.3, max_evals=3000, tol=1e-7, restarts=2):
    x0 = np.asarray(x0, dtype=np.float64)
    d = len(x0)
    alpha, beta, gamma, delta = 1.0, 1.0 + 2.0 / d, 0.75 - 0.5 / d, 1.0 - 1.0 / d
    best_x, best_f = x0, f(x0)
    evals = 1
    for _ in range(restarts + 1):
        simplex = [best_x.copy()]
        for i in range(d):
            x = best_x.copy()
            x[i] += step
            simplex.append(x)
        values = [f(x) for x in simplex]
        evals += d
        budget = max_evals
        while budget > 0:
            order = np.argsort(values)
            simplex = [simplex[i] for i in order]
            values = [values[i] for i in order]
            if abs(values[-1] - values[0]) <= tol * (abs(values[0]) + tol):
                break
            centroid = np.mean(simplex[:-1], axis=0)
            xr = centroid + alpha * (centroid - simplex[-1])
            fr = f(xr)
            budget -= 1
            if fr < values[0]:
                xe = centroid + beta * (xr - centroid)
                fe = f(xe)
                budget -= 1
                if fe < fr:
                    simplex[-1], values[-1] = xe, fe
                else:
                    simplex[-1], values[-1] = xr, fr
            elif fr < values[-2]:
                simplex[-1], values[-1] = xr, fr
            else:
                if fr < values[-1]:
                    xc = centroid + gamma * (xr - centroid)
                else:
                    xc = centroid - gamma * (centroid - simplex[-1])
                fc = f(xc)
                budget -= 1
                if fc < min(fr, values[-1]):
                    simplex[-1], values[-1] = xc, fc
                else:
                    for i in range(1, d + 1):
                        simplex[i] = simplex[0] + delta * (simplex[i] - simplex[0])
                        values[i] = f(simplex[i])
                    budget -= d
        i = int(np.argmin(values))
        if values[i] < best_f:
            best_x, best_f = simplex[i], values[i]
        step *= 0.5
    return best_x, best_f


def soft_l1(r, scale=0.05):
    """Robust loss of log ratios: quadratic below scale, linear above."""
    z = r / scale
    return float(np.mean(2.0 * (np.sqrt(1.0 + z * z) - 1.0)))


def rel_err(pred, meas):
    return np.abs(np.asarray(pred) / np.asarray(meas) - 1.0)


def summary(e):
    e = np.asarray(e)
    if e.size == 0:
        return None
    return {"median": round(float(np.median(e)), 4), "p90": round(float(np.percentile(e, 90)), 4),
            "max": round(float(np.max(e)), 4), "n": int(e.size)}


# ----------------------------------------------------------------------------------------------
# GEMM fit

GEMM_KEYS = ["gemm_fixed_s", "gemm_mem_efficiency", "gemm_compute_efficiency", "gemm_half_outputs",
             "gemm_occupancy_exp", "gemm_k_half", "gemm_blend_p"]


def gemm_params(theta, tile):
    """Unconstrained vector -> parameters (positive through exp; blend exponent above 1)."""
    t = np.clip(theta, -60, 60)
    return {"gemm_fixed_s": math.exp(t[0]) * 1e-6, "gemm_mem_efficiency": math.exp(t[1]),
            "gemm_compute_efficiency": math.exp(t[2]), "gemm_half_outputs": math.exp(t[3]),
            "gemm_occupancy_exp": math.exp(t[4]), "gemm_k_half": math.exp(t[5]),
            "gemm_blend_p": 1.0 + math.exp(t[6]), "gemm_tile_m": float(tile)}


def gemm_theta(p):
    return np.array([math.log(p["gemm_fixed_s"] * 1e6), math.log(p["gemm_mem_efficiency"]),
                     math.log(p["gemm_compute_efficiency"]), math.log(p["gemm_half_outputs"]),
                     math.log(p["gemm_occupancy_exp"]), math.log(p["gemm_k_half"]),
                     math.log(p["gemm_blend_p"] - 1.0)])


def gemm_arrays(rows):
    m, n, k, t, op = [], [], [], [], []
    for r in rows:
        for i, name in enumerate(GEMM_OPS):
            nn, kk = gemm_shape(r, name)
            m.append(r["m"]); n.append(nn); k.append(kk); t.append(r[name]); op.append(i)
    return (np.array(m, float), np.array(n, float), np.array(k, float), np.array(t), np.array(op))


def target_objective(e, groups, ngroups):
    """Sum over groups of (median / 5%)^2 + (p90 / 12%)^2: the targets, as one number."""
    s = 0.0
    for g in range(ngroups):
        x = e[groups == g]
        s += (np.median(x) / TARGET_MED) ** 2 + (np.percentile(x, 90) / TARGET_P90) ** 2
    return s


def fit_gemm(hw, rows, tiles=(64, 128)):
    m, n, k, t, op = gemm_arrays(rows)
    logt = np.log(t)
    best = None
    for tile in tiles:
        def robust(theta):
            with np.errstate(all="ignore"):
                pred = gemm_time(gemm_params(theta, tile), hw, m, n, k)
            if not np.all(np.isfinite(pred)) or np.any(pred <= 0):
                return 1e9
            return soft_l1(np.log(pred) - logt)

        def targets(theta):
            with np.errstate(all="ignore"):
                pred = gemm_time(gemm_params(theta, tile), hw, m, n, k)
            if not np.all(np.isfinite(pred)) or np.any(pred <= 0):
                return 1e9
            return target_objective(rel_err(pred, t), op, len(GEMM_OPS))

        starts = [
            {"gemm_fixed_s": 5e-6, "gemm_mem_efficiency": 0.9, "gemm_compute_efficiency": 0.75,
             "gemm_half_outputs": 2e5, "gemm_occupancy_exp": 0.8, "gemm_k_half": 30.0, "gemm_blend_p": 3.0},
            {"gemm_fixed_s": 4e-6, "gemm_mem_efficiency": 0.8, "gemm_compute_efficiency": 0.75,
             "gemm_half_outputs": 1e5, "gemm_occupancy_exp": 1.0, "gemm_k_half": 10.0, "gemm_blend_p": 2.0},
        ]
        for s in starts:
            x, _ = nelder_mead(robust, gemm_theta(s), max_evals=2500)
            x, fx = nelder_mead(targets, x, step=0.1, max_evals=1500, restarts=1)
            if best is None or fx < best[1]:
                best = (gemm_params(x, tile), fx)
    return best[0]


# ----------------------------------------------------------------------------------------------
# Small ops fit

def fit_small(hw, rows):
    out = {}
    for kind in ("norm", "rope", "act", "add", "emb"):
        ops = [o for o, kd in SMALL_KINDS.items() if kd == kind]
        b = np.array([small_bytes(r, o) for r in rows for o in ops])
        t = np.array([r[o] for r in rows for o in ops])
        logt = np.log(t)

        def params(theta):
            th = np.clip(theta, -60, 60)
            return {"fixed_s": math.exp(th[0]) * 1e-6, "dram_efficiency": math.exp(th[1]),
                    "l2_efficiency": math.exp(th[2])}

        def loss(theta):
            pred = small_time(params(theta), hw, b)
            return soft_l1(np.log(pred) - logt)

        x, _ = nelder_mead(loss, np.array([math.log(2.0), math.log(0.4), math.log(0.6)]), max_evals=1500)
        out[kind] = {key: float("%.5g" % v) for key, v in params(x).items()}
    return out


# ----------------------------------------------------------------------------------------------
# Prediction and error tables

def predict_rows(p, hw, rows):
    """Per row: dict op -> predicted seconds (GEMMs and small ops)."""
    preds = []
    m = np.array([r["m"] for r in rows], float)
    shapes = {op: np.array([gemm_shape(r, op) for r in rows], float) for op in GEMM_OPS}
    cols = {}
    for op in GEMM_OPS:
        cols[op] = gemm_time(p, hw, m, shapes[op][:, 0], shapes[op][:, 1])
    for op, kind in SMALL_KINDS.items():
        cols[op] = small_time(p["small"][kind], hw, np.array([small_bytes(r, op) for r in rows]))
    for i in range(len(rows)):
        preds.append({op: float(cols[op][i]) for op in cols})
    return preds


GROUPS = {
    "qkv": ["attn_pre_proj"], "out_proj": ["attn_post_proj"], "mlp_up": ["mlp_up_proj"],
    "mlp_down": ["mlp_down_proj"], "mlp_up+down": ["mlp_up_proj", "mlp_down_proj"],
    "layer_sum": LAYER_OPS, "norms": None, "rope": ["attn_rope"], "act": ["mlp_act"], "add": ["add"],
    "emb": ["emb"],
}


def group_errors(rows, preds, group):
    if group == "norms":   # each norm row counted on its own
        e = []
        for r, pr in zip(rows, preds):
            for op in ("input_layernorm", "post_attention_layernorm"):
                e.append(abs(pr[op] / r[op] - 1.0))
        return np.array(e)
    ops = GROUPS[group]
    return np.array([abs(sum(pr[o] for o in ops) / sum(r[o] for o in ops) - 1.0) for r, pr in zip(rows, preds)])


def error_table(rows, preds, by_tp=True, by_model=False):
    table = {}
    for g in GROUPS:
        entry = {"all": summary(group_errors(rows, preds, g))}
        if by_tp:
            for tp in sorted({r["tp"] for r in rows}):
                idx = [i for i, r in enumerate(rows) if r["tp"] == tp]
                entry["tp%d" % tp] = summary(group_errors([rows[i] for i in idx], [preds[i] for i in idx], g))
        if by_model:
            for mo in sorted({r["model"] for r in rows}):
                idx = [i for i, r in enumerate(rows) if r["model"] == mo]
                entry[mo] = summary(group_errors([rows[i] for i in idx], [preds[i] for i in idx], g))
        table[g] = entry
    return table


def fit_gpu(hw, rows, tiles=(64, 128)):
    p = fit_gemm(hw, rows, tiles)
    p = {key: float("%.5g" % v) for key, v in p.items()}
    p["small"] = fit_small(hw, rows)
    return p


# ----------------------------------------------------------------------------------------------
# Collectives

def fit_collectives(data_dir, testbed):
    ar = load_net(data_dir, testbed, "all_reduce")
    intra = [x for x in ar if x[0] == x[1] and 8192 <= x[2] <= 64 * 2 ** 20]
    n = np.array([x[0] for x in intra], float)
    b = np.array([x[2] for x in intra])
    t = np.array([x[3] for x in intra])

    def params(theta):
        th = np.clip(theta, -60, 60)
        return {"allreduce_latency_s": math.exp(th[0]) * 1e-6, "allreduce_bus_bytes_per_s": math.exp(th[1]) * 1e9,
                "allreduce_half_bytes": math.exp(th[2]), "allreduce_exp": 0.5 + math.exp(th[3])}

    def loss(theta):
        c_ = params(theta)
        if c_["allreduce_bus_bytes_per_s"] > 2e12:   # keep the bandwidth physical (NVLink: < 1e12)
            return 1e9
        return soft_l1(np.log(allreduce_time(c_, n, b)) - np.log(t))

    x, _ = nelder_mead(loss, np.array([math.log(20.0), math.log(300.0), math.log(1e6), math.log(0.5)]), max_evals=3000)
    c = {key: float("%.5g" % v) for key, v in params(x).items()}
    errors = {"rows_8KiB_64MiB": {"all": summary(rel_err(allreduce_time(c, n, b), t))}}
    for w in (2, 4, 8):
        errors["rows_8KiB_64MiB"]["n%d" % w] = summary(rel_err(allreduce_time(c, n[n == w], b[n == w]), t[n == w]))
    # The sizes an iteration all-reduces: tokens x hidden x 2 bytes, measured time interpolated
    # (log-log, between neighbouring measured sizes) at each size.
    it = {}
    allv = []
    for w in (2, 4, 8):
        pts = sorted((x[2], x[3]) for x in ar if x[0] == w and x[1] == w)
        ls = np.log([p_[0] for p_ in pts])
        lt = np.log([p_[1] for p_ in pts])
        sizes = np.array([tok * hid * 2.0 for hid in (4096, 5120, 8192) for tok in range(1, MAX_TOKENS + 1)])
        sizes = sizes[sizes >= pts[0][0]]
        meas = np.exp(np.interp(np.log(sizes), ls, lt))
        e = rel_err(allreduce_time(c, w, sizes), meas)
        it["n%d" % w] = summary(e)
        allv.append(e)
    it["all"] = summary(np.concatenate(allv))
    errors["iteration_sizes"] = it

    sr = load_net(data_dir, testbed, "send_recv")
    links = {}
    for dpn, name in ((2, "intra"), (1, "inter")):
        pts = [x for x in sr if x[1] == dpn and x[2] >= 8192]
        bb = np.array([x[2] for x in pts])
        tt = np.array([x[3] for x in pts])

        def sloss(theta):
            return soft_l1(np.log(p2p_time(math.exp(theta[0]) * 1e-6, math.exp(theta[1]) * 1e9, bb)) - np.log(tt))

        y, _ = nelder_mead(sloss, np.array([math.log(10.0), math.log(50.0)]), max_evals=800)
        lat, bw = float("%.5g" % (math.exp(y[0]) * 1e-6)), float("%.5g" % (math.exp(y[1]) * 1e9))
        links["p2p_%s_latency_s" % name] = lat
        links["p2p_%s_bytes_per_s" % name] = bw
        errors["send_recv_%s" % name] = summary(rel_err(p2p_time(lat, bw, bb), tt))
    c.update(links)
    # Multi-node all-reduces (a100_dgx only), informational: alpha-beta per (workers, per node).
    multi = {}
    for key in sorted({(x[0], x[1]) for x in ar if x[0] != x[1]}):
        pts = [x for x in ar if (x[0], x[1]) == key and x[2] >= 8192]
        bb = np.array([x[2] for x in pts])
        tt = np.array([x[3] for x in pts])
        w = key[0]

        def mloss(theta):
            return soft_l1(np.log(math.exp(theta[0]) * 1e-6 + 2.0 * (w - 1) / w * bb / (math.exp(theta[1]) * 1e9)) - np.log(tt))

        y, _ = nelder_mead(mloss, np.array([math.log(50.0), math.log(10.0)]), max_evals=800)
        lat, bw = math.exp(y[0]) * 1e-6, math.exp(y[1]) * 1e9
        pred = lat + 2.0 * (w - 1) / w * bb / bw
        multi["%dx%d" % (w // key[1], key[1])] = {"latency_s": float("%.4g" % lat), "bus_bytes_per_s": float("%.4g" % bw),
                                                  "error": summary(rel_err(pred, tt))}
    return c, errors, multi


# ----------------------------------------------------------------------------------------------
# Reporting

def fmt_table(title, table, cols):
    lines = [title, "  %-12s" % "group" + "".join("%-22s" % c for c in cols)]
    for g, entry in table.items():
        cells = []
        for c in cols:
            s = entry.get(c)
            cells.append("%-22s" % ("-" if s is None else "%.3f/%.3f/%.2f" % (s["median"], s["p90"], s["max"])))
        lines.append("  %-12s" % g + "".join(cells))
    return "\n".join(lines)


def derived_specs(fitted):
    """H200: the H100 fit with the H200's datasheet bandwidth (same compute, same efficiencies)."""
    out = {}
    if "h100" in fitted:
        h200 = json.loads(json.dumps(fitted["h100"]))
        h200["device"] = {"name": "H200-SXM-141GB", "peak_flops": 989e12, "mem_bandwidth_bytes_per_s": 4.8e12,
                          "l2_bytes": 50e6}
        h200["derived"] = "h100 fit, mem_bandwidth_bytes_per_s 4.8e12 (datasheet); not measured"
        out["h200"] = h200
    return out


def vectors(fitted, links):
    """Reference values for unit tests of a C port: Llama-2-7B-like shapes, tp 1 (scalar, libm)."""
    out = []
    for tb, c in links.items():
        for n in (2, 8):
            for nbytes in (8192.0, 2.0 * 4096 * 4096):
                out.append({"testbed": tb, "op": "all_reduce", "workers": n, "bytes": nbytes,
                            "seconds": repr(allreduce_time_c(c, n, nbytes))})
    shapes = {"attn_pre_proj": (12288, 4096), "attn_post_proj": (4096, 4096),
              "mlp_up_proj": (22016, 4096), "mlp_down_proj": (4096, 11008)}
    for gpu, p in fitted.items():
        hw = GPUS[gpu]
        for m in (1, 100, 129, 1000, 4096):
            for op, (n, k) in shapes.items():
                out.append({"gpu": gpu, "op": op, "m": m, "n": n, "k": k,
                            "seconds": repr(gemm_time_c(p, hw, m, n, k))})
            for kind, nbytes in (("norm", 4.0 * m * 4096 + 2 * 4096), ("act", 6.0 * m * 11008)):
                out.append({"gpu": gpu, "op": kind, "m": m, "bytes": nbytes,
                            "seconds": repr(float(small_time(p["small"][kind], hw, nbytes)))})
        a = ATTENTION[gpu]
        for L in (512, 4096):   # one prefill of L tokens, 32 heads of 128 (Llama-2-7B, tp 1)
            pairs = L * (L + 1) / 2.0
            out.append({"gpu": gpu, "op": "attn_prefill", "heads": 32, "head_dim": 128, "pairs": pairs,
                        "mean_query_len": L,
                        "seconds": repr(float(attention_prefill_time(a, hw, 128, 32, pairs, float(L))))})
        for D in (1024, 65536):  # decode over D cached tokens in all, 8 kv heads of 128 (Llama-3-8B, tp 1)
            out.append({"gpu": gpu, "op": "attn_decode", "kv_heads": 8, "head_dim": 128, "context_tokens": D,
                        "seconds": repr(float(attention_decode_time(a, hw, 128, 8, float(D))))})
    return out


SPEC_FILES = {"h100": "h100-80gb.json", "a100": "a100-80gb.json"}
SPEC_GROUPS = ["qkv", "out_proj", "mlp_up", "mlp_down", "mlp_up+down", "layer_sum", "norms", "rope",
               "act", "add", "emb"]


def decoder_section(p, c, gpu, result, source):
    """The "decoder" member of a hardware spec (src/profiler/include/prof_hw.h)."""
    a = ATTENTION[gpu]
    fit_error = {"note": "median / p90 relative error of the fit over the measured rows "
                         "(num_tokens 1..%d, tp 1, 2, 4, 8); all_reduce: at iteration sizes" % MAX_TOKENS}
    for g in SPEC_GROUPS:
        e = result["errors"][g]["all"]
        fit_error[g] = [e["median"], e["p90"]]
    it = result["collectives"]["iteration_sizes"]["all"]
    fit_error["all_reduce"] = [it["median"], it["p90"]]
    return {
        "source": source,
        "fit_error": fit_error,
        "gemm": {k[len("gemm_"):]: p[k] for k in GEMM_KEYS + ["gemm_tile_m"]},
        "small_ops": p["small"],
        "attention": {"prefill_efficiency": a["attn_prefill_efficiency"],
                      "prefill_half_len": a["attn_prefill_half_len"],
                      "decode_mem_efficiency": a["attn_decode_mem_efficiency"],
                      "fixed_s": a["attn_fixed_s"],
                      "note": "assumed, not fitted (no attention measurements): " + a["note"]},
        "allreduce": {k[len("allreduce_"):]: c[k] for k in
                      ("allreduce_latency_s", "allreduce_bus_bytes_per_s", "allreduce_half_bytes", "allreduce_exp")},
        "p2p": {"intra_node_latency_s": c["p2p_intra_latency_s"], "intra_node_bytes_per_s": c["p2p_intra_bytes_per_s"],
                "inter_node_latency_s": c["p2p_inter_latency_s"], "inter_node_bytes_per_s": c["p2p_inter_bytes_per_s"]},
    }


def write_specs(fitted, links, results):
    """Set the "decoder" member and device.l2_bytes of the bundled hardware specs."""
    for gpu, name in SPEC_FILES.items():
        if gpu not in fitted:
            continue
        tb = GPUS[gpu]["testbed"]
        section = decoder_section(fitted[gpu], links[tb], gpu, results[gpu],
                                  "tools/calibrate_llm.py: fitted to Vidur's per-operator measurements on %s "
                                  "(data/reference/vidur-llm: %s)" % (GPUS[gpu]["name"], ", ".join(
                                      sorted({r for r in results[gpu]["errors"]["qkv"] if r not in
                                              ("all", "tp1", "tp2", "tp4", "tp8")}))))
        targets = [(name, section)]
        if gpu == "h100":
            h200 = json.loads(json.dumps(section))
            h200["source"] = ("the H100's fit (tools/calibrate_llm.py) with the H200's own peak and bandwidth "
                              "(device): not measured on an H200; its device-to-device copies reached "
                              "4.1-4.2e12 bytes/s, so GEMV-like work may run up to 10%% slower than this predicts")
            targets.append(("h200-141gb.json", h200))
        for fname, sec in targets:
            path = os.path.join(ROOT, "data", "hardware", fname)
            with open(path) as f:
                spec = json.load(f)
            spec["device"]["l2_bytes"] = GPUS["h100" if fname.startswith("h200") else gpu]["l2_bytes"]
            spec["decoder"] = sec
            with open(path, "w") as f:
                json.dump(spec, f, indent=1)
                f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", default=DEFAULT_DATA)
    ap.add_argument("-o", "--output")
    ap.add_argument("--gpu", choices=sorted(GPUS), action="append")
    ap.add_argument("--no-heldout", action="store_true")
    ap.add_argument("--vectors", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--write-specs", action="store_true",
                    help="write the fit into data/hardware/{h100-80gb,a100-80gb,h200-141gb}.json")
    ap.add_argument("--bundle", metavar="OUT_DIR",
                    help="write the compact subset of DATA_DIR (published form) that muxplan bundles, then stop")
    ap.add_argument("--validate", metavar="DIR",
                    help="also report the fitted model's errors on the *_mlp.csv of DIR (not fitted to them)")
    args = ap.parse_args()
    if args.bundle:
        bundle(args.data, args.bundle)
        return

    rows_all = load_ops(args.data)
    results = {}
    fitted, links = {}, {}
    for gpu in args.gpu or ["h100", "a100"]:
        hw = GPUS[gpu]
        rows = [r for r in rows_all if r["gpu"] == gpu and r["m"] <= MAX_TOKENS]
        p = fit_gpu(hw, rows)
        preds = predict_rows(p, hw, rows)
        table = error_table(rows, preds, by_tp=True, by_model=True)
        result = {"gpu": gpu, "device": hw, "params": p, "errors": table}
        beyond = [r for r in rows_all if r["gpu"] == gpu and r["m"] > MAX_TOKENS]
        if beyond:
            result["errors_beyond_4096_tokens"] = error_table(beyond, predict_rows(p, hw, beyond), by_tp=False)
        if not args.no_heldout:
            held = {}
            for mo in sorted({r["model"] for r in rows}):
                train = [r for r in rows if r["model"] != mo]
                test = [r for r in rows if r["model"] == mo]
                ph = fit_gpu(hw, train, tiles=(int(p["gemm_tile_m"]),))
                held[mo] = {"params": {k_: ph[k_] for k_ in GEMM_KEYS},
                            "errors": error_table(test, predict_rows(ph, hw, test), by_tp=True)}
            result["heldout"] = held
        if args.validate:
            extra = [r for r in load_ops(args.validate) if r["gpu"] == gpu and r["m"] <= MAX_TOKENS]
            result["validation"] = {}
            for mo in sorted({r["model"] for r in extra}):
                test = [r for r in extra if r["model"] == mo]
                result["validation"][mo] = error_table(test, predict_rows(p, hw, test), by_tp=True)
        fitted[gpu] = p
        results[gpu] = result
        print(json.dumps(result), flush=True)
        if args.table:
            cols = ["all", "tp1", "tp2", "tp4", "tp8"]
            print(fmt_table("%s: median/p90/max relative error, num_tokens 1..%d" % (gpu, MAX_TOKENS), table, cols), file=sys.stderr)
            print(fmt_table("%s by model" % gpu, table, sorted({r["model"] for r in rows})), file=sys.stderr)
            for mo, h in result.get("heldout", {}).items():
                print(fmt_table("%s held out %s (fit on the others)" % (gpu, mo), h["errors"], cols), file=sys.stderr)
            for mo, t_ in result.get("validation", {}).items():
                print(fmt_table("%s validation %s (not fitted)" % (gpu, mo), t_, cols), file=sys.stderr)
            if beyond:
                print(fmt_table("%s beyond %d tokens (extrapolation)" % (gpu, MAX_TOKENS), result["errors_beyond_4096_tokens"], ["all"]), file=sys.stderr)
        tb = hw["testbed"]
        c, errs, multi = fit_collectives(args.data, tb)
        links[tb] = c
        results[gpu]["collectives"] = errs
        print(json.dumps({"testbed": tb, "params": c, "errors": errs, "multi_node_informational": multi}), flush=True)
        if args.table:
            print("%s collectives: %s" % (tb, json.dumps(errs)), file=sys.stderr)
    if args.vectors:
        for v in vectors(fitted, links):
            print(json.dumps(v))
    if args.write_specs:
        write_specs(fitted, links, results)
    if args.output:
        doc = {"format": "muxplan-llm-calibration/1",
               "source": "tools/calibrate_llm.py on Vidur's per-operator profiles (%s)" % os.path.abspath(args.data),
               "gpus": {g: dict(fitted[g], device=GPUS[g], attention_assumed=ATTENTION[g]) for g in fitted},
               "links": links}
        for g, spec in derived_specs(fitted).items():
            spec["attention_assumed"] = dict(ATTENTION["h100"])
            doc["gpus"][g] = spec
        with open(args.output, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
