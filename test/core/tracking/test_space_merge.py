"""sim2art_core.tracking.object_model: tracks whose parts occupy the same space merge
(ObjectModelConfig.space_merge); parts in different space, or held together in one window, stay apart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.tracking.joint_state import move_about_joint
from sim2art_core.types import EstimateStatus, JointType

T = 8
DT = 200_000_000  # ns between keyframes
Z = np.array([0.0, 0.0, 1.0])
Y = np.array([0.0, 1.0, 0.0])
GRID = 0.02  # m between a panel's points


def _panel(x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    """(N, 3) points of a flat front in the plane y = 0 (a door or drawer front, closed)."""
    xs, zs = np.arange(x0, x1 + 1e-9, GRID), np.arange(z0, z1 + 1e-9, GRID)
    X, Zs = np.meshgrid(xs, zs)
    return np.stack([X.ravel(), np.zeros(X.size), Zs.ravel()], axis=1)


def _tilted(deg: float) -> np.ndarray:
    """The hinge axis z tilted by ``deg`` about x (an outlier window's axis)."""
    r = math.radians(deg)
    return np.array([0.0, -math.sin(r), math.cos(r)])


class _Part:
    """A moving part: its closed points, its joint and its true state per keyframe."""

    def __init__(self, points, jtype, axis, origin, speed):
        self.points, self.type, self.axis, self.origin = points, jtype, axis, np.asarray(origin, float)
        self.speed = speed  # rad or m per keyframe while it moves

    def at(self, q: float) -> np.ndarray:
        if self.type == JointType.REVOLUTE:
            return move_about_joint(self.points, True, self.axis, self.origin, q)[0]
        return self.points + q * self.axis


def _window(start: int, moving: list[tuple[_Part, np.ndarray, float]], states: dict) -> tuple:
    """One window of keyframes start..start+T-1: (estimate, points (T, N, 3), labels (T, N)).

    ``moving``: (part, window axis, window state at keyframe start) for each part that moves and gets a joint
    in this window (labels 1, 2, ... in that order); ``states``: {part: state} of the parts that stay still
    (label 0 with the static body)."""
    k = np.arange(start, start + T)
    body = _panel(-0.3, 1.2, -0.4, -0.2) + [0.0, 0.3, 0.0]  # a static back panel (root)
    parts = [PartEstimate(0, True, len(body), body.mean(0), body.min(0), body.max(0), 1.0)]
    joints = []
    frames = [[body] for _ in k]
    frame_labels = [[np.zeros(len(body), np.int16)] for _ in k]
    for label, (part, axis, q0) in enumerate(moving, start=1):
        q = q0 + part.speed * (k - start)
        for t in range(T):
            frames[t].append(part.at(q[t]))
            frame_labels[t].append(np.full(len(part.points), label, np.int16))
        newest = part.at(q[-1])
        parts.append(PartEstimate(label, False, len(newest), newest.mean(0), newest.min(0), newest.max(0), 0.9))
        probs = np.eye(3)[int(part.type)]
        joints.append(
            JointEstimate(
                child=label, parent=0, type=part.type, type_probs=probs, axis=np.asarray(axis, float),
                origin=part.origin.copy(), amounts=q - q[0], confidence=0.8, source="network",
                axis_cov=np.eye(2) * math.radians(3.0) ** 2, origin_cov=np.eye(3) * 0.01**2,
            )
        )  # fmt: skip
    for part, q in states.items():
        for t in range(T):
            frames[t].append(part.at(q))
            frame_labels[t].append(np.zeros(len(part.points), np.int16))
    points = np.stack([np.concatenate(f) for f in frames])
    labels = np.stack([np.concatenate(f) for f in frame_labels])
    stamps = k.astype(np.int64) * DT
    return ArticulationEstimate(EstimateStatus.OK, "odom", stamps, labels, tuple(parts), tuple(joints)), points, labels


def _moving(est: ArticulationEstimate) -> list[JointEstimate]:
    return [j for j in est.joints if j.type != JointType.STATIC]


DOOR = _Part(_panel(0.02, 0.40, 0.0, 0.6), JointType.REVOLUTE, Z, [0.0, 0.0, 0.0], 0.004)


def _door_with_an_outlier(config: ObjectModelConfig, outlier: int = 2, n: int = 5, with_points: bool = True):
    """A door opening slowly over ``n`` consecutive windows; window ``outlier``'s axis is 40 deg off (beyond the
    matching gate): it starts a second track."""
    model = ObjectModel(config)
    for w in range(n):
        axis = _tilted(40.0) if w == outlier else Z
        est, points, labels = _window(w * T, [(DOOR, axis, DOOR.speed * w * T)], {})
        fused = model.update(est, points if with_points else None, labels if with_points else None)
    return model, fused


def test_a_door_split_into_two_tracks_by_an_axis_outlier_is_merged():
    model, fused = _door_with_an_outlier(ObjectModelConfig())
    joints = _moving(fused)
    assert len(joints) == 1, "the outlier window's track occupies the door's space: one joint"
    j = joints[0]
    assert j.child == 1, "the better supported track (the first) keeps its identity"
    assert j.support_windows == 5 and j.confirmed
    assert math.degrees(math.acos(min(1.0, abs(float(j.axis @ Z))))) < 1.0, "the outlier is left out of the axis"
    assert j.amounts[-1] == pytest.approx(DOOR.speed * (5 * T - 1), abs=1e-3), "the state continues over the merge"
    assert model.stats.space_merged_tracks == 1


def test_without_the_merge_or_without_points_the_outlier_stays_a_second_track():
    _, fused = _door_with_an_outlier(ObjectModelConfig(space_merge=False))
    assert len(_moving(fused)) == 2
    model, fused = _door_with_an_outlier(ObjectModelConfig(), with_points=False)  # no points: no space
    assert len(_moving(fused)) == 2 and model.stats.space_merged_tracks == 0


def test_an_outlier_in_the_first_window_is_merged_too():
    """The outlier comes first: the second window's track merges with it at once (one consistent window each:
    the older label stays), and the outlier is left out of the fused axis as soon as the others outnumber it."""
    model, fused = _door_with_an_outlier(ObjectModelConfig(), outlier=0)
    joints = _moving(fused)
    assert len(joints) == 1 and joints[0].support_windows == 5 and joints[0].child == 1
    assert math.degrees(math.acos(min(1.0, abs(float(joints[0].axis @ Z))))) < 1.0
    assert joints[0].amounts[-1] == pytest.approx(DOOR.speed * (5 * T - 1), abs=1e-3)
    _, alone = _door_with_an_outlier(ObjectModelConfig(space_merge=False), outlier=0)
    assert [j.support_windows for j in _moving(alone)] == [4], "without it the outlier's track is dropped"


# a double door: hinges at x = 0 and x = 0.82, the fronts meet at x = 0.41 (1 cm gap)
LEFT = _Part(_panel(0.02, 0.40, 0.0, 0.6), JointType.REVOLUTE, Z, [0.0, 0.0, 0.0], 0.004)
RIGHT = _Part(_panel(0.42, 0.80, 0.0, 0.6), JointType.REVOLUTE, -Z, [0.82, 0.0, 0.0], 0.004)


@pytest.mark.parametrize("together", [True, False])
def test_the_two_doors_of_a_double_door_stay_two(together):
    """Both doors moving in the same windows (held together), or one after the other (never held together,
    but in different space)."""
    model = ObjectModel()
    for w in range(6):
        if together:
            moving = [(LEFT, Z, LEFT.speed * w * T), (RIGHT, -Z, RIGHT.speed * w * T)]
            still = {}
        elif w < 3:
            moving, still = [(LEFT, Z, LEFT.speed * w * T)], {RIGHT: 0.0}
        else:
            moving, still = [(RIGHT, -Z, RIGHT.speed * (w - 3) * T)], {LEFT: LEFT.speed * 3 * T}
        fused = model.update(*_window(w * T, moving, still))
    joints = _moving(fused)
    assert len(joints) == 2 and all(j.confirmed for j in joints)
    assert model.stats.space_merged_tracks == 0


def test_parts_held_in_one_window_never_merge_even_in_the_same_space():
    """Two window parts interleaved in one space (a front the network cut in two, each piece with its own
    joint 40 deg apart): held together in every window, so two tracks, whatever their space."""
    pts = DOOR.points
    a = _Part(pts[0::2], JointType.REVOLUTE, Z, [0.0, 0.0, 0.0], 0.004)
    b = _Part(pts[1::2], JointType.REVOLUTE, Z, [0.0, 0.0, 0.0], 0.004)
    model = ObjectModel()
    for w in range(4):
        q = 0.004 * w * T
        fused = model.update(*_window(w * T, [(a, Z, q), (b, _tilted(40.0), q)], {}))
    assert len(_moving(fused)) == 2 and model.stats.space_merged_tracks == 0


# a door above a drawer, and a drawer above a drawer (fronts 1 cm apart)
UPPER_DOOR = _Part(_panel(0.02, 0.40, 0.31, 0.7), JointType.REVOLUTE, Z, [0.0, 0.0, 0.0], 0.004)
DRAWER = _Part(_panel(0.02, 0.40, 0.0, 0.30), JointType.PRISMATIC, -Y, [0.2, 0.0, 0.15], 0.002)
UPPER_DRAWER = _Part(_panel(0.02, 0.40, 0.31, 0.6), JointType.PRISMATIC, -Y, [0.2, 0.0, 0.45], 0.002)


@pytest.mark.parametrize("upper", [UPPER_DOOR, UPPER_DRAWER], ids=["door", "drawer"])
def test_a_door_or_drawer_above_a_drawer_stays_two(upper):
    """The upper part moves first, then the drawer under it (never held together, adjacent space)."""
    model = ObjectModel()
    for w in range(6):
        if w < 3:
            moving, still = [(upper, upper.axis, upper.speed * w * T)], {DRAWER: 0.0}
        else:
            moving, still = [(DRAWER, DRAWER.axis, DRAWER.speed * (w - 3) * T)], {upper: upper.speed * 3 * T}
        fused = model.update(*_window(w * T, moving, still))
    joints = _moving(fused)
    assert sorted(j.type for j in joints) == sorted([upper.type, JointType.PRISMATIC])
    assert len(joints) == 2 and model.stats.space_merged_tracks == 0


def test_a_drawer_split_by_an_axis_outlier_is_merged():
    """Prismatic too: one drawer whose third window's axis is 40 deg off."""
    model = ObjectModel()
    for w in range(5):
        axis = DRAWER.axis if w != 2 else np.array([math.sin(math.radians(40.0)), -math.cos(math.radians(40.0)), 0])
        fused = model.update(*_window(w * T, [(DRAWER, axis, DRAWER.speed * w * T)], {}))
    joints = _moving(fused)
    assert len(joints) == 1 and joints[0].support_windows == 5 and model.stats.space_merged_tracks == 1


@pytest.mark.parametrize(
    "field, value",
    [("space_merge_overlap", 0.0), ("space_merge_overlap", 1.5), ("space_merge_tol_m", 0.0),
     ("space_merge_tol_m", float("nan")), ("space_merge_min_points", 0)],
)  # fmt: skip
def test_config_rejects_bad_space_merge_values(field, value):
    with pytest.raises(ValueError, match=field):
        ObjectModelConfig(**{field: value})


def test_random_windows_with_points_never_raise():
    """Random joints over random clouds (NaN points, labels of parts without a joint, -1): the merge never raises
    and the fused geometry stays finite."""
    rng = np.random.default_rng(11)
    model = ObjectModel()
    for w in range(40):
        k = np.arange(w * T, w * T + T)
        n = int(rng.integers(1, 4))
        joints = tuple(
            JointEstimate(
                child=c, parent=0, type=JointType(int(rng.integers(0, 2))), type_probs=np.array([0.5, 0.5, 0.0]),
                axis=rng.normal(size=3), origin=rng.normal(size=3) * 0.1, amounts=np.cumsum(rng.normal(size=T)) * 0.01,
                confidence=float(rng.random()), source="network",
            )
            for c in range(1, n + 1)
        )  # fmt: skip
        parts = tuple(
            PartEstimate(c, c == 0, 10, np.zeros(3), -np.ones(3) * 0.1, np.ones(3) * 0.1, 0.5) for c in range(n + 1)
        )
        points = rng.uniform(-0.05, 0.05, size=(T, 3000, 3))  # dense: random parts share their space
        points[:, :50] = np.nan
        labels = rng.integers(-1, n + 2, size=(T, 3000)).astype(np.int16)
        est = ArticulationEstimate(EstimateStatus.OK, "odom", k.astype(np.int64) * DT, labels, parts, joints)
        fused = model.update(est, points)
        for j in _moving(fused):
            assert np.all(np.isfinite(j.axis)) and np.all(np.isfinite(j.origin))
    assert model.stats.space_merged_tracks > 0  # tracks in one small box that no window held together merge


def test_a_track_keeps_at_most_its_cap_of_space_points():
    from sim2art_core.tracking.object_model import _MAX_SPACE

    model = ObjectModel(ObjectModelConfig(space_merge_tol_m=0.001))  # 1 mm cubes: every window's points are new
    for w in range(10):
        model.update(*_window(w * T, [(DOOR, Z, DOOR.speed * w * T)], {}))
    (track,) = model._tracks
    assert len(DOOR.points) * 10 > _MAX_SPACE and len(track.space) == _MAX_SPACE
    assert track.space_stamp.min() > (T - 1) * DT, "the oldest window's points went first"


# ------------------------------------------------------------------ contradicting tracks (contradiction_check)
def _tilted_y(deg: float) -> np.ndarray:
    """-y (a drawer's pull direction) tilted by ``deg`` about z."""
    r = math.radians(deg)
    return np.array([math.sin(r), -math.cos(r), 0.0])


def _one_part_cut_two_ways(config: ObjectModelConfig, n: int = 6, with_points: bool = True):
    """One sliding front that the network cuts into a left and a right piece, each with its own prismatic joint
    (pull directions 40 deg apart, beyond the matching gate: two tracks), and the pieces swap joints from one
    window to the next: both tracks sweep the whole front, held together in every window."""
    front = _panel(0.02, 0.40, 0.0, 0.3)
    left, right = front[front[:, 0] < 0.21], front[front[:, 0] >= 0.21]
    pieces = [_Part(p, JointType.PRISMATIC, -Y, [0.2, 0.0, 0.15], 0.002) for p in (left, right)]
    model = ObjectModel(config)
    for w in range(n):
        q = 0.002 * w * T
        a, b = pieces if w % 2 == 0 else pieces[::-1]
        est, points, labels = _window(w * T, [(a, _tilted_y(20.0), q), (b, _tilted_y(-20.0), q)], {})
        fused = model.update(est, points if with_points else None, labels if with_points else None)
    return model, fused


def test_two_tracks_that_cut_one_part_two_ways_are_not_confirmed():
    model, fused = _one_part_cut_two_ways(ObjectModelConfig())
    joints = _moving(fused)
    assert len(joints) == 2 and all(j.support_windows == 6 for j in joints)
    assert not any(j.confirmed for j in joints) and model.num_confirmed == 0
    # the rule off, or no points (no space to compare): each track alone has consistent moving windows
    _, fused = _one_part_cut_two_ways(ObjectModelConfig(contradiction_check=False))
    assert [j.confirmed for j in _moving(fused)] == [True, True]
    _, fused = _one_part_cut_two_ways(ObjectModelConfig(), with_points=False)
    assert [j.confirmed for j in _moving(fused)] == [True, True]


def test_pieces_that_never_swap_do_not_contradict():
    """The same two pieces, each always with its own joint (a double drawer front, or two drawers side by
    side): their spaces are apart (one 2 cm column shared at the seam), both confirmed."""
    front = _panel(0.02, 0.40, 0.0, 0.3)
    left = _Part(front[front[:, 0] < 0.21], JointType.PRISMATIC, -Y, [0.1, 0.0, 0.15], 0.002)
    right = _Part(front[front[:, 0] >= 0.21], JointType.PRISMATIC, -Y, [0.3, 0.0, 0.15], 0.002)
    model = ObjectModel()
    for w in range(6):
        q = 0.002 * w * T
        fused = model.update(*_window(w * T, [(left, _tilted_y(20.0), q), (right, _tilted_y(-20.0), q)], {}))
    assert [j.confirmed for j in _moving(fused)] == [True, True]


def test_a_door_inside_the_space_of_a_track_that_once_held_both_doors_stays_confirmed():
    """A slow double door (1 mrad per keyframe) that the network took for one part (both fronts, closed, the left
    door's joint) in two of six windows: the left door's track sweeps both doors and the right door's track
    lies wholly inside it, but only about half (0.54) of the left track's space lies inside the right door's.
    *Each* track must lie inside the other's to contradict: both doors stay confirmed."""
    left = _Part(LEFT.points, JointType.REVOLUTE, Z, LEFT.origin, 0.001)
    right = _Part(RIGHT.points, JointType.REVOLUTE, -Z, RIGHT.origin, 0.001)
    both = _Part(np.concatenate([LEFT.points, RIGHT.points]), JointType.REVOLUTE, Z, LEFT.origin, 0.0)
    model = ObjectModel()
    for w in range(6):
        q = left.speed * w * T
        moving = [(both, Z, 0.0)] if w in (2, 3) else [(left, Z, q), (right, -Z, q)]
        fused = model.update(*_window(w * T, moving, {}))
    joints = _moving(fused)
    assert [j.support_windows for j in joints] == [6, 4], "the left door's track held both doors in 2 windows"
    assert all(j.confirmed for j in joints)


@pytest.mark.parametrize("value", [0.0, 1.5, float("nan")])
def test_config_rejects_a_bad_contradiction_overlap(value):
    with pytest.raises(ValueError, match="contradiction_overlap"):
        ObjectModelConfig(contradiction_overlap=value)
