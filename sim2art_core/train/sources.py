"""Where training samples come from: a generated dataset, the generator on the fly, or analytic boxes.

``build_source(spec, split, ...)``:

* a directory: a dataset written by ``sim2art-generate`` (sim2art_core.data.dataset.SequenceDataset);
* ``"generate"``: sim2art_core.data.generator renders new sequences on the fly (slow on a CPU:
  pre-generate for long runs). Object seeds of the splits are disjoint: train draws from
  [0, 1e6), val from [1e6, 1e6 + n), and datasets written by sim2art-generate (the evaluation's
  test split) use seeds >= 2**30 (sim2art_core.data.jobs.DATASET_OBJECT_SEED_BIT);
* ``"analytic"``: sim2art_core.train.analytic boxes with exact flow (smoke runs and tests).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from sim2art_core.data.sequence import CATEGORIES, SequenceSample
from sim2art_core.train.analytic import KINDS, analytic_sample

VAL_SEED_OFFSET = 1_000_000
MAX_ATTEMPTS = 5
logger = logging.getLogger(__name__)


class SampleSource(Protocol):
    description: str

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        """A random sample (training)."""
        ...

    def fixed(self, n: int) -> list[SequenceSample]:
        """n deterministic samples (validation)."""
        ...


@dataclass
class DatasetSource:
    """Samples of a dataset directory written by the data engine."""

    root: Path
    split: str
    description: str = ""
    dataset: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            from sim2art_core.data.dataset import SequenceDataset
        except ImportError as e:
            raise RuntimeError(f"reading {self.root} needs sim2art_core.data.dataset ({e})") from e
        self.dataset = SequenceDataset(self.root, self.split)
        if len(self.dataset) == 0:
            raise ValueError(f"dataset {self.root} has no samples in split {self.split!r}")
        self.description = f"dataset {self.root} split={self.split} ({len(self.dataset)} samples)"

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        return self.dataset[int(rng.integers(len(self.dataset)))]

    def fixed(self, n: int) -> list[SequenceSample]:
        L = len(self.dataset)
        idx = np.unique(np.linspace(0, L - 1, min(n, L)).round().astype(int))
        return [self.dataset[int(i)] for i in idx]


@dataclass
class GeneratorSource:
    """Sequences rendered on the fly by sim2art_core.data.generator."""

    split: str
    num_frames: int
    num_points: int
    width: int = 160
    height: int = 120
    realism: float = 0.5
    """Fraction of sequences rendered with RealismConfig.robustness() (the rest clean), so the model
    sees both what the clean evaluation and what a real sensor give."""
    categories: tuple[str, ...] = CATEGORIES
    flow_error: float = 0.0
    """Training only: fraction of sequences whose flow carries the run-time-like error model and drops
    (RealismConfig.flow_error = flow_drop = 1; sim2art_core.data.flow_error); the rest keep their true
    (or, under realism, sensor-based) flow."""
    optical_flow: float = 0.0
    """Training only: fraction of sequences rendered at 640x480 and turned into a window by the node's own
    preprocessing (DIS optical flow + depth; :func:`optical_flow_sample`); ~25x the cost of a 160x120
    sequence. Drawn before ``flow_error`` (the two are exclusive)."""
    val_flow: Literal["true", "noise-model"] = "true"
    """Validation only (:meth:`fixed`): the flow of the fixed validation windows. "noise-model" gives every
    window the run-time-like error model and drops (deterministic per window), to select checkpoints for the
    node's optical-flow path; its validation rows do not compare with a "true" run's."""
    description: str = ""
    failures: int = 0

    def __post_init__(self) -> None:
        for name in ("realism", "flow_error", "optical_flow"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"GeneratorSource.{name} must be a fraction in [0, 1], got {v}")
        if self.val_flow not in ("true", "noise-model"):
            raise ValueError(f"GeneratorSource.val_flow must be 'true' or 'noise-model', got {self.val_flow!r}")
        self.description = (
            f"generated on the fly split={self.split} T={self.num_frames} N={self.num_points} "
            f"{self.width}x{self.height} realism_fraction={self.realism} categories={len(self.categories)}"
        )
        if self.flow_error or self.optical_flow:
            self.description += f" flow_error_fraction={self.flow_error} optical_flow_fraction={self.optical_flow}"
        if self.val_flow != "true":
            self.description += f" val_flow={self.val_flow}"

    def _generate(self, category: str, object_seed: int, sequence_seed: int, realistic: bool,
                  flow: str = "true") -> SequenceSample:  # fmt: skip
        from sim2art_core.data.generator import RealismConfig, SequenceConfig, generate_sequence

        realism = RealismConfig.robustness() if realistic else RealismConfig()
        if flow == "noise-model":
            realism = dataclasses.replace(realism, flow_error=1.0, flow_drop=1.0)
        cfg = SequenceConfig(
            num_frames=self.num_frames, num_points=self.num_points, width=self.width, height=self.height,
            realism=realism,
        )  # fmt: skip
        if flow == "optical-flow":
            return optical_flow_sample(category, object_seed, sequence_seed, cfg)
        return generate_sequence(category, object_seed, sequence_seed, cfg)

    def _flow_kind(self, rng: np.random.Generator) -> str:
        if not (self.flow_error or self.optical_flow):
            return "true"  # no draw: the stream of a run without the mix stays as before
        u = rng.random()
        return (
            "optical-flow"
            if u < self.optical_flow
            else "noise-model"
            if u < self.optical_flow + self.flow_error
            else "true"
        )

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        base = 0 if self.split == "train" else VAL_SEED_OFFSET
        for _ in range(MAX_ATTEMPTS):
            category = self.categories[int(rng.integers(len(self.categories)))]
            try:
                realistic = bool(rng.random() < self.realism)
                flow = self._flow_kind(rng)
                return self._generate(
                    category, base + int(rng.integers(VAL_SEED_OFFSET)), int(rng.integers(2**31)), realistic, flow
                )
            except RuntimeError as e:  # e.g. the object left the view in one frame: draw another
                self.failures += 1
                logger.debug("generation failed, drawing another sequence: %s", e)
        raise RuntimeError(f"the generator failed {MAX_ATTEMPTS} times in a row")

    def fixed(self, n: int) -> list[SequenceSample]:
        out = []
        for i in range(n):
            for attempt in range(MAX_ATTEMPTS):
                try:
                    cat = self.categories[i % len(self.categories)]
                    # every other validation window realistic (i odd), when realism is on at all
                    realistic = self.realism > 0 and i % 2 == 1
                    out.append(
                        self._generate(cat, VAL_SEED_OFFSET + i, i + attempt * 100_003, realistic, self.val_flow)
                    )
                    break
                except RuntimeError as e:
                    self.failures += 1
                    logger.debug("validation sample %d attempt %d failed: %s", i, attempt, e)
        return out


def optical_flow_sample(category: str, object_seed: int, sequence_seed: int, cfg, width: int = 640,
                        height: int = 480) -> SequenceSample:  # fmt: skip
    """A training sample whose points and flow come from the node's run-time path: the sequence rendered at
    ``width`` x ``height`` with its T + 1 frames, the window built by the optical-flow condition's
    preprocessing (sim2art_core.eval.conditions: DIS + depth, the node's defaults), and its ground truth
    (labels from the part masks at the window's pixels). Invalid window points are dropped and every frame
    is refilled to N from its valid points (repeats), so the sample has no placeholder points.
    RuntimeError when a frame keeps fewer than 16 valid points (the source then draws another sequence)."""
    from sim2art_core.data.generator import generate_sequence
    from sim2art_core.eval.conditions import ConditionConfig, sample_for_window
    from sim2art_core.preprocess import build_window

    cfg = dataclasses.replace(cfg, width=width, height=height)
    truth, frames = generate_sequence(category, object_seed, sequence_seed, cfg, return_frames=True)
    ccfg = ConditionConfig(width=width, height=height)
    try:
        window = build_window(frames, dataclasses.replace(ccfg.preprocess, num_points=cfg.num_points),
                              rng=sequence_seed, frame_id="world")  # fmt: skip
    except ValueError as e:
        raise RuntimeError(f"{category}-{object_seed}: run-time preprocessing rejected a frame: {e}") from e
    s = sample_for_window(truth, window, frames)
    rng = np.random.default_rng(sequence_seed)
    idx = np.zeros(window.valid.shape, dtype=np.int64)
    for t in range(window.num_frames):
        ok = np.flatnonzero(window.valid[t])
        if len(ok) < 16:
            raise RuntimeError(f"{category}-{object_seed}: frame {t} has {len(ok)} valid optical-flow points")
        n = idx.shape[1]
        idx[t] = ok[:n] if len(ok) >= n else np.concatenate([ok, rng.choice(ok, size=n - len(ok))])
    take = lambda a: np.take_along_axis(a, idx.reshape(*idx.shape, *([1] * (a.ndim - 2))), axis=1)  # noqa: E731
    return dataclasses.replace(
        s, points=take(s.points), flow=take(s.flow), colors=take(s.colors), pixels=take(s.pixels),
        labels=take(s.labels),
    ).validate()  # fmt: skip


@dataclass
class AnalyticSource:
    """Box-with-lid / drawer sequences with exact flow (no rendering)."""

    num_frames: int
    num_points: int
    kinds: tuple[str, ...] = ("revolute", "prismatic")
    split: str = "train"
    description: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown analytic kinds {sorted(unknown)}")
        self.description = f"analytic boxes {self.kinds} split={self.split}"

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        base = 0 if self.split == "train" else VAL_SEED_OFFSET
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        return analytic_sample(kind, base + int(rng.integers(VAL_SEED_OFFSET)), self.num_frames, self.num_points)

    def fixed(self, n: int) -> list[SequenceSample]:
        k = self.kinds
        return [analytic_sample(k[i % len(k)], VAL_SEED_OFFSET + i, self.num_frames, self.num_points) for i in range(n)]


@dataclass
class ReplayPool:
    """Reuses generated samples: a pool of ``size`` samples; every draw returns a random member and,
    with probability 1 / ``reuse``, first replaces a random member by a fresh sample.

    Rendering costs ~0.15 s per sequence on this CPU, comparable to a training step per sample;
    with reuse R each sequence serves ~R training windows (each with its own point subset and
    augmentation), cutting the generation cost R-fold. The pool is filled lazily.
    """

    source: SampleSource
    size: int = 512
    reuse: float = 4.0
    description: str = ""
    pool: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1 or self.reuse < 1:
            raise ValueError("ReplayPool: size and reuse must be >= 1")
        self.description = f"{self.source.description}, replay pool {self.size} x reuse {self.reuse:g}"

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        if len(self.pool) < self.size:
            self.pool.append(self.source.sample(rng))
            return self.pool[-1]
        if rng.random() < 1.0 / self.reuse:
            self.pool[int(rng.integers(self.size))] = self.source.sample(rng)
        return self.pool[int(rng.integers(self.size))]

    def fixed(self, n: int) -> list[SequenceSample]:
        return self.source.fixed(n)


def build_source(
    spec: str,
    split: str,
    num_frames: int,
    num_points: int,
    realism: float = 0.5,
    categories: tuple[str, ...] = CATEGORIES,
    width: int = 160,
    height: int = 120,
    flow_error: float = 0.0,
    optical_flow: float = 0.0,
    val_flow: str = "true",
) -> SampleSource:
    """A source from its command-line spelling (module doc). The flow mix (``flow_error``,
    ``optical_flow``) applies to the training split of ``generate`` only; validation windows take ``val_flow``
    ("true" or "noise-model"; GeneratorSource.val_flow)."""
    if val_flow != "true" and spec != "generate":
        raise ValueError(f"val_flow={val_flow!r} needs on-the-fly data ('generate'), not {spec!r}")
    if spec == "analytic":
        return AnalyticSource(num_frames, num_points, split=split)
    if spec == "generate":
        mix = (flow_error, optical_flow) if split == "train" else (0.0, 0.0)
        return GeneratorSource(
            split, num_frames, num_points, width, height, realism, tuple(categories), *mix, val_flow=val_flow
        )
    path = Path(spec)
    if not path.is_dir():
        raise ValueError(f"data {spec!r} is neither a dataset directory nor 'generate' / 'analytic'")
    return DatasetSource(path, split)
