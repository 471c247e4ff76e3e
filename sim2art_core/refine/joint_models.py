"""Joint models fitted to a part's motion relative to its parent, and model selection.

Input: the chained relative motions J(t) (t = 0..T-1, J(0) = I) of a part in its parent's frame-0
pose, the part's reference geometry (centroid and covariance of its points at frame 0) and the noise
level sigma_t^2 of each J(t). Three models are fitted in closed form:

* static:    J(t) = I                                              (0 parameters)
* prismatic: J(t) = translation by d_t along a                     (2 + (T-1) parameters)
* revolute:  J(t) = rotation by theta_t about the line (c, a)      (4 + (T-1) parameters)

A model's misfit at frame t is the mean squared displacement (msd, m^2) between where J(t) and the
model put the part's points; it is computed exactly from the centroid x and covariance S:
msd = |dR x + dt|^2 + tr(dR S dR^T). Model selection follows the BIC of ROS 1 articulation_models:
BIC = sum_t 6 msd_t / sigma_t^2 + k ln(6 (T-1)), type probabilities p ~ exp(-BIC / 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from sim2art_core.geometry import tangent_basis
from sim2art_core.types import JointType

#: Uninformative axis variance (rad^2) when a model saw no motion to define its axis.
UNINFORMATIVE_AXIS_VAR = (np.pi / 2) ** 2


@dataclass(frozen=True)
class ReferenceGeometry:
    """The part's points at frame 0 (window frame) summarised for msd computations.

    Attributes:
        centroid: (3,) m, weighted centroid.
        covariance: (3, 3) m^2, weighted covariance of the points about the centroid.
    """

    centroid: np.ndarray
    covariance: np.ndarray


@dataclass(frozen=True)
class ModelFit:
    """One joint model fitted to J(t).

    Attributes:
        type: the model.
        axis: (3,) unit axis (sign: largest |amount| positive); static: +z (meaningless).
        origin: (3,) m; revolute: foot of the perpendicular from the centroid; otherwise the centroid.
        amounts: (T,) rad | m, amounts[0] = 0; static: zeros.
        msd: (T,) m^2, misfit per frame.
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
    msd: np.ndarray
    num_params: int
    bic: float
    axis_cov: np.ndarray
    origin_cov: np.ndarray
    state_variance: float

    @property
    def rms(self) -> float:
        """RMS misfit (m) over frames 1..T-1."""
        return float(np.sqrt(np.mean(self.msd[1:]))) if len(self.msd) > 1 else 0.0


def mean_squared_displacement(Ja: np.ndarray, Jb: np.ndarray, ref: ReferenceGeometry) -> np.ndarray:
    """(T,) m^2: mean over the reference points of |Ja(t) x - Jb(t) x|^2, exactly."""
    dR = Ja[:, :3, :3] - Jb[:, :3, :3]
    dt = Ja[:, :3, 3] - Jb[:, :3, 3]
    first = np.sum((dR @ ref.centroid + dt) ** 2, axis=-1)
    second = np.sum((dR @ ref.covariance) * dR, axis=(1, 2))
    return first + second


def _rotations_about(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(angles[:, None] * axis[None, :]).as_matrix()


def _bic(msd: np.ndarray, sigma2: np.ndarray, k: int) -> float:
    n_obs = 6 * (len(msd) - 1)
    return float(np.sum(6.0 * msd[1:] / sigma2[1:]) + k * np.log(max(n_obs, 2)))


def _inflation(msd: np.ndarray, sigma2: np.ndarray, k: int) -> float:
    """max(1, reduced chi^2): uncertainties grow when the model fits worse than the noise."""
    dof = max(6 * (len(msd) - 1) - k, 1)
    return max(1.0, float(np.sum(6.0 * msd[1:] / sigma2[1:])) / dof)


def _orient(axis: np.ndarray, amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip so that the amount of largest magnitude is positive (JointEstimate convention)."""
    if amounts[np.argmax(np.abs(amounts))] < 0:
        return -axis, -amounts
    return axis, amounts


def _principal_direction(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Unit direction of largest weighted second moment of (M, 3) vectors (None if all zero)."""
    M = (vectors * weights[:, None]).T @ vectors
    if np.trace(M) <= 1e-30:
        return None
    return np.linalg.eigh(M)[1][:, -1]


def _axis_cov(residuals: np.ndarray, E: np.ndarray, signal2: float, floor_var: float, infl: float) -> np.ndarray:
    """Covariance (tangent basis E, (3, 2)) of a direction estimated from v_t = s_t a + e_t: C_e / sum s_t^2."""
    if signal2 <= 1e-30:
        return np.eye(2) * UNINFORMATIVE_AXIS_VAR
    proj = residuals @ E
    dof = max(len(residuals) - 1, 1)
    c_e = proj.T @ proj / dof + floor_var * np.eye(2)
    return np.minimum(infl * c_e / signal2, UNINFORMATIVE_AXIS_VAR)


def fit_static(J: np.ndarray, ref: ReferenceGeometry, sigma2: np.ndarray) -> ModelFit:
    T = len(J)
    eye = np.tile(np.eye(4), (T, 1, 1))
    msd = mean_squared_displacement(J, eye, ref)
    floor = float(np.mean(sigma2[1:])) if T > 1 else float(sigma2[0])
    return ModelFit(
        type=JointType.STATIC,
        axis=np.array([0.0, 0.0, 1.0]),
        origin=ref.centroid.copy(),
        amounts=np.zeros(T),
        msd=msd,
        num_params=0,
        bic=_bic(msd, sigma2, 0),
        axis_cov=np.eye(2) * UNINFORMATIVE_AXIS_VAR,
        origin_cov=np.eye(3) * floor / 3.0,
        state_variance=0.0,
    )


def fit_prismatic(J: np.ndarray, ref: ReferenceGeometry, sigma2: np.ndarray) -> ModelFit:
    """Least-squares translation direction and per-frame displacement of the centroid."""
    T = len(J)
    k = 2 + (T - 1)
    u = (J[:, :3, :3] @ ref.centroid + J[:, :3, 3]) - ref.centroid  # centroid displacement per frame
    w = 1.0 / sigma2
    axis = _principal_direction(u[1:], w[1:])
    if axis is None:
        axis = np.array([0.0, 0.0, 1.0])
    d = u @ axis
    axis, d = _orient(axis, d)
    d[0] = 0.0
    model = np.tile(np.eye(4), (T, 1, 1))
    model[:, :3, 3] = d[:, None] * axis
    msd = mean_squared_displacement(J, model, ref)
    infl = _inflation(msd, sigma2, k)
    noise_per_coord = float(np.mean(sigma2[1:])) / 3.0
    resid = u[1:] - d[1:, None] * axis
    E = np.stack(tangent_basis(axis), axis=1)
    return ModelFit(
        type=JointType.PRISMATIC,
        axis=axis,
        origin=ref.centroid.copy(),
        amounts=d,
        msd=msd,
        num_params=k,
        bic=_bic(msd, sigma2, k),
        axis_cov=_axis_cov(resid, E, float(np.sum(d[1:] ** 2)), noise_per_coord, infl),
        origin_cov=np.eye(3) * noise_per_coord * infl,
        state_variance=float(sigma2[-1]) * infl,
    )


def fit_revolute(J: np.ndarray, ref: ReferenceGeometry, sigma2: np.ndarray) -> ModelFit:
    """Axis from the rotation vectors, angle per frame about it, pivot by linear least squares."""
    T = len(J)
    k = 4 + (T - 1)
    R = J[:, :3, :3]
    w = 1.0 / sigma2
    rotvecs = Rotation.from_matrix(R).as_rotvec()
    axis = _principal_direction(rotvecs[1:], w[1:])
    if axis is None:  # no rotation at all: the revolute model degenerates to static
        axis = np.array([0.0, 0.0, 1.0])
    # Closest rotation about the fixed axis to R_t: theta = atan2(a . vee(R - R^T), tr R - a^T R a).
    vee = np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], axis=-1)
    theta = np.arctan2(vee @ axis, np.trace(R, axis1=1, axis2=2) - (R @ axis) @ axis)
    axis, theta = _orient(axis, theta)
    theta[0] = 0.0
    Rm = _rotations_about(axis, theta)
    # The model moves the centroid x to Rm x + (I - Rm) c. With c = x + E y (E spans the plane
    # perpendicular to the axis, so c is the foot of the perpendicular from x) this is linear in y:
    # (I - Rm) E y = J x - x.
    e1, e2 = tangent_basis(axis)
    E = np.stack([e1, e2], axis=1)
    u = (R @ ref.centroid + J[:, :3, 3]) - ref.centroid
    A = (np.eye(3)[None] - Rm) @ E  # (T, 3, 2)
    wc = 3.0 / sigma2  # per-coordinate weights
    Aw = A[1:] * wc[1:, None, None]
    N = np.sum(np.swapaxes(Aw, 1, 2) @ A[1:], axis=0)
    b = np.sum(np.swapaxes(Aw, 1, 2) @ u[1:, :, None], axis=0)[:, 0]
    sum_theta2 = float(np.sum(theta[1:] ** 2))
    if np.linalg.cond(N) < 1e12:
        y = np.linalg.solve(N, b)
        N_inv = np.linalg.inv(N)
    else:  # (almost) no rotation: the pivot is unobservable; keep it at the centroid
        y = np.zeros(2)
        N_inv = np.eye(2) * 1e6
    origin = ref.centroid + E @ y
    model = np.tile(np.eye(4), (T, 1, 1))
    model[:, :3, :3] = Rm
    model[:, :3, 3] = origin - Rm @ origin
    msd = mean_squared_displacement(J, model, ref)
    infl = _inflation(msd, sigma2, k)
    # Mean squared distance of the part's points to the axis turns a displacement variance into an
    # angle variance.
    S = ref.covariance
    d_axis = ref.centroid - origin
    r2 = max(float(np.trace(S) - axis @ S @ axis + d_axis @ d_axis), 1e-6)
    noise_per_coord = float(np.mean(sigma2[1:])) / 3.0
    resid = rotvecs[1:] - theta[1:, None] * axis
    resid = resid - np.outer(resid @ axis, axis)
    origin_cov = infl * (E @ N_inv @ E.T) + noise_per_coord * np.outer(axis, axis)
    return ModelFit(
        type=JointType.REVOLUTE,
        axis=axis,
        origin=origin,
        amounts=theta,
        msd=msd,
        num_params=k,
        bic=_bic(msd, sigma2, k),
        axis_cov=_axis_cov(resid, E, sum_theta2, noise_per_coord / r2, infl),
        origin_cov=origin_cov,
        state_variance=float(sigma2[-1]) / r2 * infl,
    )


def type_probabilities(fits: dict[JointType, ModelFit]) -> np.ndarray:
    """(3,) probabilities indexed by JointType from exp(-BIC / 2), normalised."""
    bic = np.full(3, np.inf)
    for t, f in fits.items():
        bic[int(t)] = f.bic
    z = -(bic - bic.min()) / 2.0
    p = np.exp(z)
    return p / p.sum()


def fit_joint_models(J: np.ndarray, ref: ReferenceGeometry, sigma2: np.ndarray) -> dict[JointType, ModelFit]:
    """All three models of one part's relative motion J (T, 4, 4); sigma2 (T,) m^2 noise per frame."""
    if J.ndim != 3 or J.shape[1:] != (4, 4) or sigma2.shape != (len(J),):
        raise ValueError(f"fit_joint_models: J must be (T, 4, 4) and sigma2 (T,), got {J.shape}, {sigma2.shape}")
    if np.any(~np.isfinite(sigma2)) or np.any(sigma2 <= 0):
        raise ValueError("fit_joint_models: sigma2 must be finite and positive")
    return {
        JointType.STATIC: fit_static(J, ref, sigma2),
        JointType.PRISMATIC: fit_prismatic(J, ref, sigma2),
        JointType.REVOLUTE: fit_revolute(J, ref, sigma2),
    }


__all__ = [
    "ModelFit", "ReferenceGeometry", "fit_joint_models", "fit_prismatic", "fit_revolute", "fit_static",
    "mean_squared_displacement", "type_probabilities",
]  # fmt: skip
