"""Fixtures shared by the segmentation tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from sim2art_core.estimator import Estimator
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).parents[1]))
from oracle_nets import MovingIsSlotOneNet


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    """An Estimator around the tiny network with every moving part merged into one slot (MovingIsSlotOneNet):
    whatever the stage under test separates, the network did not."""
    cfg = preset("tiny", num_frames=8, num_points=64)
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(cfg), cfg)
    est = Estimator(ckpt, "cpu")
    net = MovingIsSlotOneNet(cfg)
    net.load_state_dict(est.model.state_dict())
    est.model = net.eval()
    return est
