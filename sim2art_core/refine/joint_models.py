"""Joint models fitted to a part's frame-to-frame motion relative to its parent, and model selection.

Input (:class:`StepData`): for each frame pair t -> t+1, the part's rigid step relative to its parent
S_t, the part's centroid x_t at frame t, and the information (inverse covariance) of the step's
rotation vector and of the centroid's displacement u_t = S_t x_t - x_t. The information comes from
the pair fits: a step seen on few, noisy or nearly collinear points carries little information in the
directions it cannot pin, so it cannot drag the joint (see refine.py).

Three models, fitted in closed form / a few alternating weighted least-squares rounds:

* static:    S_t = I                                                  (0 parameters)
* prismatic: S_t = translation by dd_t along a                        (2 + K parameters)
* revolute:  S_t = rotation by dtheta_t about the line (c, a)         (4 + K parameters)

K is the number of informative steps. chi^2 = sum_t r_rot^T L_rot r_rot + r_u^T L_u r_u (r_rot: rotation
vector of R_model^T R_t; r_u: centroid displacement residual). Model selection in the spirit of ROS 1
articulation_models: score = chi^2 + ln(6 K) per structural parameter (BIC) + 2 per per-step amount
(AIC, see ``_bic``); type probabilities p ~ exp(-score / 2). Amounts are the
cumulative sums of the steps (frame 0 = 0), so step noise accumulates in the amounts only, never in
the axis.

Every fit works on a batch of B parts at once (arrays with a leading B axis; each part is an
independent problem): at these sizes NumPy's per-call overhead, not arithmetic, is the cost, so the
parts of a window share one call per operation (:func:`fit_joint_models_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from sim2art_core.geometry import tangent_basis, transform_points
from sim2art_core.refine.so3 import cross, rotations_about, rotvecs_from_matrices
from sim2art_core.types import JointType

#: Uninformative axis variance (rad^2) when a model saw no motion to define its axis.
UNINFORMATIVE_AXIS_VAR = (np.pi / 2) ** 2
#: A rotation direction observed this much worse than the best-observed one counts as unobserved.
UNOBSERVED_RATIO = 1e-2
#: Gaps of at most this many unfitted steps are bridged by interpolation; longer ones count as no motion.
MAX_GAP_BRIDGE = 2
#: Alternating least-squares rounds of the revolute / prismatic fits (exact data converges in one).
_ROUNDS = 1
_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class StepData:
    """A part's motion relative to its parent for K = T - 1 frame pairs (parent's frame).

    Shapes are those of one part; for :func:`fit_joint_models_batch` every field has a leading
    axis of B parts.

    Attributes:
        steps: (K, 4, 4) S_t, the part's motion from frame t to t+1 with the parent's undone.
        rotvecs: (K, 3) rad, rotation vectors of the steps.
        centroids: (K, 3) m, the part's centroid at frame t.
        rot_info: (K, 3, 3) rad^-2, information of the rotation vector (0 for unfitted steps).
        disp_info: (K, 3, 3) m^-2, information of the centroid displacement (0 for unfitted steps).
        fitted: (K,) bool, the step was measured.
        origin_ref: (3,) m, centroid at the first frame the part was seen (origins are the foot of
            the perpendicular from it).
    """

    steps: np.ndarray
    rotvecs: np.ndarray
    centroids: np.ndarray
    rot_info: np.ndarray
    disp_info: np.ndarray
    fitted: np.ndarray
    origin_ref: np.ndarray

    @classmethod
    def from_covariances(
        cls,
        steps: np.ndarray,
        centroids: np.ndarray,
        rot_cov: np.ndarray,
        disp_cov: np.ndarray,
        fitted: np.ndarray,
        origin_ref: np.ndarray,
    ) -> StepData:
        """Steps with their rotation / displacement covariances (..., K, 3, 3) in the parent's frame:
        the information is their inverse (slightly regularised, one inversion call for both), 0 for
        unfitted steps, whose motion becomes the identity."""
        info = np.linalg.inv(np.stack([rot_cov + np.eye(3) * 1e-12, disp_cov + np.eye(3) * 1e-18]))
        info[:, ~fitted] = 0.0
        steps = np.where(fitted[..., None, None], steps, np.eye(4))
        return cls(
            steps=steps,
            rotvecs=rotvecs_from_matrices(steps[..., :3, :3]),
            centroids=centroids,
            rot_info=info[0],
            disp_info=info[1],
            fitted=fitted,
            origin_ref=origin_ref,
        )

    @cached_property  # used by every model fit; the dataclass is frozen, so it cannot go stale
    def displacements(self) -> np.ndarray:
        """(..., K, 3) u_t = S_t x_t - x_t."""
        # each step applied to its own centroid
        return transform_points(self.steps, self.centroids[..., None, :])[..., 0, :] - self.centroids


@dataclass(frozen=True)
class ModelFit:
    """One joint model fitted to the steps.

    Attributes:
        type: the model.
        axis: (3,) unit axis (sign: largest |amount| positive); static: +z (meaningless).
        origin: (3,) m; revolute: foot of the perpendicular from ``origin_ref``; otherwise ``origin_ref``.
        amounts: (T,) rad | m, amounts[0] = 0; static: zeros.
        step_amounts: (K,) rad | m per step (unfitted steps: see ``_fill_steps``).
        chi2: weighted squared residual of the fitted steps.
        num_params: k of the BIC.
        bic: the BIC.
        axis_cov: (2, 2) rad^2 in the tangent basis of ``axis``.
        origin_cov: (3, 3) m^2.
        state_variance: variance of amounts[-1].
    """

    type: JointType
    axis: np.ndarray
    origin: np.ndarray
    amounts: np.ndarray
    step_amounts: np.ndarray
    chi2: float
    num_params: int
    bic: float
    axis_cov: np.ndarray
    origin_cov: np.ndarray
    state_variance: float

    def motions(self) -> np.ndarray:
        """(T, 4, 4) motion of the model from frame 0 to every frame."""
        return model_motions(self.type, self.axis, self.origin, self.amounts)


def model_motions(jtype: JointType, axis: np.ndarray, origin: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """(..., T, 4, 4) motions from frame 0 of a joint model: axis, origin (..., 3), amounts (..., T)."""
    out = np.zeros((*np.shape(amounts), 4, 4))
    out[..., [0, 1, 2, 3], [0, 1, 2, 3]] = 1.0
    if jtype == JointType.REVOLUTE:
        R = rotations_about(axis, amounts)
        out[..., :3, :3] = R
        o = np.asarray(origin, dtype=np.float64)[..., None, :]
        out[..., :3, 3] = o - (R @ o[..., None])[..., 0]
    elif jtype == JointType.PRISMATIC:
        out[..., :3, 3] = amounts[..., None] * np.asarray(axis)[..., None, :]
    return out


def _perp_basis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal bases (e1, e2 = a x e1), each (B, 3), of the planes perpendicular to the unit axes
    ``a`` (B, 3) (any one: used inside the fits; reported covariances use geometry.tangent_basis)."""
    use_x = np.abs(a[:, 0]) < 0.7
    e1 = -a * np.where(use_x, a[:, 0], a[:, 1])[:, None]  # r - (r . a) a, r = x or y
    e1[:, 0] += use_x
    e1[:, 1] += ~use_x
    e1 /= np.sqrt(np.sum(e1 * e1, axis=1, keepdims=True))
    return e1, cross(a, e1[:, None])[:, 0]


def _tangent_bases(axes: np.ndarray) -> np.ndarray:
    """(B, 3, 2) geometry.tangent_basis of each of the (B, 3) axes (the reported convention)."""
    return np.stack([np.stack(tangent_basis(a), axis=1) for a in axes])


def _well_conditioned(M: np.ndarray, max_cond: float = 1e12) -> np.ndarray:
    """(...,) cheap test that small symmetric PSD matrices (..., n, n) are invertible:
    det >= (trace / n)^n / max_cond, i.e. no eigenvalue is more than ~max_cond times below the mean
    (np.linalg.cond costs an SVD)."""
    n = M.shape[-1]
    tr = np.trace(M, axis1=-2, axis2=-1)
    return (tr > 0) & (np.linalg.det(M) >= (tr / n) ** n / max_cond)


def _quad(v: np.ndarray, info: np.ndarray) -> np.ndarray:
    """(..., K) v_t^T info_t v_t."""
    return _bilinear(v, info, v)


def _bilinear(v: np.ndarray, info: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(..., K) v_t^T info_t w_t."""
    return ((info @ w[..., None])[..., 0] * v).sum(axis=-1)


def _axis_quad(axis: np.ndarray, info: np.ndarray) -> np.ndarray:
    """(B, K) a^T info_t a for one axis a (B, 3) per part."""
    return _bilinear(axis[:, None], info, axis[:, None, :])


def _along(axis: np.ndarray, info: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(B, K) a^T info_t v_t for one axis a (B, 3) per part."""
    return _bilinear(axis[:, None], info, v)


def _num_obs(d: StepData) -> np.ndarray:
    return 6 * np.maximum(d.fitted.sum(axis=-1), 1)


def _bic(chi2: np.ndarray, k: np.ndarray, d: StepData) -> np.ndarray:
    """Complexity-penalised misfit: ln(6 K) per structural parameter (axis, pivot: BIC), 2 per
    per-step amount (AIC).

    The K per-step amounts are nuisance parameters whose number grows with the window; a BIC price
    of ln(6 K) each would hide every motion slower than ~2 sigma per frame however long it lasts.
    Under pure noise they lower chi^2 by ~1 each, so 2 each keeps false detections rare
    (chi^2 with 15 dof above 2 x 15 + 2 ln 90: ~0.1 %).
    """
    n_amounts = np.where(k > 0, d.fitted.sum(axis=-1), 0)
    return chi2 + (k - n_amounts) * np.log(np.maximum(_num_obs(d), 2)) + 2.0 * n_amounts


def _inflation(chi2: np.ndarray, k: np.ndarray, d: StepData) -> np.ndarray:
    """max(1, reduced chi^2): uncertainties grow when the model fits worse than the noise."""
    return np.maximum(1.0, chi2 / np.maximum(_num_obs(d) - k, 1))


def _fill_steps(values: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Amounts of unfitted steps, per row of (B, K).

    Before the first / after the last fitted step (the part not yet / no longer seen) and in gaps
    longer than MAX_GAP_BRIDGE steps (a long occlusion, during which the part may have gone anywhere
    and back): 0, no motion is invented. Shorter gaps: linear interpolation between the fitted steps
    on either side (constant velocity when they agree).
    """
    if fitted.all():
        return values.copy()
    K = values.shape[-1]
    k = np.arange(K)
    prev = np.maximum.accumulate(np.where(fitted, k, -1), axis=-1)  # last fitted step <= k (-1: none)
    nxt = np.minimum.accumulate(np.where(fitted, k, K)[..., ::-1], axis=-1)[..., ::-1]  # first >= k (K: none)
    bridged = ~fitted & (prev >= 0) & (nxt < K) & (nxt - prev - 1 <= MAX_GAP_BRIDGE)
    w = (k - prev) / np.maximum(nxt - prev, 1)
    v_prev = np.take_along_axis(values, np.clip(prev, 0, K - 1), axis=-1)
    v_next = np.take_along_axis(values, np.clip(nxt, 0, K - 1), axis=-1)
    return np.where(fitted, values, np.where(bridged, (1 - w) * v_prev + w * v_next, 0.0))


def _fill_poses(values: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Amounts of unfitted poses (pose data, see :func:`fit_pose_models_batch`), per row of (B, K).

    Pose k is the amount at frame k + 1 relative to frame 0 (amount 0 at frame 0, always known):
    linear interpolation between the nearest fitted poses on either side (frame 0 counts as fitted),
    the last fitted amount held after the last fitted pose. Gaps do not accumulate: each pose stands alone.
    """
    if fitted.all():
        return values.copy()
    K = values.shape[-1]
    frames = np.arange(K + 1)
    out = np.empty_like(values)
    for b in range(values.shape[0]):
        known = np.concatenate([[0], np.flatnonzero(fitted[b]) + 1])
        vals = np.concatenate([[0.0], values[b][fitted[b]]])
        out[b] = np.interp(frames[1:], known, vals)
    return out


def _amounts(step_amounts: np.ndarray, poses: bool = False) -> np.ndarray:
    """(..., K + 1) amounts from frame 0 of (..., K) step amounts (cumulative sums) or, with
    ``poses``, of (..., K) pose amounts (frame 0 prepended)."""
    rest = step_amounts if poses else np.cumsum(step_amounts, axis=-1)
    return np.concatenate([np.zeros((*step_amounts.shape[:-1], 1)), rest], axis=-1)


def _orient(axis: np.ndarray, step_amounts: np.ndarray, poses: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flip so that the amount of largest magnitude is positive (JointEstimate convention)."""
    amounts = _amounts(step_amounts, poses)
    largest = amounts[np.arange(len(amounts)), np.argmax(np.abs(amounts), axis=-1)]
    sign = np.where(largest < 0, -1.0, 1.0)[:, None]
    return axis * sign, step_amounts * sign


def _principal_direction(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit direction (B, 3) of largest second moment of each part's (B, M, 3) vectors, and whether
    there was any (B,) (where not: +z)."""
    M = np.swapaxes(vectors, -1, -2) @ vectors
    some = np.trace(M, axis1=-2, axis2=-1) > 1e-30
    return np.where(some[..., None], np.linalg.eigh(M)[1][..., -1], _Z), some


def _safe_inv2(M: np.ndarray, cap: float | np.ndarray) -> np.ndarray:
    """Inverse of symmetric 2x2 information matrices (..., 2, 2), eigenvalues of the inverse capped at
    ``cap`` (scalar or (...,)); closed form: np.linalg's wrappers cost more than the arithmetic."""
    a, b, c = M[..., 0, 0], M[..., 0, 1], M[..., 1, 1]
    mean, dev = 0.5 * (a + c), np.hypot(0.5 * (a - c), b)
    angle = 0.5 * np.arctan2(2.0 * b, a - c)  # direction of the larger eigenvalue
    s, co = np.sin(angle), np.cos(angle)
    # sum_i (1 / lam_i) v_i v_i^T, eigenvectors v_small = (-s, co), v_large = (co, s)
    small = np.minimum(1.0 / np.maximum(mean - dev, 1e-300), cap)
    large = np.minimum(1.0 / np.maximum(mean + dev, 1e-300), cap)
    off = (large - small) * s * co
    return np.stack([np.stack([small * s * s + large * co * co, off], -1),
                     np.stack([off, small * co * co + large * s * s], -1)], -2)  # fmt: skip


def _pinv_psd(A: np.ndarray, rcond: float) -> np.ndarray:
    """Pseudo-inverses of symmetric PSD matrices (..., n, n): eigenvalues below rcond x the largest
    count as 0 (``np.linalg.pinv(A, rcond, hermitian=True)`` by one eigh, without its sorting)."""
    ev, V = np.linalg.eigh(A)
    keep = np.abs(ev) > rcond * np.max(np.abs(ev), axis=-1, keepdims=True)
    inv = np.divide(1.0, ev, out=np.zeros_like(ev), where=keep)
    return (V * inv[..., None, :]) @ np.swapaxes(V, -1, -2)


def _first_fitted_cov(info: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """(B, 3, 3) inverse of each part's information at its first fitted step (identity if none)."""
    first = info[np.arange(len(info)), np.argmax(fitted, axis=-1)]
    return np.linalg.inv(np.where(fitted.any(axis=-1)[:, None, None], first, np.eye(3)))


@dataclass(frozen=True)
class _Fits:
    """One model fitted to B parts: the fields of :class:`ModelFit` with a leading B axis."""

    type: JointType
    axis: np.ndarray
    origin: np.ndarray
    step_amounts: np.ndarray
    chi2: np.ndarray
    num_params: np.ndarray
    bic: np.ndarray
    axis_cov: np.ndarray
    origin_cov: np.ndarray
    state_variance: np.ndarray
    poses: bool = False

    @property
    def amounts(self) -> np.ndarray:
        return _amounts(self.step_amounts, self.poses)

    def part(self, b: int, amounts: np.ndarray) -> ModelFit:
        return ModelFit(
            type=self.type,
            axis=self.axis[b],
            origin=self.origin[b],
            amounts=amounts[b],
            step_amounts=np.diff(amounts[b]) if self.poses else self.step_amounts[b],
            chi2=float(self.chi2[b]),
            num_params=int(self.num_params[b]),
            bic=float(self.bic[b]),
            axis_cov=self.axis_cov[b],
            origin_cov=self.origin_cov[b],
            state_variance=float(self.state_variance[b]),
        )


def _fit_static(d: StepData, poses: bool = False) -> _Fits:
    B, K = d.fitted.shape
    chi2 = np.sum(_quad(d.rotvecs, d.rot_info) + _quad(d.displacements, d.disp_info), axis=-1)
    k = np.zeros(B, dtype=np.int64)
    return _Fits(
        type=JointType.STATIC,
        axis=np.tile(_Z, (B, 1)),
        origin=d.origin_ref.copy(),
        step_amounts=np.zeros((B, K)),
        chi2=chi2,
        num_params=k,
        bic=_bic(chi2, k, d),
        axis_cov=np.tile(np.eye(2) * UNINFORMATIVE_AXIS_VAR, (B, 1, 1)),
        origin_cov=_first_fitted_cov(d.disp_info, d.fitted),
        state_variance=np.zeros(B),
        poses=poses,
    )


def _fit_prismatic(d: StepData, poses: bool = False) -> _Fits:
    """Weighted least squares: u_t = dd_t a (alternating between a and the dd_t)."""
    k = 2 + d.fitted.sum(axis=-1)
    u, W = d.displacements, d.disp_info
    scale = np.sqrt(np.trace(W, axis1=-2, axis2=-1) / 3.0)
    axis, _ = _principal_direction(u * scale[..., None])
    active = np.ones(len(axis), dtype=bool)  # parts whose alternation has not stopped
    for _ in range(_ROUNDS):
        den = _axis_quad(axis, W)
        dd = np.where(den > 0, _along(axis, W, u) / np.maximum(den, 1e-300), 0.0)
        A = np.einsum("bk,bkij->bij", dd**2, W)
        b = np.einsum("bk,bkij,bkj->bi", dd, W, u)
        active &= _well_conditioned(A)  # else the part keeps its axis (and stops)
        sol = np.linalg.solve(np.where(active[:, None, None], A, np.eye(3)), b[..., None])[..., 0]
        sol = sol / np.maximum(np.linalg.norm(sol, axis=-1, keepdims=True), 1e-300)
        axis = np.where(active[:, None], sol, axis)
    den = _axis_quad(axis, W)
    dd = np.where(den > 0, _along(axis, W, u) / np.maximum(den, 1e-300), 0.0)
    r_u = u - dd[..., None] * axis[:, None]
    chi2 = np.sum(_quad(d.rotvecs, d.rot_info) + _quad(r_u, W), axis=-1)
    infl = _inflation(chi2, k, d)
    axis, dd_filled = _orient(axis, (_fill_poses if poses else _fill_steps)(dd, d.fitted), poses)
    E = _tangent_bases(axis)
    axis_info = np.einsum("bk,bia,bkij,bjc->bac", dd**2, E, W, E)
    var_steps = np.where(den > 0, 1.0 / np.maximum(den, 1e-300), 0.0)
    return _Fits(
        type=JointType.PRISMATIC,
        axis=axis,
        origin=d.origin_ref.copy(),
        step_amounts=dd_filled,
        chi2=chi2,
        num_params=k,
        bic=_bic(chi2, k, d),
        axis_cov=infl[:, None, None] * _safe_inv2(axis_info, UNINFORMATIVE_AXIS_VAR / infl),
        origin_cov=infl[:, None, None] * _first_fitted_cov(W, d.fitted),
        state_variance=infl * _state_variance(var_steps, d.fitted, poses),
        poses=poses,
    )


def _fit_revolute(d: StepData, poses: bool = False) -> _Fits:
    """Alternating weighted least squares for the axis a, the pivot c and the step angles.

    a from the information-weighted rotation vectors, the step angles by Gauss-Newton on rotation and
    centroid displacement, c (in the plane through ``origin_ref`` perpendicular to a) by linear least
    squares on the displacements. Exact data is recovered exactly in the first round.
    """
    k = 4 + d.fitted.sum(axis=-1)
    R_obs = d.steps[..., :3, :3]
    w_rot, W, x, u = d.rot_info, d.disp_info, d.centroids, d.displacements
    # Initial axis: principal direction of the rotation vectors, each weighted by the information of
    # its worst-pinned observed direction (a scalar weight keeps the direction unbiased for exact data).
    # No rotation at all: the revolute model degenerates to static (axis +z).
    ev = np.linalg.eigvalsh(w_rot)
    lam = np.where(ev > 0, ev, np.inf).min(axis=-1)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    axis, _ = _principal_direction(d.rotvecs * np.sqrt(lam)[..., None])
    den = _axis_quad(axis, w_rot)
    theta = np.where(den > 0, _along(axis, w_rot, d.rotvecs) / np.maximum(den, 1e-300), 0.0)
    # First pivot only from steps whose angle the rotation itself pins (a thin part seen edge-on has
    # its angle from the displacement alone, which needs the pivot first).
    pinned = den >= UNOBSERVED_RATIO * np.maximum(den.max(axis=-1, keepdims=True), 1e-300)
    origin, origin_cov = _fit_pivot(axis, theta, d, use=pinned)
    for _ in range(_ROUNDS):
        theta = _step_angles(axis, origin, theta, d)
        A = np.einsum("bk,bkij->bij", theta**2, w_rot)
        # Minimum-norm solution: a direction the steps observe 100x worse than the best-observed one
        # (a thin part seen along its length) gets no axis component instead of a noise-driven one.
        A_pinv = _pinv_psd(A, UNOBSERVED_RATIO)
        a_new = (A_pinv @ np.einsum("bk,bkij,bkj->bi", theta, w_rot, d.rotvecs)[..., None])[..., 0]
        norm = np.linalg.norm(a_new, axis=-1, keepdims=True)
        axis = np.where(norm > 1e-12, a_new / np.maximum(norm, 1e-300), axis)
        origin, origin_cov = _fit_pivot(axis, theta, d)
    theta = _step_angles(axis, origin, theta, d)
    r_rot = rotvecs_from_matrices(np.swapaxes(rotations_about(axis, theta), -1, -2) @ R_obs)
    moved, g = _rotated_lever(theta, _lever_crosses(axis, x - origin[:, None]))
    r_u = u - moved
    chi2 = np.sum(_quad(r_rot, w_rot) + _quad(r_u, W), axis=-1)
    infl = _inflation(chi2, k, d)
    # Per-step angle variance: 1 / (a^T L_rot a + g^T L_u g), g = d(displacement)/d(theta).
    info_theta = _axis_quad(axis, w_rot) + _quad(g, W)
    var_steps = np.where(info_theta > 0, 1.0 / np.maximum(info_theta, 1e-300), 0.0)
    axis, theta_filled = _orient(axis, (_fill_poses if poses else _fill_steps)(theta, d.fitted), poses)
    E = _tangent_bases(axis)
    axis_info = np.einsum("bk,bia,bkij,bjc->bac", theta**2, E, w_rot, E)
    return _Fits(
        type=JointType.REVOLUTE,
        axis=axis,
        origin=origin,
        step_amounts=theta_filled,
        chi2=chi2,
        num_params=k,
        bic=_bic(chi2, k, d),
        axis_cov=infl[:, None, None] * _safe_inv2(axis_info, UNINFORMATIVE_AXIS_VAR / infl),
        # Along the axis the origin is fixed by definition (foot of the perpendicular from origin_ref).
        origin_cov=infl[:, None, None] * origin_cov,
        state_variance=infl * _state_variance(var_steps, d.fitted, poses),
        poses=poses,
    )


def _state_variance(var: np.ndarray, fitted: np.ndarray, poses: bool) -> np.ndarray:
    """(B,) variance of the last amount: the sum of the step variances (steps), or that of the last
    fitted pose (poses: each pose is measured on its own, nothing accumulates)."""
    if not poses:
        return np.sum(var, axis=-1)
    K = fitted.shape[-1]
    last = K - 1 - np.argmax(fitted[..., ::-1], axis=-1)
    return np.where(fitted.any(axis=-1), var[np.arange(len(var)), last], 0.0)


def _lever_crosses(axis: np.ndarray, lever: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a x v, a x (a x v)) of each lever v (B, K, 3) for the unit axes a (B, 3)."""
    axv = cross(axis, lever)
    return axv, cross(axis, axv)


def _rotated_lever(theta: np.ndarray, crosses: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (R_t - I) v_t of each lever v_t by the rotation theta_t (B, K) about the unit
    axis a, and its derivative a x R_t v_t, from ``crosses`` = :func:`_lever_crosses` (Rodrigues on
    vectors, no matrices): R v = v + sin a x v + (1 - cos) a x (a x v), a x R v = cos a x v + sin a x (a x v)."""
    axv, aaxv = crosses
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return s * axv + (1.0 - c) * aaxv, c * axv + s * aaxv


def _step_angles(axis: np.ndarray, origin: np.ndarray, theta: np.ndarray, d: StepData) -> np.ndarray:
    """Gauss-Newton (2 rounds) on each step's angle: rotation-vector and displacement residuals.

    The rotation residual is linearised as w_t - theta_t a (exact when the step's rotation is about a).
    """
    u, w_rot, W = d.displacements, d.rot_info, d.disp_info
    rot_den = _axis_quad(axis, w_rot)
    aw = _along(axis, w_rot, d.rotvecs)
    crosses = _lever_crosses(axis, d.centroids - origin[:, None])
    for _ in range(2):
        moved, g = _rotated_lever(theta, crosses)
        num = aw - theta * rot_den + _bilinear(g, W, u - moved)
        den = rot_den + _quad(g, W)
        theta = theta + np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
    return np.where(d.fitted, theta, 0.0)


def _fit_pivot(
    axis: np.ndarray, theta: np.ndarray, d: StepData, use: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pivots c = origin_ref + E y minimising sum_t |u_t - (R_t - I)(x_t - c)|^2_W over the steps in
    ``use`` (default all); returns c (B, 3) and its covariance (B, 3, 3).

    With E = (e1, e2 = a x e1) perpendicular to a: (R - I) e1 = sin e2 - (1 - cos) e1 and
    (R - I) e2 = -sin e1 - (1 - cos) e2 (closed form, no matrices).
    """
    e1, e2 = _perp_basis(axis)
    c0 = d.origin_ref
    moved, _ = _rotated_lever(theta, _lever_crosses(axis, d.centroids - c0[:, None]))
    b = d.displacements - moved  # residual = b - A y
    s, c1 = np.sin(theta)[..., None], (1.0 - np.cos(theta))[..., None]
    e1, e2 = e1[:, None], e2[:, None]
    A = np.stack([c1 * e1 - s * e2, s * e1 + c1 * e2], axis=-1)  # (B, K, 3, 2) = -(R - I) E
    W = d.disp_info if use is None else d.disp_info * use[..., None, None]
    WA = W @ A
    N = np.einsum("bkia,bkic->bac", A, WA)
    n00, n01, n10, n11 = N[:, 0, 0], N[:, 0, 1], N[:, 1, 0], N[:, 1, 1]
    det = n00 * n11 - n01 * n10
    ok = (det > 0) & (det >= 1e-12 * (0.5 * (n00 + n11)) ** 2)  # else (almost) no rotation: keep c0
    inv_det = 1.0 / np.where(ok, det, 1.0)
    N_inv = np.empty_like(N)
    N_inv[:, 0, 0], N_inv[:, 0, 1], N_inv[:, 1, 0], N_inv[:, 1, 1] = n11, -n01, -n10, n00
    N_inv = np.where(ok[:, None, None], N_inv * inv_det[:, None, None], np.eye(2) * 1e6)
    y = (N_inv @ np.einsum("bkia,bki->ba", WA, b)[..., None])[..., 0]
    E = np.concatenate([e1, e2], axis=1).swapaxes(1, 2)  # (B, 3, 2)
    c = np.where(ok[:, None], c0 + (E @ y[..., None])[..., 0], c0)
    return c, E @ N_inv @ np.swapaxes(E, -1, -2)


def type_probabilities(fits: dict[JointType, ModelFit]) -> np.ndarray:
    """(3,) probabilities indexed by JointType from exp(-BIC / 2), normalised."""
    bic = np.full(3, np.inf)
    for t, f in fits.items():
        bic[int(t)] = f.bic
    p = np.exp(-(bic - bic.min()) / 2.0)
    return p / p.sum()


def _drop_unobserved_rotation(rotvecs: np.ndarray, info: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero the rotation-vector components (and their information) that a step cannot observe.

    Nearly collinear points (a thin arm seen along its length) cannot show a rotation about their
    line: the fitted rotation vector is arbitrary there. Such directions - information below
    1/100 of the step's best-pinned direction - are dropped, so an axis no step observes comes out
    perpendicular to them (the minimum-rotation interpretation) instead of following noise.
    """
    ev, V = np.linalg.eigh(info)
    keep = ev >= UNOBSERVED_RATIO * ev[..., -1:]
    P = (V * keep[..., None, :]) @ np.swapaxes(V, -1, -2)
    return (P @ rotvecs[..., None])[..., 0], (V * (ev * keep)[..., None, :]) @ np.swapaxes(V, -1, -2)


_SHAPES = {"steps": (4, 4), "rotvecs": (3,), "centroids": (3,), "rot_info": (3, 3), "disp_info": (3, 3), "fitted": ()}


def fit_joint_models_batch(d: StepData, poses: bool = False) -> list[dict[JointType, ModelFit]]:
    """All three models of B parts at once (unobserved rotation directions dropped first).

    Args:
        d: the parts' steps, every field with a leading axis of B parts (K steps each).
        poses: the "steps" are long-baseline poses instead (sim2art_core.refine.long_baseline):
            ``steps[k]`` is the motion from frame 0 to frame k + 1 relative to the parent and
            ``centroids[k]`` the part's centroid at frame 0. The same models fit them unchanged (a
            pose is one rotation about / translation along the joint's axis); only the amounts
            differ: amounts[k + 1] is the pose's own amount, not a cumulative sum, so per-frame
            errors do not accumulate, and unfitted poses are interpolated (:func:`_fill_poses`).

    Returns:
        one dict per part, in the order of the batch.
    """
    if np.ndim(d.fitted) != 2:
        raise ValueError(f"fit_joint_models_batch: StepData.fitted must be (B, K), got {np.shape(d.fitted)}")
    B, K = d.fitted.shape
    for name, want in {**{n: (B, K, *s) for n, s in _SHAPES.items()}, "origin_ref": (B, 3)}.items():
        if getattr(d, name).shape != want:
            raise ValueError(f"fit_joint_models_batch: StepData.{name} must be {want}, got {getattr(d, name).shape}")
    rotvecs, rot_info = _drop_unobserved_rotation(d.rotvecs, d.rot_info)
    d = replace(d, rotvecs=rotvecs, rot_info=rot_info, fitted=np.asarray(d.fitted, dtype=bool))
    models = [_fit_static(d, poses), _fit_prismatic(d, poses), _fit_revolute(d, poses)]
    amounts = [m.amounts for m in models]
    return [{m.type: m.part(b, a) for m, a in zip(models, amounts, strict=True)} for b in range(B)]


def fit_joint_models(d: StepData) -> dict[JointType, ModelFit]:
    """All three models of one part's steps (:func:`fit_joint_models_batch` with B = 1)."""
    K = len(d.steps)
    for name, shape in _SHAPES.items():
        if getattr(d, name).shape != (K, *shape):
            raise ValueError(f"fit_joint_models: StepData.{name} must be {(K, *shape)}, got {getattr(d, name).shape}")
    batch = StepData(*(np.asarray(getattr(d, f))[None] for f in StepData.__dataclass_fields__))
    return fit_joint_models_batch(batch)[0]
