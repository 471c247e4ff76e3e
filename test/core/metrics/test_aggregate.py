"""sim2art_core.metrics.aggregate: per-category tables, hand-computed."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from sim2art_core.metrics.aggregate import MEAN, TABLE_METRICS, aggregate, to_csv, to_markdown
from sim2art_core.metrics.joint_metrics import JointErrors
from sim2art_core.metrics.sample import SampleMetrics
from sim2art_core.types import EstimateStatus, JointType

nan = float("nan")


def joint(angle, pos=nan, rot=nan, trans=nan, correct=True, status="ok", t=JointType.REVOLUTE):
    return JointErrors(t, t, status, angle, pos, pos, rot, trans, rot, trans, correct)


def sm(cat, miou, joints, status=EstimateStatus.OK):
    return SampleMetrics(f"{cat}-0", cat, status, miou, np.array([miou]), tuple(joints), 2)


@pytest.fixture
def table():
    samples = [
        sm("Laptop", 0.8, [joint(2.0, pos=4.0, rot=10.0)]),
        sm("Laptop", 0.6, [joint(4.0, pos=6.0, rot=20.0, correct=False)]),
        sm("Box", 1.0, [joint(1.0, trans=3.0, t=JointType.PRISMATIC), joint(3.0, pos=2.0, rot=5.0)]),
        sm("Box", 0.0, [joint(90.0, pos=100.0, rot=30.0, correct=False, status="missed")], EstimateStatus.FAILED),
    ]
    return aggregate(samples, "m")


def test_category_cells_average_samples_and_joints(table):
    c = table.cells
    assert table.columns == ("Box", "Laptop", MEAN, "All")  # paper order: Box before Laptop
    assert c["miou"]["Laptop"].mean == pytest.approx(0.7) and c["miou"]["Laptop"].std == pytest.approx(0.1)
    assert c["axis_angle_deg"]["Box"].mean == pytest.approx((1 + 3 + 90) / 3)
    assert c["axis_position_cm"]["Box"].count == 2  # the prismatic joint has no position error
    assert c["part_translation_cm"]["Laptop"].count == 0
    assert c["type_accuracy"]["Laptop"].mean == pytest.approx(50.0)
    assert c["failed"]["Box"].mean == pytest.approx(50.0)
    assert c["missed_joints"]["All"].mean == pytest.approx(20.0)


def test_mean_column_is_mean_of_categories_and_all_is_pooled(table):
    c = table.cells["axis_angle_deg"]
    assert c[MEAN].mean == pytest.approx(((1 + 3 + 90) / 3 + 3.0) / 2)
    assert c["All"].mean == pytest.approx((2 + 4 + 1 + 3 + 90) / 5)
    assert table.num_samples == {"Box": 2, "Laptop": 2, MEAN: 2, "All": 4}


def test_markdown_and_csv_outputs(table):
    md = to_markdown([table], TABLE_METRICS)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| Metric | Method | Box | Laptop | Mean | All |")
    assert any(line.startswith("| Part Translation (cm) ↓ | m | 3.00 ± 0.00 | - |") for line in lines)
    rows = list(csv.DictReader(io.StringIO(to_csv([table]))))
    miou_box = next(r for r in rows if r["metric"] == "miou" and r["column"] == "Box")
    assert float(miou_box["mean"]) == pytest.approx(0.5) and int(miou_box["count"]) == 2
