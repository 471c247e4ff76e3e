"""One fused object model over time, built from successive window estimates (issue 11, item 3).

Each window's :class:`~sim2art_core.estimate.ArticulationEstimate` is a short-baseline hypothesis. The
:class:`ObjectModel` keeps one *track* per moving joint (revolute or prismatic) and, for every new
window:

1. **matches** the window's moving joints to the tracks with
   :func:`scipy.optimize.linear_sum_assignment`. The cost adds, each divided by its gate: the axis angle
   (sign-agnostic, ``acos |a . b|``), the distance between the two axis lines, and for revolute joints
   the distance along the axis between the child parts' centroids (invariant to the rotation; it tells
   apart an upper and a lower door on one hinge line). Pairs of different type or beyond any gate are
   not matched; an unmatched joint starts a new track.
2. **fuses** a matched joint into its track in information form: the axis on the tangent plane of the
   track's axis (2x2, the basis of :func:`sim2art_core.geometry.tangent_basis`), the origin in the plane
   perpendicular to the fused axis (2x2: only the line's position is fused, never the along-axis point).
   Missing or invalid covariances (the network's joints carry none; NaN, non-symmetric or indefinite
   ones) take :attr:`ObjectModelConfig.default_axis_std_deg` / ``default_origin_std_m``. Overlapping
   windows share flow data, so a window's information is scaled by the fraction of its frame steps
   the track has not seen yet (floored at ``min_overlap_weight``): the same frames are not counted twice.
3. **continues the joint state**: each window's amounts are relative to its own frame 0. A track keeps
   its state per stamp; a new window's offset is the median difference on the stamps both hold
   (overlapping windows, the node's case), else the track's last state carried over the gap with the
   last frame step's velocity when the gap is at most two frame steps (consecutive windows), held
   otherwise. States are relative to the first frame the track was seen in.
4. a track is **confirmed** once ``confirm_windows`` windows matched it (a window made only of frames the
   track has seen already, e.g. the same window re-run on ``~/trigger``, is no new evidence: it updates the
   state but neither the geometry nor the count); unconfirmed tracks are published
   with ``confirmed=False`` and dropped after ``forget_unconfirmed_windows`` OK windows without a match.
   Confirmed tracks stay until :meth:`ObjectModel.reset` (a door that stops moving is still a door).

FAILED and NO_ARTICULATION windows never raise and never change a track's geometry; STATIC joints are
not tracked (their part does not move relative to its parent and carries no axis). A window whose
newest stamp is older than the model's newest stamp (time went backwards: a bag replayed, sim time
restarted) resets the model first and is counted.

The fused model is returned as an :class:`ArticulationEstimate` on the newest window's stamps: parts
are the newest root plus one part per track (label = the track's id, stable across updates, so joint
names and TF frames stay stable), then the newest window's parts no track holds (a STATIC joint's part)
as one-window hypotheses labelled ``UNTRACKED_LABEL_BASE`` + their window label; joints carry
``support_windows`` and ``confirmed``; point labels are the newest window's in those labels. Manifold fusion
of axes with covariances is hand-written (no well-kept library does it; SciPy gives the assignment).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.types import EstimateStatus, JointType

MOVING = (JointType.REVOLUTE, JointType.PRISMATIC)
_NOT_MATCHED = 1e6
#: Labels of parts the model does not track (passed through from the newest window); tracks count from 1.
UNTRACKED_LABEL_BASE = 10000
_MAX_HISTORY = 512  # stamps of joint state kept per track (the newest); only the overlap with new windows is used


@dataclass(frozen=True)
class ObjectModelConfig:
    """Knobs of :class:`ObjectModel` (units m, deg unless stated)."""

    confirm_windows: int = 2
    """A track is confirmed (presented as a fact) once this many windows matched it (>= 1)."""
    max_axis_angle_deg: float = 25.0
    """Gate: largest angle between a window's axis and a track's axis (sign-agnostic) to match."""
    max_line_distance_m: float = 0.15
    """Gate: largest distance between a window's axis line and a track's axis line to match."""
    max_along_axis_m: float = 0.30
    """Gate (revolute): largest difference of the child centroids' positions along the axis."""
    default_axis_std_deg: float = 10.0
    """Axis standard deviation (per tangent direction) of a joint without a usable covariance."""
    default_origin_std_m: float = 0.05
    """Origin standard deviation (perpendicular to the axis) of a joint without a usable covariance."""
    min_axis_std_deg: float = 0.2
    """Floor of a window's axis standard deviation: no single window is trusted beyond this."""
    min_origin_std_m: float = 0.003
    """Floor of a window's origin standard deviation (m)."""
    min_overlap_weight: float = 0.1
    """Smallest information weight of a window whose frames the track has already seen."""
    forget_unconfirmed_windows: int = 3
    """An unconfirmed track not matched in this many OK windows in a row is dropped (0 = never)."""
    reset_on_time_jump: bool = True
    """Reset the model when a window's newest stamp is older than the model's newest stamp."""

    def __post_init__(self) -> None:
        if int(self.confirm_windows) < 1:
            raise ValueError(f"confirm_windows must be >= 1, got {self.confirm_windows}")
        for name in ("max_axis_angle_deg", "max_line_distance_m", "max_along_axis_m", "default_axis_std_deg",
                     "default_origin_std_m", "min_axis_std_deg", "min_origin_std_m"):  # fmt: skip
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v}")
        if not 0.0 < float(self.min_overlap_weight) <= 1.0:
            raise ValueError(f"min_overlap_weight must be in (0, 1], got {self.min_overlap_weight}")
        if int(self.forget_unconfirmed_windows) < 0:
            raise ValueError("forget_unconfirmed_windows must be >= 0")


@dataclass
class ObjectModelStats:
    """Counters since construction (not cleared by :meth:`ObjectModel.reset`)."""

    windows: int = 0
    """windows given to :meth:`ObjectModel.update`."""
    ok_windows: int = 0
    failed_windows: int = 0
    no_articulation_windows: int = 0
    matched_joints: int = 0
    new_tracks: int = 0
    dropped_tracks: int = 0
    skipped_joints: int = 0
    """moving joints with non-finite axis / origin / amounts, ignored."""
    resets: int = 0
    time_jumps: int = 0


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


def _line_distance(c1: np.ndarray, a1: np.ndarray, c2: np.ndarray, a2: np.ndarray) -> float:
    """Symmetric distance of two (nearly parallel) lines: mean distance of each point to the other line."""
    d1 = c2 - c1
    d1 = d1 - (d1 @ a1) * a1
    d2 = c1 - c2
    d2 = d2 - (d2 @ a2) * a2
    return 0.5 * float(np.linalg.norm(d1) + np.linalg.norm(d2))


class ObjectModel:
    """The fused model of one object. Not thread-safe (one caller: the node's result callback or a tool)."""

    def __init__(self, config: ObjectModelConfig | None = None) -> None:
        self.config = config or ObjectModelConfig()
        self.stats = ObjectModelStats()
        self._tracks: list[_Track] = []
        self._next_label = 1
        self._latest: ArticulationEstimate | None = None
        self._latest_ok: ArticulationEstimate | None = None
        self._root: PartEstimate | None = None
        self._child_to_label: dict[int, int] = {}

    # -- state ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track and window (labels restart at 1); the counters in ``stats`` stay."""
        self._tracks = []
        self._next_label = 1
        self._latest = None
        self._latest_ok = None
        self._root = None
        self._child_to_label = {}
        self.stats.resets += 1

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    @property
    def num_confirmed(self) -> int:
        return sum(t.support >= self.config.confirm_windows for t in self._tracks)

    # -- update --------------------------------------------------------------------------------------
    def update(self, estimate: ArticulationEstimate) -> ArticulationEstimate:
        """Fold one window's estimate into the model and return the fused model (never raises for bad data)."""
        t0 = time.perf_counter()
        stamps = np.asarray(estimate.stamps_ns, dtype=np.int64).reshape(-1)
        if (
            self.config.reset_on_time_jump
            and self._latest is not None
            and stamps.size
            and len(self._latest.stamps_ns)
            and stamps[-1] < int(np.asarray(self._latest.stamps_ns)[-1])
        ):
            self.stats.time_jumps += 1
            self.reset()
        self.stats.windows += 1
        self._latest = estimate
        if estimate.status == EstimateStatus.FAILED:
            self.stats.failed_windows += 1
        elif estimate.status == EstimateStatus.NO_ARTICULATION:
            self.stats.no_articulation_windows += 1
            if estimate.root is not None:
                self._root = estimate.root
        elif estimate.status == EstimateStatus.OK:
            self.stats.ok_windows += 1
            self._latest_ok = estimate
            if estimate.root is not None:
                self._root = estimate.root
            self._fold(estimate, stamps)
        return self._model(time.perf_counter() - t0)

    def model(self) -> ArticulationEstimate | None:
        """The current fused model, or None before the first window."""
        return None if self._latest is None else self._model(0.0)

    def _fold(self, est: ArticulationEstimate, stamps: np.ndarray) -> None:
        cfg = self.config
        parts = {int(p.label): p for p in est.parts}
        obs = []
        for j in est.joints:
            if j.type not in MOVING:
                continue
            usable = _finite(j.axis, j.origin, j.amounts) and len(j.amounts) == len(stamps) > 0
            usable = usable and np.shape(j.axis) == (3,) and np.shape(j.origin) == (3,)
            if not usable or np.linalg.norm(j.axis) < 1e-9:
                self.stats.skipped_joints += 1
                continue
            obs.append(j)
        matches: dict[int, int] = {}  # observation index -> track index
        if obs and self._tracks:
            cost = np.full((len(obs), len(self._tracks)), _NOT_MATCHED)
            for i, j in enumerate(obs):
                for k, tr in enumerate(self._tracks):
                    c = self._cost(j, parts.get(int(j.child)), tr)
                    if c is not None:
                        cost[i, k] = c
            rows, cols = linear_sum_assignment(cost)
            matches = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _NOT_MATCHED}
        matched_tracks = set(matches.values())
        child_to_label: dict[int, int] = {}
        for i, j in enumerate(obs):
            child = parts.get(int(j.child))
            if i in matches:
                tr = self._tracks[matches[i]]
                self._fuse(tr, j, child, stamps)
                self.stats.matched_joints += 1
            else:
                tr = self._new_track(j, child, stamps)
                self._tracks.append(tr)
                matched_tracks.add(len(self._tracks) - 1)
                self.stats.new_tracks += 1
            child_to_label[int(j.child)] = tr.label
        by_label = {t.label: t for t in self._tracks}
        for j in obs:  # parents after every child has its track label
            by_label[child_to_label[int(j.child)]].parent_label = child_to_label.get(int(j.parent), 0)
        keep = []
        for k, tr in enumerate(self._tracks):
            if k in matched_tracks:
                tr.missed = 0
            else:
                tr.missed += 1
                tr.last_amounts = None
            drop = (
                cfg.forget_unconfirmed_windows > 0
                and tr.support < cfg.confirm_windows
                and tr.missed >= cfg.forget_unconfirmed_windows
            )
            if drop:
                self.stats.dropped_tracks += 1
            else:
                keep.append(tr)
        self._tracks = keep
        self._child_to_label = child_to_label

    def _cost(self, j: JointEstimate, child: PartEstimate | None, tr: _Track) -> float | None:
        cfg = self.config
        if JointType(j.type) != tr.type:
            return None
        b = unit(j.axis)
        cos = min(1.0, abs(float(b @ tr.axis)))
        angle = math.degrees(math.acos(cos))
        if angle > cfg.max_axis_angle_deg:
            return None
        dist = _line_distance(tr.origin, tr.axis, np.asarray(j.origin, dtype=np.float64), b)
        if dist > cfg.max_line_distance_m:
            return None
        cost = angle / cfg.max_axis_angle_deg + dist / cfg.max_line_distance_m
        if tr.type == JointType.REVOLUTE and child is not None and _finite(child.centroid, tr.child.centroid):
            along = abs(float((np.asarray(child.centroid) - tr.child.centroid) @ tr.axis))
            if along > cfg.max_along_axis_m:
                return None
            cost += along / cfg.max_along_axis_m
        return cost

    def _new_track(self, j: JointEstimate, child: PartEstimate | None, stamps: np.ndarray) -> _Track:
        cfg = self.config
        a = unit(j.axis)
        amounts = np.asarray(j.amounts, dtype=np.float64)
        label = self._next_label
        self._next_label += 1
        origin = np.asarray(j.origin, dtype=np.float64)
        tr = _Track(
            label=label,
            type=JointType(j.type),
            axis=a,
            axis_info=np.linalg.inv(_axis_cov(j, cfg)),
            origin=origin.copy(),
            origin_cov=_origin_cov(j, a, cfg),
            type_probs_sum=_type_probs(j),
            confidence_sum=float(j.confidence) if math.isfinite(float(j.confidence)) else 0.0,
            support=1,
            stamps=stamps.copy(),
            states=amounts.copy(),
            state_variance=_variance(j.state_variance),
            child=self._child_summary(j, child),
            score_sum=0.0 if child is None else float(child.score),
            last_origin=origin.copy(),
            fit_residual=float(j.fit_residual),
            source=str(j.source),
            last_amounts=amounts.copy(),
            last_variance=_variance(j.state_variance),
        )
        return tr

    @staticmethod
    def _child_summary(j: JointEstimate, child: PartEstimate | None) -> PartEstimate:
        if child is not None:
            return child
        nan = np.full(3, np.nan)
        return PartEstimate(int(j.child), False, 0, nan, nan, nan, 0.0)

    def _fuse(self, tr: _Track, j: JointEstimate, child: PartEstimate | None, stamps: np.ndarray) -> None:
        cfg = self.config
        b = unit(j.axis)
        sign = 1.0 if float(b @ tr.axis) >= 0 else -1.0
        b = sign * b  # the same line; amounts flip with the axis
        amounts = sign * np.asarray(j.amounts, dtype=np.float64)
        # Information weight: the fraction of this window's frame steps the track has not seen yet.
        seen = np.isin(stamps, tr.stamps)
        new_steps = max(len(stamps) - 1, 1) - max(int(seen.sum()) - 1, 0)
        w = max(cfg.min_overlap_weight, min(1.0, new_steps / max(len(stamps) - 1, 1)))
        # The same frames again (a re-run window) are no new evidence: geometry and support stay.
        repeat = bool(seen.all())
        if not repeat:
            self._fuse_geometry(tr, j, b, w)
        tr.last_origin = np.asarray(j.origin, dtype=np.float64)
        # State continuity.
        common, i_hist, i_new = np.intersect1d(tr.stamps, stamps, return_indices=True)
        if len(common):
            offset = float(np.median(tr.states[i_hist] - amounts[i_new]))
            offset_var = tr.last_variance
        else:
            offset = tr.bridge(int(stamps[0]))
            offset_var = tr.state_variance
        states = amounts + offset
        keep = ~np.isin(tr.stamps, stamps)
        all_stamps = np.concatenate([tr.stamps[keep], stamps])
        all_states = np.concatenate([tr.states[keep], states])
        order = np.argsort(all_stamps, kind="stable")[-_MAX_HISTORY:]
        tr.stamps, tr.states = all_stamps[order], all_states[order]
        var = _variance(j.state_variance)
        tr.state_variance = None if var is None or offset_var is None else float(var + offset_var)
        tr.last_variance = tr.state_variance
        tr.last_amounts = states
        # Type, confidence, part summary.
        if child is not None:
            tr.child = child
        if not repeat:
            tr.type_probs_sum = tr.type_probs_sum + _type_probs(j)
            tr.confidence_sum += float(j.confidence) if math.isfinite(float(j.confidence)) else 0.0
            tr.support += 1
            tr.score_sum += 0.0 if child is None else float(child.score)
        tr.fit_residual = float(j.fit_residual)
        tr.source = str(j.source)

    def _fuse_geometry(self, tr: _Track, j: JointEstimate, b: np.ndarray, w: float) -> None:
        """Fold axis ``b`` (sign-aligned with the track) and the origin of ``j`` into ``tr`` with weight ``w``."""
        cfg = self.config
        # Axis: both in the track's tangent plane, information form.
        J = _basis_change(b, tr.axis)
        obs_info = w * np.linalg.inv(J @ _axis_cov(j, cfg) @ J.T)
        delta = _log_tangent(tr.axis, b)
        info = tr.axis_info + obs_info
        x = np.linalg.solve(info, obs_info @ delta)
        new_axis = _exp_tangent(tr.axis, x)
        M = _basis_change(tr.axis, new_axis)
        Minv = np.linalg.inv(M)
        tr.axis_info = Minv.T @ info @ Minv
        tr.axis = new_axis
        # Origin: only the line's position is fused, in the plane perpendicular to the fused axis through
        # the track's origin (the along-axis coordinates differ by construction and carry nothing).
        o = np.asarray(j.origin, dtype=np.float64)
        P = np.stack(tangent_basis(new_axis))  # (2, 3)
        floor = cfg.min_origin_std_m**2 * 1e-2
        S_track = _spd_or_none(P @ tr.origin_cov @ P.T, 2, floor)
        S_obs = _spd_or_none(P @ _origin_cov(j, b, cfg) @ P.T / w, 2, floor)
        I_track, I_obs = np.linalg.inv(S_track), np.linalg.inv(S_obs)
        S = np.linalg.inv(I_track + I_obs)
        tr.origin = tr.origin + P.T @ (S @ I_obs @ (P @ (o - tr.origin)))
        tr.origin_cov = P.T @ S @ P

    # -- output --------------------------------------------------------------------------------------
    def _model(self, seconds: float) -> ArticulationEstimate:
        latest = self._latest
        assert latest is not None
        stamps = np.asarray(latest.stamps_ns, dtype=np.int64).reshape(-1)
        timings = dict(latest.timings)
        timings["object_model"] = seconds
        if not self._tracks:
            return replace(latest, timings=timings)
        cfg = self.config
        parts = [self._root] if self._root is not None else []
        joints = []
        extra_parts, extra_joints, untracked = self._untracked(latest)
        for tr in self._tracks:
            n = tr.support
            probs = tr.type_probs_sum / max(float(tr.type_probs_sum.sum()), 1e-12)
            c = tr.child
            parts.append(replace(c, label=tr.label, is_root=False, score=float(tr.score_sum / n)))
            if tr.last_amounts is not None and len(tr.last_amounts) == len(stamps):
                amounts = tr.last_amounts.copy()
            else:  # not observed in the newest window: the state holds
                amounts = np.full(len(stamps), tr.state_at(int(stamps[-1])) if len(stamps) else tr.states[-1])
            # Publish the line through the fused position, at the newest observation's place along the axis.
            origin = tr.origin + tr.axis * float((tr.last_origin - tr.origin) @ tr.axis)
            axis_cov = np.linalg.inv(tr.axis_info)
            origin_cov = tr.origin_cov.copy()
            joints.append(
                JointEstimate(
                    child=tr.label,
                    parent=tr.parent_label,
                    type=tr.type,
                    type_probs=probs,
                    axis=tr.axis.copy(),
                    origin=origin,
                    amounts=amounts,
                    confidence=float(np.clip(tr.confidence_sum / n, 0.0, 1.0)),
                    source=tr.source,
                    axis_cov=axis_cov,
                    origin_cov=origin_cov,
                    state_variance=tr.state_variance,
                    fit_residual=tr.fit_residual,
                    support_windows=n,
                    confirmed=n >= cfg.confirm_windows,
                )
            )
        message = "" if latest.status == EstimateStatus.OK else f"newest window {latest.status.name}: {latest.message}"
        return ArticulationEstimate(
            status=EstimateStatus.OK,
            frame_id=latest.frame_id,
            stamps_ns=stamps,
            labels=self._labels(latest, untracked),
            parts=(*parts, *extra_parts),
            joints=(*joints, *extra_joints),
            message=message,
            observed_motion=float(self._latest_ok.observed_motion if self._latest_ok is not None else 0.0),
            estimator_id=latest.estimator_id,
            timings=timings,
        )

    def _untracked(self, latest: ArticulationEstimate) -> tuple[list[PartEstimate], list[JointEstimate], dict]:
        """The newest OK window's non-root parts that no track holds (STATIC joints, skipped joints), passed
        through as one-window hypotheses under labels UNTRACKED_LABEL_BASE + their window label (a range
        tracks never reach, so a track's label never changes meaning)."""
        if latest.status != EstimateStatus.OK:
            return [], [], {}
        joints = {int(j.child): j for j in latest.joints}
        parts, out_joints, relabel = [], [], {}
        for p in latest.parts:
            label = int(p.label)
            if p.is_root or label in self._child_to_label:
                continue
            new = UNTRACKED_LABEL_BASE + label
            relabel[label] = new
            parts.append(replace(p, label=new))
            j = joints.get(label)
            if j is not None and _finite(j.axis, j.origin):  # a malformed window joint is not passed on
                parent = int(j.parent)
                parent = self._child_to_label.get(parent, UNTRACKED_LABEL_BASE + parent if parent else 0)
                out_joints.append(
                    replace(
                        j, child=new, parent=parent, support_windows=1, confirmed=False,
                        axis_cov=j.axis_cov if _finite(j.axis_cov) else None,  # unknown, never NaN
                        origin_cov=j.origin_cov if _finite(j.origin_cov) else None,
                        state_variance=_variance(j.state_variance),
                    )
                )  # fmt: skip
        return parts, out_joints, relabel

    def _labels(self, latest: ArticulationEstimate, untracked: dict[int, int]) -> np.ndarray:
        """The newest window's point labels in the model's labels: tracked parts get their track's label,
        untracked ones theirs (see :meth:`_untracked`), the root and a NO_ARTICULATION window's points 0,
        invalid points and every point of a FAILED window -1."""
        labels = np.asarray(latest.labels)
        if latest.status == EstimateStatus.FAILED or labels.size == 0:
            return np.full(labels.shape, -1, dtype=np.int16)
        out = np.where(labels >= 0, 0, -1).astype(np.int16)
        if latest.status != EstimateStatus.OK:
            return out
        for child, label in (*self._child_to_label.items(), *untracked.items()):
            out[labels == child] = label
        return out
