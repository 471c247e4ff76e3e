"""Re-fusing recorded per-window estimates offline: what the node would publish, the state error split, the
spurious joints of the final model per object-model variant."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import Writer

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.bags.io import project_typestore
from sim2art_ros.conversions.articulation import estimate_to_msg
from sim2art_ros.tools.bag_compare import moving_truth_joints, score_estimate
from sim2art_ros.tools.bag_refuse import (
    confirmation_summary,
    decompose,
    main,
    model_config,
    parse_variant,
    planner_view,
    refuse,
    score_bag,
    spurious_joints,
    true_joint_confirmations,
)
from test.ros.tools.test_bag_compare import truth, window_estimate


def _windows(gt):
    failed = ArticulationEstimate.failed("flow failed", "odom", gt.stamps_ns[4:10], (6, 0))
    return [window_estimate(gt, 0, 5), failed, window_estimate(gt, 3, 8), window_estimate(gt, 6, 11)]


def test_refuse_passes_failed_windows_and_continues_the_states():
    gt = truth()
    published = refuse(_windows(gt))
    assert [e.status for e in published] == [EstimateStatus.OK, EstimateStatus.FAILED, EstimateStatus.OK,
                                              EstimateStatus.OK]  # fmt: skip
    door = next(j for j in published[-1].joints if abs(j.axis[2]) > 0.9)
    # exact windows: the fused door state at the last frame is the true one since the first frame
    assert door.amounts[-1] == pytest.approx(gt.joints[0].amounts[-1], abs=1e-9)
    assert door.support_windows == 3


def test_decompose_splits_the_error_into_carried_state_and_newest_window():
    gt = truth()
    windows = _windows(gt)
    # the newest window under-estimates its motion by half
    last = windows[-1]
    windows[-1] = type(last)(**{**last.__dict__, "joints": tuple(
        type(j)(**{**j.__dict__, "amounts": 0.5 * np.asarray(j.amounts)}) for j in last.joints)})  # fmt: skip
    published = refuse(windows, ObjectModelConfig(state_method="chain"))
    history = published[:-1]
    score, _ = score_estimate(published[-1], gt, moving_truth_joints(gt), float("nan"), history)
    splits = decompose("bag", published[-1], score, gt)
    assert len(splits) == 2
    for s in splits:
        assert s.estimated - s.true == pytest.approx(s.carry + s.window, abs=1e-9)
        assert s.window < 0  # the halved newest window
    exact = refuse(_windows(gt), ObjectModelConfig(state_method="chain"))
    score, _ = score_estimate(exact[-1], gt, moving_truth_joints(gt), float("nan"), exact[:-1])
    for s in decompose("bag", exact[-1], score, gt):
        assert abs(s.carry) < 1e-9 and abs(s.window) < 1e-9


def test_model_config_parses_fields_and_rejects_others():
    cfg = model_config(["state_method=chain", "confirm_windows=3", "state_registration=false"])
    assert cfg.state_method == "chain" and cfg.confirm_windows == 3 and cfg.state_registration is False
    for bad in (["nope=1"], ["state_method"], ["state_method=sum"]):
        with pytest.raises(ValueError):
            model_config(bad)


# -- spurious joints per variant (issue 11: confirmed spurious joints through the node) -------------------
PERIOD = 200_000_000
STAMPS = 1_700_000_000 * 10**9 + np.arange(32, dtype=np.int64) * PERIOD
T = 16


def _part(label, centroid, root=False, half=0.1):
    c = np.asarray(centroid, float)
    return PartEstimate(label, root, 50, c, c - half, c + half, 0.9)


def _joint(child, axis, origin, amounts, jtype=JointType.REVOLUTE):
    return JointEstimate(
        child=child, parent=0, type=jtype, type_probs=np.eye(3)[int(jtype)] * 0.9 + 0.03,
        axis=np.asarray(axis, float), origin=np.asarray(origin, float), amounts=np.asarray(amounts, float),
        confidence=0.8, source="refined", axis_cov=np.eye(2) * 1e-3, origin_cov=np.eye(3) * 4e-4,
        fit_residual=0.002,
    )  # fmt: skip


def _cabinet() -> ArticulationEstimate:
    """A cabinet whose door (hinge x=0.3, y=0.2) turns 0.9 rad over the 32 keyframes."""
    door = _joint(1, [0, 0, 1], [0.3, 0.2, 0.5], np.linspace(0, 0.9, 32))
    parts = (_part(0, [0.0, 0.0, 0.5], True, 0.4), _part(1, [0.6, 0.2, 0.5]))
    return ArticulationEstimate(EstimateStatus.OK, "odom", STAMPS, np.zeros((32, 0), np.int16), parts, (door,))


def _overlapping_windows(noise: bool = True) -> list[ArticulationEstimate]:
    """The node's overlapping windows (a new one every 3 keyframes, then one of new frames): the door in each,
    and a noise joint on the static body in the three windows sharing most of the first stretch of frames;
    one FAILED window in between."""
    gt = _cabinet()
    out = []
    for start in (0, 3, 6, 16):
        s = slice(start, start + T)
        door = dataclasses.replace(gt.joints[0], child=2, amounts=gt.joints[0].amounts[s] - gt.joints[0].amounts[start])
        joints = [door]
        parts = [_part(0, [0.0, 0.0, 0.5], True, 0.4), _part(2, [0.6, 0.2, 0.5])]
        if noise and start < 16:
            joints.append(_joint(3, [1, 0, 0], [-0.2, -0.2, 0.3], np.linspace(0, 0.1, T)))
            parts.append(_part(3, [-0.2, -0.3, 0.3]))
        out.append(
            ArticulationEstimate(
                EstimateStatus.OK, "odom", STAMPS[s], np.zeros((T, 0), np.int16), tuple(parts), tuple(joints)
            )
        )
        if start == 3:
            out.append(ArticulationEstimate.failed("flow failed", "odom", STAMPS[s], (T, 0)))
    return out


@pytest.fixture()
def run(tmp_path):
    """RUN/<bag>/recorded (the node's window estimates) and BAGS/<bag> (the ground truth)."""
    ts = project_typestore()
    name = "Cabinet-1-2"
    with Writer(tmp_path / "bags" / name, version=9) as w:
        c = w.add_connection("/articulation_ground_truth", "sim2art_ros/msg/Articulation", typestore=ts)
        w.write(c, int(STAMPS[-1]), serialize_message(estimate_to_msg(_cabinet(), "Cabinet-1")))
    (tmp_path / "run" / name).mkdir(parents=True)
    with Writer(tmp_path / "run" / name / "recorded", version=9) as w:
        c = w.add_connection("/articulation", "sim2art_ros/msg/Articulation", typestore=ts)
        for k, est in enumerate(_overlapping_windows()):
            w.write(c, int(est.stamps_ns[-1]) + k, serialize_message(estimate_to_msg(est, "object_0")))
    return tmp_path


def test_a_failed_window_is_passed_on_and_the_rest_is_fused():
    fused = refuse(_overlapping_windows(), parse_variant("d")[1])
    assert [f.status for f in fused].count(EstimateStatus.FAILED) == 1
    assert fused[2].message == "flow failed"
    assert fused[-1].joints[0].support_windows == 4  # the FAILED window left the model


def test_the_noise_joint_is_confirmed_only_when_overlapping_windows_count(run):
    for variant, spurious_confirmed in (("old independent_overlap=1.0", True), ("new", False)):
        result, _ = score_bag(run / "run", run / "bags" / "Cabinet-1-2", parse_variant(variant)[1])
        assert len(result.scores) == 5 and result.object_id == "Cabinet-1"
        assert result.final.missed == 0 and result.final.errors[0].axis_angle_deg < 1e-3
        (s,) = spurious_joints(result)  # the noise joint, on the static body, far from the door
        assert s.confirmed is spurious_confirmed and s.type == "REVOLUTE" and s.support == 3
        assert s.child_to_static_m < s.child_to_moving_m and s.near_truth_deg == pytest.approx(90.0)


def test_cli_prints_a_table_per_variant(run, capsys):
    argv = [str(run / "run"), "--bags-dir", str(run / "bags"), "--details", "--variant", "old independent_overlap=1"]
    assert main([*argv, "--variant", "new independent_overlap=0"]) == 0
    out = capsys.readouterr().out
    assert "== old: 1 bags" in out and "clean 0/1" in out
    assert "== new: 1 bags" in out and "clean 1/1" in out
    assert "confirmed spurious joints: 1; true joints confirmed: 1 of 1" in out  # old: the noise joint too
    assert "confirmed spurious joints: 0; true joints confirmed: 1 of 1" in out


def test_confirmation_summary_counts_what_a_planner_acting_on_confirmed_joints_gets(run):
    results = [score_bag(run / "run", run / "bags" / "Cabinet-1-2", parse_variant(v)[1])[0] for v in ("a", "b")]
    s = confirmation_summary(results)
    assert (s.bags, s.dirty_bags, s.confirmed_spurious) == (2, 0, 0)
    assert (s.true_joints, s.true_confirmed, s.accurate, s.accurate_confirmed) == (2, 2, 2, 2)
    old = confirmation_summary(
        [score_bag(run / "run", run / "bags" / "Cabinet-1-2", parse_variant("o independent_overlap=1")[1])[0]]
    )
    assert (old.dirty_bags, old.confirmed_spurious) == (1, 1)
    unconfirmed = confirmation_summary(
        [score_bag(run / "run", run / "bags" / "Cabinet-1-2", parse_variant("u confirm_windows=9")[1])[0]]
    )
    assert (unconfirmed.true_confirmed, unconfirmed.accurate, unconfirmed.accurate_confirmed) == (0, 1, 0)


def test_why_unconfirmed_names_the_rule_each_true_joint_fails(run, capsys):
    """The door (exact windows) is confirmed by default; asking for 9 windows leaves it unconfirmed for "too
    few windows" (it has 4), still accurate; the noise joint is no true joint and is not listed."""
    bag = run / "bags" / "Cabinet-1-2"
    for variant, reason in (("d", "confirmed"), ("u confirm_windows=9", "too few windows")):
        model = ObjectModel(parse_variant(variant)[1])
        result, _ = score_bag(run / "run", bag, model.config, model=model)
        (w,) = true_joint_confirmations(result, model.confirmation_evidence())
        assert (w.reason, w.accurate, w.type, w.matched_type, w.windows) == (reason, True, "REVOLUTE", "REVOLUTE", 4)
        assert w.axis_deg < 1e-3 and w.independent == 2
    assert true_joint_confirmations(result, {})[0].reason == "untracked"  # no evidence for its label
    argv = [str(run / "run"), "--bags-dir", str(run / "bags"), "--why-unconfirmed"]
    assert main([*argv, "--variant", "u confirm_windows=9"]) == 0
    out = capsys.readouterr().out
    assert "| too few windows | 1 | 0 | 1 |" in out and "| confirmed | 0 | 0 | 0 |" in out
    assert "| Cabinet-1-2 | 0 | revolute | revolute |" in out


def test_planner_view_matches_the_true_joints_among_confirmed_joints_only(run):
    """An exact but unconfirmed track of the door takes the one-to-one match from a confirmed copy 5 deg off:
    all joints scored, no true joint is on a confirmed joint and the copy counts as spurious; a planner, who
    sees only the copy, has the door (accurate) and nothing spurious. Unconfirmed joints alone: nothing."""
    result, _ = score_bag(run / "run", run / "bags" / "Cabinet-1-2", parse_variant("d")[1])
    est = result.final_estimate
    door = next(j for j in est.joints if j.confirmed and abs(j.axis[2]) > 0.9)
    tilt = np.radians(5.0)
    copy = dataclasses.replace(door, child=77, axis=np.array([np.sin(tilt), 0.0, np.cos(tilt)]) * np.sign(door.axis[2]))
    joints = tuple(dataclasses.replace(j, confirmed=False) if j is door else j for j in est.joints if j.confirmed)
    est = dataclasses.replace(est, joints=(*joints, copy))
    score, _ = score_estimate(est, result.truth, result.truth_joints, float("nan"))
    stolen = dataclasses.replace(result, scores=(*result.scores[:-1], score), final_estimate=est)
    all_joints, planner = confirmation_summary([stolen]), confirmation_summary([planner_view(stolen)])
    assert (all_joints.true_confirmed, all_joints.confirmed_spurious) == (0, 1)
    assert (planner.true_confirmed, planner.accurate_confirmed, planner.confirmed_spurious) == (1, 1, 0)
    none = dataclasses.replace(stolen, final_estimate=dataclasses.replace(est, joints=joints))
    assert confirmation_summary([planner_view(none)]).true_confirmed == 0


def test_bad_variants_and_empty_runs_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_variant("x no_such_field=1")
    name, cfg = parse_variant("x confirm_windows=3 reset_on_time_jump=false", base=["independent_overlap=0"])
    assert name == "x" and cfg.confirm_windows == 3 and not cfg.reset_on_time_jump and cfg.independent_overlap == 0
    assert main([str(tmp_path), "--bags-dir", str(tmp_path), "--variant", "x bogus=1"]) == 2
    assert main([str(tmp_path), "--bags-dir", str(tmp_path)]) == 2
    assert "no recorded bag" in capsys.readouterr().err
