"""The inference worker: latest window wins, drops counted, failures survived."""

from __future__ import annotations

import threading

from sim2art_core.runtime.inference_worker import InferenceWorker


def test_latest_job_wins_and_drops_are_counted():
    gate = threading.Event()
    done = []

    def run(job):
        gate.wait(5)
        done.append(job)

    w = InferenceWorker(run, lambda e: None, "test")
    try:
        assert w.submit(1) is False
        while not w.busy:  # job 1 has started
            pass
        assert w.submit(2) is False
        assert w.submit(3) is True  # replaces 2, which never started
        assert w.pending == 1 and w.dropped == 1
        gate.set()
        assert w.wait_idle(5)
        assert done == [1, 3] and w.completed == 2
    finally:
        w.stop()


def test_failures_are_reported_and_the_worker_goes_on():
    errors, done = [], []

    def run(job):
        if job == "bad":
            raise RuntimeError("boom")
        done.append(job)

    w = InferenceWorker(run, errors.append, "test")
    try:
        w.submit("bad")
        assert w.wait_idle(5)
        w.submit("good")
        assert w.wait_idle(5)
        assert done == ["good"] and len(errors) == 1 and "boom" in str(errors[0])
        assert w.clear() == 0
    finally:
        w.stop()
