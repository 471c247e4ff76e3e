"""Build the root package the way colcon does on a robot (against the wheels'
ament_cmake) and check that the install tree holds what a robot needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYDIR = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


@pytest.fixture(scope="module")
def install_tree(tmp_path_factory) -> Path:
    colcon = Path(sys.prefix) / "bin" / "colcon"
    if not colcon.exists():
        pytest.fail("colcon is not installed in the venv (requirements/dev.txt)")
    work = tmp_path_factory.mktemp("colcon")
    src = work / "src" / "sim2art"
    # A workspace holds a copy of the checkout, as on a robot (no build artefacts, no venv).
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "build", "install", "log", "*.egg-info"),
    )
    env = dict(
        os.environ,
        AMENT_PREFIX_PATH=sys.prefix,
        CMAKE_PREFIX_PATH=sys.prefix,
        PATH=f"{sys.prefix}/bin:{os.environ['PATH']}",
    )
    cmd = [
        str(colcon), "--log-base", str(work / "log"), "build", "--base-paths", str(work / "src"),
        "--build-base", str(work / "build"), "--install-base", str(work / "install"), "--merge-install",
        "--event-handlers", "console_direct-", "--cmake-args", "-DBUILD_TESTING=OFF",
        f"-DPython3_EXECUTABLE={sys.executable}", "-G", "Ninja",
    ]  # fmt: skip
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return work / "install"


def test_install_tree_has_messages_python_executables_launch_and_config(install_tree):
    share = install_tree / "share" / "sim2art_ros"
    site = install_tree / PYDIR
    assert (install_tree / "share/ament_index/resource_index/packages/sim2art_ros").exists()
    for name in ("Articulation", "ArticulatedPart", "ArticulationJoint"):
        assert (share / "msg" / f"{name}.msg").exists()
        assert (site / "sim2art_ros" / "msg" / f"_{_snake(name)}.py").exists()
    # Our __init__ (extend_path) replaced the generated one; sources of both packages are there.
    assert "extend_path" in (site / "sim2art_ros" / "__init__.py").read_text()
    assert (site / "sim2art_ros" / "network_safety.py").exists()
    assert (site / "sim2art_core" / "geometry.py").exists()
    # every source module of the by-role subpackages (perception/, bags/, ..., sim2art_core/runtime/)
    for pkg in ("sim2art_ros", "sim2art_core"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            assert (site / f.relative_to(ROOT)).is_file(), f"{f.relative_to(ROOT)} not installed"
    for exe in sorted((ROOT / "nodes").iterdir()):
        installed = install_tree / "lib" / "sim2art_ros" / exe.name
        assert installed.exists() and os.access(installed, os.X_OK), f"executable {exe.name} not installed"
    # what `ros2 launch sim2art_ros perceive.launch.py` needs on a robot
    for required in ("launch/perceive.launch.py", "config/perceive.yaml", "config/fastdds_shm_large.xml"):
        assert (share / required).is_file(), f"{required} not installed"
    assert os.access(install_tree / "lib" / "sim2art_ros" / "perceive_node", os.X_OK)
    for folder in ("launch", "config"):
        for f in sorted((ROOT / folder).rglob("*")):
            if f.is_file():
                assert (share / folder / f.relative_to(ROOT / folder)).exists(), f"{folder}/{f.name} not installed"


def test_installed_package_imports_from_the_install_tree(install_tree):
    site = install_tree / PYDIR
    env = dict(
        os.environ,
        PYTHONPATH=str(site),
        LD_LIBRARY_PATH=f"{install_tree / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        AMENT_PREFIX_PATH=f"{install_tree}:{sys.prefix}",
    )
    code = (
        "import sim2art_ros.msg, sim2art_ros.network_safety as n, sim2art_core.geometry as g\n"
        "import sim2art_ros.conversions.articulation as a, sim2art_core.runtime.sync as s\n"
        "from sim2art_ros.msg import Articulation\n"
        "m = Articulation(object_id='x')\n"
        "print(sim2art_ros.msg.__file__); print(n.__file__); print(g.__file__); print(a.__file__); print(s.__file__)\n"
    )
    # cwd outside the checkout: `python -c` puts the cwd first on sys.path.
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=install_tree, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        assert line.startswith(str(site)), f"imported from outside the install tree: {line}"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
