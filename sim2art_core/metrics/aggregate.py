"""Per-category and mean tables of sample metrics (the layout of the paper's Table 2)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.metrics.sample import SampleMetrics


@dataclass(frozen=True)
class MetricSpec:
    """One table row: ``key`` is a JointErrors field, "miou", "miou_all", "type_accuracy" or "failed"."""

    key: str
    title: str
    higher_is_better: bool
    per_joint: bool


#: The paper's Table 2 rows, then the variants we also report.
TABLE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("miou", "mIoU ↑", True, False),
    MetricSpec("axis_angle_deg", "Axis Ang (°) ↓", False, True),
    MetricSpec("axis_position_cm", "Axis Pos (cm) ↓", False, True),
    MetricSpec("part_rotation_deg", "Part Rotation (°) ↓", False, True),
    MetricSpec("part_translation_cm", "Part Translation (cm) ↓", False, True),
    MetricSpec("type_accuracy", "Type Accuracy (%) ↑", True, True),
)
EXTRA_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("miou_all", "mIoU, every link incl. still ones ↑", True, False),
    MetricSpec("axis_line_distance_cm", "Axis line-to-line (cm) ↓", False, True),
    MetricSpec("part_rotation_geodesic_deg", "Part Rotation geodesic (°) ↓", False, True),
    MetricSpec("part_translation_vector_cm", "Part Translation vector (cm) ↓", False, True),
    MetricSpec("missed_joints", "Missed joints (%) ↓", False, True),
    MetricSpec("failed", "Failed samples (%) ↓", False, False),
)
ALL_METRICS = TABLE_METRICS + EXTRA_METRICS
MEAN, ALL = "Mean", "All"


@dataclass(frozen=True)
class Stat:
    """Mean, standard deviation and number of values of one table cell (NaN mean when count = 0)."""

    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
        if v.size == 0:
            return cls(float("nan"), float("nan"), 0)
        return cls(float(v.mean()), float(v.std()), int(v.size))


@dataclass(frozen=True)
class MethodTable:
    """One method's metrics per category.

    Attributes:
        method: its name.
        columns: the categories present (paper order, then others), then "Mean" (the mean of the
            category means, as the paper's Mean column) and "All" (pooled over every sample/joint).
        cells: metric key -> column -> Stat.
        num_samples: column -> number of samples.
        num_joints: column -> number of scored ground-truth joints ("Mean": the sum over categories).
        num_excluded: column -> ground-truth joints left out by ``EvalConfig.min_joint_visibility``.
    """

    method: str
    columns: tuple[str, ...]
    cells: dict[str, dict[str, Stat]]
    num_samples: dict[str, int]
    num_joints: dict[str, int] = field(default_factory=dict)
    num_excluded: dict[str, int] = field(default_factory=dict)


def _values(samples: Sequence[SampleMetrics], key: str) -> list[float]:
    if key == "miou":
        return [s.miou for s in samples]
    if key == "miou_all":
        return [s.miou_all for s in samples]
    if key == "failed":
        return [100.0 * s.failed for s in samples]
    joints = [j for s in samples for j in s.joints]
    if key == "type_accuracy":
        return [100.0 * j.type_correct for j in joints]
    if key == "missed_joints":
        return [100.0 * (j.status != "ok") for j in joints]
    return [getattr(j, key) for j in joints]


def aggregate(samples: Iterable[SampleMetrics], method: str) -> MethodTable:
    """Group sample metrics by category; joint metrics average over all joints of a category."""
    samples = list(samples)
    by_cat: dict[str, list[SampleMetrics]] = {}
    for s in samples:
        by_cat.setdefault(s.category, []).append(s)
    cats = [c for c in CATEGORIES if c in by_cat] + sorted(c for c in by_cat if c not in CATEGORIES)
    cells: dict[str, dict[str, Stat]] = {}
    for spec in ALL_METRICS:
        row = {c: Stat.of(_values(by_cat[c], spec.key)) for c in cats}
        row[MEAN] = Stat.of([row[c].mean for c in cats])
        row[ALL] = Stat.of(_values(samples, spec.key))
        cells[spec.key] = row
    num = {c: len(by_cat[c]) for c in cats}
    num[MEAN] = len(cats)
    num[ALL] = len(samples)
    joints = {c: sum(len(s.joints) for s in by_cat[c]) for c in cats}
    excluded = {c: sum(s.excluded_joints for s in by_cat[c]) for c in cats}
    joints[MEAN] = joints[ALL] = sum(len(s.joints) for s in samples)
    excluded[MEAN] = excluded[ALL] = sum(s.excluded_joints for s in samples)
    return MethodTable(method=method, columns=(*cats, MEAN, ALL), cells=cells, num_samples=num, num_joints=joints,
                       num_excluded=excluded)  # fmt: skip


def _fmt(stat: Stat, with_std: bool) -> str:
    if stat.count == 0:
        return "-"
    return f"{stat.mean:.2f} ± {stat.std:.2f}" if with_std else f"{stat.mean:.2f}"


def to_markdown(tables: Sequence[MethodTable], metrics: Sequence[MetricSpec] = ALL_METRICS, std: bool = True) -> str:
    """A paper-style Markdown table: one row per (metric, method), one column per category + Mean + All.

    "-" marks a metric without values (e.g. axis position in a category without revolute joints).
    """
    columns = _union_columns(tables)
    lines = ["| Metric | Method | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    if tables:
        lines.append("| #samples | | " + " | ".join(str(_num(tables[0], c)) for c in columns) + " |")
        lines.append("| #joints scored | | " + " | ".join(str(tables[0].num_joints.get(c, 0)) for c in columns) + " |")
        lines.append(
            "| #joints excluded (visibility) | | "
            + " | ".join(str(tables[0].num_excluded.get(c, 0)) for c in columns)
            + " |"
        )
    for spec in metrics:
        for t in tables:
            cells = [_fmt(t.cells[spec.key].get(c, Stat.of([])), std and c != MEAN) for c in columns]
            lines.append(f"| {spec.title} | {t.method} | " + " | ".join(cells) + " |")
    return "\n".join(line for line in lines if line) + "\n"


def to_csv(tables: Sequence[MethodTable], metrics: Sequence[MetricSpec] = ALL_METRICS) -> str:
    """Long-format CSV: metric, method, column, mean, std, count."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["metric", "method", "column", "mean", "std", "count"])
    for spec in metrics:
        for t in tables:
            for c in t.columns:
                s = t.cells[spec.key][c]
                w.writerow([spec.key, t.method, c, f"{s.mean:.6g}", f"{s.std:.6g}", s.count])
    return buf.getvalue()


def _union_columns(tables: Sequence[MethodTable]) -> list[str]:
    cats: list[str] = []
    for t in tables:
        cats += [c for c in t.columns if c not in (MEAN, ALL) and c not in cats]
    ordered = [c for c in CATEGORIES if c in cats] + [c for c in cats if c not in CATEGORIES]
    return [*ordered, MEAN, ALL]


def _num(t: MethodTable, column: str) -> int:
    return t.num_samples.get(column, 0)
