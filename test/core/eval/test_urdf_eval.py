"""sim2art-eval --urdf-dir: evaluate on objects from outside the generator (odd URDF fixtures), every condition."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig
from sim2art_core.eval.cli import main
from sim2art_core.eval.conditions import ConditionConfig, make_item, regenerate_procedural, same_joint_ground_truth
from sim2art_core.eval.urdf_set import UrdfSamples, find_urdfs, urdf_label

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "urdf_odd"
TINY = SequenceConfig(num_frames=3, num_points=96, width=64, height=48)

BAD = """<?xml version="1.0"?>
<robot name="floater"><link name="a"><visual><geometry><box size="0.1 0.1 0.1"/></geometry></visual></link>
<link name="b"><visual><geometry><box size="0.1 0.1 0.1"/></geometry></visual></link>
<joint name="j" type="floating"><parent link="a"/><child link="b"/></joint></robot>
"""


@pytest.fixture
def folder(tmp_path):
    """The fixtures in nested folders (PartNet-like mobility.urdf too) plus one unusable URDF."""
    root = tmp_path / "lab"
    for p in find_urdfs(FIXTURES):
        target = root / ("wardrobes/tall/mobility.urdf" if p.stem == "tall_wardrobe" else p.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    (root / "broken.urdf").write_text(BAD)
    return root


def test_labels_and_bad_files_are_skipped_with_the_reason(folder):
    assert urdf_label(folder / "wardrobes/tall/mobility.urdf", folder) == "wardrobes-tall"
    s = UrdfSamples(folder, TINY, sequences=2, seed=1, progress=False)
    assert len(s) == 3 * 2
    assert {x.category for x in s.samples} == {"bottom_hinged_box", "door_over_drawer", "wardrobes-tall"}
    assert list(s.skipped) == [str(folder / "broken.urdf")] and "floating" in s.skipped[str(folder / "broken.urdf")]
    seeds = [x.sequence_seed for x in s.samples]
    assert len(set(seeds)) == len(seeds)  # distinct sequences
    again = UrdfSamples(folder, TINY, sequences=2, seed=1, progress=False)
    assert [x.sequence_seed for x in again.samples] == seeds and again.index == s.index
    (folder / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.urdf"):
        UrdfSamples(folder / "empty", TINY)


def test_optical_flow_items_of_urdf_objects(folder):
    s = UrdfSamples(folder, TINY, sequences=1, seed=0, progress=False)
    sample = next(x for x in s.samples if x.category == "door_over_drawer")
    with pytest.raises(ValueError, match="not procedural"):
        make_item(sample, "optical-flow", s.config, ConditionConfig(width=128, height=96))
    item = make_item(sample, "optical-flow", s.config, ConditionConfig(width=128, height=96), s.regenerate)
    assert item.window is not None, item.note
    assert item.window.points.shape == (3, 96, 3) and item.valid.mean() > 0.5
    assert item.gt_matches_dataset and same_joint_ground_truth(item.sample, sample)
    # the labels come from the rendered part masks: drawer (1) and door (2) both appear
    assert set(np.unique(item.sample.labels[item.valid])) >= {0, 1, 2}
    realism = make_item(sample, "realism", s.config, None, s.regenerate)
    assert realism.window is not None and realism.sample.realism != "{}"
    with pytest.raises(ValueError, match="not procedural"):
        regenerate_procedural(sample, s.config, False)


def test_cli_urdf_dir_runs_every_condition_end_to_end(folder, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--urdf-dir", str(folder), "--sequences-per-urdf", "1", "--frames", "3", "--points", "96",
            "--render-size", "64x48", "--flow-resolution", "128x96", "--methods", "gtseg-refine,featclust",
            "--conditions", "gt-flow,realism,optical-flow,realism+optical-flow", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert "skipped" in capsys.readouterr().err
    md = (out / "robustness.md").read_text()
    assert "| mIoU ↑ | gtseg-refine | 1.00 |" in md  # the true labels under every condition's own GT
    table = (out / "optical-flow" / "table.md").read_text()
    for label in ("bottom_hinged_box", "door_over_drawer", "wardrobes-tall"):
        assert label in table  # one column per URDF
    items = list(csv.DictReader(open(out / "items.csv")))
    assert len(items) == 4 * 3
    flow_items = [r for r in items if "optical-flow" in r["condition"]]
    assert len(flow_items) == 6 and sum(r["has_window"] == "True" for r in flow_items) >= 5
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["urdf_set"]["files"]) == {"bottom_hinged_box", "door_over_drawer", "wardrobes-tall", "broken"}
    assert list(summary["urdf_set"]["skipped"]) == [str(folder / "broken.urdf")]


def test_cli_urdf_errors(tmp_path, capsys):
    assert main(["--urdf-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "URDF folder not found" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--frames", "3", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "only apply with --urdf-dir" in capsys.readouterr().err
