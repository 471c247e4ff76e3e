"""Package layout rules: sim2art_core stays free of ROS."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROS_MODULES = {
    "rclpy", "rosidl_runtime_py", "rosbags", "tf2_ros", "tf2_msgs", "message_filters", "launch", "launch_ros",
    "cv_bridge", "ament_index_python", "sim2art_ros", "builtin_interfaces", "rosgraph_msgs", "rcl_interfaces",
}  # fmt: skip


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_sources_import_no_ros_package():
    offenders = []
    for path in sorted((ROOT / "sim2art_core").rglob("*.py")):
        bad = {r for r in _imported_roots(path) if r in ROS_MODULES or r.endswith("_msgs") or r.endswith("_srvs")}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "sim2art_core must not import ROS packages:\n" + "\n".join(offenders)


def test_importing_all_of_core_loads_no_ros_module():
    code = (
        "import importlib, pkgutil, sys, sim2art_core\n"
        "for m in pkgutil.walk_packages(sim2art_core.__path__, 'sim2art_core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"ros = {sorted(ROS_MODULES)!r}\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ros or n.split('.')[0].endswith('_msgs'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_checker_catches_a_ros_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import rclpy\nfrom sensor_msgs.msg import Image\n")
    assert {"rclpy", "sensor_msgs"} <= _imported_roots(bad)


#: sim2art_ros modules that import nothing from ROS yet belong to the ROS layer, and why. Any other ROS-free
#: module goes into sim2art_core (docs/ARCHITECTURE.md, "Layout").
ROS_FREE_BUT_ROS_LAYER = {
    "sim2art_ros/bags/layout.py": "the topic and frame names of our bags (a ROS convention, no ROS call)",
    "sim2art_ros/bags/node_process.py": "starts and stops the ROS node as a subprocess",
}
#: the only modules directly in sim2art_ros/; everything else sits in a folder by role.
ROS_TOP_LEVEL = {"__init__.py", "network_safety.py", "spin.py"}


def _is_ros(root: str) -> bool:
    return root in ROS_MODULES or root.endswith("_msgs") or root.endswith("_srvs")


def test_ros_layer_is_organised_by_role():
    pkg = ROOT / "sim2art_ros"
    assert {p.name for p in pkg.glob("*.py")} == ROS_TOP_LEVEL
    for folder in sorted(p for p in pkg.iterdir() if p.is_dir() and p.name not in {"__pycache__", "msg"}):
        assert (folder / "__init__.py").is_file(), f"{folder.relative_to(ROOT)} is not a package (setup.py skips it)"


def test_ros_free_modules_live_in_core():
    offenders = []
    for path in sorted((ROOT / "sim2art_ros").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if path.name == "__init__.py" or rel in ROS_FREE_BUT_ROS_LAYER:
            continue
        if not any(_is_ros(r) for r in _imported_roots(path)):
            offenders.append(rel)
    assert not offenders, "these modules import no ROS: move them to sim2art_core\n" + "\n".join(offenders)
    for rel in ROS_FREE_BUT_ROS_LAYER:
        assert (ROOT / rel).is_file(), f"stale entry {rel}"


def test_tests_mirror_the_packages():
    for sub in ("perception", "conversions", "bags", "tools", "consumer"):
        assert (ROOT / "test" / "ros" / sub).is_dir(), sub
    assert (ROOT / "test" / "core" / "runtime").is_dir()
    flat = sorted(p.name for p in (ROOT / "test" / "ros").glob("test_*.py"))
    assert flat == ["test_spin.py"], f"test/ros/ mirrors sim2art_ros/: put {flat} in its role folder"


def test_no_ros_layer_module_over_400_lines():
    """Issue 14's check: the ROS layer stays thin; a module that grows past 400 lines is split by concern."""
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "sim2art_ros").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"split these modules by concern: {long}"
