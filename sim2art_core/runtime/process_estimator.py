"""The estimator in its own process: a :class:`~sim2art_core.estimate.WindowEstimator` proxy.

Why: in the node's process the network competes with the preprocessing thread (DIS optical
flow, NumPy, decoding) for the GIL and for torch's thread pool, and a window waited for that
(docs/BENCHMARKS.md, "The ROS node": 419 ms from the frame completing a window to
``/articulation`` for an estimator that needs 107 ms on its own). A child process has its own
interpreter, so the GIL is no longer shared and torch's threads are set for the child alone.

:class:`ProcessEstimator` has the WindowEstimator interface (``num_frames``, ``num_points``,
``estimate(window)``), so :class:`~sim2art_core.runtime.inference_worker.InferenceWorker`
drives it unchanged: its thread sends the window down a pipe and waits (no GIL held) for the
estimate. A window (T×N points, flow, masks: about 1 MB at 16×1024) is pickled through the
pipe in about a millisecond, so shared memory would add complexity for nothing measurable.

Failure handling (never a hang, never a crash of the caller):

* the child is started with the ``spawn`` method (no forked copy of the ROS node's threads,
  and CUDA works in it), loads the estimator with
  :func:`~sim2art_core.runtime.estimator_loader.load_estimator` and reports ready or the load
  error (raised here as :class:`EstimatorLoadError`);
* an ``estimate()`` that raises in the child raises :class:`RemoteEstimateError` here (the
  child lives on);
* a child that dies (killed, segfault, out of memory) or takes longer than ``timeout_s`` is
  detected while waiting (its process sentinel), killed if needed, counted in ``deaths``,
  and :class:`WorkerDiedError` is raised for that window; the next ``estimate()`` starts a new
  child (counted in ``restarts``);
* :meth:`close` asks the child to exit, then terminates and kills it; the child also exits by
  itself when the parent goes away (its pipe end closes), and ignores SIGINT so a Ctrl-C to
  the process group reaches only the node, which then closes it in order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from multiprocessing.connection import wait

from sim2art_core.runtime.cpu_affinity import pin_thread
from sim2art_core.runtime.estimator_loader import DEFAULT_ESTIMATOR, EstimatorLoadError, load_estimator


@dataclass(frozen=True)
class EstimatorSpec:
    """What the child needs to build the estimator (the node's estimator parameters)."""

    spec: str = DEFAULT_ESTIMATOR
    """``module:attribute`` of the estimator factory."""
    checkpoint: str = ""
    """Checkpoint path ('' = the factory's default)."""
    device: str = "auto"
    """Inference device: auto, cpu, cuda, cuda:N."""
    kwargs_json: str = ""
    """Further factory arguments as a JSON object."""
    torch_threads: int = 0
    """Intra-op threads of torch in the child (0 = torch's default)."""
    cpus: tuple[int, ...] = ()
    """CPUs the child pins itself to before loading the estimator (``estimator_cpus``,
    :mod:`~sim2art_core.runtime.cpu_affinity`; empty = not pinned)."""


class RemoteEstimateError(RuntimeError):
    """``estimate()`` raised in the child; the message carries its type, text and traceback."""


class WorkerDiedError(RuntimeError):
    """The child died or timed out during an estimate; it was killed and will be restarted."""


def _child_main(conn, spec: EstimatorSpec) -> None:
    """Child process: build the estimator, then answer windows until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent shuts us down in order
    # OpenMP threads that spin while waiting would steal the CPU from the parent's preprocessing.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if spec.cpus:  # before torch starts its thread pool: its threads inherit the affinity
        pin_thread(frozenset(spec.cpus))
    try:
        est = load_estimator(spec.spec, spec.checkpoint, spec.device, spec.kwargs_json)
        if spec.torch_threads > 0 and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(spec.torch_threads))
        cpus = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()
        conn.send(("ready", int(est.num_frames), int(est.num_points), type(est).__name__, os.getpid(), cpus))
    except BaseException as e:  # report, then exit: the parent raises EstimatorLoadError
        conn.send(("load_error", f"{e}" if isinstance(e, EstimatorLoadError) else f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            window = conn.recv()
        except (EOFError, OSError):  # the parent is gone: do not linger as an orphan
            return
        if window is None:
            return
        received, t0 = time.monotonic(), time.perf_counter()
        try:
            result = est.estimate(window)
            # monotonic stamps: one clock for every process of the machine (the node's latency trace)
            reply = ("ok", result, time.perf_counter() - t0, received, time.monotonic())
        except Exception as e:
            reply = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as e:  # e.g. an estimate that cannot be pickled: say so instead of dying
            conn.send(("error", f"cannot send the estimate back: {type(e).__name__}: {e}", ""))


_MAIN_LOCK = threading.Lock()


def _start_without_main(proc) -> None:
    """``proc.start()`` without the child re-running the parent's ``__main__``.

    A spawned child normally re-imports the parent's main script as ``__mp_main__``; a script
    without an ``if __name__ == "__main__"`` guard (``nodes/perceive_node`` that ``ros2 run``
    starts, ``sys.exit(main())`` at top level) would start a second node in the child, which
    would spawn a child... The child needs nothing from ``__main__`` (its target lives in this
    module), so ``__main__`` is made to look like an interactive session while the preparation
    data is taken (in ``start()``, in this thread).
    """
    main = sys.modules["__main__"]
    missing = object()
    with _MAIN_LOCK:
        saved = {k: main.__dict__.get(k, missing) for k in ("__spec__", "__file__")}
        main.__spec__ = None
        main.__dict__.pop("__file__", None)
        try:
            proc.start()
        finally:
            for k, v in saved.items():
                if v is missing:
                    main.__dict__.pop(k, None)
                else:
                    main.__dict__[k] = v


def _kill(proc) -> None:
    """Terminate, then kill, a child that is still alive (also the garbage-collection finalizer)."""
    if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
    if proc.is_alive():
        proc.kill()
        proc.join(2.0)


class ProcessEstimator:
    """A WindowEstimator whose ``estimate`` runs in a child process (module doc).

    Args:
        spec: how the child builds the estimator.
        start_timeout_s: longest wait for the child to load the estimator.
        timeout_s: longest ``estimate()``; a child over it is killed (0 = no limit).

    Raises:
        EstimatorLoadError: the child could not build the estimator (its message), died while
            loading, or did not report within ``start_timeout_s``.
    """

    def __init__(self, spec: EstimatorSpec, start_timeout_s: float = 300.0, timeout_s: float = 60.0):
        self.spec = spec
        self.start_timeout_s = float(start_timeout_s)
        self.timeout_s = float(timeout_s)
        self._ctx = mp.get_context("spawn")
        self._lock = threading.Lock()  # one estimate at a time through the pipe
        self._proc = None
        self._conn = None
        self._closed = False
        self.deaths = 0
        self.restarts = 0
        self.last_estimate_s = 0.0
        self.last_times: tuple[float, float] | None = None
        """``time.monotonic()`` in the child when it had the last window and when its estimate was done."""
        self.estimator_name = ""
        """Class name of the estimator in the child (diagnostics)."""
        self.cpus: tuple[int, ...] = ()
        """CPUs the child may run on, as it reported them once loaded (empty where the OS cannot say)."""
        self.num_frames = self.num_points = 0
        self._start()

    # ------------------------------------------------------------------ process management
    @property
    def pid(self) -> int | None:
        """Process id of the current child (None when none runs)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_child_main, args=(child, self.spec), name="sim2art_estimator", daemon=True)
        _start_without_main(proc)
        child.close()  # only the child holds this end now: its exit shows as EOF here
        self._finalizer = weakref.finalize(self, _kill, proc)
        ready = wait([parent, proc.sentinel], timeout=self.start_timeout_s)
        if parent not in ready:
            _kill(proc)
            parent.close()
            what = f"exited with code {proc.exitcode}" if ready else f"not ready after {self.start_timeout_s:g} s"
            raise EstimatorLoadError(f"estimator process {what} while loading '{self.spec.spec}'")
        try:
            msg = parent.recv()
        except EOFError:
            msg = ("load_error", f"estimator process exited with code {proc.exitcode} while loading")
        if msg[0] != "ready":
            _kill(proc)
            parent.close()
            raise EstimatorLoadError(msg[1])
        _, num_frames, num_points, self.estimator_name, _, self.cpus = msg
        if self._proc is not None and (num_frames, num_points) != (self.num_frames, self.num_points):
            _kill(proc)
            parent.close()
            raise EstimatorLoadError(f"restarted estimator changed its window size to {num_frames}x{num_points}")
        self.num_frames, self.num_points = num_frames, num_points
        self._proc, self._conn = proc, parent

    def _discard(self) -> None:
        """Kill and forget the current child (after a death or a timeout)."""
        if self._proc is not None:
            _kill(self._proc)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    # ------------------------------------------------------------------ WindowEstimator
    def estimate(self, window):
        """The child's ``estimate(window)``.

        Raises:
            RemoteEstimateError: the estimator raised (in the child).
            WorkerDiedError: the child died or timed out (it is replaced on the next call).
            EstimatorLoadError: a replacement child could not be started.
        """
        with self._lock:
            if self._closed:
                raise WorkerDiedError("the estimator process is closed")
            if self._proc is None or not self._proc.is_alive():
                if self._proc is not None:
                    self.deaths += 1  # died while idle
                    self._discard()
                self._start()
                self.restarts += 1
            proc, conn = self._proc, self._conn
            self.last_times = None
            try:
                conn.send(window)
            except (OSError, ValueError) as e:  # broken pipe: the child just died
                self.deaths += 1
                self._discard()
                raise WorkerDiedError(f"estimator process gone before the window was sent: {e}") from e
            ready = wait([conn, proc.sentinel], timeout=self.timeout_s if self.timeout_s > 0 else None)
            if conn in ready:
                try:
                    reply = conn.recv()
                except (EOFError, OSError):
                    reply = None
            else:
                reply = None
            if reply is None:
                self.deaths += 1
                if ready:  # the pipe may close a moment before the exit status is known
                    proc.join(2.0)
                code = proc.exitcode
                self._discard()
                if self._closed:
                    raise WorkerDiedError("the estimator process was closed during an estimate")
                if not ready:
                    raise WorkerDiedError(f"estimator process took over {self.timeout_s:g} s: killed, will restart")
                raise WorkerDiedError(f"estimator process died (exit code {code}); will restart")
            if reply[0] == "error":
                raise RemoteEstimateError(reply[1] + (f"\n{reply[2]}" if reply[2] else ""))
            self.last_estimate_s = float(reply[2])
            self.last_times = (float(reply[3]), float(reply[4]))
            return reply[1]

    def close(self, timeout: float = 5.0) -> None:
        """Stop the child: ask it to exit, then terminate/kill it. Safe to call twice, from any thread."""
        self._closed = True
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        if self._lock.acquire(blocking=False):  # idle: a polite stop
            try:
                try:
                    conn.send(None)
                except (OSError, ValueError):
                    pass
                proc.join(timeout)
            finally:
                self._lock.release()
        _kill(proc)  # busy (an estimate on shutdown is worthless) or did not stop: end it
        self._finalizer.detach()

    def __del__(self):
        try:
            self.close(timeout=0.5)
        except Exception:
            pass
