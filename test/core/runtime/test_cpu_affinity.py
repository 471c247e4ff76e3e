"""estimator_cpus: how the allowed CPUs are split, what the estimator child gets, the no-op paths."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from sim2art_core.runtime.cpu_affinity import (
    CpuSplit,
    allowed_cpus,
    check_setting,
    parse_cpu_list,
    pin_process,
    pin_thread,
    split_cpus,
)
from sim2art_core.runtime.process_estimator import EstimatorSpec, ProcessEstimator

sys.path.insert(0, str(Path(__file__).parent))  # process_standins for the spawned child
SPEC = EstimatorSpec("process_standins:CentroidEstimator", device="cpu")
LINUX = hasattr(os, "sched_setaffinity")
needs_two_cpus = pytest.mark.skipif(not LINUX or len(allowed_cpus()) < 2, reason="needs Linux and 2 allowed CPUs")


def test_cpu_lists_and_settings():
    assert parse_cpu_list("3") == {3}
    assert parse_cpu_list("0, 2-4") == {0, 2, 3, 4}
    for bad in ("", "x", "3-1", "-1", "1,,2", "[1, 2]"):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)
    assert check_setting(" auto ") == "auto" and check_setting("none") == "none" and check_setting("1-2") == "1-2"
    with pytest.raises(ValueError, match="estimator_cpus must be 'none', 'auto' or a CPU list"):
        check_setting("fast")


def test_auto_gives_the_child_its_torch_threads_of_the_allowed_cpus():
    two = frozenset({0, 1})
    assert split_cpus("auto", two, torch_threads=1) == CpuSplit(frozenset({1}), frozenset({0}))
    # a robot with 8 cores: the child gets as many as it has threads, the node keeps the rest
    eight = frozenset(range(8))
    assert split_cpus("auto", eight, 2) == CpuSplit(frozenset({6, 7}), frozenset(range(6)))
    assert split_cpus("auto", eight, 0) == CpuSplit(frozenset({4, 5, 6, 7}), frozenset({0, 1, 2, 3}))
    # a taskset / cpuset limit is split, never widened
    s = split_cpus("auto", {3, 9}, 1)
    assert (s.estimator, s.node) == ({9}, {3}) and s.estimator | s.node == {3, 9}
    # more threads than CPUs: the node always keeps one, and it says so
    s = split_cpus("auto", two, 2)
    assert (s.estimator, s.node) == ({1}, {0}) and "2 torch threads" in s.note


def test_cpu_list_is_cut_to_the_allowed_cpus():
    assert split_cpus("2-3", frozenset(range(4)), 1) == CpuSplit(frozenset({2, 3}), frozenset({0, 1}))
    s = split_cpus("3,7", frozenset(range(4)), 1)
    assert (s.estimator, s.node) == ({3}, {0, 1, 2}) and "7 not allowed" in s.note
    s = split_cpus("8", frozenset(range(4)), 1)
    assert not s.estimator and not s.node and "not among the allowed" in s.note
    s = split_cpus("0-3", frozenset(range(4)), 1)
    assert s.estimator == {0, 1, 2, 3} and not s.node and "node not pinned" in s.note


def test_nothing_pinned_when_impossible_or_off():
    assert split_cpus("none", frozenset(range(4))) == CpuSplit()
    one = split_cpus("auto", frozenset({5}), 1)
    assert not one.estimator and not one.node and "only use CPU 5" in one.note
    no_os = split_cpus("auto", frozenset(), 1)  # allowed_cpus() where sched_setaffinity does not exist
    assert not no_os.estimator and "Linux only" in no_os.note
    assert not pin_thread(frozenset()) and pin_process(frozenset()) == 0


@needs_two_cpus
def test_pin_thread_and_pin_process_set_the_affinity():
    before = os.sched_getaffinity(0)
    cpu = max(before)
    seen = {}

    def worker():
        seen["ok"] = pin_thread({cpu})
        seen["cpus"] = os.sched_getaffinity(0)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"ok": True, "cpus": {cpu}} and os.sched_getaffinity(0) == before  # only that thread
    try:
        assert pin_process({cpu}) >= 1
        assert os.sched_getaffinity(0) == {cpu}
        later = {}
        t = threading.Thread(target=lambda: later.setdefault("cpus", os.sched_getaffinity(0)))
        t.start()
        t.join()
        assert later["cpus"] == {cpu}  # threads started afterwards inherit it
    finally:
        pin_process(before)
    assert os.sched_getaffinity(0) == before


@needs_two_cpus
def test_the_estimator_child_pins_itself_and_reports_it():
    cpu = max(allowed_cpus())
    est = ProcessEstimator(EstimatorSpec(SPEC.spec, device="cpu", cpus=(cpu,)), start_timeout_s=60, timeout_s=20)
    try:
        assert est.cpus == (cpu,)
        assert os.sched_getaffinity(est.pid) == {cpu}
        assert os.sched_getaffinity(0) == allowed_cpus()  # the parent is not touched
    finally:
        est.close()


@pytest.mark.skipif(not LINUX, reason="sched_getaffinity is Linux only")
def test_an_unpinned_child_keeps_the_parents_cpus():
    est = ProcessEstimator(SPEC, start_timeout_s=60, timeout_s=20)
    try:
        assert est.cpus == tuple(sorted(os.sched_getaffinity(0)))
    finally:
        est.close()
