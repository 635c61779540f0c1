#!/usr/bin/env python3
"""Time AlpaServe's numba-compiled fast simulators on sim_throughput's case, for comparison.

AlpaServe is not bundled: pass the path of its alpa_serve/simulator/controller.py (alpa-projects/mms).
Its two simulators are loaded from that file unmodified and called on the inputs built the way its
approximate_one_case_one_placement builds them (float32 latencies with the 0.009 pp factor, float32
SLOs, replica lists in group order):
  simulate_requests_mixed  the per-stage recurrence, which AlpaServe's planner calls;
  simulate_requests        its closed form per group (sum and max of the stage latencies).
Prints one JSON line per simulator (best and median of --repeat timed calls after one warm-up call).

usage: build/bench/sim_throughput --repeat 1 --write-case DIR
       build/src/muxplan profile export data/profiles/v100-reference.h5 -o PROFILE.json
       bench/alpaserve_sim.py --controller .../controller.py --case DIR --profile PROFILE.json
Needs numpy, numba and h5py (pip).
"""
import argparse
import ast
import json
import time

import h5py
import numba
import numpy as np

SIMULATORS = ("simulate_requests_mixed", "simulate_requests")


def load_simulators(path):
    """The two functions of AlpaServe's controller.py, compiled as it compiles them."""
    tree = ast.parse(open(path).read(), path)
    namespace = {"np": np, "numba": numba, "inf": float("inf")}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in SIMULATORS:
            exec(compile(ast.Module([node], []), path, "exec"), namespace)
    missing = [name for name in SIMULATORS if name not in namespace]
    if missing:
        raise SystemExit(f"{path}: no function {', '.join(missing)}")
    return namespace


def stage_latencies(profile, base, op, pp):
    for model in profile["models"]:
        if model["name"] != base:
            continue
        for config in model["configs"]:
            if config["op"] == op and config["pp"] == pp:
                return config["batches"][0]["stage_latency_s"]
    raise SystemExit(f"profile: no ({op}, {pp}) config of {base}")


def build_inputs(case, profile):
    plan = json.load(open(f"{case}/plan.json"))
    with h5py.File(f"{case}/trace.h5", "r") as trace:
        arrival = trace["arrival_s"][:].astype(np.float64)
        model = trace["model"][:].astype(np.int32)
        slo = trace["slo_s"][:].astype(np.float32)
        names = [n.decode() if isinstance(n, bytes) else n for n in trace["model_names"][:]]
    base_of = {m["name"]: m["base"] for m in plan["models"]}
    groups = plan["groups"]
    n_models, n_groups = len(names), len(groups)
    max_pp = max(g["pp"] for g in groups)
    replicas = np.full((n_models, n_groups), -1, dtype=np.int32)
    n_replicas = [0] * n_models
    stage = np.zeros((n_models, n_groups, max_pp), dtype=np.float32)
    largest = np.full((n_models, n_groups), np.inf, dtype=np.float32)
    total = np.full((n_models, n_groups), np.inf, dtype=np.float32)
    for g, group in enumerate(groups):
        for name in group["models"]:
            m = names.index(name)
            replicas[m][n_replicas[m]] = g
            n_replicas[m] += 1
            lat = stage_latencies(profile, base_of[name], group["op"], group["pp"])
            penalty = 1 + 0.009 * len(lat)
            stage[m][g][: len(lat)] = [x * penalty for x in lat]
            largest[m][g] = max(lat) * penalty
            total[m][g] = sum(lat) * penalty
    num_stages = np.array([g["pp"] for g in groups], dtype=np.int32)
    return arrival, model, slo, replicas, num_stages, stage, largest, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controller", required=True)
    parser.add_argument("--case", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    sims = load_simulators(args.controller)
    profile = json.load(open(args.profile))
    arrival, model, slo, replicas, num_stages, stage, largest, total = build_inputs(
        args.case, profile)
    n = len(arrival)
    finish, good = np.empty(n), np.empty(n, dtype=bool)
    calls = {
        "simulate_requests_mixed": lambda: sims["simulate_requests_mixed"](
            finish, good, arrival, model, slo, replicas, num_stages, stage, n),
        "simulate_requests": lambda: sims["simulate_requests"](
            finish, good, arrival, model, slo, replicas, largest, total, n),
    }
    for name, call in calls.items():
        call()  # compiles
        seconds = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - start)
        seconds.sort()
        best, median = seconds[0], seconds[len(seconds) // 2]
        print(json.dumps({"bench": "alpaserve_sim", "simulator": name, "requests": n,
                          "seconds": round(best, 6), "median_seconds": round(median, 6),
                          "requests_per_s": round(n / best), "median_requests_per_s":
                          round(n / median), "good": int(good.sum())}))


if __name__ == "__main__":
    main()
