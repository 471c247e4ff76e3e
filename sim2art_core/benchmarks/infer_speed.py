"""Inference speed before / after the optimised forward pass (issue 12), side by side in one process.

    python -m sim2art_core.benchmarks.infer_speed [--checkpoint CK] [--threads 2 1] [--repeats 6] [--json OUT]

"before" is :mod:`sim2art_core.model.reference` (the forward pass as written before issue 12, on the
same module and parameters), "after" is :class:`~sim2art_core.model.network.Sim2ArtNet`'s own forward.
For each thread count one subprocess (``OMP/OPENBLAS/MKL_NUM_THREADS`` and ``torch.set_num_threads``
set to it, so FeatClust's NumPy/SciPy get the same budget) times, on the latency benchmark's
data-engine windows (realism on, T x N as given):

* the network forward alone (``model(points, flow)`` on the prepared window, inference mode);
* the whole ``Estimator.estimate`` (refinement on: the ``sim2art`` row of "Latency and memory");
* FeatClust per window (k by motion BIC, the ``featclust`` row),

alternating before / after call by call (the order flips every call), so a loaded machine slows both
alike: the ratio is the result, the absolute ms/frame needs a quiet machine. Each pair is also checked
for equal outputs (max abs difference of the logits and the joint outputs; the estimate's labels).
Memory: peak RSS of a fresh subprocess per variant (imports, model, windows, then forwards) and its
rise over the RSS before the first forward.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sim2art_core.benchmarks.latency import (  # one RSS probe, one timing summary, one way to run a case
    _rss_mb,
    _stats,
    case_in_subprocess,
)

OUTPUTS = ("part_logits", "moving_logits", "type_logits", "revolute_axis", "pivot", "prismatic_axis",
           "revolute_amounts", "prismatic_amounts")  # fmt: skip


def _estimators(checkpoint: str | None):
    from sim2art_core.estimator import Estimator
    from sim2art_core.model.reference import ReferenceModel

    after = Estimator(checkpoint, device="cpu", refine=True)
    before = Estimator(checkpoint, device="cpu", refine=True)
    before.model = ReferenceModel(before.model)
    return before, after


def output_differences(a, b) -> dict[str, float]:
    """Max abs difference of every network output (two NetworkOutput)."""
    return {n: float((getattr(a, n) - getattr(b, n)).abs().max()) for n in OUTPUTS}


def measure(windows: list, checkpoint: str | None, threads: int, repeats: int, featclust: bool = True) -> dict:
    """Time before / after (alternating) and FeatClust on ``windows`` with ``threads`` torch threads."""
    import numpy as np
    import torch

    from sim2art_core.baselines import FeatClust

    torch.set_num_threads(threads)
    before, after = _estimators(checkpoint)
    T = after.num_frames
    preps = [after._prepare(w, np.random.default_rng(after.config.seed)) for w in windows]
    nets = {"before": before.model, "after": after.model}
    ests = {"before": before, "after": after}
    fc = FeatClust()
    load_start = os.getloadavg()

    def forward(name, p):
        with torch.inference_mode():
            return nets[name](p.points, p.flow, p.image)

    def estimate(name, w):
        ests[name]._cache = None  # time the network every call
        return ests[name].estimate(w)

    diffs: dict[str, float] = dict.fromkeys(OUTPUTS, 0.0)
    same_labels, same_types, joint_axis_deg = [], [], []
    for p, w in zip(preps, windows, strict=True):  # warm-up, and the equality check
        a, b = forward("before", p), forward("after", p)
        for k, v in output_differences(a, b).items():
            diffs[k] = max(diffs[k], v)
        ea, eb = estimate("before", w), estimate("after", w)
        same_labels.append(float(np.mean(ea.labels == eb.labels)))
        same_types.append([j.type for j in ea.joints] == [j.type for j in eb.joints])
        for ja, jb in zip(ea.joints, eb.joints, strict=False):
            c = abs(float(np.dot(ja.axis, jb.axis)))
            joint_axis_deg.append(float(np.degrees(np.arccos(min(1.0, c)))))
        if featclust:
            fc.estimate(w)
    times: dict[str, list[float]] = {k: [] for k in ("forward_before", "forward_after", "estimate_before",
                                                     "estimate_after", "featclust")}  # fmt: skip
    pair_ratio: dict[str, list[float]] = {"forward": [], "estimate": []}
    call = 0
    for _ in range(repeats):
        for p, w in zip(preps, windows, strict=True):
            order = ("before", "after") if call % 2 == 0 else ("after", "before")
            call += 1
            for kind, fn, x in (("forward", forward, p), ("estimate", estimate, w)):
                got = {}
                for name in order:
                    t0 = time.perf_counter()
                    fn(name, x)
                    got[name] = time.perf_counter() - t0
                    times[f"{kind}_{name}"].append(got[name])
                pair_ratio[kind].append(got["before"] / got["after"])
            if featclust:
                t0 = time.perf_counter()
                fc.estimate(w)
                times["featclust"].append(time.perf_counter() - t0)
    res = {"threads": threads, "T": T, "N": after.num_points, "windows": len(windows), "repeats": repeats,
           "load_average_start": load_start, "load_average_end": os.getloadavg()}  # fmt: skip
    for k, v in times.items():
        if v:
            res[k] = _stats(v, T)
    for kind in ("forward", "estimate"):
        res[f"{kind}_speedup_median_ratio"] = res[f"{kind}_before"]["median_ms"] / res[f"{kind}_after"]["median_ms"]
        res[f"{kind}_speedup_paired"] = float(np.median(pair_ratio[kind]))
    if featclust:
        res["featclust_over_estimate_after"] = res["featclust"]["median_ms"] / res["estimate_after"]["median_ms"]
    res["max_abs_difference"] = diffs
    res["estimate_same_label_fraction_min"] = min(same_labels)
    res["estimate_same_joint_types"] = all(same_types)
    res["estimate_joint_axis_difference_deg_max"] = max(joint_axis_deg, default=0.0)
    return res


def measure_memory(windows: list, checkpoint: str | None, variant: str, threads: int, calls: int = 3) -> dict:
    """Peak RSS of this process after ``calls`` forwards of one variant (run in a fresh process)."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    before, after = _estimators(checkpoint)
    model = (before if variant == "before" else after).model
    preps = [after._prepare(w, np.random.default_rng(0)) for w in windows]
    rss0 = _rss_mb()
    with torch.inference_mode():
        for i in range(calls):
            p = preps[i % len(preps)]
            model(p.points, p.flow, p.image)
    return {"variant": variant, "threads": threads, "rss_before_forward_mb": rss0, "peak_rss_mb": _rss_mb()}


def _windows(T: int, N: int) -> list:
    from sim2art_core.benchmarks.latency import _windows as latency_windows

    return [w for _, w in latency_windows(T, N)]


def _child(spec: dict) -> dict:
    windows = _windows(spec["T"], spec["N"])
    if spec["what"] == "speed":
        return measure(windows, spec["checkpoint"], spec["threads"], spec["repeats"])
    return measure_memory(windows, spec["checkpoint"], spec["variant"], spec["threads"])


def _subprocess(spec: dict) -> dict:
    return case_in_subprocess("sim2art_core.benchmarks.infer_speed", spec)


def infer_speed_markdown(result: dict) -> str:
    """The before / after table, FeatClust beside it, equality and memory."""
    lines = [
        "| threads | window T×N | forward before ms/frame (p90) | forward after ms/frame (p90) | forward speed-up "
        "(paired) | estimate before ms/frame (p90) | estimate after ms/frame (p90) | estimate speed-up (paired) "
        "| FeatClust ms/frame (p90) | FeatClust / estimate after | load avg start → end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["speed"]:
        f = lambda s, T=r["T"]: f"{s['ms_per_frame']:.2f} ({s['p90_ms'] / T:.2f})"  # noqa: E731
        fc = r.get("featclust")
        lines.append(
            f"| {r['threads']} | {r['T']}×{r['N']} | {f(r['forward_before'])} | {f(r['forward_after'])} | "
            f"{r['forward_speedup_median_ratio']:.2f}× ({r['forward_speedup_paired']:.2f}×) | "
            f"{f(r['estimate_before'])} | {f(r['estimate_after'])} | {r['estimate_speedup_median_ratio']:.2f}× "
            f"({r['estimate_speedup_paired']:.2f}×) | {f(fc) if fc else '-'} | "
            f"{r.get('featclust_over_estimate_after', float('nan')):.2f}× | "
            f"{r['load_average_start'][0]:.1f} → {r['load_average_end'][0]:.1f} |"
        )
    head = " | ".join(f"max abs diff {n}" for n in OUTPUTS)
    lines += ["", f"| threads | {head} | same labels (min) | same joints and types | joint axes differ by (max °) |",
              "|---" * (len(OUTPUTS) + 4) + "|"]  # fmt: skip
    for r in result["speed"]:
        d = " | ".join(f"{r['max_abs_difference'][n]:.1e}" for n in OUTPUTS)
        same = "yes" if r["estimate_same_joint_types"] else "NO"
        lines.append(f"| {r['threads']} | {d} | {r['estimate_same_label_fraction_min']:.4f} | {same} | "
                     f"{r['estimate_joint_axis_difference_deg_max']:.1e} |")  # fmt: skip
    if result.get("memory"):
        lines += ["", "| variant | threads | RSS before the first forward MB | peak RSS MB | rise MB |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for m in result["memory"]:
            rise = m["peak_rss_mb"] - m["rss_before_forward_mb"]
            lines.append(f"| {m['variant']} | {m['threads']} | {m['rss_before_forward_mb']:.0f} | "
                         f"{m['peak_rss_mb']:.0f} | {rise:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    p.add_argument("--frames", type=int, default=16, help="T, frames per window")
    p.add_argument("--points", type=int, default=1024, help="N, points per window frame")
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="thread counts, one subprocess each")
    p.add_argument("--repeats", type=int, default=6, help="timed rounds over the 4 windows (calls = 4 x repeats)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(_child(json.loads(args.one))))
        return 0
    from tqdm import tqdm

    from sim2art_core.benchmarks.latency import environment

    base = {"checkpoint": args.checkpoint, "T": args.frames, "N": args.points}
    specs = [{**base, "what": "speed", "threads": th, "repeats": args.repeats} for th in args.threads]
    if not args.no_memory:
        specs += [{**base, "what": "memory", "variant": v, "threads": args.threads[0]} for v in ("before", "after")]
    t0 = time.time()
    out = [_subprocess(s) for s in tqdm(specs, desc="infer-speed cases", unit="case")]
    result = {
        "command": "python -m sim2art_core.benchmarks.infer_speed " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": environment(),
        "wall_s": time.time() - t0,
        "speed": [r for r in out if "forward_before" in r],
        "memory": [r for r in out if "variant" in r],
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(infer_speed_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
