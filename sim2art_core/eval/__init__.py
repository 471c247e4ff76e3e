"""Evaluation: the paper's metrics (§4.2), part matching, aggregation and exact-geometry test scenes.

Conventions and definitions: docs/EVALUATION.md.
"""
