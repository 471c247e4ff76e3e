"""Bag results per object category against issue 11's targets for bags through the node.

The final estimate of each bag (the node's fused object model with its defaults) is scored by
:mod:`sim2art_ros.tools.bag_compare`; this module averages it per category, then over categories, and checks
the Mean against :data:`TARGETS` (``sim2art-bag-benchmark``'s "By category" table, ``results.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim2art_core.types import JointType
from sim2art_ros.tools.bag_compare import BagResult, EstimateScore

#: Issue 11's targets for bags through the node (the final fused model): mean axis angle, mean axis
#: position, joint state at the last frame (revolute rad, prismatic cm), share of bags without a confirmed
#: spurious joint.
TARGETS = {
    "axis_angle_deg": 6.0,
    "axis_position_cm": 4.0,
    "state_error_rad": 0.1,
    "state_error_cm": 2.0,
    "no_confirmed_spurious": 0.9,
}
ACCURACY_KEYS = (
    "type_accuracy", "axis_angle_deg", "axis_position_cm", "part_rotation_deg", "part_translation_cm",
    "state_error_rad", "state_error_cm",
)  # fmt: skip


def accuracy(score: EstimateScore | None) -> dict[str, float]:
    """Joint metrics of one estimate, averaged over its scored ground-truth joints (NaN where none apply).

    ``state_error_rad`` / ``state_error_cm``: joint state at the estimate's newest stamp (bag_compare's
    :class:`~sim2art_ros.tools.bag_compare.StateAtLastFrame`) of the revolute / prismatic joints.
    """
    keys = ("axis_angle_deg", "axis_position_cm", "part_rotation_deg", "part_translation_cm")
    if score is None or not score.errors:
        return dict.fromkeys(ACCURACY_KEYS, float("nan"))
    out = {"type_accuracy": float(np.mean([e.type_correct for e in score.errors]))}
    for k in keys:
        v = np.array([getattr(e, k) for e in score.errors], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[k] = float(v.mean()) if len(v) else float("nan")
    for key, jtype, scale in (
        ("state_error_rad", JointType.REVOLUTE, 1.0),
        ("state_error_cm", JointType.PRISMATIC, 100.0),
    ):
        v = np.array(
            [st.error * scale for e, st in zip(score.errors, score.states, strict=False) if e.gt_type == jtype],
            dtype=np.float64,
        )
        out[key] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return out


#: A bag with moving true joints but no estimate at all: every joint missed (docs/EVALUATION.md's worst case).
NO_ESTIMATE = {**dict.fromkeys(ACCURACY_KEYS, float("nan")), "axis_angle_deg": 90.0, "axis_position_cm": 100.0,
               "type_accuracy": 0.0}  # fmt: skip


def category_of(result: BagResult) -> str:
    """The object category of a bag: its ground truth's object id (the data engine's
    ``<category>-<object seed>``) or its name, without trailing ``-<number>`` parts."""
    name = result.object_id or result.name
    return re.sub(r"(-\d+)+$", "", name) or name


def _mean(values) -> float:
    v = np.asarray(list(values), dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def category_table(results: Sequence[BagResult]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Bags with ground truth grouped by category: the final estimate's accuracy averaged over the category's
    bags, missed joints, bags with a confirmed spurious joint; then the Mean over categories and issue 11's
    targets. Returns (Markdown rows, the same numbers as a dict for results.json and the plot)."""
    groups: dict[str, list[BagResult]] = {}
    for r in results:
        if r.truth is not None:
            groups.setdefault(category_of(r), []).append(r)
    keys = ("axis_angle_deg", "axis_position_cm", "state_error_rad", "state_error_cm", "type_accuracy")
    per: dict[str, dict[str, float]] = {}
    for cat, rs in groups.items():
        accs = [accuracy(r.final) if r.final is not None or not r.truth_joints else NO_ESTIMATE for r in rs]
        finals = [r.final for r in rs]
        per[cat] = {k: _mean(a[k] for a in accs) for k in keys}
        per[cat]["bags"] = len(rs)
        per[cat]["joints"] = sum(len(r.truth_joints) for r in rs)
        per[cat]["missed"] = sum(
            len(r.truth_joints) if f is None else f.missed for r, f in zip(rs, finals, strict=True)
        )
        per[cat]["confirmed_spurious_bags"] = sum(1 for f in finals if f is not None and f.extra_confirmed > 0)
        per[cat]["no_estimate_bags"] = sum(1 for f in finals if f is None)
    mean = {k: _mean(p[k] for p in per.values()) for k in keys}
    n_bags = sum(p["bags"] for p in per.values())
    clean = sum(p["bags"] - p["confirmed_spurious_bags"] - p["no_estimate_bags"] for p in per.values())
    share = clean / n_bags if n_bags else float("nan")
    met = {
        "axis_angle_deg": mean["axis_angle_deg"] <= TARGETS["axis_angle_deg"],
        "axis_position_cm": mean["axis_position_cm"] <= TARGETS["axis_position_cm"],
        "state_error_rad": mean["state_error_rad"] <= TARGETS["state_error_rad"],
        "state_error_cm": not np.isfinite(mean["state_error_cm"])
        or mean["state_error_cm"] <= TARGETS["state_error_cm"],
        "no_confirmed_spurious": share >= TARGETS["no_confirmed_spurious"],
    }

    def row(cat: str, p: dict[str, float]) -> dict[str, str]:
        return {
            "category": cat, "bags": str(p["bags"]),
            "axis [deg]": fmt(p["axis_angle_deg"]), "axis pos. [cm]": fmt(p["axis_position_cm"]),
            "state rev. [rad]": fmt(p["state_error_rad"], 3), "state pris. [cm]": fmt(p["state_error_cm"]),
            "type acc.": fmt(p["type_accuracy"], 2), "missed joints": f"{p['missed']}/{p['joints']}",
            "bags w/ confirmed spurious": str(p["confirmed_spurious_bags"]),
            "bags w/o estimate": str(p["no_estimate_bags"]),
        }  # fmt: skip

    rows = [row(c, per[c]) for c in sorted(per)]
    if per:
        total = {
            **mean, "bags": n_bags, "joints": sum(p["joints"] for p in per.values()),
            "missed": sum(p["missed"] for p in per.values()),
            "confirmed_spurious_bags": sum(p["confirmed_spurious_bags"] for p in per.values()),
            "no_estimate_bags": sum(p["no_estimate_bags"] for p in per.values()),
        }  # fmt: skip
        rows.append({**row("**Mean**", total), "bags w/ confirmed spurious": f"{total['confirmed_spurious_bags']}"})

        def ok(k: str) -> str:
            return "met" if met[k] else "**not met**"

        rows.append({
            "category": "target (issue 11)", "bags": "≥ 2 per category",
            "axis [deg]": f"≤ {TARGETS['axis_angle_deg']:g}: {ok('axis_angle_deg')}",
            "axis pos. [cm]": f"≤ {TARGETS['axis_position_cm']:g}: {ok('axis_position_cm')}",
            "state rev. [rad]": f"≤ {TARGETS['state_error_rad']:g}: {ok('state_error_rad')}",
            "state pris. [cm]": f"≤ {TARGETS['state_error_cm']:g}: {ok('state_error_cm')}",
            "type acc.": "–", "missed joints": "–", "bags w/o estimate": "–",
            "bags w/ confirmed spurious": f"clean {clean}/{n_bags} = {100 * share:.0f} % "
            f"(≥ {100 * TARGETS['no_confirmed_spurious']:.0f} %: {ok('no_confirmed_spurious')})",
        })  # fmt: skip
    data = {"categories": per, "mean": mean, "bags": n_bags, "bags_without_confirmed_spurious": clean,
            "share_without_confirmed_spurious": share, "targets": TARGETS, "targets_met": met}  # fmt: skip
    return rows, data


def fmt(x: float, digits: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"
