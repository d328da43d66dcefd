"""Long-running loops that never die silently.

Every background loop (relay, consumer, dispatcher, expiry) runs its passes through ``run_guarded``: an
exception is logged with its stack (frames only, never values: they may hold personal data), the loop backs
off (capped, jittered) and carries on. Each pass that completes is a heartbeat in ``Health``; a loop with no
heartbeat for ``stall_after`` seconds, or whose thread has died, makes the worker unhealthy, and the worker
process exits non-zero if a thread dies anyway, so its supervisor restarts it.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from shared import logs

log = logs.get("loops")


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next(self) -> float:
        self.attempt += 1
        return random.uniform(self.base / 2, min(self.cap, self.base * 2 ** (self.attempt - 1)))

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class LoopState:
    last_progress: float = field(default_factory=time.monotonic)
    failures: int = 0  # consecutive
    last_error: str | None = None


class Health:
    """Each loop's last progress, for the worker's health endpoint."""

    def __init__(self, stall_after: float = 300.0):
        self.stall_after = stall_after
        self.loops: dict[str, LoopState] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def beat(self, name: str) -> None:
        with self._lock:
            state = self.loops.setdefault(name, LoopState())
            state.last_progress, state.failures, state.last_error = time.monotonic(), 0, None

    def failed(self, name: str, error: str) -> None:
        with self._lock:
            state = self.loops.setdefault(name, LoopState())
            state.failures += 1
            state.last_error = error

    def report(self) -> tuple[bool, dict]:
        """(healthy, details): unhealthy, saying why, when a loop has stalled or its thread is gone."""
        now = time.monotonic()
        with self._lock:
            details = {
                name: {
                    "seconds_since_progress": round(now - s.last_progress, 1),
                    "consecutive_failures": s.failures,
                    "last_error": s.last_error,
                }
                for name, s in self.loops.items()
            }
        problems = [
            f"{name}: no progress for {d['seconds_since_progress']} s (last error: {d['last_error']})"
            for name, d in details.items()
            if d["seconds_since_progress"] > self.stall_after
        ]
        problems += [f"{name}: thread has died" for name, t in self.threads.items() if not t.is_alive()]
        return not problems, {"loops": details, "problems": problems}


def describe(exc: BaseException) -> dict:
    """An error as it may be logged: its type and the frames it passed through, never its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-12:]))
    error = logs.safe_error(exc)
    cause = getattr(exc, "cause", None)  # e.g. InfrastructureUnavailable: say what was unavailable
    if isinstance(cause, BaseException):
        error = f"{error}: {logs.safe_error(cause)}"
    return {"error": error, "frames": where}


def run_guarded(
    name: str,
    one_pass: Callable[[threading.Event], None],
    stop: threading.Event,
    health: Health | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Call ``one_pass(stop)`` until ``stop`` is set; survive anything it raises."""
    backoff = backoff or Backoff()
    health = health or Health()
    health.beat(name)
    while not stop.is_set():
        try:
            one_pass(stop)
        except Exception as exc:  # noqa: BLE001 - a loop must outlive any one failure
            if stop.is_set():
                log.info("loop.stopped_mid_pass", loop=name, error=logs.safe_error(exc))
                break
            delay = backoff.next()
            try:
                details = describe(exc)
                health.failed(name, details["error"])
                log.error("loop.failed", loop=name, retry_in=round(delay, 2), **details)
            except Exception:  # noqa: BLE001 - not even a broken log may stop the loop
                health.failed(name, type(exc).__name__)
            stop.wait(delay)
            continue
        backoff.reset()
        health.beat(name)
