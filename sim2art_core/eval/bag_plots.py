"""Pictures of the bag evaluation (matplotlib, Agg): joint axes over the segmented cloud, and latency.

No ROS in here: the evaluation hands over NumPy arrays and core estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never opens a window
import matplotlib.pyplot as plt
import numpy as np

from sim2art_core.estimate import JointEstimate
from sim2art_core.geometry import unit
from sim2art_core.types import JointType

MAX_POINTS = 6000
EST_COLOR, GT_COLOR = "#d62728", "#2ca02c"


def _subsample(points: np.ndarray, *others, max_points: int = MAX_POINTS, seed: int = 0):
    n = len(points)
    if n <= max_points:
        return (points, *others)
    idx = np.random.default_rng(seed).choice(n, max_points, replace=False)
    return (points[idx], *[None if o is None else o[idx] for o in others])


def _point_colors(labels: np.ndarray | None, colors: np.ndarray | None, n: int):
    if labels is not None:
        cmap = plt.get_cmap("tab10")
        lab = np.asarray(labels).astype(int)
        return [cmap(int(v) % 10) if v >= 0 else (0.6, 0.6, 0.6, 1.0) for v in lab]
    if colors is not None:
        return np.asarray(colors, dtype=np.float64).reshape(-1, 3) / 255.0
    return [(0.55, 0.55, 0.55, 1.0)] * n


def _segment(joint: JointEstimate, half_length: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the drawn axis: centred on the origin for revolute, from it for prismatic."""
    a = unit(np.asarray(joint.axis, dtype=np.float64))
    o = np.asarray(joint.origin, dtype=np.float64)
    if joint.type == JointType.PRISMATIC:
        return o, o + 2 * half_length * a
    return o - half_length * a, o + half_length * a


def plot_axes_over_cloud(
    path: str | Path,
    points: np.ndarray,
    estimated: Sequence[JointEstimate],
    truth: Sequence[JointEstimate] = (),
    labels: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """3-D view and top view (x-y) of the cloud with the estimated (solid) and true (dashed) joint axes.

    Args:
        path: PNG to write.
        points: (N, 3) m, in the estimates' fixed frame (may be empty).
        estimated, truth: joints to draw; STATIC joints are skipped.
        labels: optional (N,) part label per point (-1 = unassigned), coloured per part.
        colors: optional (N, 3) uint8 RGB, used when there are no labels.
    """
    path = Path(path)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    finite = np.all(np.isfinite(pts), axis=1)
    pts = pts[finite]
    labels = None if labels is None else np.asarray(labels)[finite]
    colors = None if colors is None else np.asarray(colors)[finite]
    pts, labels, colors = _subsample(pts, labels, colors)
    joints = [(j, EST_COLOR, "-", "estimated") for j in estimated if j.type != JointType.STATIC]
    joints += [(j, GT_COLOR, "--", "true") for j in truth if j.type != JointType.STATIC]
    if len(pts):
        extent = float(np.max(np.ptp(pts, axis=0)))
    else:
        extent = 1.0
    half = 0.35 * max(extent, 0.2)

    fig = plt.figure(figsize=(11, 5.2))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax2 = fig.add_subplot(1, 2, 2)
    c = _point_colors(labels, colors, len(pts))
    if len(pts):
        ax3.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=1.5, c=c, depthshade=False)
        ax2.scatter(pts[:, 0], pts[:, 1], s=1.5, c=c)
    seen = set()
    for j, color, style, kind in joints:
        p0, p1 = _segment(j, half)
        label = f"{kind} {j.name} ({j.type.name.lower()})"
        ax3.plot(*np.stack([p0, p1]).T, color=color, linestyle=style, linewidth=2.5, label=label)
        ax3.scatter(*p1, color=color, marker="^", s=40)
        ax2.plot([p0[0], p1[0]], [p0[1], p1[1]], color=color, linestyle=style, linewidth=2.5,
                 label=None if kind in seen else kind)  # fmt: skip
        ax2.scatter(p1[0], p1[1], color=color, marker="^", s=40)
        seen.add(kind)
    ax3.set_xlabel("x [m]")
    ax3.set_ylabel("y [m]")
    ax3.set_zlabel("z [m]")
    if len(pts):  # equal scaling, so axis directions look right
        mid = (pts.max(0) + pts.min(0)) / 2
        r = max(extent, 0.2) / 2 + half * 0.3
        for setter, m in zip((ax3.set_xlim, ax3.set_ylim, ax3.set_zlim), mid, strict=True):
            setter(m - r, m + r)
    ax2.set_aspect("equal", adjustable="datalim")
    ax2.set_xlabel("x [m]")
    ax2.set_ylabel("y [m]")
    ax2.set_title("top view")
    ax2.grid(alpha=0.3)
    if joints:
        ax3.legend(loc="upper left", fontsize=7)
        ax2.legend(loc="best", fontsize=8)
    kind_text = "parts coloured by label" if labels is not None else "colour from the image"
    fig.suptitle(f"{title}\nsolid: estimated axis, dashed: true axis; cloud: {kind_text}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(
    path: str | Path,
    stamps_s: np.ndarray,
    latency_s: np.ndarray,
    inference_s: np.ndarray,
    title: str = "",
    t0_s: float | None = None,
) -> Path:
    """End-to-end latency and the node's inference time per estimate (left), and their histogram (right).

    ``stamps_s`` are the estimates' stamps; the x axis starts at ``t0_s`` (default: the first of them).
    """
    path = Path(path)
    stamps_s = np.asarray(stamps_s, dtype=np.float64)
    lat = np.asarray(latency_s, dtype=np.float64) * 1e3
    inf = np.asarray(inference_s, dtype=np.float64) * 1e3
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    t = stamps_s - (t0_s if t0_s is not None else (stamps_s.min() if len(stamps_s) else 0.0))
    a.plot(t, lat, "o-", color="#1f77b4", label="end-to-end (image sent -> estimate received)")
    a.plot(t, inf, "s--", color="#ff7f0e", label="node inference_time")
    a.set_xlabel("bag time of the estimate's newest frame [s]")
    a.set_ylabel("ms")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    finite = lat[np.isfinite(lat)]
    if len(finite):
        b.hist(finite, bins=min(20, max(5, len(finite))), color="#1f77b4", alpha=0.8)
        b.axvline(np.median(finite), color="k", linestyle="--", label=f"median {np.median(finite):.0f} ms")
        b.legend(fontsize=8)
    b.set_xlabel("end-to-end latency [ms]")
    b.set_ylabel("estimates")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_category_summary(path: str | Path, summary: dict, title: str = "") -> Path:
    """Bars per category of the final estimate's axis angle, axis position and joint state at the last
    frame (revolute, prismatic), each against its target (dashed line), plus the share of bags without a
    confirmed spurious joint.

    ``summary``: the bag report's by-category numbers (``categories``: name -> {"axis_angle_deg",
    "axis_position_cm", "state_error_rad", "state_error_cm", "bags", "confirmed_spurious_bags",
    "no_estimate_bags"}, ``mean``,
    ``targets``, ``share_without_confirmed_spurious``). Missing values (NaN) leave a gap.
    """
    cats = sorted(summary.get("categories", {}))
    per = summary.get("categories", {})
    mean = summary.get("mean", {})
    targets = summary.get("targets", {})
    names = [*cats, "Mean"]
    panels = (
        ("axis_angle_deg", "axis angle [deg]"),
        ("axis_position_cm", "axis position [cm]"),
        ("state_error_rad", "state at last frame, revolute [rad]"),
        ("state_error_cm", "state at last frame, prismatic [cm]"),
    )
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(max(6.0, 0.6 * len(names) + 2), 12), sharex=True)
    x = np.arange(len(names))
    for ax, (key, label) in zip(axes, panels, strict=False):
        vals = np.array([per[c].get(key, np.nan) for c in cats] + [mean.get(key, np.nan)], dtype=np.float64)
        target = targets.get(key)
        colors = [
            "#7f7f7f" if not np.isfinite(v) else (GT_COLOR if target is None or v <= target else EST_COLOR)
            for v in vals
        ]
        ax.bar(x, np.nan_to_num(vals, nan=0.0), color=colors)
        if target is not None:
            ax.axhline(target, ls="--", color="k", lw=1, label=f"target {target:g}")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_ylabel(label, fontsize=8)

    def clean(p: dict) -> float:  # a bag without any estimate is not clean (as in the report's share)
        bad = p.get("confirmed_spurious_bags", 0) + p.get("no_estimate_bags", 0)
        return 1.0 - bad / max(p.get("bags", 1), 1)

    share = [clean(per[c]) for c in cats] + [summary.get("share_without_confirmed_spurious", np.nan)]
    target = targets.get("no_confirmed_spurious")
    axes[-1].bar(
        x,
        np.nan_to_num(share, nan=0.0),
        color=[GT_COLOR if target is None or s >= target else EST_COLOR for s in share],
    )
    if target is not None:
        axes[-1].axhline(target, ls="--", color="k", lw=1, label=f"target {target:g}")
        axes[-1].legend(loc="lower right", fontsize=8)
    axes[-1].set_ylabel("bags without confirmed\nspurious joint", fontsize=8)
    axes[-1].set_ylim(0, 1.05)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(names, rotation=45, ha="right")
    fig.suptitle(title or "Final fused model per category (green: within target)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
