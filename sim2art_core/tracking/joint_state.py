"""A joint's state over time from overlapping windows' state curves (issue 11, item 3: states continue
across windows).

Each window measures a joint's state only relative to its own first frame: its curve ``a_w(t)`` is the true
state ``x(t)`` up to an unknown offset ``c_w`` plus noise. Chaining the windows (each new window's offset
taken from the previous states on the stamps they share, the previous states then replaced by the new
window's) adds every window's error over the stamps it alone brings, so the state drifts like a random walk
with the number of windows. Here every window's curve stays evidence for all its stamps: the states on the
union of the stamps and one offset per window are fitted jointly,

    minimise  sum_w sum_{t in w}  weight_w * rho(x(t) - c_w - a_w(t))   with x(t_anchor) = anchor state,

a linear least-squares problem (``rho`` the Huber loss, solved by iteratively reweighted least squares, so a
window whose curve disagrees with the others' on the stamps they share does not drag them). A stamp seen by
n windows is then the average of n measurements instead of the newest one's, and the state at the newest
frame is the newest window's motion added to the *averaged* states it overlaps.

Windows that share no stamp with the others (a gap: the track was not seen, or the window restarted) form
separate groups, each solved on its own in time order and placed after the states solved before it: at a
stamp inside their span by linear interpolation, after it with the last frame step's velocity carried over a
gap of at most ``max_bridge_steps`` frame steps (consecutive windows of a moving part), else held.

Hand-written: a small dense least-squares problem (NumPy ``lstsq``) with a gauge and IRLS weights; no
library solves "curves known up to offsets" directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim2art_core.refine.joint_models import model_motions
from sim2art_core.types import JointType


@dataclass(frozen=True)
class StateCurve:
    """One window's state curve of one joint.

    Attributes:
        stamps: (T,) int64 ns, strictly increasing.
        amounts: (T,) rad | m, the joint's state at those stamps up to an unknown constant (a window
            estimate's amounts are relative to its own first frame).
        weight: information weight of each of its samples (> 0; e.g. the inverse of its state variance).
    """

    stamps: np.ndarray
    amounts: np.ndarray
    weight: float = 1.0

    def usable(self) -> bool:
        """Non-empty, finite, one amount per stamp, stamps strictly increasing, a positive finite weight."""
        s = np.asarray(self.stamps).reshape(-1)
        a = np.asarray(self.amounts, dtype=np.float64).reshape(-1)
        w = float(self.weight)
        return (
            s.size > 0
            and s.size == a.size
            and bool(np.all(np.isfinite(a)))
            and bool(np.all(np.diff(s.astype(np.int64)) > 0))
            and math.isfinite(w)
            and w > 0
        )


@dataclass(frozen=True)
class StateFusionConfig:
    """Knobs of :func:`fuse_state_curves`."""

    huber_scale: float = 0.0
    """Residuals beyond this (rad | m) are weighted down (Huber loss, IRLS); 0 = plain least squares. The
    caller sets it from the joint type's noise (the fused model: ``ObjectModelConfig.state_huber_*``)."""
    iterations: int = 5
    """IRLS iterations of the robust fit (1 = plain least squares)."""
    max_bridge_steps: float = 2.0
    """A group of windows after a gap of at most this many frame steps continues with the last step's
    velocity; a longer gap holds the state."""

    def __post_init__(self) -> None:
        if not (math.isfinite(float(self.huber_scale)) and float(self.huber_scale) >= 0):
            raise ValueError(f"huber_scale must be a finite number >= 0, got {self.huber_scale}")
        if int(self.iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if not (math.isfinite(float(self.max_bridge_steps)) and float(self.max_bridge_steps) >= 0):
            raise ValueError(f"max_bridge_steps must be a finite number >= 0, got {self.max_bridge_steps}")


@dataclass(frozen=True)
class FusedStates:
    """The result of :func:`fuse_state_curves`.

    Attributes:
        stamps: (S,) int64 ns, the union of the usable curves' stamps, sorted.
        states: (S,) rad | m, the fitted state at each stamp.
        offsets: (K,) each input curve's fitted offset (``states ~ amounts + offset`` on its stamps); NaN for
            an unusable curve.
        used: (K,) bool, the curve was usable (:meth:`StateCurve.usable`) and fitted.
    """

    stamps: np.ndarray
    states: np.ndarray
    offsets: np.ndarray
    used: np.ndarray

    def at(self, stamps: np.ndarray) -> np.ndarray:
        """The fitted states at ``stamps`` (each must be one of :attr:`stamps`; KeyError otherwise)."""
        stamps = np.asarray(stamps, dtype=np.int64).reshape(-1)
        i = np.searchsorted(self.stamps, stamps)
        ok = (i < len(self.stamps)) & (self.stamps[np.minimum(i, len(self.stamps) - 1)] == stamps)
        if not np.all(ok):
            raise KeyError(f"stamps {stamps[~ok][:3].tolist()} are not fitted")
        return self.states[i]


def continue_state(stamps: np.ndarray, states: np.ndarray, stamp: int, max_bridge_steps: float = 2.0) -> float:
    """The state at ``stamp`` from known ``states`` at sorted ``stamps`` (at least one): linear interpolation
    inside their span; after it, the last frame step's velocity carried over a gap of at most
    ``max_bridge_steps`` such steps, else the last state held; before it, the first state held."""
    stamps = np.asarray(stamps, dtype=np.int64).reshape(-1)
    states = np.asarray(states, dtype=np.float64).reshape(-1)
    if stamp <= stamps[0]:
        return float(states[0])
    if stamp <= stamps[-1]:
        return float(np.interp(float(stamp), stamps.astype(np.float64), states))
    state = float(states[-1])
    if len(stamps) >= 2:
        dt = int(stamps[-1] - stamps[-2])
        gap = int(stamp - stamps[-1])
        if dt > 0 and gap <= max_bridge_steps * dt:
            state += float(states[-1] - states[-2]) * gap / dt
    return state


def _groups(curves: list[StateCurve]) -> list[list[int]]:
    """Indices of the curves that are connected through shared stamps, groups in order of their first stamp."""
    parent = list(range(len(curves)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[int, int] = {}
    for k, c in enumerate(curves):
        for s in np.asarray(c.stamps, dtype=np.int64).tolist():
            if s in owner:
                parent[find(k)] = find(owner[s])
            else:
                owner[s] = k
    groups: dict[int, list[int]] = {}
    for k in range(len(curves)):
        groups.setdefault(find(k), []).append(k)
    return sorted(groups.values(), key=lambda g: min(int(curves[k].stamps[0]) for k in g))


def _solve_group(
    curves: list[StateCurve], gauge_stamp: int, gauge_state: float, cfg: StateFusionConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stamps, states, offsets) of one connected group with x(gauge_stamp) = gauge_state."""
    stamps = np.unique(np.concatenate([np.asarray(c.stamps, dtype=np.int64) for c in curves]))
    S, K = len(stamps), len(curves)
    g = int(np.searchsorted(stamps, gauge_stamp))
    rows_s = np.concatenate([np.searchsorted(stamps, np.asarray(c.stamps, dtype=np.int64)) for c in curves])
    rows_c = np.concatenate([np.full(len(c.stamps), k) for k, c in enumerate(curves)])
    a = np.concatenate([np.asarray(c.amounts, dtype=np.float64) for c in curves])
    w0 = np.concatenate([np.full(len(c.stamps), float(c.weight)) for c in curves])
    # unknowns: the states except the gauge's, then one offset per curve; residual x_s - c_k - a
    free = np.delete(np.arange(S), g)
    col = np.full(S, -1)
    col[free] = np.arange(S - 1)
    n = len(a)
    A = np.zeros((n, S - 1 + K))
    has = col[rows_s] >= 0
    A[np.flatnonzero(has), col[rows_s[has]]] = 1.0
    A[np.arange(n), S - 1 + rows_c] = -1.0
    b = a - np.where(has, 0.0, gauge_state)
    w = w0.copy()
    x = np.zeros(S - 1 + K)
    for it in range(int(cfg.iterations)):
        sw = np.sqrt(w)
        x = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)[0]
        if cfg.huber_scale <= 0 or it == int(cfg.iterations) - 1:
            break
        r = np.abs(A @ x - b)
        w = w0 * np.where(r <= cfg.huber_scale, 1.0, cfg.huber_scale / np.maximum(r, 1e-300))
    states = np.empty(S)
    states[g] = gauge_state
    states[free] = x[: S - 1]
    return stamps, states, x[S - 1 :]


def fuse_state_curves(
    curves: Sequence[StateCurve],
    anchor: tuple[int, float] | None = None,
    config: StateFusionConfig | None = None,
) -> FusedStates:
    """Fit the states on the union of the curves' stamps and one offset per curve (module doc).

    ``anchor`` (stamp ns, state): the gauge of the group of curves holding that stamp (default: the first
    group's first stamp at state 0). The other groups follow in time order (:func:`continue_state` from the
    states solved before them). Unusable curves (:meth:`StateCurve.usable`: empty, NaN, unsorted stamps, a
    length mismatch, a non-positive weight) are ignored (``used`` False, offset NaN); with no usable curve the
    result is empty (no stamps). An anchor stamp that no curve holds is ignored (state 0 at the first stamp).
    """
    cfg = config or StateFusionConfig()
    curves = list(curves)
    used = np.array([c.usable() for c in curves], dtype=bool)
    offsets = np.full(len(curves), np.nan)
    ok = [StateCurve(np.asarray(c.stamps, np.int64).reshape(-1), np.asarray(c.amounts, np.float64).reshape(-1),
                     float(c.weight)) for c, u in zip(curves, used, strict=True) if u]  # fmt: skip
    index = np.flatnonzero(used)
    if not ok:
        return FusedStates(np.zeros(0, np.int64), np.zeros(0), offsets, used)
    groups = _groups(ok)
    first, gauge0 = 0, None
    if anchor is not None and math.isfinite(float(anchor[1])):
        holder = [k for k, grp in enumerate(groups) if any(int(anchor[0]) in ok[i].stamps for i in grp)]
        if holder:
            first, gauge0 = holder[0], (int(anchor[0]), float(anchor[1]))
    order = [first] + [k for k in range(len(groups)) if k != first]
    solved_s = np.zeros(0, np.int64)
    solved_x = np.zeros(0)
    for n, k in enumerate(order):
        grp = [ok[i] for i in groups[k]]
        start = min(int(c.stamps[0]) for c in grp)
        if n == 0:
            gauge = gauge0 if gauge0 is not None else (start, 0.0)
        else:
            gauge = (start, continue_state(solved_s, solved_x, start, cfg.max_bridge_steps))
        s, x, c = _solve_group(grp, gauge[0], gauge[1], cfg)
        offsets[index[groups[k]]] = c
        keep = ~np.isin(solved_s, s)
        solved_s = np.concatenate([solved_s[keep], s])
        solved_x = np.concatenate([solved_x[keep], x])
        o = np.argsort(solved_s, kind="stable")
        solved_s, solved_x = solved_s[o], solved_x[o]
    return FusedStates(solved_s, solved_x, offsets, used)


@dataclass(frozen=True)
class RegistrationConfig:
    """Knobs of :func:`register_state` (m, rad)."""

    static_m: float = 0.01
    """Reference points within this of the target cloud *before* moving them are left out: they did not move
    (the parent's points in a loose segmentation, the part's points near the hinge)."""
    gate_m: float = 0.02
    """Distances are truncated at this in the cost (a point without a partner costs the gate)."""
    inlier_m: float = 0.01
    """A moved reference point is an inlier when its nearest target point is within this."""
    min_points: int = 10
    """Fewest moved reference points to register at all."""
    min_inlier_fraction: float = 0.15
    """The registration is accepted when at least this fraction of the moved reference points are inliers
    ... (chosen on the val bags, docs/BENCHMARKS.md "joint state at the last frame")"""
    min_inliers: int = 15
    """... and at least this many of them (a part seen with a few dozen points, e.g. a drawer front's edge,
    matched by a handful of points is no measurement; chosen on the val bags)."""
    search_rad: float = 0.6
    """Revolute: the angle is searched within this of the prior (rad)."""
    step_rad: float = 0.01
    search_m: float = 0.2
    """Prismatic: the displacement is searched within this of the prior (m)."""
    step_m: float = 0.003
    max_points: int = 512
    """Reference points kept (a regular subsample)."""


@dataclass(frozen=True)
class Registration:
    """The result of :func:`register_state`: the state change from the reference cloud to the target cloud
    (rad | m), the inlier fraction of the moved reference points and how many there were."""

    state: float
    inlier_fraction: float
    moved_points: int
    accepted: bool


def move_about_joint(points: np.ndarray, revolute: bool, axis: np.ndarray, origin: np.ndarray, q) -> np.ndarray:
    """(Q, M, 3) ``points`` (M, 3) moved by the joint states ``q`` (Q,): rotated about the line (axis, origin)
    by q rad (right hand) or translated along the axis by q m."""
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    motions = model_motions(JointType.REVOLUTE if revolute else JointType.PRISMATIC, axis, origin, q)  # (Q, 4, 4)
    return points[None] @ motions[:, :3, :3].transpose(0, 2, 1) + motions[:, None, :3, 3]


def register_state(
    reference: np.ndarray,
    target: np.ndarray,
    revolute: bool,
    axis: np.ndarray,
    origin: np.ndarray,
    prior: float = 0.0,
    config: RegistrationConfig | None = None,
) -> Registration:
    """Measure a joint's state change on a long baseline: the part's ``reference`` points (M, 3), seen at one
    frame, moved about the fused joint (one degree of freedom) onto the ``target`` cloud (K, 3) of a later
    frame (the whole object: the part's own labels there may be wrong). The state minimising the truncated
    mean squared nearest-neighbour distance (:class:`scipy.spatial.cKDTree`) is searched on a grid around
    ``prior`` and refined (:func:`scipy.optimize.minimize_scalar`); points that already match the target
    unmoved are left out first. Non-finite points are ignored; too few points give ``accepted`` False.
    """
    from scipy.optimize import minimize_scalar
    from scipy.spatial import cKDTree

    cfg = config or RegistrationConfig()
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    tgt = np.asarray(target, dtype=np.float64).reshape(-1, 3)
    ref = ref[np.all(np.isfinite(ref), axis=1)]
    tgt = tgt[np.all(np.isfinite(tgt), axis=1)]
    axis = np.asarray(axis, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    none = Registration(float("nan"), 0.0, 0, False)
    if len(ref) < cfg.min_points or len(tgt) < cfg.min_points or not (
        np.all(np.isfinite(axis)) and np.all(np.isfinite(origin)) and np.linalg.norm(axis) > 1e-9
        and math.isfinite(float(prior))
    ):  # fmt: skip
        return none
    axis = axis / np.linalg.norm(axis)
    if len(ref) > cfg.max_points:
        ref = ref[np.linspace(0, len(ref) - 1, cfg.max_points).astype(int)]
    tree = cKDTree(tgt)
    d0, _ = tree.query(ref)
    ref = ref[d0 > cfg.static_m]
    if len(ref) < cfg.min_points:
        return Registration(float("nan"), 0.0, len(ref), False)
    half, step = (cfg.search_rad, cfg.step_rad) if revolute else (cfg.search_m, cfg.step_m)
    grid = float(prior) + np.arange(-half, half + 0.5 * step, step)

    def costs(q) -> np.ndarray:
        moved = move_about_joint(ref, revolute, axis, origin, q)
        d, _ = tree.query(moved.reshape(-1, 3), distance_upper_bound=cfg.gate_m)
        return np.mean(np.minimum(d, cfg.gate_m).reshape(len(np.atleast_1d(q)), -1) ** 2, axis=1)

    k = int(np.argmin(costs(grid)))
    best = minimize_scalar(
        lambda q: float(costs(q)[0]), bounds=(grid[k] - step, grid[k] + step), method="bounded",
        options={"xatol": step * 1e-2},
    )  # fmt: skip
    q = float(best.x)
    d, _ = tree.query(move_about_joint(ref, revolute, axis, origin, q)[0])
    inl = float(np.mean(d <= cfg.inlier_m))
    accepted = inl >= cfg.min_inlier_fraction and inl * len(ref) >= cfg.min_inliers
    return Registration(q, inl, len(ref), accepted)
