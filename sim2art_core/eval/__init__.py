"""Evaluation: the paper's metrics (§4.2), part matching, aggregation and exact-geometry test scenes.

Layers (conventions and definitions: docs/EVALUATION.md):

* :mod:`~sim2art_core.eval.joint_metrics`: one joint on plain arrays (also used by the bag evaluation).
* :mod:`~sim2art_core.eval.matching`: Hungarian matching of predicted to ground-truth parts, mIoU.
* :mod:`~sim2art_core.eval.sample`: :func:`evaluate_sample` (SequenceSample + ArticulationEstimate).
* :mod:`~sim2art_core.eval.aggregate`: per-category tables (Markdown/CSV) like the paper's Table 2.
"""

from sim2art_core.eval.aggregate import MethodTable, aggregate, to_csv, to_markdown
from sim2art_core.eval.joint_metrics import JointErrors, JointParams, WorstCase, evaluate_joint
from sim2art_core.eval.matching import PartMatching, match_parts
from sim2art_core.eval.sample import EvalConfig, SampleMetrics, evaluate_sample

__all__ = [
    "EvalConfig", "JointErrors", "JointParams", "MethodTable", "PartMatching", "SampleMetrics", "WorstCase",
    "aggregate", "evaluate_joint", "evaluate_sample", "match_parts", "to_csv", "to_markdown",
]  # fmt: skip
