"""Benchmark drivers behind ``sim2art-benchmark`` (:mod:`~sim2art_core.benchmarks.cli`): latency, optical-flow
resolution / methods / error, refinement cost, URDF export, ablations, inference contention, and the
report that regenerates docs/BENCHMARKS.md (:mod:`~sim2art_core.benchmarks.report`). They run the
evaluation (:mod:`sim2art_core.eval`) and the metrics (:mod:`sim2art_core.metrics`); nothing here is
imported by the run-time path.
"""
