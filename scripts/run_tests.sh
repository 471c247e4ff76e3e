#!/usr/bin/env bash
# `make test`: lint, then the whole pytest suite, with the network-safety
# environment applied (test/conftest.py applies it too, for direct pytest runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
cd "$ROOT"
source scripts/ros_env.sh
echo "[test] ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "[test] pytest"
exec "$VENV/bin/python" -m pytest "$@"
