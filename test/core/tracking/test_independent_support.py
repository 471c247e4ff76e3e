"""Confirmation counts independent windows (issue 11: confirmed spurious joints through the node).

The node's windows overlap by about two thirds, so whatever the network makes of some frames recurs in every
window holding them; these tests build such windows (T frames, a new one every few frames) and check that
the same frames seen again do not confirm a joint, while a door seen over mostly new frames does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.geometry import unit
from sim2art_core.tracking import ObjectModel, ObjectModelConfig
from sim2art_core.tracking.evidence import independent_support
from sim2art_core.types import EstimateStatus, JointType

T = 16
PERIOD = 200_000_000  # a keyframe every 0.2 s: a window spans 3 s
AXIS = np.array([0.0, 0.0, 1.0])
ORIGIN = np.array([0.5, 0.2, 0.4])
CENTROID = np.array([0.8, 0.2, 0.5])


def _part(label, centroid, root=False, half=0.1):
    c = np.asarray(centroid, dtype=np.float64)
    return PartEstimate(label, root, 100, c, c - half, c + half, 0.9)


def _joint(child=1, axis=AXIS, origin=ORIGIN, amounts=None, jtype=JointType.REVOLUTE):
    amounts = np.linspace(0.0, 0.3, T) if amounts is None else np.asarray(amounts, dtype=np.float64)
    probs = np.full(3, 0.05)
    probs[int(jtype)] = 0.9
    return JointEstimate(
        child=child, parent=0, type=jtype, type_probs=probs, axis=unit(np.asarray(axis, float)),
        origin=np.asarray(origin, float), amounts=amounts, confidence=0.8, source="refined",
        axis_cov=np.eye(2) * math.radians(3.0) ** 2, origin_cov=np.eye(3) * 0.02**2, fit_residual=0.003,
    )  # fmt: skip


def _window(joints, start, parts=None):
    """A window of T keyframes starting at keyframe ``start`` (windows 5 keyframes apart share 11 of them, as
    the node's windows estimated once per second do)."""
    stamps = (np.arange(T) + start) * PERIOD
    if parts is None:
        parts = [_part(0, [0.5, 0.5, 0.5], root=True)] + [_part(j.child, CENTROID) for j in joints]
    labels = np.zeros((T, 4), dtype=np.int16)
    return ArticulationEstimate(EstimateStatus.OK, "odom", stamps, labels, tuple(parts), tuple(joints))


# -- the counting rule ----------------------------------------------------------------------------------------
def test_disjoint_windows_count_each_and_overlapping_ones_once():
    assert independent_support(np.array([0, 16, 32]), np.array([15, 31, 47])) == 3
    assert independent_support(np.array([0, 5, 10]), np.array([15, 20, 25])) == 1  # all share frames
    # sharing only the boundary frame (no common frame step) is independent
    assert independent_support(np.array([0, 15]), np.array([15, 30])) == 2
    assert independent_support(np.array([0, 5, 10]), np.array([15, 20, 25]), max_shared=1.0) == 3
    assert independent_support(np.zeros(0), np.zeros(0)) == 0


def test_the_most_independent_windows_are_found_not_the_first_ones():
    """Earliest end first: [0, 10] and [11, 20] are independent although [9, 12] lies between them."""
    first, last = np.array([9, 0, 11]), np.array([12, 10, 20])
    assert independent_support(first, last) == 2
    # windows of one length shifted by a third of it share two thirds: independent only above that
    first, last = np.array([0, 5, 10, 15]), np.array([15, 20, 25, 30])
    assert independent_support(first, last, max_shared=0.5) == 2
    assert independent_support(first, last, max_shared=0.7) == 4


def test_bad_spans_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        independent_support(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="ends before"):
        independent_support(np.array([5]), np.array([4]))
    with pytest.raises(ValueError, match="max_shared"):
        independent_support(np.array([0]), np.array([1]), max_shared=1.5)
    with pytest.raises(ValueError, match="independent_overlap"):
        ObjectModelConfig(independent_overlap=-0.1)


# -- in the fused model ---------------------------------------------------------------------------------------
def test_overlapping_windows_with_the_same_noise_joint_do_not_confirm_it():
    """A joint the network makes of the same frames: one place, 4 windows 2 keyframes apart (each window 15
    steps, the last shares 9 of them with the first). Each window shows it moving beyond its residual, yet
    no two windows hold mostly different frames: never confirmed, and with no shared step allowed (0) not
    either. Counting every window (1, the rule before) confirms it."""
    noise = dict(child=2, axis=[1.0, 0.0, 0.0], origin=[0.2, 0.3, 0.1], amounts=np.linspace(0, 0.1, T))
    parts = [_part(0, [0.5, 0.5, 0.5], True), _part(2, [0.2, 0.5, 0.1])]
    models = {ov: ObjectModel(ObjectModelConfig(independent_overlap=ov)) for ov in (0.5, 0.0, 1.0)}
    for start in (0, 2, 4, 6):
        fused = {ov: m.update(_window([_joint(**noise)], start, parts)) for ov, m in models.items()}
    assert ObjectModelConfig().independent_overlap == 0.5
    assert all(f.joints[0].support_windows == 4 for f in fused.values())
    assert not fused[0.5].joints[0].confirmed and not fused[0.0].joints[0].confirmed
    assert fused[1.0].joints[0].confirmed


def test_a_door_seen_in_overlapping_windows_over_two_stretches_is_confirmed():
    """The node's case for a real door: windows every 5 keyframes (a third of a window), the door turning
    throughout. At the default a window counts once most of its frames are new (the third window shares a
    third with the first); with no shared step allowed once a window holds none of the first one's."""
    for overlap, expected in ((0.5, [False, False, True, True, True]), (0.0, [False, False, False, True, True])):
        model = ObjectModel(ObjectModelConfig(independent_overlap=overlap))
        confirmed = [model.update(_window([_joint()], start)).joints[0].confirmed for start in (0, 5, 10, 15, 20)]
        assert confirmed == expected, overlap


def test_a_recurring_hypothesis_is_kept_unconfirmed_until_independent_windows_confirm_it():
    """Overlapping windows that agree keep a track alive (not dropped after forget_unconfirmed_windows misses)
    although they do not confirm it; a later window with new frames does."""
    model = ObjectModel()
    for start in (0, 2):
        model.update(_window([_joint()], start))
    other = dict(child=3, axis=[1.0, 0.0, 0.0], origin=[0.0, 0.0, 0.0])
    for start in (3, 4, 5, 6):  # four windows without the door
        fused = model.update(_window([_joint(**other)], start))
    door = [j for j in fused.joints if abs(j.axis[2]) > 0.9]
    assert len(door) == 1 and not door[0].confirmed
    fused = model.update(_window([_joint()], 12))
    assert any(abs(j.axis[2]) > 0.9 and j.confirmed for j in fused.joints)


def test_a_door_in_consecutive_windows_is_confirmed_as_before():
    """Consecutive windows (the offline evaluation's, sharing no frame step) confirm after two, as before."""
    model = ObjectModel()
    model.update(_window([_joint()], 0))
    assert model.update(_window([_joint()], T)).joints[0].confirmed
