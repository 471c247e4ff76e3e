"""Parameters: declared with descriptors, defaults = config/perceive.yaml, set at start, validated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context
from rclpy.parameter import Parameter

from sim2art_ros.perception.params import PARAMETERS, parameter_table_markdown, preprocess_config, unknown_parameters

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).parent))
from standin_estimators import FixedAnswerEstimator  # noqa: E402


def _yaml_params() -> dict:
    return yaml.safe_load((ROOT / "config" / "perceive.yaml").read_text())["/**"]["ros__parameters"]


def test_yaml_holds_every_parameter_with_its_default():
    assert _yaml_params() == {p.name: p.default for p in PARAMETERS}


def test_every_parameter_is_documented_with_a_range():
    for p in PARAMETERS:
        assert len(p.description) > 15, p.name
        d = p.descriptor()
        assert d.read_only and d.description == p.description
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.lo is not None, f"{p.name} has no range"
            assert d.integer_range or d.floating_point_range


def test_docs_table_lists_every_parameter():
    doc = (ROOT / "docs" / "NODE.md").read_text()
    for line in parameter_table_markdown().splitlines()[2:]:
        assert line in doc, f"docs/NODE.md is out of date (regenerate the table): {line}"


def _node(args: list[str]):
    from sim2art_ros.perception.node import PerceiveNode

    ctx = Context()
    rclpy.init(context=ctx, args=["perceive", "--ros-args", *args])
    try:
        return ctx, PerceiveNode(estimator=FixedAnswerEstimator(), context=ctx)
    except Exception:
        rclpy.shutdown(context=ctx)
        raise


def _close(ctx, node):
    node.close()
    node.destroy_node()
    rclpy.shutdown(context=ctx)


def test_params_file_and_overrides_at_start():
    ctx, node = _node(
        [
            "--params-file", str(ROOT / "config" / "perceive.yaml"),
            "-p", "rate_hz:=2", "-p", "roi_min:=[0,0,0]", "-p", "keyframe_mode:=motion", "-p", "fixed_frame:=map",
        ]
    )  # fmt: skip
    try:
        assert node.p["rate_hz"] == 2.0 and isinstance(node.p["rate_hz"], float)
        assert node.p["roi_min"] == [0.0, 0.0, 0.0] and node.p["fixed_frame"] == "map"
        assert node.pre_cfg.keyframes.mode == "motion" and node.pre_cfg.object.roi_min == (0.0, 0.0, 0.0)
        assert (node.pre_cfg.num_frames, node.pre_cfg.num_points) == (4, 256)  # from the estimator
        result = node.set_parameters([Parameter("rate_hz", value=5.0)])[0]
        assert not result.successful  # read-only: refused, not silently ignored
    finally:
        _close(ctx, node)


@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ("keyframe_mode:=sometimes", "keyframe_mode"),
        ("rate_hz:=100", "outside"),
        ("roi_max:=[1.0,2.0]", "roi_max must have 3"),
        ("plane_up:=[1.0,0.0]", "plane_up"),
        ("max_flow_m:=x", "must be a number"),
        ("estimator_cpus:=fast", "estimator_cpus must be 'none', 'auto' or a CPU list"),
        ("estimator_cpus:=3-1", "estimator_cpus"),
    ],
)
def test_bad_values_fail_at_start_with_the_name(arg, needle):
    with pytest.raises(ValueError, match=needle):
        _node(["-p", arg])


def test_plane_up_is_automatic():
    values = {p.name: p.default for p in PARAMETERS}
    assert preprocess_config(values, 4, 10).object.plane_up == (0.0, 0.0, 1.0)
    values["static_camera"] = True
    assert preprocess_config(values, 4, 10).object.plane_up == (0.0, -1.0, 0.0)
    values["use_mask"] = True
    assert preprocess_config(values, 4, 10).object.source == "mask"


def test_checkpoint_needing_image_features_is_refused_at_start():
    from types import SimpleNamespace

    from sim2art_ros.perception.node import PerceiveNode

    est = FixedAnswerEstimator()
    est.model_config = SimpleNamespace(image_feature_dim=8)
    for args, needle in (([], "needs 8-d image features"), (["-p", "image_features:=/no/such/dir"], "unavailable")):
        ctx = Context()
        rclpy.init(context=ctx, args=["perceive", "--ros-args", *args])
        node = PerceiveNode(estimator=est, context=ctx)
        try:
            assert node.estimator is None and needle in node.estimator_error
            inference = {s.name: s for s in node.diagnostics().status}["sim2art_perceive: inference"]
            assert inference.level == b"\x02" and needle in inference.message
        finally:
            _close(ctx, node)


def test_unknown_parameters_name_the_closest_real_one():
    warnings = unknown_parameters({"rate": 1, "keyframe_period": 1, "use_sim_time": 1, "zzz_qqq": 1, "rate_hz": 1})
    assert warnings == [
        "unknown parameter 'keyframe_period' is ignored: did you mean 'keyframe_period_s'?",
        "unknown parameter 'rate' is ignored: did you mean 'rate_hz'?",
        "unknown parameter 'zzz_qqq' is ignored: docs/NODE.md lists the parameters",
    ]


def test_the_node_warns_about_an_unknown_override(capfd):
    ctx, node = _node(["-p", "tf_timout_s:=0.5"])
    try:
        assert node.p["tf_timeout_s"] == 0.3  # rclpy ignores it: the warning is all the user gets
    finally:
        _close(ctx, node)
    err = capfd.readouterr().err
    assert "unknown parameter 'tf_timout_s' is ignored: did you mean 'tf_timeout_s'?" in err


def _process_node(args: list[str]):
    """The node with a stand-in estimator in a child process (``inference_mode: process``)."""
    from sim2art_ros.perception.node import PerceiveNode

    ctx = Context()
    standin = ["-p", "estimator:=standin_estimators:FixedAnswerEstimator", "-p", "inference_mode:=process"]
    rclpy.init(context=ctx, args=["perceive", "--ros-args", *standin, "-p", "publish_robot_description:=false", *args])
    return ctx, PerceiveNode(context=ctx)


def _thread_cpus() -> set[frozenset]:
    return {frozenset(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="Linux, 2 CPUs")
def test_estimator_cpus_pins_the_child_and_every_node_thread_apart():
    from sim2art_core.runtime.cpu_affinity import pin_process

    allowed = os.sched_getaffinity(0)
    last = max(allowed)
    try:
        # a bare number is a CPU list (rclpy would type it as an integer)
        for setting, child in (("auto", {last}), (str(last), {last})):
            ctx, node = _process_node(["-p", f"estimator_cpus:={setting}"])
            try:
                assert node.p["estimator_cpus"] == setting
                assert set(node.estimator.cpus) == child and os.sched_getaffinity(node.estimator.pid) == child
                assert node.node_cpus == tuple(sorted(allowed - child))
                assert _thread_cpus() == {frozenset(allowed - child)}  # executor, preprocessing, inference, DDS
            finally:
                _close(ctx, node)
                pin_process(allowed)
    finally:
        pin_process(allowed)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="sched_getaffinity is Linux only")
def test_estimator_cpus_off_or_impossible_pins_nothing(capfd):
    allowed = os.sched_getaffinity(0)
    ctx, node = _process_node([])  # the default: none
    try:
        assert node.node_cpus == () and set(node.estimator.cpus) == allowed and _thread_cpus() == {frozenset(allowed)}
    finally:
        _close(ctx, node)
    # an estimator in the node's own process (injected, or inference_mode thread): nothing to split, said once
    ctx, node = _node(["-p", "estimator_cpus:=auto"])
    try:
        assert node.node_cpus == () and _thread_cpus() == {frozenset(allowed)}
    finally:
        _close(ctx, node)
    assert "estimator_cpus ignored: it pins the estimator child of inference_mode 'process'" in capfd.readouterr().err
