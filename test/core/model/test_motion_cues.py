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
    cues = motion_cues(pts, flow, w, root_slot=None)
    a = cues.revolute_axis[0, 0].numpy()
    # the largest amount is made positive: the axis flips to -axis
    np.testing.assert_allclose(a, -axis, atol=5e-3)
    amounts = cues.revolute_amounts[0, 0].numpy()
    np.testing.assert_allclose(amounts, 0.05 * np.arange(6), atol=3e-3)
    assert point_line_distance(cues.pivot[0, 0].numpy(), pivot, axis) < 1e-2


def _with_static_root(pts, flow):
    """The rotating part's N points next to N random static ones: points and flow (1, T, 2N, 3) and hard
    weights (1, T, 2N, 2), slot 1 the rotating part, slot 0 the static root."""
    T, N = pts.shape[1:3]
    root = torch.rand(1, T, N, 3, dtype=torch.float64)
    all_pts = torch.cat([pts, root], dim=2)
    all_flow = torch.cat([flow, torch.zeros_like(root)], dim=2)
    w = torch.zeros(1, T, 2 * N, 2, dtype=torch.float64)
    w[:, :, :N, 1] = 1
    w[:, :, N:, 0] = 1
    return all_pts, all_flow, w


def test_weights_select_the_part():
    pts, flow, _, _ = _rotating_cloud(step=0.05)
    all_pts, all_flow, w = _with_static_root(pts, flow)
    cues = motion_cues(all_pts, all_flow, w)
    assert cues.revolute_amounts[0, 1, -1] > 0.2
    assert cues.revolute_amounts[0, 0].abs().max() < 1e-6


def test_cues_are_relative_to_the_root_and_ignore_outliers():
    """A camera-pose error moves the whole scene between frames; a few flow vectors are garbage."""
    pts, flow, axis, pivot = _rotating_cloud(step=0.05)
    T, N = pts.shape[1:3]
    all_pts, all_flow, w = _with_static_root(pts, flow)
    # the whole scene drifts by a small rotation + translation in every frame pair
    drift_w = torch.tensor([0.004, -0.003, 0.002], dtype=torch.float64)
    drift = torch.cross(drift_w.expand_as(all_pts), all_pts, dim=-1) + torch.tensor([0.003, 0.0, -0.002])
    noisy = all_flow + drift
    bad = torch.rand(1, T, 2 * N) < 0.02
    noisy[bad] = torch.randn(int(bad.sum()), 3, dtype=torch.float64) * 0.3
    cues = motion_cues(all_pts, noisy, w)
    ang = np.degrees(np.arccos(np.clip(cues.revolute_axis[0, 1].numpy() @ axis, -1, 1)))
    assert ang < 3.0, ang
    np.testing.assert_allclose(cues.revolute_amounts[0, 1].numpy(), 0.05 * np.arange(T), atol=0.02)


def test_batched_residuals_match_explicit_cross_products():
    from sim2art_core.model.motion_cues import RigidVelocity, _residual_sq

    g = torch.Generator().manual_seed(0)
    B, T, N, M = 2, 3, 7, 4
    pts, flow = torch.randn(B, T, N, 3, generator=g), torch.randn(B, T, N, 3, generator=g)
    fit = RigidVelocity(
        mass=torch.ones(B, M, T), centroid=torch.randn(B, M, T, 3, generator=g),
        mean_flow=torch.randn(B, M, T, 3, generator=g), omega=torch.randn(B, M, T, 3, generator=g),
    )  # fmt: skip
    q = pts.unsqueeze(3) - fit.centroid.permute(0, 2, 1, 3).unsqueeze(2)
    pred = torch.cross(fit.omega.permute(0, 2, 1, 3).unsqueeze(2).expand_as(q), q, dim=-1)
    want = (flow.unsqueeze(3) - fit.mean_flow.permute(0, 2, 1, 3).unsqueeze(2) - pred).square().sum(-1)
    assert torch.allclose(_residual_sq(pts, flow, fit), want, atol=1e-5)
