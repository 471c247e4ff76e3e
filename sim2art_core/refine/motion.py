"""Did a part move? Chained frame-to-frame motions and the largest displacement they cause.

The one measurement of "how far did this part move relative to the root" that the estimator's part
selection (:func:`sim2art_core.estimator.observed_motions`, plain pair fits) and the refinement
(:func:`sim2art_core.refine.refine.refine_joints`, the fitted joint model) both report as
``observed_motion``. Each caller picks its own probe points (see there).
"""

from __future__ import annotations

import numpy as np

from sim2art_core.geometry import invert_transform


def chain_steps(steps: np.ndarray) -> np.ndarray:
    """(..., K + 1, 4, 4) poses from frame 0 of (..., K, 4, 4) frame-to-frame motions (pose 0: identity).

    pose[t + 1] = steps[t] @ pose[t].
    """
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim < 3 or steps.shape[-2:] != (4, 4):
        raise ValueError(f"chain_steps: steps must be (..., K, 4, 4), got {steps.shape}")
    K = steps.shape[-3]
    chain = np.tile(np.eye(4), (*steps.shape[:-3], K + 1, 1, 1))
    for t in range(K):
        chain[..., t + 1, :, :] = steps[..., t, :, :] @ chain[..., t, :, :]
    return chain


def largest_displacement(motions: np.ndarray, probe: np.ndarray, first: int) -> float:
    """Largest displacement (m) of ``probe`` points under ``motions``, measured from frame ``first``.

    Args:
        motions: (T, 4, 4) poses of the part (relative to its parent / the root) over the window.
        probe: (M, 3) points of the part as seen at frame ``first`` (same frame as ``motions``).
        first: the frame at which the probe points were seen.

    Returns:
        max over frames t and probe points x of |G_t G_first^-1 x - x|; 0.0 for an empty probe.
    """
    motions = np.asarray(motions, dtype=np.float64)
    probe = np.asarray(probe, dtype=np.float64)
    if motions.ndim != 3 or motions.shape[1:] != (4, 4):
        raise ValueError(f"largest_displacement: motions must be (T, 4, 4), got {motions.shape}")
    if probe.ndim != 2 or probe.shape[1] != 3:
        raise ValueError(f"largest_displacement: probe must be (M, 3), got {probe.shape}")
    if len(probe) == 0:
        return 0.0
    G = motions @ invert_transform(motions[first])
    d = G[:, :3, :3] @ probe.T + G[:, :3, 3:] - probe.T[None]  # (T, 3, M)
    return float(np.sqrt(np.max(np.sum(d * d, axis=1))))
