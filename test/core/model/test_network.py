"""Sim2ArtNet: shapes, invariances, ablation switches, point labelling."""

from __future__ import annotations

import pytest
import torch

from sim2art_core.model import ModelConfig, build_model, preset
from sim2art_core.model.network import frame_encoding


def test_output_shapes(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    out = build_model(tiny_cfg)(points, flow)
    B, T, N, M, K = 4, tiny_cfg.num_frames, tiny_cfg.num_points, tiny_cfg.num_queries, tiny_cfg.num_keypoints
    assert out.part_logits.shape == (B, T, N, M)
    assert out.moving_logits.shape == (B, T, N)
    assert out.type_logits.shape == (B, M, 3)
    for name in ("revolute_axis", "pivot", "prismatic_axis"):
        assert getattr(out, name).shape == (B, M, 3)
    for name in ("revolute_amounts", "prismatic_amounts"):
        a = getattr(out, name)
        assert a.shape == (B, M, T) and torch.all(a[:, :, 0] == 0)
    assert torch.allclose(out.revolute_axis.norm(dim=-1), torch.ones(B, M))
    assert out.keypoints.shape == (B, T, K, 3)


def test_point_order_does_not_change_predictions(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    model = build_model(tiny_cfg).eval()
    perm = torch.randperm(points.shape[2])
    with torch.no_grad():
        a = model(points, flow)
        b = model(points[:, :, perm], flow[:, :, perm])
    assert torch.allclose(a.part_logits[:, :, perm], b.part_logits, atol=1e-4)
    assert torch.allclose(a.type_logits, b.type_logits, atol=1e-4)


def test_point_features_label_extra_points_like_forward(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    model = build_model(tiny_cfg).eval()
    with torch.no_grad():
        out = model(points, flow)
        f = model.point_features(out.encoded, points[:, 2:4], flow[:, 2:4], frames=torch.tensor([2, 3]))
        logits = model.part_logits(f)
    assert torch.allclose(logits, out.part_logits[:, 2:4], atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [dict(use_flow=False, use_motion_cues=False), dict(use_time_encoding=False), dict(use_frame_fraction=False),
     dict(use_motion_cues=False), dict(keypoint_sampler="random"), dict(depth=0), dict(temporal_radius=0),
     dict(relative_flow=False)],
)  # fmt: skip
def test_ablation_switches_build_and_run(tiny_cfg, tiny_batch, change):
    points, flow, _, _ = tiny_batch
    out = build_model(tiny_cfg.replace(**change))(points, flow)
    assert torch.isfinite(out.part_logits).all() and torch.isfinite(out.revolute_amounts).all()


def test_without_flow_the_flow_values_are_ignored(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    model = build_model(tiny_cfg.replace(use_flow=False, use_motion_cues=False)).eval()
    with torch.no_grad():
        a = model(points, flow).part_logits
        b = model(points, torch.randn_like(flow)).part_logits
    assert torch.equal(a, b)


def test_image_features_are_required_when_configured(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    model = build_model(tiny_cfg.replace(image_feature_dim=7))
    with pytest.raises(ValueError, match="image features"):
        model(points, flow)
    out = model(points, flow, torch.randn(*points.shape[:3], 7))
    assert torch.isfinite(out.part_logits).all()


def test_wrong_frame_count_is_a_clear_error(tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    with pytest.raises(ValueError, match="expects T=6"):
        build_model(tiny_cfg)(points[:, :5], flow[:, :5])


def test_frame_encoding_uses_normalised_time():
    t = torch.arange(16) / 16
    g = frame_encoding(t, 6)
    assert g.shape == (16, 14)
    assert g[1:, :7].abs().sum() > 1.0  # not identically zero as it would be for integer t
    assert torch.allclose(g[0], torch.tensor([0.0] * 7 + [1.0] * 7))


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(dim=30, heads=4)
    with pytest.raises(ValueError, match="use_motion_cues needs use_flow"):
        ModelConfig(use_flow=False)
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="unknown model preset"):
        preset("huge")
    assert preset("paper").num_points == 2048
