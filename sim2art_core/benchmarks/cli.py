"""sim2art-benchmark: the benchmarks behind docs/BENCHMARKS.md, one sub-command each.

    sim2art-benchmark latency [--checkpoint CK] ...            every method per window, preprocessing per frame
    sim2art-benchmark infer-speed [--threads 2 1]            network / Estimator before vs after issue 12's forward
    sim2art-benchmark flow-resolution --data D [--split val]   which rendered resolution the optical-flow path needs
    sim2art-benchmark flow-methods --data D --out DIR   optical-flow methods and masks, textured and plain
    sim2art-benchmark flow-error [--per-category 2]           flow-path error and drops; fit of its noise model
    sim2art-benchmark ablation --runs-dir runs/ablations --data D   Table 4 from the ablation checkpoints
    sim2art-benchmark export [--optical-flow]                  URDF export time, mesh sizes, round-trip distance
    sim2art-benchmark consecutive [--split val --windows 3]   fused over consecutive windows vs one window
    sim2art-benchmark report [--quick] [--skip STAGES] [--force STAGES]   everything -> docs/BENCHMARKS.md

``scripts/make_benchmarks.sh`` runs ``report`` under ``nice`` with tcmalloc when installed.
"""

from __future__ import annotations

import sys

COMMANDS = {
    "latency": "sim2art_core.benchmarks.latency",
    "infer-speed": "sim2art_core.benchmarks.infer_speed",
    "flow-resolution": "sim2art_core.benchmarks.bench_flow",
    "flow-methods": "sim2art_core.benchmarks.bench_flow_methods",
    "flow-error": "sim2art_core.benchmarks.bench_flow_error",
    "ablation": "sim2art_core.benchmarks.ablation",
    "export": "sim2art_core.benchmarks.bench_export",
    "consecutive": "sim2art_core.eval.consecutive",
    "report": "sim2art_core.benchmarks.report",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"sim2art-benchmark: unknown command {argv[0]!r}; known: {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    import importlib

    return int(importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
