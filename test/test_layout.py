"""Package layout rules: sim2art_core stays free of ROS."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROS_MODULES = {
    "rclpy", "rosidl_runtime_py", "rosbags", "tf2_ros", "tf2_msgs", "message_filters", "launch", "launch_ros",
    "cv_bridge", "ament_index_python", "sim2art_ros", "builtin_interfaces", "rosgraph_msgs",
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
