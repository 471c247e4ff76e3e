"""Regenerate docs/BENCHMARKS.md: every benchmark and evaluation table, each with its exact command, dataset
seed, checkpoint sha256 and machine (``scripts/make_benchmarks.sh`` -> ``sim2art-benchmark report``).

Stages (each skippable with ``--skip``, re-run with ``--force``; a stage whose inputs did not change is
reused from ``OUT/<stage>/stage.json``, so a rerun after a change only redoes what the change touches):

=================  ================================================================================
dataset            the evaluation dataset (``sim2art-generate``, fixed seed; or ``--data`` to reuse one)
data-engine        ``scripts/bench_data.py``: sequences per second per core, bytes per sequence
latency            ``sim2art-benchmark latency``: every method per window, preprocessing per frame
flow-resolution    ``sim2art-benchmark flow-resolution`` on the val split: the optical-flow setting
eval               ``sim2art-eval`` on the test split under the four conditions, all six methods:
                   per-category Table 2, the robustness table and issue 8's side-by-side table
fusion             the refinement's fusion thresholds on the val split (``--refine-grid``)
ablation           Table 4 from ``runs/ablations/<variant>/final.pt`` when they exist
refine             ``python -m sim2art_core.benchmarks.bench_refine``: cost of the geometric refinement
export             ``python -m sim2art_core.benchmarks.bench_export``: URDF export time, mesh sizes, round trip
node               ``python -m sim2art_ros.tools.perceive_benchmark``: the ROS node (skipped by ``--quick``)
=================  ================================================================================

A stage's cache key holds its command, the checkpoint's sha256, the dataset's index and a hash of the
source files it runs, so editing e.g. ``sim2art_core/refine/`` re-runs the evaluation but not the
data-engine benchmark. Python stages run in this process (their ``main(argv)`` is what the console
script runs) with output in ``OUT/<stage>/log.txt``; scripts and the node benchmark run as subprocesses.
``--quick`` is a smoke run (tiny dataset, tiny random checkpoint, seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGES = (
    "dataset", "data-engine", "latency", "flow-resolution", "eval", "fusion", "ablation", "refine", "export", "node",
)  # fmt: skip
EVAL_METHODS = "sim2art,sim2art-norefine,sim2art-refined-only,featclust,featclust-oracle-k,gtseg-refine"
ALL_CONDITIONS = "gt-flow,realism,optical-flow,realism+optical-flow"
FUSION_GRID = ("max_fit_residual_m=0.005,0.01,0.02", "min_refined_confidence=0.3,0.5,0.7")
#: The library code every accuracy / latency stage runs (not training, not this report's own files).
_CORE = ("sim2art_core/model", "sim2art_core/estimator.py", "sim2art_core/refine", "sim2art_core/baselines",
         "sim2art_core/preprocess", "sim2art_core/data", "sim2art_core/window.py", "sim2art_core/geometry.py",
         "sim2art_core/camera.py", "sim2art_core/estimate.py", "sim2art_core/frames.py", "sim2art_core/types.py",
         "sim2art_core/features.py")  # fmt: skip
_EVAL_MODULES = ("cli", "conditions", "methods", "robustness", "plots")
_METRICS = (*(f"sim2art_core/eval/{m}.py" for m in _EVAL_MODULES), "sim2art_core/metrics")
#: Source paths each stage runs (their content hash is part of the stage's cache key).
STAGE_SOURCES = {
    "dataset": ("sim2art_core/data",),
    "data-engine": ("sim2art_core/data", "scripts/bench_data.py"),
    "latency": (*_CORE, "sim2art_core/benchmarks/latency.py"),
    "flow-resolution": (*_CORE, *_METRICS, "sim2art_core/benchmarks/bench_flow.py"),
    "eval": (*_CORE, *_METRICS),
    "fusion": (*_CORE, *_METRICS),
    "ablation": (*_CORE, *_METRICS, "sim2art_core/benchmarks/ablation.py"),
    "refine": ("sim2art_core/refine", "sim2art_core/benchmarks/bench_refine.py", "sim2art_core/eval/scenes.py"),
    "export": (*_CORE, *_METRICS, "sim2art_core/export", "sim2art_core/benchmarks/bench_export.py"),
    "node": (*_CORE, "sim2art_ros"),
}
#: What the re-generated condition windows depend on (their cache folder is keyed by this).
WINDOW_SOURCES = ("sim2art_core/data", "sim2art_core/preprocess", "sim2art_core/eval/conditions.py")


def source_hash(paths: tuple[str, ...], root: Path = ROOT) -> str:
    """sha256 (16 hex) over the contents of every .py file under ``paths`` (committed or not)."""
    h = hashlib.sha256()
    for rel in paths:
        p = root / rel
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def machine_info(threads: int | None = None) -> dict:
    """CPU model, cores, RAM, load average now, torch version and threads, tcmalloc, Python, git commit."""
    import torch

    cpu = platform.processor() or platform.machine()
    mem_gb = float("nan")
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        mem_gb = kb / 2**20
    except (OSError, StopIteration, ValueError):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "tcmalloc": "tcmalloc" in os.environ.get("LD_PRELOAD", ""),
        "nice": os.nice(0),
        "python": platform.python_version(),
        "git_commit": commit,
    }


def machine_line(m: dict) -> str:
    la = ", ".join(f"{x:.2f}" for x in m["load_average"])
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, load average at start {la}; torch "
            f"{m['torch']}, {m['torch_threads']} torch thread(s), tcmalloc {'on' if m['tcmalloc'] else 'off'}, "
            f"nice {m['nice']}, Python {m['python']}" + (f", GPU {m['cuda']}" if m.get("cuda") else ", no GPU")
            + (f"; git {m['git_commit']}" if m.get("git_commit") else ""))  # fmt: skip


@dataclass
class Stage:
    """One benchmark step.

    Attributes:
        name: one of STAGES (also the output folder).
        title: section title in BENCHMARKS.md.
        command: the exact command (argv; ``python`` = this interpreter).
        run: in-process runner (the module's ``main``) or None for a subprocess of ``command``.
        render: returns the Markdown body (tables) from the stage's outputs.
        key: everything the result depends on (compared with the stored one to reuse the result).
        dataset: dataset description for the section header ("" when the stage uses none).
        threads: torch threads the stage runs with (for the machine line).
    """

    name: str
    title: str
    command: list[str]
    run: Callable[[list[str]], int] | None
    render: Callable[[Path], str]
    key: dict
    dataset: str = ""
    threads: int | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _display(command: list[str]) -> str:
    """The command as a user types it (the venv's console scripts / python)."""
    cmd = ["python" if c == sys.executable else c for c in command]
    return shlex.join(cmd)


def run_stage(stage: Stage, out: Path, force: bool, echo: Callable[[str], None] = print) -> dict:
    """Run (or reuse) one stage; returns its record (also ``OUT/<name>/stage.json``)."""
    folder = out / stage.name
    record_path = folder / "stage.json"
    if record_path.is_file() and not force:
        try:
            old = json.loads(record_path.read_text())
            if old.get("key") == stage.key and old.get("rc") == 0:
                echo(f"[{stage.name}] reused (inputs unchanged; --force {stage.name} to re-run)")
                return {**old, "reused": True}
        except (OSError, json.JSONDecodeError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    machine = machine_info(stage.threads)
    echo(f"[{stage.name}] running: {_display(stage.command)}  (log: {log})")
    t0 = time.time()
    rc, error = 0, ""
    with open(log, "w") as f:
        if stage.run is None:
            r = subprocess.run(stage.command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=os.environ.copy())
            rc = r.returncode
        else:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                try:
                    rc = int(stage.run(stage.command) or 0)
                except SystemExit as e:  # argparse errors
                    rc = int(e.code) if isinstance(e.code, int) else 2
                except Exception:
                    rc, error = 1, traceback.format_exc()
                    f.write(error)
    record = {
        "stage": stage.name,
        "command": _display(stage.command),
        "key": stage.key,
        "rc": rc,
        "seconds": round(time.time() - t0, 1),
        "started": datetime.fromtimestamp(t0, UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "dataset": stage.dataset,
        "notes": stage.notes,
    }
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    echo(f"[{stage.name}] {'done' if rc == 0 else f'FAILED (exit {rc})'} in {record['seconds']:.0f} s")
    return {**record, "reused": False}


# ------------------------------------------------------------------------------------------- renderers
def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _markdown_lines(path: Path) -> str:
    """The table rows and 'machine:' lines a script printed."""
    lines = path.read_text().splitlines()
    keep = [ln for ln in lines if ln.startswith("|") or ln.lower().startswith(("machine", "t="))]
    return "\n".join(keep) + "\n"


def render_dataset(folder: Path, data: Path) -> str:
    from sim2art_core.data.dataset import read_index

    idx = read_index(data)
    c = idx["config"]
    rows = [f"| {s} | {v['num_sequences']} | {len(v['objects'])} |" for s, v in idx["splits"].items()]
    return (
        f"Dataset `{data}`: seed {idx['seed']}, {len(idx['categories'])} categories, {idx['objects_per_category']} "
        f"objects per category, {idx['sequences_per_object']} sequences per object, T = {c['num_frames']}, "
        f"N = {c['num_points']}, {c['width']}×{c['height']}, realism {'on' if any(c['realism'].values()) else 'off'} "
        f"(split by object 70/15/15 %).\n\n| split | sequences | objects |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def render_latency(folder: Path) -> str:
    from sim2art_core.benchmarks.latency import latency_markdown

    return latency_markdown(json.loads((folder / "latency.json").read_text()))


def render_flow(folder: Path) -> str:
    from sim2art_core.benchmarks.bench_flow import markdown

    return markdown(json.loads((folder / "flow_resolution.json").read_text()))


def render_eval(folder: Path, conditions: list[str]) -> str:
    first = conditions[0]
    sub = folder / first if len(conditions) > 1 else folder
    md = f"#### Table 2 per category, condition `{first}`\n\n" + (sub / "table.md").read_text()
    if len(conditions) > 1:
        md += "\n" + (folder / "robustness.md").read_text().replace("## ", "#### ")
        for c in conditions[1:]:
            md += (f"\n<details><summary>Table 2 per category, condition <code>{c}</code></summary>\n\n"
                   + (folder / c / "table.md").read_text() + "\n</details>\n")  # fmt: skip
    return md


def render_fusion(folder: Path) -> str:
    """Fusion variants x conditions on the joint metrics (val split)."""
    import csv

    keys = [("axis_angle_deg", "Axis Ang (°) ↓"), ("axis_position_cm", "Axis Pos (cm) ↓"),
            ("part_rotation_deg", "Part Rot (°) ↓"), ("part_translation_cm", "Part Trans (cm) ↓"),
            ("type_accuracy", "Type Acc (%) ↑"), ("missed_joints", "Missed (%) ↓")]  # fmt: skip
    rows = list(csv.DictReader(open(folder / "robustness.csv")))
    conds = list(dict.fromkeys(r["condition"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    val = {(r["condition"], r["method"], r["metric"]): float(r["mean"]) for r in rows}
    md = ""
    for c in conds:
        md += f"\nCondition `{c}` (mean over categories):\n\n| method | " + " | ".join(t for _, t in keys) + " |\n"
        md += "|" + "---|" * (len(keys) + 1) + "\n"
        for m in methods:
            cells = [val.get((c, m, k), float("nan")) for k, _ in keys]
            md += f"| {m} | " + " | ".join("-" if x != x else f"{x:.2f}" for x in cells) + " |\n"
    default = "max_fit_residual_m=0.01,min_refined_confidence=0.5"
    md += f"\n`sim2art[{default}]` is the default `RefineConfig` (= `sim2art`).\n"
    return md


def render_file(name: str) -> Callable[[Path], str]:
    return lambda folder: (folder / name).read_text()


def render_stdout(folder: Path) -> str:
    return _markdown_lines(folder / "log.txt")


# ------------------------------------------------------------------------------------------- plan
def _tiny_checkpoint(path: Path) -> Path:
    import torch

    from sim2art_core.model import build_model, preset
    from sim2art_core.model.checkpoint import save_checkpoint

    if not path.is_file():
        torch.manual_seed(0)
        cfg = preset("tiny", num_frames=6, num_points=96)
        save_checkpoint(path, build_model(cfg), cfg)
    return path


def _module(main_path: str) -> Callable[[list[str]], int]:
    """In-process runner of ``python -m module args`` (calls the module's main(args))."""
    import importlib

    def run(command: list[str]) -> int:
        mod = importlib.import_module(main_path)
        return mod.main(command[3:])

    return run


def plan(args: argparse.Namespace, data: Path, checkpoint: Path, ck_sha: str) -> list[Stage]:
    """The stages of this run, in order (see the module doc). A key's "data" entry is filled in at run time."""
    from sim2art_core.benchmarks.ablation import VARIANTS

    out, py, quick = Path(args.out), sys.executable, args.quick

    def key(name: str, command: list[str], **kw) -> dict:
        return {"sources": source_hash(STAGE_SOURCES[name]), "argv": command[2:], **kw}

    stages: list[Stage] = []
    gen = [py, "-m", "sim2art_core.data.cli", str(data), "--seed", str(args.seed), "--quiet", "--overwrite"]
    if quick:
        gen += ["--categories", "Box,Laptop", "--objects-per-category", "3", "--sequences-per-object", "1"]
        gen += ["--frames", "6", "--points", "192"]
    else:
        gen += ["--objects-per-category", str(args.objects_per_category)]
        gen += ["--sequences-per-object", str(args.sequences_per_object), "--workers", str(args.workers)]
    if not args.data:
        render = lambda f: render_dataset(f, data)  # noqa: E731
        stages.append(Stage("dataset", "Evaluation dataset", gen, _module(gen[2]), render, key("dataset", gen)))

    bench_data = [py, "scripts/bench_data.py", "--sequences", "1" if quick else "56"]
    bench_data += ["--json", str(out / "data-engine" / "bench_data.json")]
    note = "One process pinned to one core, BLAS/OpenMP threads 1 (scripts/bench_data.py)."
    stages.append(
        Stage("data-engine", "Data engine: sequences per second", bench_data, None, render_stdout,
              key("data-engine", bench_data[:4]), threads=1, notes=note)
    )  # fmt: skip

    lat = [py, "-m", "sim2art_core.benchmarks.latency", "--checkpoint", str(checkpoint)]
    lat += ["--json", str(out / "latency" / "latency.json")]
    if quick:
        lat += ["--frames", "6", "--points", "96", "--threads", "1", "--repeats", "2", "--resolutions", "160x120"]
        lat += ["--methods", "sim2art,featclust", "--in-process"]
    note = "Windows: the data engine's (realism on), the same for every method; CPU unless the device says cuda."
    stages.append(
        Stage("latency", "Latency and memory: methods per window, preprocessing per frame", lat, _module(lat[2]),
              render_latency, key("latency", lat, ck=ck_sha), notes=note)
    )  # fmt: skip

    res = ["160x120", "320x240"] if quick else ["160x120", "320x240", "640x480"]
    flow = [
        py,
        "-m",
        "sim2art_core.benchmarks.bench_flow",
        "--data",
        str(data),
        "--split",
        "val",
        "--per-category",
        "1",
    ]
    flow += ["--resolutions", *res, "--json", str(out / "flow-resolution" / "flow_resolution.json"), "--no-progress"]
    stages.append(
        Stage("flow-resolution", "Optical-flow conditions: which rendered resolution DIS flow needs", flow,
              _module(flow[2]), render_flow, key("flow-resolution", flow, data=""),
              dataset=f"{data}, split val, 1 sample per category")
    )  # fmt: skip

    window_cache = str(out / "window-cache" / source_hash(WINDOW_SOURCES))
    flow_res = "160x120" if quick else args.flow_resolution
    common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--threads", "1", "--flow-resolution", flow_res]
    common += ["--cache", window_cache, "--no-progress"]
    ev = [py, "-m", "sim2art_core.eval.cli", "--data", str(data), "--split", "test", "--conditions", ALL_CONDITIONS]
    ev += ["--methods", EVAL_METHODS, *common, "--out", str(out / "eval")]
    render = lambda f: render_eval(f, ALL_CONDITIONS.split(","))  # noqa: E731
    stages.append(
        Stage("eval", "Accuracy (Table 2), robustness and the side-by-side table of issue 8", ev, _module(ev[2]),
              render, key("eval", ev, ck=ck_sha, data=""), dataset=f"{data}, split test (every sample)", threads=1)
    )  # fmt: skip

    per_cat = "1" if quick else "3"
    fu = [py, "-m", "sim2art_core.eval.cli", "--data", str(data), "--split", "val", "--per-category", per_cat]
    fu += ["--conditions", "gt-flow,realism" if quick else "gt-flow,realism,optical-flow"]
    fu += ["--methods", "sim2art-norefine,sim2art-refined-only", *common, "--out", str(out / "fusion")]
    for g in FUSION_GRID:
        fu += ["--refine-grid", g]
    stages.append(
        Stage("fusion", "Fusion of network and refined joints: thresholds on the val split", fu, _module(fu[2]),
              render_fusion, key("fusion", fu, ck=ck_sha, data=""),
              dataset=f"{data}, split val, {per_cat} sample(s) per category", threads=1,
              notes="Choose the thresholds here (val), report on test (the eval stage).")
    )  # fmt: skip

    runs = Path(args.ablation_dir)
    shas = {v.name: _sha(runs / v.name / "final.pt") for v in VARIANTS if (runs / v.name / "final.pt").is_file()}
    ab = [py, "-m", "sim2art_core.benchmarks.ablation", "--runs-dir", str(runs), "--data", str(data)]
    ab += ["--out", str(out / "ablation"), "--eval-arg=--threads=1", "--eval-arg=--device=cpu"]
    note = "Checkpoints: " + ", ".join(f"{n} sha256 `{s}`" for n, s in shas.items())
    budgets = sorted({b for name in shas if (b := _train_steps(runs / name / "final.pt")) is not None})
    note += ". Trained by scripts/train_ablations.sh at one equal step budget (see its header)"
    note += (": " + ", ".join(f"{b} steps" for b in budgets) + ".") if budgets else "."
    if not shas:
        ab, note = [], f"no ablation checkpoints under {runs}: run scripts/train_ablations.sh first."
    stages.append(
        Stage("ablation", "Ablations (paper Table 4)", ab, _module("sim2art_core.benchmarks.ablation"),
              render_file("ablation.md"), key("ablation", ab, cks=shas, data=""),
              dataset=f"{data}, split test, condition gt-flow", threads=1, notes=note)
    )  # fmt: skip

    rb = [py, "-m", "sim2art_core.benchmarks.bench_refine", "--repeats", "2" if quick else "20"]
    rb += ["--frames", "6", "--points", "128"] if quick else []
    stages.append(
        Stage("refine", "Cost of the geometric refinement (exact-geometry scenes)", rb, _module(rb[2]),
              render_stdout, key("refine", rb))
    )  # fmt: skip

    ex = [py, "-m", "sim2art_core.benchmarks.bench_export", "--seed", "0"]
    ex += ["--frames", "5", "--points", "128"] if quick else ["--frames", "8", "--points", "512", "--optical-flow"]
    stages.append(
        Stage("export", "URDF export: time, mesh sizes, round trip (issue 13)", ex, _module(ex[2]),
              render_stdout, key("export", ex), notes="One test-split sequence per category, true segmentation.")
    )  # fmt: skip

    node = [py, "-m", "sim2art_ros.tools.perceive_benchmark", "--out", str(out / "node" / "bench_perceive.json")]
    node += ["--checkpoint", str(checkpoint)]
    stages.append(
        Stage("node", "The ROS node: preprocessing, latency, idle CPU, maximum input rate", node, None,
              render_file("bench_perceive.md"),
              key("node", node, ck=ck_sha), notes="Frames: the data engine's Storage1 at 640×480, DDS on loopback.")
    )  # fmt: skip
    return stages


def _train_steps(path: Path) -> int | None:
    """The step count a training checkpoint was saved at (its ``train.step``; None when not recorded)."""
    from sim2art_core.model.checkpoint import read_checkpoint

    step = read_checkpoint(path).get("train", {}).get("step")
    return None if step is None else int(step)


def _sha(path: Path) -> str:
    from sim2art_core.model.checkpoint import file_digest

    return file_digest(path, length=64)


def write_report(path: Path, stages: list[Stage], records: dict[str, dict], args, ck_sha: str, ck_kind: str) -> str:
    """BENCHMARKS.md: how to regenerate, then one section per stage (command, dataset, checkpoint, machine)."""
    out = Path(args.out)
    now = datetime.now(UTC).isoformat(timespec="minutes")
    m = machine_info()
    md = [
        "# Benchmarks",
        "",
        "Generated by `scripts/make_benchmarks.sh` (`sim2art-benchmark report`"
        + (" --quick: a smoke run on a tiny dataset with a tiny random checkpoint, not results" if args.quick else "")
        + f") on {now}. Every table below states the command that produced it, the dataset (with its seed), the "
        "checkpoint's sha256 and the machine with its load average when the stage started. Regenerate all with "
        "`scripts/make_benchmarks.sh` (stages whose inputs did not change are reused; `--force STAGE` re-runs one).",
        "",
        f"Checkpoint: {ck_kind}, sha256 `{ck_sha}`. Machine: {machine_line(m)}.",
        "Metric definitions, conditions and the evaluation protocol: docs/EVALUATION.md.",
        "",
    ]
    for st in stages:
        rec = records.get(st.name)
        md.append(f"## {st.title}")
        md.append("")
        if rec is None:
            md += [f"Skipped{': ' + st.notes if st.notes else ''} (`--skip {st.name}`)." if st.command
                   else f"Not run: {st.notes}", ""]  # fmt: skip
            continue
        md.append(f"- Command: `{rec['command']}`")
        if st.dataset:
            md.append(f"- Dataset: {st.dataset}; {_dataset_seed(args)}")
        if "ck" in st.key or "cks" in st.key:
            md.append(f"- Checkpoint: sha256 `{ck_sha}`" if "ck" in st.key else "- Checkpoints: see notes")
        md.append(f"- Machine: {machine_line(rec['machine'])}")
        md.append(f"- Run: {rec['started']}, {rec['seconds']:.0f} s" + (" (reused from an earlier run)"
                                                                          if rec.get("reused") else ""))  # fmt: skip
        if st.notes:
            md.append(f"- Notes: {st.notes}")
        md.append("")
        if rec["rc"] != 0:
            md += [f"**FAILED** (exit {rec['rc']}); end of `{out / st.name / 'log.txt'}`:", "", "```",
                   _tail(out / st.name / "log.txt"), "```", ""]  # fmt: skip
            continue
        try:
            md += [st.render(out / st.name).rstrip(), ""]
        except (OSError, ValueError, KeyError) as e:
            md += [f"**Could not render** ({type(e).__name__}: {e}); see `{out / st.name}`.", ""]
    text = "\n".join(md) + "\n"
    if path.is_file():
        text += hand_run_sections(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def hand_run_sections(text: str) -> str:
    """The ``## ...`` sections of an existing BENCHMARKS.md whose title says "(hand-run": measurements that
    are not a stage yet (e.g. the contrib optical-flow methods, which need a second venv) survive a
    regeneration unchanged, at the end."""
    keep, cur = [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            cur = [] if "(hand-run" in line else None
            if cur is not None:
                keep.append(cur)
        if cur is not None:
            cur.append(line)
    return "".join("".join(sec).rstrip("\n") + "\n\n" for sec in keep)


def _dataset_seed(args) -> str:
    return f"dataset seed {args.seed}" if not args.data else "dataset given with --data (seed in its index.json)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sim2art-benchmark report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--out", default="out/benchmarks", help="outputs of every stage (default out/benchmarks)")
    p.add_argument("--docs", default=None, help="report path (default docs/BENCHMARKS.md; --quick: OUT/BENCHMARKS.md)")
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one; --quick: tiny random)")
    p.add_argument("--data", default=None, help="reuse this evaluation dataset instead of generating one")
    p.add_argument("--seed", type=int, default=2025, help="seed of the generated evaluation dataset")
    p.add_argument("--objects-per-category", type=int, default=20,
                   help="objects per category (test/val get 15 %% each: 3 of 20)")  # fmt: skip
    p.add_argument("--sequences-per-object", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="dataset generator processes")
    p.add_argument("--flow-resolution", default="640x480", help="rendered size of the optical-flow conditions")
    p.add_argument("--ablation-dir", default="runs/ablations", help="runs of scripts/train_ablations.sh")
    p.add_argument("--skip", default="", help=f"comma-separated stages to skip ({', '.join(STAGES)})")
    p.add_argument("--force", default="", help="comma-separated stages to re-run although cached ('all' = every)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny dataset and checkpoint, node skipped")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    force = {s.strip() for s in args.force.split(",") if s.strip()}
    bad = (skip | force) - set(STAGES) - {"all"}
    if bad:
        print(f"sim2art-benchmark report: unknown stage(s) {sorted(bad)}; known: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    if args.quick:
        skip.add("node")  # a ROS node over DDS for minutes: not a smoke run
    out = Path(args.out).resolve()
    args.out = str(out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data).resolve() if args.data else out / "data"
    if args.data and not (data / "index.json").is_file():
        print(f"sim2art-benchmark report: no dataset index at {data}", file=sys.stderr)
        return 2
    from sim2art_core.estimator import DEFAULT_CHECKPOINT

    if args.checkpoint:
        checkpoint, ck_kind = Path(args.checkpoint).resolve(), f"`{args.checkpoint}`"
    elif args.quick:
        checkpoint, ck_kind = _tiny_checkpoint(out / "tiny.pt"), "tiny random-initialised (smoke run)"
    else:
        checkpoint, ck_kind = DEFAULT_CHECKPOINT, "the shipped `sim2art_core/checkpoints/default.pt`"
    if not checkpoint.is_file():
        print(f"sim2art-benchmark report: no checkpoint at {checkpoint} (train one: docs/MODEL.md §5.1)",
              file=sys.stderr)  # fmt: skip
        return 2
    ck_sha = _sha(checkpoint)
    docs = Path(args.docs) if args.docs else (out / "BENCHMARKS.md" if args.quick else ROOT / "docs" / "BENCHMARKS.md")
    stages = plan(args, data, checkpoint, ck_sha)
    records: dict[str, dict] = {}
    failed = []
    for st in stages:
        if st.name in skip or not st.command:
            continue
        if "data" in st.key:  # filled in now: the dataset stage may just have written the dataset
            st.key = {**st.key, "data": _data_key(data)}
        rec = run_stage(st, out, force=st.name in force or "all" in force)
        records[st.name] = rec
        if rec["rc"] != 0:
            failed.append(st.name)
            if st.name == "dataset":
                break
    write_report(docs, stages, records, args, ck_sha, ck_kind)
    print(f"wrote {docs}" + (f"; failed stages: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _data_key(data: Path) -> str:
    from sim2art_core.data.dataset import read_index
    from sim2art_core.eval.conditions import dataset_key

    return dataset_key(read_index(data)) if (data / "index.json").is_file() else "missing"


if __name__ == "__main__":
    raise SystemExit(main())
