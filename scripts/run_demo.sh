#!/usr/bin/env bash
# `make demo`: the main job. The bag is rendered at 640x480 (a RealSense's VGA): the node's DIS optical flow
# needs that resolution on these small synthetic objects (docs/BENCHMARKS.md, "Optical-flow conditions";
# at 320x240 the demo misses a door). Arguments given to this script override it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
cd "$ROOT"
source scripts/ros_env.sh
exec "$VENV/bin/sim2art-demo" --width 640 --height 480 "$@"
