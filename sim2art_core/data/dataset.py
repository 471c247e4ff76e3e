"""Sharded on-disk datasets of synthetic sequences: writer and PyTorch reader.

Directory layout::

    root/index.json                 format, schema version, seed, SequenceConfig, splits with their
                                    object ids, shard files, record counts and byte sizes
    root/train-00000.s2a ...        shards (shards.py) of encoded records (records.py)
    root/val-00000.s2a ...
    root/test-00000.s2a ...

Splits are by object instance (70 / 15 / 15 %, jobs.py). The bytes of every file are a pure function
of (seed, categories, counts, config, shard size): the number of worker processes does not matter.

    >>> write_dataset("data/synth", objects_per_category=20, sequences_per_object=5, seed=0, workers=2)
    >>> ds = SequenceDataset("data/synth", "train")
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, collate_fn=list)
"""

from __future__ import annotations

import bisect
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch.utils.data
from tqdm import tqdm

from sim2art_core.data.generator import SequenceConfig
from sim2art_core.data.jobs import SPLIT_FRACTIONS, SPLITS, plan_splits, run_job
from sim2art_core.data.sequence import ALL_CATEGORIES, CATEGORIES, SCHEMA_VERSION, SequenceSample
from sim2art_core.data.shards import DatasetCorruptError, ShardFile, write_shard

INDEX_NAME = "index.json"
FORMAT = "sim2art-sequences"


def write_dataset(root: str | Path, *, categories: tuple[str, ...] = CATEGORIES, objects_per_category: int = 10,
                  sequences_per_object: int = 5, cfg: SequenceConfig | None = None, seed: int = 0,
                  workers: int = 1, shard_size: int = 64, overwrite: bool = False,
                  progress: bool = True) -> Path:  # fmt: skip
    """Generate a dataset into ``root`` and return the path of its index.

    Args:
        root: output directory (created; must be empty or absent unless ``overwrite``).
        categories: categories to include.
        objects_per_category: instances per category (split 70/15/15 by instance).
        sequences_per_object: sequences rendered per instance.
        cfg: sequence configuration (stored in the index; default SequenceConfig()).
        seed: dataset seed; every object/sequence seed derives from it.
        workers: generator processes (1 = in this process).
        shard_size: records per shard file.
        overwrite: replace an existing dataset in ``root``.
        progress: show a tqdm progress bar.
    """
    root = Path(root)
    cfg = cfg or SequenceConfig()
    unknown = [c for c in categories if c not in ALL_CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {', '.join(ALL_CATEGORIES)}")
    if shard_size < 1 or workers < 1:
        raise ValueError("shard_size and workers must be >= 1")
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty (use overwrite=True / --overwrite to replace it)")
        if not (root / INDEX_NAME).exists():
            raise FileExistsError(f"{root} is not empty and holds no {INDEX_NAME}: refusing to delete it")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    plan = plan_splits(tuple(categories), objects_per_category, sequences_per_object, seed)
    total = sum(len(v) for v in plan.values())
    jobs = [(job, cfg) for split in SPLITS for job in plan[split]]
    index = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "seed": seed,
        "categories": list(categories),
        "objects_per_category": objects_per_category,
        "sequences_per_object": sequences_per_object,
        "split_fractions": list(SPLIT_FRACTIONS),
        "config": cfg.to_dict(),
        "splits": {},
    }
    bar = tqdm(total=total, desc=f"sequences -> {root}", unit="seq", disable=not progress)
    pool = mp.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(run_job, jobs, chunksize=1) if pool else map(run_job, jobs)
        for split in SPLITS:
            shards, buf = [], []

            def flush(split=split, shards=shards, buf=buf):
                name = f"{split}-{len(shards):05d}.s2a"
                size = write_shard(root / name, buf)
                shards.append({"file": name, "num_records": len(buf), "bytes": size})
                buf.clear()

            for _ in plan[split]:
                buf.append(next(results))
                bar.update(1)
                if len(buf) == shard_size:
                    flush()
            if buf:
                flush()
            objects = sorted({f"{j.category}-{j.object_seed}" for j in plan[split]})
            index["splits"][split] = {"num_sequences": len(plan[split]), "objects": objects, "shards": shards}
    except BaseException:
        for f in root.glob("*.s2a"):  # no index was written: leave no half dataset behind
            f.unlink()
        raise
    finally:
        bar.close()
        if pool:
            pool.terminate()
            pool.join()
    path = root / INDEX_NAME
    tmp = root / f".{INDEX_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def read_index(root: str | Path) -> dict:
    """The parsed index of a dataset; DatasetCorruptError names the problem."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no dataset index at {path}")
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetCorruptError(f"{path}: unreadable index: {e}") from e
    if index.get("format") != FORMAT:
        raise DatasetCorruptError(f"{path}: not a sim2art dataset index (format {index.get('format')!r})")
    if index.get("schema_version") != SCHEMA_VERSION:
        raise DatasetCorruptError(
            f"{path}: schema version {index.get('schema_version')}, this reader needs {SCHEMA_VERSION} (regenerate)"
        )
    return index


class SequenceDataset(torch.utils.data.Dataset):
    """Map-style dataset of one split; items are :class:`SequenceSample` (or ``transform(sample)``).

    Picklable for DataLoader workers (open file handles are per process). Samples are not tensors,
    so pass ``collate_fn=list`` (or your own collate) to the DataLoader.

    Raises:
        FileNotFoundError: no index under ``root``.
        DatasetCorruptError: index unreadable, wrong schema version, a shard missing or of the wrong
            size (checked at construction), or a corrupt record (at access); the message names the file.
    """

    def __init__(self, root: str | Path, split: str = "train",
                 transform: Callable[[SequenceSample], object] | None = None):  # fmt: skip
        self.root = Path(root)
        self.index = read_index(self.root)
        if split not in self.index["splits"]:
            raise ValueError(f"{self.root}: no split {split!r}; available: {sorted(self.index['splits'])}")
        self.split = split
        self.transform = transform
        self.config = SequenceConfig.from_dict(self.index["config"])
        self.shards = [
            ShardFile(self.root / s["file"], s["num_records"], s["bytes"])
            for s in self.index["splits"][split]["shards"]
        ]
        for sh in self.shards:
            sh.check_size()
        self._starts = []
        n = 0
        for s in self.index["splits"][split]["shards"]:
            self._starts.append(n)
            n += s["num_records"]
        self._len = n

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int):
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} sequences")
        k = bisect.bisect_right(self._starts, i) - 1
        sample = self.shards[k].read_sample(i - self._starts[k])
        return self.transform(sample) if self.transform else sample

    @property
    def object_ids(self) -> list[str]:
        return list(self.index["splits"][self.split]["objects"])


__all__ = ["DatasetCorruptError", "SequenceDataset", "read_index", "write_dataset"]
