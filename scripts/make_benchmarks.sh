#!/usr/bin/env bash
# Regenerate docs/BENCHMARKS.md: every benchmark and evaluation table with its command, dataset seed,
# checkpoint sha256 and machine (stages and caching: sim2art_core/benchmarks/report.py, docs/EVALUATION.md §6).
#
#   scripts/make_benchmarks.sh                       # everything (~60-90 min on the 2-core dev machine)
#   scripts/make_benchmarks.sh --force eval          # re-run one stage (the others are reused when unchanged)
#   scripts/make_benchmarks.sh --skip node,latency   # leave stages out
#   scripts/make_benchmarks.sh --quick --out /tmp/b  # smoke run: tiny dataset and random checkpoint (seconds)
#
# Runs under `nice -n ${NICE:-10}` with tcmalloc preloaded when installed (apt: libtcmalloc-minimal4;
# it only changes speed, and the report says whether it was on). Extra arguments go to
# `sim2art-benchmark report` (--help lists them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
cd "$ROOT"
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [[ -f "$TCMALLOC" && "${LD_PRELOAD:-}" != *tcmalloc* ]]; then
    export LD_PRELOAD="$TCMALLOC${LD_PRELOAD:+:$LD_PRELOAD}"
fi
# the node benchmark starts rclpy: loopback-only discovery and our Fast DDS profile (docs/NODE.md)
source scripts/ros_env.sh
exec nice -n "${NICE:-10}" "$VENV/bin/python" -m sim2art_core.benchmarks.cli report "$@"
