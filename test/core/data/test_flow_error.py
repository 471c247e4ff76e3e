"""The run-time-like flow error model: it reproduces the measured error of the optical-flow path, its fit
recovers known parameters, and the data engine applies it as a realism option without touching the rest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.data.flow_error import GROSS_M, FlowErrorModel, depth_edge_distance_px, fit_flow_error_model
from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.realism import RealismConfig

MEASURED = Path(__file__).parent / "fixtures" / "flow_error_measured.npz"
#: Stated tolerance (docs/DATA.md "Run-time-like flow"): in every bin holding >= 5 % of the points, the
#: model's median |error| within a factor 1.5 of the measured one and its share of gross errors (> 10 mm)
#: within 4 percentage points.
MEDIAN_FACTOR, GROSS_POINTS, MIN_SHARE = 1.5, 4.0, 0.05
BINS = {
    "edge_px": (0.0, 2.0, 4.0, 8.0, 16.0, np.inf),
    "motion_mm": (0.0, 1.0, 3.0, 10.0, np.inf),
    "depth_m": (0.0, 1.0, 1.5, 2.0, 3.0, np.inf),
}


def test_default_model_matches_the_measured_statistics():
    m = dict(np.load(MEASURED))
    cov = {k: m[k].astype(np.float64) for k in BINS}
    sim = 1000.0 * np.linalg.norm(
        FlowErrorModel().sample_records(cov["edge_px"], cov["motion_mm"], cov["depth_m"], np.random.default_rng(3)),
        axis=1,
    )
    checked = 0
    for key, bins in BINS.items():
        for lo, hi in zip(bins[:-1], bins[1:], strict=True):
            sel = (cov[key] >= lo) & (cov[key] < hi)
            if sel.mean() < MIN_SHARE:
                continue
            meas, model = m["error_mm"][sel], sim[sel]
            ratio = np.median(model) / np.median(meas)
            assert 1 / MEDIAN_FACTOR <= ratio <= MEDIAN_FACTOR, (key, lo, hi, np.median(meas), np.median(model))
            gross_m, gross_s = 100 * np.mean(meas > 10.0), 100 * np.mean(model > 10.0)
            assert abs(gross_s - gross_m) <= GROSS_POINTS, (key, lo, hi, gross_m, gross_s)
            checked += 1
    assert checked >= 12
    # and the measurement itself says what the model encodes: edges are where gross errors live
    near = m["edge_px"] < 2
    assert np.mean(m["error_mm"][near] > 10) > 3 * np.mean(m["error_mm"][~near] > 10)


def test_fit_recovers_a_known_model():
    truth = FlowErrorModel(inlier_per_m=0.0004, inlier_rel=0.01, inlier_edge=0.001, b0=-4.5, b_edge=3.0,
                           edge_scale_px=4.0, b_depth=1.0, b_motion=0.3)  # fmt: skip
    rng = np.random.default_rng(0)
    n = 40_000
    edge, motion_mm, depth = rng.exponential(15.0, n), rng.exponential(8.0, n), rng.uniform(0.4, 2.5, n)
    motion = np.zeros((n, 3))
    motion[:, 0] = motion_mm / 1000
    rays = rng.standard_normal((n, 3))
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    err = truth.sample(motion, rays, edge, depth, rng)
    fit = fit_flow_error_model(err, np.sum(err * rays, axis=1), edge, motion_mm, depth)
    assert fit.edge_scale_px == 4.0
    assert abs(fit.b_edge - truth.b_edge) < 0.4 and abs(fit.b0 - truth.b0) < 0.4
    assert abs(fit.gross_log_mean - truth.gross_log_mean) < 0.05
    assert abs(fit.gross_along_ray - truth.gross_along_ray) < 0.03
    p_true = truth.gross_probability(edge, motion_mm, depth).mean()
    p_fit = fit.gross_probability(edge, motion_mm, depth).mean()
    assert abs(p_fit - p_true) < 0.01


def test_edge_distance_is_zero_on_outlines_and_grows_inside():
    depth = np.full((48, 64), np.nan, np.float32)
    depth[10:40, 10:50] = 1.0
    d = depth_edge_distance_px(depth)
    assert d[10, 20] == 0 and d[25, 30] > d[12, 30] > 0
    # nearest outline pixel: row 39, 14 px away; in pixels of a 640-px-wide image (x10); 3x3 L2 approximation
    assert d[25, 30] == pytest.approx(14.0 * 640 / 64, rel=0.1)


def test_data_engine_option_changes_only_the_flow():
    cfg = SequenceConfig(num_frames=4, num_points=400, width=160, height=120)
    clean = generate_sequence("Storage1", 3, 4, cfg)
    noisy = generate_sequence("Storage1", 3, 4, replace(cfg, realism=RealismConfig(flow_error=1.0)))
    for k in ("points", "labels", "pixels", "colors", "part_axes", "joint_states"):
        np.testing.assert_array_equal(getattr(clean, k), getattr(noisy, k), err_msg=k)
    err = np.linalg.norm(noisy.flow.astype(np.float64) - clean.flow, axis=-1)
    assert 0.1e-3 < np.median(err) < 3e-3
    assert 0.001 < np.mean(err > GROSS_M) < 0.25
    assert noisy.realism == '{"flow_error": 1.0}' and clean.realism == "{}"
    again = generate_sequence("Storage1", 3, 4, replace(cfg, realism=RealismConfig(flow_error=1.0)))
    np.testing.assert_array_equal(noisy.flow, again.flow)
