#!/usr/bin/env python3
"""Fit the roofline's efficiency model (docs/profiler.md) to observations.

  tools/calibrate.py v100 [--iterations N]   fit data/hardware/v100-16gb.json's efficiency, fixed
                                             costs and links to data/reference/v100-published.json
  tools/calibrate.py h200 DB.json            fit an H200 spec's efficiency to the per-layer times a
                                             cuda-backend DB measured (muxplan profile export)

Prints the fitted values as a JSON object and the largest errors; it edits no file. It mirrors the
C cost model (src/profiler/prof_ops.c, prof_roofline.c, prof_build.c) and needs numpy and scipy
(pip install numpy scipy), which the build does not. The fit minimises the largest relative error
(over its bound, for v100) with differential evolution, then Nelder-Mead.
"""
import argparse, glob, json, os, sys

from scipy.optimize import differential_evolution, minimize

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_zoo():
    return {os.path.basename(p)[:-5]: json.load(open(p)) for p in glob.glob(os.path.join(ROOT, "data/models/*.json"))}


def layer_ops(a, batch, op, elem=2):
    """(is_gemm, is_attention, flops, bytes, m, k) per op of one layer, as prof_layer_ops()."""
    s, h, heads = a["seq"], a["hidden"], a["heads"]
    f, d, tokens, hh = a.get("ffn", 4 * h) // op, h // heads, batch * s, heads // op
    out = []
    def gemm(m, n, k, count, attention=False):
        out.append((True, attention, 2.0 * m * n * k * count, (m * k + k * n + m * n) * elem * count, m, k))
    def rowwise(m, n, count, inputs):
        out.append((False, False, 0.0, (inputs + 1) * m * n * count * elem, 0, 0))
    gemm(tokens, 3 * h // op, h, 1)
    gemm(s, s, d, batch * hh, True)
    rowwise(batch * hh * s, s, 1, 1)
    gemm(s, d, s, batch * hh, True)
    gemm(tokens, h, h // op, 1)
    rowwise(tokens, h, 2, 1)
    if a["kind"] == "moe":
        experts = a["experts"]
        per_expert = (tokens * a.get("top_k", 2) + experts - 1) // experts
        gemm(per_expert, f, h, experts)
        rowwise(per_expert * experts, f, 1, 1)
        gemm(per_expert, h, f, experts)
    else:
        gemm(tokens, f, h, 1)
        rowwise(tokens, f, 1, 1)
        gemm(tokens, h, f, 1)
    rowwise(tokens, h, 2, 2)
    return out


def layer_time(a, batch, op, peak, bandwidth, eff):
    t = eff["layer_overhead_s"]
    for is_gemm, attention, flops, nbytes, m, k in layer_ops(a, batch, op):
        memory = nbytes / (bandwidth * eff["memory_efficiency"])
        if not is_gemm:
            t += memory
            continue
        if attention:
            e = eff["attention_max"]
        else:
            e = max(eff["gemm_min"], eff["gemm_max"] / (1 + (eff["gemm_half_mk"] / (m * k)) ** eff["gemm_steepness"]))
        t += max(flops / (peak * e), memory)
    return t


def fit(loss, bounds, names, iterations):
    def bounded(x):
        return 1e9 if any(v < lo or v > hi for v, (lo, hi) in zip(x, bounds)) else loss(dict(zip(names, x)))
    r = differential_evolution(bounded, bounds, seed=2, maxiter=iterations, popsize=20, tol=1e-12, polish=False)
    x = r.x
    r2 = minimize(bounded, x, method="Nelder-Mead", options={"maxiter": 20000})
    if r2.fun < r.fun:
        x = r2.x
    return dict(zip(names, (float(v) for v in x))), min(r.fun, r2.fun)


def v100(iterations):
    ref = json.load(open(os.path.join(ROOT, "data/reference/v100-published.json")))
    zoo = load_zoo()
    observations = [o for o in ref["observations"] if o["model"] in ("bert-1.3b", "bert-2.6b", "bert-6.7b")]
    names = ["gemm_max", "log10_half_mk", "gemm_steepness", "gemm_min", "attention_max", "memory_efficiency",
             "stage_overhead_s", "first_stage_s", "last_stage_s", "intra_gb_s", "inter_gb_s", "inter_latency_s"]
    bounds = [(0.3, 1), (5, 8), (0.5, 16), (0, 0.3), (0.05, 1), (0.3, 1), (0, 2e-3), (0, 3e-3), (0, 4e-3),
              (5, 300), (0.5, 4), (0, 5e-3)]

    def predict(o, x):
        a = zoo[o["model"]]
        eff = dict(gemm_max=x["gemm_max"], gemm_half_mk=10 ** x["log10_half_mk"], gemm_steepness=x["gemm_steepness"],
                   gemm_min=x["gemm_min"], attention_max=x["attention_max"], memory_efficiency=x["memory_efficiency"],
                   layer_overhead_s=0)
        b, op, pp = o["batch"], o["op"], o["pp"]
        activation = b * a["seq"] * a["hidden"] * 2
        lt = layer_time(a, b, op, 125e12, 900e9, eff)
        if op > 1:
            lt += 2 * (2 * (op - 1) / op * activation / (x["intra_gb_s"] * 1e9) + 2 * (op - 1) * 1e-5)
        layers = a["layers"]
        per_stage = [layers // pp + (1 if k < layers % pp else 0) for k in range(pp)]
        stages = [n * lt + x["stage_overhead_s"] for n in per_stage]
        stages[0] += x["first_stage_s"]
        stages[-1] += x["last_stage_s"]
        for k in range(pp - 1):  # each stage sends its output on
            crosses = (k + 1) * op % 8 == 0
            stages[k] += (activation / (x["inter_gb_s"] * 1e9) + x["inter_latency_s"]) if crosses else (activation / (x["intra_gb_s"] * 1e9) + 1e-5)
        return stages if "stage_latency_s" in o else [sum(stages)]

    def errors(x):
        for o in observations:
            observed = o.get("stage_latency_s") or [o["total_latency_s"]]
            for p, r in zip(predict(o, x), observed):
                yield o, p / r - 1

    def loss(x):
        return max(abs(e) / (0.05 if o["pp"] <= 8 else 0.10) for o, e in errors(x))

    x, best = fit(loss, bounds, names, iterations)
    print(json.dumps(x, indent=1))
    print("largest error over its bound: %.3f" % best, file=sys.stderr)


def h200(db_path, iterations):
    db = json.load(open(db_path))
    provenance = db["provenance"] if isinstance(db["provenance"], dict) else json.loads(db["provenance"])
    zoo = load_zoo()
    rows = [(zoo[m["model"]], e["batch"], e["layer_s"]) for m in provenance["raw"]
            if m["model"] in zoo and m["model"].split("-")[0] in ("bert", "moe") for e in m["layers"] if e["op"] == 1]
    names = ["gemm_max", "log10_half_mk", "gemm_steepness", "attention_max", "memory_efficiency", "layer_overhead_s"]
    bounds = [(0.3, 1), (3, 9), (0.3, 8), (0.02, 1), (0.2, 1), (0, 2e-4)]

    def loss(x):
        eff = dict(x, gemm_half_mk=10 ** x["log10_half_mk"], gemm_min=0)
        return max(abs(layer_time(a, b, 1, 989e12, 4.8e12, eff) / t - 1) for a, b, t in rows)

    x, best = fit(loss, bounds, names, iterations)
    print(json.dumps(x, indent=1))
    print("largest layer-time error: %.3f" % best, file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["v100", "h200"])
    p.add_argument("db", nargs="?", help="h200: the measured DB exported as JSON")
    p.add_argument("--iterations", type=int, default=500)
    args = p.parse_args()
    if args.what == "v100":
        v100(args.iterations)
    elif not args.db:
        p.error("h200 needs the measured DB as JSON (muxplan profile export DB.h5 -o DB.json)")
    else:
        h200(args.db, args.iterations)


if __name__ == "__main__":
    main()
