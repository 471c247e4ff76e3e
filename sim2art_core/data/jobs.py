"""Dataset planning: object and sequence seeds, the train/val/test split by object, and the worker job.

Everything is a pure function of the dataset seed:

* object seed of instance i of category c: ``SeedSequence([seed, crc32(c), i])`` -> a 31-bit int with
  bit 30 set, i.e. in [2**30, 2**31): on-the-fly training (sim2art_core.train.sources) draws object seeds
  below 2**30, so no object of a written dataset (its test split above all) can appear in training;
* sequence seed k of that object: ``SeedSequence([seed, crc32(c), i, k, 1])`` -> 31-bit int;
* split: per category, the instances are permuted with ``SeedSequence([seed, crc32(c), 2])`` and cut
  into 70 / 15 / 15 % (val and test get max(1, round(0.15 n)) instances each when n >= 3, none
  below; train the rest), so every split holds every category and no object is in two splits;
* order: the jobs of each split are shuffled (seed, split name) so that shards mix categories.

Kept free of torch so that spawned worker processes start quickly.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.records import encode_sample

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
MAX_ATTEMPTS = 3
#: Object seeds of written datasets have this bit set; on-the-fly training seeds stay below it.
DATASET_OBJECT_SEED_BIT = 1 << 30


@dataclass(frozen=True)
class Job:
    """One sequence to generate."""

    category: str
    object_seed: int
    sequence_seed: int


def _seed(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0] & 0x7FFFFFFF)


def plan_splits(categories: tuple[str, ...], objects_per_category: int, sequences_per_object: int,
                seed: int) -> dict[str, list[Job]]:  # fmt: skip
    """The jobs of each split (see module doc)."""
    if objects_per_category < 1 or sequences_per_object < 1:
        raise ValueError("objects_per_category and sequences_per_object must be >= 1")
    out: dict[str, list[Job]] = {s: [] for s in SPLITS}
    for c in categories:
        h = zlib.crc32(c.encode())
        n = objects_per_category
        order = np.random.default_rng(np.random.SeedSequence([seed, h, 2])).permutation(n)
        n_val = n_test = max(1, round(SPLIT_FRACTIONS[1] * n)) if n >= 3 else 0
        cut = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
        for split, idx in cut.items():
            for i in sorted(int(x) for x in idx):
                obj_seed = _seed(seed, h, i) | DATASET_OBJECT_SEED_BIT
                out[split] += [Job(c, obj_seed, _seed(seed, h, i, k, 1)) for k in range(sequences_per_object)]
    for k, split in enumerate(SPLITS):
        perm = np.random.default_rng(np.random.SeedSequence([seed, 3, k])).permutation(len(out[split]))
        out[split] = [out[split][i] for i in perm]
    return out


def run_job(args: tuple[Job, SequenceConfig]) -> bytes:
    """Generate and encode one sequence (in a worker process).

    A sequence that cannot be generated (e.g. every object pixel lost to extreme realism settings) is
    retried with derived sequence seeds; the sample records the seed actually used.
    """
    job, cfg = args
    err: Exception | None = None
    for attempt in range(MAX_ATTEMPTS):
        seed = job.sequence_seed if attempt == 0 else _seed(job.sequence_seed, attempt, 7)
        try:
            return encode_sample(generate_sequence(job.category, job.object_seed, seed, cfg))
        except RuntimeError as e:
            err = e
    raise RuntimeError(f"{job}: failed {MAX_ATTEMPTS} times; last error: {err}")
