"""Configuration and result of the geometric joint refinement."""

from __future__ import annotations

from dataclasses import dataclass

from sim2art_core.estimate import JointEstimate

FUSION_MODES = ("gate", "refined", "network")


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
        if self.irls_iterations < 0:
            raise ValueError(f"RefineConfig.irls_iterations must be >= 0, got {self.irls_iterations}")


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
