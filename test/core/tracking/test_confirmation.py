"""sim2art_core.tracking.object_model: what *confirmed* means (issue 11.3). A joint is confirmed only when
enough of its windows agree geometrically (chi-square gate) and show motion beyond the noise; split parts
and duplicate tracks of one physical joint merge. Odd objects (none of the generator's categories) are
built from synthetic windows with exact flow and the refinement on the true segmentation."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate, part_from_labels
from sim2art_core.geometry import tangent_basis, unit
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.tracking.object_model import window_motion
from sim2art_core.types import EstimateStatus, JointType
from sim2art_core.window import Window

sys.path.insert(0, str(Path(__file__).parents[1] / "segment"))
from scenes import Part, box, hinge, render, slide, still

T = 8
PERIOD = 200_000_000
AXIS = np.array([0.0, 0.0, 1.0])
ORIGIN = np.array([0.5, 0.2, 0.4])
CENTROID = np.array([0.8, 0.2, 0.5])  # 30 cm from the hinge line


def _part(label, centroid, root=False, half=0.1):
    c = np.asarray(centroid, dtype=np.float64)
    return PartEstimate(label, root, 100, c, c - half, c + half, 0.9)


def _joint(child=1, axis=AXIS, origin=ORIGIN, amounts=None, jtype=JointType.REVOLUTE, axis_std_deg=3.0,
           origin_std_m=0.02, **kw):  # fmt: skip
    amounts = np.linspace(0.0, 0.3, T) if amounts is None else np.asarray(amounts, dtype=np.float64)
    probs = np.full(3, 0.05)
    probs[int(jtype)] = 0.9
    kw.setdefault("confidence", 0.8)
    return JointEstimate(
        child=child, parent=0, type=jtype, type_probs=probs, axis=unit(np.asarray(axis, float)),
        origin=np.asarray(origin, float), amounts=amounts, source="refined",
        axis_cov=np.eye(2) * math.radians(axis_std_deg) ** 2, origin_cov=np.eye(3) * origin_std_m**2, **kw,
    )  # fmt: skip


def _window(joints, k, parts=None):
    stamps = (np.arange(T) + k * T) * PERIOD
    if parts is None:
        parts = [_part(0, [0.5, 0.5, 0.5], root=True)] + [_part(j.child, CENTROID) for j in joints]
    labels = np.zeros((T, 2 + len(parts)), dtype=np.int16)
    for i, p in enumerate(parts):
        labels[:, 2 + i] = p.label
    return ArticulationEstimate(EstimateStatus.OK, "odom", stamps, labels, tuple(parts), tuple(joints))


def _tilted(deg, about=0):
    e = tangent_basis(AXIS)[about]
    return unit(AXIS + math.tan(math.radians(deg)) * e)


def test_a_consistent_moving_joint_is_confirmed_and_one_window_is_not():
    model = ObjectModel(ObjectModelConfig(confirm_windows=2))
    fused = model.update(_window([_joint()], 0))
    assert not fused.joints[0].confirmed
    fused = model.update(_window([_joint(axis=_tilted(2.0))], 1))
    assert fused.joints[0].confirmed and model.num_confirmed == 1


def test_a_recurring_joint_that_moves_by_noise_is_never_confirmed():
    """Flow noise on the static body: the same small part 'rotates' by 0.3 deg in every window (1.6 mm at the
    centroid, below 3x its 3 mm fit residual), at a consistent place: seen 6 times, never a fact. The door
    next to it (9 cm, the same residual) is confirmed."""
    model = ObjectModel()
    door = dict(child=1, fit_residual=0.003)
    noise = dict(child=2, axis=[1.0, 0.0, 0.0], origin=[0.0, 0.0, 0.0], amounts=np.linspace(0, 0.005, T),
                 fit_residual=0.003)  # fmt: skip
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, CENTROID), _part(2, [0.0, 0.3, 0.0])]
    for k in range(6):
        fused = model.update(_window([_joint(**door), _joint(**noise)], k, parts))
    by_child = {j.child: j for j in fused.joints}
    assert len(by_child) == 2 and all(j.support_windows == 6 for j in by_child.values())
    door_j, noise_j = sorted(by_child.values(), key=lambda j: -abs(j.axis[2]))
    assert door_j.confirmed and not noise_j.confirmed
    assert window_motion(_joint(**noise), parts[2]) < 0.002


def test_motion_not_above_the_fit_residual_does_not_confirm():
    """3 cm of motion with a 2 cm rigid-fit residual is not significant (min_motion_snr 3); with 5 mm it is."""
    amounts = np.linspace(0.0, 0.1, T)  # 0.1 rad x 0.3 m lever = 3 cm
    for residual, expected in ((0.02, False), (0.005, True)):
        model = ObjectModel()
        for k in range(3):
            fused = model.update(_window([_joint(amounts=amounts, fit_residual=residual)], k))
        assert fused.joints[0].confirmed is expected, residual


def test_windows_that_disagree_are_not_consistent_support():
    """A spurious joint whose axis jumps by 14 deg or more from window to window (each window claims 3 deg):
    within the matching gate, so one track, but no two windows agree: never confirmed."""
    model = ObjectModel(ObjectModelConfig(confirm_windows=2))
    for k, a in enumerate([AXIS, _tilted(14.0), _tilted(14.0, 1), _tilted(-14.0)]):
        fused = model.update(_window([_joint(axis=a)], k))
    (j,) = fused.joints
    assert j.support_windows == 4 and not j.confirmed
    # two more windows that agree with one of them confirm it
    for k in (4, 5):
        fused = model.update(_window([_joint(axis=_tilted(14.0, 1))], k))
    assert fused.joints[0].confirmed


def test_an_outlier_window_does_not_pull_the_fused_axis():
    model = ObjectModel()
    axes = [AXIS, _tilted(1.0), _tilted(-1.0, 1), _tilted(20.0), AXIS]  # the 4th window is 20 deg off
    for k, a in enumerate(axes):
        fused = model.update(_window([_joint(axis=a)], k))
    (j,) = fused.joints
    assert j.support_windows == 5 and j.confirmed
    assert math.degrees(math.acos(min(1.0, abs(float(j.axis @ AXIS))))) < 1.0


def test_a_door_split_in_two_in_one_window_is_one_joint():
    """The window splits a door into two parts side by side (same hinge, same motion): one joint, both parts'
    points carry its label; a second door on the same hinge line but higher up stays apart."""
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, CENTROID), _part(2, CENTROID + [0.1, 0, 0.05]),
             _part(3, CENTROID + [0, 0, 0.8])]  # fmt: skip
    model = ObjectModel()
    other = np.linspace(0.0, 0.5, T)
    for k in range(2):
        window = _window([_joint(child=1), _joint(child=2, axis=_tilted(3.0), confidence=0.5),
                          _joint(child=3, amounts=other)], k, parts)  # fmt: skip
        fused = model.update(window)
    moving = [j for j in fused.joints if j.type != JointType.STATIC]
    assert len(moving) == 2 and all(j.confirmed for j in moving)
    assert model.stats.duplicate_joints == 2
    door = next(j for j in moving if j.amounts[-1] - j.amounts[0] == pytest.approx(0.3))
    np.testing.assert_allclose(door.axis, AXIS, atol=1e-9)  # the more confident piece gives the geometry
    labels = fused.labels[0]
    assert labels[3] == labels[4] == door.child  # parts 1 and 2 (columns 3 and 4) are one part now


def test_two_tracks_of_one_joint_merge():
    """The first window sees the door as two pieces 30 deg apart (beyond the gate, not folded there); later
    windows see it right and pull one track onto it; the other one is then the same joint and merges."""
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, CENTROID), _part(2, CENTROID + [0.05, 0, 0])]
    model = ObjectModel(ObjectModelConfig(confirm_windows=2))
    first = [_joint(child=1, axis=_tilted(15.0), axis_std_deg=10.0),
             _joint(child=2, axis=_tilted(-15.0), axis_std_deg=10.0, confidence=0.5)]  # fmt: skip
    model.update(_window(first, 0, parts))
    assert model.num_tracks == 2
    for k in range(1, 4):
        fused = model.update(_window([_joint(child=1)], k, parts[:2]))
    assert model.num_tracks == 1 and model.stats.merged_tracks == 1
    (j,) = fused.joints
    assert j.confirmed and math.degrees(math.acos(min(1.0, abs(float(j.axis @ AXIS))))) < 2.0


def test_nan_and_empty_input_give_the_documented_result():
    """NaN amounts / axis: the joint is skipped (counted), never confirmed; a window without joints or parts
    changes nothing; a revolute joint whose child has no centroid is matched but never significant."""
    model = ObjectModel()
    nan_amounts = _joint(amounts=np.full(T, np.nan))
    fused = model.update(_window([nan_amounts], 0))
    assert model.stats.skipped_joints == 1 and model.num_tracks == 0 and fused.joints == (nan_amounts,)
    empty = _window([], 1, parts=[])
    assert model.update(empty).joints == () and model.num_tracks == 0
    nowhere = PartEstimate(1, False, 0, np.full(3, np.nan), np.full(3, np.nan), np.full(3, np.nan), 0.0)
    for k in range(2, 5):
        fused = model.update(_window([_joint()], k, parts=[_part(0, [0.5, 0.5, 0.5], True), nowhere]))
    assert fused.joints[0].support_windows == 3 and not fused.joints[0].confirmed
    assert math.isnan(window_motion(_joint(), nowhere))


def test_config_rejects_bad_confirmation_values():
    for bad in ({"consistency_prob": 1.0}, {"min_motion_m": -1.0}, {"min_motion_snr": float("nan")}):
        with pytest.raises(ValueError):
            ObjectModelConfig(**bad)


# ------------------------------------------------------------------ odd objects, exact-flow windows
def _exact_windows(make_parts, K=4, Tw=10, N=600, seed=0):
    """K consecutive windows of Tw frames of a scene whose parts move over all K windows; each window
    estimated by the refinement on the true segmentation (every true part its own label)."""
    from sim2art_core.refine import refine_joints

    out = []
    for k in range(K):
        scene = render(make_parts(lambda t, k=k: (k + t) / K), T=Tw, N=N, seed=seed + k)
        P = int(scene.labels.max()) + 1
        stamps = (np.arange(Tw) + k * Tw) * PERIOD
        window = Window(scene.points.astype(np.float32), scene.flow.astype(np.float32), scene.valid, stamps,
                        np.tile(np.eye(4), (Tw, 1, 1)))  # fmt: skip
        res = refine_joints(window, np.eye(P, dtype=np.float32)[scene.labels], root=0)
        parts = tuple(part_from_labels(window.points, scene.labels, p) for p in range(P))
        out.append(ArticulationEstimate(EstimateStatus.OK, "world", stamps, scene.labels.astype(np.int16), parts,
                                        res.joints))  # fmt: skip
    return out


def _lin(total):
    return lambda g: lambda t: total * g(t)


def test_odd_object_a_box_with_a_bottom_hinged_door_and_a_drawer_under_a_door():
    """A flap door hinged at the bottom (horizontal axis), a side door above a drawer, and a static shelf the
    network made its own part: the three moving joints confirmed and exact, nothing spurious confirmed."""

    def parts(g):
        return [
            Part(box((0, 0, 0), (0.6, 1.0, 0.4)), still, 0.4),
            Part(
                [((0, 0.3, -0.21), (0.58, 0, 0), (0, 0.38, 0))],
                hinge((0, 0.11, -0.21), (1, 0, 0), lambda t: -0.9 * g(t)),
                0.2,
            ),  # flap: hinged at its bottom edge  # fmt: skip
            Part(
                [((0, -0.05, -0.21), (0.58, 0, 0), (0, 0.28, 0))],
                hinge((-0.3, 0, -0.21), (0, 1, 0), lambda t: 0.7 * g(t)),
                0.2,
            ),  # fmt: skip
            Part(
                [((0, -0.4, -0.21), (0.58, 0, 0), (0, 0.18, 0)), ((0, -0.49, -0.05), (0.56, 0, 0), (0, 0, 0.3))],
                slide((0, 0, -1), lambda t: 0.2 * g(t)),
                0.15,
            ),  # fmt: skip
            Part([((0, 0.0, 0.1), (0.5, 0, 0), (0, 0, 0.3))], still, 0.05),  # a static shelf
        ]

    model = ObjectModel()
    for est in _exact_windows(parts):
        fused = model.update(est)
    confirmed = {j.child: j for j in fused.joints if j.confirmed}
    truth = {  # type, axis, a point on the axis
        1: (JointType.REVOLUTE, np.array([1.0, 0, 0]), np.array([0, 0.11, -0.21])),
        2: (JointType.REVOLUTE, np.array([0, 1.0, 0]), np.array([-0.3, 0, -0.21])),
        3: (JointType.PRISMATIC, np.array([0, 0, -1.0]), None),
    }
    assert len(confirmed) == 3, [(j.child, j.type, j.support_windows, j.confirmed) for j in fused.joints]
    for j in confirmed.values():
        jtype, axis, point = min(truth.values(), key=lambda t: math.acos(min(1.0, abs(float(unit(j.axis) @ t[1])))))
        assert j.type == jtype
        assert math.degrees(math.acos(min(1.0, abs(float(j.axis @ axis))))) < 1.0
        if point is not None:
            d = point - j.origin
            assert np.linalg.norm(d - (d @ j.axis) * j.axis) < 0.01


def test_two_stacked_drawers_opening_together_stay_apart_and_a_split_drawer_is_one():
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(1, [0.5, 0.0, 0.2]), _part(2, [0.5, 0.0, 0.45]),
             _part(3, [0.55, 0.02, 0.22])]  # fmt: skip
    slide = np.linspace(0.0, 0.15, T)
    model = ObjectModel()
    for k in range(2):
        joints = [_joint(child=c, axis=[1.0, 0, 0], origin=parts[c].centroid, amounts=slide,
                         jtype=JointType.PRISMATIC, confidence=0.8 - 0.1 * c) for c in (1, 2, 3)]  # fmt: skip
        fused = model.update(_window(joints, k, parts))
    moving = [j for j in fused.joints if j.type == JointType.PRISMATIC]
    assert len(moving) == 2 and all(j.confirmed for j in moving)
    labels = fused.labels[0]
    assert labels[3] == labels[5] != labels[4]  # part 3 (a piece of drawer 1) carries drawer 1's label


def test_an_absolute_motion_floor_can_be_set():
    """min_motion_m (off by default): a window whose child moved 1.6 mm confirms nothing with a 5 mm floor."""
    small = _joint(amounts=np.linspace(0.0, 0.0053, T))  # x 0.3 m lever = 1.6 mm
    for floor, expected in ((0.0, True), (0.005, False)):
        model = ObjectModel(ObjectModelConfig(min_motion_m=floor))
        for k in range(3):
            fused = model.update(_window([small], k))
        assert fused.joints[0].confirmed is expected, floor


# ------------------------------------------------------------------ the network unsure of the joint's type
def _typed(probs, **kw):
    """A joint whose window gives these (revolute, prismatic, static) type probabilities."""
    return replace(_joint(**kw), type_probs=np.asarray(probs, dtype=np.float64))


def test_a_joint_the_network_is_unsure_is_prismatic_is_not_confirmed():
    """A 'drawer' on the static body: every window moves it 8 cm along one axis, consistently, with a 3 mm
    residual (significant), but the type head gives prismatic 0.55 against revolute 0.4: never a fact. The same
    windows with prismatic 0.9 confirm it, and so does the ambiguous one with the rule off."""
    slide_ = dict(
        jtype=JointType.PRISMATIC, axis=[1.0, 0.0, 0.0], amounts=np.linspace(0.0, 0.08, T), fit_residual=0.003
    )
    for probs, config, expected in (
        ([0.4, 0.55, 0.05], ObjectModelConfig(), False),
        ([0.05, 0.9, 0.05], ObjectModelConfig(), True),
        ([0.4, 0.55, 0.05], ObjectModelConfig(min_type_prob=0.0), True),
    ):
        model = ObjectModel(config)
        for k in range(4):
            fused = model.update(_window([_typed(probs, **slide_)], k))
        (j,) = fused.joints
        assert j.support_windows == 4 and j.confirmed is expected, (probs, config.min_type_prob)
        assert j.type_probs[1] == pytest.approx(probs[1])  # the published probabilities are the windows' mean
        assert model.num_confirmed == int(expected)


def test_one_ambiguous_window_among_sure_ones_keeps_a_slow_door_confirmed():
    """A real slow door (3 cm per window at the handle, 1 mm residual): one window of five gives revolute 0.35,
    the others 0.9; the mean (0.79) stays above 0.7 and the door stays confirmed. A window without usable
    probabilities (NaN) counts as sure of its type."""
    model = ObjectModel()
    slow = np.linspace(0.0, 0.1, T)  # 0.1 rad x 0.3 m = 3 cm
    probs = [[0.9, 0.05, 0.05]] * 2 + [[0.35, 0.6, 0.05]] + [[0.9, 0.05, 0.05], [np.nan, np.nan, np.nan]]
    for k, p in enumerate(probs):
        fused = model.update(_window([_typed(p, amounts=slow, fit_residual=0.001)], k))
        if k == 1:
            assert fused.joints[0].confirmed
    (j,) = fused.joints
    assert j.confirmed and j.type_probs[0] == pytest.approx((0.9 * 3 + 0.35 + 1.0) / 5)


def test_a_track_whose_later_windows_doubt_its_type_is_no_longer_confirmed():
    """Confirmation follows the evidence: a joint confirmed by two sure windows, then seen in four windows that
    call it mostly the other type (0.2), falls below 0.7 (0.43) and is published unconfirmed."""
    model = ObjectModel()
    for k in range(2):
        fused = model.update(_window([_typed([0.9, 0.05, 0.05])], k))
    assert fused.joints[0].confirmed
    for k in range(2, 6):
        fused = model.update(_window([_typed([0.2, 0.75, 0.05])], k))
    assert fused.joints[0].support_windows == 6 and not fused.joints[0].confirmed


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_config_rejects_a_bad_min_type_prob(bad):
    with pytest.raises(ValueError, match="min_type_prob"):
        ObjectModelConfig(min_type_prob=bad)
