"""sim2art-eval end to end on a tiny generated dataset (FeatClust, oracle refinement, a tiny network)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from sim2art_core.data.dataset import write_dataset
from sim2art_core.data.generator import SequenceConfig
from sim2art_core.eval.cli import main
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    cfg = SequenceConfig(num_frames=6, num_points=192)
    write_dataset(root, categories=("Box", "Laptop"), objects_per_category=1, sequences_per_object=2, cfg=cfg,
                  progress=False)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = preset("tiny", num_frames=6, num_points=64)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(cfg), cfg)


def test_cli_writes_tables_csvs_and_charts(dataset, checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(["--data", str(dataset), "--split", "train", "--methods", "gtseg-refine,featclust,sim2art",
               "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0
    md = (out / "table.md").read_text()
    assert "| Metric | Method | Box | Laptop | Mean | All |" in md
    assert "| Axis Ang (°) ↓ | gtseg-refine |" in md and "| mIoU ↑ | featclust |" in md
    samples = list(csv.DictReader(open(out / "samples.csv")))
    assert len(samples) == 3 * 4 and {r["method"] for r in samples} == {"gtseg-refine", "featclust", "sim2art"}
    oracle = [r for r in samples if r["method"] == "gtseg-refine"]
    assert all(float(r["miou"]) == 1.0 for r in oracle)
    # predicted joints (spurious = predicted - matched), not the scored ground-truth ones (num_joints)
    assert all(int(r["num_pred_joints"]) >= int(r["num_joints"]) for r in oracle)
    ours = [r for r in samples if r["method"] == "sim2art" and r["status"] == "OK"]
    assert all(int(r["num_pred_joints"]) == int(r["num_pred_parts"]) - 1 for r in ours)  # a joint per moving part
    joints = list(csv.DictReader(open(out / "joints.csv")))
    oracle_joints = [j for j in joints if j["method"] == "gtseg-refine"]
    assert oracle_joints and all(float(j["axis_angle_deg"]) < 1.0 for j in oracle_joints)  # exact flow
    assert (out / "bars.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_samples"] == {"gtseg-refine": 4, "featclust": 4, "sim2art": 4}
    assert "Mean time per window" in capsys.readouterr().out


def test_cli_category_filter_and_caps(dataset, tmp_path):
    out = tmp_path / "eval"
    rc = main(["--data", str(dataset), "--split", "train", "--methods", "gtseg-refine", "--categories", "Laptop",
               "--per-category", "1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0
    rows = list(csv.DictReader(open(out / "samples.csv")))
    assert [r["category"] for r in rows] == ["Laptop"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "nope"], "unknown method"),
        (["--methods", "sim2art", "--checkpoint", "/nonexistent/x.pt"], "x.pt"),
        (["--split", "holdout"], "no split"),
    ],
)
def test_cli_bad_arguments_exit_2_with_a_message(dataset, tmp_path, capsys, extra, message):
    rc = main(["--data", str(dataset), "--split", "train", "--out", str(tmp_path), "--no-progress", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_cli_conditions_write_robustness_tables_and_reuse_windows(dataset, checkpoint, tmp_path):
    out = tmp_path / "eval"
    args = ["--data", str(dataset), "--split", "train", "--methods", "sim2art-norefine,gtseg-refine",
            "--conditions", "gt-flow,realism,optical-flow", "--flow-resolution", "160x120", "--checkpoint",
            str(checkpoint), "--device", "cpu", "--out", str(out), "--no-progress", "--per-category", "1",
            "--refine-grid", "max_fit_residual_m=0.005,0.02"]  # fmt: skip
    assert main(args) == 0
    for cond in ("gt-flow", "realism", "optical-flow"):
        rows = list(csv.DictReader(open(out / cond / "samples.csv")))
        methods = {r["method"] for r in rows}
        assert methods == {"sim2art-norefine", "gtseg-refine", "sim2art[max_fit_residual_m=0.005]",
                           "sim2art[max_fit_residual_m=0.02]"}  # fmt: skip
        assert len(rows) == 2 * 4  # 2 samples (Box, Laptop) x 4 methods
    md = (out / "robustness.md").read_text()
    assert "| Metric | Method | gt-flow | realism | Δ realism | optical-flow | Δ optical-flow |" in md
    assert "| mIoU ↑ | gtseg-refine | 1.00 |" in md  # true labels score 1 under every condition's own GT
    assert "## Side by side (issue 8)" in md and "scene-flow error, moving parts" in md
    items = list(csv.DictReader(open(out / "items.csv")))
    assert len(items) == 3 * 2 and all(r["has_window"] == "True" for r in items)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoint_sha256"] and len(summary["checkpoint_sha256"]) == 64
    assert set(summary["conditions"]) == {"gt-flow", "realism", "optical-flow"}
    cached = sorted((out / "cache").rglob("*.npz"))
    assert len(cached) == 2 * 2  # realism + optical-flow, 2 samples each; gt-flow is the dataset itself
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert main([*args, "--methods", "gtseg-refine"]) == 0  # second run: windows from the cache
    assert [p.stat().st_mtime_ns for p in cached] == stamps


def test_cli_refine_set_and_condition_errors(dataset, tmp_path, capsys):
    base = ["--data", str(dataset), "--split", "train", "--out", str(tmp_path), "--no-progress"]
    assert main([*base, "--methods", "sim2art", "--refine-set", "no_such_field=1"]) == 2
    assert "no_such_field" in capsys.readouterr().err
    assert main([*base, "--conditions", "gt-flow,fog"]) == 2
    assert "fog" in capsys.readouterr().err


def test_items_without_a_window_fail_every_method_without_running_it(dataset):
    import math

    import numpy as np

    from sim2art_core.data.dataset import SequenceDataset
    from sim2art_core.eval.cli import evaluate_items, mean_ms
    from sim2art_core.eval.conditions import EvalItem

    sample = SequenceDataset(dataset, "train")[0]
    item = EvalItem("optical-flow", sample, None, np.ones(sample.labels.shape, bool), "preprocessing: frame 2")

    def never(sample, window):
        raise AssertionError("a method ran without a window")

    res = evaluate_items([item], {"a": never, "b": never}, progress=False)
    for rows in res.values():
        ((m, seconds),) = rows
        assert m.failed and m.miou == 0.0 and m.message == "preprocessing: frame 2"
        assert all(j.status == "missed" for j in m.joints) and math.isnan(seconds)
    assert math.isnan(mean_ms(res)["a"])


def test_cli_grid_method_runs_the_grid_on_the_named_method(dataset, checkpoint, tmp_path, capsys):
    out = tmp_path / "grid"
    args = ["--data", str(dataset), "--split", "train", "--methods", "sim2art-norefine", "--checkpoint",
            str(checkpoint), "--device", "cpu", "--out", str(out), "--no-progress", "--per-category", "1",
            "--grid-method", "sim2art-typecheck", "--refine-grid", "type_check_min_bic_margin=100,1e9"]  # fmt: skip
    assert main(args) == 0
    methods = {r["method"] for r in csv.DictReader(open(out / "samples.csv"))}
    assert methods == {"sim2art-norefine", "sim2art-typecheck[type_check_min_bic_margin=100]",
                       "sim2art-typecheck[type_check_min_bic_margin=1e+09]"}  # fmt: skip
    assert main([*args[:-4], "--grid-method", "nope", "--refine-grid", "type_check_min_bic_margin=1"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
