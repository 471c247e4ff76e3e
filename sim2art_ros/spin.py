"""The spin / shutdown block of our console scripts, written once.

Every main that runs a node ends the same way: spin until Ctrl-C or an external
shutdown (``rclpy.shutdown`` from a signal handler or another thread), then tear
down in the one order that is safe with rclpy: the node's own threads first
(``close``), then the executor, then the node, then the context. An executor shut
down while another thread still spins it aborts the process
(ros_pip_environment.md §9); :func:`spin_until_shutdown` only shuts it down after
``spin()`` has returned in the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable


def shut_down(node, *, executor=None, context=None, close: Callable[[], None] | None = None) -> None:
    """Tear ``node`` down: ``close()`` (the node's worker threads), ``executor.shutdown()``,
    ``node.destroy_node()``, then ``rclpy.shutdown`` of ``context`` (default: the node's) unless
    it is already shut down. Safe to call after Ctrl-C or an external shutdown."""
    import rclpy

    context = node.context if context is None else context
    try:
        if close is not None:
            close()
        if executor is not None:
            executor.shutdown()
        node.destroy_node()
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


def spin_until_shutdown(node, *, executor=None, close: Callable[[], None] | None = None) -> int:
    """Spin ``node`` on ``executor`` (default: a new single-threaded one on the node's context)
    until Ctrl-C or an external shutdown, then :func:`shut_down`. Returns 0, the exit code."""
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    if executor is None:
        executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        shut_down(node, executor=executor, close=close)
    return 0
