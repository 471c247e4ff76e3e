"""The approximate-time synchroniser used when message_filters is not installed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sim2art_core.runtime.sync import ApproximateSync

MS = 1_000_000


def msg(name: str, t_ms: int):
    ns = t_ms * MS
    return SimpleNamespace(
        name=name, header=SimpleNamespace(stamp=SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9))
    )


def test_matches_within_slop_in_any_arrival_order():
    out = []
    s = ApproximateSync(3, queue_size=5, slop_s=0.01, callback=lambda *m: out.append(tuple(x.name for x in m)))
    s.add(0, msg("c1", 1000))
    s.add(2, msg("i1", 1000))
    assert out == []
    s.add(1, msg("d1", 1005))  # 5 ms off: within slop
    assert out == [("c1", "d1", "i1")]
    s.add(1, msg("d2", 1100))
    s.add(0, msg("c2", 1130))  # 30 ms off: no match
    s.add(2, msg("i2", 1130))
    assert len(out) == 1 and s.matched == 1
    assert s.queued() == 3


def test_newest_set_wins_and_older_colour_counts_as_a_miss():
    out = []
    s = ApproximateSync(2, queue_size=10, slop_s=0.005, callback=lambda *m: out.append(m[0].name))
    s.add(0, msg("c1", 1000))
    s.add(0, msg("c2", 1033))
    s.add(1, msg("d2", 1033))  # c1's depth never comes
    assert out == ["c2"] and s.pivot_misses == 1
    s.add(1, msg("d1", 1000))  # a late partner of a discarded frame
    assert out == ["c2"]


def test_queues_are_bounded_and_overflow_counts():
    s = ApproximateSync(2, queue_size=3, slop_s=0.001, callback=lambda *m: None)
    for k in range(10):
        s.add(0, msg("c", 1000 + 33 * k))  # no depth at all (e.g. the depth topic is wrong)
    assert s.queued() == 3 and s.pivot_misses == 7
    s.reset()
    assert s.queued() == 0


def test_invalid_arguments():
    with pytest.raises(ValueError):
        ApproximateSync(0, 1, 0.1, print)
