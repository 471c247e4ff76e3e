"""sim2art_core.model.ops: behaviour the CUDA reference kernels get wrong must be right here."""

from __future__ import annotations

import torch

from sim2art_core.model import ops


def test_fps_picks_points_near_origin_and_spreads_out():
    # The CUDA kernel never picks |p|^2 <= 1e-3; a cluster at the origin must be sampled.
    far = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]])
    near_origin = torch.zeros(20, 3) + 0.001 * torch.randn(20, 3)
    pts = torch.cat([near_origin, far]).unsqueeze(0)
    idx = ops.farthest_point_sample(pts, 4)[0].tolist()
    assert len(set(idx)) == 4
    assert any(i < 20 for i in idx), "a point near the origin must be chosen"
    assert {20, 21, 22} <= set(idx)


def test_fps_is_invariant_to_point_order():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(1, 200, 3, generator=g)
    perm = torch.randperm(200, generator=g)
    a = pts[0, ops.farthest_point_sample(pts, 16)[0]]
    b = pts[0, perm][ops.farthest_point_sample(pts[:, perm], 16)[0]]
    assert torch.equal(a, b)


def test_ball_query_returns_nearest_and_masks_empty_balls():
    pts = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [5.0, 0, 0]]])
    centers = torch.tensor([[[0.19, 0, 0], [10.0, 0, 0]]])
    idx, mask, d2 = ops.ball_query(centers, pts, radius=0.15, k=3)
    assert idx[0, 0, 0] == 2 and idx[0, 0, 1] == 1  # nearest first, not index order
    assert mask[0, 0].tolist() == [True, True, False]
    assert not mask[0, 1].any(), "an empty ball must be fully masked, not silently group point 0"
    # fewer points than k: padded slots are masked
    idx, mask, _ = ops.ball_query(centers, pts, radius=100.0, k=6)
    assert idx.shape == (1, 2, 6) and mask[0, 0].sum() == 4


def test_masked_max_and_mean_ignore_masked_entries():
    x = torch.tensor([[[1.0], [9.0], [3.0]]])
    m = torch.tensor([[True, False, True]])
    assert ops.masked_max(x, m, dim=1).item() == 3.0
    assert ops.masked_mean(x, m, dim=1).item() == 2.0
    assert ops.masked_max(x, torch.zeros_like(m), dim=1).item() == 0.0


def test_inverse_distance_interpolation_matches_eq3():
    keys = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0]]])
    vals = torch.tensor([[[1.0], [2.0], [4.0]]])
    q = torch.tensor([[[0.5, 0, 0], [1.0, 0, 0]]])
    out = ops.inverse_distance_interpolate(q, keys, vals, k=2)
    # (0.5,0,0): keys 0 and 1 at distance 0.5 -> equal weights
    assert torch.allclose(out[0, 0], torch.tensor([1.5]))
    assert torch.allclose(out[0, 1], torch.tensor([2.0]), atol=1e-5)  # coincides with key 1


def test_square_distance_matches_cdist():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 7, 3, generator=g), torch.rand(2, 11, 3, generator=g)
    assert torch.allclose(ops.square_distance(a, b), torch.cdist(a, b).square(), atol=1e-6)
    assert (ops.square_distance(a, a).diagonal(dim1=1, dim2=2).abs() < 1e-6).all()
