"""Configuration and result of the geometric joint refinement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sim2art_core.estimate import JointEstimate

FUSION_MODES = ("gate", "refined", "network")
LB_TARGETS = ("all", "part")
LB_USES = ("poses", "amounts")


@dataclass(frozen=True)
class RefineConfig:
    """Knobs of :func:`sim2art_core.refine.refine_joints` (units m unless stated).

    Attributes:
        min_point_prob: points whose probability for a part is below this get no weight in its fit
            (keeps far-away low-probability points from dragging the fit).
        irls_iterations: Cauchy IRLS rounds after the initial weighted Kabsch fit of each frame pair.
        cauchy_scale: Cauchy constant in units of the robust residual scale (2.5: ~ 95 % efficiency).
        min_noise_m: noise floor per frame (m RMS displacement). Motion below about 1.5x this over
            the window is "no articulation observed"; also the floor of the IRLS scale.
        max_effective_points: flow errors of neighbouring points are correlated, so a pair fit counts
            as at most this many independent points when its residual is turned into a noise level.
        max_fit_points: per part and frame, at most this many (evenly spaced) points enter the fits.
            Flow errors of neighbouring points are correlated, so more points add cost, not accuracy
            (see max_effective_points); it keeps the refinement within ~2 ms per part.
        root_step_prior_rad: prior std of the base's rotation per frame pair (camera-pose drift);
            only matters where the base's points cannot pin a rotation (e.g. a thin visible strip).
        min_pair_support: a frame pair needs this much summed point weight to be fitted.
        min_valid_pair_fraction: a part whose valid pairs are fewer than this fraction is unsupported
            (its refined joint is not used). Unfitted pairs before the first / after the last fitted
            pair count as no motion; gaps in between copy the nearest fitted pair.
        full_support_points: summed point weight per pair at which the support factor of the
            confidence reaches 1.
        fusion: "gate" (refined when trustworthy, else network), "refined" (always refined when the
            part is supported) or "network" (always the network's joint) - the last two to measure.
        max_fit_residual_m: gate: the median robust RMS residual of the pair fits must be below this.
        min_refined_confidence: gate: the refined joint's confidence must reach this.
        gate_min_explained: gate: the pair fits' rigid motions must explain at least this fraction of
            the part's weight (median over pairs; a point is explained within the IRLS Cauchy
            constant). A part that holds two differently moving pieces leaves the smaller one
            unexplained. 0: off (default). The val split chose 0.9 together with
            ``gate_max_model_chi2`` 3 and ``gate_min_motion_noise`` 30 by the count of category cells
            worse than network only (``STRICT_GATE``), but through the node's optical flow that costs
            the Mean axis 27.1 -> 32.6 deg on val, so the shipped default keeps them off
            (docs/BENCHMARKS.md "Refinement gate: trust signals chosen on val").
        gate_max_residual_noise: gate: the part's median pair residual must be at most this times the
            window's flow noise (the base's median pair residual, at least ``min_noise_m``). inf: off.
        gate_max_model_chi2: gate: the best moving model's reduced chi^2 over the part's steps must be
            at most this (one joint must explain the steps). inf: off.
        gate_min_motion_noise: gate: the part's largest displacement under its best moving model must
            be at least this times the window's flow noise. 0: off.
        gate_max_axis_std_deg: gate: the refined axis' largest standard deviation (from its
            covariance, inflated by the model's misfit) must be at most this (degrees). inf: off.
        gate_min_type_bic_margin: gate: where the geometry's type differs from the network's, its
            model's BIC must beat the network type's model by at least this. 0: off.
        type_check: the geometric type check (:mod:`sim2art_core.refine.type_check`): where the part's
            measured motion over the window clearly contradicts the network's joint type, the geometric
            model of the other type is used (source "refined"), with fusion "network" and where the
            "gate" keeps the network's joint. On by default (val, optical flow, with the refinement:
            type 78 -> 80 %, axis 27.1 -> 25.4 deg; no change with true flow); the Estimator's
            ``EstimatorConfig.type_check`` runs it without the refinement (the node's path).
            docs/BENCHMARKS.md "Geometric type check".
        type_check_min_bic_margin: the type check's evidence threshold: the geometric model must beat
            the network type's model (prismatic -> revolute) and the static model (both directions) by
            at least this BIC (chi^2 units; ~ -2 ln of the likelihood ratio). Chosen on the val split.
        type_check_min_rotation_deg: prismatic -> revolute only when the revolute model turns the part
            by at least this over the window (deg): a wobbling drawer turns by a few degrees.
        type_check_min_chi2_ratio: prismatic -> revolute only when the revolute model's reduced chi^2
            over the part's steps is at most 1 / this of the prismatic model's (it explains the motion
            clearly better, not only over many points). 1: off; 2 chosen on val with the node's windows in
            view (docs/BENCHMARKS.md "Geometric type check").
        type_check_max_prismatic_chi2: revolute -> prismatic only when the prismatic model explains the
            part's steps within the noise: reduced chi^2 at most this (a door, however slow, turns, and
            the prismatic model leaves that rotation as residual).
        type_check_min_translation_noise: revolute -> prismatic only when the prismatic model moves the
            part by at least this times the window's flow noise.
        type_check_min_explained: revolute -> prismatic only when the part's pair fits explain at least
            this fraction of its weight (``explained`` of the gate): two doors merged into one part that
            open in opposite directions move on average like a drawer.
        long_baseline: fit the joints on long-baseline poses (frame 0 -> every frame t, robust ICP
            of the part's frame-0 points with the chained flow as the initial guess,
            :mod:`sim2art_core.refine.long_baseline`) instead of the chained frame-to-frame flow
            steps; parts not visible at frame 0 keep the chained fit.
        lb_use: what the long-baseline poses give: "poses" - the joint models are fitted to them
            (axis, origin, type and amounts); "amounts" - axis, origin and type stay those of the
            chained steps and only the joint states (amounts) come from the poses.
        lb_register_root: register the root (base) too; False: its chained motion (rotation shrunk by
            ``root_step_prior_rad``) is the frame the other parts' poses are taken relative to, and
            the registration costs one part less. Equal on val (exact camera poses there), but a
            base whose flow drifts frame by frame (odometry error, test_long_baseline.py) needs it.
        lb_max_points: frame-0 source points per part in the ICP (evenly spaced).
        lb_min_source_prob: only frame-0 points at least this probable for the part are registered
            (a point of another part moves differently and drags the registration; the pair fits'
            IRLS rejects such points per pair, a registration sees them in every frame).
        lb_iterations: ICP rounds (re-match + one Gauss-Newton step each).
        lb_gate_start_m: match distance gate of the first ICP round: the largest error of the
            chained flow guess the registration can still correct.
        lb_gate_end_m: gate of the last round (trimming: matches farther away are outliers); at
            least ``lb_gate_spacing`` x the part's median point spacing at frame 0 (points are
            re-sampled in every frame, so a correct match can be that far away).
        lb_gate_spacing: see ``lb_gate_end_m``.
        lb_point_weight: weight of the point-to-point term next to the point-to-plane term (pins the
            directions a flat part leaves free).
        lb_normal_neighbours: k of the k-NN PCA normals of the source points.
        lb_targets: "all": every valid point of frame t is a target (robust to segmentation errors
            at frame t); "part": targets weighted by their probability of belonging to the part.
        lb_min_inlier_fraction: a pose is registered when at least this fraction of the sources'
            weight matched within the final gate; otherwise it is not fitted (never replaced by the
            flow guess).
        lb_min_registered_fraction: a part uses the long-baseline poses only when at least this
            fraction of its frames 1..T-1 registered; otherwise it keeps the chained fit.
        lb_switch_chi2: a part uses the long-baseline poses only when its registered poses disagree
            with the chained flow guess: median squared Mahalanobis distance (6 dof) above this.
            Where they agree the chained fit is kept (exact on exact flow, precise on textured
            surfaces); 0: always long-baseline.
        lb_max_residual_m: a registered pose's robust point-to-plane RMS residual must be below this
            or below ``lb_residual_spacing`` x the part's median point spacing (sparse points on a
            large part leave larger residuals at the right pose).
        lb_residual_spacing: see ``lb_max_residual_m``.
        lb_noise_floor_m: floor of a registration's noise level (m RMS) in its information and of
            its IRLS scale: points are re-sampled in every frame, so a registration has errors of a
            fraction of the point spacing that its residual does not show.
        lb_effective_points: a registration counts as at most this many independent points.
        lb_consistency_chi2: a registered pose within this squared Mahalanobis distance (6 dof) of
            the chained flow guess is combined with it by information; farther away the flow is
            taken as wrong and the registration alone is used (it is never pulled back to the guess).
    """

    min_point_prob: float = 0.2
    irls_iterations: int = 3
    cauchy_scale: float = 2.5
    min_noise_m: float = 1e-3
    max_effective_points: float = 32.0
    max_fit_points: int = 128
    root_step_prior_rad: float = 0.035
    min_pair_support: float = 8.0
    min_valid_pair_fraction: float = 0.25
    full_support_points: float = 50.0
    fusion: str = "gate"
    max_fit_residual_m: float = 0.01
    min_refined_confidence: float = 0.5
    gate_min_explained: float = 0.0
    gate_max_residual_noise: float = float("inf")
    gate_max_model_chi2: float = float("inf")
    gate_min_motion_noise: float = 0.0
    gate_max_axis_std_deg: float = float("inf")
    gate_min_type_bic_margin: float = 0.0
    type_check: bool = True
    type_check_min_bic_margin: float = 200.0
    type_check_min_rotation_deg: float = 10.0
    type_check_min_chi2_ratio: float = 2.0
    type_check_max_prismatic_chi2: float = 3.0
    type_check_min_translation_noise: float = 30.0
    type_check_min_explained: float = 0.9
    long_baseline: bool = False
    lb_use: Literal["poses", "amounts"] = "amounts"
    lb_register_root: bool = True
    lb_max_points: int = 32
    lb_min_source_prob: float = 0.8
    lb_iterations: int = 3
    lb_gate_start_m: float = 0.1
    lb_gate_end_m: float = 0.01
    lb_gate_spacing: float = 2.0
    lb_point_weight: float = 0.1
    lb_normal_neighbours: int = 8
    lb_targets: Literal["all", "part"] = "all"
    lb_min_inlier_fraction: float = 0.5
    lb_min_registered_fraction: float = 0.8
    lb_switch_chi2: float = 0.0
    lb_max_residual_m: float = 0.01
    lb_residual_spacing: float = 0.5
    lb_noise_floor_m: float = 0.001
    lb_effective_points: float = 32.0
    lb_consistency_chi2: float = 25.0

    def __post_init__(self) -> None:
        if self.fusion not in FUSION_MODES:
            raise ValueError(f"RefineConfig.fusion must be one of {FUSION_MODES}, got {self.fusion!r}")
        if not 0.0 <= self.min_point_prob < 1.0:
            raise ValueError(f"RefineConfig.min_point_prob must be in [0, 1), got {self.min_point_prob}")
        for name in (
            "min_noise_m",
            "max_effective_points",
            "full_support_points",
            "cauchy_scale",
            "root_step_prior_rad",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"RefineConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.max_fit_points < 3:
            raise ValueError(f"RefineConfig.max_fit_points must be >= 3, got {self.max_fit_points}")
        if self.lb_use not in LB_USES:
            raise ValueError(f"RefineConfig.lb_use must be one of {LB_USES}, got {self.lb_use!r}")
        if self.lb_targets not in LB_TARGETS:
            raise ValueError(f"RefineConfig.lb_targets must be one of {LB_TARGETS}, got {self.lb_targets!r}")
        if not 0 < self.lb_gate_end_m <= self.lb_gate_start_m:
            raise ValueError("RefineConfig: need 0 < lb_gate_end_m <= lb_gate_start_m")
        if self.lb_max_points < 3 or self.lb_normal_neighbours < 3 or self.lb_iterations < 0:
            raise ValueError("RefineConfig: lb_max_points, lb_normal_neighbours must be >= 3, lb_iterations >= 0")
        if not 0.0 <= self.lb_min_inlier_fraction <= 1.0 or self.lb_point_weight < 0 or self.lb_max_residual_m <= 0:
            raise ValueError(
                "RefineConfig: lb_min_inlier_fraction in [0, 1], lb_point_weight >= 0, lb_max_residual_m > 0"
            )
        for name in ("type_check_min_bic_margin", "type_check_min_rotation_deg", "type_check_max_prismatic_chi2",
                     "type_check_min_translation_noise", "type_check_min_explained",
                     "type_check_min_chi2_ratio"):  # fmt: skip
            if not getattr(self, name) >= 0:
                raise ValueError(f"RefineConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.irls_iterations < 0:
            raise ValueError(f"RefineConfig.irls_iterations must be >= 0, got {self.irls_iterations}")


#: The gate the val split chose by the count of category cells worse than network only
#: (docs/BENCHMARKS.md "Refinement gate: trust signals chosen on val"): it keeps the network's joint for a
#: part that holds two motions, but through DIS optical flow it also rejects good refined joints (val Mean
#: axis 27.1 -> 32.6 deg), so it is a setting, not the default: ``dataclasses.replace(cfg, **STRICT_GATE)``.
STRICT_GATE = {"gate_min_explained": 0.9, "gate_max_model_chi2": 3.0, "gate_min_motion_noise": 30.0}


@dataclass(frozen=True)
class RefineResult:
    """Output of :func:`sim2art_core.refine.refine_joints` (window frame).

    Attributes:
        joints: one fused joint per non-root part, ordered by child label; source "refined",
            "network" or "fused".
        refined: the purely geometric joints before fusion (same order), for diagnostics and
            measuring the fusion rule.
        observed_motion: m, the largest displacement of a part's points relative to its parent over
            the window (measured motion, noise included).
        articulation_observed: True when at least one supported part's motion is significant above
            the noise level (its most probable geometric model is not STATIC).
    """

    joints: tuple[JointEstimate, ...]
    refined: tuple[JointEstimate, ...]
    observed_motion: float
    articulation_observed: bool
