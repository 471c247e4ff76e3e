"""The Estimator's refinement with long-baseline fits: bad input gives the documented result, never an
exception (sim2art_core.refine.long_baseline through Estimator.estimate)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimator import Estimator, EstimatorConfig
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.refine import RefineConfig
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.types import EstimateStatus

CFG = preset("tiny", num_frames=8, num_points=64)


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(CFG), CFG)
    return Estimator(ckpt, "cpu", refine=True, config=EstimatorConfig(refine_config=RefineConfig(long_baseline=True)))


def test_windows_good_and_bad_never_raise(estimator):
    window = window_from_sample(analytic_sample("revolute", seed=2, num_frames=8, num_points=64))
    holes = window.valid.copy()
    holes[:, ::5] = False
    points = window.points.copy()
    points[~holes] = np.nan  # invalid points may hold NaN
    first_empty = window.valid.copy()
    first_empty[0, 8:] = False  # frame 0 almost empty: most parts cannot be registered
    cases = {
        "as generated": window,
        "20 % invalid, NaN": dataclasses.replace(window, valid=holes, points=points),
        "frame 0 nearly empty": dataclasses.replace(window, valid=first_empty),
        "motionless": dataclasses.replace(window, flow=np.zeros_like(window.flow)),
    }
    for name, w in cases.items():
        out = estimator.estimate(w)
        assert out.status in (EstimateStatus.OK, EstimateStatus.NO_ARTICULATION), (name, out.message)
        assert all(np.all(np.isfinite(j.axis)) and np.all(np.isfinite(j.amounts)) for j in out.joints), name
    # the same network run with the chained fits: the long-baseline option changes no segmentation
    chained = estimator.estimate(window, refine_config=RefineConfig(long_baseline=False))
    assert np.array_equal(chained.labels, estimator.estimate(window).labels)
