"""Refactoring guard: dump every field of the shipped checkpoint's estimates, then compare two dumps.

    PYTHONPATH=$PWD python scripts/estimator_identity.py dump before.pkl   # on the old code
    PYTHONPATH=$PWD python scripts/estimator_identity.py dump after.pkl    # on the new code
    python scripts/estimator_identity.py compare before.pkl after.pkl      # exit 1 beyond --atol

Windows: five gt-flow samples (categories spread over CATEGORIES) and one realism sample at the
checkpoint's T and N, each as generated (every point valid: the network sees the window's points in
order) and with 20 % of the points marked invalid (the resampling path); each estimated with and
without refinement. Also dumps the samples, their records round trip and the windows, so data-engine
refactors are covered. ``timings`` are left out. About 20 s on one CPU core.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import pickle
import sys
from typing import Any

import numpy as np


def _dump(o: Any) -> Any:
    if dataclasses.is_dataclass(o):
        return {f.name: _dump(getattr(o, f.name)) for f in dataclasses.fields(o) if f.name != "timings"}
    if isinstance(o, (list, tuple)):
        return [_dump(x) for x in o]
    if isinstance(o, dict):
        return {k: _dump(v) for k, v in o.items()}
    if isinstance(o, enum.Enum):
        return o.name
    return o


def dump(path: str) -> None:
    from sim2art_core.data.generator import SequenceConfig, generate_sequence
    from sim2art_core.data.realism import RealismConfig
    from sim2art_core.data.records import decode_sample, encode_sample
    from sim2art_core.data.sequence import CATEGORIES
    from sim2art_core.estimator import Estimator

    try:
        from sim2art_core.data.to_window import window_from_sample
    except ImportError:  # before the move out of window.py (issue 14)
        from sim2art_core.window import Window

        window_from_sample = Window.from_sample

    est = Estimator(None, device="cpu")
    T, N = est.num_frames, est.num_points
    cats = CATEGORIES[:: max(1, len(CATEGORIES) // 5)][:5]
    cfg = SequenceConfig(num_frames=T, num_points=N)
    items = [(f"gt-{c}", generate_sequence(c, 900 + i, 7000 + i, cfg)) for i, c in enumerate(cats)]
    real = dataclasses.replace(cfg, realism=RealismConfig.robustness())
    items.append((f"realism-{cats[1]}", generate_sequence(cats[1], 901, 7001, real)))
    out = {}
    for name, s in items:
        w = window_from_sample(s)
        out[f"sample:{name}"] = _dump(s)
        out[f"record:{name}"] = _dump(decode_sample(encode_sample(s)))
        out[f"window:{name}"] = _dump(w)
        valid = w.valid.copy()
        valid[np.random.default_rng(1).random(valid.shape) < 0.2] = False
        for variant, ww in (("full", w), ("holes", dataclasses.replace(w, valid=valid))):
            for refine in (False, True):
                e = est.estimate(ww, refine=refine)
                out[f"estimate:{name}:{variant}:refine={refine}"] = _dump(e)
                print(f"{name:24s} {variant:5s} refine={refine!s:5s} {e.status.name} joints={len(e.joints)} "
                      f"observed={e.observed_motion:.5f} {e.message}")  # fmt: skip
    with open(path, "wb") as f:
        pickle.dump(out, f)


def compare(path_a: str, path_b: str, atol: float) -> int:
    with open(path_a, "rb") as f:
        a = pickle.load(f)
    with open(path_b, "rb") as f:
        b = pickle.load(f)
    bad: list[tuple] = []
    worst = 0.0

    def cmp(x: Any, y: Any, where: str) -> None:
        nonlocal worst
        if isinstance(x, dict):
            if set(x) != set(y):
                bad.append((where, "keys differ", sorted(set(x) ^ set(y))))
                return
            for k in x:
                cmp(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list):
            if len(x) != len(y):
                bad.append((where, "lengths differ", len(x), len(y)))
                return
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                cmp(u, v, f"{where}[{i}]")
        elif isinstance(x, (np.ndarray, float, int, np.number)) and not isinstance(x, bool):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or x.dtype != y.dtype:
                bad.append((where, "shape/dtype", x.shape, y.shape, x.dtype, y.dtype))
            elif x.dtype.kind in "fc":
                same = (x == y) | (np.isnan(x) & np.isnan(y))
                if not same.all():
                    d = float(np.nanmax(np.abs(x - y)[~same]))
                    worst = max(worst, d)
                    if not np.allclose(x, y, atol=atol, rtol=0.0, equal_nan=True):
                        bad.append((where, "max abs diff", d))
            elif not np.array_equal(x, y):
                bad.append((where, "values differ"))
        elif x != y:
            bad.append((where, "differs", x, y))

    cmp(a, b, "")
    print(f"{len(a)} entries; largest difference of non-identical floats: {worst:g}; beyond atol {atol:g}: {len(bad)}")
    for item in bad[:20]:
        print(" ", item)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="estimate the fixed windows, write every field to a pickle")
    d.add_argument("out")
    c = sub.add_parser("compare", help="compare two dumps (exit 1 on a difference beyond --atol)")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--atol", type=float, default=1e-12)
    args = p.parse_args(argv)
    if args.cmd == "dump":
        dump(args.out)
        return 0
    return compare(args.a, args.b, args.atol)


if __name__ == "__main__":
    sys.exit(main())
