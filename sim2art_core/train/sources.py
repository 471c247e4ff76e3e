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

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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
    description: str = ""
    failures: int = 0

    def __post_init__(self) -> None:
        self.description = (
            f"generated on the fly split={self.split} T={self.num_frames} N={self.num_points} "
            f"{self.width}x{self.height} realism_fraction={self.realism} categories={len(self.categories)}"
        )

    def _generate(self, category: str, object_seed: int, sequence_seed: int, realistic: bool) -> SequenceSample:
        from sim2art_core.data.generator import RealismConfig, SequenceConfig, generate_sequence

        realism = RealismConfig.robustness() if realistic else RealismConfig()
        cfg = SequenceConfig(
            num_frames=self.num_frames, num_points=self.num_points, width=self.width, height=self.height,
            realism=realism,
        )  # fmt: skip
        return generate_sequence(category, object_seed, sequence_seed, cfg)

    def sample(self, rng: np.random.Generator) -> SequenceSample:
        base = 0 if self.split == "train" else VAL_SEED_OFFSET
        for _ in range(MAX_ATTEMPTS):
            category = self.categories[int(rng.integers(len(self.categories)))]
            try:
                realistic = bool(rng.random() < self.realism)
                return self._generate(
                    category, base + int(rng.integers(VAL_SEED_OFFSET)), int(rng.integers(2**31)), realistic
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
                    out.append(self._generate(cat, VAL_SEED_OFFSET + i, i + attempt * 100_003, realistic))
                    break
                except RuntimeError as e:
                    self.failures += 1
                    logger.debug("validation sample %d attempt %d failed: %s", i, attempt, e)
        return out


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
) -> SampleSource:
    """A source from its command-line spelling (module doc)."""
    if spec == "analytic":
        return AnalyticSource(num_frames, num_points, split=split)
    if spec == "generate":
        return GeneratorSource(split, num_frames, num_points, width, height, realism, tuple(categories))
    path = Path(spec)
    if not path.is_dir():
        raise ValueError(f"data {spec!r} is neither a dataset directory nor 'generate' / 'analytic'")
    return DatasetSource(path, split)
