"""FeatClust: the paper's clustering baseline (§4, supplementary Eq. 12-14).

1. Every valid point of every frame gets v = [xyz, image feature, flow] (Eq. 12); each group is
   scaled to unit total variance (times a group weight) so no unit dominates. Image features, when
   the window has them, are projected to 3 dims by PCA (the paper uses the network's 3-d projection
   of DINO features, which a training-free baseline does not have).
2. k-means (scipy.cluster.vq.kmeans2, k-means++ seeding, best of ``n_init`` restarts) over all points
   of the window gives the part labels.
3. Per cluster and frame pair, the rigid motion (p, p + flow) by Kabsch (Eq. 13-14; our flow is per
   consecutive pair, so motions are chained to frame 0), relative to the root cluster (the one with
   the least flow: in the window's fixed frame the base is static), and the joint (type from the
   motion, axis, pivot, amounts) from the closed-form models shared with sim2art_core.refine.

Choosing k: the paper does not say. Giving FeatClust the true number of parts is an advantage no
real method has, so by default k is chosen by a model-selection criterion that only uses the input:
the BIC of "k rigid bodies explain the flow", n ln(max(RSS / n, floor^2)) + 6 (T-1) k ln n, over
k in [k_min, k_max]. ``estimate(window, k=...)`` (or ``FeatClustConfig.k``) runs a fixed k, which the
evaluation uses for the separately reported oracle-k variant.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.vq import kmeans2

from sim2art_core.estimate import ArticulationEstimate, part_from_labels
from sim2art_core.refine import RefineConfig, refine_joints
from sim2art_core.refine.rigid import fit_pair_motions
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window


@dataclass(frozen=True)
class FeatClustConfig:
    """Knobs of :class:`FeatClust`.

    Attributes:
        k: fixed number of clusters; None = choose k in [k_min, k_max] by the motion BIC.
        k_min, k_max: range searched when ``k`` is None (k = 1: "nothing articulated").
        n_init: k-means restarts per k (the lowest distortion wins).
        iterations: k-means iterations per restart.
        xyz_weight, feature_weight, flow_weight: relative weight of each feature group (each group
            is first scaled to unit total variance).
        feature_dims: image features are PCA-projected to this many dimensions (paper: 3).
        flow_scale_floor_m: flow RMS below this is not amplified when scaling (noise stays noise).
        bic_noise_floor_m: per-coordinate residual floor of the motion BIC (a fit better than this
            does not count as better).
        max_kmeans_points: k-means runs on at most this many points (random subset); all points are
            then assigned to the nearest centroid.
        seed: random seed (k-means seeding, subsets): estimates are repeatable.
        num_frames, num_points: what the WindowEstimator protocol advertises (FeatClust takes any).
        refine: joint extraction; plain least squares (no IRLS) by default, as Eq. 14.
    """

    k: int | None = None
    k_min: int = 1
    k_max: int = 6
    n_init: int = 3
    iterations: int = 20
    xyz_weight: float = 1.0
    feature_weight: float = 1.0
    flow_weight: float = 1.0
    feature_dims: int = 3
    flow_scale_floor_m: float = 2e-3
    bic_noise_floor_m: float = 1e-3
    max_kmeans_points: int = 4096
    seed: int = 0
    num_frames: int = 16
    num_points: int = 1024
    refine: RefineConfig = field(default_factory=lambda: RefineConfig(irls_iterations=0, fusion="refined"))

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise ValueError(f"FeatClustConfig.k must be >= 1, got {self.k}")
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError(f"FeatClustConfig needs 1 <= k_min <= k_max, got {self.k_min}, {self.k_max}")
        if self.n_init < 1 or self.iterations < 1:
            raise ValueError("FeatClustConfig.n_init and iterations must be >= 1")


class FeatClust:
    """k-means over [xyz, feature, flow] + per-cluster Kabsch: a WindowEstimator."""

    def __init__(self, cfg: FeatClustConfig | None = None) -> None:
        self.cfg = cfg or FeatClustConfig()
        self.num_frames = self.cfg.num_frames
        self.num_points = self.cfg.num_points
        self.estimator_id = "featclust:" + (
            f"k={self.cfg.k}" if self.cfg.k else f"bic{self.cfg.k_min}-{self.cfg.k_max}"
        )

    def estimate(self, window: Window, k: int | None = None) -> ArticulationEstimate:
        """Segment and fit joints; never raises for bad data (FAILED estimate with the reason).

        Args:
            window: the input window.
            k: overrides the configured k for this call (oracle-k evaluation).
        """
        shape = tuple(window.valid.shape) if getattr(window, "valid", None) is not None else (0, 0)
        try:
            window.validate()
        except ValueError as e:
            return ArticulationEstimate.failed(f"featclust: bad window: {e}", window.frame_id, window.stamps_ns, shape)
        try:
            return self._estimate(window, k if k is not None else self.cfg.k)
        except (ValueError, np.linalg.LinAlgError) as e:
            return ArticulationEstimate.failed(f"featclust: {e}", window.frame_id, window.stamps_ns, shape)

    def _estimate(self, window: Window, k: int | None) -> ArticulationEstimate:
        t0 = time.perf_counter()
        valid = window.valid
        feats = point_features(window, self.cfg)
        candidates = [k] if k is not None else list(range(self.cfg.k_min, self.cfg.k_max + 1))
        rng = np.random.default_rng(self.cfg.seed)
        best: tuple[float, np.ndarray] | None = None
        for kk in candidates:
            labels_valid = cluster(feats, kk, self.cfg, rng)
            if k is not None:
                best = (0.0, labels_valid)
                break
            score = motion_bic(window, _unflatten(labels_valid, valid), self.cfg.bic_noise_floor_m)
            if best is None or score < best[0]:
                best = (score, labels_valid)
        assert best is not None
        labels = _unflatten(best[1], valid)
        labels = _root_first(window, labels)
        num_parts = int(labels.max()) + 1
        t1 = time.perf_counter()
        probs = np.zeros((*labels.shape, num_parts), dtype=np.float32)
        np.put_along_axis(probs, np.maximum(labels, 0)[..., None], 1.0, axis=2)
        probs[~valid] = 0.0
        res = refine_joints(window, probs, root=0, network_joints=(), cfg=self.cfg.refine)
        t2 = time.perf_counter()
        timings = {"cluster": t1 - t0, "joints": t2 - t1}
        stamps = np.asarray(window.stamps_ns, dtype=np.int64)
        if not res.articulation_observed:
            root_labels = np.where(valid, 0, -1).astype(np.int16)
            return ArticulationEstimate(
                status=EstimateStatus.NO_ARTICULATION,
                frame_id=window.frame_id,
                stamps_ns=stamps,
                labels=root_labels,
                parts=(part_from_labels(window.points, root_labels, 0),),
                message=f"featclust: no cluster moved above the noise level (largest {res.observed_motion:.4f} m)",
                observed_motion=res.observed_motion,
                estimator_id=self.estimator_id,
                timings=timings,
            )
        return ArticulationEstimate(
            status=EstimateStatus.OK,
            frame_id=window.frame_id,
            stamps_ns=stamps,
            labels=labels.astype(np.int16),
            parts=tuple(part_from_labels(window.points, labels, p) for p in range(num_parts)),
            joints=res.joints,
            observed_motion=res.observed_motion,
            estimator_id=self.estimator_id,
            timings=timings,
        )


def point_features(window: Window, cfg: FeatClustConfig) -> np.ndarray:
    """(V, D) Eq. 12 features of the V valid points: [xyz, PCA(image feature), flow], group-scaled."""
    valid = window.valid
    groups = [(window.points[valid].astype(np.float64), cfg.xyz_weight, 0.0)]
    if window.features is not None and cfg.feature_weight > 0:
        f = window.features[valid].astype(np.float64)
        f = f - f.mean(axis=0)
        dims = min(cfg.feature_dims, f.shape[1])
        sub = f[:: max(1, len(f) // 4096)]
        basis = np.linalg.svd(sub, full_matrices=False)[2][:dims].T
        groups.append((f @ basis, cfg.feature_weight, 0.0))
    groups.append((window.flow[valid].astype(np.float64), cfg.flow_weight, cfg.flow_scale_floor_m))
    cols = []
    for x, weight, floor in groups:
        x = x - x.mean(axis=0)
        scale = max(float(np.sqrt(np.mean(np.sum(x * x, axis=1)))), floor, 1e-12)
        cols.append(x * (weight / scale))
    return np.concatenate(cols, axis=1)


def cluster(feats: np.ndarray, k: int, cfg: FeatClustConfig, rng: np.random.Generator) -> np.ndarray:
    """(V,) k-means labels in [0, k') (empty clusters dropped), best of ``n_init`` restarts."""
    if k == 1 or len(feats) <= k:
        return np.zeros(len(feats), dtype=np.int64)
    sub = feats if len(feats) <= cfg.max_kmeans_points else feats[rng.choice(len(feats), cfg.max_kmeans_points, False)]
    best_c, best_sse = None, np.inf
    for _ in range(cfg.n_init):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "One of the clusters is empty": handled below
            centroids, lab = kmeans2(sub, k, iter=cfg.iterations, minit="++", rng=rng)
        sse = float(np.sum((sub - centroids[lab]) ** 2))
        if sse < best_sse:
            best_c, best_sse = centroids, sse
    d2 = np.sum((feats[:, None, :] - best_c[None, :, :]) ** 2, axis=2)
    labels = np.argmin(d2, axis=1)
    _, compact = np.unique(labels, return_inverse=True)
    return compact.astype(np.int64)


def motion_bic(window: Window, labels: np.ndarray, noise_floor_m: float) -> float:
    """BIC of "each cluster moves rigidly between consecutive frames" (lower is better).

    RSS = sum over clusters, frame pairs and points of |R p + t - (p + flow)|^2 (plain Kabsch);
    BIC = n ln(max(RSS / n, floor^2)) + 6 (T-1) k ln n with n = 3 x #points x pairs.
    """
    T = window.num_frames
    k = int(labels.max()) + 1
    pts = window.points[:-1].astype(np.float64)
    flow = window.flow[:-1].astype(np.float64)
    lab = labels[:-1]
    rss = 0.0
    for c in range(k):
        w = (lab == c).astype(np.float64)
        if not w.any():
            continue
        fit = fit_pair_motions(pts, flow, w, irls_iterations=0, min_support=3.0)
        R, t = fit.transforms[:, :3, :3], fit.transforms[:, :3, 3]
        res = np.einsum("kij,knj->kni", R, pts) + t[:, None, :] - (pts + flow)
        rss += float(np.sum(w * np.sum(res**2, axis=2)))
    n = 3.0 * float((lab >= 0).sum())
    return n * np.log(max(rss / n, noise_floor_m**2)) + 6.0 * (T - 1) * k * np.log(n)


def _unflatten(labels_valid: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(valid.shape, -1, dtype=np.int64)
    out[valid] = labels_valid
    return out


def _root_first(window: Window, labels: np.ndarray) -> np.ndarray:
    """Relabel so that 0 is the cluster with the least mean flow (the static base), then by size."""
    k = int(labels.max()) + 1
    speed = np.linalg.norm(window.flow, axis=2)
    stats = []
    for c in range(k):
        m = labels == c
        stats.append((float(speed[m].mean()) if m.any() else np.inf, -int(m.sum()), c))
    root = min(stats)[2]
    others = sorted((s for s in stats if s[2] != root), key=lambda s: s[1])
    mapping = np.full(k + 1, -1, dtype=np.int64)
    mapping[root] = 0
    for i, s in enumerate(others, start=1):
        mapping[s[2]] = i
    return mapping[labels]  # -1 maps to mapping[-1] == -1
