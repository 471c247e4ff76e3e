"""Joint motion profiles: how each joint moves during a sequence.

Every movable joint gets one profile over the T + 1 rendered states (time s = t / T in [0, 1]):

* ``still``: constant at a random position within the limits.
* ``open``: monotone increase by an amplitude a (a fraction of the joint range), eased (smoothstep)
  between a random start time in [0, 0.3] and end time in [0.7, 1]; half of them start at the lower
  limit (a closed drawer or door being opened).
* ``close``: the same, decreasing (half of them end at the lower limit).
* ``back_and_forth``: out by a and back (a sine bump between the start and end times).

Joints without limits (continuous) use a virtual range of ``unlimited_range`` around 0.
At least ``min_moving`` joints get a moving profile whose amplitude exceeds the "moving" thresholds
of :class:`~sim2art_core.data.sequence.SequenceSample` (1 deg, 5 mm) within the first T frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROFILES = ("still", "open", "close", "back_and_forth")
MOVING_THRESHOLD = {"revolute": math.radians(1.0), "prismatic": 0.005}


@dataclass(frozen=True)
class MotionConfig:
    """Motion sampling parameters (mirrored in SequenceConfig).

    Attributes:
        still_prob: probability that a joint stays still (before enforcing ``min_moving``).
        back_and_forth_prob: probability of a back-and-forth profile among moving joints.
        amplitude: (lo, hi) amplitude as a fraction of the joint range.
        unlimited_range: rad, virtual range of continuous joints.
        min_moving: at least this many joints move (capped at the number of joints).
    """

    still_prob: float = 0.3
    back_and_forth_prob: float = 0.25
    amplitude: tuple[float, float] = (0.3, 1.0)
    unlimited_range: float = math.pi
    min_moving: int = 1


def _ease(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def sample_joint_trajectories(limits: np.ndarray, prismatic: np.ndarray, num_frames: int, rng: np.random.Generator,
                              cfg: MotionConfig = MotionConfig()) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """Joint positions for T + 1 states.

    Args:
        limits: (J, 2) lower/upper limits (inf for continuous joints).
        prismatic: (J,) bool, True for prismatic joints (for the moving threshold).
        num_frames: T; T + 1 states are returned (the last one gives the last frame's flow).
        rng: random generator (consumed deterministically).
        cfg: motion parameters.

    Returns:
        ((T + 1, J) float64 positions, the profile name of each joint).
    """
    limits = np.asarray(limits, dtype=np.float64).reshape(-1, 2)
    J = len(limits)
    s = np.arange(num_frames + 1) / max(num_frames, 1)
    lo = np.where(np.isfinite(limits[:, 0]), limits[:, 0], -cfg.unlimited_range / 2)
    hi = np.where(np.isfinite(limits[:, 1]), limits[:, 1], cfg.unlimited_range / 2)
    span = np.maximum(hi - lo, 0.0)
    # draw everything up front so the stream does not depend on the profiles chosen
    u = rng.random((J, 8))
    profiles = []
    for j in range(J):
        if u[j, 0] < cfg.still_prob or span[j] <= 0:
            profiles.append("still")
        elif u[j, 1] < cfg.back_and_forth_prob:
            profiles.append("back_and_forth")
        else:
            profiles.append("open" if u[j, 2] < 0.5 else "close")
    movable = [j for j in range(J) if span[j] > 0]
    need = min(cfg.min_moving, len(movable))
    moving = [j for j in movable if profiles[j] != "still"]
    if len(moving) < need:
        order = rng.permutation(movable)
        for j in order:
            if len(moving) >= need:
                break
            if profiles[j] == "still":
                profiles[j] = "open" if u[j, 2] < 0.5 else "close"
                moving.append(j)
    q = np.zeros((num_frames + 1, J))
    for j in range(J):
        thr = MOVING_THRESHOLD["prismatic" if prismatic[j] else "revolute"]
        a_lo, a_hi = cfg.amplitude
        amp = span[j] * (a_lo + (a_hi - a_lo) * u[j, 3])
        t0, t1 = 0.3 * u[j, 4], 0.7 + 0.3 * u[j, 5]
        if num_frames < 2:
            t0, t1 = 0.0, 1.0
        # the amplitude must show within the first T frames (before the last state), with margin
        amp = min(max(amp, 3.0 * thr), span[j])
        start = lo[j] + (span[j] - amp) * u[j, 6]
        if profiles[j] in ("open", "close") and u[j, 7] < 0.5:
            start = lo[j]
        x = (s - t0) / max(t1 - t0, 1e-9)
        if profiles[j] == "still":
            q[:, j] = lo[j] + span[j] * u[j, 6]
        elif profiles[j] == "open":
            q[:, j] = start + amp * _ease(x)
        elif profiles[j] == "close":
            q[:, j] = start + amp * (1.0 - _ease(x))
        else:
            q[:, j] = start + amp * np.sin(np.pi * np.clip(x, 0.0, 1.0))
    return q, profiles
