"""Shared fixtures: a tiny model config and a batch of analytic windows (exact flow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim2art_core.model import preset
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.train.examples import AugmentConfig, collate, example_from_sample


@pytest.fixture
def tiny_cfg():
    return preset("tiny", num_frames=6, num_points=96, num_keypoints=12)


@pytest.fixture
def tiny_batch(tiny_cfg):
    rng = np.random.default_rng(0)
    kinds = ["revolute", "prismatic", "revolute", "static"]
    samples = [analytic_sample(k, i, tiny_cfg.num_frames, 150) for i, k in enumerate(kinds)]
    return collate([example_from_sample(s, tiny_cfg, rng, AugmentConfig.none()) for s in samples])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
