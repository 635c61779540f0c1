#!/usr/bin/env python3
"""Run AlpaServe's own placement policy on a muxplan case and write its plan as muxplan-plan/1.

The golden plans of tests/planner/golden were made with this harness (see the README there).
AlpaServe is not bundled: --mms names a checkout of alpa-projects/mms (the directory holding
alpa_serve/); its modules are imported from there unmodified. The harness only translates inputs
and outputs:

  models    models.json order is AlpaServe's model order (ModelData list); each model's
            ProfilingResult holds every config of its base in the profile (muxplan profile export
            JSON): latency {batch: stage_latency_s}, weight_mem = weight_bytes per stage,
            act_mem zeros. ModelData.slo is the model's SLO in the trace, ModelData.rate its
            request count / the trace's duration_s (AlpaServe's separation uses the rates).
  workload  the trace's requests in order: Workload(arrival_s, Request(model name, slo_s)).
  cluster   ClusterEnv(devices, mem_budget_bytes, devices_per_node).
  policy    sr             SelectiveReplicationGreedy
            sr --beam K    SelectiveReplicationSearch with beam_size K
            round-robin    ModelParallelismRR (AlpaServe fixes its group size at 4)
            greedy-S       ModelParallelismGreedy(group_size=S)
            greedy-S --beam K  replica_placement_beam_search(K) from ModelParallelismGreedy's
                           initial groups (AlpaServe has no class for this pairing)
            alpaserve      ModelParallelismSearch()          ("mp-search")
            alpaserve-sep  ModelParallelismSearch(use_separation=True)   ("mp-search-sep")
            clockwork++    SelectiveReplicationReplacement(--window)

Devices: AlpaServe's placements are lists of (config, models) whose groups its greedy reorders
(ModelPlacement.normalize); a group's devices are the block its initial layout gave it. To name
them, the harness wraps ModelPlacement.add_model and .normalize (calling the originals and
recomputing normalize's permutation with the same stable sort) to carry each group's first device
along; alpaserve-sep's concatenation offsets each bucket's devices by the parts before it. The
wrappers change nothing else (the plan is the same without them: --no-device-tracking checks).

--argsort-ties low|high (diagnostic): numpy's argsort, as AlpaServe's modules see it, breaks ties
toward the lower index (a stable sort, what numpy < 1.25 does on arrays of up to 16 elements) or
the higher. A plan that is the same under both does not depend on how numpy breaks ties.

--compare PLAN.json compares the result with a muxplan plan: per segment and group in order, config
and models, then devices; exit status 3 on any difference. Segment start times are only noted
(AlpaServe's clockwork++ windows start at their first request, muxplan's at multiples of --window).

Needs numpy, numba, h5py and what alpa_serve imports (ray, fastapi, starlette, uvicorn, scipy,
matplotlib); see tests/planner/golden/README.md for the versions used.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np


def load_case(case):
    cluster = json.load(open(os.path.join(case, "cluster.json")))
    models = json.load(open(os.path.join(case, "models.json")))["models"]
    with h5py.File(os.path.join(case, "trace.h5"), "r") as t:
        arrival = t["arrival_s"][:].astype(np.float64)
        model = t["model"][:].astype(np.int64)
        slo = t["slo_s"][:].astype(np.float64)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in t["model_names"][:]]
        duration = float(t.attrs["duration_s"])
    return cluster, models, arrival, [names[i] for i in model], slo, duration


class TiedNumpy:
    """numpy as AlpaServe's modules see it, with argsort's ties broken one fixed way."""

    def __init__(self, ties):
        self.ties = ties

    def __getattr__(self, name):
        return getattr(np, name)

    def argsort(self, a, *args, **kwargs):
        a = np.asarray(a)
        if self.ties == "low":
            return np.argsort(a, kind="stable")
        rev = np.argsort(a[::-1], kind="stable")
        return (len(a) - 1 - rev).astype(np.intp)


def alpaserve_inputs(mms, case, profile_path):
    """AlpaServe's modules and the case as its inputs: ModelData list, Workload, ClusterEnv."""
    sys.path.insert(0, os.path.abspath(mms))
    with contextlib.redirect_stdout(sys.stderr):  # AlpaServe prints progress
        from alpa_serve.profiling import ParallelConfig, ProfilingResult, LatencyMemData
        from alpa_serve.simulator.workload import Workload, Request
        from alpa_serve.placement_policy import base_policy as bp
        from alpa_serve.placement_policy import model_parallelism as mp
        from alpa_serve.placement_policy import selective_replication as sr

    cluster, models, arrival, req_names, slo, duration = load_case(case)
    profile = json.load(open(profile_path))
    bases = {m["name"]: m for m in profile["models"]}

    counts = {m["name"]: 0 for m in models}
    slo_of = {}
    for name, s in zip(req_names, slo):
        counts[name] += 1
        slo_of.setdefault(name, float(s))
    model_datas = []
    for m in models:
        para = {}
        for c in bases[m["base"]]["configs"]:
            lat = {b["batch"]: list(b["stage_latency_s"]) for b in c["batches"]}
            para[ParallelConfig(c["dp"], c["op"], c["pp"])] = LatencyMemData(
                latency=lat, act_mem={b: [0] * c["pp"] for b in lat},
                weight_mem=list(c["weight_bytes"]))
        prof = ProfilingResult(m["name"], para, 0, 0)
        rate = counts[m["name"]] / duration if duration > 0 else counts[m["name"]]
        model_datas.append(bp.ModelData(m["name"], slo_of.get(m["name"], 0.0), rate, 1.0, prof))
    requests = [Request(n, None, float(s), i, {}) for i, (n, s) in enumerate(zip(req_names, slo))]
    workload = Workload(list(arrival), requests)
    env = bp.ClusterEnv(num_devices=cluster["devices"], mem_budget=cluster["mem_budget_bytes"],
                        num_devices_per_node=cluster["devices_per_node"])
    return (ParallelConfig, bp, mp, sr), model_datas, workload, env, models


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mms", required=True, help="checkout of alpa-projects/mms")
    ap.add_argument("--case", required=True, help="folder with cluster.json, models.json, trace.h5")
    ap.add_argument("--profile", required=True, help="muxplan profile export JSON")
    ap.add_argument("--policy", required=True)
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--window", type=float, default=60.0, help="clockwork++ window (s)")
    ap.add_argument("--argsort-ties", choices=("numpy", "low", "high"), default="numpy")
    ap.add_argument("--no-device-tracking", action="store_true")
    ap.add_argument("--verbose", type=int, default=0, help="AlpaServe's verbose level")
    ap.add_argument("--compare", help="a muxplan plan to compare with")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()

    mods, model_datas, workload, env, models = alpaserve_inputs(args.mms, args.case, args.profile)
    ParallelConfig, bp, mp, sr = mods
    requests = workload.requests
    if args.argsort_ties != "numpy":
        for mod in (bp, mp, sr):
            mod.np = TiedNumpy(args.argsort_ties)

    # Device tracking: each placement carries its groups' first devices.
    MP = bp.ModelPlacement
    orig_add, orig_norm = MP.add_model, MP.normalize

    def first_devices(p):
        d = getattr(p, "_dev", None)
        if d is None:  # an initial layout: blocks in list order
            d, at = [], 0
            for c in p.group_configs:
                d.append(at)
                at += c.op * c.pp
        return d

    def add_model(self, group_id, model_id):
        out = orig_add(self, group_id, model_id)
        out._dev = first_devices(self)
        return out

    def normalize(self):
        out = orig_norm(self)
        key = tuple(tuple(sorted(x)) for x in self.group_models)
        order = sorted(range(len(self.group_configs)), key=lambda i: key[i])
        d = first_devices(self)
        out._dev = [d[i] for i in order]
        return out

    tracking = not args.no_device_tracking
    if tracking:
        MP.add_model, MP.normalize = add_model, normalize

    policy_name, beam = args.policy, args.beam
    with contextlib.redirect_stdout(sys.stderr):
        if policy_name == "sr" and beam == 1:
            pol = sr.SelectiveReplicationGreedy(verbose=args.verbose)
        elif policy_name == "sr":
            pol = sr.SelectiveReplicationSearch(verbose=args.verbose)
            pol.beam_size = beam
        elif policy_name == "round-robin":
            pol = mp.ModelParallelismRR(verbose=args.verbose)
        elif policy_name.startswith("greedy-"):
            pol = mp.ModelParallelismGreedy(group_size=int(policy_name[7:]), verbose=args.verbose)
        elif policy_name == "alpaserve":
            pol = mp.ModelParallelismSearch(verbose=args.verbose)
        elif policy_name == "alpaserve-sep":
            pol = mp.ModelParallelismSearch(use_separation=True, verbose=args.verbose)
            orig_one_eco, orig_sep = pol.solve_placement_one_eco, mp.solve_separation_placement
            solved = []

            def one_eco(*a, **k):
                sol, info = orig_one_eco(*a, **k)
                solved.append(sol)
                return sol, info

            def separation(self, eco_separation, model_id_map, train_workload):
                del solved[:]
                sol = orig_sep(self, eco_separation, model_id_map, train_workload)
                dev, offset = [], 0
                for part, (_, sub_env) in zip(solved, eco_separation):
                    dev += [offset + d for d in first_devices(part)]
                    offset += sub_env.num_devices
                sol._dev = dev
                return sol

            if tracking:
                pol.solve_placement_one_eco, mp.solve_separation_placement = one_eco, separation
        elif policy_name == "clockwork++":
            pol = sr.SelectiveReplicationReplacement(args.window, verbose=args.verbose)
        else:
            sys.exit(f"unknown policy {policy_name}")
        if beam > 1 and policy_name not in ("sr",) and not policy_name.startswith("greedy-"):
            sys.exit(f"AlpaServe's code has no beam search for {policy_name}")

        if policy_name.startswith("greedy-") and beam > 1:
            s = int(policy_name[7:])
            assert env.num_devices % s == 0
            n = env.num_devices // s
            init = MP([ParallelConfig(1, 1, s)] * n, [[] for _ in range(n)])
            ev = bp.PlacementEvaluator(model_datas, env, workload, "fast_simulator", False)
            sol = bp.replica_placement_beam_search(init, model_datas, env, workload, ev, beam,
                                                   args.verbose)
        else:
            sol, _ = pol.solve_placement(model_datas, env, workload)
        sol.verify(model_datas, env)
        ev = bp.PlacementEvaluator(model_datas, env, workload, "fast_simulator", False)
        goodput, _, _, stats = ev.get_stats([sol])[0]
        # AlpaServe's score (get_scores) is defined for static placements only.
        score = None if isinstance(sol, bp.ModelPlacementWithReplacement) else \
            float(ev.get_scores([sol])[0])

    names = [m["name"] for m in models]

    def groups_of(p):
        dev = first_devices(p) if tracking else None
        out, at = [], 0
        for g, (c, ms) in enumerate(zip(p.group_configs, p.group_models)):
            size = c.op * c.pp
            first = dev[g] if tracking else at
            at += size
            out.append({"id": g, "devices": list(range(first, first + size)), "dp": c.dp,
                        "op": c.op, "pp": c.pp, "models": [names[m] for m in sorted(ms)]})
        return out

    plan = {"format": "muxplan-plan/1", "policy": policy_name}
    params = {"beam": beam}
    if policy_name == "clockwork++":
        params["window_s"] = args.window
    if policy_name == "round-robin":
        params["group_size"] = 4  # fixed in AlpaServe's ModelParallelismRR
    plan["parameters"] = params
    replicas = 0
    if isinstance(sol, bp.ModelPlacementWithReplacement):
        replicas = sum(len(x) for p in sol.placements for x in p.group_models)
    else:
        replicas = sum(len(x) for x in sol.group_models)
    plan["predicted"] = {"attainment": float(goodput), "mean_latency_s": float(stats.latency_mean),
                         "replicas": replicas, "alpaserve_score": score,
                         "requests": len(requests)}
    # The checkout's own commit (a git work tree at --mms itself), else a COMMIT file there.
    top = subprocess.run(["git", "-C", args.mms, "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True).stdout.strip()
    commit = ""
    if top and os.path.realpath(top) == os.path.realpath(args.mms):
        commit = subprocess.run(["git", "-C", args.mms, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    if not commit and os.path.exists(os.path.join(args.mms, "COMMIT")):
        commit = open(os.path.join(args.mms, "COMMIT")).read().strip()
    import numba
    command, argv = ["tools/alpaserve-golden.py"], sys.argv[1:]
    for i, a in enumerate(argv):  # the checkout's path as MMS, the comparison left out
        if a == "--compare" or (i > 0 and argv[i - 1] == "--compare"):
            continue
        command.append("MMS" if a == args.mms else a)
    plan["provenance"] = {
        "tool": "tools/alpaserve-golden.py",
        "alpaserve": "alpa-projects/mms " + (commit or "unknown"),
        "numpy": np.__version__, "numba": numba.__version__,
        "argsort_ties": args.argsort_ties, "device_tracking": tracking,
        "command": " ".join(command),
        "date": time.strftime("%Y-%m-%d", time.gmtime())}
    plan["models"] = [{"name": m["name"], "base": m["base"]} for m in models]
    if isinstance(sol, bp.ModelPlacementWithReplacement):
        plan["schedule"] = [{"start_s": float(t), "groups": groups_of(p)}
                            for t, p in zip(sol.start_times, sol.placements)]
    else:
        plan["groups"] = groups_of(sol)
        unplaced = [names[m] for m in range(len(names))
                    if not any(m in x for x in sol.group_models)]
        if unplaced:
            plan["unplaced"] = unplaced
    text = json.dumps(plan, indent=1) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)

    if args.compare:
        sys.exit(compare(plan, json.load(open(args.compare))))


def segments(plan):
    if "schedule" in plan:
        return [(s["start_s"], s["groups"]) for s in plan["schedule"]]
    return [(0.0, plan["groups"])]


def compare(expected, ours):
    """Print the differences per group; 0 when configs and models agree group by group."""
    se, so = segments(expected), segments(ours)
    differ, devices_differ = 0, 0
    if len(se) != len(so):
        print(f"segments: AlpaServe {len(se)}, ours {len(so)}")
        differ = 1
    for k, ((te, ge), (to, go)) in enumerate(zip(se, so)):
        where = f"segment {k} " if len(se) > 1 else ""
        if te != to:  # AlpaServe's windows start at their first arrival; not counted
            print(f"note: {where}starts at {te} in AlpaServe's plan, at {to} in ours")
        if len(ge) != len(go):
            print(f"{where}groups: AlpaServe {len(ge)}, ours {len(go)}")
            differ = 1
        for g, (a, b) in enumerate(zip(ge, go)):
            ka = (a["op"], a["pp"], sorted(a["models"]))
            kb = (b["op"], b["pp"], sorted(b["models"]))
            if ka != kb:
                print(f"{where}group {g}: AlpaServe (1,{a['op']},{a['pp']}) {a['models']}, "
                      f"ours (1,{b['op']},{b['pp']}) {b['models']}")
                differ = 1
            elif a["devices"] != b["devices"]:
                print(f"{where}group {g}: devices AlpaServe {a['devices']}, ours {b['devices']}")
                devices_differ = 1
    print("match" if not differ and not devices_differ else
          "match except devices" if not differ else "differ")
    return 3 if differ or devices_differ else 0


if __name__ == "__main__":
    main()
