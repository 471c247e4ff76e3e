"""Inference off the executor: one worker thread, one pending slot, the latest window wins.

Callbacks never wait for the network: a trigger only :meth:`InferenceWorker.submit` s
the newest window. While the worker is busy, a newer submission replaces the pending
one (counted in ``dropped``), so the worker always starts on the freshest window and
the queue can never grow (the stale-frame latency DOPE users hit,
NVlabs/Deep_Object_Pose#54).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class InferenceWorker:
    """Runs ``run(job)`` for submitted jobs on a daemon thread; exceptions are reported, never fatal.

    Args:
        run: the work; called on the worker thread.
        on_error: called with the exception when ``run`` raises (the worker keeps going).
        name: thread name.
    """

    def __init__(self, run: Callable[[Any], None], on_error: Callable[[BaseException], None], name: str):
        self._run = run
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._busy = False
        self._stop = False
        self.submitted = 0
        self.dropped = 0
        self.completed = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy

    @property
    def pending(self) -> int:
        """Jobs waiting (0 or 1)."""
        with self._cond:
            return int(self._has_pending)

    def submit(self, job: Any) -> bool:
        """Queue ``job``; returns True if it replaced a job that had not started (a drop)."""
        with self._cond:
            replaced = self._has_pending
            self._pending, self._has_pending = job, True
            self.submitted += 1
            self.dropped += int(replaced)
            self._cond.notify_all()
            return replaced

    def clear(self) -> int:
        """Drop the pending job (if any); returns how many were dropped."""
        with self._cond:
            n = int(self._has_pending)
            self._pending, self._has_pending = None, False
            self.dropped += n
            return n

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or running (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and not self._has_pending, timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._pending, self._has_pending = None, False
            self._cond.notify_all()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._has_pending)
                if self._stop:
                    return
                job, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self._run(job)
            except BaseException as e:
                try:
                    self._on_error(e)
                except Exception:
                    pass
            finally:
                with self._cond:
                    self._busy = False
                    self.completed += 1
                    self._cond.notify_all()
