"""Depth hypotheses: parts found by how the window's surfaces change, not by their image flow (issue 11.1, 11.4).

A door seen nearly edge-on moves its points by less than the optical flow's error (docs/BENCHMARKS.md "The
demo's left door through the node's stages": 72-82 deg incidence, 5-7 mm flow error for 1.5-4.5 mm motion
per step), so no flow-based stage separates it from the base. Its **depth** changes strongly: a small turn
about a hinge moves the surface along its normal, and at grazing incidence the depth seen through a fixed
pixel changes by that displacement / cos(incidence). This stage finds such regions from the points alone and
hands them on as candidate parts; their joints come from the long-baseline registration of their points
(robust ICP frame 0 -> t, :mod:`sim2art_core.refine.long_baseline`) in :func:`sim2art_core.estimator.
apply_depth_hypotheses`, and the significance gates there decide.

**Static prediction.** The window's points are in a fixed frame with the camera's motion removed, so the
base's points stay where they are: a point x of frame a is *explained* at frame b when it lies on frame b's
surface, i.e. within ``tol`` of the tangent plane of one of its ``plane_neighbours`` nearest frame-b points
(each plane a k-NN PCA of frame b; the nearest within ``max_plane_m``). ``tol`` is max(``min_tol_m``,
``tol_sigma`` x the window's robust residual scale: the lower quartile of all tests' residuals / 0.3186, the
Gaussian sigma of static points even when a large part moves), so depth noise sets its own threshold.

**Occlusion is not motion.** When x is not explained, frame b's camera ray through x decides (the points of
frame b within ``ray_radius`` x their median angular spacing of that ray, at most the 8 nearest, in camera b's
normalised image plane): if any of them lies in front of x by more than ``tol`` x is *occluded* at b (a door
swung in front of it, or x is the back wall a door uncovered - a disocclusion seen from the other frame) and
the test says nothing; if there are none the ray leaves the object (outside the selection) and it says nothing
either; only when all of them lie behind x by more than ``tol`` has the surface x was on *vanished* from
its place (a ray that meets frame b's surface near x's depth but off x's plane decides nothing). Every
ordered pair of frames (a, b) at least ``min_gap`` apart is tested, so a part moving towards the camera
(its old points occluded by its new ones) is seen from the other side (its new points float in front
of where the surface was).

**Regions.** A *seed* point vanished in at least ``min_vanished_frames`` frames and in at least
``min_vanished_fraction`` of the frames that decided (vanished or explained). Seeds and *growable* points
(vanished at least as often as explained; a door's points at the frame it is furthest from the camera are
only ever occluded) are linked within ``link_m`` (all frames together, scipy cKDTree + csgraph); a
component with at least ``min_seed_points`` seeds over ``min_region_frames`` frames is a region. Points at
depth edges and in depth noise are explained in most frames (a static neighbour plane holds them), so they
neither seed nor grow a region.

**Parts** (:func:`depth_parts`): each region is registered by robust ICP (:func:`register_region`, no image
flow) and its joint fitted to the poses; a region the reported part holding most of it explains
(:func:`follows`: that part's own registration carries the region's points onto the later surfaces) is a piece of
it, not a new part.

Nothing here knows a category or the network; vectorised NumPy/SciPy (one 3-D and one 2-D k-d tree per
frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from sim2art_core.geometry import invert_transform
from sim2art_core.types import JointType

#: Neighbours of a frame-b point for its tangent plane (k-NN PCA).
_NORMAL_NEIGHBOURS = 8
#: Frame b's points near a camera ray: at most this many nearest (within the ray radius) decide.
_RAY_NEIGHBOURS = 8
#: A region is seen in a frame with at least this many of its points (the registered fraction counts those).
_MIN_SEEN_POINTS = 3
#: Neighbours linked per point when the regions are cut into components (its k nearest within link_m).
_LINK_NEIGHBOURS = 12
#: The lower quartile of |r| is 0.3186 sigma for Gaussian r: the scale from the quartile is robust to a moving
#: part on up to ~70 % of the tests (a median would follow a large moving part).
_Q25_TO_SIGMA = 0.3186


@dataclass(frozen=True)
class DepthHypothesisConfig:
    """Knobs of :func:`depth_regions` and :func:`depth_parts` (units m unless stated).

    ``link_m`` and ``min_host_coverage`` were chosen on the val split; the other values were set while building
    the stage on the synthetic scenes of its tests and the demo's windows (docs/BENCHMARKS.md "Depth hypotheses"),
    not tuned on any split.
    """

    min_gap: int = 2
    """Frames a and b are compared when at least this many frames apart (neighbouring frames move too little)."""
    plane_neighbours: int = 3
    """A point is explained at frame b when it is within ``tol`` of the tangent plane of one of its this many
    nearest frame-b points (one of them shares its surface at corners and edges)."""
    max_plane_m: float = 0.05
    """... of those within this distance (farther points are another surface or none)."""
    min_tol_m: float = 0.006
    """Floor of the explained / in-front tolerance ``tol``."""
    tol_sigma: float = 4.0
    """``tol`` is at least this many times the window's robust residual scale (depth noise)."""
    ray_radius: float = 1.5
    """Frame b's points near x's camera ray: within this many times their median nearest-neighbour angular
    spacing (camera b's normalised image plane)."""
    min_vanished_frames: int = 3
    """A seed vanished in at least this many frames ..."""
    min_vanished_fraction: float = 0.6
    """... and in at least this fraction of the frames that decided (vanished or explained)."""
    link_m: float = 0.06
    """Seeds and growable points closer than this (any frames) are one region. Chosen on the val split
    (docs/BENCHMARKS.md "Depth hypotheses"): at 0.03 a moving part falls apart into pieces, each too small to
    register well (16 duplicates of reported parts accepted on the 42 val optical-flow items, against 4)."""
    min_seed_points: int = 12
    """A region needs this many seeds (all frames) ..."""
    min_region_frames: int = 3
    """... and points in this many frames."""
    max_regions: int = 4
    """At most this many regions (most seeds first)."""
    min_motion_m: float = 0.01
    """A region becomes a part when its registered joint moves it by at least this much relative to the root
    (the estimator's ``min_motion_m``)."""
    icp_points: int = 64
    """A region is registered with at most this many of its points (of its best-seen frame)."""
    icp_iterations: int = 6
    """ICP rounds per frame (re-match + one Gauss-Newton step each)."""
    icp_gate_start_m: float = 0.05
    """Match distance gate of the first ICP round (shrinks to max(1 cm, 2 x the sources' spacing))."""
    icp_min_inlier_fraction: float = 0.25
    """A frame's registration holds when this fraction of the sources matched within the final gate (low: a part
    turning away from the camera hides many of its best-seen frame's points; the residual test is the strict
    one)."""
    min_host_share: float = 0.5
    """A region of which the reported parts hold at least this fraction is tested against its *host* (the one
    holding most of it; the network may split a part over two slots): when the host has fewer other
    depth-moving points (in other regions) than this fraction of the region's, the region is the host's own
    motion (already reported); else it is a piece of the host when it moves as those points (:func:`follows`),
    and a new part (one the network put in the host's slot) when not. A region mostly of the root is a new
    part."""
    min_host_coverage: float = 0.5
    """A region that holds at least this fraction of a reported part's points is that part (the network gave it
    only some of the part's points; the rest are in the region); 1: off. Chosen on the val split: at 0.5 one
    duplicate of a reported door fewer and every new part kept; at 0.3 also a new door lost."""
    min_registered_fraction: float = 0.6
    """A region becomes a part only when its registration held in this fraction of the frames it is seen in
    (a part seen edge-on is not seen in every frame)."""

    def __post_init__(self) -> None:
        for name in ("max_plane_m", "min_tol_m", "ray_radius", "link_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DepthHypothesisConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.min_gap < 1 or self.plane_neighbours < 1 or self.min_vanished_frames < 1:
            raise ValueError("DepthHypothesisConfig: min_gap, plane_neighbours, min_vanished_frames must be >= 1")
        if not 0.0 < self.min_vanished_fraction <= 1.0 or self.tol_sigma < 0:
            raise ValueError("DepthHypothesisConfig: min_vanished_fraction in (0, 1], tol_sigma >= 0")
        if self.min_seed_points < 3 or self.min_region_frames < 1 or self.max_regions < 0:
            raise ValueError("DepthHypothesisConfig: min_seed_points >= 3, min_region_frames >= 1, max_regions >= 0")
        if self.icp_points < 3 or self.icp_iterations < 1 or not self.icp_gate_start_m > 0:
            raise ValueError("DepthHypothesisConfig: icp_points >= 3, icp_iterations >= 1, icp_gate_start_m > 0")
        for name in ("icp_min_inlier_fraction", "min_host_share", "min_host_coverage", "min_registered_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"DepthHypothesisConfig.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class DepthEvidence:
    """Per point of the window, what the other frames' depth says about it staying with the base.

    Attributes:
        vanished: (T, N) int, frames where the surface the point was on is gone from its place.
        explained: (T, N) int, frames where the point lies on that frame's surface.
        occluded: (T, N) int, frames where something lies in front of it (no evidence).
        tol_m: m, the explained / in-front tolerance used.
    """

    vanished: np.ndarray
    explained: np.ndarray
    occluded: np.ndarray
    tol_m: float


@dataclass(frozen=True)
class DepthRegions:
    """Result of :func:`depth_regions`.

    Attributes:
        masks: per region (most seeds first), (T, N) bool.
        seeds: (T, N) bool, the seed points (all regions and the rejected components).
        evidence: the :class:`DepthEvidence` they come from.
    """

    masks: tuple[np.ndarray, ...]
    seeds: np.ndarray
    evidence: DepthEvidence


def depth_evidence(
    points: np.ndarray, valid: np.ndarray, world_from_cam: np.ndarray, cfg: DepthHypothesisConfig | None = None
) -> DepthEvidence:
    """Test every valid point of every frame a against every frame b with |a - b| >= ``min_gap`` (module doc).

    Args:
        points: (T, N, 3) m in the window's fixed frame (invalid entries may hold NaN).
        valid: (T, N) bool.
        world_from_cam: (T, 4, 4) each frame's camera pose in the fixed frame (optical frame: z forward).

    Returns:
        :class:`DepthEvidence`; all counts 0 for a window with fewer than ``min_gap + 1`` frames.
    """
    cfg = cfg or DepthHypothesisConfig()
    points = np.asarray(points, dtype=np.float64)
    T, N = valid.shape
    if points.shape != (T, N, 3) or np.shape(world_from_cam) != (T, 4, 4):
        raise ValueError(
            f"depth_evidence: points {points.shape}, world_from_cam {np.shape(world_from_cam)}, valid {(T, N)}"
        )
    ok = np.asarray(valid, dtype=bool) & np.isfinite(points).all(-1)
    zeros = np.zeros((T, N), dtype=np.int64)
    if T <= cfg.min_gap or ok.sum(1).min() < _NORMAL_NEIGHBOURS:
        return DepthEvidence(zeros, zeros.copy(), zeros.copy(), cfg.min_tol_m)
    frames = []  # per frame b: 3-D tree, normals, points, camera-b image tree, depths, ray radius
    for b in range(T):
        X = points[b][ok[b]]
        tree = cKDTree(X)
        _, nb = tree.query(X, k=min(_NORMAL_NEIGHBOURS, len(X)))
        nbp = X[nb] - X[nb].mean(1, keepdims=True)
        normals = np.linalg.eigh(np.einsum("mki,mkj->mij", nbp, nbp))[1][..., 0]
        cam = invert_transform(np.asarray(world_from_cam[b], dtype=np.float64))
        Xc = X @ cam[:3, :3].T + cam[:3, 3]
        front = Xc[:, 2] > 1e-6
        uv = Xc[front, :2] / Xc[front, 2:3]
        img = cKDTree(uv) if len(uv) > 1 else None
        spacing = float(np.median(img.query(uv, k=2)[0][:, 1])) if img is not None else 0.0
        frames.append((tree, normals, X, cam, img, Xc[front, 2], spacing))
    # residuals of every (a, b) test: 3-D point-to-plane first (explained), then the ray (occluded / vanished)
    res_all, ab_all = [], []
    for b in range(T):
        tree, normals, X, _, _, _, _ = frames[b]
        src = [a for a in range(T) if abs(a - b) >= cfg.min_gap]
        rows = np.concatenate([np.flatnonzero(ok[a]) + a * N for a in src])
        Q = points.reshape(-1, 3)[rows]
        k = min(cfg.plane_neighbours, len(X))
        d, j = tree.query(Q, k=k, distance_upper_bound=cfg.max_plane_m)
        d, j = d.reshape(len(Q), k), j.reshape(len(Q), k)
        hit = np.isfinite(d)
        jj = np.minimum(j, len(X) - 1)
        plane = np.abs(np.einsum("mki,mki->mk", Q[:, None] - X[jj], normals[jj]))
        res = np.where(hit, plane, np.inf).min(1)
        res_all.append(res)
        ab_all.append((b, rows))
    finite = np.concatenate([r[np.isfinite(r)] for r in res_all])
    scale = float(np.quantile(finite, 0.25)) / _Q25_TO_SIGMA if len(finite) else 0.0
    tol = max(cfg.min_tol_m, cfg.tol_sigma * scale)
    vanished, explained, occluded = (np.zeros(T * N, dtype=np.int64) for _ in range(3))
    for res, (b, rows) in zip(res_all, ab_all, strict=True):
        _, _, _, cam, img, depth, spacing = frames[b]
        is_expl = res <= tol
        np.add.at(explained, rows[is_expl], 1)
        rest = rows[~is_expl]
        if img is None or len(rest) == 0:
            continue
        Qc = points.reshape(-1, 3)[rest] @ cam[:3, :3].T + cam[:3, 3]
        z = Qc[:, 2]
        inview = z > 1e-6
        uv = Qc[:, :2] / np.where(inview, z, 1.0)[:, None]
        k = min(_RAY_NEIGHBOURS, len(depth))
        d, j = img.query(np.where(inview[:, None], uv, 1e9), k=k, distance_upper_bound=cfg.ray_radius * spacing)
        d, j = d.reshape(len(rest), k), j.reshape(len(rest), k)
        near_depth = np.where(np.isfinite(d), depth[np.minimum(j, len(depth) - 1)], np.inf)
        nearest = near_depth.min(1)
        has = inview & np.isfinite(nearest)
        in_front = has & (nearest < z - tol)
        gone = has & (nearest > z + tol)  # every point on the ray lies behind: the surface left
        np.add.at(occluded, rest[in_front], 1)
        np.add.at(vanished, rest[gone], 1)
    return DepthEvidence(vanished.reshape(T, N), explained.reshape(T, N), occluded.reshape(T, N), float(tol))


def depth_regions(
    points: np.ndarray,
    valid: np.ndarray,
    world_from_cam: np.ndarray,
    cfg: DepthHypothesisConfig | None = None,
    candidates: np.ndarray | None = None,
) -> DepthRegions:
    """Regions of the window whose surfaces left their place under the static prediction (module doc).

    Args:
        points, valid, world_from_cam: as :func:`depth_evidence`.
        candidates: optional (T, N) bool, the points a region may contain (e.g. the base's: a part
            already reported is not a new hypothesis); None: every valid point.
    """
    cfg = cfg or DepthHypothesisConfig()
    ev = depth_evidence(points, valid, world_from_cam, cfg)
    T, N = np.shape(valid)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(np.asarray(points)).all(-1)
    if candidates is not None:
        ok &= np.asarray(candidates, dtype=bool)
    decided = ev.vanished + ev.explained
    seeds = ok & (ev.vanished >= cfg.min_vanished_frames)
    seeds &= ev.vanished >= cfg.min_vanished_fraction * np.maximum(decided, 1)
    grow = ok & (ev.vanished >= ev.explained)
    member = seeds | grow
    if seeds.sum() < cfg.min_seed_points or cfg.max_regions == 0:
        return DepthRegions((), seeds, ev)
    ti, ni = np.nonzero(member)
    X = np.asarray(points, dtype=np.float64)[ti, ni]
    d, nb = cKDTree(X).query(X, k=min(_LINK_NEIGHBOURS + 1, len(X)), distance_upper_bound=cfg.link_m)
    src = np.repeat(np.arange(len(X)), nb.shape[1]).reshape(nb.shape)
    keep = np.isfinite(d) & (nb != src)
    graph = coo_matrix((np.ones(int(keep.sum())), (src[keep], nb[keep])), shape=(len(X), len(X)))
    _, comp = connected_components(graph, directed=False)
    is_seed = seeds[ti, ni]
    seed_count = np.bincount(comp, weights=is_seed.astype(np.float64))
    masks = []
    for c in np.argsort(-seed_count, kind="stable"):
        if seed_count[c] < cfg.min_seed_points or len(masks) >= cfg.max_regions:
            break
        m = comp == c
        if len(np.unique(ti[m])) < cfg.min_region_frames or len(np.unique(ti[m & is_seed])) < cfg.min_region_frames:
            continue
        mask = np.zeros((T, N), dtype=bool)
        mask[ti[m], ni[m]] = True
        masks.append(mask)
    return DepthRegions(tuple(masks), seeds, ev)


@dataclass(frozen=True)
class DepthParts:
    """Result of :func:`depth_parts`.

    Attributes:
        masks: per accepted region, (T, N) bool (any label: a piece of the door the network put in another
            part's slot comes with it).
        joints: per accepted region, its joint from :func:`register_region` (child 1, parent 0, source
            "refined"; the caller relabels it).
        observed: per accepted region, (largest displacement relative to the root m, 0.0).
        regions: the :class:`DepthRegions` tested (diagnostics).
        reasons: per tested region, "" (accepted) or why not: "unregistered", "static",
            "registered_fraction", "motion", "reported" (it is its host's own motion), "follows" (it moves as
            its host's other depth-moving points).
    """

    masks: tuple[np.ndarray, ...]
    joints: tuple
    observed: tuple[tuple[float, float], ...]
    regions: DepthRegions
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RegionFit:
    """A region's registration (:func:`register_region`).

    Attributes:
        joint: its joint (child 1, parent 0, source "refined").
        registered_fraction: of the frames it is seen in (>= 3 points), those whose registration held.
        motion_m: m, the largest displacement of its sources under the joint.
        frame: f, its best-seen frame (the sources' frame).
        poses: (T, 4, 4) its registered motion from frame f to every frame (identity at f).
        held: (T,) bool, the registration of that frame held.
        sources: (M, 3) m, its registered points of frame f.
        seen: (T,) bool, the frames it is seen in.
    """

    joint: Any
    registered_fraction: float
    motion_m: float
    frame: int
    poses: np.ndarray
    held: np.ndarray
    sources: np.ndarray
    seen: np.ndarray


def register_region(window, mask: np.ndarray, cfg: DepthHypothesisConfig | None = None, tree=None) -> RegionFit | None:
    """A region's joint from the registration of its points (None: fewer than 8 points in every frame).

    The region's points of its best-seen frame f (at most ``icp_points``, evenly spread) are registered by
    robust ICP (:func:`sim2art_core.refine.icp.robust_icp`: point-to-plane + point-to-point, Cauchy weights,
    a shrinking distance gate) against every valid point of every other frame, outwards from f, each frame's
    registration starting from its neighbour's (no image flow is used). A registration holds when at least
    ``icp_min_inlier_fraction`` of the sources are matched within the final gate with an RMS point-to-plane
    residual below max(1 cm, half the sources' spacing). The poses (the base is static in the window's fixed
    frame, so they are relative to it) go to the refinement's joint models (static / revolute / prismatic by BIC
    on the registrations' informations, :func:`sim2art_core.refine.joint_models.fit_joint_models_batch` with
    ``poses=True``; frame f is their reference, the amounts are returned relative to frame 0). ``motion_m``:
    the largest displacement of the sources under the chosen model. ``tree``: the window's
    :class:`~sim2art_core.refine.icp.FrameTree` (built when None)."""
    from sim2art_core.estimate import JointEstimate
    from sim2art_core.refine.icp import FrameTree, robust_icp
    from sim2art_core.refine.joint_models import StepData, fit_joint_models_batch, type_probabilities

    cfg = cfg or DepthHypothesisConfig()
    points = np.asarray(window.points, dtype=np.float64)
    T, N = mask.shape
    valid = np.asarray(window.valid, dtype=bool) & np.isfinite(points).all(-1)
    mask = mask & valid
    counts = mask.sum(1)
    f = int(np.argmax(counts))
    if T < 2 or counts[f] < _NORMAL_NEIGHBOURS:
        return None
    idx = np.flatnonzero(mask[f])
    M = min(cfg.icp_points, len(idx))
    idx = idx[(np.arange(M) * len(idx)) // M]
    src = points[f, idx][None]
    tree = tree if tree is not None else FrameTree(points, valid)
    normals, nb = tree.normals(np.array([f]), src, k=_NORMAL_NEIGHBOURS)
    d1 = nb[0, :, 1]
    spacing = float(np.median(d1[np.isfinite(d1)])) if np.isfinite(d1).any() else 0.0
    gate_end = max(0.01, 2.0 * spacing)
    gate_start = max(cfg.icp_gate_start_m, gate_end)
    weights = np.ones((1, M))
    X = np.tile(np.eye(4), (T, 1, 1))  # frame f -> t
    held = np.zeros(T, dtype=bool)
    held[f] = True
    info = np.zeros((T, 6, 6))
    for order in (range(f + 1, T), range(f - 1, -1, -1)):
        prev = np.eye(4)
        for t in order:
            r = robust_icp(tree, np.array([t]), src, normals, weights, prev[None], iterations=cfg.icp_iterations,
                           gate_start_m=gate_start, gate_end_m=gate_end)  # fmt: skip
            ok = r.inlier_fraction[0] >= cfg.icp_min_inlier_fraction and r.rms[0] <= max(0.01, 0.5 * spacing)
            X[t], held[t], info[t] = r.transforms[0], bool(ok), r.information[0]
            prev = X[t]
    # The joint models take poses from their first frame: frame f first, the others after it; the amounts
    # are put back in the window's order and taken relative to frame 0.
    perm = np.r_[f, [t for t in range(T) if t != f]].astype(np.int64)
    caps = np.diag(np.r_[np.full(3, 1.0 / np.pi**2), np.full(3, 1.0)])
    cov = np.linalg.inv(info + caps)[perm[1:]]
    c_f = src[0].mean(0)
    steps = StepData.from_covariances(
        X[perm[1:]][None], np.broadcast_to(c_f, (1, T - 1, 3)).copy(), cov[None, :, :3, :3], cov[None, :, 3:, 3:],
        held[perm[1:]][None], c_f[None],
    )  # fmt: skip
    fits = fit_joint_models_batch(steps, poses=True)[0]
    probs = type_probabilities(fits)
    best = JointType(int(np.argmax(probs)))
    fit = fits[best]
    amounts = np.empty(T)
    amounts[perm] = fit.amounts
    amounts -= amounts[0]
    motions = fit.motions()  # from frame f, in perm order
    moved = np.einsum("tij,mj->tmi", motions[:, :3, :3], src[0]) + motions[:, None, :3, 3]
    motion = float(np.linalg.norm(moved - src[0][None], axis=-1).max())
    seen = mask.sum(1) >= _MIN_SEEN_POINTS
    fraction = float(held[seen].mean()) if seen.any() else 0.0
    joint = JointEstimate(
        child=1, parent=0, type=best, type_probs=np.asarray(probs, dtype=np.float64), axis=fit.axis,
        origin=fit.origin, amounts=amounts, confidence=float(np.clip(probs[best] * fraction, 0.0, 1.0)),
        source="refined", axis_cov=fit.axis_cov, origin_cov=fit.origin_cov, state_variance=float(fit.state_variance),
        fit_residual=float("nan"),
    )  # fmt: skip
    return RegionFit(joint, fraction, motion, f, X, held, src[0], seen)


def follows(window, fit: RegionFit, host: RegionFit, cfg: DepthHypothesisConfig | None = None, tree=None) -> float:
    """Fraction of the frames ``fit``'s region is seen in (other than its own frame) where ``host``'s registered
    motion carries its sources onto that frame's surfaces: an ICP evaluation without iterations
    (:func:`sim2art_core.refine.icp.robust_icp` with ``iterations=0``, the same inlier and residual tests as
    :func:`register_region`). 1: the region moves as the host (a piece of it); NaN: no frame to test."""
    from sim2art_core.refine.icp import FrameTree, robust_icp

    cfg = cfg or DepthHypothesisConfig()
    points = np.asarray(window.points, dtype=np.float64)
    valid = np.asarray(window.valid, dtype=bool) & np.isfinite(points).all(-1)
    tree = tree if tree is not None else FrameTree(points, valid)
    frames = np.flatnonzero(fit.seen & host.held & (np.arange(len(fit.seen)) != fit.frame))
    if len(frames) == 0 or not host.held[fit.frame]:
        return float("nan")
    # host's motion from the region's frame to t: poses[t] @ poses[f]^-1
    init = host.poses[frames] @ np.linalg.inv(host.poses[fit.frame])
    B, M = len(frames), len(fit.sources)
    src = np.broadcast_to(fit.sources, (B, M, 3)).copy()
    normals, nb = tree.normals(np.full(B, fit.frame), src, k=_NORMAL_NEIGHBOURS)
    d1 = nb[0, :, 1]
    spacing = float(np.median(d1[np.isfinite(d1)])) if np.isfinite(d1).any() else 0.0
    gate = max(0.01, 2.0 * spacing)
    r = robust_icp(tree, frames, src, normals, np.ones((B, M)), init, iterations=0, gate_start_m=gate, gate_end_m=gate)
    ok = (r.inlier_fraction >= cfg.icp_min_inlier_fraction) & (r.rms <= max(0.01, 0.5 * spacing))
    return float(ok.mean())


def depth_parts(window, labels: np.ndarray, cfg: DepthHypothesisConfig | None = None) -> DepthParts:
    """Depth regions of the window that move as a rigid part of their own, each with its joint from
    :func:`register_region`. A region's *host* is the reported part (label >= 1 of ``labels``; 0 the root)
    holding most of its points; when the reported parts hold ``min_host_share`` of them the region is the host's
    own motion ("reported": the host has no other depth-moving points) or a piece of it ("follows": it moves as
    the host's other depth-moving points, :func:`follows`). Every other region - mostly of the root, or a door
    the network put in another door's slot - is a new part when at least ``min_registered_fraction`` of its frames
    registered, the fit is revolute or prismatic (BIC) and it moves the region by at least ``min_motion_m``.
    Never raises for data: no region gives no part."""
    from sim2art_core.refine.icp import FrameTree

    cfg = cfg or DepthHypothesisConfig()
    labels = np.asarray(labels)
    valid = np.asarray(window.valid, dtype=bool)
    if labels.shape != valid.shape:
        raise ValueError(f"depth_parts: labels {labels.shape} do not match the window {valid.shape}")
    regions = depth_regions(window.points, valid, window.world_from_cam, cfg)
    masks, joints, observed, reasons = [], [], [], []
    points = np.asarray(window.points, dtype=np.float64)
    tree = FrameTree(points, valid & np.isfinite(points).all(-1)) if regions.masks else None
    fits = [register_region(window, mask, cfg, tree) for mask in regions.masks]
    size = np.bincount(np.maximum(labels[valid], 0).astype(np.int64))
    anywhere = np.zeros_like(valid)
    for mask in regions.masks:
        anywhere |= mask
    for i, (mask, fit) in enumerate(zip(regions.masks, fits, strict=True)):
        reason = (
            "unregistered" if fit is None
            else "static" if fit.joint.type == JointType.STATIC
            else "registered_fraction" if fit.registered_fraction < cfg.min_registered_fraction
            else "motion" if fit.motion_m < cfg.min_motion_m
            else ""
        )  # fmt: skip
        lab = labels[mask]
        host = int(np.bincount(lab[lab >= 1]).argmax()) if (lab >= 1).any() else 0
        inside = np.bincount(np.maximum(lab, 0).astype(np.int64), minlength=len(size))[1:] / np.maximum(size[1:], 1)
        if not reason and cfg.min_host_coverage < 1.0 and len(inside) and inside.max() >= cfg.min_host_coverage:
            reason = "reported"  # a reported part lies mostly inside it: the network under-segmented that part
        if not reason and host > 0 and (lab >= 1).mean() >= cfg.min_host_share:
            # the host's other depth-moving points: none to speak of -> the region is the host's own motion
            other = valid & (labels == host) & anywhere & ~mask
            if other.sum() < cfg.min_host_share * (lab == host).sum():
                reason = "reported"
            else:
                host_fit = register_region(window, other, cfg, tree)
                if host_fit is not None and follows(window, fit, host_fit, cfg, tree) >= cfg.min_registered_fraction:
                    reason = "follows"
        reasons.append(reason)
        if reason:
            continue
        masks.append(regions.masks[i])
        joints.append(fit.joint)
        observed.append((fit.motion_m, 0.0))
    return DepthParts(tuple(masks), tuple(joints), tuple(observed), regions, tuple(reasons))
