"""Configuration, counters and confirmation evidence of the fused object model.

Used by :mod:`sim2art_core.tracking.object_model` (the model) and :mod:`sim2art_core.tracking.track` (its tracks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from sim2art_core.tracking.joint_state import RegistrationConfig


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


#: What holds a track back from confirmation, in the order the rules are checked (:class:`ConfirmationEvidence`).
UNCONFIRMED_REASONS = (
    "too few windows", "inconsistent", "not significant", "shared frames", "type probability", "contradiction",
)  # fmt: skip


@dataclass(frozen=True)
class ConfirmationEvidence:
    """Why a track of the fused model is (not) confirmed (:meth:`ObjectModel.confirmation_evidence`).

    Counts are over the window observations the track keeps (the newest 16).

    Attributes:
        label: the track's label (the ``child`` of its joint in the fused model).
        windows: its window observations.
        consistent: of them, those the robust re-fit keeps (``consistency_prob``).
        moving: of those, the ones with significant motion (``min_motion_m``, ``min_motion_snr``).
        independent: of those, the most with (nearly) disjoint frame spans (``independent_overlap``).
        type_prob: the mean probability of its type over its windows (``min_type_prob``).
        contradicted: another track contradicts it (``contradiction_check``).
        confirmed: presented as a fact.
        reason: "confirmed", or the first rule it fails, one of :data:`UNCONFIRMED_REASONS`: "too few windows"
            (fewer than ``confirm_windows`` windows), "inconsistent" (fewer consistent ones), "not
            significant" (fewer moving ones), "shared frames" (fewer independent ones), "type probability",
            "contradiction".
    """

    label: int
    windows: int
    consistent: int
    moving: int
    independent: int
    type_prob: float
    contradicted: bool
    confirmed: bool
    reason: str
