"""sim2art-benchmark flow-error: per-point records of the run-time optical-flow path against the true flow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim2art_core.benchmarks.bench_flow_error import (
    binned,
    load_records,
    main,
    records_for_sequence,
    save_records,
    simulate,
    summary,
)
from sim2art_core.data.flow_error import FlowErrorModel, fit_flow_error_model
from sim2art_core.train.sources import VAL_SEED_OFFSET


def test_records_of_one_sequence_are_consistent_and_mostly_small():
    both = records_for_sequence("Storage1", VAL_SEED_OFFSET + 2, 7, 3, 512, flow="current,former")  # 640x480
    r, former = both["current"], both["former"]
    n = len(r["err"])
    assert n > 100 and all(len(r[k]) == n for k in ("along_ray", "valid", "edge_px", "motion_mm", "depth_m"))
    assert np.all(r["edge_px"] >= 0) and np.all(r["depth_m"] > 0.1)
    v = r["valid"]
    assert 0 < v.sum() < n  # the masks drop some points, keep most
    assert np.all(np.isfinite(r["err"][v])) and np.all(np.isnan(r["err"][~v]))
    mag = np.linalg.norm(r["err"][v], axis=1)
    assert np.all(np.abs(r["along_ray"][v]) <= mag + 1e-6)
    assert np.median(mag) < 0.01  # DIS + depth is mm-accurate on most points
    # the same points under the former masks (fb 2 px, no depth-edge mask): more of them keep a flow
    np.testing.assert_array_equal(former["edge_px"], r["edge_px"])
    assert former["valid"].sum() > v.sum()
    rows = binned(r, "edge_px", (0.0, 4.0, np.inf))
    assert sum(row["points"] for row in rows) <= n
    assert all(0 <= row["drop_percent"] <= 100 for row in rows)
    s = summary(r)
    assert s["kept"] == v.sum() and s["drop_percent"] == pytest.approx(100 * (1 - v.mean()))


def _synthetic_records(model: FlowErrorModel, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    edge, motion_mm, depth = rng.exponential(15.0, n), rng.exponential(8.0, n), rng.uniform(0.4, 2.5, n)
    rec = {"edge_px": edge, "motion_mm": motion_mm, "depth_m": depth, "sequences": 3, "jobs": 4}
    sim = simulate(model, rec, seed)
    return rec | {"err": sim["err"], "valid": sim["valid"], "along_ray": sim["err"][:, 2]}


def test_refit_from_saved_records_recovers_the_model(tmp_path):
    truth = FlowErrorModel(drop_b0=-2.0, drop_edge_bins=(3.0, 2.0, 1.0, 0.5, 0.0), drop_depth=0.2, drop_motion=0.3)
    recs = {"textured": {"current": _synthetic_records(truth, 30_000, 1)}}
    save_records(str(tmp_path / "r.npz"), recs, {"frames": 8})
    back, run = load_records(str(tmp_path / "r.npz"), ["textured"])
    assert run == {"frames": 8} and back["textured"]["current"]["sequences"] == 3
    np.testing.assert_array_equal(back["textured"]["current"]["valid"], recs["textured"]["current"]["valid"])
    out = tmp_path / "fit.json"
    fixture = tmp_path / "fx_{surface}.npz"
    rc = main(["--from-npz", str(tmp_path / "r.npz"), "--surfaces", "textured", "--json", str(out),
               "--fixture", str(fixture), "--fixture-points", "500"])  # fmt: skip
    assert rc == 0
    rep = json.loads(out.read_text())["surfaces"]["textured"]
    fit = FlowErrorModel(**rep["model"])
    np.testing.assert_allclose(fit.drop_edge_bins, truth.drop_edge_bins, atol=0.5)
    assert abs(fit.b_edge - truth.b_edge) < 0.6
    meas, refit = rep["summary"]["measured"], rep["summary"]["model refit"]
    assert abs(meas["drop_percent"] - refit["drop_percent"]) < 2.0
    assert abs(meas["median_mm"] - refit["median_mm"]) < 0.2 * meas["median_mm"]
    fx = np.load(tmp_path / "fx_textured.npz")
    assert len(fx["error_mm"]) == 500 and np.all(np.isnan(fx["error_mm"][~fx["valid"]]))
    # a file without the asked surface option is a clear error, not a crash
    assert main(["--from-npz", str(tmp_path / "r.npz"), "--surfaces", "lacquer"]) == 2


def test_fit_refuses_too_little_data():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="too few points"):
        fit_flow_error_model(rng.normal(0, 0.001, (100, 3)), np.zeros(100), np.ones(100), np.ones(100), np.ones(100))
