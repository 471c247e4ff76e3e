"""sim2art_ros.spin: the spin / shutdown block of the console scripts."""

from __future__ import annotations

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from sim2art_ros.spin import shut_down, spin_until_shutdown


def _node(name: str):
    """A node ``name`` on a fresh, initialised context of its own: (context, node)."""
    ctx = Context()
    rclpy.init(context=ctx)
    return ctx, rclpy.create_node(name, context=ctx)


def test_external_shutdown_ends_spin_and_tears_down_in_order():
    ctx, node = _node("spin_external")
    calls = []
    node.create_timer(0.01, lambda: (calls.append("tick"), rclpy.shutdown(context=ctx)))
    executor = SingleThreadedExecutor(context=ctx)
    shutdown, destroy = executor.shutdown, node.destroy_node
    executor.shutdown = lambda *a, **k: (calls.append("executor"), shutdown(*a, **k))[1]
    node.destroy_node = lambda: (calls.append("node"), destroy())[1]
    assert spin_until_shutdown(node, executor=executor, close=lambda: calls.append("close")) == 0
    # rclpy.shutdown(context) already destroys the context's nodes; ours come after, in order
    assert calls[0] == "tick" and calls[-3:] == ["close", "executor", "node"]
    assert not ctx.ok()


def test_keyboard_interrupt_in_a_callback_is_a_clean_exit():
    ctx, node = _node("spin_ctrl_c")

    def ctrl_c():
        raise KeyboardInterrupt

    node.create_timer(0.01, ctrl_c)
    closed = []
    assert spin_until_shutdown(node, close=lambda: closed.append(True)) == 0
    assert closed == [True]
    assert not ctx.ok()


def test_shut_down_after_the_context_is_gone_does_not_raise():
    ctx, node = _node("spin_late")
    rclpy.shutdown(context=ctx)
    shut_down(node)  # the context is already shut down: only the node is destroyed
    assert not ctx.ok()


def test_shut_down_closes_the_context_even_if_close_fails():
    ctx, node = _node("spin_close_fails")

    def broken_close():
        raise RuntimeError("worker did not stop")

    try:
        shut_down(node, close=broken_close)
    except RuntimeError as e:
        assert "worker" in str(e)
    else:
        raise AssertionError("the close() error must propagate")
    assert not ctx.ok()
