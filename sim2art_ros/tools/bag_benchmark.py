"""The bag benchmark of issue 11 in one command: ``sim2art-bag-benchmark OUT``.

1. **Select** sequences of the evaluation dataset's **test split** (objects the network never trained on):
   the same plan as ``sim2art-generate --seed 2025 --objects-per-category 20 --sequences-per-object 3``
   (:func:`sim2art_core.data.jobs.plan_splits`); per category ``--per-category`` of them, one per object
   first (objects by seed; each object's sequences in the plan's order), so 2 bags are 2 different objects.
2. **Render** each as a bag (:func:`sim2art_ros.bags.writer.write_sequence_bag`) into ``OUT/bags/``
   (``<category>-<object seed>-<sequence seed>``; bags already there are reused, so a rerun, e.g. after a
   change to the node, only replays), ``--frames`` frames at ``--width`` x ``--height``. A bag holds
   ``--frames`` + 1 images 1/15 s apart: 96 frames = 6.4 s, enough for the node's defaults
   (a keyframe every 0.2 s, windows of T = 16 keyframes, an estimate per second) to estimate several windows
   and confirm joints.
3. **Evaluate** them through the node with its defaults (``config/perceive.yaml``; only ``--node-arg``
   changes them) with :func:`sim2art_ros.tools.bag_eval.evaluate`: ``OUT/report.md`` with the per-category
   table of the final fused model against issue 11's targets, ``OUT/by_category.png``, ``OUT/results.json``.

Nothing here is tuned: the split, seeds and node parameters are the documented ones (docs/BAGS.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The evaluation dataset's plan (docs/EVALUATION.md, docs/BENCHMARKS.md "Evaluation dataset").
EVAL_SEED = 2025
EVAL_OBJECTS_PER_CATEGORY = 20
EVAL_SEQUENCES_PER_OBJECT = 3


@dataclass(frozen=True)
class BagJob:
    """One bag of the benchmark."""

    category: str
    object_seed: int
    sequence_seed: int

    @property
    def name(self) -> str:
        return f"{self.category}-{self.object_seed}-{self.sequence_seed}"


def select_jobs(
    categories: Sequence[str],
    per_category: int,
    seed: int = EVAL_SEED,
    objects_per_category: int = EVAL_OBJECTS_PER_CATEGORY,
    sequences_per_object: int = EVAL_SEQUENCES_PER_OBJECT,
    split: str = "test",
) -> list[BagJob]:
    """``per_category`` sequences of ``split`` per category: each object's first sequence (objects by seed),
    then each object's second, and so on. Raises ValueError for an unknown category or too few sequences."""
    from sim2art_core.data.jobs import plan_splits

    if per_category < 1:
        raise ValueError("per_category must be >= 1")
    plan = plan_splits(tuple(categories), objects_per_category, sequences_per_object, seed)[split]
    out = []
    for c in categories:
        by_object: dict[int, list[int]] = {}
        for j in plan:
            if j.category == c:
                by_object.setdefault(j.object_seed, []).append(j.sequence_seed)
        order = [
            BagJob(c, o, seqs[k])
            for k in range(sequences_per_object)
            for o, seqs in sorted(by_object.items())
            if k < len(seqs)
        ]
        if len(order) < per_category:
            raise ValueError(f"{split} split holds {len(order)} sequences of {c}, {per_category} asked")
        out += order[:per_category]
    return out


def render_bags(jobs: Sequence[BagJob], folder: Path, frames: int, width: int, height: int, progress: bool = True):
    """Write the bags that are not in ``folder`` yet (each first under a temporary name, so a stopped run
    leaves no half bag). Returns their paths in ``jobs`` order."""
    import shutil

    from tqdm import tqdm

    from sim2art_core.data.generator import SequenceConfig
    from sim2art_ros.bags.writer import write_sequence_bag

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / j.name for j in jobs]
    todo = [(j, p) for j, p in zip(jobs, paths, strict=True) if not p.exists()]
    cfg = SequenceConfig(num_frames=frames, width=width, height=height)
    for job, path in tqdm(todo, desc="rendering bags", unit="bag", disable=not progress or not todo):
        tmp = folder / f".{job.name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        write_sequence_bag(tmp, job.category, job.object_seed, job.sequence_seed, cfg)
        tmp.rename(path)
    return paths


def build_parser() -> argparse.ArgumentParser:
    from sim2art_core.data.sequence import CATEGORIES

    p = argparse.ArgumentParser(
        prog="sim2art-bag-benchmark",
        description="Issue 11's bag benchmark: render test-split sequences (seed 2025) as 640x480 bags and "
        "evaluate the perception node on them with its defaults; per-category table of the final fused model "
        "against the targets (docs/BAGS.md).",
    )
    p.add_argument("out", type=Path, help="output folder (report.md, by_category.png, results.json, bags/)")
    p.add_argument("--bags-dir", type=Path, default=None, help="where the bags are (default OUT/bags)")
    p.add_argument("--per-category", type=int, default=2, help="bags per category (default 2)")
    p.add_argument(
        "--categories", nargs="+", default=list(CATEGORIES), metavar="CAT", help="categories (default all 14)"
    )
    p.add_argument("--seed", type=int, default=EVAL_SEED, help="dataset seed of the split plan (default 2025)")
    p.add_argument("--split", choices=("test", "val"), default="test", help="split (default test)")
    p.add_argument("--frames", type=int, default=96, help="frames per bag (default 96 = 6.4 s at 15 Hz)")
    p.add_argument("--width", type=int, default=640, help="image width (default 640)")
    p.add_argument("--height", type=int, default=480, help="image height (default 480)")
    p.add_argument(
        "-r", "--rate", type=float, default=0.25,
        help="replay speed factor (default 0.25: a loaded 2-core machine estimates most of the windows)",
    )  # fmt: skip
    p.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint (default: the node's)")
    p.add_argument(
        "--node-arg", action="append", default=[], metavar="ARG",
        help="extra ROS argument for the node, repeatable (default: none, the node's defaults)",
    )  # fmt: skip
    p.add_argument(
        "--domain-id", default="auto", metavar="ID|auto",
        help="ROS domain of the node and the replay (default auto: a private one, so another replay on this "
        "machine cannot mix its frames in)",
    )  # fmt: skip
    p.add_argument("--render-only", action="store_true", help="only write the bags")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sim2art_ros.network_safety import apply_safe_defaults

    apply_safe_defaults()
    args = build_parser().parse_args(argv)
    from sim2art_ros.tools.bag_eval import parse_domain_id

    try:
        jobs = select_jobs(args.categories, args.per_category, args.seed, split=args.split)
        domain_id = parse_domain_id(args.domain_id)
    except (ValueError, KeyError) as exc:
        print(f"sim2art-bag-benchmark: error: {exc}", file=sys.stderr)
        return 2
    if args.checkpoint is not None and not args.checkpoint.is_file():
        print(f"sim2art-bag-benchmark: error: checkpoint {args.checkpoint} does not exist", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    bags_dir = args.bags_dir or args.out / "bags"
    command = "sim2art-bag-benchmark " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    (args.out / "benchmark.json").write_text(
        json.dumps(
            {
                "command": command,
                "split": args.split,
                "seed": args.seed,
                "objects_per_category": EVAL_OBJECTS_PER_CATEGORY,
                "sequences_per_object": EVAL_SEQUENCES_PER_OBJECT,
                "frames": args.frames,
                "size": [args.width, args.height],
                "rate": args.rate,
                "node_args": args.node_arg,
                "domain_id": domain_id,
                "bags": [j.__dict__ | {"name": j.name} for j in jobs],
            },
            indent=1,
        )
    )
    try:
        bags = render_bags(jobs, bags_dir, args.frames, args.width, args.height, progress=not args.quiet)
    except (ValueError, RuntimeError) as exc:
        print(f"sim2art-bag-benchmark: error: cannot render the bags: {exc}", file=sys.stderr)
        return 2
    print(f"{len(bags)} bags in {bags_dir}")
    if args.render_only:
        return 0
    from sim2art_ros.bags.io import BagError
    from sim2art_ros.bags.node_process import NodeProcessError
    from sim2art_ros.tools.bag_eval import EvalOptions, evaluate

    options = EvalOptions(
        rate=args.rate,
        checkpoint=args.checkpoint,
        node_args=tuple(args.node_arg),
        keep_going=True,
        progress=not args.quiet,
        domain_id=domain_id,
    )
    try:
        report = evaluate(bags, args.out, options)
    except (BagError, NodeProcessError) as exc:
        print(f"sim2art-bag-benchmark: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary_text())
    print(f"report: {(args.out / 'report.md').resolve()}")
    return 0 if any(r.scores for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
