"""sim2art-train end to end on a tiny config: files, log, resume, estimator-loadable weights."""

from __future__ import annotations

import csv

import numpy as np
import torch

from sim2art_core.data.to_window import window_from_sample
from sim2art_core.estimator import Estimator
from sim2art_core.model.checkpoint import read_checkpoint
from sim2art_core.train.analytic import analytic_sample
from sim2art_core.train.cli import main
from sim2art_core.train.metrics import part_iou
from sim2art_core.train.plot import read_log

ARGS = ["--data", "analytic", "--preset", "tiny", "--set", "num_frames=4", "--set", "num_points=48",
        "--val-samples", "4", "--log-every", "2", "--val-every", "4", "--ckpt-every", "4", "--quiet"]  # fmt: skip


def test_tiny_training_run_resume_and_estimator(tmp_path):
    out = tmp_path / "run"
    assert main([*ARGS, "--steps", "4", "--out", str(out), "--plot"]) == 0
    for name in ("log.csv", "last.pt", "best.pt", "final.pt", "curves.png"):
        assert (out / name).is_file(), name
    log = read_log(out / "log.csv")
    assert [r["step"] for r in log["train"]] == [2, 4] and [r["step"] for r in log["val"]] == [4]
    assert {"miou", "axis_err_deg", "loss"} <= set(log["val"][0])
    assert all(np.isfinite(r["loss"]) for r in log["train"])
    # resume continues the step count and appends to the same log
    assert main([*ARGS, "--steps", "6", "--out", str(out), "--resume", "auto"]) == 0
    with open(out / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["kind"] == "train"]
    assert steps == [2, 4, 6]
    est = Estimator(out / "final.pt", "cpu")
    result = est.estimate(window_from_sample(analytic_sample("revolute", 0, 4, 48)))
    assert result.labels.shape == (4, 48)
    assert not (out / "val").exists()  # only on request


def test_validation_checkpoints_are_kept_on_request(tmp_path):
    out = tmp_path / "run"
    assert main([*ARGS, "--steps", "8", "--out", str(out), "--keep-val-checkpoints"]) == 0
    kept = sorted(p.name for p in (out / "val").iterdir())
    assert kept == ["step_000004.pt", "step_000008.pt"]
    w4 = read_checkpoint(out / "val" / "step_000004.pt")
    w8, final = read_checkpoint(out / "val" / "step_000008.pt"), read_checkpoint(out / "final.pt")
    assert w4["train"]["step"] == 4 and w8["train"]["step"] == 8 and "optimizer" not in w4
    assert all(torch.equal(w8["state_dict"][k], final["state_dict"][k]) for k in final["state_dict"])
    assert not all(torch.equal(w4["state_dict"][k], w8["state_dict"][k]) for k in w8["state_dict"])
    assert Estimator(out / "val" / "step_000004.pt", "cpu").num_frames == 4


def test_bad_arguments_are_reported(tmp_path, capsys):
    assert main(["--set", "dim=abc", "--out", str(tmp_path)]) == 2
    assert "invalid literal" in capsys.readouterr().err
    assert main(["--set", "nonsense=1", "--out", str(tmp_path)]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path), "--quiet"]) == 2
    assert "neither a dataset directory" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*ARGS, "--steps", "1", "--out", str(tmp_path / "c"), "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_part_iou_is_label_permutation_invariant():
    gt = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[5, 5, 3, 3, 3, 3]])
    miou, moving = part_iou(pred, gt)
    assert np.isclose(miou, (1 + 0.5 + 0) / 3) and np.isclose(moving, 0.25)
    assert part_iou(np.array([[7, 7, 9, 9, 4, 4]]), gt) == (1.0, 1.0)


def test_init_starts_from_given_weights_with_a_fresh_optimiser(tmp_path):
    from sim2art_core.model.checkpoint import read_checkpoint

    base = tmp_path / "base"
    assert main([*ARGS, "--steps", "2", "--out", str(base)]) == 0
    tiny_lr = ["--lr", "1e-12", "--warmup", "1"]
    assert main([*ARGS, *tiny_lr, "--steps", "2", "--out", str(tmp_path / "a"), "--init", str(base / "final.pt")]) == 0
    assert main([*ARGS, *tiny_lr, "--steps", "2", "--out", str(tmp_path / "b"), "--seed", "5"]) == 0
    w0 = read_checkpoint(base / "final.pt")["state_dict"]
    wa = read_checkpoint(tmp_path / "a" / "final.pt")["state_dict"]
    wb = read_checkpoint(tmp_path / "b" / "final.pt")["state_dict"]
    assert all(torch.allclose(w0[k].float(), wa[k].float(), atol=1e-6) for k in w0)
    assert not all(torch.allclose(w0[k].float(), wb[k].float(), atol=1e-6) for k in w0)
    assert read_checkpoint(tmp_path / "a" / "last.pt")["train"]["step"] == 2  # its own schedule from step 0
