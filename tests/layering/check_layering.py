#!/usr/bin/env python3
"""The build enforces the layers: a module compiles against its own headers and those of the
modules below it, and an include of any other module's header does not compile.

For each module, the compile command meson wrote for one of its sources (compile_commands.json) is
run, preprocessing only, on a one-line probe that includes a public header of each module in turn: it must compile
exactly when that module is the module itself or one it is built on. So an upward include (sim
including planner.h) fails to build, as does a sideways one (workload including prof_ops.h).

usage: check_layering.py BUILD_DIR SOURCE_ROOT
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# What each module is built on, directly (docs/design.md draws these layers; each module's
# meson.build lists the same). cuda is cuda/ at the top of the tree.
BUILT_ON = {
    "common": [],
    "spec": ["common"],
    "kernels": ["common"],
    "cuda": ["common"],
    "workload": ["spec"],
    "profiler": ["spec", "kernels", "cuda"],
    "sim": ["spec", "workload"],
    "planner": ["sim"],
    "sweep": ["planner"],
    "runtime": ["sim", "profiler"],
}


def folder(module):
    return "cuda" if module == "cuda" else f"src/{module}"


def below(module):
    seen = set()
    todo = list(BUILT_ON[module])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(BUILT_ON[m])
    return seen


def first_line(text):
    """The first line of a compiler's message, without colour codes."""
    return re.sub(r"\x1b\[[0-9;]*[mK]", "", text).strip().splitlines()[0]


def main():
    build, root = sys.argv[1], os.path.realpath(sys.argv[2])
    commands = json.load(open(os.path.join(build, "compile_commands.json")))
    failures = []
    probes = 0
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.c")
        for module in BUILT_ON:
            source_dir = os.path.join(root, folder(module)) + os.sep
            entry = next((c for c in commands
                          if os.path.realpath(os.path.join(c["directory"], c["file"])).startswith(source_dir)
                          and c["file"].endswith((".c", ".cu"))), None)
            if entry is None:
                failures.append(f"{module}: no source of it in compile_commands.json")
                continue
            args = shlex.split(entry["command"])
            src = entry["file"]
            # The same command on the probe, preprocessing only (where a missing header shows; nvcc
            # takes -E too), its output and dependency files dropped.
            cmd, skip = [], False
            for a in args:
                if skip:
                    skip = False
                    continue
                if a in ("-o", "-MF", "-MQ", "-MT"):
                    skip = True
                    continue
                if a in ("-c", "-MD", "-MMD") or a == src:
                    continue
                cmd.append(a)
            allowed = below(module) | {module}
            for other in BUILT_ON:
                headers = sorted(os.listdir(os.path.join(root, folder(other), "include")))
                header = next(h for h in headers if h.endswith(".h"))
                with open(probe, "w") as f:
                    f.write(f'#include "{header}"\n')
                run = subprocess.run(cmd + ["-E", "-o", os.devnull, probe], cwd=entry["directory"],
                                     capture_output=True, text=True)
                probes += 1
                compiled = run.returncode == 0
                if compiled != (other in allowed):
                    failures.append(f"{module} including {header} ({other}): "
                                    f"{'compiled' if compiled else 'failed'}, expected "
                                    f"{'to compile' if other in allowed else 'to fail'}"
                                    + ("" if compiled else ": " + first_line(run.stderr)))
                elif not compiled and "No such file" not in run.stderr:
                    failures.append(f"{module} including {header}: failed for another reason: "
                                    + first_line(run.stderr))
    for f in failures:
        print(f"layering: {f}")
    # The summary line tools/test counts, in Criterion's words.
    print(f"[====] Synthesis: Tested: {probes} | Passing: {probes - len(failures)} | "
          f"Failing: {len(failures)} | Crashing: 0")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
