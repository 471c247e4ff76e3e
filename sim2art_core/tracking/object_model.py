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
from dataclasses import replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.tracking.config import ConfirmationEvidence, ObjectModelConfig, ObjectModelStats
from sim2art_core.tracking.evidence import independent_support
from sim2art_core.tracking.joint_state import (
    StateCurve,
    fuse_state_curves,
    register_state,
)
from sim2art_core.tracking.track import (
    _MAX_HISTORY,
    _MAX_OBS,
    _MAX_SPACE,
    _MAX_WINDOWS,
    _NOT_MATCHED,
    MOVING,
    UNTRACKED_LABEL_BASE,
    _axis_cov,
    _basis_change,
    _chi2,
    _conf,
    _exp_tangent,
    _finite,
    _line_distance,
    _log_batch,
    _log_tangent,
    _Obs,
    _ObsArrays,
    _on_plane,
    _on_plane_batch,
    _origin_cov,
    _overlap_along,
    _same_motion,
    _significant,
    _spd_batch,
    _Track,
    _type_prob,
    _type_probs,
    _variance,
)
from sim2art_core.types import EstimateStatus, JointType


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

    def confirmation_evidence(self) -> dict[int, ConfirmationEvidence]:
        """Per track label, the evidence the confirmation rules weigh and the first rule the track fails
        (:class:`ConfirmationEvidence`; for telling why a joint is not confirmed, e.g. ``bag_refuse
        --why-unconfirmed``). Read-only."""
        cfg = self.config
        out = {}
        for tr in self._tracks:
            consistent = int(np.count_nonzero(tr.inliers))
            type_prob = _type_prob(tr)
            contradicted = tr.label in self._contradicted
            checks = (
                (len(tr.obs) < cfg.confirm_windows, "too few windows"),
                (consistent < cfg.confirm_windows, "inconsistent"),
                (tr.consistent < cfg.confirm_windows, "not significant"),
                (tr.independent < cfg.confirm_windows, "shared frames"),
                (type_prob < cfg.min_type_prob, "type probability"),
                (contradicted, "contradiction"),
            )
            reason = next((r for failed, r in checks if failed), "confirmed")
            out[tr.label] = ConfirmationEvidence(
                label=tr.label, windows=len(tr.obs), consistent=consistent, moving=tr.consistent,
                independent=tr.independent, type_prob=type_prob, contradicted=contradicted,
                confirmed=self._confirmed(tr), reason=reason,
            )  # fmt: skip
        return out

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
                    child_to_label = self._drop_merged(keep, gone, child_to_label)
                    changed = True
                    break
                if changed:
                    break
        return child_to_label

    def _drop_merged(self, keep: _Track, gone: _Track, child_to_label: dict[int, int]) -> dict[int, int]:
        """After ``gone`` was folded into ``keep``: remove it, point its window parts and child tracks at ``keep``."""
        self._tracks = [t for t in self._tracks if t is not gone]
        for t in self._tracks:
            if t.parent_label == gone.label:
                t.parent_label = 0 if t is keep else keep.label
        self.stats.merged_tracks += 1
        return {c: (keep.label if v == gone.label else v) for c, v in child_to_label.items()}

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
                    child_to_label = self._drop_merged(keep, gone, child_to_label)
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
