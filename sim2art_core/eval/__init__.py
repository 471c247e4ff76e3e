"""Evaluation runs: the methods behind one interface (:mod:`~sim2art_core.eval.methods`), the conditions
(ground-truth flow, realism, the run-time optical-flow path; :mod:`~sim2art_core.eval.conditions`), the
``sim2art-eval`` driver (:mod:`~sim2art_core.eval.cli`, also over a folder of URDFs), robustness and
consecutive-window tables, exact-geometry scenes and plots.

The metrics themselves are in :mod:`sim2art_core.metrics`; the benchmark drivers behind
``sim2art-benchmark`` (latency, flow, refinement, export, ablations, the BENCHMARKS.md report) in
:mod:`sim2art_core.benchmarks`.
"""
