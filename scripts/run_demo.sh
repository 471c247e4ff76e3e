#!/usr/bin/env bash
# `make demo`: the main job (grows into the full bag-replay demo, issue 7).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
cd "$ROOT"
source scripts/ros_env.sh
exec "$VENV/bin/sim2art-demo" "$@"
