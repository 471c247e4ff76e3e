"""The geometric type check (RefineConfig.type_check, sim2art_core.refine.type_check): odd objects whose
network type is wrong get the type their motion shows; a wobbling drawer and a slowly opening door keep it."""

from __future__ import annotations

import numpy as np
import pytest

from sim2art_core import geometry as g
from sim2art_core.estimate import JointEstimate
from sim2art_core.eval.scenes import BoxPart, make_scene
from sim2art_core.refine import RefineConfig, refine_joints
from sim2art_core.refine.type_check import geometric_type_override
from sim2art_core.types import JointType
from sim2art_core.window import Window

T = 12
BASE = BoxPart(center=(0.0, 0.0, 0.1), size=(0.3, 0.3, 0.2))
CHECK = RefineConfig(fusion="network", type_check=True)
NO_CHECK = RefineConfig(fusion="network", type_check=False)


def onehot(labels: np.ndarray, P: int) -> np.ndarray:
    return np.eye(P, dtype=np.float32)[labels]


def network_joint(jtype: JointType, axis=(1.0, 0.0, 0.0)) -> JointEstimate:
    """A confident network joint of the wrong type (what the network says about scissor blades)."""
    probs = np.full(3, 0.02)
    probs[jtype] = 0.96
    return JointEstimate(child=1, parent=0, type=jtype, type_probs=probs, axis=np.asarray(axis, float),
                         origin=np.zeros(3), amounts=np.linspace(0, 0.05, T), confidence=0.9)  # fmt: skip


def axis_err_deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(g.unit(a) @ g.unit(b)), 0, 1))))


def small_flap() -> BoxPart:
    """A 4 x 3 cm flap hinged at its bottom edge (x axis), opening by 35 deg."""
    return BoxPart(center=(0.0, 0.151, 0.215), size=(0.04, 0.002, 0.03), type=JointType.REVOLUTE,
                   axis=(1.0, 0.0, 0.0), pivot=(0.0, 0.151, 0.2), amounts=np.linspace(0, 0.6, T))  # fmt: skip


def off_centre_rotor() -> BoxPart:
    """A small plate turning by 30 deg about a vertical axis 15 cm from its centre (its motion is mostly a
    translation of its centre, 8 cm)."""
    return BoxPart(center=(0.0, 0.16, 0.25), size=(0.06, 0.01, 0.05), type=JointType.REVOLUTE,
                   axis=(0.0, 0.0, 1.0), pivot=(0.15, 0.16, 0.0), amounts=np.linspace(0, 0.52, T))  # fmt: skip


def tiny_drawer() -> BoxPart:
    """A 3 cm drawer sliding out by 4 cm."""
    return BoxPart(center=(0.0, 0.14, 0.05), size=(0.03, 0.03, 0.02), type=JointType.PRISMATIC,
                   axis=(0.0, 1.0, 0.0), amounts=np.linspace(0, 0.04, T))  # fmt: skip


def slow_door() -> BoxPart:
    """A 25 cm door opening by only 4 deg over the window."""
    return BoxPart(center=(0.0, 0.16, 0.1), size=(0.25, 0.01, 0.18), type=JointType.REVOLUTE,
                   axis=(0.0, 0.0, 1.0), pivot=(0.125, 0.16, 0.0), amounts=np.linspace(0, 0.07, T))  # fmt: skip


def refine_one(part: BoxPart, net: JointEstimate, cfg: RefineConfig, noise: float = 0.0005, seed: int = 0):
    sc = make_scene([BASE, part], T, [600, 200], seed=seed, flow_noise_m=noise)
    (joint,) = refine_joints(sc.window, onehot(sc.labels, 2), 0, [net], cfg).joints
    return joint


@pytest.mark.parametrize(
    ("part", "wrong", "right"),
    [
        (small_flap(), JointType.PRISMATIC, JointType.REVOLUTE),
        (off_centre_rotor(), JointType.PRISMATIC, JointType.REVOLUTE),
        (tiny_drawer(), JointType.REVOLUTE, JointType.PRISMATIC),
    ],
    ids=["small-hinged-flap", "off-centre-rotor", "tiny-drawer"],
)
def test_clear_motion_overrules_a_wrong_network_type(part, wrong, right):
    net = network_joint(wrong)
    assert refine_one(part, net, NO_CHECK) is net  # without the check: the network's (wrong) joint
    joint = refine_one(part, net, CHECK)
    assert joint.type == right and joint.source == "refined"
    assert axis_err_deg(joint.axis, part.axis) < 3.0
    assert joint.type_probs[right] > 0.9  # the published probabilities say what was decided
    if right == JointType.REVOLUTE:
        assert g.point_line_distance(np.asarray(part.pivot, float), joint.origin, joint.axis) < 0.01
        assert abs(joint.amounts[-1] - part.amounts[-1]) < 0.05


@pytest.mark.parametrize("fusion", ["gate", "network"])
def test_the_check_decides_where_the_gate_keeps_the_network_joint(fusion):
    # A residual limit the fit cannot meet sends the gate to the network; the type check still decides.
    net = network_joint(JointType.PRISMATIC)
    cfg = RefineConfig(fusion=fusion, type_check=True, max_fit_residual_m=1e-9)
    assert refine_one(small_flap(), net, cfg).type == JointType.REVOLUTE
    off = RefineConfig(fusion=fusion, type_check=False, max_fit_residual_m=1e-9)
    assert refine_one(small_flap(), net, off) is net


def test_a_right_network_type_is_kept():
    for part, jtype in ((small_flap(), JointType.REVOLUTE), (tiny_drawer(), JointType.PRISMATIC)):
        net = network_joint(jtype)
        assert refine_one(part, net, CHECK) is net


def test_a_slowly_opening_door_stays_revolute():
    # 4 deg over the window: the part translates, but it also turns, so it is no drawer.
    net = network_joint(JointType.REVOLUTE, axis=(0, 0, 1))
    for seed in range(3):
        assert refine_one(slow_door(), net, CHECK, noise=0.001, seed=seed) is net


def _wobbling_drawer_window(wobble_deg: float, seed: int = 0) -> tuple[Window, np.ndarray]:
    """Base + a drawer sliding 15 cm along y that yaws back and forth by +-``wobble_deg`` about its own
    centre while it slides (a loose drawer), exact flow plus 0.5 mm noise."""
    rng = np.random.default_rng(seed)
    n_base, n_drawer = 600, 250
    base_local = rng.uniform(-1, 1, (n_base, 3)) * [0.15, 0.15, 0.1] + [0, 0, 0.1]
    drawer_local = rng.uniform(-1, 1, (n_drawer, 3)) * [0.12, 0.1, 0.05] + [0, 0.05, 0.1]
    s = np.linspace(0, 0.15, T + 1)
    yaw = np.radians(wobble_deg) * np.sin(np.linspace(0, 3 * np.pi, T + 1))
    motions = [g.prismatic_motion(np.array([0.0, 1.0, 0.0]), s[t])
               @ g.revolute_motion(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.05, 0.1]), yaw[t])
               for t in range(T + 1)]  # fmt: skip
    points = np.zeros((T, n_base + n_drawer, 3))
    flow = np.zeros_like(points)
    for t in range(T):
        x = g.transform_points(motions[t], drawer_local)
        points[t] = np.concatenate([base_local, x])
        flow[t, n_base:] = g.transform_points(motions[t + 1] @ g.invert_transform(motions[t]), x) - x
    flow += rng.normal(scale=0.0005, size=flow.shape)
    labels = np.repeat(np.r_[np.zeros(n_base), np.ones(n_drawer)][None].astype(int), T, axis=0)
    window = Window(
        points=points.astype(np.float32),
        flow=flow.astype(np.float32),
        valid=np.ones((T, n_base + n_drawer), bool),
        stamps_ns=np.arange(T, dtype=np.int64) * 66_666_667,
        world_from_cam=np.tile(np.eye(4), (T, 1, 1)),
    )
    return window.validate(), labels


@pytest.mark.parametrize("wobble_deg", [1.0, 3.0])
def test_a_wobbling_drawer_stays_prismatic(wobble_deg):
    window, labels = _wobbling_drawer_window(wobble_deg)
    net = network_joint(JointType.PRISMATIC, axis=(0, 1, 0))
    (joint,) = refine_joints(window, onehot(labels, 2), 0, [net], CHECK).joints
    assert joint is net


def test_a_part_that_does_not_move_keeps_the_network_joint():
    still = BoxPart(center=(0.0, 0.16, 0.1), size=(0.1, 0.01, 0.1))
    for jtype in (JointType.REVOLUTE, JointType.PRISMATIC):
        net = network_joint(jtype)
        assert refine_one(still, net, CHECK, noise=0.001) is net


def test_evidence_threshold_decides():
    sc = make_scene([BASE, small_flap()], T, [600, 200], flow_noise_m=0.0005)
    net = network_joint(JointType.PRISMATIC)
    assert refine_joints(sc.window, onehot(sc.labels, 2), 0, [net], CHECK).joints[0].type == JointType.REVOLUTE
    huge = RefineConfig(fusion="network", type_check=True, type_check_min_bic_margin=1e12)
    assert refine_joints(sc.window, onehot(sc.labels, 2), 0, [net], huge).joints[0] is net
    steep = RefineConfig(fusion="network", type_check=True, type_check_min_rotation_deg=60.0)  # the flap turns 34 deg
    assert refine_joints(sc.window, onehot(sc.labels, 2), 0, [net], steep).joints[0] is net
    # the revolute model explains the flap's steps far better than the prismatic one, but not a billion times
    picky = RefineConfig(fusion="network", type_check=True, type_check_min_chi2_ratio=1e9)
    assert refine_joints(sc.window, onehot(sc.labels, 2), 0, [net], picky).joints[0] is net


def test_on_by_default():
    assert RefineConfig().type_check is True


def test_incomplete_fits_and_bad_thresholds():
    assert geometric_type_override({}, JointType.PRISMATIC, 0.001, 11, 1.0, CHECK) is None
    with pytest.raises(ValueError, match="type_check_min_bic_margin"):
        RefineConfig(type_check_min_bic_margin=-1.0)
    with pytest.raises(ValueError, match="type_check_max_prismatic_chi2"):
        RefineConfig(type_check_max_prismatic_chi2=float("nan"))


def test_two_merged_doors_opening_apart_are_no_drawer():
    # A wardrobe's two doors, hinged at opposite edges, that the network merged into one part: their blend
    # moves on average like a drawer and each pair fit's own residual absorbs the rest; the explained
    # fraction sees two motions, so the network's revolute joint stays.
    base = BoxPart(center=(0, 0, 0.4), size=(0.6, 0.4, 0.8))
    left = BoxPart(center=(-0.15, 0.21, 0.4), size=(0.3, 0.02, 0.7), type=JointType.REVOLUTE, axis=(0, 0, 1),
                   pivot=(-0.3, 0.21, 0.4), amounts=np.linspace(0, 0.9, 16))  # fmt: skip
    right = BoxPart(center=(0.15, 0.21, 0.4), size=(0.3, 0.02, 0.7), type=JointType.REVOLUTE, axis=(0, 0, -1),
                    pivot=(0.3, 0.21, 0.4), amounts=np.linspace(0, 0.5, 16))  # fmt: skip
    sc = make_scene([base, left, right], 16, [500, 300, 200], seed=3)
    merged = onehot(np.where(sc.labels == 2, 1, sc.labels), 2)
    net = network_joint(JointType.REVOLUTE, axis=(0, 0, 1))
    assert refine_joints(sc.window, merged, 0, [net], CHECK).joints[0] is net
    loose = RefineConfig(fusion="network", type_check=True, type_check_min_explained=0.0)
    assert refine_joints(sc.window, merged, 0, [net], loose).joints[0].type == JointType.PRISMATIC
