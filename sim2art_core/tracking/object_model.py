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
   Before matching, joints of one window that are the same physical joint (one type, within the gates,
   their child parts side by side along the axis, the same motion: a door split in two) are folded into
   the most confident of them; its track then labels both parts' points.
2. **fuses** a matched joint into its track: the track keeps its last ``_MAX_OBS`` window observations and
   re-fits them in information form: the axis on the sphere (tangent plane, the basis of
   :func:`sim2art_core.geometry.tangent_basis`, a few Gauss-Newton steps), the line's position in the plane
   perpendicular to the fused axis (each window's line where it crosses that plane; the along-axis point
   carries nothing). The re-fit is robust: the observation with the largest leave-one-out chi-square
   distance (axis or line, 2 dof each, ``consistency_prob``) is left out and the rest re-fitted until all
   agree. Missing or invalid covariances (the network's joints carry none; NaN, non-symmetric or
   indefinite ones) take :attr:`ObjectModelConfig.default_axis_std_deg` / ``default_origin_std_m``.
   Overlapping windows share flow data, so a window's information is scaled by the fraction of its frame
   steps the track has not seen yet (floored at ``min_overlap_weight``): the same frames are not counted
   twice. Two tracks that are the same physical joint (the gates, the chi-square gate, side by side, the
   same motion on common stamps) merge. So do two tracks of one type whose children occupy the same space
   and that no window held both of (``space_merge``): one part has one joint, whatever the windows' axes
   said (a door whose windows' axes disagreed beyond the matching gates). Each track keeps the space its
   child swept (the newest frame's points of every window it held, one per 2 cm cube; given only with the
   window's points); two adjacent doors occupy different space, or move in one window, and stay apart.
3. **continues the joint state**: each window's amounts are relative to its own frame 0. A track keeps
   its state per stamp, relative to the first frame the track was seen in. ``state_method`` fit (default):
   the states on every stamp and one offset per window are fitted jointly to the newest ``state_windows``
   windows' curves (:mod:`sim2art_core.tracking.joint_state`; a gap of at most two frame steps continues
   with the last step's velocity, a longer one holds). Given the window's points (:meth:`ObjectModel.update`
   ``points``, the node passes them), the track's child points from its first frame are also registered
   about the fused joint onto every newest frame (one degree of freedom, robust nearest-neighbour cost):
   an accepted registration is a long-baseline measurement of the state that enters the fit with a large
   weight, so the state does not drift with the number of windows, and a track not seen in the newest
   window is measured instead of held (revolute joints; prismatic ones with ``registration_prismatic``).
   ``chain`` (the former rule): a new window's offset is the median difference on the stamps both hold,
   else the bridge above, and its states replace the track's.
4. a track is **confirmed** once ``confirm_windows`` of its windows are *consistent* (kept by the robust
   re-fit), show *significant motion* (the child moved >= ``min_motion_m`` during the window and >=
   ``min_motion_snr`` times the window's fit residual and state standard deviation) and are *independent*
   (their frame spans overlap by at most ``independent_overlap``; :mod:`sim2art_core.tracking.evidence`),
   the network's probability of the track's type, averaged over its windows, is >= ``min_type_prob``, and
   no other track of its type that shared a window with it sweeps the same space (``contradiction_check``):
   a joint that recurs but moves by noise, whose windows contradict each other, that only recurs in
   windows sharing most of their frames (the node's windows overlap), whose type the network is unsure
   of, or that another joint of the same part contradicts is not presented as a fact. A window
   made only of frames the track has seen already (e.g. the same window re-run on ``~/trigger``) is no new
   evidence: it updates the state but neither the geometry nor the count. Unconfirmed tracks are published
   with ``confirmed=False`` and dropped after ``forget_unconfirmed_windows`` OK windows without a match,
   unless ``confirm_windows`` consistent moving windows, overlapping or not, support them (a recurring
   hypothesis stays until independent windows confirm it). Confirmed tracks stay until
   :meth:`ObjectModel.reset` (a door that stops moving is still a door).

Bad input: a joint with a non-finite axis, origin or amounts, or amounts of another length than the stamps,
is skipped and counted (``stats.skipped_joints``); a revolute joint whose child has no finite centroid
cannot show significant motion (its displacement is unknown) and is never confirmed by that window; an
empty window changes nothing.
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
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.tracking.evidence import independent_support
from sim2art_core.tracking.joint_state import (
    RegistrationConfig,
    StateCurve,
    fuse_state_curves,
    register_state,
)
from sim2art_core.types import EstimateStatus, JointType

MOVING = (JointType.REVOLUTE, JointType.PRISMATIC)
_NOT_MATCHED = 1e6
#: Labels of parts the model does not track (passed through from the newest window); tracks count from 1.
UNTRACKED_LABEL_BASE = 10000
_MAX_HISTORY = 512  # stamps of joint state kept per track (the newest); only the overlap with new windows is used
_MAX_OBS = 16  # window observations kept per track for the robust re-fit (the newest)
_MAX_SPACE = 4096  # space points kept per track (space_merge; the newest windows' first)
_MAX_WINDOWS = 512  # window stamps kept per track to tell whether two tracks were held in one window


@dataclass(frozen=True)
class ObjectModelConfig:
    """Knobs of :class:`ObjectModel` (units m, deg unless stated)."""

    confirm_windows: int = 2
    """A track is confirmed (presented as a fact) once this many of its windows are *consistent* (they pass the
    ``consistency_prob`` gate against the fused joint) and show *significant motion* (``min_motion_m``,
    ``min_motion_snr``) and are independent of each other (``independent_overlap``); windows that merely
    matched do not count (>= 1)."""
    independent_overlap: float = 0.5
    """Confirmation counts *independent* windows: of the consistent windows with significant motion, the most
    whose frame spans pairwise overlap by at most this fraction of the shorter span
    (:func:`sim2art_core.tracking.evidence.independent_support`; 0: no common frame step, 1: every window
    counts, the rule before). The node's windows (T = 16 keyframes 0.2 s apart, one estimate per second)
    share about two thirds of their frames, and whatever the network makes of those frames recurs in each:
    at 0.5 a window counts only when most of its frames are new. Chosen on 28 val bags through the node
    (docs/BENCHMARKS.md "Confirmed spurious joints through the node"): bags with a confirmed spurious joint
    20 -> 14, confirmed true joints 33 -> 20 of 53 (those within 10 deg / 10 cm: 16 -> 14 of 18); at 0
    (no shared frame step) 5 bags, but 7 true joints. Consecutive windows (no shared frame step, the
    offline evaluation's) count as before."""
    consistency_prob: float = 0.99
    """Chi-square gate of a window's joint against the fused joint: the Mahalanobis distances of its axis and of
    its line position (2 dof each; leave-one-out: the window's covariance minus the fused one) must both stay
    below the chi-square quantile of this probability. Windows beyond it are outliers: excluded from the fused
    geometry and from confirmation, the worst first, until the rest agree (robust re-fit over the kept
    windows). Two tracks merge only when their axes and lines pass the same gate (covariances summed)."""
    min_motion_m: float = 0.0
    """Absolute floor (m) of a window's motion for it to confirm: how far its child moved during the window (a
    revolute joint's angular range times the distance of the child's centroid from the axis, a prismatic
    joint's range) must exceed it. Off by default: on the val split (docs/EVALUATION.md §9) floors of 5 mm,
    1 cm and 2 cm lost true joints of small objects and slow doors and 5 mm removed no spurious joint; the
    noise test is ``min_motion_snr``. Raise it for a sensor whose fits report no residual."""
    min_motion_snr: float = 3.0
    """Also required for significant motion: that displacement >= this times the window's rigid-fit residual
    (``fit_residual``, m), and the range >= this times the state's standard deviation where the window gives
    them (a part whose motion is not larger than the noise of its own fit is not confirmed)."""
    consistency_min_axis_std_deg: float = 2.0
    """Floor of a window's axis standard deviation in the consistency gate only: a window's covariance
    describes its flow noise, not how its segmentation differs from the next window's (which moves the axis
    by about a degree even on exact flow); without it exact-flow windows 1 deg apart would contradict."""
    consistency_min_origin_std_m: float = 0.02
    """Floor of a window's line-position standard deviation in the consistency gate only (m), as above."""
    same_motion_tol: float = 0.25
    """Two joints of one window (or two tracks) are the same physical joint (a part split in two) when they
    are of one type, within the matching gates, their children overlap along the axis and their states agree:
    RMS difference <= this fraction of their larger range (within one window up to the sense of the motion,
    which a window's network amounts can get wrong: two real parts side by side on one hinge line cannot
    turn by the same amount in opposite senses); they are then merged (the more confident one gives the
    geometry of that window)."""
    min_type_prob: float = 0.7
    """A track is confirmed only when its type's mean probability over its windows (the network's type head,
    averaged over the windows as published in ``type_probs``) is at least this: a joint the network is not
    sure is a joint *of this type* is not presented as a fact (0: off). A window without usable probabilities
    counts as certain of its type. On the 28 val bags through the node (docs/BENCHMARKS.md "Type-ambiguous
    and contradicting tracks") half the confirmed spurious joints were prismatic tracks on the static body
    whose windows gave the prismatic type 0.55-0.88; the true joints confirmed within 10 deg had 0.75-1.0
    (drawers 0.84-1.0): at 0.7 bags with a confirmed spurious joint 11 -> 8, confirmed spurious joints 16 ->
    11, true joints confirmed 25 -> 23 (the two lost were 17 and 84 deg off), accurate ones confirmed 15 of
    19 unchanged; 0.75 the same, 0.8 also unconfirmed an accurate door (0.75)."""
    contradiction_check: bool = True
    """Confirm neither of two tracks of one type that were held as different parts of one window while their
    children sweep the same space: each track's space (see ``space_merge``) lies at least
    ``contradiction_overlap`` within the other's. The window's network keeps cutting one part in two in
    different ways, and the two joints that did not merge (the gates, the motion) contradict each other as
    explanations of that part's motion. On the 28 val bags (docs/BENCHMARKS.md "Type-ambiguous and
    contradicting tracks") such pairs were only the scissors' blades and eyeglasses' temples called prismatic
    (two prismatic tracks 19-54 deg apart on one rotating part); two doors or drawers side by side occupy
    different space. Needs the window's points (the node gives them; the space is ``space_merge``'s, kept
    whether or not that merge is on)."""
    contradiction_overlap: float = 0.7
    """Same space for ``contradiction_check``: this fraction of *each* track's space points lies within one
    cube diagonal (sqrt(3) ``space_merge_tol_m``: a space keeps one point per cube, so the same surface seen
    twice can be that far apart) of the other's (both with at least ``space_merge_min_points``). On the val
    bags 0.7 unconfirmed exactly the four scissors' and eyeglasses' wrong-type tracks (bags with a confirmed
    spurious joint 8 -> 4 after ``min_type_prob``, two true joints confirmed less, both matched 81-90 deg
    off); 0.5 also an accurate joint, and a double door with a track that once held both fronts lies 0.54 /
    1.0 inside the other door's (the test's case)."""
    space_merge: bool = True
    """Merge two tracks of one type whose moving parts occupy the same space and that were never both held as
    different parts of one window: one part has one joint, so they are one joint whose windows' axes disagreed
    beyond the matching gates (a door or drawer ending as two tracks). Each track keeps the space its child
    swept: the child's points of the newest frame of every window it held (the window's points given to
    :meth:`ObjectModel.update`; without them there is no space and no such merge), one point per cube of
    ``space_merge_tol_m``. Two adjacent doors stay apart: they occupy different space, and both move (are
    held) in one window. The merged track fuses both tracks' window observations (the robust re-fit keeps
    the consistent ones), keeps the identity (label) of the track with more consistent windows (then the
    older one) and adds the other's state curves of the windows that stay consistent."""
    space_merge_overlap: float = 0.5
    """Same space: at least this fraction of one track's space points (of a track with at least
    ``space_merge_min_points``) lie within ``space_merge_tol_m`` of the other track's."""
    space_merge_tol_m: float = 0.02
    """Distance (m) within which a space point counts as occupied by the other track; also the cube size of
    the space's subsample."""
    space_merge_min_points: int = 5
    """A track's space is compared only with at least this many points (one per cube: 5 are 20 cm^2 of front at
    2 cm; a part seen with a handful of points says nothing about its space). Small on purpose: the val bags'
    duplicates are often a window's track seen in one window with a few dozen points (docs/BENCHMARKS.md
    "Duplicate tracks: one part, one joint")."""
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
    """An unconfirmed track not matched in this many OK windows in a row is dropped (0 = never), unless
    ``confirm_windows`` of its windows are consistent and moving, whether independent or not."""
    reset_on_time_jump: bool = True
    """Reset the model when a window's newest stamp is older than the model's newest stamp."""
    state_method: Literal["fit", "chain"] = "fit"
    """How a track's joint state continues across windows. ``fit``: the states on all stamps and one offset
    per window fitted jointly to the newest ``state_windows`` windows' curves
    (:mod:`sim2art_core.tracking.joint_state`); ``chain``: each new window's curve offset onto the previous
    states (median difference on the shared stamps) and replacing them there (the former rule; its error
    grows with the number of windows)."""
    state_windows: int = 16
    """Windows whose state curves the ``fit`` keeps per track; states older than the oldest one are fixed."""
    state_registration: bool = True
    """With the window's points (:meth:`ObjectModel.update` ``points``) and ``state_method`` fit: measure each
    track's state on a long baseline, its child's points from the track's first window registered about the
    fused joint onto the newest frame (:func:`sim2art_core.tracking.joint_state.register_state`); an accepted
    registration enters the fit as a two-stamp curve of weight ``registration_weight``."""
    registration_prismatic: bool = False
    """Register prismatic joints too. Off by default: on the val bags (docs/BENCHMARKS.md "Joint state at the
    last frame") drawer fronts seen with few points gave false registrations that made the prismatic states
    worse (within 2 cm: 3 of 16 joints with registration through the node against 6 of 14 before); revolute
    joints gained (10 of 15 within 0.1 rad against 4 of 15)."""
    registration_weight: float = 16.0
    """Weight of a registration against one window sample (a window's curve has T samples of weight 1)."""
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    """The registration's knobs."""

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
        if not 0.0 <= float(self.independent_overlap) <= 1.0:
            raise ValueError(f"independent_overlap must be in [0, 1], got {self.independent_overlap}")
        if not 0.0 < float(self.consistency_prob) < 1.0:
            raise ValueError(f"consistency_prob must be in (0, 1), got {self.consistency_prob}")
        for name in ("min_motion_m", "min_motion_snr", "same_motion_tol", "consistency_min_axis_std_deg",
                     "consistency_min_origin_std_m"):  # fmt: skip
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if not 0.0 < float(self.contradiction_overlap) <= 1.0:
            raise ValueError(f"contradiction_overlap must be in (0, 1], got {self.contradiction_overlap}")
        if not 0.0 <= float(self.min_type_prob) <= 1.0:
            raise ValueError(f"min_type_prob must be in [0, 1], got {self.min_type_prob}")
        if not 0.0 < float(self.space_merge_overlap) <= 1.0:
            raise ValueError(f"space_merge_overlap must be in (0, 1], got {self.space_merge_overlap}")
        if not (math.isfinite(float(self.space_merge_tol_m)) and float(self.space_merge_tol_m) > 0):
            raise ValueError(f"space_merge_tol_m must be a positive number, got {self.space_merge_tol_m}")
        if int(self.space_merge_min_points) < 1:
            raise ValueError(f"space_merge_min_points must be >= 1, got {self.space_merge_min_points}")
        if int(self.forget_unconfirmed_windows) < 0:
            raise ValueError("forget_unconfirmed_windows must be >= 0")
        if self.state_method not in ("fit", "chain"):
            raise ValueError(f"state_method must be 'fit' or 'chain', got {self.state_method!r}")
        if int(self.state_windows) < 1:
            raise ValueError(f"state_windows must be >= 1, got {self.state_windows}")
        if not (math.isfinite(float(self.registration_weight)) and float(self.registration_weight) > 0):
            raise ValueError(f"registration_weight must be a positive number, got {self.registration_weight}")


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
    duplicate_joints: int = 0
    """joints of one window folded into another joint of that window (the same physical joint, a split part)."""
    merged_tracks: int = 0
    """tracks merged into another track (the same physical joint seen as two)."""
    space_merged_tracks: int = 0
    """of those, tracks merged because their parts occupy the same space (``space_merge``)."""


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
        self._cloud: tuple[np.ndarray, np.ndarray] | None = None  # the newest window's points during update
        self._contradicted: set[int] = set()  # labels of tracks contradicted by another (contradiction_check)

    # -- state ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track and window (labels restart at 1); the counters in ``stats`` stay."""
        self._tracks = []
        self._next_label = 1
        self._latest = None
        self._latest_ok = None
        self._root = None
        self._child_to_label = {}
        self._contradicted = set()
        self.stats.resets += 1

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    @property
    def num_confirmed(self) -> int:
        return sum(self._confirmed(t) for t in self._tracks)

    def _confirmed(self, tr: _Track) -> bool:
        cfg = self.config
        return (
            tr.independent >= cfg.confirm_windows
            and _type_prob(tr) >= cfg.min_type_prob
            and tr.label not in self._contradicted
        )

    # -- update --------------------------------------------------------------------------------------
    def update(
        self, estimate: ArticulationEstimate, points: np.ndarray | None = None, labels: np.ndarray | None = None
    ) -> ArticulationEstimate:
        """Fold one window's estimate into the model and return the fused model (never raises for bad data).

        ``points``: optional, m, in the estimate's frame: the whole window (T, N, 3) (the node passes
        ``Window.points``) or its newest frame (N, 3), with their window part ``labels`` of the same leading
        shape (default: the estimate's labels, or their newest row; -1 = invalid): the joint states are then
        also measured on a long baseline (``ObjectModelConfig.state_registration``). Wrong shapes are ignored."""
        t0 = time.perf_counter()
        self._cloud = self._newest_cloud(estimate, points, labels)
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

    @staticmethod
    def _newest_cloud(est: ArticulationEstimate, points, labels) -> dict | None:
        """{"first": (points, labels) of the window's frame 0 or None, "newest": those of its newest frame},
        valid points only; None when ``points`` is missing or malformed."""
        if points is None:
            return None
        p = np.asarray(points, dtype=np.float64)
        lab = np.asarray(est.labels if labels is None else labels)
        if p.ndim == 2:
            p, lab = p[None], lab[-1:] if lab.ndim == 2 else lab.reshape(1, -1)
        if p.ndim != 3 or p.shape[-1] != 3 or lab.shape != p.shape[:2] or len(p) not in (1, len(est.stamps_ns)):
            return None
        ok = np.all(np.isfinite(p), axis=2) & (lab >= 0)
        frames = [(p[t][ok[t]], lab[t][ok[t]]) for t in (0, -1)]
        return {"first": frames[0] if len(p) > 1 else None, "newest": frames[1]}

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
        obs, duplicates = self._collapse_duplicates(obs, parts)
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
        for dup, kept in duplicates.items():  # a split part's pieces carry the joint's label
            child_to_label[dup] = child_to_label[kept]
        by_label = {t.label: t for t in self._tracks}
        for j in obs:  # parents after every child has its track label
            parent = child_to_label.get(int(j.parent), 0)
            tr = by_label[child_to_label[int(j.child)]]
            tr.parent_label = parent if parent != tr.label else 0
        self._note_space(child_to_label, stamps)
        keep = []
        for k, tr in enumerate(self._tracks):
            if k in matched_tracks:
                tr.missed = 0
            else:
                tr.missed += 1
                tr.last_amounts = None
                if cfg.state_method == "fit" and cfg.state_registration and self._register(tr, None, stamps):
                    self._fit_states(tr, stamps[-1:])  # the state at the newest stamp: measured, not held
            drop = (  # a recurring hypothesis (confirm_windows consistent windows, overlapping) is kept
                cfg.forget_unconfirmed_windows > 0
                and tr.consistent < cfg.confirm_windows
                and tr.missed >= cfg.forget_unconfirmed_windows
            )
            if drop:
                self.stats.dropped_tracks += 1
            else:
                keep.append(tr)
        self._tracks = keep
        self._child_to_label = self._merge_tracks(child_to_label)
        if cfg.space_merge:
            self._child_to_label = self._merge_same_space(self._child_to_label, stamps)
        self._contradicted = self._contradictions() if cfg.contradiction_check else set()

    def _same_joint(self, ja: JointEstimate, pa, jb: JointEstimate, pb) -> bool:
        """Two joints of one window are the same physical joint (see ObjectModelConfig.same_motion_tol)."""
        cfg = self.config
        if JointType(ja.type) != JointType(jb.type):
            return False
        a, b = unit(ja.axis), unit(jb.axis)
        if math.degrees(math.acos(min(1.0, abs(float(a @ b))))) > cfg.max_axis_angle_deg:
            return False
        oa, ob = np.asarray(ja.origin, dtype=np.float64), np.asarray(jb.origin, dtype=np.float64)
        if JointType(ja.type) == JointType.REVOLUTE and _line_distance(oa, a, ob, b) > cfg.max_line_distance_m:
            return False
        if not _overlap_along(pa, pb, a, JointType(ja.type)):
            return False
        # the same motion up to its sense: two real parts on one hinge line, side by side along it, cannot
        # turn the same amount in opposite senses, but a window's network amounts can get the sense wrong
        aa, ab = np.asarray(ja.amounts, float), np.asarray(jb.amounts, float)
        return _same_motion(aa, ab, cfg.same_motion_tol) or _same_motion(aa, -ab, cfg.same_motion_tol)

    def _collapse_duplicates(self, obs: list, parts: dict) -> tuple[list, dict[int, int]]:
        """Fold joints of one window that are the same physical joint into the most confident of them;
        returns the kept joints and {dropped child label: kept child label}."""
        order = sorted(range(len(obs)), key=lambda i: -_conf(obs[i]))
        kept: list[int] = []
        dup: dict[int, int] = {}
        for i in order:
            j = obs[i]
            host = next(
                (k for k in kept if self._same_joint(obs[k], parts.get(int(obs[k].child)), j, parts.get(int(j.child)))),
                None,
            )
            if host is None:
                kept.append(i)
            else:
                dup[int(j.child)] = int(obs[host].child)
                self.stats.duplicate_joints += 1
        return [obs[i] for i in sorted(kept)], dup

    def _merge_tracks(self, child_to_label: dict[int, int]) -> dict[int, int]:
        """Merge tracks that are the same physical joint: one type, within the matching gates, consistent
        (chi-square), children overlapping along the axis and the same motion on their common stamps. The
        track with more consistent windows (then the older one) stays; per window the more confident
        observation is kept."""
        changed = True
        while changed:
            changed = False
            for a in self._tracks:
                for b in self._tracks:
                    if a is b or a.type != b.type or not self._tracks_same(a, b):
                        continue
                    keep, gone = (a, b) if (a.consistent, -a.label) >= (b.consistent, -b.label) else (b, a)
                    by_window = {o.window: o for o in keep.obs}
                    for o in gone.obs:
                        if o.window not in by_window or o.confidence > by_window[o.window].confidence:
                            by_window[o.window] = o
                    keep.obs = sorted(by_window.values(), key=lambda o: o.window)[-_MAX_OBS:]
                    keep.support = max(keep.support, len(by_window))
                    keep.windows |= gone.windows
                    self._add_space(keep, gone.space, gone.space_stamp)
                    self._refit(keep)
                    self._tracks = [t for t in self._tracks if t is not gone]
                    child_to_label = {c: (keep.label if v == gone.label else v) for c, v in child_to_label.items()}
                    for t in self._tracks:
                        if t.parent_label == gone.label:
                            t.parent_label = 0 if t is keep else keep.label
                    self.stats.merged_tracks += 1
                    changed = True
                    break
                if changed:
                    break
        return child_to_label

    def _note_space(self, child_to_label: dict[int, int], stamps: np.ndarray) -> None:
        """Record which tracks this window held and, given the window's points, the space their children
        occupy in its newest frame (ObjectModelConfig.space_merge, contradiction_check)."""
        by_label = {t.label: t for t in self._tracks}
        children: dict[int, list[int]] = {}
        for child, label in child_to_label.items():
            children.setdefault(label, []).append(child)
        cloud = self._cloud
        stamp = int(stamps[-1])
        for label, kids in children.items():
            tr = by_label[label]
            tr.windows.add(stamp)
            if len(tr.windows) > _MAX_WINDOWS:
                tr.windows = set(sorted(tr.windows)[-_MAX_WINDOWS:])
            if cloud is not None and (self.config.space_merge or self.config.contradiction_check):
                points, labels = cloud["newest"]
                mine = points[np.isin(labels, kids)]
                if len(mine):
                    self._add_space(tr, mine, np.full(len(mine), stamp, dtype=np.int64))

    def _add_space(self, tr: _Track, points: np.ndarray, stamps: np.ndarray) -> None:
        """Add ``points`` (K, 3) seen at window ``stamps`` (K,) to the track's space: one point per cube of
        ``space_merge_tol_m`` (the newest window's), at most _MAX_SPACE (the newest windows' first)."""
        if not len(points):
            return
        pts = np.concatenate([points, tr.space])
        st = np.concatenate([stamps, tr.space_stamp])
        order = np.argsort(-st, kind="stable")  # the newest first: np.unique keeps each cube's first point
        pts, st = pts[order], st[order]
        keys = np.floor(pts / self.config.space_merge_tol_m).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        first = np.sort(first)[:_MAX_SPACE]  # still newest first
        tr.space, tr.space_stamp = pts[first], st[first]

    def _same_space(self, a: _Track, b: _Track, trees: dict) -> bool:
        """The two tracks' children occupy the same space (ObjectModelConfig.space_merge_overlap)."""
        cfg = self.config
        for src, dst in ((a, b), (b, a)):
            if len(src.space) < cfg.space_merge_min_points or len(dst.space) < cfg.space_merge_min_points:
                continue
            tree = trees.get(dst.label)
            if tree is None:
                tree = trees[dst.label] = cKDTree(dst.space)
            d, _ = tree.query(src.space, distance_upper_bound=cfg.space_merge_tol_m)
            if float(np.mean(np.isfinite(d))) >= cfg.space_merge_overlap:
                return True
        return False

    def _merge_same_space(self, child_to_label: dict[int, int], stamps: np.ndarray) -> dict[int, int]:
        """Merge tracks of one type whose children occupy the same space and that no window held both of
        (ObjectModelConfig.space_merge); only pairs with a track this window held can have changed."""
        trees: dict[int, cKDTree] = {}
        changed = True
        while changed:
            changed = False
            held = set(child_to_label.values())
            for a in self._tracks:
                if a.label not in held:
                    continue
                for b in self._tracks:
                    if a is b or a.type != b.type or a.windows & b.windows or not self._same_space(a, b, trees):
                        continue
                    keep, gone = (a, b) if (a.consistent, -a.label) >= (b.consistent, -b.label) else (b, a)
                    self._absorb(keep, gone, stamps)
                    trees.pop(keep.label, None)
                    trees.pop(gone.label, None)
                    self._tracks = [t for t in self._tracks if t is not gone]
                    child_to_label = {c: (keep.label if v == gone.label else v) for c, v in child_to_label.items()}
                    for t in self._tracks:
                        if t.parent_label == gone.label:
                            t.parent_label = 0 if t is keep else keep.label
                    self.stats.merged_tracks += 1
                    self.stats.space_merged_tracks += 1
                    changed = True
                    break
                if changed:
                    break
        return child_to_label

    def _contradictions(self) -> set[int]:
        """Labels of the tracks that another track of one type contradicts: held as a different part of a
        common window, and each one's space lies >= ``contradiction_overlap`` within the other's
        (ObjectModelConfig.contradiction_check). Only tracks that could be confirmed are checked."""
        cfg = self.config
        out: set[int] = set()
        trees: dict[int, cKDTree] = {}
        reach = math.sqrt(3.0) * cfg.space_merge_tol_m  # one point per cube: the same surface within a diagonal

        def inside(src: _Track, dst: _Track) -> float:
            if dst.label not in trees:
                trees[dst.label] = cKDTree(dst.space)
            d, _ = trees[dst.label].query(src.space, distance_upper_bound=reach)
            return float(np.mean(np.isfinite(d)))

        for a in self._tracks:
            if a.independent < cfg.confirm_windows or len(a.space) < cfg.space_merge_min_points:
                continue
            for b in self._tracks:
                if a is b or a.type != b.type or len(b.space) < cfg.space_merge_min_points or not a.windows & b.windows:
                    continue
                if min(inside(a, b), inside(b, a)) >= cfg.contradiction_overlap:
                    out |= {a.label, b.label}
        return out

    def _absorb(self, keep: _Track, gone: _Track, stamps: np.ndarray) -> None:
        """Fold track ``gone`` into ``keep`` (no window held both): their window observations (robust re-fit),
        the state curves of ``gone``'s windows that stay consistent, counts, windows and space."""
        cfg = self.config
        sign = 1.0 if float(keep.axis @ gone.axis) >= 0 else -1.0
        by_window = {o.window: o for o in gone.obs}
        by_window.update({o.window: o for o in keep.obs})
        keep.obs = sorted(by_window.values(), key=lambda o: o.window)[-_MAX_OBS:]
        self._refit(keep)
        keep.type_probs_sum = keep.type_probs_sum + gone.type_probs_sum
        keep.confidence_sum += gone.confidence_sum
        keep.score_sum += gone.score_sum
        keep.support += gone.support
        keep.windows |= gone.windows
        self._add_space(keep, gone.space, gone.space_stamp)
        if gone.missed < keep.missed:  # the newer part summary and line placement
            keep.child, keep.last_origin = gone.child, gone.last_origin
            keep.fit_residual, keep.source = gone.fit_residual, gone.source
        seen_now = min(keep.missed, gone.missed) == 0
        keep.missed = min(keep.missed, gone.missed)
        if cfg.state_method == "fit":
            inliers = {o.window for o, ok in zip(keep.obs, keep.inliers, strict=True) if ok}
            held = {int(c.stamps[-1]) for c in keep.curves}
            extra = [
                StateCurve(c.stamps, sign * np.asarray(c.amounts), c.weight)
                for c in gone.curves
                if int(c.stamps[-1]) in inliers and int(c.stamps[-1]) not in held
            ]
            if extra:
                keep.curves = sorted([*keep.curves, *extra], key=lambda c: int(c.stamps[-1]))[-cfg.state_windows :]
                if keep.anchor is not None and not any(int(keep.anchor[0]) in c.stamps for c in keep.curves):
                    keep.anchor = None
                self._fit_states(keep, keep.curves[-1].stamps[-1:])
                held_now = seen_now and bool(np.isin(stamps, keep.stamps).all())
                keep.last_amounts = keep.states[np.searchsorted(keep.stamps, stamps)] if held_now else None
        elif keep.last_amounts is None and gone.last_amounts is not None:  # chain: gone's newest window goes on
            amounts = sign * gone.last_amounts
            keep.last_amounts = self._store_states(keep, stamps, amounts - amounts[0] + keep.bridge(int(stamps[0])))

    def _tracks_same(self, a: _Track, b: _Track) -> bool:
        cfg = self.config
        angle = math.degrees(math.acos(min(1.0, abs(float(a.axis @ b.axis)))))
        if angle > cfg.max_axis_angle_deg:
            return False
        line = _line_distance(a.origin, a.axis, b.origin, b.axis)
        if a.type == JointType.REVOLUTE and line > cfg.max_line_distance_m:
            return False
        if self._pair_d2(a, b) > _chi2(cfg.consistency_prob, 2):
            return False
        if not _overlap_along(a.child, b.child, a.axis, a.type):
            return False
        common, ia, ib = np.intersect1d(a.stamps, b.stamps, return_indices=True)
        if len(common) < 3:
            return False
        sign = 1.0 if float(a.axis @ b.axis) >= 0 else -1.0
        return _same_motion(a.states[ia], sign * b.states[ib], cfg.same_motion_tol)

    def _pair_d2(self, a: _Track, b: _Track) -> float:
        """Mahalanobis distance of two tracks' axes or lines (the larger) with both fused covariances."""
        bx = b.axis if float(a.axis @ b.axis) >= 0 else -b.axis
        J = _basis_change(bx, a.axis)
        ca = np.linalg.inv(a.axis_info)
        cb = J @ np.linalg.inv(b.axis_info) @ J.T
        r = _log_tangent(a.axis, bx)
        floor = np.eye(2) * 2 * math.radians(self.config.consistency_min_axis_std_deg) ** 2
        d2 = float(r @ np.linalg.solve(ca + cb + floor, r))
        if a.type == JointType.REVOLUTE:
            P = np.stack(tangent_basis(a.axis))
            y = P @ (_on_plane(b.origin, bx, a.origin, a.axis) - a.origin)
            S = P @ (a.origin_cov + b.origin_cov) @ P.T + np.eye(2) * 2 * self.config.consistency_min_origin_std_m**2
            d2 = max(d2, float(y @ np.linalg.solve(S, y)))
        return d2

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
        tr.obs = [self._observation(j, child, stamps, 1.0)]
        tr.curves = [StateCurve(stamps.copy(), amounts.copy())]
        self._refit(tr)
        self._set_reference(tr, j, stamps)
        return tr

    def _set_reference(self, tr: _Track, j: JointEstimate, stamps: np.ndarray) -> None:
        """The track's reference cloud for the registration: its child's points in the window's first frame
        (given the whole window: the track's first stamp when the track starts) or else its newest frame."""
        cloud = getattr(self, "_cloud", None)
        if cloud is None or not self.config.state_registration or self.config.state_method != "fit":
            return
        (points, labels), stamp = (
            (cloud["first"], int(stamps[0])) if cloud["first"] else (cloud["newest"], int(stamps[-1]))
        )
        mine = points[labels == int(j.child)]
        if len(mine) >= self.config.registration.min_points:
            step = max(1, len(mine) // self.config.registration.max_points)
            tr.ref_points, tr.ref_stamp = mine[::step].copy(), stamp

    def _register(self, tr: _Track, j: JointEstimate | None, stamps: np.ndarray) -> bool:
        """Measure the track's state at the newest stamp against its reference cloud; True when accepted
        (``j``: the window's joint matched to the track, None for a track not seen in this window)."""
        cloud = getattr(self, "_cloud", None)
        if tr.type == JointType.PRISMATIC and not self.config.registration_prismatic:
            return False
        if tr.ref_points is None:
            if j is not None:
                self._set_reference(tr, j, stamps)
            return False
        if cloud is None or tr.ref_stamp >= int(stamps[-1]) or tr.ref_stamp not in tr.stamps:
            return False
        prior = tr.state_at(int(stamps[-1])) - tr.state_at(tr.ref_stamp)
        reg = register_state(
            tr.ref_points, cloud["newest"][0], tr.type == JointType.REVOLUTE, tr.axis, tr.origin, prior,
            self.config.registration,
        )  # fmt: skip
        if not reg.accepted:
            return False
        # relative to a stamp the kept curves hold: the reference, or the fixed anchor once older curves went
        base = tr.ref_stamp if tr.anchor is None else int(tr.anchor[0])
        state = reg.state + tr.state_at(tr.ref_stamp) - tr.state_at(base)
        curve = StateCurve(np.array([base, int(stamps[-1])]), np.array([0.0, state]), self.config.registration_weight)
        tr.registrations = [c for c in tr.registrations if c.stamps[-1] != curve.stamps[-1]][-(_MAX_OBS - 1) :]
        tr.registrations.append(curve)
        return True

    def _observation(self, j: JointEstimate, child: PartEstimate | None, stamps: np.ndarray, w: float) -> _Obs:
        a = unit(j.axis)
        return _Obs(
            window=int(stamps[-1]),
            first=int(stamps[0]),
            axis=a,
            axis_cov=_axis_cov(j, self.config),
            origin=np.asarray(j.origin, dtype=np.float64).copy(),
            origin_cov=_origin_cov(j, a, self.config),
            weight=float(w),
            significant=_significant(j, child, self.config),
            confidence=_conf(j),
        )

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
            new = self._observation(j, child, stamps, w)
            tr.obs = [o for o in tr.obs if o.window != new.window][-(_MAX_OBS - 1) :] + [new]
            self._refit(tr)
        tr.last_origin = np.asarray(j.origin, dtype=np.float64)
        # State continuity.
        offset_var = tr.last_variance if np.isin(stamps, tr.stamps).any() else tr.state_variance
        states = self._continue_states(tr, stamps, amounts)
        if cfg.state_method == "fit" and cfg.state_registration and self._register(tr, j, stamps):
            states = self._fit_states(tr, stamps)
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

    def _continue_states(self, tr: _Track, stamps: np.ndarray, amounts: np.ndarray) -> np.ndarray:
        """Fold a window's state curve (relative to its first frame, the track's sign) into the track's state
        history (``state_method``); returns the states on the window's stamps."""
        cfg = self.config
        if cfg.state_method == "chain":
            common, i_hist, i_new = np.intersect1d(tr.stamps, stamps, return_indices=True)
            offset = float(np.median(tr.states[i_hist] - amounts[i_new])) if len(common) else tr.bridge(int(stamps[0]))
            return self._store_states(tr, stamps, amounts + offset)
        tr.curves = [c for c in tr.curves if int(c.stamps[-1]) != int(stamps[-1])] + [StateCurve(stamps, amounts)]
        if len(tr.curves) > cfg.state_windows:  # the states before the kept windows are fixed from now on
            tr.curves = tr.curves[-cfg.state_windows :]
            first = min(int(c.stamps[0]) for c in tr.curves)
            tr.anchor = (first, tr.state_at(first))
        return self._fit_states(tr, stamps)

    def _fit_states(self, tr: _Track, stamps: np.ndarray) -> np.ndarray:
        """Fit the track's kept curves and registrations (joint_state); returns the states on ``stamps``."""
        held = np.unique(np.concatenate([c.stamps for c in tr.curves]))
        tr.registrations = [c for c in tr.registrations if int(c.stamps[0]) in held]  # based on a kept stamp
        fused = fuse_state_curves([*tr.curves, *tr.registrations], tr.anchor)
        return self._store_states(tr, fused.stamps, fused.states)[np.searchsorted(fused.stamps, stamps)]

    @staticmethod
    def _store_states(tr: _Track, stamps: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Replace the track's states on ``stamps`` by ``states`` (the newest _MAX_HISTORY kept); returns ``states``."""
        keep = ~np.isin(tr.stamps, stamps)
        all_stamps = np.concatenate([tr.stamps[keep], stamps])
        all_states = np.concatenate([tr.states[keep], states])
        order = np.argsort(all_stamps, kind="stable")[-_MAX_HISTORY:]
        tr.stamps, tr.states = all_stamps[order], all_states[order]
        return states

    def _refit(self, tr: _Track) -> None:
        """Fuse the track's window observations (information form, axis on the sphere, line position in the
        plane perpendicular to the axis), dropping the observation least consistent with the fit (largest
        leave-one-out chi-square distance beyond ``consistency_prob``; ties: the less confident one) and
        re-fitting until the rest agree. Sets the geometry, the inlier mask and the consistent-window count.
        Vectorised over the observations (NumPy)."""
        X = _ObsArrays(tr.obs)
        active = np.ones(len(tr.obs), bool)
        while True:
            axis, info, origin, origin_cov = self._fuse_arrays(X, active, tr)
            if active.sum() <= 1:
                break
            d2 = np.where(active, self._d2_arrays(X, axis, info, origin, origin_cov, tr.type), -1.0)
            worst = int(np.lexsort((-X.conf, d2))[-1])  # the largest distance; ties: the less confident
            if d2[worst] <= 1.0:
                break
            active[worst] = False
        tr.axis, tr.axis_info, tr.origin, tr.origin_cov = axis, info, origin, origin_cov
        tr.inliers = active
        support = active & X.sig
        tr.consistent = int(np.count_nonzero(support))
        tr.independent = independent_support(X.first[support], X.last[support], self.config.independent_overlap)

    def _fuse_arrays(self, X: _ObsArrays, m: np.ndarray, tr: _Track):
        """Information-weighted fusion of the observations ``m`` (at least one): (axis, axis_info, origin,
        origin_cov)."""
        cfg = self.config
        idx = np.flatnonzero(m)
        best = int(idx[np.lexsort((X.conf[idx], X.W[idx]))[-1]])
        a = tr.axis.copy() if len(idx) > 1 else X.B[best].copy()
        if float(a @ X.B[best]) < 0:
            a = -a
        B, W = X.B[idx], X.W[idx]
        for _ in range(6):  # Gauss-Newton on the sphere: a few steps from a close start are exact enough
            info_n = self._axis_info_n(X, idx, a)
            x = np.linalg.solve(info_n.sum(0), np.einsum("nij,nj->i", info_n, _log_batch(a, B)))
            a = _exp_tangent(a, x)
            if float(np.linalg.norm(x)) < 1e-10:
                break
        if float(a @ tr.axis) < 0:  # the sign of the track's axis stays (its states' sign depends on it)
            a = -a
        info = self._axis_info_n(X, idx, a).sum(0)
        # line position: each window's line where it crosses the plane through the reference point
        # perpendicular to the fused axis (the along-axis coordinates differ by construction)
        ref = X.O[best]
        P = np.stack(tangent_basis(a))  # (2, 3)
        S = _spd_batch(np.einsum("ij,njk,lk->nil", P, X.OC[idx], P) / W[:, None, None], cfg.min_origin_std_m**2 * 1e-2)
        I_n = np.linalg.inv(S)
        y = (_on_plane_batch(X.O[idx], B, ref, a) - ref) @ P.T
        S_f = np.linalg.inv(I_n.sum(0))
        origin = ref + P.T @ (S_f @ np.einsum("nij,nj->i", I_n, y))
        return a, info, origin, P.T @ S_f @ P

    def _axis_info_n(self, X: _ObsArrays, idx: np.ndarray, a: np.ndarray) -> np.ndarray:
        """(n, 2, 2) information of each observation's axis in tangent_basis(a), times its weight."""
        Ta = np.stack(tangent_basis(a), axis=1)  # (3, 2)
        J = np.einsum("kj,nkl->njl", Ta, X.F[idx])  # the observation's tangent basis into a's (same plane)
        C = np.einsum("nij,njk,nlk->nil", J, X.C[idx], J)
        floor = math.radians(self.config.min_axis_std_deg) ** 2 * 1e-2
        return X.W[idx, None, None] * np.linalg.inv(_spd_batch(C, floor))

    def _d2_arrays(self, X: _ObsArrays, axis, info, origin, origin_cov, jtype: JointType) -> np.ndarray:
        """(n,) leave-one-out chi-square distance of every observation from the fused joint, in units of the
        2-dof gate: the larger of the axis's and the line position's (prismatic: the axis only) Mahalanobis
        distance divided by the chi-square quantile of ``consistency_prob``. The residual's covariance is the
        observation's (as fused, i.e. divided by its weight) minus the fused one (> 1: inconsistent)."""
        cfg = self.config
        idx = np.arange(len(X.W))
        r = _log_batch(axis, X.B)
        S_obs = _spd_batch(
            np.linalg.inv(self._axis_info_n(X, idx, axis)), math.radians(cfg.consistency_min_axis_std_deg) ** 2
        )
        S = _spd_batch(S_obs - np.linalg.inv(info), math.radians(cfg.min_axis_std_deg) ** 2 * 1e-2)
        d2 = np.einsum("ni,ni->n", r, np.linalg.solve(S, r[..., None])[..., 0])
        if jtype == JointType.REVOLUTE:
            P = np.stack(tangent_basis(axis))
            y = (_on_plane_batch(X.O, X.B, origin, axis) - origin) @ P.T
            S_obs = _spd_batch(
                np.einsum("ij,njk,lk->nil", P, X.OC / X.W[:, None, None], P), cfg.consistency_min_origin_std_m**2
            )
            S = _spd_batch(S_obs - P @ origin_cov @ P.T, cfg.min_origin_std_m**2 * 1e-2)
            d2 = np.maximum(d2, np.einsum("ni,ni->n", y, np.linalg.solve(S, y[..., None])[..., 0]))
        return d2 / _chi2(cfg.consistency_prob, 2)

    # -- output --------------------------------------------------------------------------------------
    def _model(self, seconds: float) -> ArticulationEstimate:
        latest = self._latest
        assert latest is not None
        stamps = np.asarray(latest.stamps_ns, dtype=np.int64).reshape(-1)
        timings = dict(latest.timings)
        timings["object_model"] = seconds
        if not self._tracks:
            return replace(latest, timings=timings)
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
                    confirmed=self._confirmed(tr),
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
