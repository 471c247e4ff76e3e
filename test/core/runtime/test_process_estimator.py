"""The estimator in a child process: same answer as in-process, errors and deaths survived, no orphans."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.runtime.estimator_loader import EstimatorLoadError, load_estimator
from sim2art_core.runtime.process_estimator import (
    EstimatorSpec,
    ProcessEstimator,
    RemoteEstimateError,
    WorkerDiedError,
)
from sim2art_core.window import Window

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # process_standins (the spawned child gets the same sys.path)
SPEC = EstimatorSpec("process_standins:CentroidEstimator", device="cpu", kwargs_json='{"sleep_s": 30}')


def door_window(first_stamp: int = 1000, T: int = 4, N: int = 64) -> Window:
    """A box whose upper half swings about the z axis (moving) over a static lower half."""
    rng = np.random.default_rng(first_stamp)
    base = rng.uniform([0.0, 0.0, 0.0], [0.5, 0.02, 1.0], size=(N, 3))
    door = base[:, 2] > 0.5
    points = np.empty((T, N, 3), np.float32)
    for t in range(T):
        a = 0.1 * t
        R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        points[t] = np.where(door[:, None], base @ R.T, base)
    flow = np.zeros_like(points)
    flow[:-1] = points[1:] - points[:-1]
    valid = np.ones((T, N), bool)
    valid[:, :3] = False
    points[:, :3] = np.nan
    flow[:, :3] = 0.0
    stamps = first_stamp + np.arange(T, dtype=np.int64) * 200_000_000
    return Window(points=points, flow=flow, valid=valid, stamps_ns=stamps, world_from_cam=np.tile(np.eye(4), (T, 1, 1)))


def assert_same_estimate(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        elif isinstance(x, tuple):
            assert len(x) == len(y)
            for p, q in zip(x, y, strict=True):
                for g in dataclasses.fields(p):
                    np.testing.assert_array_equal(getattr(p, g.name), getattr(q, g.name))
        else:
            assert x == y, f.name


@pytest.fixture
def remote():
    est = ProcessEstimator(SPEC, start_timeout_s=60, timeout_s=20)
    yield est
    est.close()


def test_same_estimate_as_in_process(remote):
    local = load_estimator(SPEC.spec, "", "cpu", SPEC.kwargs_json)
    assert (remote.num_frames, remote.num_points) == (local.num_frames, local.num_points) == (4, 64)
    assert remote.pid not in (None, os.getpid()) and remote.estimator_name == "CentroidEstimator"
    for first in (1000, 2000):
        w = door_window(first)
        expected = local.estimate(w)
        got = remote.estimate(w)
        assert got.status.name == "OK" and (got.labels == 1).sum() > 0  # a real answer, not a default
        assert_same_estimate(got, expected)
    assert remote.deaths == remote.restarts == 0


def test_the_child_reports_when_it_had_the_window_and_when_it_was_done(remote):
    """One machine-wide monotonic clock: the child's stamps fall inside the parent's call (latency trace)."""
    before = time.monotonic()
    remote.estimate(door_window())
    after = time.monotonic()
    received, estimated = remote.last_times
    assert before <= received <= estimated <= after
    assert estimated - received == pytest.approx(remote.last_estimate_s, abs=0.01)
    with pytest.raises(RemoteEstimateError):
        remote.estimate(door_window(23))
    assert remote.last_times is None  # no stale stamps after a failed estimate


def test_an_estimator_error_is_raised_here_and_the_child_lives_on(remote):
    pid = remote.pid
    with pytest.raises(RemoteEstimateError, match="stand-in refuses this window"):
        remote.estimate(door_window(23))
    bad = door_window()
    bad = dataclasses.replace(bad, valid=bad.valid[:, :10])  # wrong shape: Window.validate raises in the child
    with pytest.raises(RemoteEstimateError, match="ValueError"):
        remote.estimate(bad)
    assert remote.pid == pid and remote.deaths == 0
    assert remote.estimate(door_window()).status.name == "OK"


def test_a_child_that_exits_is_reported_and_replaced(remote):
    pid = remote.pid
    with pytest.raises(WorkerDiedError, match="exit code 3"):
        remote.estimate(door_window(13))
    assert remote.deaths == 1 and remote.pid is None
    assert remote.estimate(door_window()).status.name == "OK"
    assert remote.restarts == 1 and remote.pid not in (None, pid)


def test_a_killed_child_during_an_estimate_is_detected(remote):
    pid = remote.pid
    errors = []

    def call():
        try:
            remote.estimate(door_window(17))  # sleeps 30 s in the child
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    t.join(10)
    assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], WorkerDiedError)
    assert "died" in str(errors[0]) and remote.deaths == 1
    assert remote.estimate(door_window()).status.name == "OK" and remote.restarts == 1


def test_a_hung_child_is_killed_after_the_timeout():
    est = ProcessEstimator(SPEC, start_timeout_s=60, timeout_s=1.0)
    try:
        pid = est.pid
        t0 = time.monotonic()
        with pytest.raises(WorkerDiedError, match="took over 1 s"):
            est.estimate(door_window(17))
        assert time.monotonic() - t0 < 8 and not _alive(pid)
        assert est.estimate(door_window()).status.name == "OK"
    finally:
        est.close()


def test_load_errors_are_estimator_load_errors():
    with pytest.raises(EstimatorLoadError, match="checkpoint unreadable"):
        ProcessEstimator(EstimatorSpec("process_standins:broken_factory"), start_timeout_s=60)
    with pytest.raises(EstimatorLoadError, match="cannot import"):
        ProcessEstimator(EstimatorSpec("no_such_module:X"), start_timeout_s=60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
        return f.read().split(")")[-1].split()[0] != "Z"


def test_close_leaves_no_process_even_during_an_estimate(remote):
    pid = remote.pid
    t = threading.Thread(target=lambda: pytest.raises(WorkerDiedError, remote.estimate, door_window(17)))
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    remote.close()
    t.join(10)
    assert not t.is_alive() and time.monotonic() - t0 < 6 and not _alive(pid)
    with pytest.raises(WorkerDiedError, match="closed"):
        remote.estimate(door_window())


def test_the_child_exits_when_its_parent_is_killed():
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(HERE)!r})
        from sim2art_core.runtime.process_estimator import EstimatorSpec, ProcessEstimator
        est = ProcessEstimator(EstimatorSpec("process_standins:CentroidEstimator"))
        print(est.pid, flush=True)
        time.sleep(60)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")]))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait(10)
        end = time.monotonic() + 10
        while _alive(child) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        parent.kill()


def test_a_main_script_without_guard_is_not_rerun_in_the_child(tmp_path):
    """``nodes/perceive_node`` calls main() at top level; a spawned child must not start a second node."""
    runs = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(HERE)!r})
            open({str(runs)!r}, "a").write("run\\n")
            from sim2art_core.runtime.process_estimator import EstimatorSpec, ProcessEstimator
            est = ProcessEstimator(EstimatorSpec("process_standins:CentroidEstimator"), start_timeout_s=60)
            assert est.num_frames == 4
            est.close()
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    assert runs.read_text() == "run\n"


def test_setup_model_builds_the_estimator_where_inference_mode_says():
    from sim2art_core.runtime.estimator_loader import setup_model

    p = {
        "estimator": SPEC.spec, "checkpoint": "", "device": "cpu", "estimator_kwargs": "", "torch_threads": 1,
        "image_features": "", "inference_mode": "process", "inference_timeout_s": 5.0,
    }  # fmt: skip
    model = setup_model(p)
    try:
        assert isinstance(model.estimator, ProcessEstimator) and model.error == ""
        assert model.estimator.timeout_s == 5.0 and model.estimator.spec.torch_threads == 1
    finally:
        model.estimator.close()
    assert type(setup_model({**p, "inference_mode": "thread"}).estimator).__name__ == "CentroidEstimator"
    failed = setup_model({**p, "estimator": "no_such_module:X"})
    assert failed.estimator is None and "cannot import" in failed.error
