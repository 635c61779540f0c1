#!/usr/bin/env python3
"""Build data/profiles/v100-reference.json from the published V100 measurements.

Usage: tools/reference-profile.py data/reference/v100-published.json > data/profiles/v100-reference.json
then:  muxplan profile import data/profiles/v100-reference.json -o data/profiles/v100-reference.h5

Only observations with per-stage latencies become configs (end-to-end totals are left to the
profiler's calibration). Where a source gives no weight sizes, they are derived and the config's
note says how: from the same model's single-device weights split evenly over the stages or
tensor-parallel devices, or, with no published weights at all, from the model's shape at 2 bytes
per parameter (fp16)."""
import json
import sys


def parameters(spec):
    h, layers = spec["hidden"], spec["layers"]
    per_layer = 12 * h * h + 13 * h  # QKV, output projection, two FFN GEMMs, biases and norms
    return layers * per_layer + (spec["vocab"] + spec["seq"]) * h


def main(path):
    ref = json.load(open(path))
    single = {}
    for o in ref["observations"]:
        if o["op"] == 1 and o["pp"] == 1 and "weight_bytes_per_device" in o:
            single[o["model"]] = o["weight_bytes_per_device"][0]
    models = {}
    for o in ref["observations"]:
        if "stage_latency_s" not in o:
            continue
        name, op, pp = o["model"], o["op"], o["pp"]
        note = "V100 stage latencies from " + o["source"]
        if "weight_bytes_per_device" in o:
            weights = o["weight_bytes_per_device"]
        elif name in single:
            per = -(-single[name] // (op * pp))
            weights = [per] * pp
            note += "; weight bytes derived: the published single-device weights / (op * pp)"
        else:
            total = 2 * parameters(ref["models"][name])
            per = -(-total // (op * pp))
            weights = [per] * pp
            note += "; weight bytes derived from the model's shape at 2 bytes per parameter"
        configs = models.setdefault(name, [])
        key = (o["dp"], op, pp)
        if any((c["dp"], c["op"], c["pp"]) == key for c in configs):
            continue  # the first source listed wins
        configs.append({"dp": o["dp"], "op": op, "pp": pp, "weight_bytes": weights, "note": note,
                        "batches": [{"batch": o["batch"], "stage_latency_s": o["stage_latency_s"]}]})
    out = {
        "format": "muxplan-profile/1",
        "hardware": ref["hardware"]["name"],
        "provenance": {"source": "data/reference/v100-published.json (AlpaServe repository, "
                                 "alpa-projects/mms)",
                       "what": "published per-stage V100 latencies, batch 1, fp16",
                       "tool": "tools/reference-profile.py"},
        "models": [{"name": n, "configs": sorted(c, key=lambda c: (c["op"], c["pp"]))}
                   for n, c in sorted(models.items())],
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
