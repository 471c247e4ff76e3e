"""Tables across evaluation conditions: the robustness table (every method x condition with the cost of
each condition) and issue 8's side-by-side table (network only, network + refinement, FeatClust under
ground-truth flow, the run-time optical flow and the realism settings).

Both read the ``Mean`` column (mean of the category means, the paper's Mean) of per-condition
:class:`~sim2art_core.metrics.aggregate.MethodTable` s, so they fall out of one ``sim2art-eval`` run.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim2art_core.eval.conditions import GT_FLOW, OPTICAL_FLOW, REALISM
from sim2art_core.metrics.aggregate import EXTRA_METRICS, MEAN, TABLE_METRICS, MethodTable, MetricSpec

#: Rows of the robustness table: Table 2's metrics, then missed joints and failed samples.
ROBUSTNESS_METRICS: tuple[MetricSpec, ...] = TABLE_METRICS + tuple(
    m for m in EXTRA_METRICS if m.key in ("missed_joints", "failed")
)
#: Issue 8: (method, heading) and (condition, heading), in this order.
SIDE_BY_SIDE_METHODS = (("sim2art-norefine", "network only"), ("sim2art-motionseg", "+ motion segmentation"),
                        ("sim2art", "network + refinement"),
                        ("sim2art-motionseg-refine", "+ motion segmentation + refinement"),
                        ("featclust", "FeatClust"))  # fmt: skip
SIDE_BY_SIDE_CONDITIONS = ((GT_FLOW, "(a) ground-truth flow"), (OPTICAL_FLOW, "(b) run-time optical flow"),
                           (REALISM, "(c) realism"))  # fmt: skip


@dataclass(frozen=True)
class ConditionSummary:
    """What a condition did to the samples (reported under the robustness table).

    Attributes:
        items: samples evaluated.
        no_window: items the condition could not turn into a window (scored FAILED for every method).
        camera_differs: re-generated items whose camera path differs from the dataset sample's
            (the data engine frames the object with a 1-pixel margin, so the framing step can differ
            between resolutions; the object and motion are the same and the ground truth is the
            re-generated one).
        flow_error_moving_mm, flow_error_all_mm: median over items of the median scene-flow error of
            the valid points of moving parts / of all valid points.
        valid_fraction: mean fraction of the window points that are valid.
        ms_per_window: method -> mean wall time per window.
    """

    items: int
    no_window: int
    camera_differs: int
    flow_error_moving_mm: float
    flow_error_all_mm: float
    valid_fraction: float
    ms_per_window: Mapping[str, float]


def _mean(t: MethodTable, key: str) -> float:
    s = t.cells[key].get(MEAN)
    return s.mean if s is not None and s.count else float("nan")


def _fmt(v: float, delta: bool = False) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:+.2f}" if delta else f"{v:.2f}"


def _by_method(tables: Sequence[MethodTable]) -> dict[str, MethodTable]:
    return {t.method: t for t in tables}


def robustness_markdown(
    tables: Mapping[str, Sequence[MethodTable]],
    summaries: Mapping[str, ConditionSummary] | None = None,
    reference: str = GT_FLOW,
) -> str:
    """One row per (metric, method), per condition its Mean and its cost (condition - ``reference``).

    ``tables``: condition -> the MethodTables of that condition (same methods and samples in each).
    """
    conds = list(tables)
    methods: list[str] = []
    for ts in tables.values():
        methods += [t.method for t in ts if t.method not in methods]
    by = {c: _by_method(tables[c]) for c in conds}
    has_ref = reference in by
    head = ["Metric", "Method"]
    for c in conds:
        head.append(c)
        if has_ref and c != reference:
            head.append(f"Δ {c}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for spec in ROBUSTNESS_METRICS:
        for m in methods:
            row = [spec.title, m]
            ref = _mean(by[reference][m], spec.key) if has_ref and m in by[reference] else float("nan")
            for c in conds:
                v = _mean(by[c][m], spec.key) if m in by[c] else float("nan")
                row.append(_fmt(v))
                if has_ref and c != reference:
                    row.append(_fmt(v - ref, delta=True))
            lines.append("| " + " | ".join(row) + " |")
    md = "\n".join(lines) + "\n"
    if has_ref:
        md += (
            f"\nΔ = condition − {reference} (the cost of the condition; ↑/↓ in the metric name say which "
            "direction is better). Values: mean over categories (the paper's Mean column).\n"
        )
    if summaries:
        md += "\n" + summaries_markdown(summaries, tables)
    return md


def summaries_markdown(summaries: Mapping[str, ConditionSummary], tables: Mapping[str, Sequence[MethodTable]]) -> str:
    """Per condition: samples, scored / excluded joints, items without a window, flow error, timing."""
    conds = list(summaries)
    first = {c: (tables[c][0] if tables.get(c) else None) for c in conds}
    rows = [
        ("samples", lambda c: str(summaries[c].items)),
        ("joints scored", lambda c: str(first[c].num_joints.get(MEAN, 0)) if first[c] else "-"),
        ("joints excluded (visibility)", lambda c: str(first[c].num_excluded.get(MEAN, 0)) if first[c] else "-"),
        ("no window (scored as FAILED)", lambda c: str(summaries[c].no_window)),
        ("camera path differs from the dataset's", lambda c: str(summaries[c].camera_differs)),
        ("scene-flow error, moving parts (mm, median)", lambda c: _fmt(summaries[c].flow_error_moving_mm)),
        ("scene-flow error, all points (mm, median)", lambda c: _fmt(summaries[c].flow_error_all_mm)),
        ("valid window points (%)", lambda c: _fmt(100.0 * summaries[c].valid_fraction)),
    ]
    methods: list[str] = []
    for s in summaries.values():
        methods += [m for m in s.ms_per_window if m not in methods]
    lines = ["| | " + " | ".join(conds) + " |", "|" + "---|" * (len(conds) + 1)]
    lines += ["| " + name + " | " + " | ".join(fn(c) for c in conds) + " |" for name, fn in rows]
    for m in methods:
        lines.append(f"| {m}: ms per window | " + " | ".join(
            _fmt(summaries[c].ms_per_window.get(m, float("nan"))) for c in conds) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def side_by_side_markdown(tables: Mapping[str, Sequence[MethodTable]]) -> str:
    """Issue 8: one row per Table 2 metric; per condition network only · + motion segmentation · network +
    refinement · + motion segmentation + refinement · FeatClust.

    Methods or conditions that were not run are left out (the heading says which are shown).
    """
    conds = [(c, h) for c, h in SIDE_BY_SIDE_CONDITIONS if c in tables]
    by = {c: _by_method(tables[c]) for c, _ in conds}
    methods = [(m, h) for m, h in SIDE_BY_SIDE_METHODS if any(m in by[c] for c, _ in conds)]
    if not conds or not methods:
        return "(needs conditions gt-flow / optical-flow / realism and methods sim2art-norefine, sim2art, featclust)\n"
    head = ["Metric"] + [f"{ch}: {mh}" for _, ch in conds for _, mh in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for spec in ROBUSTNESS_METRICS:
        row = [spec.title]
        for c, _ in conds:
            for m, _ in methods:
                row.append(_fmt(_mean(by[c][m], spec.key)) if m in by[c] else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def robustness_csv(tables: Mapping[str, Sequence[MethodTable]], reference: str = GT_FLOW) -> str:
    """Long format: condition, metric, method, mean (Mean column), delta to ``reference``, count."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["condition", "metric", "method", "mean", "delta", "categories"])
    ref = _by_method(tables[reference]) if reference in tables else {}
    for c, ts in tables.items():
        for t in ts:
            for spec in ROBUSTNESS_METRICS:
                v = _mean(t, spec.key)
                r = _mean(ref[t.method], spec.key) if t.method in ref else float("nan")
                cnt = t.cells[spec.key][MEAN].count
                w.writerow([c, spec.key, t.method, f"{v:.6g}", f"{v - r:.6g}", cnt])
    return buf.getvalue()
