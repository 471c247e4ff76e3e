"""Metrics: the paper's measures (§4.2) on plain arrays and on one estimated sample, part matching and
per-category aggregation. No drivers here: evaluation runs live in :mod:`sim2art_core.eval`, benchmark
drivers in :mod:`sim2art_core.benchmarks` (conventions and definitions: docs/EVALUATION.md).

* :mod:`~sim2art_core.metrics.joint_metrics`: one joint on plain arrays (also used by the bag evaluation).
* :mod:`~sim2art_core.metrics.matching`: Hungarian matching of predicted to ground-truth parts, mIoU.
* :mod:`~sim2art_core.metrics.sample`: :func:`evaluate_sample` (SequenceSample + ArticulationEstimate).
* :mod:`~sim2art_core.metrics.aggregate`: per-category tables (Markdown/CSV) like the paper's Table 2.
"""

from sim2art_core.metrics.aggregate import MethodTable, aggregate, to_csv, to_markdown
from sim2art_core.metrics.joint_metrics import JointErrors, JointParams, WorstCase, evaluate_joint
from sim2art_core.metrics.matching import PartMatching, match_parts
from sim2art_core.metrics.sample import EvalConfig, SampleMetrics, evaluate_sample

__all__ = [
    "EvalConfig", "JointErrors", "JointParams", "MethodTable", "PartMatching", "SampleMetrics", "WorstCase",
    "aggregate", "evaluate_joint", "evaluate_sample", "match_parts", "to_csv", "to_markdown",
]  # fmt: skip
