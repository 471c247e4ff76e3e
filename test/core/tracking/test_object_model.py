"""sim2art_core.tracking.object_model: matching, fusion, confirmation, state continuity, bad input."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.types import EstimateStatus, JointType

T = 8
PERIOD = 200_000_000  # ns between keyframes

HINGE_AXIS = np.array([0.0, 0.0, 1.0])
HINGE_ORIGIN = np.array([0.5, 0.2, 0.4])
DOOR_CENTROID = np.array([0.8, 0.2, 0.5])  # 30 cm from the hinge, 10 cm above the origin


def _part(label: int, centroid, root: bool = False) -> PartEstimate:
    c = np.asarray(centroid, dtype=np.float64)
    return PartEstimate(label, root, 100, c, c - 0.1, c + 0.1, 0.9)


def _joint(child=1, axis=HINGE_AXIS, origin=HINGE_ORIGIN, amounts=None, jtype=JointType.REVOLUTE, **kw):
    amounts = np.linspace(0.0, 0.3, T) if amounts is None else np.asarray(amounts, dtype=np.float64)
    probs = np.zeros(3)
    probs[int(jtype)] = 0.9
    probs[(int(jtype) + 1) % 3] = 0.1
    kw.setdefault("axis_cov", np.eye(2) * math.radians(5.0) ** 2)
    kw.setdefault("origin_cov", np.eye(3) * 0.03**2)
    return JointEstimate(
        child=child, parent=0, type=jtype, type_probs=probs, axis=np.asarray(axis, float),
        origin=np.asarray(origin, float), amounts=amounts, confidence=0.8, source="refined", **kw,
    )  # fmt: skip


def _window(joints, start: int = 0, parts=None, status=EstimateStatus.OK) -> ArticulationEstimate:
    stamps = (np.arange(T) + start) * PERIOD
    if parts is None:
        parts = [_part(0, [0.5, 0.5, 0.5], root=True)] + [_part(j.child, DOOR_CENTROID) for j in joints]
    labels = np.zeros((T, 4), dtype=np.int16)
    labels[:, 2:] = joints[0].child if joints else 0
    return ArticulationEstimate(status, "odom", stamps, labels, tuple(parts), tuple(joints))


def _noisy(rng, axis_deg: float, origin_m: float) -> JointEstimate:
    e1, e2 = tangent_basis(HINGE_AXIS)
    d = rng.normal(0.0, math.radians(axis_deg), 2)
    axis = unit(HINGE_AXIS + d[0] * e1 + d[1] * e2)
    origin = HINGE_ORIGIN + rng.normal(0.0, origin_m, 2) @ np.stack([e1, e2])
    return _joint(axis=axis, origin=origin, axis_cov=np.eye(2) * math.radians(axis_deg) ** 2,
                  origin_cov=np.eye(3) * origin_m**2)  # fmt: skip


def _axis_err_deg(axis) -> float:
    return math.degrees(math.acos(min(1.0, abs(float(unit(axis) @ HINGE_AXIS)))))


def _line_err_m(origin, axis) -> float:
    d = np.asarray(origin) - HINGE_ORIGIN
    return float(np.linalg.norm(d - (d @ HINGE_AXIS) * HINGE_AXIS))


def test_fusion_of_five_noisy_windows_beats_each_window():
    """Over 100 random objects, the fused axis and line are better on average than the 1st, 2nd, ...
    5th window's (beating the best of 5 in every single trial is a coin flip even for optimal fusion)."""
    rng = np.random.default_rng(3)
    win_axis, win_line, fus_axis, fus_line = [], [], [], []
    for trial in range(100):
        model = ObjectModel()
        windows = [_noisy(rng, 4.0, 0.025) for _ in range(5)]
        for k, j in enumerate(windows):
            fused = model.update(_window([j], start=k * T))
        assert len(fused.joints) == 1, f"trial {trial}: the 5 windows must form one joint"
        f = fused.joints[0]
        assert f.support_windows == 5 and f.confirmed
        win_axis.append([_axis_err_deg(j.axis) for j in windows])
        win_line.append([_line_err_m(j.origin, j.axis) for j in windows])
        fus_axis.append(_axis_err_deg(f.axis))
        fus_line.append(_line_err_m(f.origin, f.axis))
    assert np.mean(fus_axis) < np.mean(win_axis, axis=0).min()
    assert np.mean(fus_line) < np.mean(win_line, axis=0).min()
    assert np.mean(fus_axis) < 0.6 * np.mean(win_axis)  # 1 / sqrt(5) = 0.45 for equal covariances
    assert np.mean(fus_line) < 0.6 * np.mean(win_line)


def test_fused_error_is_about_one_over_sqrt_n_of_a_window():
    rng = np.random.default_rng(0)
    win, fus = [], []
    for _ in range(200):
        model = ObjectModel()
        windows = [_noisy(rng, 4.0, 0.025) for _ in range(5)]
        for k, j in enumerate(windows):
            fused = model.update(_window([j], start=k * T))
        win += [_axis_err_deg(j.axis) for j in windows]
        fus.append(_axis_err_deg(fused.joints[0].axis))
    assert np.mean(fus) < 0.6 * np.mean(win)  # 1 / sqrt(5) = 0.45 for equal covariances
    # the fused covariance matches the fused error (std per tangent direction ~ 4 / sqrt(5) deg)
    std = math.degrees(math.sqrt(fused.joints[0].axis_cov[0, 0]))
    assert 4.0 / math.sqrt(5) * 0.9 < std < 4.0 / math.sqrt(5) * 1.1


def test_one_window_joint_is_not_confirmed_and_two_windows_confirm_it():
    model = ObjectModel(ObjectModelConfig(confirm_windows=2))
    fused = model.update(_window([_joint()]))
    assert fused.joints[0].support_windows == 1 and not fused.joints[0].confirmed
    fused = model.update(_window([_joint()], start=T))
    assert fused.joints[0].support_windows == 2 and fused.joints[0].confirmed
    assert ObjectModel(ObjectModelConfig(confirm_windows=3)).update(_window([_joint()])).joints[0].confirmed is False


def test_reset_clears_the_model():
    model = ObjectModel()
    model.update(_window([_joint()]))
    model.update(_window([_joint()], start=T))
    assert model.num_tracks == 1 and model.num_confirmed == 1
    model.reset()
    assert model.num_tracks == 0 and model.model() is None
    fused = model.update(_window([_joint()], start=2 * T))
    assert fused.joints[0].support_windows == 1 and fused.joints[0].child == 1  # labels restart too


def test_opposite_axis_sign_is_matched_and_its_amounts_flip():
    model = ObjectModel()
    amounts = np.linspace(0.0, 0.2, T)
    model.update(_window([_joint(amounts=amounts)]))
    # the next window sees the door closing: axis flipped (largest amount positive), same line
    fused = model.update(_window([_joint(axis=-HINGE_AXIS, amounts=np.linspace(0.0, 0.1, T))], start=T))
    assert len(fused.joints) == 1 and fused.joints[0].support_windows == 2
    j = fused.joints[0]
    np.testing.assert_allclose(j.axis, HINGE_AXIS, atol=1e-9)
    # consecutive windows: the state continues from 0.2 (plus one more step of the opening velocity
    # across the gap between the windows) and goes down by 0.1 in the flipped window
    np.testing.assert_allclose(j.amounts, 0.2 + 0.2 / (T - 1) - np.linspace(0.0, 0.1, T), atol=1e-9)


def test_state_continues_across_overlapping_windows():
    model = ObjectModel()
    truth = np.linspace(0.0, 1.0, 3 * T)  # the door opens steadily over 24 keyframes
    for start in (0, T // 2, T, 2 * T):  # overlapping and consecutive windows
        seg = truth[start : start + T]
        fused = model.update(_window([_joint(amounts=seg - seg[0])], start=start))
        np.testing.assert_allclose(fused.joints[0].amounts, seg, atol=1e-9)
    assert fused.joints[0].state == pytest.approx(1.0)


def test_two_doors_on_one_hinge_line_stay_apart_and_two_hinges_too():
    model = ObjectModel()
    upper = _joint(child=1)
    lower = _joint(child=2, origin=HINGE_ORIGIN)
    other = _joint(child=3, origin=HINGE_ORIGIN + np.array([1.0, 0.0, 0.0]))
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, DOOR_CENTROID), _part(2, DOOR_CENTROID - [0, 0, 0.8]),
             _part(3, DOOR_CENTROID + [1.0, 0, 0])]  # fmt: skip
    for k in range(3):
        fused = model.update(_window([upper, lower, other], start=k * T, parts=parts))
    assert len(fused.joints) == 3 and all(j.support_windows == 3 for j in fused.joints)
    # a later window that lists the parts in another order and labels still matches by geometry
    relabel = [_part(0, [0.5, 0.5, 0.5], True), _part(7, DOOR_CENTROID + [1.0, 0, 0]), _part(9, DOOR_CENTROID)]
    fused = model.update(_window([_joint(child=7, origin=other.origin), _joint(child=9)], start=3 * T, parts=relabel))
    support = {j.child: j.support_windows for j in fused.joints}
    assert support == {1: 4, 2: 3, 3: 4}
    assert {p.label for p in fused.parts} == {0, 1, 2, 3}


def test_a_spurious_joint_is_dropped_when_not_seen_again():
    model = ObjectModel(ObjectModelConfig(confirm_windows=2, forget_unconfirmed_windows=2))
    spurious = _joint(child=2, axis=[1.0, 0.0, 0.0], origin=[0.0, 0.0, 0.0])
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, DOOR_CENTROID), _part(2, [0.0, 0.0, 0.0])]
    model.update(_window([_joint(), spurious], parts=parts))
    model.update(_window([_joint()], start=T))
    assert model.num_tracks == 2
    fused = model.update(_window([_joint()], start=2 * T))
    assert model.num_tracks == 1 and fused.joints[0].confirmed
    assert model.stats.dropped_tracks == 1


def test_bad_windows_never_raise_and_never_change_the_geometry():
    model = ObjectModel()
    model.update(_window([_joint()]))
    model.update(_window([_joint()], start=T))
    before = model.model().joints[0]
    failed = ArticulationEstimate.failed("no camera pose", "odom", np.arange(T) * PERIOD + 2 * T * PERIOD, (T, 4))
    fused = model.update(failed)
    assert fused.status == EstimateStatus.OK and "FAILED" in fused.message
    np.testing.assert_allclose(fused.joints[0].axis, before.axis)
    assert fused.joints[0].state == pytest.approx(before.state)  # the state holds
    assert (fused.labels == -1).all()
    noart = _window([], start=3 * T, status=EstimateStatus.NO_ARTICULATION, parts=[_part(0, [0.5, 0.5, 0.5], True)])
    fused = model.update(noart)
    assert fused.joints[0].support_windows == 2
    nan_cov = _joint(axis_cov=np.full((2, 2), np.nan), origin_cov=np.full((3, 3), np.nan), state_variance=float("nan"))
    fused = model.update(_window([nan_cov], start=4 * T))
    j = fused.joints[0]
    assert j.support_windows == 3 and np.all(np.isfinite(j.axis_cov)) and np.all(np.isfinite(j.origin_cov))
    assert j.state_variance is None or math.isfinite(j.state_variance)
    nan_axis = _joint(axis=[np.nan, 0.0, 1.0])
    fused = model.update(_window([nan_axis], start=5 * T))
    assert model.stats.skipped_joints == 1 and fused.joints[0].support_windows == 3
    no_cov = _joint(axis_cov=None, origin_cov=None)  # the network's joints carry no covariance
    assert model.update(_window([no_cov], start=6 * T)).joints[0].support_windows == 4


def test_before_any_moving_joint_the_newest_window_is_returned():
    model = ObjectModel()
    failed = ArticulationEstimate.failed("bad depth", "odom", np.arange(T) * PERIOD, (T, 4))
    out = model.update(failed)
    assert out.status == EstimateStatus.FAILED and out.message == "bad depth"
    static = _joint(jtype=JointType.STATIC, amounts=np.zeros(T))
    out = model.update(_window([static], start=T))
    assert out.status == EstimateStatus.OK and out.joints == (static,)  # STATIC joints are not tracked


def test_time_going_backwards_resets_the_model():
    model = ObjectModel()
    model.update(_window([_joint()], start=10 * T))
    model.update(_window([_joint()], start=11 * T))
    fused = model.update(_window([_joint()], start=0))  # the bag was replayed
    assert model.stats.time_jumps == 1 and fused.joints[0].support_windows == 1


def test_prismatic_and_revolute_joints_do_not_match_each_other():
    model = ObjectModel()
    model.update(_window([_joint()]))
    fused = model.update(_window([_joint(jtype=JointType.PRISMATIC)], start=T))
    assert sorted(j.type for j in fused.joints) == [JointType.REVOLUTE, JointType.PRISMATIC]


def test_labels_of_the_newest_window_are_mapped_to_track_labels():
    model = ObjectModel()
    model.update(_window([_joint(child=1)]))
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(5, DOOR_CENTROID)]
    fused = model.update(_window([_joint(child=5)], start=T, parts=parts))
    assert fused.joints[0].child == 1 and set(np.unique(fused.labels)) == {0, 1}


BAD_CONFIGS = [{"confirm_windows": 0}, {"max_axis_angle_deg": float("nan")}, {"min_overlap_weight": 0}]


@pytest.mark.parametrize("bad", BAD_CONFIGS)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        ObjectModelConfig(**bad)


def test_untracked_parts_pass_through_and_no_articulation_keeps_the_points():
    from sim2art_core.tracking.track import UNTRACKED_LABEL_BASE

    model = ObjectModel()
    still = _joint(child=2, jtype=JointType.STATIC, amounts=np.zeros(T))
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, DOOR_CENTROID), _part(2, [0.0, 0.0, 0.0])]
    window = _window([_joint(child=1), still], parts=parts)
    labels = np.array([[0, 1, 2, -1]] * T, dtype=np.int16)
    fused = model.update(replace(window, labels=labels))
    assert {p.label for p in fused.parts} == {0, 1, UNTRACKED_LABEL_BASE + 2}
    static = next(j for j in fused.joints if j.type == JointType.STATIC)
    assert static.child == UNTRACKED_LABEL_BASE + 2 and not static.confirmed and static.support_windows == 1
    np.testing.assert_array_equal(fused.labels[0], [0, 1, UNTRACKED_LABEL_BASE + 2, -1])
    # the door stops: a NO_ARTICULATION window keeps the model and labels its points as the base
    noart = _window([], start=T, status=EstimateStatus.NO_ARTICULATION, parts=[_part(0, [0.5, 0.5, 0.5], True)])
    fused = model.update(replace(noart, labels=np.array([[0, 0, 0, -1]] * T, dtype=np.int16)))
    assert [j.child for j in fused.joints] == [1]
    np.testing.assert_array_equal(fused.labels[0], [0, 0, 0, -1])


def test_random_garbage_never_raises():
    """Malformed windows (NaN / inf / wrong shapes / missing parts / empty stamps) never raise; what comes
    out has finite geometry."""
    rng = np.random.default_rng(7)
    model = ObjectModel()
    start = 0
    for _window_index in range(150):
        joints = []
        for _ in range(int(rng.integers(0, 4))):
            axis = rng.normal(size=3) if rng.random() > 0.1 else np.array([np.nan, 0.0, np.inf])
            amounts = rng.normal(size=T) if rng.random() > 0.1 else rng.normal(size=int(rng.integers(0, 3)))
            amounts[:1] = 0.0 if len(amounts) else amounts[:1]
            cov = [None, np.full((2, 2), np.nan), -np.eye(2), np.eye(3), rng.normal(size=(2, 2))][int(rng.integers(5))]
            j = _joint(
                child=int(rng.integers(1, 6)),
                axis=axis,
                origin=rng.normal(size=3),
                amounts=amounts,
                jtype=JointType(int(rng.integers(0, 3))),
                axis_cov=cov,
                state_variance=float(rng.normal()),
            )
            if rng.random() < 0.1:
                j = replace(j, type_probs=np.array([np.nan, 1.0]), confidence=float("nan"))
            joints.append(j)
        parts = [_part(0, [0.5, 0.5, 0.5], True)] + [
            _part(j.child, rng.normal(size=3)) for j in joints if rng.random() > 0.2
        ]
        status = EstimateStatus(int(rng.choice([0, 0, 0, 1, 2])))
        start += int(rng.integers(-2, T + 1))  # overlaps, gaps and small steps back
        fused = model.update(_window(joints, start=max(start, 0), parts=parts, status=status))
        if not model.num_tracks:
            continue  # nothing fused yet: the newest window as it came
        for j in fused.joints:
            assert np.all(np.isfinite(j.axis)) and np.all(np.isfinite(j.origin))
            assert j.axis_cov is None or np.all(np.isfinite(j.axis_cov))
            assert j.state_variance is None or (math.isfinite(j.state_variance) and j.state_variance >= 0)


def test_the_same_window_twice_is_no_new_evidence():
    model = ObjectModel()
    window = _window([_noisy(np.random.default_rng(1), 4.0, 0.025)])
    first = model.update(window).joints[0]
    again = model.update(window).joints[0]
    assert again.support_windows == 1 and not again.confirmed
    np.testing.assert_allclose(again.axis, first.axis)
    np.testing.assert_allclose(again.axis_cov, first.axis_cov)
    np.testing.assert_allclose(again.amounts, first.amounts)
