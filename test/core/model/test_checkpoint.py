"""Checkpoint round trip and the errors of bad files."""

from __future__ import annotations

import pytest
import torch

from sim2art_core.model import build_model
from sim2art_core.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_reproduces_outputs(tmp_path, tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    model = build_model(tiny_cfg).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, tiny_cfg, train={"step": 7})
    loaded = load_checkpoint(path)
    assert loaded.config == tiny_cfg and loaded.train["step"] == 7 and len(loaded.digest) == 12
    with torch.no_grad():
        assert torch.equal(model(points, flow).part_logits, loaded.model(points, flow).part_logits)


def test_missing_corrupt_and_foreign_files_name_the_problem(tmp_path, tiny_cfg):
    with pytest.raises(CheckpointError, match="nope.pt: file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    path = save_checkpoint(tmp_path / "m.pt", build_model(tiny_cfg), tiny_cfg)
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt: cannot be read"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not a sim2art checkpoint"):
        load_checkpoint(foreign)


def test_weights_that_do_not_fit_the_config_are_rejected(tmp_path, tiny_cfg):
    path = tmp_path / "mismatch.pt"
    save_checkpoint(path, build_model(tiny_cfg.replace(dim=64, point_dim=48)), tiny_cfg)
    with pytest.raises(CheckpointError, match="mismatch.pt: weights do not match"):
        load_checkpoint(path)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["dim"] = 31
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="invalid model_config"):
        load_checkpoint(path)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(path)


def test_checkpoints_without_later_fields_keep_their_old_behaviour(tmp_path, tiny_cfg, tiny_batch):
    points, flow, _, _ = tiny_batch
    old_cfg = tiny_cfg.replace(relative_flow=False)
    model = build_model(old_cfg).eval()
    path = save_checkpoint(tmp_path / "old.pt", model, old_cfg)
    payload = torch.load(path, weights_only=True)
    del payload["model_config"]["relative_flow"]  # written before the field existed
    torch.save(payload, path)
    loaded = load_checkpoint(path)
    assert loaded.config.relative_flow is False
    with torch.no_grad():
        assert torch.equal(model(points, flow).part_logits, loaded.model(points, flow).part_logits)
