#!/usr/bin/env bash
# Create or update the pip-only development environment (ros_pip_environment.md):
#   1. a virtual environment (.venv, or $SIM2ART_VENV),
#   2. torch==2.13.0 (the local CPU wheel, installed first and alone so that no
#      other requirement can pull a CUDA build), the ROS 2 kilted wheels, the
#      project's dependencies and the project itself (editable),
#   3. a patch of the wheels' CMake exports (they hard-code the wheel builder's
#      /opt/python/cp311-cp311 include paths),
#   4. tf2_msgs (no wheel exists) and our own interfaces (msg/), built with CMake
#      straight into the venv prefix, so nothing needs sourcing at run time.
# Idempotent: every step is skipped when its inputs are unchanged (a second run
# takes seconds). Usage: scripts/setup_env.sh [--force]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(realpath -m "${SIM2ART_VENV:-$ROOT/.venv}")"
PYTHON="${PYTHON:-python3}"
FORCE=0; [ "${1:-}" = "--force" ] && FORCE=1
# shellcheck source=scripts/ros_env.sh
source "$ROOT/scripts/ros_env.sh"
say() { echo "[setup_env] $*"; }
stamp_ok() { [ "$FORCE" = 0 ] && [ -f "$VENV/.sim2art/$1" ] && [ "$(cat "$VENV/.sim2art/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$VENV/.sim2art"; echo "$2" > "$VENV/.sim2art/$1"; }

# 1. venv ---------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the ROS wheels are built for CPython 3.11"' \
  || { echo "[setup_env] need Python 3.11 (set PYTHON=...)"; exit 1; }

# 2. wheels -------------------------------------------------------------------
pip_hash=$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if ! stamp_ok pip "$pip_hash"; then
  say "installing torch==2.13.0 (CPU wheel), ROS 2 wheels and project dependencies"
  # This machine's pip config lists local indexes that warn for every package; hide only those lines.
  pipq() { "$VPY" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
  pipq torch==2.13.0
  "$VPY" -c 'import torch, sys; sys.exit(0 if torch.__version__.endswith("+cpu") else "torch is not the CPU build: " + torch.__version__)'
  pipq -r "$ROOT/requirements/ros.txt" -r "$ROOT/requirements/core.txt" -r "$ROOT/requirements/dev.txt"
  # compat mode puts the repository root on sys.path through a .pth file, so the
  # sim2art_ros package can span this checkout and the generated messages in the
  # venv (see sim2art_ros/__init__.py).
  pipq --no-deps --no-build-isolation -e "$ROOT" --config-settings editable_mode=compat
  stamp_set pip "$pip_hash"
fi

# 3. patch the wheels' CMake exports (idempotent: nothing matches a second time)
PYINC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$VPY" -c 'import numpy; print(numpy.get_include())')
{ grep -rl --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"

# 4. interfaces -----------------------------------------------------------------
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
build_pkg() {  # build_pkg NAME SOURCE_DIR [extra cmake args...]
  local name=$1 src=$2; shift 2
  local b="$VENV/.sim2art/build/$name"; mkdir -p "$b"
  cmake -S "$src" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" "$@" > "$b.configure.log" 2>&1 \
    || { cat "$b.configure.log"; echo "[setup_env] configuring $name failed"; exit 1; }
  cmake --build "$b" --target install > "$b.build.log" 2>&1 \
    || { tail -50 "$b.build.log"; echo "[setup_env] building $name failed"; exit 1; }
  say "built $name into $VENV"
}
tf_hash=$(cat "$ROOT"/third_party/tf2_msgs/{CMakeLists.txt,package.xml} "$ROOT"/third_party/tf2_msgs/*/* | sha256sum | cut -d' ' -f1)
# Build tf2_msgs only when it is ours to build: not importable from elsewhere (a
# sourced ROS install provides the real one), or built by an earlier run.
if [ -f "$VENV/.sim2art/tf2_msgs" ] || ! "$VPY" -c 'import tf2_msgs.msg' 2>/dev/null; then
  if ! stamp_ok tf2_msgs "$tf_hash" || ! "$VPY" -c 'import tf2_msgs.msg' 2>/dev/null; then
    build_pkg tf2_msgs "$ROOT/third_party/tf2_msgs"
    stamp_set tf2_msgs "$tf_hash"
  fi
fi
msg_hash=$(cat "$ROOT"/CMakeLists.txt "$ROOT"/package.xml "$ROOT"/msg/*.msg "$ROOT"/sim2art_ros/__init__.py | sha256sum | cut -d' ' -f1)
if ! stamp_ok msgs "$msg_hash" || ! "$VPY" -c 'from sim2art_ros.msg import Articulation' 2>/dev/null; then
  # Messages only: the Python sources stay in this checkout (editable install).
  build_pkg sim2art_ros "$ROOT" -DSIM2ART_MESSAGES_ONLY=ON
  stamp_set msgs "$msg_hash"
fi
"$VPY" -c 'from sim2art_ros.msg import Articulation, ArticulatedPart, ArticulationJoint; import tf2_msgs.msg, sim2art_core' \
  || { echo "[setup_env] the environment does not import; rerun with --force"; exit 1; }
say "ready: $VENV"
