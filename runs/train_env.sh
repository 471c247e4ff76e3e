#!/usr/bin/env bash
# Shared by runs/*/run.sh (source it): the repository root as the working directory and on the path, one
# OpenMP thread (the data workers and the trainer share the 2 cores), tcmalloc when installed (less
# fragmentation over a long run), and PY = the interpreter (default: the shared venv; override PY=...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -f "$PRELOAD" ] && export LD_PRELOAD="$PRELOAD"
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1
PY="${PY:-$PWD/.venv/bin/python}"
