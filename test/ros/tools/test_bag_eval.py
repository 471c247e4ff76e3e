"""sim2art-bag-eval end to end on a folder of two tiny rendered bags (one with ground truth, one without).

The real perception node runs in its own process with a tiny randomly initialised
checkpoint: this checks the plumbing (node start, replay with /clock, recording,
scoring, report), not the accuracy of a trained model (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.metrics.sample import gt_joint_params
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.types import EstimateStatus
from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.writer import write_bag
from sim2art_ros.tools.bag_eval import main

T = 8


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    cfg = preset("tiny", num_frames=T, num_points=64)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(cfg), cfg)


def sample_truth(sample, frames) -> ArticulationEstimate:
    """The sample's joints in its world frame, one amount per frame stamp (test scaffolding for the bag)."""
    joints = []
    for p in range(1, sample.num_parts):
        g = gt_joint_params(sample, p)
        joints.append(
            JointEstimate(
                child=p,
                parent=0,
                type=g.type,
                type_probs=np.eye(3)[int(g.type)],
                axis=g.axis,
                origin=g.pivot,
                amounts=g.amounts,
                confidence=1.0,
                source="ground_truth",
            )  # fmt: skip
        )
    box = (np.zeros(3), -np.ones(3), np.ones(3))
    parts = tuple(PartEstimate(p, p == 0, 1, *box, 1.0) for p in range(sample.num_parts))
    stamps = np.array([f.stamp_ns for f in frames[: sample.num_frames]], dtype=np.int64)
    return ArticulationEstimate(
        EstimateStatus.OK, "world", stamps, np.zeros((len(stamps), 0), np.int16), parts, tuple(joints)
    )


def test_bag_eval_reports_a_folder_of_bags(tmp_path, tiny_checkpoint):
    sample, frames = generate_sequence("Storage1", 0, 0, SequenceConfig(num_frames=T, width=96, height=72), True)
    bags = tmp_path / "bags"
    write_bag(bags / "with_truth", frames, sample_truth(sample, frames))
    write_bag(bags / "no_truth", frames)
    out = tmp_path / "report"
    rc = main([
        str(bags), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "-q", "--drain-timeout", "30",
        "--domain-id", "auto",  # node and replay on a private domain: still finds each other
        "--node-arg=-p", "--node-arg=keyframe_period_s:=0.0", "--node-arg=-p", "--node-arg=rate_hz:=5.0",
    ])  # fmt: skip
    assert rc == 0
    md = (out / "report.md").read_text()
    assert "## with_truth" in md and "## no_truth" in md and "No ground truth in this bag" in md
    assert "| bag | images |" in md and "![axes](with_truth/axes.png)" in md
    res = json.loads((out / "results.json").read_text())
    by_name = {b["name"]: b for b in res["bags"]}
    assert by_name["with_truth"]["has_ground_truth"] and not by_name["no_truth"]["has_ground_truth"]
    moving = int(sample.part_moving[1:].sum())
    for name, b in by_name.items():
        assert b["images_sent"] == T + 1
        assert len(b["estimates"]) >= 1, name  # the full window of the bag was estimated
        assert b["latency_ms"]["n"] == len(b["estimates"]) and b["latency_ms"]["median"] > 0
        assert all(e["status"] in ("OK", "NO_ARTICULATION", "FAILED") for e in b["estimates"])
        assert (out / name / "axes.png").stat().st_size > 10_000
        assert (out / name / "latency.png").stat().st_size > 10_000
        # the recording is a bag of its own, holding every estimate that was scored
        recorded = {t.name: t.count for t in bag_io.check_bag(out / name / "recorded")}
        assert recorded["/articulation"] == len(b["estimates"])
    final = by_name["with_truth"]["estimates"][-1]
    assert len(final["joints"]) == moving  # one scored row per moving true joint
    assert len(final["states_at_last_frame"]) == moving
    assert all(s["error"] is None or s["error"] >= 0.0 for s in final["states_at_last_frame"])
    assert "by_category" in res and (out / "by_category.png").stat().st_size > 10_000
    assert 0.0 <= final["accuracy_type_accuracy"] <= 1.0
    assert all(0.0 <= j["axis_angle_deg"] <= 90.0 for j in final["joints"])
    assert by_name["no_truth"]["estimates"][-1]["joints"] == []


def test_bag_eval_names_a_missing_bag(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_domain_id_option_is_checked(tmp_path, capsys):
    from sim2art_ros.tools.bag_eval import parse_domain_id, private_domain_id

    assert parse_domain_id(None) is None and parse_domain_id("7") == 7 and 1 <= parse_domain_id("auto") <= 101
    assert private_domain_id(3) == private_domain_id(3)
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "-q", "--domain-id", "999"]) == 2
    assert "--domain-id must be" in capsys.readouterr().err


class _Rec:
    def __init__(self, stamp: int):
        self.raw = stamp  # the fake header_stamp_ns below reads the stamp straight from raw


class _FakeRecorder:
    """The final estimate arrives at clock tick 3, its cloud at tick ``cloud_at`` (None: never)."""

    def __init__(self, cloud_at: int | None):
        self.tick, self.cloud_at = 0, cloud_at

    def count(self, topic):
        return 0

    def records(self, topic):
        if topic == "/articulation":
            return [_Rec(100)] if self.tick >= 3 else []
        return [_Rec(100)] if self.cloud_at is not None and self.tick >= self.cloud_at else []


class _FakePlayer:
    """continue_clock as the BagPlayer's: one tick every 10 ms until ``until()`` or the timeout."""

    def __init__(self, rec: _FakeRecorder):
        self.rec = rec

    def continue_clock(self, until, timeout_s):
        import time

        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            self.rec.tick += 1
            if until():
                return True
            time.sleep(0.01)
        return False


@pytest.mark.parametrize("cloud_at", [6, None])
def test_drain_waits_for_the_final_estimates_cloud_but_not_forever(monkeypatch, cloud_at):
    import sim2art_ros.tools.bag_eval as be

    monkeypatch.setattr(be.bag_io, "header_stamp_ns", lambda raw: int(raw))
    monkeypatch.setattr(be, "CLOUD_GRACE_S", 0.3)
    rec = _FakeRecorder(cloud_at)
    t0 = be.time.monotonic()
    be._drain(_FakePlayer(rec), rec, "/articulation", [50, 100, 150], be.EvalOptions(), be.CLOUD_TOPIC)
    waited = be.time.monotonic() - t0
    if cloud_at is not None:
        assert rec.tick == cloud_at, "done as soon as the final estimate's cloud arrived, not before"
    else:
        assert 0.3 <= waited < 3.0, "no cloud: waited the grace period, then stopped (not the drain timeout)"
    rec2 = _FakeRecorder(None)
    be._drain(_FakePlayer(rec2), rec2, "/articulation", [50, 100, 150], be.EvalOptions(), "")
    assert rec2.tick == 3, "no cloud recorded: done at the final estimate"
