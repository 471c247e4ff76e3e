"""The Estimator's geometric type check (EstimatorConfig.type_check) on the node's path (no refinement): a
network that calls a small hinged flap prismatic is overruled; the network's joint stays where it is right,
and bad windows never raise."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sim2art_core.estimator import Estimator, EstimatorConfig
from sim2art_core.eval.scenes import make_scene
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.types import EstimateStatus, JointType

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from oracle_nets import MovingIsSlotOneNet
from test_type_check import BASE, T, small_flap, tiny_drawer

CFG = preset("tiny", num_frames=8, num_points=64)


def _estimator(ckpt, jtype: JointType, **config) -> Estimator:
    """The real (tiny, untrained) network with every moving point in slot 1, whose type head says ``jtype``."""
    est = Estimator(ckpt, "cpu", config=EstimatorConfig(**config))
    net = MovingIsSlotOneNet(CFG)
    net.load_state_dict(est.model.state_dict())
    est.model = net.eval()
    network = est._network

    def forced(window):
        out = network(window)
        probs = np.full_like(out.type_probs, 0.02)
        probs[:, jtype] = 0.96
        return dataclasses.replace(out, type_probs=probs)

    est._network = forced
    return est


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(CFG), CFG)


def _window(part, seed=0):
    # exact flow: the stand-in network puts every point with flow into the moving slot
    return make_scene([BASE, part], T, [600, 200], seed=seed).window


def test_the_flap_the_network_calls_prismatic_is_revolute_with_the_check(ckpt):
    est = _estimator(ckpt, JointType.PRISMATIC, type_check=True)
    window = _window(small_flap())
    plain = est.estimate(window, type_check=False)
    checked = est.estimate(window)
    assert plain.status == checked.status == EstimateStatus.OK
    assert [j.type for j in plain.joints] == [JointType.PRISMATIC]
    (joint,) = checked.joints
    assert joint.type == JointType.REVOLUTE and joint.source == "refined"
    assert abs(float(joint.axis @ np.array([1.0, 0.0, 0.0]))) > np.cos(np.radians(3.0))
    assert ":typecheck" in checked.estimator_id and ":typecheck" not in plain.estimator_id
    assert "type_check" in checked.timings
    # the check changes joints only: segmentation and observed motion are the network's
    assert np.array_equal(plain.labels, checked.labels) and plain.observed_motion == checked.observed_motion


def test_a_right_network_type_is_kept_and_a_tiny_drawer_is_corrected(ckpt):
    rev = _estimator(ckpt, JointType.REVOLUTE, type_check=True)
    flap = rev.estimate(_window(small_flap()))
    assert flap.joints[0].source == "network" and flap.joints[0].type == JointType.REVOLUTE
    drawer = rev.estimate(_window(tiny_drawer()))
    assert drawer.joints[0].type == JointType.PRISMATIC and drawer.joints[0].source == "refined"


def test_bad_windows_never_raise(ckpt):
    est = _estimator(ckpt, JointType.PRISMATIC, type_check=True)
    window = _window(small_flap())
    holes = window.valid.copy()
    holes[:, ::3] = False
    points = window.points.copy()
    points[~holes] = np.nan
    cases = {
        "NaN on invalid points": dataclasses.replace(window, valid=holes, points=points),
        "motionless": dataclasses.replace(window, flow=np.zeros_like(window.flow)),
        "one frame": dataclasses.replace(
            window,
            points=window.points[:1],
            flow=window.flow[:1],
            valid=window.valid[:1],
            stamps_ns=window.stamps_ns[:1],
            world_from_cam=window.world_from_cam[:1],
        ),
    }
    for name, w in cases.items():
        out = est.estimate(w)
        assert out.status in (EstimateStatus.OK, EstimateStatus.NO_ARTICULATION, EstimateStatus.FAILED), name
        assert all(np.all(np.isfinite(j.axis)) for j in out.joints), name


def test_the_constructor_argument_overrides_the_config(ckpt):
    # what the node's estimator_kwargs '{"type_check": false}' does
    assert Estimator(ckpt, "cpu", config=EstimatorConfig(type_check=True), type_check=False).config.type_check is False
    assert Estimator(ckpt, "cpu", type_check=True).config.type_check is True
    assert Estimator(ckpt, "cpu").config.type_check is EstimatorConfig().type_check
