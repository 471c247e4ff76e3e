"""Build the node's estimator from a ``module:attribute`` name (injectable, like detectron2's ``locate``).

:func:`setup_model` adds what the node needs around it (image features, torch threads).
The default is the shipped network, ``sim2art_core.estimator:Estimator``. Any callable
``factory(checkpoint=..., device=..., **kwargs)`` returning a
:class:`~sim2art_core.estimate.WindowEstimator` (attributes ``num_frames``,
``num_points`` and ``estimate(window)``) can replace it: the integration tests run the
node with deterministic stand-ins this way, a user can plug in a baseline.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from typing import Any

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


@dataclass
class ModelSetup:
    """What the node runs: ``estimator`` None means no inference, ``error`` says why."""

    estimator: Any
    features: Any
    error: str


def limit_torch_threads(n: int) -> None:
    """Cap torch's intra-op threads when the estimator uses torch (0: leave torch's default).

    The node already runs the executor, the preprocessing (OpenCV) and the inference threads;
    torch's OpenMP pool on top oversubscribes a small CPU, and spin-waiting OpenMP threads then
    make inference 30-70x slower (tiny model on this 2-core machine under load: 2.2 s with
    2 threads, 0.03 s with 1).
    """
    if n > 0 and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))


def _build(p: dict, cpus=()):
    """The estimator in a child process (``inference_mode: process``, docs/NODE.md "Real-time budget"), pinned
    to ``cpus`` (empty = not pinned), or here."""
    if p.get("inference_mode", "thread") == "process":
        from sim2art_core.runtime.process_estimator import EstimatorSpec, ProcessEstimator

        spec = EstimatorSpec(
            p["estimator"], p["checkpoint"], p["device"], p["estimator_kwargs"], p["torch_threads"], tuple(sorted(cpus))
        )
        return ProcessEstimator(spec, timeout_s=p.get("inference_timeout_s", 60.0))
    return load_estimator(p["estimator"], p["checkpoint"], p["device"], p["estimator_kwargs"])


def setup_model(p: dict, estimator=None, cpus=()) -> ModelSetup:
    """The ``estimator`` parameter's estimator (or the given one) and, with ``image_features``, the extractor.

    ``cpus``: the estimator child's CPUs (``inference_mode: process``; :mod:`~sim2art_core.runtime.cpu_affinity`).

    A checkpoint trained with image features needs one: without it every inference would fail,
    so the node says so at start (ERROR diagnostic) instead.
    """
    error = ""
    if estimator is None:
        try:
            estimator = _build(p, cpus)
        except EstimatorLoadError as e:
            estimator, error = None, str(e)
    limit_torch_threads(p["torch_threads"])
    need = int(
        getattr(estimator, "image_feature_dim", 0)  # a ProcessEstimator reports its child's
        or getattr(getattr(estimator, "model_config", None), "image_feature_dim", 0)
        or 0
    )
    if not p["image_features"]:
        if need:
            error = f"the checkpoint needs {need}-d image features: set image_features to the local ViT directory"
            estimator = None
        return ModelSetup(estimator, None, error)
    try:
        from sim2art_core.estimator import resolve_device
        from sim2art_core.features import ViTPatchFeatures

        extractor = ViTPatchFeatures(
            p["image_features"], short_side=p["image_features_short_side"], device=str(resolve_device(p["device"]))
        )
    except Exception as e:  # a missing directory or a model transformers cannot load
        return ModelSetup(None, None, f"image features from '{p['image_features']}' unavailable: {e}")
    if need and extractor.dim != need:
        return ModelSetup(None, extractor, f"image features are {extractor.dim}-d, the checkpoint needs {need}-d")
    return ModelSetup(estimator, extractor, error)
