"""sim2art_core.refine.refine_joints: closed-form cases, robustness, degenerate inputs, fusion."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from sim2art_core import geometry as g
from sim2art_core.estimate import JointEstimate
from sim2art_core.eval.scenes import BoxPart, cabinet, make_scene
from sim2art_core.refine import STRICT_GATE, RefineConfig, refine_joints
from sim2art_core.types import JointType
from sim2art_core.window import Window


def onehot(labels: np.ndarray, P: int) -> np.ndarray:
    return np.eye(P, dtype=np.float32)[labels]


def axis_err_deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(g.unit(a) @ g.unit(b)), 0, 1))))


@pytest.fixture(scope="module")
def exact_cabinet():
    return cabinet(num_frames=8, num_points=600, door_angle=0.9, drawer_travel=0.15)


def test_exact_flow_recovers_revolute_and_prismatic_joints_to_1e6(exact_cabinet):
    sc = exact_cabinet
    res = refine_joints(sc.window, onehot(sc.labels, 3), root=0)
    door, drawer = res.joints
    assert (door.child, door.parent, drawer.child) == (1, 0, 2)
    assert door.type == JointType.REVOLUTE and drawer.type == JointType.PRISMATIC
    np.testing.assert_allclose(door.axis, [0, 0, 1], atol=1e-6)
    assert g.point_line_distance(np.array([0.5, 0.21, 0.0]), door.origin, door.axis) < 1e-6
    np.testing.assert_allclose(door.amounts, sc.amounts[1], atol=1e-6)
    np.testing.assert_allclose(drawer.axis, [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(drawer.amounts, sc.amounts[2], atol=1e-6)
    # Contract: revolute origin = foot of the perpendicular from the child's centroid; prismatic = centroid.
    assert abs((door.origin - np.array([0.25, 0.21, 0.6])) @ door.axis) < 0.02
    assert np.linalg.norm(drawer.origin - np.array([0.0, 0.05, 0.2])) < 0.02
    assert res.articulation_observed and res.observed_motion > 0.1
    for j in res.joints:
        assert j.source == "refined" and j.fit_residual < 1e-6 and j.confidence > 0.9
        assert np.isclose(j.type_probs.sum(), 1.0)
        assert j.axis_cov.shape == (2, 2) and np.all(np.linalg.eigvalsh(j.axis_cov) > 0)
        assert j.origin_cov.shape == (3, 3) and j.state_variance >= 0


def test_camera_pose_error_common_to_all_parts_cancels():
    T = 8
    wobble = np.stack([g.revolute_motion([1, 1, 0], [0.1, 0, 0], 0.02 * np.sin(t)) for t in range(T)])
    sc = cabinet(num_frames=T, num_points=600, common_motion=wobble)
    res = refine_joints(sc.window, onehot(sc.labels, 3), root=0)
    assert axis_err_deg(res.joints[0].axis, [0, 0, 1]) < 1e-4
    np.testing.assert_allclose(res.joints[0].amounts, sc.amounts[1], atol=1e-6)
    np.testing.assert_allclose(res.joints[1].amounts, sc.amounts[2], atol=1e-6)


def test_20_percent_outlier_flows_keep_axis_error_below_1_degree():
    sc = cabinet(num_frames=16, num_points=1024, outlier_fraction=0.2, outlier_scale_m=0.05, seed=4)
    res = refine_joints(sc.window, onehot(sc.labels, 3), root=0)
    door, drawer = res.joints
    assert door.type == JointType.REVOLUTE and drawer.type == JointType.PRISMATIC
    assert axis_err_deg(door.axis, [0, 0, 1]) < 1.0
    assert axis_err_deg(drawer.axis, [0, 1, 0]) < 1.0
    assert g.point_line_distance(np.array([0.5, 0.21, 0.0]), door.origin, door.axis) < 0.01


def test_soft_boundary_probabilities_still_fit():
    sc = cabinet(num_frames=8, num_points=600, flow_noise_m=0.002)
    probs = 0.85 * onehot(sc.labels, 3) + 0.05  # every point also has 5 % on the wrong parts
    res = refine_joints(sc.window, probs, root=0)
    assert axis_err_deg(res.joints[0].axis, [0, 0, 1]) < 2.0
    assert axis_err_deg(res.joints[1].axis, [0, 1, 0]) < 2.0


def test_noise_widens_axis_covariance():
    clean = refine_joints(*_door_window(noise=0.0))
    noisy = refine_joints(*_door_window(noise=0.005))
    assert np.trace(noisy.joints[0].axis_cov) > 4 * np.trace(clean.joints[0].axis_cov)


def _door_window(noise: float):
    sc = cabinet(num_frames=8, num_points=600, flow_noise_m=noise, seed=1)
    return sc.window, onehot(sc.labels, 3), 0


def test_negative_motion_flips_axis_so_largest_amount_is_positive():
    sc = cabinet(num_frames=8, num_points=600, door_angle=-0.7, drawer_travel=-0.1)
    door, drawer = refine_joints(sc.window, onehot(sc.labels, 3), root=0).joints
    np.testing.assert_allclose(door.axis, [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(drawer.axis, [0, -1, 0], atol=1e-6)
    assert door.amounts[-1] > 0.69 and drawer.amounts[-1] > 0.099


def test_no_motion_gives_static_joints_and_no_articulation_without_nans():
    sc = cabinet(num_frames=8, num_points=600, door_angle=0.0, drawer_travel=0.0, flow_noise_m=0.0005)
    res = refine_joints(sc.window, onehot(sc.labels, 3), root=0)
    assert not res.articulation_observed
    assert res.observed_motion < 0.005
    for j in res.joints:
        assert j.type == JointType.STATIC
        assert np.all(np.isfinite(j.axis)) and np.all(np.isfinite(j.origin)) and np.all(j.amounts == 0)
        assert j.type_probs[JointType.STATIC] > 0.5


def test_pure_translation_along_a_revolute_axis_is_reported_as_prismatic_along_it():
    T = 8
    base = BoxPart(center=(0, 0, 0.4), size=(0.5, 0.4, 0.8))
    # A "door" whose hinge is z but that only slides along z: no rotation was observed, so the geometry
    # can only report a prismatic joint along the hinge direction (documented result).
    door = BoxPart(center=(0.25, 0.21, 0.6), size=(0.5, 0.02, 0.4), type=JointType.PRISMATIC, axis=(0, 0, 1),
                   amounts=np.linspace(0, 0.1, T))  # fmt: skip
    sc = make_scene([base, door], T, [300, 200])
    (j,) = refine_joints(sc.window, onehot(sc.labels, 2), root=0).joints
    assert j.type == JointType.PRISMATIC
    assert axis_err_deg(j.axis, [0, 0, 1]) < 1e-4
    assert np.all(np.isfinite(j.origin)) and np.all(np.isfinite(j.axis_cov))


def test_part_of_three_points_is_unsupported_and_documented():
    sc = cabinet(num_frames=6, num_points=400)
    labels = sc.labels.copy()
    labels[labels == 2] = 0
    labels[:, :3] = 2  # three base points form "part 2"
    res = refine_joints(sc.window, onehot(labels, 3), root=0)
    tiny = res.joints[1]
    assert tiny.type == JointType.STATIC and tiny.confidence == 0.0 and np.isnan(tiny.fit_residual)
    np.testing.assert_allclose(tiny.type_probs, np.full(3, 1 / 3))
    assert np.all(np.isfinite(tiny.axis)) and np.all(np.isfinite(tiny.amounts))
    # With a network joint for that part, the network's joint is used.
    net = _network_joint(child=2, T=6, jtype=JointType.REVOLUTE)
    fused = refine_joints(sc.window, onehot(labels, 3), root=0, network_joints=[net]).joints[1]
    assert fused is net


def test_empty_part_column_gives_unsupported_joint():
    sc = cabinet(num_frames=6, num_points=400)
    probs = np.concatenate([onehot(sc.labels, 3), np.zeros((6, 400, 1), np.float32)], axis=2)
    res = refine_joints(sc.window, probs, root=0)
    assert len(res.joints) == 3 and res.joints[2].child == 3 and res.joints[2].confidence == 0.0


def _network_joint(child: int, T: int, jtype: JointType, axis=(1.0, 0.0, 0.0)) -> JointEstimate:
    probs = np.full(3, 0.1)
    probs[jtype] = 0.8
    return JointEstimate(child=child, parent=0, type=jtype, type_probs=probs, axis=np.asarray(axis),
                         origin=np.zeros(3), amounts=np.linspace(0, 0.3, T), confidence=0.8)  # fmt: skip


def test_fusion_rule_gate_network_and_refined_modes(exact_cabinet):
    sc = exact_cabinet
    T = sc.window.num_frames
    probs = onehot(sc.labels, 3)
    nets = [_network_joint(1, T, JointType.REVOLUTE), _network_joint(2, T, JointType.REVOLUTE)]
    gate = refine_joints(sc.window, probs, 0, nets).joints
    # Trustworthy fits: geometry decides the axis; the type is the product of both probabilities,
    # which the BIC dominates here (drawer stays prismatic although the network says revolute).
    assert [j.source for j in gate] == ["fused", "fused"]
    assert gate[0].type == JointType.REVOLUTE and gate[1].type == JointType.PRISMATIC
    np.testing.assert_allclose(gate[0].axis, [0, 0, 1], atol=1e-6)
    assert refine_joints(sc.window, probs, 0, nets, RefineConfig(fusion="network")).joints[0] is nets[0]
    only_refined = refine_joints(sc.window, probs, 0, nets, RefineConfig(fusion="refined")).joints
    assert [j.source for j in only_refined] == ["refined", "refined"]
    # A residual threshold below the fit's residual sends the gate to the network.
    strict = refine_joints(sc.window, probs, 0, nets, RefineConfig(max_fit_residual_m=0.0)).joints
    assert strict[0] is nets[0]


def test_gate_keeps_network_joint_when_geometry_sees_no_motion():
    sc = cabinet(num_frames=6, num_points=400, door_angle=0.0, drawer_travel=0.0)
    net = _network_joint(1, 6, JointType.REVOLUTE)
    joints = refine_joints(sc.window, onehot(sc.labels, 3), 0, [net]).joints
    assert joints[0] is net and joints[1].type == JointType.STATIC


def test_bad_inputs_raise_clear_errors(exact_cabinet):
    sc = exact_cabinet
    with pytest.raises(ValueError, match="part_probs must be"):
        refine_joints(sc.window, np.ones((2, 2, 2)), 0)
    with pytest.raises(ValueError, match="root 5"):
        refine_joints(sc.window, onehot(sc.labels, 3), 5)
    bad = onehot(sc.labels, 3)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        refine_joints(sc.window, bad, 0)
    with pytest.raises(ValueError, match="fusion"):
        RefineConfig(fusion="average")


def _hide(sc, part: int, frames: slice):
    valid = sc.window.valid.copy()
    sub = valid[frames]
    sub[sc.labels[frames] == part] = False
    valid[frames] = sub
    return replace(sc.window, valid=valid)


def test_part_hidden_in_first_frames_gets_its_axis_and_no_motion_before_it_appears():
    sc = cabinet(num_frames=8, num_points=600)  # linear ramps
    window = _hide(sc, 2, slice(0, 3))  # the drawer is seen from frame 3 on: pairs 3->4 ... 6->7
    drawer = refine_joints(window, onehot(sc.labels, 3), root=0).joints[1]
    assert drawer.type == JointType.PRISMATIC
    np.testing.assert_allclose(drawer.axis, [0, 1, 0], atol=1e-6)
    expected = np.maximum(sc.amounts[2] - sc.amounts[2][3], 0.0)  # unobserved motion is not invented
    np.testing.assert_allclose(drawer.amounts, expected, atol=1e-6)


def test_interior_gap_is_bridged_at_constant_velocity():
    sc = cabinet(num_frames=8, num_points=600)
    window = _hide(sc, 1, slice(3, 5))  # door invisible in frames 3 and 4: pairs 3->4, 4->5 missing
    door = refine_joints(window, onehot(sc.labels, 3), root=0).joints[0]
    np.testing.assert_allclose(door.amounts, sc.amounts[1], atol=1e-6)  # the ramp is linear


def test_long_occlusion_adds_no_invented_motion():
    sc = cabinet(num_frames=12, num_points=600)
    window = _hide(sc, 1, slice(3, 9))  # door unseen in frames 3..8: steps 3..8 unobserved (> 2: not bridged)
    door = refine_joints(window, onehot(sc.labels, 3), root=0).joints[0]
    a = sc.amounts[1]
    expected = np.concatenate([a[:4], np.full(6, a[3]), a[3] + (a[10:] - a[9])])
    np.testing.assert_allclose(door.amounts, expected, atol=1e-6)
    np.testing.assert_allclose(door.axis, [0, 0, 1], atol=1e-6)


def test_slow_small_motion_is_detected_and_noise_alone_is_not():
    slow = cabinet(num_frames=16, num_points=600, door_angle=0.0, drawer_travel=0.006)  # 0.4 mm per frame
    res = refine_joints(slow.window, onehot(slow.labels, 3), root=0)
    assert res.articulation_observed and res.refined[1].type == JointType.PRISMATIC
    for seed in range(4):
        still = cabinet(num_frames=16, num_points=600, door_angle=0.0, drawer_travel=0.0, flow_noise_m=0.003,
                        seed=seed)  # fmt: skip
        assert not refine_joints(still.window, onehot(still.labels, 3), root=0).articulation_observed


def test_invalid_points_may_hold_nan():
    """Window contract: invalid points may hold anything. A part with fewer points than max_fit_points
    in a frame is padded; the padding must not pick up invalid (NaN) points."""
    sc = cabinet(num_frames=8, num_points=600)
    valid = sc.window.valid.copy()
    valid[:, :40] = False  # base points
    valid[2, np.flatnonzero(sc.labels[2] == 2)[50:]] = False  # 50 drawer points left in frame 2
    clean = replace(sc.window, valid=valid)
    points = sc.window.points.copy()
    points[~valid] = np.nan
    res = refine_joints(replace(clean, points=points), onehot(sc.labels, 3), root=0)
    ref = refine_joints(clean, onehot(sc.labels, 3), root=0)
    for j, r in zip(res.joints, ref.joints, strict=True):
        assert j.type == r.type and np.all(np.isfinite(j.amounts))
        np.testing.assert_allclose(j.amounts, r.amounts, atol=1e-12)
    np.testing.assert_allclose(res.joints[1].amounts, sc.amounts[2], atol=1e-6)


def _door_with_sliding_handle(T: int = 8, n: tuple[int, ...] = (300, 200, 100)):
    """Base, a door on a vertical hinge and a handle sliding along the door's x edge (its joint is on
    the door, not the base): points per frame (T, N, 3), flow, labels; the handle's slide per frame."""
    rng = np.random.default_rng(0)
    angle, slide = np.linspace(0, 0.8, T + 1), np.linspace(0, 0.1, T + 1)
    boxes = [
        ((0.0, 0.0, 0.4), (0.5, 0.4, 0.8)),
        ((0.25, 0.21, 0.6), (0.5, 0.02, 0.4)),
        ((0.2, 0.24, 0.6), (0.1, 0.04, 0.04)),
    ]

    def pose(p, t):
        door = g.revolute_motion([0, 0, 1], [0.5, 0.21, 0.0], angle[t])
        return [np.eye(4), door, door @ g.prismatic_motion([1, 0, 0], slide[t])][p]

    pts, flow, labels = np.zeros((T, sum(n), 3)), np.zeros((T, sum(n), 3)), np.zeros((T, sum(n)), np.int64)
    for t in range(T):
        start = 0
        for p, ((c, s), m) in enumerate(zip(boxes, n, strict=True)):
            local = rng.uniform(-0.5, 0.5, size=(m, 3)) * s + c
            x, x_next = g.transform_points(pose(p, t), local), g.transform_points(pose(p, t + 1), local)
            pts[t, start : start + m], flow[t, start : start + m], labels[t, start : start + m] = x, x_next - x, p
            start += m
    window = Window(pts.astype(np.float32), flow.astype(np.float32), np.ones((T, sum(n)), bool),
                    np.arange(T, dtype=np.int64) * 66_666_667, np.tile(np.eye(4), (T, 1, 1)))  # fmt: skip
    return window.validate(), labels, slide[:T]


def test_part_whose_parent_is_another_part_is_fitted_in_its_parents_frame():
    """The network says the handle (2) hangs on the door (1): its joint is fitted relative to the door,
    after the door (parts are batched by depth below the root), and expressed in the door's frame-0 pose."""
    window, labels, slide = _door_with_sliding_handle()
    net = _network_joint(child=2, T=window.num_frames, jtype=JointType.PRISMATIC)
    net = replace(net, parent=1)
    door, handle = refine_joints(window, onehot(labels, 3), 0, [net], RefineConfig(fusion="refined")).joints
    assert door.type == JointType.REVOLUTE and door.parent == 0
    assert handle.parent == 1 and handle.type == JointType.PRISMATIC
    np.testing.assert_allclose(handle.axis, [1, 0, 0], atol=1e-6)  # the door's x edge at frame 0
    np.testing.assert_allclose(handle.amounts, slide, atol=1e-6)
    # Relative to the base the handle's motion is neither revolute nor prismatic about one fixed axis.
    flat = refine_joints(window, onehot(labels, 3), 0, [], RefineConfig(fusion="refined")).joints[1]
    assert flat.parent == 0 and not np.allclose(flat.amounts, slide, atol=1e-3)


def _two_door_cabinet(T: int = 16, noise: float = 0.0):
    """A base with two doors hinged at its outer edges, opening at different speeds (a wardrobe)."""
    base = BoxPart(center=(0, 0, 0.4), size=(0.6, 0.4, 0.8))
    left = BoxPart(center=(-0.15, 0.21, 0.4), size=(0.3, 0.02, 0.7), type=JointType.REVOLUTE, axis=(0, 0, 1),
                   pivot=(-0.3, 0.21, 0.4), amounts=np.linspace(0, 0.9, T))  # fmt: skip
    right = BoxPart(center=(0.15, 0.21, 0.4), size=(0.3, 0.02, 0.7), type=JointType.REVOLUTE, axis=(0, 0, -1),
                    pivot=(0.3, 0.21, 0.4), amounts=np.linspace(0, 0.5, T))  # fmt: skip
    return make_scene([base, left, right], T, [500, 300, 200], flow_noise_m=noise, seed=3)


def test_gate_keeps_network_joint_of_a_part_that_holds_two_differently_moving_doors():
    sc = _two_door_cabinet()
    T = sc.window.num_frames
    merged = np.where(sc.labels == 2, 1, sc.labels)  # the network merged both doors into part 1
    probs = onehot(merged, 2)
    net = _network_joint(1, T, JointType.REVOLUTE, axis=(0.0, 0.0, 1.0))
    res = refine_joints(sc.window, probs, 0, [net], RefineConfig(**STRICT_GATE))
    # The geometry alone fits one joint to the blend of two doors; the strict gate sees why not to trust it.
    assert res.refined[0].confidence >= RefineConfig().min_refined_confidence
    assert res.joints[0] is net  # network's type and axis kept
    # The same scene with the default gate (residual and confidence only) takes the refined blend.
    assert refine_joints(sc.window, probs, 0, [net]).joints[0].source == "fused"


def test_explained_fraction_measures_the_part_against_the_windows_flow_noise():
    from sim2art_core.refine.refine import _measure_parts

    sc = _two_door_cabinet()
    w, cfg = sc.window, RefineConfig()
    pts, flow = w.points.reshape(-1, 3), w.flow.reshape(-1, 3)
    clean, _ = _measure_parts(pts, flow, w.valid, onehot(sc.labels, 3), cfg, root=0)
    merged, _ = _measure_parts(pts, flow, w.valid, onehot(np.where(sc.labels == 2, 1, sc.labels), 2), cfg, root=0)
    np.testing.assert_allclose(clean.explained, 1.0)
    # One rigid motion per pair cannot explain two doors: most points are off by more than 2.5 x the noise.
    assert merged.explained[1] < 0.5 and merged.explained[0] == 1.0


def test_gate_uses_the_refined_joint_of_a_clean_single_door_part():
    for noise, cfg in itertools.product((0.0, 0.002), (RefineConfig(), RefineConfig(**STRICT_GATE))):
        sc = _two_door_cabinet(noise=noise)
        T = sc.window.num_frames
        nets = [_network_joint(1, T, JointType.REVOLUTE), _network_joint(2, T, JointType.REVOLUTE)]
        left, right = refine_joints(sc.window, onehot(sc.labels, 3), 0, nets, cfg).joints
        assert left.source == right.source == "fused", (noise, cfg)
        assert axis_err_deg(left.axis, [0, 0, 1]) < 2.0 and axis_err_deg(right.axis, [0, 0, 1]) < 2.0
