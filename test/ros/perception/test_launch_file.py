"""launch/perceive.launch.py without launch installed: parse it and check it against what is installed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from sim2art_ros.bags.layout import BagLayout
from sim2art_ros.perception import node as perceive_node

ROOT = Path(__file__).resolve().parents[3]
LAUNCH = ROOT / "launch" / "perceive.launch.py"


def _tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text())


def _node_call() -> ast.Call:
    calls = [n for n in ast.walk(_tree()) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"]
    assert len(calls) == 1
    return calls[0]


def _kw(call: ast.Call, name: str):
    return next(k.value for k in call.keywords if k.arg == name)


def _arguments() -> dict[str, object]:
    for node in _tree().body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "ARGUMENTS":
            return {e.elts[0].value: e.elts[1].value for e in node.value.elts}
    raise AssertionError("no ARGUMENTS table")


def test_imports_only_launch_and_launch_ros():
    roots = set()
    for n in ast.walk(_tree()):
        if isinstance(n, ast.Import):
            roots |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            roots.add(n.module.split(".")[0])
    assert roots == {"launch", "launch_ros"}


def test_executable_package_and_params_file_are_installed():
    call = _node_call()
    assert _kw(call, "package").value == "sim2art_ros"
    executable = _kw(call, "executable").value
    script = ROOT / "nodes" / executable
    assert script.is_file() and "from sim2art_ros.perception.node import main" in script.read_text()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert 'GLOB _sim2art_nodes "${CMAKE_CURRENT_SOURCE_DIR}/nodes/*"' in cmake
    assert "install(DIRECTORY launch config DESTINATION share/${PROJECT_NAME})" in cmake
    assert re.search(r"project\(sim2art_ros\)", cmake)
    # the default params file: share/sim2art_ros/config/perceive.yaml
    text = LAUNCH.read_text()
    assert 'FindPackageShare("sim2art_ros"), "config", "perceive.yaml"' in text
    assert yaml.safe_load((ROOT / "config" / "perceive.yaml").read_text())["/**"]["ros__parameters"]
    assert _kw(call, "name").value == perceive_node.NODE_NAME
    setup = (ROOT / "setup.py").read_text()
    assert "sim2art-perceive = sim2art_ros.perception.node:main" in setup


def test_arguments_cover_topics_frames_and_run_options():
    args = _arguments()
    required = {
        "color_topic", "depth_topic", "camera_info_topic", "mask_topic", "fixed_frame", "params_file",
        "checkpoint", "device", "inference_mode", "use_sim_time", "publish_mode", "confirm_windows", "planner_joints",
    }  # fmt: skip
    assert required <= set(args)
    defaults = yaml.safe_load((ROOT / "config" / "perceive.yaml").read_text())["/**"]["ros__parameters"]
    for name in ("fixed_frame", "checkpoint", "device", "inference_mode", "publish_mode", "confirm_windows",
                 "planner_joints"):  # fmt: skip
        assert args[name] == str(defaults[name]), name  # launch defaults must not silently change the YAML's
    # the launch file targets a RealSense (realsense-ros 4.x, aligned depth), the bags' layout too
    realsense = BagLayout()
    assert args["color_topic"] == realsense.color_topic == "/camera/camera/color/image_raw"
    assert args["depth_topic"] == realsense.depth_topic
    assert args["camera_info_topic"] == realsense.color_info_topic


def test_node_input_names_are_relative_so_a_namespace_applies():
    for name in (perceive_node.COLOR_TOPIC, perceive_node.DEPTH_TOPIC, perceive_node.INFO_TOPIC):
        assert not name.startswith("/") and name.startswith("camera/"), name


def test_remappings_use_the_node_topic_names():
    remaps = _kw(_node_call(), "remappings")
    sources = {e.elts[0].value: e.elts[1].args[0].value for e in remaps.elts}
    assert sources == {
        perceive_node.COLOR_TOPIC: "color_topic",
        perceive_node.DEPTH_TOPIC: "depth_topic",
        perceive_node.INFO_TOPIC: "camera_info_topic",
        perceive_node.MASK_TOPIC: "mask_topic",
        perceive_node.ARTICULATION_TOPIC: "articulation_topic",
    }
