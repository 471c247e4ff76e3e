"""Building the node's estimator from a module:attribute name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim2art_core.runtime.estimator_loader import EstimatorLoadError, load_estimator, parse_kwargs

sys.path.insert(0, str(Path(__file__).parents[2] / "ros" / "perception"))  # standin_estimators


def test_loads_a_standin_with_kwargs():
    est = load_estimator("standin_estimators:FixedAnswerEstimator", "", "cpu", '{"num_frames": 5, "num_points": 64}')
    assert (est.num_frames, est.num_points) == (5, 64)


@pytest.mark.parametrize(
    ("spec", "kwargs", "needle"),
    [
        ("standin_estimators", "", "must be 'module:attribute'"),
        ("no_such_module:X", "", "cannot import"),
        ("standin_estimators:Nope", "", "cannot import"),
        ("standin_estimators:FixedAnswerEstimator", '{"num_frames": 1}', "no valid 'num_frames'"),
        ("standin_estimators:FixedAnswerEstimator", '{"bogus": 1}', "failed to build"),
        ("standin_estimators:FixedAnswerEstimator", "[1, 2]", "JSON object"),
        ("standin_estimators:FixedAnswerEstimator", "{nope", "not valid JSON"),
    ],
)
def test_errors_name_the_problem(spec, kwargs, needle):
    with pytest.raises(EstimatorLoadError, match=needle):
        load_estimator(spec, "", "cpu", kwargs)


def test_parse_kwargs_empty():
    assert parse_kwargs("  ") == {}
