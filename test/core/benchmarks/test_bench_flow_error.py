"""sim2art-benchmark flow-error: per-point records of the run-time optical-flow path against the true flow."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core.benchmarks.bench_flow_error import binned, records_for_sequence
from sim2art_core.data.flow_error import fit_flow_error_model
from sim2art_core.train.sources import VAL_SEED_OFFSET


def test_records_of_one_sequence_are_consistent_and_mostly_small():
    r = records_for_sequence("Storage1", VAL_SEED_OFFSET + 2, 7, 3, 512)  # 640x480, as measured
    assert r is not None
    n = len(r["err"])
    assert n > 100 and all(len(r[k]) == n for k in ("along_ray", "edge_px", "motion_mm", "depth_m"))
    assert np.all(r["edge_px"] >= 0) and np.all(r["depth_m"] > 0.1) and np.all(np.isfinite(r["err"]))
    mag = np.linalg.norm(r["err"], axis=1)
    assert np.all(np.abs(r["along_ray"]) <= mag + 1e-6)
    assert np.median(mag) < 0.01  # DIS + depth is mm-accurate on most points
    rows = binned(r, "edge_px", (0.0, 4.0, np.inf))
    assert sum(row["points"] for row in rows) <= n


def test_fit_refuses_too_little_data():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="too few points"):
        fit_flow_error_model(rng.normal(0, 0.001, (100, 3)), np.zeros(100), np.ones(100), np.ones(100), np.ones(100))
