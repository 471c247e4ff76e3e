"""A track of the fused object model and the geometry of fusing joint lines (:mod:`sim2art_core.tracking.object_model`).

A track is one physical joint followed over windows: its window observations (axis and line with their
covariances), fused axis and line, type evidence, joint-state curves and the space its part swept. The helpers
below are the tangent-space and line-distance arithmetic the matching and fusion use (written by hand: no
library here fuses lines on the sphere with covariances)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim2art_core.estimate import JointEstimate, PartEstimate
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.tracking.config import ObjectModelConfig
from sim2art_core.types import JointType

MOVING = (JointType.REVOLUTE, JointType.PRISMATIC)
_NOT_MATCHED = 1e6
#: Labels of parts the model does not track (passed through from the newest window); tracks count from 1.
UNTRACKED_LABEL_BASE = 10000
_MAX_HISTORY = 512  # stamps of joint state kept per track (the newest); only the overlap with new windows is used
_MAX_OBS = 16  # window observations kept per track for the robust re-fit (the newest)
_MAX_SPACE = 4096  # space points kept per track (space_merge; the newest windows' first)
_MAX_WINDOWS = 512  # window stamps kept per track to tell whether two tracks were held in one window


@dataclass(frozen=True)
class _Obs:
    """One window's joint as evidence of a track (private). Axis covariance in tangent_basis(axis)."""

    window: int  # the window's newest stamp (ns): one observation per window and track
    first: int  # the window's first stamp (ns): its frame span is [first, window]
    axis: np.ndarray  # (3,) unit, the window's sign
    axis_cov: np.ndarray  # (2, 2) rad^2
    origin: np.ndarray  # (3,) m
    origin_cov: np.ndarray  # (3, 3) m^2, perpendicular to the axis
    weight: float  # information weight in (0, 1]: the fraction of frame steps new to the track
    significant: bool  # the child moved beyond the noise during the window
    confidence: float


@dataclass
class _Track:
    """A joint over time (mutable, private). Axis information is in tangent_basis(axis)."""

    label: int
    type: JointType
    axis: np.ndarray
    axis_info: np.ndarray  # (2, 2) rad^-2
    origin: np.ndarray
    origin_cov: np.ndarray  # (3, 3) m^2, perpendicular to the axis (rank 2)
    type_probs_sum: np.ndarray
    confidence_sum: float
    support: int
    stamps: np.ndarray  # (H,) int64, sorted
    states: np.ndarray  # (H,) joint state relative to the track's first frame
    state_variance: float | None
    child: PartEstimate
    score_sum: float
    parent_label: int = 0
    last_origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    fit_residual: float = float("nan")
    source: str = "network"
    missed: int = 0
    last_amounts: np.ndarray | None = None  # (T,) states on the newest window's stamps when matched there
    last_variance: float | None = None
    obs: list = field(default_factory=list)  # list[_Obs], the newest _MAX_OBS
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (len(obs),) consistent ones
    consistent: int = 0  # consistent windows with significant motion (keeps an unconfirmed track alive)
    independent: int = 0  # of those, the most with (nearly) disjoint frame spans (what confirmation counts)
    curves: list = field(default_factory=list)  # list[StateCurve], the newest state_windows (state_method fit)
    anchor: tuple[int, float] | None = None  # (stamp, state) fixed when older curves were dropped
    ref_points: np.ndarray | None = None  # (M, 3) the child's points at ref_stamp (long-baseline registration)
    ref_stamp: int = 0
    registrations: list = field(default_factory=list)  # list[StateCurve], accepted registrations (newest)
    space: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (K, 3) m, the child's swept space
    space_stamp: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (K,) window of each point
    windows: set = field(default_factory=set)  # newest stamps of the windows that held the track (newest ones)

    def state_at(self, stamp: int) -> float:
        """State at the newest stored stamp <= ``stamp`` (the first one when none is older)."""
        i = int(np.searchsorted(self.stamps, stamp, side="right")) - 1
        return float(self.states[max(i, 0)])

    def bridge(self, stamp: int) -> float:
        """State at ``stamp`` after the newest stored stamp before it: the last frame step's velocity
        carried over a gap of at most two such steps (consecutive windows of a moving part), else held."""
        i = int(np.searchsorted(self.stamps, stamp, side="right")) - 1
        if i < 1:
            return float(self.states[max(i, 0)])
        dt = int(self.stamps[i] - self.stamps[i - 1])
        gap = stamp - int(self.stamps[i])
        state = float(self.states[i])
        if dt > 0 and 0 < gap <= 2 * dt:
            state += float(self.states[i] - self.states[i - 1]) * gap / dt
        return state


def _finite(*arrays) -> bool:
    return all(a is not None and np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays)


def _spd_or_none(cov, n: int, floor_var: float) -> np.ndarray | None:
    """A symmetric positive definite (n, n) copy of ``cov`` with eigenvalues >= floor_var; None if unusable."""
    if cov is None:
        return None
    c = np.asarray(cov, dtype=np.float64)
    if c.shape != (n, n) or not np.all(np.isfinite(c)):
        return None
    c = 0.5 * (c + c.T)
    w, v = np.linalg.eigh(c)
    if w.max() <= 0:
        return None
    return (v * np.maximum(w, floor_var)) @ v.T


def _axis_cov(j: JointEstimate, cfg: ObjectModelConfig) -> np.ndarray:
    floor = math.radians(cfg.min_axis_std_deg) ** 2
    c = _spd_or_none(j.axis_cov, 2, floor)
    return np.eye(2) * math.radians(cfg.default_axis_std_deg) ** 2 if c is None else c


def _origin_cov(j: JointEstimate, axis: np.ndarray, cfg: ObjectModelConfig) -> np.ndarray:
    """(3, 3) covariance of the line's position: perpendicular part of the joint's covariance."""
    floor = cfg.min_origin_std_m**2
    c = _spd_or_none(j.origin_cov, 3, floor)
    e1, e2 = tangent_basis(axis)
    P = np.stack([e1, e2])  # (2, 3) onto the plane perpendicular to the axis
    c2 = np.eye(2) * cfg.default_origin_std_m**2 if c is None else P @ c @ P.T
    c2 = _spd_or_none(c2, 2, floor)
    return P.T @ c2 @ P


def _variance(v) -> float | None:
    """A usable variance (finite, >= 0) or None (unknown)."""
    return float(v) if v is not None and math.isfinite(float(v)) and float(v) >= 0 else None


def _type_probs(j: JointEstimate) -> np.ndarray:
    """(3,) finite non-negative type probabilities of ``j`` (one-hot of its type when unusable)."""
    p = np.asarray(j.type_probs, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        return np.eye(3)[int(j.type)]
    return p


def _type_prob(tr: _Track) -> float:
    """The mean probability of the track's type over its windows (ObjectModelConfig.min_type_prob)."""
    total = float(tr.type_probs_sum.sum())
    return float(tr.type_probs_sum[int(tr.type)]) / total if total > 0 else 1.0


def _log_tangent(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tangent coordinates (tangent_basis(a)) of unit vector b: the log map of the sphere at a."""
    e1, e2 = tangent_basis(a)
    v = b - (a @ b) * a
    s = float(np.linalg.norm(v))
    theta = math.atan2(s, float(a @ b))
    if s < 1e-15:
        return np.zeros(2)
    return theta * np.array([e1 @ v, e2 @ v]) / s


def _exp_tangent(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    e1, e2 = tangent_basis(a)
    n = float(np.linalg.norm(x))
    if n < 1e-15:
        return a.copy()
    return unit(math.cos(n) * a + math.sin(n) * (x[0] * e1 + x[1] * e2) / n)


def _basis_change(a_from: np.ndarray, a_to: np.ndarray) -> np.ndarray:
    """(2, 2) map of tangent coordinates at ``a_from`` to those at ``a_to`` (parallel transport, small angles)."""
    f = np.stack(tangent_basis(a_from), axis=1)  # (3, 2)
    t = np.stack(tangent_basis(a_to), axis=1)
    return t.T @ f


class _ObsArrays:
    """A track's observations as arrays (private): B (n, 3) axes, F (n, 3, 2) their tangent bases, C (n, 2, 2)
    axis covariances, O (n, 3) origins, OC (n, 3, 3) origin covariances, W, conf (n,), sig (n,) bool."""

    def __init__(self, obs: list) -> None:
        self.B = np.array([o.axis for o in obs], dtype=np.float64).reshape(-1, 3)
        self.F = _bases_batch(self.B)
        self.C = np.array([o.axis_cov for o in obs], dtype=np.float64).reshape(-1, 2, 2)
        self.O = np.array([o.origin for o in obs], dtype=np.float64).reshape(-1, 3)
        self.OC = np.array([o.origin_cov for o in obs], dtype=np.float64).reshape(-1, 3, 3)
        self.W = np.array([o.weight for o in obs], dtype=np.float64)
        self.conf = np.array([o.confidence for o in obs], dtype=np.float64)
        self.sig = np.array([o.significant for o in obs], dtype=bool)
        self.first = np.array([o.first for o in obs], dtype=np.int64)
        self.last = np.array([o.window for o in obs], dtype=np.int64)


def _bases_batch(A: np.ndarray) -> np.ndarray:
    """(n, 3, 2): tangent_basis of each unit row of A as columns (the same convention, batched)."""
    r = np.where((np.abs(A[:, 0]) < math.cos(math.pi / 4))[:, None], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    e1 = np.cross(A, r)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return np.stack([e1, np.cross(A, e1)], axis=2)


def _log_batch(a: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(n, 2) tangent coordinates at ``a`` of the lines B (each row sign-aligned with ``a`` first)."""
    B = B * np.where(B @ a < 0, -1.0, 1.0)[:, None]
    c = B @ a
    v = B - c[:, None] * a
    s = np.linalg.norm(v, axis=1)
    theta = np.arctan2(s, c)
    scale = np.where(s > 1e-15, theta / np.maximum(s, 1e-300), 0.0)
    return (v @ np.stack(tangent_basis(a), axis=1)) * scale[:, None]


def _on_plane_batch(O: np.ndarray, B: np.ndarray, ref: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Batched :func:`_on_plane`."""
    c = B @ a
    t = np.where(np.abs(c) >= 1e-6, ((ref - O) @ a) / np.where(np.abs(c) >= 1e-6, c, 1.0), 0.0)
    return O + B * t[:, None]


def _spd_batch(C: np.ndarray, floor_var: float) -> np.ndarray:
    """(n, k, k) symmetric copies of C with eigenvalues >= floor_var."""
    C = 0.5 * (C + np.swapaxes(C, 1, 2))
    w, v = np.linalg.eigh(C)
    return np.einsum("nij,nj,nkj->nik", v, np.maximum(w, floor_var), v)


def _conf(j: JointEstimate) -> float:
    c = float(j.confidence)
    return c if math.isfinite(c) else 0.0


def _on_plane(o: np.ndarray, b: np.ndarray, ref: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Where the line (o, b) crosses the plane through ``ref`` perpendicular to ``a`` (o itself when the line
    lies nearly in that plane)."""
    c = float(b @ a)
    if abs(c) < 1e-6:
        return o
    return o + b * (float((ref - o) @ a) / c)


def _chi2(prob: float, dof: int) -> float:
    """Chi-square quantile for 2 degrees of freedom, closed form (the CDF is 1 - exp(-x / 2))."""
    if dof != 2:
        raise ValueError("only the 2-dof quantile is needed")
    return -2.0 * math.log1p(-prob)


def _line_distance(c1: np.ndarray, a1: np.ndarray, c2: np.ndarray, a2: np.ndarray) -> float:
    """Symmetric distance of two (nearly parallel) lines: mean distance of each point to the other line."""
    d1 = c2 - c1
    d1 = d1 - (d1 @ a1) * a1
    d2 = c1 - c2
    d2 = d2 - (d2 @ a2) * a2
    return 0.5 * float(np.linalg.norm(d1) + np.linalg.norm(d2))


def window_motion(j: JointEstimate, child: PartEstimate | None) -> float:
    """How far (m) the child of ``j`` moved during its window: a revolute joint's angular range times the
    distance of the child's centroid from the axis line, a prismatic joint's range; NaN when unknown (a
    revolute joint whose child has no finite centroid)."""
    a = np.asarray(j.amounts, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return float("nan")
    span = float(a.max() - a.min())
    if JointType(j.type) == JointType.PRISMATIC:
        return span
    if child is None or not _finite(child.centroid, j.axis, j.origin):
        return float("nan")
    axis = unit(np.asarray(j.axis, dtype=np.float64))
    d = np.asarray(child.centroid, dtype=np.float64) - np.asarray(j.origin, dtype=np.float64)
    return span * float(np.linalg.norm(d - (d @ axis) * axis))


def _significant(j: JointEstimate, child: PartEstimate | None, cfg: ObjectModelConfig) -> bool:
    """The child moved beyond the noise during the window (ObjectModelConfig.min_motion_m / min_motion_snr)."""
    motion = window_motion(j, child)
    if not (math.isfinite(motion) and motion >= cfg.min_motion_m):
        return False
    res = float(j.fit_residual)
    if math.isfinite(res) and res > 0 and motion < cfg.min_motion_snr * res:
        return False
    var = _variance(j.state_variance)
    a = np.asarray(j.amounts, dtype=np.float64)
    return not (var is not None and float(a.max() - a.min()) < cfg.min_motion_snr * math.sqrt(var))


def _axial_interval(part: PartEstimate | None, axis: np.ndarray) -> tuple[float, float] | None:
    """The extent of ``part``'s bounding box along ``axis`` (m), None when unknown."""
    if part is None or not _finite(part.bbox_min, part.bbox_max):
        return None
    lo, hi = np.asarray(part.bbox_min, dtype=np.float64), np.asarray(part.bbox_max, dtype=np.float64)
    corners = np.array([[(lo, hi)[(k >> i) & 1][i] for i in range(3)] for k in range(8)])
    t = corners @ axis
    return float(t.min()), float(t.max())


def _overlap_along(a: PartEstimate | None, b: PartEstimate | None, axis: np.ndarray, jtype: JointType) -> bool:
    """Revolute: the two parts' boxes overlap along the hinge ``axis`` (side by side on one hinge line, not
    one door above the other). Prismatic: the boxes intersect (pieces of one drawer, not two drawers
    stacked)."""
    if jtype == JointType.PRISMATIC:
        if a is None or b is None or not _finite(a.bbox_min, a.bbox_max, b.bbox_min, b.bbox_max):
            return False
        lo = np.maximum(np.asarray(a.bbox_min, float), np.asarray(b.bbox_min, float))
        hi = np.minimum(np.asarray(a.bbox_max, float), np.asarray(b.bbox_max, float))
        return bool(np.all(hi > lo))
    ia, ib = _axial_interval(a, axis), _axial_interval(b, axis)
    return ia is not None and ib is not None and min(ia[1], ib[1]) > max(ia[0], ib[0])


def _same_motion(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Two state trajectories on the same stamps (relative to their first entry, same sign convention) agree:
    RMS difference <= tol times the larger range, and they move at all."""
    a = a - a[0]
    b = b - b[0]
    span = max(float(np.ptp(a)), float(np.ptp(b)))
    if len(a) < 2 or span <= 0:
        return False
    return float(np.sqrt(np.mean((a - b) ** 2))) <= tol * span
