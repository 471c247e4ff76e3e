"""Evaluate on your own objects: a folder of URDFs as an evaluation set (``sim2art-eval --urdf-dir``).

Every ``*.urdf`` under the folder (recursively, sorted; e.g. a robot lab's furniture models or
PartNet-Mobility's ``<id>/mobility.urdf``) is loaded with :func:`~sim2art_core.data.objects.load_urdf_object`
and rendered by the data engine (:func:`~sim2art_core.data.generator.generate_sequence_for_object`) with
``sequences`` sequences each: camera arc, joint motion, lighting and point sampling drawn from seeds
derived from ``seed`` and the file's relative path, with the given :class:`SequenceConfig` (default: the
test split's settings). The samples' category is the URDF's label (its relative path without ``.urdf``;
a ``mobility.urdf`` is named by its folder), so the evaluation tables have one column per URDF.

The set behaves like a :class:`~sim2art_core.data.dataset.SequenceDataset` for the evaluation (``len``,
indexing, ``config``, ``index``) and re-generates a sample under another condition from its file
(:meth:`UrdfSamples.regenerate`, the :data:`~sim2art_core.eval.conditions.Regenerate` hook), so every
condition runs, the optical-flow path included.

A URDF that cannot be used (unsupported joint or geometry, missing mesh, no movable joint, the object never
in view) is skipped and listed in ``skipped`` with the reason: one bad file does not stop the evaluation.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sim2art_core.data.generator import SequenceConfig, generate_sequence_for_object
from sim2art_core.data.objects import ArticulatedObject, load_urdf_object
from sim2art_core.data.sequence import SequenceSample


def find_urdfs(folder: str | Path) -> list[Path]:
    """Every ``*.urdf`` under ``folder`` (recursive, sorted); FileNotFoundError when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"URDF folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*.urdf") if p.is_file())
    if not paths:
        raise FileNotFoundError(f"no *.urdf file under {folder}")
    return paths


def urdf_label(path: Path, folder: Path) -> str:
    """Label of a URDF: relative path without suffix, '/' -> '-'; ``x/mobility.urdf`` -> ``x``."""
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if len(parts) > 1 and parts[-1] == "mobility":
        parts.pop()
    return "-".join(parts)


class UrdfSamples:
    """The samples of a URDF folder (see module doc).

    Args:
        folder: the URDF folder.
        cfg: how sequences are rendered (default ``SequenceConfig()``: the test split's settings).
        sequences: sequences per URDF.
        seed: seed of the sequence seeds.
        progress: show a progress bar while rendering.
    """

    def __init__(self, folder: str | Path, cfg: SequenceConfig | None = None, sequences: int = 2, seed: int = 0,
                 progress: bool = True):  # fmt: skip
        if sequences < 1:
            raise ValueError(f"sequences per URDF must be >= 1, got {sequences}")
        self.folder = Path(folder)
        self.config = cfg or SequenceConfig()
        self.objects: dict[str, ArticulatedObject] = {}
        self.skipped: dict[str, str] = {}
        self.samples: list[SequenceSample] = []
        digests = {}
        paths = find_urdfs(self.folder)
        for path in tqdm(paths, desc="rendering URDFs", unit="urdf", disable=not progress):
            label = urdf_label(path, self.folder)
            digests[label] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            try:
                obj = load_urdf_object(path, category=label)
                if not obj.movable_joints:
                    raise ValueError("no movable joint (nothing to articulate)")
                self.objects[label] = obj
                for k in range(sequences):
                    seq_seed = int(np.random.SeedSequence([seed, zlib.crc32(label.encode()), k]).generate_state(1)[0])
                    self.samples.append(generate_sequence_for_object(obj, label, seq_seed, self.config))
            except (OSError, ValueError, RuntimeError) as e:
                self.objects.pop(label, None)
                self.samples = [s for s in self.samples if s.object_id != label]
                self.skipped[str(path)] = f"{type(e).__name__}: {e}"
        if not self.samples:
            raise ValueError(f"no usable URDF under {self.folder}: " + "; ".join(f"{p}: {r}" for p, r in
                                                                                 self.skipped.items()))  # fmt: skip
        #: what identifies the set (the evaluation's cache key and summary): files, seeds, config
        self.index = {"format": "sim2art-urdf-set", "folder": str(self.folder.resolve()), "seed": seed,
                      "sequences_per_urdf": sequences, "files": digests, "config": asdict(self.config)}  # fmt: skip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> SequenceSample:
        return self.samples[i]

    def regenerate(self, sample: SequenceSample, cfg: SequenceConfig, frames: bool):
        """The sample's sequence re-generated with ``cfg`` (the evaluation conditions' hook)."""
        obj = self.objects.get(sample.object_id)
        if obj is None:
            raise ValueError(f"{sample.object_id}: not a URDF of {self.folder}")
        return generate_sequence_for_object(obj, sample.object_id, sample.sequence_seed, cfg, return_frames=frames)
