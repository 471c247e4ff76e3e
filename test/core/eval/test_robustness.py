"""sim2art_core.eval.robustness: condition x method tables and the cost columns, hand-computed."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from sim2art_core.eval.robustness import (
    ConditionSummary,
    robustness_csv,
    robustness_markdown,
    side_by_side_markdown,
)
from sim2art_core.metrics.aggregate import aggregate
from sim2art_core.metrics.joint_metrics import JointErrors
from sim2art_core.metrics.sample import SampleMetrics
from sim2art_core.types import EstimateStatus, JointType


def sm(cat: str, miou: float, angle: float) -> SampleMetrics:
    j = JointErrors(JointType.REVOLUTE, JointType.REVOLUTE, "ok", angle, 1.0, 1.0, 2.0, float("nan"), 2.0,
                    float("nan"), True)  # fmt: skip
    return SampleMetrics(f"{cat}-0", cat, EstimateStatus.OK, miou, np.array([miou]), (j,), 2)


def tables(offset: float) -> list:
    return [
        aggregate([sm("Box", 0.9 - offset, 2.0 + 10 * offset), sm("Laptop", 0.7 - offset, 4.0)], "sim2art"),
        aggregate([sm("Box", 0.5, 30.0), sm("Laptop", 0.3, 40.0 + 10 * offset)], "featclust"),
        aggregate([sm("Box", 0.6, 20.0), sm("Laptop", 0.4, 10.0)], "sim2art-norefine"),
    ]


@pytest.fixture
def by_condition():
    return {"gt-flow": tables(0.0), "optical-flow": tables(0.1), "realism": tables(0.2)}


def test_robustness_table_reports_means_and_costs(by_condition):
    summary = ConditionSummary(2, 0, 1, 3.2, 2.1, 0.9, {"sim2art": 12.0})
    md = robustness_markdown(by_condition, {c: summary for c in by_condition})
    lines = md.splitlines()
    assert lines[0] == "| Metric | Method | gt-flow | optical-flow | Δ optical-flow | realism | Δ realism |"
    # sim2art mIoU: mean of the category means 0.8 -> 0.7 (optical flow) -> 0.6 (realism)
    assert "| mIoU ↑ | sim2art | 0.80 | 0.70 | -0.10 | 0.60 | -0.20 |" in lines
    # featclust axis: (30 + 40) / 2 = 35 -> (30 + 41) / 2 = 35.5 -> 36
    assert "| Axis Ang (°) ↓ | featclust | 35.00 | 35.50 | +0.50 | 36.00 | +1.00 |" in lines
    assert "| camera path differs from the dataset's | 1 | 1 | 1 |" in lines
    assert "| sim2art: ms per window | 12.00 | 12.00 | 12.00 |" in lines
    rows = list(csv.DictReader(io.StringIO(robustness_csv(by_condition))))
    r = next(x for x in rows if x["condition"] == "realism" and x["metric"] == "miou" and x["method"] == "sim2art")
    assert float(r["mean"]) == pytest.approx(0.6) and float(r["delta"]) == pytest.approx(-0.2)


def test_side_by_side_has_issue_8_layout(by_condition):
    lines = side_by_side_markdown(by_condition).splitlines()
    assert lines[0].startswith("| Metric | (a) ground-truth flow: network only | (a) ground-truth flow: network + ")
    assert lines[0].count("|") == 11  # metric + 3 conditions x 3 methods
    # condition (b) = optical flow, columns network only (sim2art-norefine), + refinement (sim2art), FeatClust
    miou = next(line for line in lines if line.startswith("| mIoU"))
    assert miou == "| mIoU ↑ | 0.50 | 0.80 | 0.40 | 0.50 | 0.70 | 0.40 | 0.50 | 0.60 | 0.40 |"
    assert "needs" in side_by_side_markdown({"realism+optical-flow": tables(0.0)})
