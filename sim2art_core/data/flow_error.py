"""A noise model of the run-time optical-flow path's scene-flow error, for training (issue 12.2).

The node computes scene flow from OpenCV DIS optical flow and depth (sim2art_core.preprocess.flow) and drops
the points its masks reject (forward-backward check, depth-edge mask, no depth at the target). The error of
the kept points against the true scene flow, and the share of dropped points, were measured at 640x480 on
validation-seed renders of all 17 categories with the node's current flow masks
(sim2art_core.benchmarks.bench_flow_error; docs/DATA.md "Run-time-like flow"). The model is a mixture:

* **inliers**: isotropic Gaussian error, std per axis
  ``sigma = inlier_per_m * z + inlier_rel * |f| + inlier_edge * exp(-d / edge_scale_px)`` times a
  log-normal factor (z: depth in m, |f|: true motion in m per frame, d: distance to the nearest depth edge
  in px of a 640x480 image): sub-pixel optical-flow noise grows with depth, with the motion (DIS
  under-estimates large displacements) and near outlines;
* **gross errors** (|e| > 10 mm) with probability
  ``sigmoid(b0 + b_edge * exp(-d / edge_scale_px) + b_depth * log z + b_motion * m + b_motion2 * m^2)``
  (m = log1p(|f| in mm)): the flow lands across an outline, occlusion or depth jump and the depth looked up
  at t + 1 belongs to another surface. Magnitude ``10 mm * exp(E)`` with E exponential of mean
  ``gross_log_mean`` (measured: median 15, p75 24, p90 40 mm); direction mostly along the viewing ray (a
  fraction ``gross_along_ray`` of the squared error), the rest perpendicular;
* **drops**: the probability that the masks give a point no flow (:meth:`FlowErrorModel.drop_probability`),
  a step function of d plus depth and motion terms. The error terms above are those of the kept points.

:func:`apply_flow_error` adds a sampled error to a data-engine sample's true flow
(``RealismConfig.flow_error``: a scale; 1 = as measured); :func:`flow_drop_indices` drops points with the
measured probability and refills the frame from the kept ones (``RealismConfig.flow_drop``), as the run-time
window and ``sources.optical_flow_sample`` do. The defaults are
fitted to textured surfaces (what the data engine renders for training); on plain lacquer fronts the path
fails differently (on fast-moving parts most kept points carry an error about as large as the motion itself)
and this model family does not fit it (docs/DATA.md).
Pure NumPy; no library models DIS errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

GROSS_M = 0.010
REFERENCE_WIDTH = 640  # edge distances are in pixels of a 640-px-wide image
DEPTH_CAP_M = 2.5  # the gross-error logit's depth term saturates here (few measured points beyond)
DROP_FIELDS = ("drop_b0", "drop_edge_bins", "drop_depth", "drop_motion")
DROP_EDGE_BINS_PX = (1.0, 2.0, 4.0, 8.0, 16.0)  # bin limits of the drop logit's edge term (px at 640x480)


def _edge_bin(edge_px) -> np.ndarray:
    """Index 0..5 of each edge distance in DROP_EDGE_BINS_PX's bins (5: beyond the last limit)."""
    return np.digitize(np.asarray(edge_px, np.float64), DROP_EDGE_BINS_PX)


@dataclass(frozen=True)
class FlowErrorModel:
    """Parameters of the mixture (module doc).

    Defaults: the refit of 2026-12-03 (issue 12) to the run-time flow path with the current masks
    (forward-backward check 1 px, depth-edge mask 2 %; docs/EVALUATION.md section 2.4), textured surfaces,
    640x480: 32 sequences with a window of 34 (the 17 ``broad`` categories x 2 validation objects, object
    seeds 1e6 + 0, 1, sequence seeds 7, 8, preprocessing seed 0, T = 8, N = 1024; fit deterministic), 117 848
    part points, 82 631 kept, from

        python -m sim2art_core.benchmarks.bench_flow_error --categories broad --per-category 2 --frames 8 \
            --points 1024 --surfaces textured,lacquer --former --npz records.npz
        python -m sim2art_core.benchmarks.bench_flow_error --from-npz records.npz   # the refit alone

    (docs/DATA.md "Run-time-like flow"). The first fit, before the masks changed, is FORMER_MODEL."""

    inlier_per_m: float = 0.000342
    """Inlier std per axis per metre of depth (m / m)."""
    inlier_rel: float = 0.00617
    """Inlier std per axis as a fraction of the true motion."""
    inlier_edge: float = 0.00123
    """Inlier std per axis added at a depth edge (m), decaying as exp(-edge distance / edge_scale_px)."""
    inlier_spread: float = 0.818
    """Std of the log-normal factor on each point's inlier std (heavier tails than one Gaussian)."""
    b0: float = -5.59
    """Gross-error logit: intercept."""
    b_edge: float = 4.28
    """Gross-error logit: weight of exp(-edge distance / edge_scale_px)."""
    edge_scale_px: float = 8.0
    """Gross-error logit: decay of the edge term (px at 640x480)."""
    b_depth: float = 1.37
    """Gross-error logit: weight of log(depth in m)."""
    b_motion: float = 0.117
    """Gross-error logit: weight of log1p(true motion in mm)."""
    b_motion2: float = 0.0725
    """Gross-error logit: weight of log1p(true motion in mm) squared (the measured gross share is U-shaped in
    the motion: higher below 1 mm and above 10 mm per frame than between)."""
    gross_log_mean: float = 0.602
    """Mean of log(|gross error| / 10 mm) (exponentially distributed)."""
    gross_along_ray: float = 0.707
    """Share of a gross error's squared length along the viewing ray."""
    drop_b0: float = -2.69
    """Drop logit (the node's masks give the point no flow): intercept."""
    drop_edge_bins: tuple[float, ...] = (5.34, 2.12, 1.63, 1.53, 1.25)
    """Drop logit: added for an edge distance in DROP_EDGE_BINS_PX's bins 0-1, 1-2, 2-4, 4-8, 8-16 px (0 beyond):
    a step function, as measured (the depth-edge mask drops at the outline; the forward-backward check up to
    ~16 px from it about as often at 2 as at 16 px, then far less; no exp(-d / s) fits both)."""
    drop_depth: float = -0.159
    """Drop logit: weight of log(depth in m)."""
    drop_motion: float = 0.463
    """Drop logit: weight of log1p(true motion in mm)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def gross_probability(self, edge_px, motion_mm, depth_m) -> np.ndarray:
        z = np.clip(np.asarray(depth_m), 0.05, DEPTH_CAP_M)
        m = np.log1p(np.asarray(motion_mm))
        logit = (self.b0 + self.b_edge * np.exp(-np.asarray(edge_px) / self.edge_scale_px)
                 + self.b_depth * np.log(z) + self.b_motion * m + self.b_motion2 * m**2)  # fmt: skip
        return 1.0 / (1.0 + np.exp(-logit))

    def drop_probability(self, edge_px, motion_mm, depth_m) -> np.ndarray:
        """Probability that the node's flow masks (forward-backward check, depth-edge mask, no depth at the
        target) give a point no flow. The errors of :meth:`sample` are those of the points that keep one."""
        z = np.clip(np.asarray(depth_m, np.float64), 0.05, DEPTH_CAP_M)
        motion = np.log1p(np.asarray(motion_mm, np.float64))
        edge = np.append(np.asarray(self.drop_edge_bins, np.float64), 0.0)[_edge_bin(edge_px)]
        logit = self.drop_b0 + edge + self.drop_depth * np.log(z) + self.drop_motion * motion
        return 1.0 / (1.0 + np.exp(-logit))

    def sample(self, motion: np.ndarray, rays: np.ndarray, edge_px: np.ndarray, depth_m: np.ndarray,
               rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:  # fmt: skip
        """(N, 3) error vectors (m) for points with true motion ``motion`` (N, 3) m, unit viewing rays
        ``rays`` (N, 3) (same frame), edge distances (N,) px at 640x480 and depths (N,) m. ``scale``
        multiplies the inlier std and the gross-error odds' effect (0: no error)."""
        n = len(depth_m)
        mag_f = np.linalg.norm(motion, axis=1)
        near = np.exp(-edge_px / self.edge_scale_px)
        sigma = scale * (self.inlier_per_m * depth_m + self.inlier_rel * mag_f + self.inlier_edge * near)
        sigma = sigma * np.exp(self.inlier_spread * rng.standard_normal(n))
        err = rng.standard_normal((n, 3)) * sigma[:, None]
        # inliers stay below the gross threshold (gross errors are the other component's)
        norm = np.linalg.norm(err, axis=1, keepdims=True)
        err *= np.minimum(1.0, 0.999 * GROSS_M / np.maximum(norm, 1e-12))
        p = np.clip(scale, 0.0, None) * self.gross_probability(edge_px, 1000.0 * mag_f, depth_m)
        gross = rng.random(n) < np.minimum(p, 1.0)
        k = int(gross.sum())
        if k:
            size = GROSS_M * np.exp(rng.exponential(self.gross_log_mean, k))
            ray = rays[gross]
            perp = rng.standard_normal((k, 3))
            perp -= np.sum(perp * ray, axis=1, keepdims=True) * ray
            perp /= np.maximum(np.linalg.norm(perp, axis=1, keepdims=True), 1e-12)
            sign = np.where(rng.random(k) < 0.5, -1.0, 1.0)[:, None]
            a = math.sqrt(self.gross_along_ray)
            err[gross] = size[:, None] * (a * sign * ray + math.sqrt(1 - self.gross_along_ray) * perp)
        return err

    def sample_records(self, edge_px, motion_mm, depth_m, rng: np.random.Generator) -> np.ndarray:
        """Errors for measured covariates alone (motion along x, rays along z: only magnitudes are used)."""
        n = len(depth_m)
        motion = np.zeros((n, 3))
        motion[:, 0] = np.asarray(motion_mm) / 1000.0
        rays = np.tile([0.0, 0.0, 1.0], (n, 1))
        return self.sample(motion, rays, np.asarray(edge_px), np.asarray(depth_m), rng)


def _logistic(y, X, w0) -> np.ndarray:
    """Maximum-likelihood logistic regression weights of ``y`` (M,) on ``X`` (M, K) (scipy L-BFGS-B on the
    hand-written likelihood and gradient: no library here fits it without new dependencies)."""
    from scipy.optimize import minimize

    def nll(w):
        z = X @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    def grad(w):
        return X.T @ (1.0 / (1.0 + np.exp(-(X @ w))) - y)

    return minimize(nll, np.asarray(w0, np.float64), jac=grad, method="L-BFGS-B").x


def _fit_gross(y, edge_px, motion_mm, depth_m) -> tuple[float, np.ndarray]:
    """Gross-error logit on [1, exp(-d / s), log z, log1p |f|, log1p(|f|)^2] for the best of a few edge
    scales s: (s, w)."""
    best = None
    for scale in (1.5, 2.0, 3.0, 4.0, 6.0, 8.0):
        X = np.stack([np.ones_like(y), np.exp(-edge_px / scale), np.log(np.clip(depth_m, 0.05, DEPTH_CAP_M)),
                      np.log1p(motion_mm), np.log1p(motion_mm) ** 2], axis=1)  # fmt: skip
        w = _logistic(y, X, [-4.0, 2.0, 0.3, 0.3, 0.0])
        z = X @ w
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        if best is None or nll < best[0]:
            best = (nll, scale, w)
    return best[1], best[2]


def _fit_drop(y, edge_px, motion_mm, depth_m) -> np.ndarray:
    """Drop logit on [1, edge-bin indicators (5), log z, log1p |f|]."""
    onehot = _edge_bin(edge_px)[:, None] == np.arange(len(DROP_EDGE_BINS_PX))[None, :]
    X = np.column_stack([np.ones_like(y), onehot, np.log(np.clip(depth_m, 0.05, DEPTH_CAP_M)), np.log1p(motion_mm)])
    return _logistic(y, X, [-2.0] + [1.0] * len(DROP_EDGE_BINS_PX) + [0.0, 0.3])


#: The first fit (issue 12.2, textured, 17 sequences, 55 312 points), measured with the run-time flow masks of
#: that time (forward-backward check 2 px, no depth-edge mask), which the flow-quality merge (issue 11.4,
#: docs/EVALUATION.md section 2.4) changed. It never drops a point. Kept to compare (training runs started
#: before the refit, runs/broad_v1, use it); not the default.
FORMER_MODEL = FlowErrorModel(
    inlier_per_m=0.000273, inlier_rel=0.00904, inlier_edge=0.00121, inlier_spread=0.867, b0=-5.11, b_edge=3.39,
    edge_scale_px=8.0, b_depth=1.29, b_motion=0.430, b_motion2=0.0, gross_log_mean=0.783, gross_along_ray=0.884,
    drop_b0=-30.0, drop_edge_bins=(0.0, 0.0, 0.0, 0.0, 0.0), drop_depth=0.0, drop_motion=0.0,
)  # fmt: skip


def fit_flow_error_model(err, along_ray, edge_px, motion_mm, depth_m, dropped=None,
                         all_covariates=None) -> FlowErrorModel:  # fmt: skip
    """Fit the mixture to measured per-point errors (m), their along-ray components (m) and covariates of
    the points the node kept. With ``dropped`` (M,) bool and ``all_covariates`` (edge px, motion mm, depth m
    of all M measured points, kept and dropped) the drop probability is fitted too; else it stays 0."""
    from scipy.optimize import nnls

    err, edge_px = np.asarray(err, np.float64), np.asarray(edge_px, np.float64)
    motion_mm, depth_m = np.asarray(motion_mm, np.float64), np.asarray(depth_m, np.float64)
    mag = np.linalg.norm(err, axis=1)
    gross = mag > GROSS_M
    if len(mag) < 2000 or gross.sum() < 20:
        raise ValueError(f"fit_flow_error_model: too few points ({len(mag)}, {int(gross.sum())} gross errors); "
                         "measure more sequences")  # fmt: skip
    # gross probability: logistic regression (maximum likelihood) for a few edge scales
    scale, w = _fit_gross(gross.astype(np.float64), edge_px, motion_mm, depth_m)
    # inliers: sigma = a z + b |f| + c exp(-d / scale) on binned medians (median |e| of a 3-D isotropic
    # Gaussian = 1.5382 sigma), then the log-normal spread that gives the inliers' measured p90 / median
    near = np.exp(-edge_px / scale)
    keys = [
        np.digitize(v[~gross], np.quantile(v[~gross], np.linspace(0, 1, 5)[1:-1])) for v in (depth_m, motion_mm, near)
    ]
    rows, target = [], []
    cells = keys[0] * 16 + keys[1] * 4 + keys[2]
    inl = np.flatnonzero(~gross)
    for cell in np.unique(cells):
        sel = inl[cells == cell]
        if len(sel) >= 50:
            rows.append([np.median(depth_m[sel]), np.median(motion_mm[sel]) / 1000.0, np.median(near[sel])])
            target.append(np.median(mag[sel]) / 1.5382)
    (a, b, c), _ = nnls(np.array(rows), np.array(target))
    base = a * depth_m[~gross] + b * motion_mm[~gross] / 1000.0 + c * near[~gross]
    ratio = np.log(
        np.percentile(mag[~gross] / np.maximum(base, 1e-9), 90) / np.median(mag[~gross] / np.maximum(base, 1e-9))
    )
    # p90 / median of |N(0, I3)| is 1.62; a log-normal factor widens it: solve for its std numerically
    rng = np.random.default_rng(0)
    g = np.linalg.norm(rng.standard_normal((20000, 3)), axis=1)
    n = rng.standard_normal(20000)
    spreads = np.linspace(0.0, 1.5, 31)
    trunc = lambda x: np.minimum(x, 6.0)  # noqa: E731  (inliers are truncated; roughly 6 sigma here)
    got = [np.log(np.percentile(trunc(g * np.exp(t * n)), 90) / np.median(trunc(g * np.exp(t * n)))) for t in spreads]
    spread = float(np.interp(ratio, got, spreads))
    # the binned medians were read as 1.5382 sigma; with the spread the median of |e| is this many sigma
    widen = float(np.median(trunc(g * np.exp(spread * n)))) / 1.5382
    a, b, c = a / widen, b / widen, c / widen
    log_mean = float(np.mean(np.log(mag[gross] / GROSS_M))) if gross.any() else 0.78
    along = float(np.sum(np.asarray(along_ray)[gross] ** 2) / max(np.sum(mag[gross] ** 2), 1e-12))
    model = FlowErrorModel(float(a), float(b), float(c), spread, float(w[0]), float(w[1]), float(scale), float(w[2]),
                           float(w[3]), float(w[4]), log_mean, min(along, 1.0))  # fmt: skip
    model = replace(model, **{k: getattr(FORMER_MODEL, k) for k in DROP_FIELDS})  # no drop data: no drops
    if dropped is not None:
        d_edge, d_motion, d_depth = (np.asarray(v, np.float64) for v in all_covariates)
        d = _fit_drop(np.asarray(dropped, np.float64), d_edge, d_motion, d_depth)
        model = replace(model, drop_b0=float(d[0]), drop_edge_bins=tuple(float(x) for x in d[1:-2]),
                        drop_depth=float(d[-2]), drop_motion=float(d[-1]))  # fmt: skip
    # one calibration: scale the inlier std so that the simulated inliers' median |e| is the measured one
    sim = np.linalg.norm(model.sample_records(edge_px, motion_mm, depth_m, np.random.default_rng(1)), axis=1)
    k = float(np.median(mag[~gross]) / np.median(sim[sim <= GROSS_M]))
    return replace(model, inlier_per_m=model.inlier_per_m * k, inlier_rel=model.inlier_rel * k,
                   inlier_edge=model.inlier_edge * k)  # fmt: skip


def depth_edge_distance_px(depth: np.ndarray, jump: float = 0.03) -> np.ndarray:
    """(H, W) distance (px of a 640-px-wide image) to the nearest depth edge: a 3x3 depth jump > ``jump`` of
    the depth, invalid / background depth counting as 1 km (sim2art_core.benchmarks.bench_flow_error uses the same)."""
    d = np.where(np.isfinite(depth) & (depth > 0), depth, 1e3).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    lo = cv2.erode(d, kernel)
    edge = (cv2.dilate(d, kernel) - lo) > jump * lo
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    return dist * (REFERENCE_WIDTH / depth.shape[1])


def apply_flow_error(flow: np.ndarray, x_cam: np.ndarray, uv: np.ndarray, depth: np.ndarray, cam_rot: np.ndarray,
                     scale: float, rng: np.random.Generator, model: FlowErrorModel | None = None,
                     edge_px: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """``flow`` (N, 3) m (any frame F) plus a sampled run-time-like error.

    Args:
        x_cam: (N, 3) the points in their camera's optical frame (depth = z, ray = x / |x|).
        uv: (N, 2) int pixels of the points in ``depth`` (H, W) (the rendered true depth of the frame).
        cam_rot: (3, 3) rotation F <- camera (so the rays can be expressed in F).
        edge_px: (N,) the points' distances to the nearest depth edge (px at 640x480), if already computed
            (:func:`depth_edge_distance_px` at ``uv``).
    """
    model = model or FlowErrorModel()
    edge = depth_edge_distance_px(depth)[uv[:, 1], uv[:, 0]] if edge_px is None else edge_px
    rays = x_cam / np.maximum(np.linalg.norm(x_cam, axis=1, keepdims=True), 1e-12)
    e = model.sample(flow, rays @ cam_rot.T, edge, x_cam[:, 2], rng, scale)
    return (flow + e).astype(flow.dtype)


def flow_drop_indices(flow: np.ndarray, depth_m: np.ndarray, edge_px: np.ndarray, scale: float,
                      rng: np.random.Generator, model: FlowErrorModel | None = None,
                      min_kept: int = 16) -> np.ndarray:  # fmt: skip
    """(N,) int indices that drop points the way the node's flow masks do and refill the frame from the kept.

    Each point is dropped with ``scale`` times :meth:`FlowErrorModel.drop_probability` (capped at 1) and
    replaced by a kept point of the same frame drawn at random, so the frame keeps N points, as the run-time
    window (``sources.optical_flow_sample``) does. When fewer than ``min_kept`` points would be kept, nothing
    is dropped (the node would drop such a frame; a training sample keeps its true points instead).

    Args:
        flow: (N, 3) m true scene flow of the points (its norm is the motion term).
        depth_m: (N,) m depth of the points in their camera.
        edge_px: (N,) px distance to the nearest depth edge at 640x480 (:func:`depth_edge_distance_px`).
    """
    model = model or FlowErrorModel()
    n = len(depth_m)
    motion_mm = 1000.0 * np.linalg.norm(flow, axis=1)
    p = np.minimum(max(float(scale), 0.0) * model.drop_probability(edge_px, motion_mm, depth_m), 1.0)
    kept = np.flatnonzero(rng.random(n) >= p)
    if len(kept) < min(min_kept, n):
        return np.arange(n)
    idx = np.arange(n)
    dropped = np.setdiff1d(idx, kept, assume_unique=True)
    idx[dropped] = rng.choice(kept, size=len(dropped))
    return idx
