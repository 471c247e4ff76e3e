"""sim2art_core.tracking.joint_state: joint states across windows (fit of overlapping curves, gaps, bad input)
and the long-baseline registration, alone and inside the fused object model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.tracking.joint_state import (
    RegistrationConfig,
    StateCurve,
    StateFusionConfig,
    continue_state,
    fuse_state_curves,
    move_about_joint,
    register_state,
)
from sim2art_core.types import EstimateStatus, JointType

DT = 200_000_000  # ns between keyframes
T = 16
SHIFT = 5  # a new window every 5 keyframes (the node: T = 16 keyframes every 0.2 s, an estimate per second)


def _true(k: np.ndarray) -> np.ndarray:
    """A door opening and closing (rad) at keyframe index k."""
    return 0.9 * np.sin(np.asarray(k, dtype=np.float64) / 25.0)


def _curves(n: int, rng=None, sample_std=0.0, scale_std=0.0, shift=SHIFT) -> list[StateCurve]:
    out = []
    for w in range(n):
        k = np.arange(w * shift, w * shift + T)
        a = _true(k) - _true(k[0])
        if rng is not None:
            a = a * (1.0 + rng.normal(0.0, scale_std)) + rng.normal(0.0, sample_std, T)
            a = a - a[0]  # a window's amounts start at 0
        out.append(StateCurve(k.astype(np.int64) * DT, a))
    return out


def _chain(curves: list[StateCurve]) -> tuple[np.ndarray, np.ndarray]:
    """The former rule (ObjectModelConfig.state_method 'chain'): offset = median difference on shared stamps,
    the new window's states replace the old ones."""
    stamps, states = curves[0].stamps.copy(), curves[0].amounts.copy()
    for c in curves[1:]:
        common, ih, inew = np.intersect1d(stamps, c.stamps, return_indices=True)
        new = c.amounts + float(np.median(states[ih] - c.amounts[inew]))
        keep = ~np.isin(stamps, c.stamps)
        stamps, states = np.concatenate([stamps[keep], c.stamps]), np.concatenate([states[keep], new])
        o = np.argsort(stamps)
        stamps, states = stamps[o], states[o]
    return stamps, states


# -- the fit of overlapping curves -----------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [1, 5, 15])
def test_exact_overlapping_windows_reproduce_the_true_state_at_every_stamp(shift):
    curves = _curves(12, shift=shift)
    fused = fuse_state_curves(curves)
    k = fused.stamps // DT
    np.testing.assert_allclose(fused.states, _true(k) - _true(0), atol=1e-12)
    assert fused.used.all()
    # each curve's offset is the true state at its first stamp
    np.testing.assert_allclose(fused.offsets, [_true(c.stamps[0] // DT) - _true(0) for c in curves], atol=1e-12)


def test_anchor_sets_the_gauge():
    curves = _curves(3)
    fused = fuse_state_curves(curves, anchor=(int(curves[1].stamps[0]), 2.0))
    k = fused.stamps // DT
    np.testing.assert_allclose(fused.states, _true(k) - _true(SHIFT) + 2.0, atol=1e-12)


def test_noisy_windows_fit_beats_chaining_at_the_last_frame():
    """Per-sample noise: the fit averages every window over the stamps it shares, chaining keeps the newest
    window's; over 200 trials of 12 windows the fit's RMS error at the last frame is lower (about 15 %: both
    sum relative measurements, so both still grow like a random walk; the registration removes that)."""
    rng = np.random.default_rng(0)
    e_fit, e_chain = [], []
    for _ in range(200):
        curves = _curves(12, rng, sample_std=0.03)
        truth = _true(curves[-1].stamps[-1] // DT) - _true(0)
        e_fit.append(fuse_state_curves(curves).states[-1] - truth)
        e_chain.append(_chain(curves)[1][-1] - truth)
    rms_fit, rms_chain = np.sqrt(np.mean(np.square(e_fit))), np.sqrt(np.mean(np.square(e_chain)))
    assert rms_fit < 0.9 * rms_chain, (rms_fit, rms_chain)


def test_huber_weights_down_a_window_that_contradicts_the_others():
    curves = _curves(6)
    bad = curves[3]
    curves[3] = StateCurve(bad.stamps, np.zeros(T))  # one window sees no motion at all
    truth = _true(curves[-1].stamps[-1] // DT) - _true(0)
    plain = fuse_state_curves(curves).states[-1] - truth
    robust = fuse_state_curves(curves, config=StateFusionConfig(huber_scale=0.01, iterations=10)).states[-1] - truth
    assert abs(robust) < abs(plain)


def test_a_gap_of_up_to_two_steps_continues_with_the_last_velocity_and_a_longer_gap_holds():
    first = _curves(1)[0]
    for gap_steps, expect_moved in ((2, True), (6, False)):
        k = np.arange(T + gap_steps - 1, 2 * T + gap_steps - 1)  # no shared stamp with the first curve
        second = StateCurve(k.astype(np.int64) * DT, _true(k) - _true(k[0]))
        fused = fuse_state_curves([first, second])
        last_first = _true(T - 1) - _true(0)
        at_start = float(fused.at(second.stamps[:1])[0])
        step = _true(T - 1) - _true(T - 2)
        if expect_moved:
            assert at_start == pytest.approx(last_first + step * gap_steps, abs=1e-12)
        else:
            assert at_start == pytest.approx(last_first, abs=1e-12)
        np.testing.assert_allclose(fused.at(second.stamps) - at_start, second.amounts, atol=1e-12)


def test_continue_state_interpolates_inside_and_holds_before():
    s = np.array([0, 10, 20], dtype=np.int64)
    x = np.array([0.0, 1.0, 3.0])
    assert continue_state(s, x, 15) == pytest.approx(2.0)
    assert continue_state(s, x, -5) == 0.0
    assert continue_state(s, x, 30) == pytest.approx(5.0)  # one step: the last velocity
    assert continue_state(s, x, 50) == 3.0  # three steps: held


def test_nan_empty_and_malformed_curves_are_ignored():
    good = _curves(2)
    bad = [
        StateCurve(np.zeros(0, np.int64), np.zeros(0)),
        StateCurve(good[0].stamps, np.full(T, np.nan)),
        StateCurve(good[0].stamps, np.zeros(T - 1)),
        StateCurve(good[0].stamps[::-1], good[0].amounts),
        StateCurve(good[0].stamps, good[0].amounts, weight=0.0),
        StateCurve(good[0].stamps, good[0].amounts, weight=float("nan")),
    ]
    fused = fuse_state_curves([*bad, *good])
    assert fused.used.tolist() == [False] * len(bad) + [True, True]
    assert np.isnan(fused.offsets[: len(bad)]).all()
    np.testing.assert_allclose(fused.states, _true(fused.stamps // DT) - _true(0), atol=1e-12)
    empty = fuse_state_curves(bad)
    assert empty.stamps.size == 0 and empty.states.size == 0 and not empty.used.any()
    assert fuse_state_curves([]).stamps.size == 0
    # an anchor no curve holds is ignored: state 0 at the first stamp
    assert fuse_state_curves(good, anchor=(12345, 7.0)).states[0] == 0.0
    with pytest.raises(KeyError):
        fused.at(np.array([1]))


@pytest.mark.parametrize("bad", [dict(huber_scale=-1.0), dict(iterations=0), dict(max_bridge_steps=float("nan"))])
def test_fusion_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        StateFusionConfig(**bad)


# -- the long-baseline registration ------------------------------------------------------------------------------

HINGE = np.array([0.0, 0.0, 1.0])
PIVOT = np.array([0.5, 0.2, 0.0])


def _door(rng, n=400) -> np.ndarray:
    """A 40 x 60 cm door in the plane y = 0.2, hinged on the vertical line through PIVOT."""
    u = rng.uniform(size=(n, 2))
    return np.c_[0.5 + 0.4 * u[:, 0], np.full(n, 0.2), 0.6 * u[:, 1]]


def _body(rng, n=600) -> np.ndarray:
    """The cabinet's back wall (static) 40 cm behind the door."""
    u = rng.uniform(size=(n, 2))
    return np.c_[0.5 + 0.4 * u[:, 0], np.full(n, 0.6), 0.6 * u[:, 1]]


@pytest.mark.parametrize("q", [0.15, 0.5, 1.0])
def test_registration_recovers_a_door_angle_despite_parent_points_in_the_reference(q):
    rng = np.random.default_rng(1)
    door, body = _door(rng), _body(rng)
    reference = np.r_[door, body[:150]]  # a loose segmentation: some of the cabinet labelled as the door
    target = np.r_[move_about_joint(door, True, HINGE, PIVOT, q)[0] + rng.normal(0, 0.002, door.shape), body]
    reg = register_state(reference, target, True, HINGE, PIVOT, prior=q - 0.3)
    assert reg.accepted
    assert reg.state == pytest.approx(q, abs=0.01)
    assert reg.inlier_fraction > 0.8


def test_registration_recovers_a_drawer_displacement():
    rng = np.random.default_rng(2)
    front = _door(rng)
    axis = np.array([0.0, -1.0, 0.0])  # pulled out towards the camera
    target = np.r_[front + 0.12 * axis + rng.normal(0, 0.002, front.shape), _body(rng)]
    reg = register_state(front, target, False, axis, PIVOT, prior=0.05)
    assert reg.accepted and reg.state == pytest.approx(0.12, abs=0.003)


def test_registration_refuses_what_it_cannot_see():
    rng = np.random.default_rng(3)
    door = _door(rng)
    still = register_state(door, np.r_[door, _body(rng)], True, HINGE, PIVOT)  # nothing moved: no moved points
    assert not still.accepted and still.moved_points < 10
    gone = register_state(door, _body(rng), True, HINGE, PIVOT)  # the door left the view
    assert not gone.accepted
    few = door[:12]  # a part seen with a dozen points: even a perfect match is no measurement
    target = np.r_[move_about_joint(few, True, HINGE, PIVOT, 0.4)[0], _body(rng)]
    reg = register_state(few, target, True, HINGE, PIVOT, 0.3)
    assert reg.inlier_fraction > 0.9 and not reg.accepted
    for ref, tgt, axis in (
        (np.zeros((0, 3)), door, HINGE),
        (np.full((50, 3), np.nan), door, HINGE),
        (door, door, np.array([np.nan, 0.0, 1.0])),
        (door, door, np.zeros(3)),
    ):
        assert not register_state(ref, tgt, True, axis, PIVOT).accepted


# -- inside the fused object model -------------------------------------------------------------------------------


def _estimate(stamps, amounts, points, labels) -> ArticulationEstimate:
    probs = np.array([0.9, 0.05, 0.05])
    joint = JointEstimate(
        child=1, parent=0, type=JointType.REVOLUTE, type_probs=probs, axis=HINGE.copy(), origin=PIVOT.copy(),
        amounts=np.asarray(amounts, float), confidence=0.8, source="network",
    )  # fmt: skip
    root = PartEstimate(
        0, True, 600, np.array([0.7, 0.6, 0.3]), np.array([0.5, 0.6, 0.0]), np.array([0.9, 0.6, 0.6]), 0.9
    )
    door = PartEstimate(
        1, False, 400, np.array([0.7, 0.2, 0.3]), np.array([0.5, 0.2, 0.0]), np.array([0.9, 0.2, 0.6]), 0.9
    )
    return ArticulationEstimate(EstimateStatus.OK, "odom", stamps, labels, (root, door), (joint,))


def _run(n_windows: int, rng, registration: bool, method: str = "fit", scale_std=0.15) -> float:
    """Error at the last frame of the fused state after ``n_windows`` windows whose amounts have a random
    scale error each (a window's network amplitude), with the window's points given to the model."""
    door, body = _door(rng, 300), _body(rng, 300)
    cfg = ObjectModelConfig(state_method=method, state_registration=registration)
    model = ObjectModel(cfg)
    for w in range(n_windows):
        k = np.arange(w * SHIFT, w * SHIFT + T)
        q = _true(k) - _true(0)
        amounts = (q - q[0]) * (1.0 + rng.normal(0.0, scale_std))
        points = np.stack([np.r_[move_about_joint(door, True, HINGE, PIVOT, qt)[0], body] for qt in q])
        labels = np.tile(np.r_[np.ones(len(door), int), np.zeros(len(body), int)], (T, 1))
        fused = model.update(_estimate(k.astype(np.int64) * DT, amounts, points, labels), points)
    return float(fused.joints[0].amounts[-1] - (_true(k[-1]) - _true(0)))


def test_with_registration_the_error_at_the_last_frame_does_not_grow_with_the_number_of_windows():
    """Drift test. Windows whose amplitude is off by a random 15 %: summed over windows (no registration) the
    state's error grows with their number; measured on the long baseline (the door's points from the track's
    first frame registered onto the newest frame) it stays at the registration's accuracy."""
    rng = np.random.default_rng(4)
    err = {n: [abs(_run(n, rng, True)) for _ in range(4)] for n in (3, 12)}
    for n, e in err.items():
        assert max(e) < 0.02, (n, e)
    drift = [abs(_run(12, rng, False)) for _ in range(4)]
    assert np.mean(drift) > 3 * np.mean(err[12]), (drift, err[12])


def test_registration_also_measures_a_track_not_seen_in_the_newest_window():
    rng = np.random.default_rng(5)
    door, body = _door(rng, 300), _body(rng, 300)
    model = ObjectModel()
    labels = np.tile(np.r_[np.ones(len(door), int), np.zeros(len(body), int)], (T, 1))
    for w in range(3):
        k = np.arange(w * SHIFT, w * SHIFT + T)
        q = _true(k) - _true(0)
        points = np.stack([np.r_[move_about_joint(door, True, HINGE, PIVOT, qt)[0], body] for qt in q])
        est = _estimate(k.astype(np.int64) * DT, q - q[0], points, labels)
        if w == 2:  # the newest window misses the joint: no joints, the door labelled as the root
            est = ArticulationEstimate(
                EstimateStatus.OK, "odom", est.stamps_ns, np.zeros_like(labels), est.parts[:1], ()
            )
        fused = model.update(est, points)
    assert fused.joints[0].amounts[-1] == pytest.approx(_true(k[-1]) - _true(0), abs=0.02)


def test_malformed_points_are_ignored_and_never_raise():
    rng = np.random.default_rng(6)
    k = np.arange(T)
    q = _true(k) - _true(0)
    labels = np.ones((T, 10), int)
    for points in (np.zeros((3, 3)), np.zeros((T, 10, 2)), np.full((T, 10, 3), np.nan), np.zeros((T + 1, 10, 3))):
        model = ObjectModel()
        out = model.update(_estimate(k.astype(np.int64) * DT, q, rng.normal(size=(T, 10, 3)), labels), points)
        np.testing.assert_allclose(out.joints[0].amounts, q)


def test_chain_method_keeps_the_former_rule():
    rng = np.random.default_rng(7)
    curves = _curves(5, rng, sample_std=0.02)
    model = ObjectModel(ObjectModelConfig(state_method="chain"))
    for c in curves:
        out = model.update(_estimate(c.stamps, c.amounts, None, np.ones((T, 1), int)))
    stamps, states = _chain(curves)
    np.testing.assert_allclose(out.joints[0].amounts, states[-T:], atol=1e-12)


@pytest.mark.parametrize(
    "bad",
    [dict(state_method="sum"), dict(state_windows=0), dict(registration_weight=0.0)],
)
def test_object_model_config_rejects_bad_state_values(bad):
    with pytest.raises(ValueError):
        ObjectModelConfig(**bad)


def test_registration_config_is_used():
    rng = np.random.default_rng(8)
    door, body = _door(rng), _body(rng)
    target = np.r_[move_about_joint(door, True, HINGE, PIVOT, 0.5)[0], body]
    strict = RegistrationConfig(min_inlier_fraction=1.01)
    assert not register_state(door, target, True, HINGE, PIVOT, 0.4, strict).accepted
    assert math.isfinite(register_state(door, target, True, HINGE, PIVOT, 0.4, strict).state)


@pytest.mark.parametrize("register", [False, True])
def test_prismatic_joints_are_registered_only_when_asked(register):
    """Off by default (val bags: drawer fronts seen with few points gave false registrations); when asked, a
    drawer whose windows under-estimate their motion by 30 % is measured right."""
    rng = np.random.default_rng(9)
    front, body = _door(rng, 300), _body(rng, 300)
    axis = np.array([0.0, -1.0, 0.0])
    model = ObjectModel(ObjectModelConfig(registration_prismatic=register))
    labels = np.tile(np.r_[np.ones(len(front), int), np.zeros(len(body), int)], (T, 1))
    for w in range(3):
        k = np.arange(w * SHIFT, w * SHIFT + T)
        q = 0.15 * (_true(k) - _true(0))
        points = np.stack([np.r_[front + qt * axis, body] for qt in q])
        est = _estimate(k.astype(np.int64) * DT, 0.7 * (q - q[0]), points, labels)
        joint = est.joints[0]
        joint = type(joint)(**{**joint.__dict__, "type": JointType.PRISMATIC, "axis": axis,
                               "type_probs": np.array([0.05, 0.9, 0.05])})  # fmt: skip
        fused = model.update(type(est)(**{**est.__dict__, "joints": (joint,)}), points)
    err = abs(fused.joints[0].amounts[-1] - 0.15 * (_true(k[-1]) - _true(0)))
    assert (err < 0.005) == register, err
