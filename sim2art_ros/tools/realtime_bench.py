"""The node's real-time budget side by side (issue 14.5; docs/BENCHMARKS.md "Real-time budget").

    python -m sim2art_ros.tools.realtime_bench --repeats 2 --seconds 20 --out rt.json
    python -m sim2art_ros.tools.realtime_bench --modes process:1,busy_policy=wait process:1 --seconds 10
    python -m sim2art_ros.tools.realtime_bench --modes process:1 process:1,estimator_cpus=auto --seconds 20

In one run, interleaved ``--repeats`` times so the machine's load hits every case alike: the
Estimator alone in this process (1 and 2 torch threads and every thread count of ``--modes``; 4
distinct windows of the benchmark's frames: the Estimator caches the last window's network
output), then the node at 30 Hz 640x480 input (:func:`~sim2art_ros.tools.node_bench.latency`)
once per mode ``inference_mode:torch_threads[,param=value...]`` (extra node parameters per mode,
e.g. the old behaviour ``process:1,busy_policy=wait,preprocess_niceness=0``; a CPU list as a range,
``estimator_cpus=2-3``, since a comma separates parameters); before that, idle
CPU and RSS of node + estimator child per mode (``--idle-seconds``). It prints, per round and
mode, the latency from the frame completing the window to ``/articulation`` over the estimator
alone with the node's thread count and over the fastest alone time of any thread count; the
node's own median per stage (``/diagnostics`` "latency breakdown", docs/NODE.md "Real-time
budget"); CPU, RSS, estimates and skipped windows. Run under ``nice -n 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

from sim2art_core.runtime.latency import STAGES, TOTAL


def estimator_own_ms(frames, checkpoint, threads: int, repeat: int, export: bool = False) -> dict:
    """The Estimator alone on windows of the benchmark's frames, in this process (ms, median).

    ``export``: also the node's URDF export of each window's estimate (``publish_robot_description``:
    ``export_urdf`` on the twin's thread after every estimate), median ms as ``export_ms``.
    """
    import torch

    from sim2art_core.estimator import Estimator
    from sim2art_core.preprocess import KeyframeConfig, PreprocessConfig, WindowBuilder
    from sim2art_ros.tools.perceive_benchmark import _median_ms

    est = Estimator(checkpoint=str(checkpoint), device="cpu")
    cfg = PreprocessConfig(num_frames=est.num_frames, num_points=est.num_points, keyframes=KeyframeConfig(period_s=0.0))
    builder = WindowBuilder(cfg, "world", rng=0)
    cyc, k, windows = 2 * len(frames) - 2, 0, []
    while len(windows) < 4 and k < 10 * cyc:  # distinct windows: a repeated one would time the cache
        j = k % cyc
        builder.add(replace(frames[j if j < len(frames) else cyc - j], stamp_ns=frames[0].stamp_ns + k * 200_000_000))
        k += 1
        if builder.window() is not None:
            windows.append(builder.window())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    calls = iter(range(10**9))
    try:
        for w in windows:  # warm-up
            est.estimate(w)
        ms = _median_ms(lambda: est.estimate(windows[next(calls) % len(windows)]), repeat)
        out = {"torch_threads": threads, "median_ms": ms, "repeat": repeat}
        if export:
            from sim2art_core.export import ExportConfig, export_urdf, observed_geometry_from_window

            cfg, estimates = ExportConfig(link_prefix="object_0/", robot_name="object_0"), {}

            def one():
                w = windows[next(calls) % len(windows)]
                e = estimates[id(w)]
                export_urdf(e, observed_geometry_from_window(w, e), cfg)

            for w in windows:
                estimates[id(w)] = est.estimate(w)
            out["export_ms"] = _median_ms(one, len(windows))
    finally:
        torch.set_num_threads(before)
    return out


def side_by_side(
    frames, checkpoint, domain: int, tmp: Path, seconds: float, repeats: int, modes, idle_s: float = 10.0, params=None
) -> dict:
    from sim2art_ros.tools.node_bench import idle_cpu, latency

    runs: dict = {"idle": {}, "own": [], **{m: [] for m in modes}}
    counts = sorted({1, 2} | {node_threads(m) for m in modes} - {0})

    def node_params(m: str) -> dict:
        mode, threads = m.split(",")[0].split(":")
        return {
            "checkpoint": str(checkpoint), "device": "cpu", "inference_mode": mode, "torch_threads": int(threads),
            **(params or {}), **mode_params(m),
        }  # fmt: skip

    for m in modes if idle_s > 0 else ():
        runs["idle"][m] = idle_cpu(node_params(m), domain, tmp / f"idle_{m}.log", idle_s)
        print(json.dumps({"idle": {m: runs["idle"][m]}}), flush=True)
    for r in range(repeats):
        for threads in counts:
            own = estimator_own_ms(frames, checkpoint, threads, 10, export=threads == counts[0])
            runs["own"].append({**own, "round": r})
            print(json.dumps({"own": runs["own"][-1]}), flush=True)
        for m in modes:
            try:
                run = latency(frames, node_params(m), domain, tmp / f"side_{m}_{r}.log", seconds, 0.2)
                run.update(ratios(runs["own"], r, m, run))
            except RuntimeError as e:  # no estimate at all (an overloaded machine): say so, go on
                run = {"estimates": 0, "error": str(e).splitlines()[0]}
            runs[m].append(run)
            print(json.dumps({m: run}), flush=True)
    return runs


def node_threads(mode: str) -> int:
    """torch threads of a ``MODE:THREADS[,name=value...]`` mode string."""
    return int(mode.split(",")[0].split(":")[1])


def mode_params(mode: str) -> dict:
    """The ``name=value`` node parameters after ``MODE:THREADS`` (values parsed as YAML)."""
    out = {}
    for item in mode.split(",")[1:]:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"mode {mode!r}: expected MODE:THREADS[,name=value...]")
        out[name] = yaml.safe_load(value)
    return out


def ratios(own: list[dict], r: int, mode: str, run: dict) -> dict:
    """Latency (frame completing the window -> /articulation, median) over the estimator alone in round ``r``:
    with the node's torch thread count and with the fastest thread count measured."""
    this = {o["torch_threads"]: o["median_ms"] for o in own if o["round"] == r}
    threads = node_threads(mode)
    lat = run["latency_from_completing_frame"]["median_ms"]
    ref = this.get(threads, float("nan"))
    return {
        "own_same_threads_ms": ref,
        "own_best_ms": min(this.values()),
        "ratio_same_threads": lat / ref,
        "ratio_best": lat / min(this.values()),
    }


def markdown(r: dict) -> str:
    sbs, skip = r["side_by_side"], ("own", "idle")
    modes = [m for m in sbs if m not in skip]
    m0 = r["machine"]
    counts = sorted({o["torch_threads"] for o in sbs["own"]})
    lines = [
        f"Machine: {m0['cpu']}, {m0['cores']} cores, load average at start "
        f"{', '.join(f'{x:.1f}' for x in m0['load_average'])}, at end "
        f"{', '.join(f'{x:.1f}' for x in m0['load_average_end'])}. Command: `{r['command']}`.",
        "",
        f"| round | estimator alone, {' / '.join(map(str, counts))} torch threads (ms) | "
        + " | ".join(
            f"node {m}: frame completing the window -> /articulation, median (p90) ms; / alone same threads, "
            "/ best alone"
            for m in modes
        )
        + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for i in range(len(sbs[modes[0]])):
        own = {o["torch_threads"]: o["median_ms"] for o in sbs["own"] if o.get("round", i) == i}
        cells = [" / ".join(f"{own[c]:.0f}" for c in counts if c in own)]
        for m in modes:
            x = sbs[m][i]
            if "error" in x:
                cells.append(f"no estimate ({x['error']})")
                continue
            b = x["latency_from_completing_frame"]
            cells.append(
                f"{b['median_ms']:.0f} ({b['p90_ms']:.0f}); **{x['ratio_same_threads']:.2f}x**, {x['ratio_best']:.2f}x"
            )
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    export = [f"{o['export_ms']:.0f}" for o in sbs["own"] if "export_ms" in o]
    if export:
        lines += ["", "URDF export of the same windows' estimates (the node's `publish_robot_description` work per "
                  f"estimate), median ms per round: {' / '.join(export)}."]  # fmt: skip
    lines += ["", "Where the time goes inside the node (its medians per stage, ms, from `/diagnostics` "
              "'latency breakdown'; one column per run):", ""]  # fmt: skip
    runs = [(m, i, x) for m in modes for i, x in enumerate(sbs[m])]
    lines.append("| stage | " + " | ".join(f"{m} r{i + 1}" for m, i, _ in runs) + " |")
    lines.append("|---|" + "---|" * len(runs))
    for stage in [s[0] for s in STAGES] + ["transport", TOTAL[0]]:
        cells = [f"{x['breakdown_ms'][stage]:.1f}" if stage in x.get("breakdown_ms", {}) else "-" for _, _, x in runs]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| mode | CPU node + child (% of a core) | RSS node + child (MB) | estimates | windows skipped (busy) "
        "| inference s (last) | preprocessing per keyframe ms (last) | frames dropped (queue full) "
        "| keyframes held (estimate in flight) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in modes:
        for x in sbs[m]:
            if "error" in x:
                lines.append(f"| {m}, 30 Hz VGA | - | - | 0 | - | - | - | - | - |")
                continue
            lines.append(
                f"| {m}, 30 Hz VGA | {x['node_cpu_percent_at_30hz']:.0f} | {x['rss_mb']['node']:.0f} + "
                f"{x['rss_mb']['children']:.0f} | {x['estimates']} | {x.get('windows_skipped', '-')} | "
                f"{x['inference_time_s']} | {x.get('preprocess_per_keyframe_ms', '-')} | "
                f"{x.get('frames_dropped_queue', '-')} | {x.get('keyframes_held', '-')} |"
            )
    for m, x in sbs["idle"].items():
        lines.append(
            f"| {m}, idle | {x['cpu_percent']:.1f} | {x['rss']['node']:.0f} + {x['rss']['children']:.0f} "
            "| - | - | - | - | - | - |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # as the node's main() does: spin-waiting OpenMP threads would falsify the 2-thread reference
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("realtime_bench.json"), help="JSON results (.md beside)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped checkpoint")
    ap.add_argument(
        "--modes", nargs="+", default=["process:1", "process:2", "thread:1"], metavar="MODE:THREADS",
        help="inference_mode:torch_threads[,param=value...] per node run (process:1,busy_policy=wait)",
    )  # fmt: skip
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    ap.add_argument("--seconds", type=float, default=20.0, help="streaming time per node run")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="idle CPU/RSS per mode (0 = skip)")
    ap.add_argument(
        "--param", action="append", default=[], metavar="NAME:=VALUE",
        help="extra node parameter for every run (YAML value), e.g. busy_policy:=wait",
    )  # fmt: skip
    ap.add_argument("--domain", type=int, default=190 + os.getpid() % 30, help="private ROS_DOMAIN_ID")
    args = ap.parse_args(argv)
    for m in args.modes:
        try:
            node_threads(m), mode_params(m)
        except (ValueError, IndexError) as e:
            ap.error(f"--modes {m!r}: {e}")
    from sim2art_core.estimator import DEFAULT_CHECKPOINT
    from sim2art_ros.tools.perceive_benchmark import machine, render_frames

    result = {"command": " ".join(["python -m sim2art_ros.tools.realtime_bench", *(argv or sys.argv[1:])])}
    result["machine"] = machine()
    frames = render_frames("Storage1", 10, 640, 480)
    tmp = Path(tempfile.mkdtemp(prefix="sim2art_rt_"))
    extra = {}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep:
            ap.error(f"--param {item!r}: expected NAME:=VALUE")
        extra[name] = yaml.safe_load(value)
    result["side_by_side"] = side_by_side(
        frames, args.checkpoint or DEFAULT_CHECKPOINT, args.domain, tmp, args.seconds, args.repeats, args.modes,
        args.idle_seconds, extra,
    )  # fmt: skip
    result["machine"]["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
