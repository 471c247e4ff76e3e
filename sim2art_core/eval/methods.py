"""The methods the evaluation can run, behind one interface (a small registry).

Every method maps (sample, window) -> ArticulationEstimate, where ``window`` is
``window_from_sample(sample)``; only the oracle diagnostics look at the sample's ground truth, and
their names say so.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sim2art_core.data.sequence import SequenceSample
from sim2art_core.estimate import ArticulationEstimate, part_from_labels
from sim2art_core.registry import Registry
from sim2art_core.types import EstimateStatus
from sim2art_core.window import Window

RunFn = Callable[[SequenceSample, Window], ArticulationEstimate]


@dataclass(frozen=True)
class MethodOptions:
    """What building a method may need.

    Attributes:
        checkpoint: sim2art checkpoint (None: the shipped default).
        device: torch device for sim2art ("auto", "cpu", "cuda").
        refine_overrides: ``RefineConfig`` fields for the sim2art methods that refine, as
            (name, value) pairs (e.g. the fusion thresholds being tuned); the method's own ``fusion``
            ("refined" for sim2art-refined-only) always wins.
    """

    checkpoint: str | None = None
    device: str = "auto"
    refine_overrides: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: ``build(options)`` returns its run function."""

    name: str
    description: str
    build: Callable[[MethodOptions], RunFn]
    oracle: bool = False


@functools.lru_cache(maxsize=4)
def _shared_estimator(checkpoint: Any, device: str) -> Any:
    """One Estimator per checkpoint and device for all sim2art variants: it keeps the network's outputs
    for the latest window, so the variants (network only, refined, fused, fusion-grid settings) that
    the evaluation runs one after the other on the same window share one forward pass."""
    from sim2art_core.estimator import Estimator

    return Estimator(checkpoint, device=device)


def _sim2art(
    refine: bool,
    fusion: str | None = None,
    long_baseline: bool | None = None,
    motion_segmentation: bool | None = None,
    slot_split: bool | None = None,
    part_merge: bool | None = None,
    type_check: bool | None = None,
    depth_hypotheses: bool | None = None,
) -> Callable[[MethodOptions], RunFn]:
    """``motion_segmentation`` / ``slot_split`` / ``part_merge`` / ``depth_hypotheses``: None follows the
    Estimator's default (EstimatorConfig.motion_segmentation / .slot_split / .part_merge / .depth_hypotheses);
    ``long_baseline``: force RefineConfig.long_baseline on / off (None: the options' / default); ``type_check``:
    without ``refine`` the Estimator's type check (EstimatorConfig.type_check; None: its default), with
    ``refine`` RefineConfig.type_check (None: the options' / default)."""

    def build(opt: MethodOptions) -> RunFn:
        from sim2art_core.refine import RefineConfig

        fields = dict(opt.refine_overrides)
        if fusion:
            fields["fusion"] = fusion
        if long_baseline is not None:
            fields["long_baseline"] = long_baseline
        if refine and type_check is not None:
            fields["type_check"] = type_check
        rcfg = RefineConfig(**fields) if fields else None
        est = _shared_estimator(opt.checkpoint, opt.device)
        check = None if refine else type_check
        return lambda sample, window: est.estimate(
            window,
            refine=refine,
            refine_config=rcfg,
            motion_segmentation=motion_segmentation,
            slot_split=slot_split,
            part_merge=part_merge,
            type_check=check,
            depth_hypotheses=depth_hypotheses,
        )

    return build


def _featclust(oracle_k: bool) -> Callable[[MethodOptions], RunFn]:
    def build(opt: MethodOptions) -> RunFn:
        from sim2art_core.baselines import FeatClust

        fc = FeatClust()
        if oracle_k:
            # the number of parts the video shows: the base (still parts included) + the moving parts
            return lambda sample, window: fc.estimate(window, k=1 + int(sample.part_moving[1:].sum()))
        return lambda sample, window: fc.estimate(window)

    return build


def _gt_segmentation_refine(opt: MethodOptions, long_baseline: bool | None = None) -> RunFn:
    """Ground-truth part labels + the geometric refinement: the ceiling of the refinement alone
    (``long_baseline``: force RefineConfig.long_baseline on / off; None: the options' / default)."""
    from sim2art_core.refine import RefineConfig, refine_joints

    fields = dict(opt.refine_overrides)
    if long_baseline is not None:
        fields["long_baseline"] = long_baseline
    rcfg = RefineConfig(**fields)

    def run(sample: SequenceSample, window: Window) -> ArticulationEstimate:
        P = sample.num_parts
        # a perfect segmentation of what moved: parts that never moved belong to the base (as
        # EvalConfig.miou_parts="moving" scores it, and as sim2art reports them)
        still = ~sample.part_moving.astype(bool)
        still[0] = False
        gt_labels = np.where(still[sample.labels], 0, sample.labels)
        probs = np.eye(P, dtype=np.float32)[gt_labels]
        res = refine_joints(window, probs, root=0, cfg=rcfg)
        status = EstimateStatus.OK if res.articulation_observed else EstimateStatus.NO_ARTICULATION
        parts = tuple(part_from_labels(window.points, gt_labels, p) for p in range(P) if p == 0 or not still[p])
        return ArticulationEstimate(
            status=status,
            frame_id=window.frame_id,
            stamps_ns=window.stamps_ns,
            labels=gt_labels.astype(np.int16),
            parts=parts,
            joints=res.joints,
            observed_motion=res.observed_motion,
            estimator_id="oracle-segmentation+refine",
        )

    return run


#: The evaluation methods' names (a test checks this literal against :data:`METHODS`).
MethodName = Literal[
    "sim2art", "sim2art-norefine", "sim2art-motionseg", "sim2art-motionseg-refine", "sim2art-netseg",
    "sim2art-refined-only", "sim2art-chained", "sim2art-long-baseline", "sim2art-slotsplit",
    "sim2art-slotsplit-refine", "sim2art-partmerge", "sim2art-partmerge-norefine", "sim2art-nopartmerge",
    "sim2art-nopartmerge-norefine", "sim2art-typecheck", "sim2art-typecheck-refine", "sim2art-depthhyp",
    "sim2art-depthhyp-refine", "featclust", "featclust-oracle-k",
    "gtseg-refine", "gtseg-refine-chained", "gtseg-refine-long-baseline",
]  # fmt: skip

#: name -> :class:`MethodSpec`. A new method: one ``METHODS.add(MethodSpec(...))`` (and its name in
#: ``MethodName``).
METHODS: Registry[MethodSpec] = Registry("method")
for _spec in (
    MethodSpec("sim2art", "the Estimator's defaults: network + refinement (gated fusion)",
               _sim2art(True)),
    MethodSpec("sim2art-norefine", "network only: the slots' segmentation and the joint heads",
               _sim2art(False, motion_segmentation=False, type_check=False)),
    MethodSpec("sim2art-motionseg", "network + motion segmentation, joint heads (no refinement)",
               _sim2art(False, motion_segmentation=True, type_check=False)),
    MethodSpec("sim2art-motionseg-refine", "network + motion segmentation + refinement (gated fusion)",
               _sim2art(True, motion_segmentation=True)),
    MethodSpec("sim2art-netseg", "network segmentation (no motion segmentation) + refinement (gated fusion)",
               _sim2art(True, motion_segmentation=False)),
    MethodSpec("sim2art-refined-only", "network segmentation, joints from the refinement only",
               _sim2art(True, "refined", motion_segmentation=False)),
    MethodSpec("sim2art-chained", "sim2art with chained frame-to-frame fits only (long_baseline off)",
               _sim2art(True, long_baseline=False)),
    MethodSpec("sim2art-long-baseline", "sim2art + long-baseline fits (ICP from frame 0, long_baseline on)",
               _sim2art(True, long_baseline=True)),
    MethodSpec("sim2art-slotsplit", "network only + slot split (pieces that move differently: own part, "
               "refined joint)", _sim2art(False, motion_segmentation=False, slot_split=True, type_check=False)),
    MethodSpec("sim2art-slotsplit-refine", "sim2art (network + refinement, gated fusion) + slot split",
               _sim2art(True, slot_split=True)),
    MethodSpec("sim2art-partmerge", "sim2art (network + refinement, gated fusion) + part merge (touching parts "
               "that move as one: one part)", _sim2art(True, part_merge=True)),
    MethodSpec("sim2art-partmerge-norefine", "network only + part merge",
               _sim2art(False, motion_segmentation=False, part_merge=True, type_check=False)),
    MethodSpec("sim2art-nopartmerge", "sim2art without the part merge", _sim2art(True, part_merge=False)),
    MethodSpec("sim2art-nopartmerge-norefine", "network only without the part merge",
               _sim2art(False, motion_segmentation=False, part_merge=False, type_check=False)),
    MethodSpec("sim2art-typecheck", "network only + geometric type check (the geometry's type where the part's "
               "motion clearly contradicts the network's)",
               _sim2art(False, motion_segmentation=False, type_check=True)),
    MethodSpec("sim2art-typecheck-refine", "sim2art (network + refinement, gated fusion) + geometric type check",
               _sim2art(True, type_check=True)),
    MethodSpec("sim2art-depthhyp", "network only + depth hypotheses (base regions whose depth moved: own part, "
               "registered joint)", _sim2art(False, motion_segmentation=False, depth_hypotheses=True,
               type_check=False)),
    MethodSpec("sim2art-depthhyp-refine", "sim2art (network + refinement, gated fusion) + depth hypotheses",
               _sim2art(True, depth_hypotheses=True)),
    MethodSpec("featclust", "FeatClust baseline, k by motion BIC", _featclust(False)),
    MethodSpec("featclust-oracle-k", "FeatClust with k = true number of parts (oracle)", _featclust(True), True),
    MethodSpec("gtseg-refine", "true segmentation + refinement (oracle ceiling)", _gt_segmentation_refine, True),
    MethodSpec("gtseg-refine-chained", "true segmentation + chained fits only (oracle)",
               functools.partial(_gt_segmentation_refine, long_baseline=False), True),
    MethodSpec("gtseg-refine-long-baseline", "true segmentation + long-baseline fits (oracle)",
               functools.partial(_gt_segmentation_refine, long_baseline=True), True),
):  # fmt: skip
    METHODS.add(_spec.name, _spec)


def method_specs() -> list[MethodSpec]:
    """Every registered method, in registration order."""
    return [METHODS.get(name) for name in METHODS]


def build_method(name: str, options: MethodOptions) -> RunFn:
    """The run function of a registered method; ValueError names the known ones."""
    return METHODS.get(name).build(options)


def parse_refine_value(name: str, text: str) -> Any:
    """``text`` as the type of ``RefineConfig.<name>``; ValueError names unknown fields and bad values."""
    from sim2art_core.refine import RefineConfig

    types = {f.name: f.type for f in dataclasses.fields(RefineConfig)}
    if name not in types:
        raise ValueError(f"unknown RefineConfig field {name!r}; known: {', '.join(types)}")
    kind = types[name] if isinstance(types[name], str) else getattr(types[name], "__name__", str(types[name]))
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return int(text) if kind == "int" else float(text) if kind == "float" else text
    except ValueError as e:
        raise ValueError(f"RefineConfig.{name}: {text!r} is not a {kind}") from e


def parse_refine_set(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """["name=value", ...] -> (("name", value), ...), validated by building a RefineConfig."""
    from sim2art_core.refine import RefineConfig

    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--refine-set {item!r}: expected NAME=VALUE")
        out.append((name.strip(), parse_refine_value(name.strip(), value.strip())))
    RefineConfig(**dict(out))  # range checks of the config itself
    return tuple(out)


def refine_grid(items: Sequence[str]) -> list[tuple[tuple[str, Any], ...]]:
    """["name=v1,v2", "other=w1,w2"] -> every combination as override tuples (cartesian product)."""
    axes = []
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise ValueError(f"--refine-grid {item!r}: expected NAME=V1,V2,...")
        axes.append([(name.strip(), parse_refine_value(name.strip(), v.strip())) for v in values.split(",")])
    return [tuple(combo) for combo in itertools.product(*axes)] if axes else []


def variant_name(base: str, overrides: tuple[tuple[str, Any], ...]) -> str:
    """A method label with its overrides, e.g. ``sim2art[max_fit_residual_m=0.02]``."""
    return base + ("[" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides) + "]"
                   if overrides else "")  # fmt: skip
