"""CPU-seconds spent by each part of a running system, so a benchmark can state a flow's cost in every process
(services, workers, broker, database, SMTP sink, the driver itself), not only in the one it watches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass
class CpuMeter:
    """``groups``: a name per part, and how to find its root process ids now (processes come and go: a
    restarted worker, PostgreSQL's backends), each counted with all its descendants except those in ``alone``
    (the driver started every other process: its own CPU only)."""

    groups: dict[str, Callable[[], list[int]]]
    alone: frozenset[str] = frozenset()  # parts counted without their descendants (a parent of the others)
    _start: dict[str, dict[int, float]] = field(default_factory=dict)

    def _sample(self) -> dict[str, dict[int, float]]:
        out = {}
        for name, roots in self.groups.items():
            per_pid = {}
            for pid in roots():
                for proc in _tree(pid)[: 1 if name in self.alone else None]:
                    per_pid[proc.pid] = _seconds([proc])
            out[name] = per_pid
        return out

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        """CPU-seconds per part since ``start`` (a process born meanwhile counts from zero)."""
        now = self._sample()
        return {
            name: round(sum(s - self._start.get(name, {}).get(pid, 0.0) for pid, s in per_pid.items()), 3)
            for name, per_pid in now.items()
        }
