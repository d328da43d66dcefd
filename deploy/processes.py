"""Long-running helper processes started from a pid file (the Kafka broker, Keycloak): is it alive, stop it."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def alive(pid_file: Path) -> bool:
    """Whether the process named in ``pid_file`` is running. One this process started and that has died is a
    zombie until reaped, and signal 0 still reaches a zombie: reap it first, and treat zombies as dead."""
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # it had exited: now reaped
    except ChildProcessError:
        pass  # not our child (started by another process): signal 0 below tells
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def stop(pid_file: Path, timeout: float = 30.0) -> None:
    """Stop the process group named in ``pid_file`` (SIGTERM, then SIGKILL after ``timeout``)."""
    try:
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pid_file.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file.unlink(missing_ok=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
