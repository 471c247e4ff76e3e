"""Per-point image features: bilinear sampling, tiny random ViT backbones, local-only loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimator import Estimator
from sim2art_core.features import NoImageFeatures, ViTPatchFeatures, sample_feature_map, window_pixels
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.types import EstimateStatus

transformers = pytest.importorskip("transformers")


def _tiny_dinov2():
    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=4, image_size=32
    )
    return transformers.Dinov2Model(cfg)


def test_sampling_hits_pixel_centres_and_interpolates():
    fmap = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)  # map at full image resolution
    pix = torch.tensor([[[0.0, 0.0], [4.0, 3.0], [1.5, 2.0]]] * 2)
    out = sample_feature_map(fmap, pix, (5, 4))
    assert out.shape == (2, 3, 3)
    assert torch.allclose(out[:, 0], fmap[:, :, 0, 0])
    assert torch.allclose(out[:, 1], fmap[:, :, 3, 4])
    assert torch.allclose(out[:, 2], (fmap[:, :, 2, 1] + fmap[:, :, 2, 2]) / 2)


def test_no_features_has_zero_channels():
    out = NoImageFeatures()(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 5, 2)))
    assert out.shape == (2, 5, 0)


def test_tiny_dinov2_features_per_point_and_local_loading(tmp_path):
    model = _tiny_dinov2()
    ext = ViTPatchFeatures(model, short_side=32)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
    pixels = rng.uniform(0, 47, (3, 10, 2)).astype(np.float32)
    feats = ext(images, pixels)
    assert feats.shape == (3, 10, 16) and feats.dtype == np.float32 and np.isfinite(feats).all()
    fmap = ext.feature_maps(images)
    assert fmap.shape == (3, 16, 8, 11)  # 48x64 -> 32x44 (patch multiples) -> 8x11 patches
    assert not np.allclose(feats[0, 0], feats[0, 1])  # features depend on the pixel
    model.save_pretrained(tmp_path / "dino")
    again = ViTPatchFeatures(tmp_path / "dino", short_side=32)
    np.testing.assert_allclose(again(images, pixels), feats, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        ViTPatchFeatures(tmp_path / "missing")
    with pytest.raises(ValueError, match="uint8"):
        ext(images.astype(np.float32), pixels)


@pytest.mark.parametrize("family", ["Dinov2WithRegisters", "DINOv3ViT"])
def test_class_and_register_tokens_are_skipped(family):
    torch.manual_seed(0)
    config_cls = getattr(transformers, f"{family}Config")
    model_cls = getattr(transformers, f"{family}Model")
    cfg = config_cls(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=4,
        image_size=32, num_register_tokens=4,
    )  # fmt: skip
    ext = ViTPatchFeatures(model_cls(cfg), short_side=16)
    images = np.random.default_rng(0).integers(0, 255, (1, 16, 24, 3), dtype=np.uint8)
    fmap = ext.feature_maps(images)
    assert fmap.shape == (1, 16, 4, 6)
    tokens = ext.model(pixel_values=torch.randn(1, 3, 16, 24)).last_hidden_state
    assert tokens.shape[1] == 1 + 4 + 24  # class + registers + patches: only the patches are used


def test_window_features_flow_into_the_estimator(tmp_path):
    ext = ViTPatchFeatures(_tiny_dinov2(), short_side=32)
    sample = analytic_sample("revolute", seed=0, num_frames=4, num_points=40)
    window = window_from_sample(sample)
    from sim2art_core.camera import Intrinsics

    fx, fy, cx, cy = sample.intrinsics
    intr = Intrinsics(fx, fy, cx, cy, *sample.image_size)
    pixels = window_pixels(window.points, window.world_from_cam, intr)
    on_axis = window.world_from_cam[:, :3, 3] + 1.5 * window.world_from_cam[:, :3, 2]  # 1.5 m along each z
    np.testing.assert_allclose(window_pixels(on_axis[:, None], window.world_from_cam, intr)[:, 0], [[cx, cy]] * 4)
    assert pixels.shape == (4, 40, 2)
    images = np.zeros((4, sample.image_size[1], sample.image_size[0], 3), np.uint8)
    feats = ext(images, pixels)
    cfg = preset("tiny", num_frames=4, num_points=40, image_feature_dim=ext.dim)
    ckpt = save_checkpoint(tmp_path / "img.pt", build_model(cfg), cfg)
    est = Estimator(ckpt, "cpu")
    out = est.estimate(dataclasses.replace(window, features=feats))
    assert out.status in (EstimateStatus.OK, EstimateStatus.NO_ARTICULATION), out.message
    missing = est.estimate(window)
    assert missing.status == EstimateStatus.FAILED and "image features" in missing.message
