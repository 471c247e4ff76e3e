"""The bag evaluation's report: ``report.md`` (Markdown tables + pictures) and ``results.json``.

Accuracy numbers are those of the final estimate of each bag (with the node's defaults
the fused object model after the last window; with ``publish_mode: window`` the newest
window), with the per-estimate values below it; metric
conventions are docs/EVALUATION.md's (axis angle sign-agnostic, revolute axis
position = true pivot to estimated line, missed joints get worst-case values).
Latency is end to end: from the replay publishing the colour image of the
window's newest frame to the estimate arriving at the recorder (wall clock; both
on this machine), next to the node's own ``inference_time``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2art_core.markdown import markdown_table
from sim2art_core.types import JointType
from sim2art_ros.tools.bag_categories import accuracy, category_table, fmt
from sim2art_ros.tools.bag_compare import BagResult, EstimateScore


def stats(values: Sequence[float]) -> dict[str, float]:
    """n, mean, median, p90, max of the finite values (NaN when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"n": 0, "mean": float("nan"), "median": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {
        "n": int(len(v)),
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
    }


def _vec(v) -> str:
    return "(" + ", ".join(f"{c:+.2f}" for c in np.asarray(v, float)) + ")"


def _unit(joint_type) -> str:
    return "rad" if joint_type == JointType.REVOLUTE else "m"


def _window_motion(joint) -> float:
    """The joint's motion over the window (the fused model's states start at the state already reached)."""
    amounts = np.asarray(joint.amounts, dtype=np.float64).reshape(-1)
    return float(amounts[-1] - amounts[0]) if amounts.size else 0.0


def _joint_label(joint) -> str:
    """e.g. ``joint_1 (revolute, 4 windows, confirmed)``."""
    support = f"{joint.support_windows} window{'s' if joint.support_windows != 1 else ''}"
    return f"{joint.name} ({joint.type.name.lower()}, {support}, {'confirmed' if joint.confirmed else 'unconfirmed'})"


def joint_rows(result: BagResult) -> list[dict[str, str]]:
    """Final estimate's joints next to the ground truth: one row per scored true joint, then extra estimated ones."""
    est, final = result.final_estimate, result.final
    rows = []
    if result.truth is not None and final is not None and final.errors:
        for k, (gi, gt, err) in enumerate(zip(result.truth_joints, result.final_truth, final.errors, strict=True)):
            tj = result.truth.joints[gi]
            m = final.matches[k] if k < len(final.matches) else None
            ej = est.joints[m] if (m is not None and est is not None) else None
            unit = _unit(gt.type)
            st = final.states[k] if k < len(final.states) else None
            rows.append({
                "true joint": f"{tj.name} ({JointType(gt.type).name.lower()})",
                "estimated": "missed" if ej is None else _joint_label(ej),
                "axis true": _vec(gt.axis),
                "axis est.": "–" if ej is None else _vec(ej.axis),
                "pivot true": _vec(gt.pivot),
                "origin est.": "–" if ej is None else _vec(ej.origin),
                "motion true": f"{gt.amounts[-1]:+.3f} {unit}",
                "motion est.": "–" if ej is None else f"{_window_motion(ej):+.3f} {_unit(ej.type)}",
                "axis err [deg]": fmt(err.axis_angle_deg),
                "axis pos. err [cm]": fmt(err.axis_position_cm),
                "motion err": (
                    f"{fmt(err.part_rotation_deg)} deg" if gt.type == JointType.REVOLUTE
                    else f"{fmt(err.part_translation_cm)} cm"
                ),
                "state true": "–" if st is None else f"{fmt(st.true, 3)} {unit}",
                "state est.": "–" if st is None or ej is None else f"{fmt(st.estimated, 3)} {unit}",
                "state err": "–" if st is None else f"{fmt(st.error, 3)} {unit}",
            })  # fmt: skip
    matched = set(final.matches) if final is not None else set()
    for i, ej in enumerate(est.joints if est is not None else ()):
        if i in matched or ej.type == JointType.STATIC:
            continue
        unit = _unit(ej.type)
        rows.append({
            "true joint": "–" if result.truth is None else "(no true joint)",
            "estimated": _joint_label(ej),
            "axis true": "–", "axis est.": _vec(ej.axis), "pivot true": "–", "origin est.": _vec(ej.origin),
            "motion true": "–", "motion est.": f"{_window_motion(ej):+.3f} {unit}",
            "axis err [deg]": "–", "axis pos. err [cm]": "–", "motion err": "–",
            "state true": "–", "state est.": f"{ej.state:+.3f} {unit}", "state err": "–",
        })  # fmt: skip
    return rows


def text_table(rows: list[dict[str, str]], cols: Sequence[str] | None = None) -> str:
    """Fixed-width text table (for the terminal)."""
    if not rows:
        return "(none)"
    cols = list(cols or rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(width[c]) for c in cols)
    body = ["  ".join(str(r[c]).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


@dataclass(frozen=True)
class Report:
    """All bags of one evaluation run."""

    results: list[BagResult]
    options: Any
    bags: list[str]
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))

    def summary_rows(self) -> list[dict[str, str]]:
        rows = []
        for r in self.results:
            c = r.status_counts()
            acc, f = accuracy(r.final), r.final
            lat, inf = stats(r.latencies() * 1e3), stats(r.inference_times() * 1e3)
            rows.append({
                "bag": r.name,
                "images": str(r.images_sent),
                "estimates (ok/none/failed)": f"{len(r.scores)} ({c['OK']}/{c['NO_ARTICULATION']}/{c['FAILED']})",
                "type acc.": "–" if r.truth is None else fmt(acc["type_accuracy"], 2),
                "axis [deg]": fmt(acc["axis_angle_deg"]),
                "axis pos. [cm]": fmt(acc["axis_position_cm"]),
                "rotation [deg]": fmt(acc["part_rotation_deg"]),
                "translation [cm]": fmt(acc["part_translation_cm"]),
                "state rev. [rad]": fmt(acc["state_error_rad"], 3),
                "state pris. [cm]": fmt(acc["state_error_cm"]),
                "missed": "–" if r.truth is None or f is None else f"{f.missed}/{len(r.truth_joints)}",
                "spurious (confirmed)": "–" if r.final is None else f"{f.extra_joints} ({f.extra_confirmed})",
                "latency median/p90 [ms]": f"{fmt(lat['median'], 0)} / {fmt(lat['p90'], 0)}",
                "inference median [ms]": fmt(inf["median"], 0),
            })  # fmt: skip
        return rows

    def summary_text(self) -> str:
        text = text_table(self.summary_rows())
        rows, data = category_table(self.results)
        if data["bags"]:
            text += "\n\nBy category (final estimate):\n" + text_table(rows)
        return text

    def estimator(self) -> str:
        ids = sorted({r.final_estimate.estimator_id for r in self.results if r.final_estimate is not None})
        return ", ".join(i for i in ids if i) or "(no estimate received)"

    def to_json(self) -> dict:
        def score(s: EstimateScore) -> dict:
            return {
                "stamp_ns": s.stamp_ns, "status": s.status, "message": s.message, "latency_s": s.latency_s,
                "inference_s": s.inference_s, "num_joints": s.num_joints, "extra_joints": s.extra_joints,
                "extra_confirmed": s.extra_confirmed,
                "matches": list(s.matches), **{f"accuracy_{k}": v for k, v in accuracy(s).items()},
                "joints": [
                    {k: (v.name if hasattr(v, "name") else v) for k, v in e.__dict__.items()} for e in s.errors
                ],
                "states_at_last_frame": [dict(st.__dict__) for st in s.states],
            }  # fmt: skip

        opts = self.options
        return {
            "created": self.created,
            "machine": machine(),
            "by_category": category_table(self.results)[1],
            "estimator": self.estimator(),
            "options": {k: str(v) for k, v in (opts.__dict__.items() if opts is not None else ())},
            "bags": [
                {
                    "bag": r.bag, "name": r.name, "has_ground_truth": r.truth is not None,
                    "images_sent": r.images_sent, "replay_s": r.replay_s, "status_counts": r.status_counts(),
                    "final_accuracy": accuracy(r.final),
                    "latency_ms": stats(r.latencies() * 1e3), "inference_ms": stats(r.inference_times() * 1e3),
                    "final_joints": joint_rows(r), "estimates": [score(s) for s in r.scores],
                    "plots": {k: str(v) for k, v in r.plots.items()},
                }
                for r in self.results
            ],
        }  # fmt: skip


def machine() -> str:
    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})"


def write_report(report: Report, out: Path) -> Path:
    """Write ``out/report.md`` and ``out/results.json``; returns the Markdown path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = report.options
    lines = [
        "# sim2art bag evaluation",
        "",
        f"- created: {report.created} on {machine()}",
        f"- estimator: `{report.estimator()}`",
        f"- bags: {', '.join(f'`{b}`' for b in report.bags)}",
    ]
    if opts is not None:
        lines.append(f"- replay rate: {opts.rate}; node arguments: `{' '.join(map(str, opts.node_args)) or '-'}`")
    lines += [
        "",
        "## Summary",
        "",
        "Joint state at the last frame: the final estimate's state at its newest stamp against the true "
        "one, both relative to the first frame the joint was observed in (revolute rad, prismatic cm).",
        "",
        "Accuracy of the final estimate of each bag (the node's fused object model after the last window, or the "
        "newest window with publish_mode window), averaged over the joints that move in the "
        "bag; motion = over the newest window; spurious = estimated joints matching no true joint (in brackets: "
        "confirmed ones, what a planner acts on); a missed joint counts with worst-case values (90 deg, 100 cm, "
        "no motion). Latency: colour image "
        "of the window's newest frame published -> estimate received (wall clock, this machine). Conventions: "
        "docs/EVALUATION.md; report layout: docs/BAGS.md.",
        "",
        markdown_table(report.summary_rows()),
    ]
    cat_rows, cat_data = category_table(report.results)
    if cat_data["bags"]:
        from sim2art_core.eval.bag_plots import plot_category_summary

        plot = plot_category_summary(out / "by_category.png", cat_data)
        lines += [
            "## By category",
            "",
            "The final estimate per bag, averaged over the category's bags; Mean = mean of the categories; a bag "
            "without any estimate counts as every joint missed and as not clean. Targets: issue 11 (bags through "
            "the node).",
            "",
            markdown_table(cat_rows),
            f"![by category]({plot.relative_to(out)})",
            "",
        ]
    for r in report.results:
        rel = r.out_dir.relative_to(out) if r.out_dir.is_relative_to(out) else r.out_dir
        lines += [f"## {r.name}", "", f"Bag `{r.bag}`; node log `{rel}/node.log`; recording `{rel}/recorded`.", ""]
        if r.truth is None:
            lines += ["No ground truth in this bag (`/articulation_ground_truth`): latency and pictures only.", ""]
        lines += ["### Final estimate vs ground truth", "", markdown_table(joint_rows(r))]
        if r.final is not None and r.final.status != "OK":
            lines += [f"Final estimate status {r.final.status}: {r.final.message or '-'}", ""]
        per = []
        t0 = r.scores[0].stamp_ns if r.scores else 0
        for i, s in enumerate(r.scores):
            acc = accuracy(s)
            per.append({
                "#": str(i), "stamp [s]": f"{(s.stamp_ns - t0) / 1e9:.2f}", "status": s.status,
                "joints": str(s.num_joints), "latency [ms]": fmt(s.latency_s * 1e3, 0),
                "inference [ms]": fmt(s.inference_s * 1e3, 0),
                "type acc.": fmt(acc["type_accuracy"], 2), "axis [deg]": fmt(acc["axis_angle_deg"]),
                "axis pos. [cm]": fmt(acc["axis_position_cm"]),
            })  # fmt: skip
        lat, inf = stats(r.latencies() * 1e3), stats(r.inference_times() * 1e3)
        lines += [
            "### Every estimate",
            "",
            markdown_table(per),
            f"Latency over {lat['n']} estimates: mean {fmt(lat['mean'], 0)} ms, median {fmt(lat['median'], 0)} ms, "
            f"p90 {fmt(lat['p90'], 0)} ms, max {fmt(lat['max'], 0)} ms; node inference median "
            f"{fmt(inf['median'], 0)} ms. Replay took {r.replay_s:.1f} s for {r.images_sent} images.",
            "",
            "### Pictures",
            "",
        ]
        for name, path in r.plots.items():
            p = Path(path)
            lines.append(f"![{name}]({p.relative_to(out) if p.is_relative_to(out) else p})")
        lines.append("")
    md = out / "report.md"
    md.write_text("\n".join(lines))
    data = _finite_or_none(json.loads(json.dumps(report.to_json(), default=_json_default)))
    (out / "results.json").write_text(json.dumps(data, indent=1, allow_nan=False))
    return md


def _finite_or_none(o):
    """Strict JSON: NaN/inf become null."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite_or_none(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite_or_none(v) for v in o]
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
