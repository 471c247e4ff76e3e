"""Run the perception node in its own process for the bag evaluation and the demo.

The node runs as a separate Python process (as on a robot: its own GIL, its own
DDS participant), with its output captured in a log file. It inherits this
process's environment, including the network-safety settings, which
:func:`~sim2art_ros.network_safety.apply_safe_defaults` has set before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: Starts ``sim2art_ros.perception.node.main`` with the ROS arguments that follow.
NODE_LAUNCHER = "import sys; from sim2art_ros.perception.node import main; sys.exit(main())"


class NodeProcessError(RuntimeError):
    """The node could not be started or died; the message carries the tail of its log."""


def node_command(ros_args: Sequence[str] = ()) -> list[str]:
    """Command line of the perception node with ``--ros-args`` ``ros_args``."""
    cmd = [sys.executable, "-c", NODE_LAUNCHER]
    if ros_args:
        cmd += ["--ros-args", *ros_args]
    return cmd


class NodeProcess:
    """Context manager: start ``command`` with output to ``log_path``; stop it with SIGINT, then SIGTERM/SIGKILL."""

    def __init__(self, command: Sequence[str], log_path: str | Path, env: dict[str, str] | None = None):
        self.command = list(command)
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def __enter__(self) -> NodeProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, what: str = "") -> None:
        """Raise NodeProcessError (with the log's tail) if the node has exited."""
        if not self.alive():
            code = None if self.proc is None else self.proc.returncode
            raise NodeProcessError(
                f"the perception node exited (code {code}){' ' + what if what else ''}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 25) -> str:
        try:
            self._log.flush()
            text = self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGINT (rclpy shuts down cleanly), then SIGTERM, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
                self.proc.send_signal(sig)
                deadline = time.monotonic() + wait
                while self.proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.proc.poll() is not None:
                    break
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode
