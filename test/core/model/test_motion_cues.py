"""Closed-form rigid-motion cues recover exact axes, pivots and amounts."""

from __future__ import annotations

import numpy as np
import torch

from sim2art_core.geometry import point_line_distance, revolute_motion, transform_points
from sim2art_core.model.motion_cues import motion_cues, rigid_velocity


def _rotating_cloud(T=6, N=300, axis=(0.0, 0.6, 0.8), pivot=(0.2, -0.1, 0.3), step=-0.05, seed=0):
    rng = np.random.default_rng(seed)
    axis = np.array(axis) / np.linalg.norm(axis)
    local = rng.uniform(-0.5, 0.5, (N, 3))
    pts, flow = [], []
    for t in range(T):
        a, b = revolute_motion(axis, pivot, step * t), revolute_motion(axis, pivot, step * (t + 1))
        p = transform_points(a, local)
        pts.append(p)
        flow.append(transform_points(b, local) - p)
    as_t = lambda x: torch.tensor(np.stack(x), dtype=torch.float64).unsqueeze(0)  # noqa: E731
    return as_t(pts), as_t(flow), axis, np.array(pivot)


def test_rigid_velocity_recovers_angular_velocity():
    pts, flow, axis, _ = _rotating_cloud(step=0.01)
    w = torch.ones(*pts.shape[:3], 1, dtype=torch.float64)
    rv = rigid_velocity(pts, flow, w)
    omega = rv.omega[0, 0].numpy()  # (T, 3)
    np.testing.assert_allclose(omega, np.tile(axis * 0.01, (omega.shape[0], 1)), atol=2e-4)


def test_cues_give_signed_axis_pivot_and_amounts():
    pts, flow, axis, pivot = _rotating_cloud(step=-0.05)  # negative rotation about +axis
    w = torch.ones(*pts.shape[:3], 1, dtype=torch.float64)
    cues = motion_cues(pts, flow, w)
    a = cues.revolute_axis[0, 0].numpy()
    # the largest amount is made positive: the axis flips to -axis
    np.testing.assert_allclose(a, -axis, atol=5e-3)
    amounts = cues.revolute_amounts[0, 0].numpy()
    np.testing.assert_allclose(amounts, 0.05 * np.arange(6), atol=3e-3)
    assert point_line_distance(cues.pivot[0, 0].numpy(), pivot, axis) < 1e-2


def test_weights_select_the_part():
    pts, flow, _, _ = _rotating_cloud(step=0.05)
    T, N = pts.shape[1:3]
    static = torch.rand(1, T, N, 3, dtype=torch.float64)
    all_pts = torch.cat([pts, static], dim=2)
    all_flow = torch.cat([flow, torch.zeros_like(static)], dim=2)
    w = torch.zeros(1, T, 2 * N, 2, dtype=torch.float64)
    w[:, :, :N, 0] = 1
    w[:, :, N:, 1] = 1
    cues = motion_cues(all_pts, all_flow, w)
    assert cues.revolute_amounts[0, 0, -1] > 0.2
    assert cues.revolute_amounts[0, 1].abs().max() < 1e-6
