#!/usr/bin/env bash
# `make demo`: the main job. sim2art-demo's defaults are the good settings (a 640x480 bag: the node's DIS
# optical flow needs that resolution on these small synthetic objects, docs/BENCHMARKS.md "Optical-flow
# conditions"; at 320x240 the demo misses a door). Arguments given to this script are passed on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
cd "$ROOT"
source scripts/ros_env.sh
exec "$VENV/bin/sim2art-demo" "$@"
