"""A noise model of the run-time optical-flow path's scene-flow error, for training (issue 12.2).

The node computes scene flow from OpenCV DIS optical flow and depth (sim2art_core.preprocess.flow). Its
error against the true scene flow was measured at 640x480 on validation-seed renders of all 17
categories (sim2art_core.benchmarks.bench_flow_error; docs/DATA.md "Run-time-like flow"). It is a mixture:

* **inliers**: isotropic Gaussian error, std per axis ``sigma = inlier_per_m * z + inlier_rel * |f|``
  (z: depth in m, |f|: true motion in m per frame): sub-pixel optical-flow noise grows with depth,
  and with the motion (DIS under-estimates large displacements);
* **gross errors** (|e| > 10 mm) with probability
  ``sigmoid(b0 + b_edge * exp(-d / edge_scale_px) + b_depth * z + b_motion * log1p(|f| in mm))``
  (d: distance to the nearest depth edge in px of a 640x480 image): the flow lands across an outline,
  occlusion or depth jump and the depth looked up at t + 1 belongs to another surface. Magnitude
  ``10 mm * exp(E)`` with E exponential of mean ``gross_log_mean`` (the measured magnitudes follow this
  closely: median 17, p75 29, p90 58 mm); direction mostly along the viewing ray (a fraction
  ``gross_along_ray`` of the squared error), the rest perpendicular.

:func:`apply_flow_error` adds a sampled error to a data-engine sample's true flow
(``RealismConfig.flow_error``: a scale; 1 = as measured). Pure NumPy; no library models DIS errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

GROSS_M = 0.010
REFERENCE_WIDTH = 640  # edge distances are in pixels of a 640-px-wide image
DEPTH_CAP_M = 2.5  # the gross-error logit's depth term saturates here (few measured points beyond)


@dataclass(frozen=True)
class FlowErrorModel:
    """Parameters of the mixture (module doc). Defaults: the fit of the measurement in docs/DATA.md
    ("Run-time-like flow": 17 sequences, 55 312 points, ``python -m sim2art_core.benchmarks.bench_flow_error``)."""

    inlier_per_m: float = 0.000273
    """Inlier std per axis per metre of depth (m / m)."""
    inlier_rel: float = 0.00904
    """Inlier std per axis as a fraction of the true motion."""
    inlier_edge: float = 0.00121
    """Inlier std per axis added at a depth edge (m), decaying as exp(-edge distance / edge_scale_px)."""
    inlier_spread: float = 0.867
    """Std of the log-normal factor on each point's inlier std (heavier tails than one Gaussian)."""
    b0: float = -5.11
    """Gross-error logit: intercept."""
    b_edge: float = 3.39
    """Gross-error logit: weight of exp(-edge distance / edge_scale_px)."""
    edge_scale_px: float = 8.0
    """Gross-error logit: decay of the edge term (px at 640x480)."""
    b_depth: float = 1.29
    """Gross-error logit: weight of log(depth in m)."""
    b_motion: float = 0.430
    """Gross-error logit: weight of log1p(true motion in mm)."""
    gross_log_mean: float = 0.783
    """Mean of log(|gross error| / 10 mm) (exponentially distributed)."""
    gross_along_ray: float = 0.884
    """Share of a gross error's squared length along the viewing ray."""

    def to_dict(self) -> dict:
        return asdict(self)

    def gross_probability(self, edge_px, motion_mm, depth_m) -> np.ndarray:
        z = np.clip(np.asarray(depth_m), 0.05, DEPTH_CAP_M)
        logit = (self.b0 + self.b_edge * np.exp(-np.asarray(edge_px) / self.edge_scale_px)
                 + self.b_depth * np.log(z) + self.b_motion * np.log1p(np.asarray(motion_mm)))  # fmt: skip
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


def fit_flow_error_model(err, along_ray, edge_px, motion_mm, depth_m) -> FlowErrorModel:
    """Fit the mixture to measured per-point errors (m), their along-ray components (m) and covariates."""
    from scipy.optimize import minimize, nnls

    err, edge_px = np.asarray(err, np.float64), np.asarray(edge_px, np.float64)
    motion_mm, depth_m = np.asarray(motion_mm, np.float64), np.asarray(depth_m, np.float64)
    mag = np.linalg.norm(err, axis=1)
    gross = mag > GROSS_M
    if len(mag) < 2000 or gross.sum() < 20:
        raise ValueError(f"fit_flow_error_model: too few points ({len(mag)}, {int(gross.sum())} gross errors); "
                         "measure more sequences")  # fmt: skip
    y = gross.astype(np.float64)
    # gross probability: logistic regression (maximum likelihood) for a few edge scales
    best = None
    for scale in (1.5, 2.0, 3.0, 4.0, 6.0, 8.0):
        X = np.stack([np.ones_like(y), np.exp(-edge_px / scale), np.log(np.clip(depth_m, 0.05, DEPTH_CAP_M)),
                      np.log1p(motion_mm)], axis=1)  # fmt: skip

        def nll(w, X=X):
            z = X @ w
            return float(np.sum(np.logaddexp(0.0, z) - y * z))

        res = minimize(nll, np.array([-4.0, 2.0, 0.3, 0.3]), method="L-BFGS-B")
        if best is None or res.fun < best[0]:
            best = (res.fun, scale, res.x)
    _, scale, w = best
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
                           float(w[3]), log_mean, min(along, 1.0))  # fmt: skip
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
                     scale: float, rng: np.random.Generator,
                     model: FlowErrorModel | None = None) -> np.ndarray:  # fmt: skip
    """``flow`` (N, 3) m (any frame F) plus a sampled run-time-like error.

    Args:
        x_cam: (N, 3) the points in their camera's optical frame (depth = z, ray = x / |x|).
        uv: (N, 2) int pixels of the points in ``depth`` (H, W) (the rendered true depth of the frame).
        cam_rot: (3, 3) rotation F <- camera (so the rays can be expressed in F).
    """
    model = model or FlowErrorModel()
    edge = depth_edge_distance_px(depth)[uv[:, 1], uv[:, 0]]
    rays = x_cam / np.maximum(np.linalg.norm(x_cam, axis=1, keepdims=True), 1e-12)
    e = model.sample(flow, rays @ cam_rot.T, edge, x_cam[:, 2], rng, scale)
    return (flow + e).astype(flow.dtype)
