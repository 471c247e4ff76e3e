"""Forward pass and estimate of two source trees side by side (issue 12: "before / after" of a code change).

    python -m sim2art_core.benchmarks.forward_ab --baseline-rev main [--threads 2 1] [--rounds 10] [--json OUT]

``infer_speed`` compares the forward against :mod:`sim2art_core.model.reference` inside one tree; this
compares two *versions* of the code (a git revision, extracted with ``git archive`` into a temporary
folder, against the working tree). Per thread count it starts one persistent subprocess per tree
(``PYTHONPATH`` = that tree; ``OMP/OPENBLAS/MKL_NUM_THREADS`` and ``torch.set_num_threads`` = the
count), each loads the shipped checkpoint and the latency benchmark's 4 data-engine windows (T x N,
``default_rng(0)``), warms up, then the trees take turns call by call (the order flips every round),
so a shared machine slows both alike. Per call: wall time and this process's CPU time of the 4
forwards (``model(points, flow)``, inference mode) and of the 4 ``Estimator.estimate`` (refinement on,
network cache cleared). The result is the paired ratio (baseline / working tree, median over rounds);
the absolute ms/frame needs a quiet machine. CPU time at 1 thread is the work done, whatever the load;
at 2 threads it also counts OpenMP's spin-waiting. Each child also reports its outputs' max abs
difference to the other tree's (same windows) and its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
from sim2art_core.benchmarks.latency import _windows
from sim2art_core.estimator import Estimator
windows = [w for _, w in _windows(int(sys.argv[2]), int(sys.argv[3]))]
est = Estimator(None, device="cpu", refine=True)
preps = [est._prepare(w, np.random.default_rng(0)) for w in windows]
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
names = ("part_logits", "moving_logits", "type_logits", "revolute_axis", "pivot", "prismatic_axis",
         "revolute_amounts", "prismatic_amounts", "keypoints")
with torch.inference_mode():
    outs = [est.model(p.points, p.flow, p.image) for p in preps]
torch.save([{n: getattr(o, n) for n in names} for o in outs], sys.argv[4])
for w in windows:
    est._cache = None
    est.estimate(w)
print(json.dumps({"ready": True, "rss_before_forward_mb": rss0}), flush=True)
for line in sys.stdin:
    res = {}
    for kind in ("forward", "estimate"):
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "forward":
            with torch.inference_mode():
                for p in preps:
                    est.model(p.points, p.flow, p.image)
        else:
            for w in windows:
                est._cache = None
                est.estimate(w)
        res[kind] = [time.perf_counter() - t0, time.process_time() - c0]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(res), flush=True)
"""


def extract(rev: str, dest: Path, repo: Path) -> str:
    """``git archive rev sim2art_core`` into ``dest``; returns the commit id."""
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", rev], capture_output=True, text=True, check=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "sim2art_core"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return commit.stdout.strip()


def measure(trees: dict[str, Path], threads: int, rounds: int, T: int, N: int, scratch: Path) -> dict:
    """Alternate the trees' subprocesses call by call; return per-tree times and paired ratios."""
    import numpy as np
    import torch

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}  # fmt: skip
    procs, ready = {}, {}
    for name, root in trees.items():
        out = scratch / f"{name}-{threads}.pt"
        cmd = [sys.executable, "-c", CHILD, str(threads), str(T), str(N), str(out)]
        p = subprocess.Popen(cmd, cwd=root, env={**env, "PYTHONPATH": str(root)}, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"forward_ab: the {name} tree's child failed to start (run it by hand to see why)")
        procs[name], ready[name] = p, json.loads(line)
    load_start = os.getloadavg()
    calls: dict[str, list[dict]] = {n: [] for n in trees}
    names = list(trees)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            procs[name].stdin.write("go\n")
            procs[name].stdin.flush()
            calls[name].append(json.loads(procs[name].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    res = {"threads": threads, "T": T, "N": N, "windows": 4, "rounds": rounds, "load_average_start": load_start,
           "load_average_end": os.getloadavg(), "trees": {}}  # fmt: skip
    for name in names:
        row = {"rss_before_forward_mb": ready[name]["rss_before_forward_mb"],
               "peak_rss_mb": max(c["peak_rss_mb"] for c in calls[name])}  # fmt: skip
        for kind in ("forward", "estimate"):
            for i, clock in enumerate(("wall", "cpu")):
                per_frame = [c[kind][i] / 4 / T * 1e3 for c in calls[name]]
                row[f"{kind}_{clock}_ms_per_frame"] = float(np.median(per_frame))
                row[f"{kind}_{clock}_ms_per_frame_min"] = float(np.min(per_frame))
        res["trees"][name] = row
    base, new = names
    for kind in ("forward", "estimate"):
        for i, clock in enumerate(("wall", "cpu")):
            ratios = [a[kind][i] / b[kind][i] for a, b in zip(calls[base], calls[new], strict=True)]
            res[f"{kind}_{clock}_paired_ratio"] = float(np.median(ratios))
    a, b = (torch.load(scratch / f"{n}-{threads}.pt", weights_only=True) for n in names)
    res["max_abs_difference"] = {
        k: max(float((x[k].float() - y[k].float()).abs().max()) for x, y in zip(a, b, strict=True)) for k in a[0]
    }
    return res


def markdown(result: dict) -> str:
    base, new = result["names"]
    lines = [
        "| threads | load avg start → end | tree | forward wall ms/frame (min) | forward CPU ms/frame | "
        "estimate wall ms/frame (min) | estimate CPU ms/frame | peak RSS MB (rise) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        load = f"{r['load_average_start'][0]:.1f} → {r['load_average_end'][0]:.1f}"
        for name in (base, new):
            t = r["trees"][name]
            lines.append(
                f"| {r['threads']} | {load} | {name} | {t['forward_wall_ms_per_frame']:.2f} "
                f"({t['forward_wall_ms_per_frame_min']:.2f}) | {t['forward_cpu_ms_per_frame']:.2f} | "
                f"{t['estimate_wall_ms_per_frame']:.2f} ({t['estimate_wall_ms_per_frame_min']:.2f}) | "
                f"{t['estimate_cpu_ms_per_frame']:.2f} | {t['peak_rss_mb']:.0f} "
                f"({t['peak_rss_mb'] - t['rss_before_forward_mb']:.0f}) |"
            )
    lines += ["", f"| threads | forward {base} / {new}, wall (CPU) | estimate {base} / {new}, wall (CPU) | "
              "max abs difference of the outputs |", "|---|---|---|---|"]  # fmt: skip
    for r in result["runs"]:
        diff = ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_difference"].items())
        fwd = f"{r['forward_wall_paired_ratio']:.3f}× ({r['forward_cpu_paired_ratio']:.3f}×)"
        est = f"{r['estimate_wall_paired_ratio']:.3f}× ({r['estimate_cpu_paired_ratio']:.3f}×)"
        lines.append(f"| {r['threads']} | {fwd} | {est} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-rev", default="main", help="git revision of the baseline tree (default: main)")
    p.add_argument("--tree", default=".", help="the tree to compare (default: this working tree)")
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="thread counts, one pair of children each")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds (each: 4 forwards and 4 estimates per tree)")
    p.add_argument("--frames", type=int, default=16, help="T, frames per window")
    p.add_argument("--points", type=int, default=1024, help="N, points per window frame")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    tree = Path(args.tree).resolve()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="forward_ab-") as tmp:
        scratch = Path(tmp)
        (scratch / "baseline").mkdir()
        commit = extract(args.baseline_rev, scratch / "baseline", tree)
        names = (f"baseline ({args.baseline_rev} {commit[:7]})", "working tree")
        trees = {names[0]: scratch / "baseline", names[1]: tree}
        runs = [measure(trees, th, args.rounds, args.frames, args.points, scratch) for th in args.threads]
    command = "python -m sim2art_core.benchmarks.forward_ab " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": command, "baseline_commit": commit, "names": names, "wall_s": time.time() - t0, "runs": runs}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
