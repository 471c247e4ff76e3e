"""Build the node's estimator from a ``module:attribute`` name (injectable, like detectron2's ``locate``).

The default is the shipped network, ``sim2art_core.estimator:Estimator``. Any callable
``factory(checkpoint=..., device=..., **kwargs)`` returning a
:class:`~sim2art_core.estimate.WindowEstimator` (attributes ``num_frames``,
``num_points`` and ``estimate(window)``) can replace it: the integration tests run the
node with deterministic stand-ins this way, a user can plug in a baseline.
"""

from __future__ import annotations

import importlib
import json

DEFAULT_ESTIMATOR = "sim2art_core.estimator:Estimator"


class EstimatorLoadError(RuntimeError):
    """The estimator could not be built; the message says which step failed."""


def parse_kwargs(text: str) -> dict:
    """Extra factory arguments from a JSON object ("" = none)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise EstimatorLoadError(f"estimator_kwargs is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise EstimatorLoadError(f"estimator_kwargs must be a JSON object, got {type(value).__name__}")
    return value


def load_estimator(spec: str, checkpoint: str = "", device: str = "auto", kwargs_json: str = ""):
    """Import ``spec`` ("package.module:Factory") and build the estimator.

    Args:
        spec: "module:attribute" of the factory.
        checkpoint: path passed as ``checkpoint`` ("" = None: the factory's default).
        device: passed as ``device`` ("auto", "cpu", "cuda", "cuda:1", ...).
        kwargs_json: a JSON object of further keyword arguments.

    Raises:
        EstimatorLoadError: bad spec, import failure, factory failure, or a result that does not
            implement the WindowEstimator protocol.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EstimatorLoadError(f"estimator '{spec}' must be 'module:attribute'")
    kwargs = parse_kwargs(kwargs_json)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise EstimatorLoadError(f"cannot import estimator '{spec}': {e}") from e
    try:
        estimator = factory(checkpoint=checkpoint or None, device=device, **kwargs)
    except Exception as e:
        raise EstimatorLoadError(f"estimator '{spec}' failed to build: {type(e).__name__}: {e}") from e
    for name in ("num_frames", "num_points"):
        value = getattr(estimator, name, None)
        if not isinstance(value, int) or value < (2 if name == "num_frames" else 1):
            raise EstimatorLoadError(f"estimator '{spec}' has no valid '{name}' (got {value!r})")
    if not callable(getattr(estimator, "estimate", None)):
        raise EstimatorLoadError(f"estimator '{spec}' has no estimate(window) method")
    return estimator
