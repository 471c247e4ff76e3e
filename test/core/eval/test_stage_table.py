"""scripts/stage_table.py: issue 11's per-stage table from hand-written eval folders, hand-computed values."""

from __future__ import annotations

import csv
import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "stage_table.py"


@pytest.fixture(scope="module")
def mod():
    return runpy.run_path(str(SCRIPT))


def _write(folder: Path) -> None:
    folder.mkdir()
    rows = [["metric", "method", "column", "mean", "std", "count"]]
    values = {  # method -> (miou, axis) for column Box; the Mean column is the same
        "sim2art-norefine": (0.8, 10.0),
        "sim2art": (0.8, 5.0),  # better axis, equal mIoU: nothing bold
        "sim2art-motionseg": (0.7, 12.0),  # both worse: bold
    }
    for method, (miou, axis) in values.items():
        for column in ("Box", "Mean"):
            rows.append(["miou", method, column, str(miou), "0", "1"])
            rows.append(["axis_angle_deg", method, column, str(axis), "0", "1"])
    with open(folder / "table.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    head = ["method", "object_id", "category", "gt_part", "status"]
    joints = [head, ["sim2art-norefine", "Box-1", "Box", "1", "ok"], ["sim2art", "Box-1", "Box", "1", "ok"],
              ["sim2art-motionseg", "Box-1", "Box", "1", "missed"]]  # fmt: skip
    with open(folder / "joints.csv", "w", newline="") as f:
        csv.writer(f).writerows(joints)
    # two samples of one object: 1 + 2 predicted joints, 1 matched -> 2 spurious / 2 samples = 1.0 (motionseg:
    # 3 predicted, 0 matched -> 1.5); norefine / sim2art: 1 + 0 predicted, 1 matched -> 0
    # (num_joints: the scored ground-truth joints, 1 each, which must not be taken for predicted ones)
    samples = [["method", "object_id", "category", "num_joints", "num_pred_joints"]]
    for method, counts in {"sim2art-norefine": (1, 0), "sim2art": (1, 0), "sim2art-motionseg": (1, 2)}.items():
        samples += [[method, "Box-1", "Box", "1", str(n)] for n in counts]
    with open(folder / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(samples)


def test_spurious_joints_per_sample_by_category(mod, tmp_path):
    _write(tmp_path / "c")
    data = mod["load"](tmp_path / "c")
    assert data["sim2art-norefine"]["Box"]["spurious"] == 0.0
    assert data["sim2art-motionseg"]["Box"]["spurious"] == 1.5
    assert data["sim2art-motionseg"]["Mean"]["spurious"] == 1.5


def test_old_folders_count_predicted_joints_from_the_parts(mod):
    assert mod["predicted_joints"]({"num_joints": "3", "num_pred_parts": "5"}) == 4
    assert mod["predicted_joints"]({"num_joints": "3", "num_pred_parts": "5", "num_pred_joints": "2"}) == 2
    assert mod["predicted_joints"]({"num_joints": "1", "num_pred_parts": "0"}) == 0  # a failed estimate


def test_values_worse_than_network_only_are_bold_and_counted(mod, tmp_path):
    _write(tmp_path / "c")
    md = mod["condition_markdown"]("gt-flow", mod["load"](tmp_path / "c"))
    mean_rows = {
        ln.split(" | ")[0]: ln for ln in md.splitlines() if ln.startswith("| mIoU") or ln.startswith("| axis (")
    }
    assert mean_rows["| mIoU ↑"] == "| mIoU ↑ | 0.800 | 0.800 | **0.700** |"
    assert mean_rows["| axis (°) ↓"] == "| axis (°) ↓ | 10.0 | 5.0 | **12.0** |"
    box = next(ln for ln in md.splitlines() if ln.startswith("| Box |"))
    assert "**0.700** / **12.0**" in box and "0.800 / 5.0" in box
    count = next(ln for ln in md.splitlines() if ln.startswith("| (category cells worse"))
    assert count.endswith("| - | 0 | 3 |")  # motionseg: mIoU, axis, spurious


def test_bad_arguments_print_the_usage(mod, capsys):
    assert mod["main"](["no-equals-sign"]) == 2
    assert "stage_table.py" in capsys.readouterr().err


def test_extra_stage_is_a_column_after_the_shipped_refinement(mod, tmp_path, capsys):
    _write(tmp_path / "c")
    # the motionseg rows stand for a --refine-grid variant here: any method of the folder can be a column
    assert mod["main"](["--stage", "sim2art-motionseg=+ refinement, old gate", f"gt-flow={tmp_path / 'c'}"]) == 0
    md = capsys.readouterr().out
    head = next(ln for ln in md.splitlines() if ln.startswith("| metric |"))
    assert head == "| metric | network only | + refinement (shipped) | + refinement, old gate |"
    assert mod["main"](["--stage", "no-heading", f"gt-flow={tmp_path / 'c'}"]) == 2
