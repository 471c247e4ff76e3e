"""Pluggable per-point image features (paper §3.2: DINOv3 features, bilinearly sampled).

An extractor turns T RGB frames and the pixel of every point into per-point features
``(T, N, C)``; they travel in ``Window.features`` and the network projects them to
3 dims with a small learned MLP (ModelConfig.image_feature_dim = C,
image_feature_proj_dim = 3). The default model uses none (the paper's "w/o DINO").

* :class:`NoImageFeatures` - C = 0.
* :class:`ViTPatchFeatures` - any DINOv2 / DINOv2-with-registers / DINOv3-ViT model of
  ``transformers``, loaded ONLY from a local directory the user gives
  (``local_files_only=True``: nothing is downloaded). The patch tokens form a feature map
  that is sampled bilinearly at the points' pixels.

Pixels follow sim2art_core.camera: (u, v) = (column, row), integer pixel centres.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from sim2art_core.camera import Intrinsics, project
from sim2art_core.geometry import invert_transform, transform_points

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PointFeatureExtractor(Protocol):
    """Per-point image features. Attribute ``dim``: C."""

    dim: int

    def __call__(self, images: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """images (T, H, W, 3) uint8 RGB, pixels (T, N, 2) (u, v) -> (T, N, C) float32."""
        ...


class NoImageFeatures:
    """The "w/o DINO" extractor: zero channels."""

    dim = 0

    def __call__(self, images: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels)
        return np.zeros((*pixels.shape[:2], 0), dtype=np.float32)


def sample_feature_map(fmap: torch.Tensor, pixels: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Bilinear sampling of feature maps at pixel coordinates.

    Args:
        fmap: (T, C, h, w) feature maps covering the whole image.
        pixels: (T, N, 2) (u, v) in pixels of the original image.
        image_size: (width, height) of the original image.

    Returns:
        (T, N, C). Pixels outside the image take the border value.
    """
    W, H = image_size
    # Pixel centre u covers [u - 0.5, u + 0.5]: in grid_sample's align_corners=False
    # coordinates the image spans [-1, 1] edge to edge.
    gx = (pixels[..., 0] + 0.5) / W * 2 - 1
    gy = (pixels[..., 1] + 0.5) / H * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(1).to(fmap.dtype)  # (T, 1, N, 2)
    out = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(2).permute(0, 2, 1)


class ViTPatchFeatures:
    """Patch features of a local DINOv2/DINOv3-style ViT (transformers), sampled at the points.

    Args:
        model: a transformers vision model whose ``last_hidden_state`` ends with the h*w patch
            tokens (Dinov2Model, Dinov2WithRegistersModel, DINOv3ViTModel), or a local directory
            to load one from with ``AutoModel.from_pretrained(path, local_files_only=True)``.
        short_side: the image's short side is resized to this (rounded to the patch size).
        device: torch device for the backbone.
    """

    def __init__(self, model: torch.nn.Module | str | os.PathLike, short_side: int = 224, device: str = "cpu"):
        if isinstance(model, (str, os.PathLike)):
            model = self._load_local(model)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        cfg = model.config
        patch = cfg.patch_size
        self.patch = int(patch[0] if isinstance(patch, (list, tuple)) else patch)
        self.dim = int(cfg.hidden_size)
        self.short_side = int(short_side)

    @staticmethod
    def _load_local(path: str | os.PathLike) -> torch.nn.Module:
        from transformers import AutoModel  # optional dependency (requirements/dev.txt, extra "dino")

        if not os.path.isdir(path):
            raise FileNotFoundError(f"image-feature model directory {path} not found (weights are never downloaded)")
        try:
            return AutoModel.from_pretrained(os.fspath(path), local_files_only=True)
        except Exception as e:
            raise ValueError(f"cannot load an image-feature model from {path}: {type(e).__name__}: {e}") from e

    def _resized_shape(self, H: int, W: int) -> tuple[int, int]:
        s = self.short_side / min(H, W)
        h = max(self.patch, int(round(H * s / self.patch)) * self.patch)
        w = max(self.patch, int(round(W * s / self.patch)) * self.patch)
        return h, w

    @torch.inference_mode()
    def feature_maps(self, images: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> (T, C, h, w) patch feature maps."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        h, w = self._resized_shape(*x.shape[-2:])
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        tokens = self.model(pixel_values=(x - mean) / std).last_hidden_state  # (T, prefix + gh*gw, C)
        gh, gw = h // self.patch, w // self.patch
        patches = tokens[:, -gh * gw :]  # class / register tokens come first
        return patches.reshape(len(x), gh, gw, -1).permute(0, 3, 1, 2)

    def __call__(self, images: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be (T, H, W, 3) uint8, got {images.shape} {images.dtype}")
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 3 or pixels.shape[0] != images.shape[0] or pixels.shape[-1] != 2:
            raise ValueError(f"pixels must be (T={images.shape[0]}, N, 2), got {pixels.shape}")
        fmap = self.feature_maps(images)
        H, W = images.shape[1:3]
        out = sample_feature_map(fmap, torch.from_numpy(pixels).to(self.device), (W, H))
        return out.float().cpu().numpy()


def window_pixels(points: np.ndarray, world_from_cam: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Pixels (T, N, 2) of a window's fixed-frame points (T, N, 3) in each frame's camera."""
    cam_from_world = invert_transform(np.asarray(world_from_cam, dtype=np.float64))
    pix = np.stack([project(transform_points(cam_from_world[t], points[t]), intrinsics) for t in range(len(points))])
    return np.nan_to_num(pix, nan=-1.0).astype(np.float32)
