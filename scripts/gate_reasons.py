#!/usr/bin/env python3
"""Count why the refinement's gate keeps the network's joint (``untrusted_reasons``), per part, on a split.

    python scripts/gate_reasons.py COND OUT [sim2art-eval options], e.g.
    python scripts/gate_reasons.py optical-flow /tmp/out --data DATA --split val --per-category 3 --cache CACHE

Runs ``sim2art-eval`` with the method ``sim2art`` (the default ``RefineConfig``; ``--refine-set`` applies) and
prints how often each combination of failed checks occurred ("(trusted)": none failed, the refined joint is
used). Every part with a network joint and a fit counts once per window. A diagnostic for choosing the gate on
val (docs/BENCHMARKS.md, "Refinement gate: trust signals chosen on val"); it wraps the function, changes nothing.
"""

from __future__ import annotations

import collections
import sys

import sim2art_core.refine.refine as refine_module


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cond, out, rest = argv[0], argv[1], argv[2:]
    counts: collections.Counter = collections.Counter()
    original = refine_module.untrusted_reasons

    def counted(*args, **kwargs):
        reasons = original(*args, **kwargs)
        counts[reasons] += 1
        return reasons

    refine_module.untrusted_reasons = counted  # fuse_joint looks the function up in its module
    from sim2art_core.eval.cli import main as eval_main

    eval_main(["--conditions", cond, "--methods", "sim2art", "--no-progress", "--out", out, *rest])
    total = sum(counts.values())
    print(f"parts gated: {total}")
    for reasons, n in counts.most_common():
        print(f"{n:5d} {n / max(total, 1):6.1%} {','.join(reasons) or '(trusted)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
