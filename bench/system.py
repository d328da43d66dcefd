"""The real system as production runs it, on this machine: the three web services under gunicorn, each
worker as its own processes (``replicas`` of each in one consumer group), supervised (a worker that dies is
started again, as systemd or compose would), against databases, a broker, an SMTP server and an identity
provider that the caller provides. Used by the chaos run, the monitoring test and the pipeline benchmark.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deploy.processes import free_port
from shared.config import SERVICES

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Proc:
    """One supervised process: how to start it, and the running one."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    health_url: str | None = None
    popen: subprocess.Popen | None = None
    wanted: bool = True  # False while it is meant to be down (a SIGTERM test, the end of the run)
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass


@dataclass
class System:
    """``db_urls``: a database per service (migrated here); ``env``: settings for every process."""

    workdir: Path
    db_urls: dict[str, str]
    env: dict[str, str]
    replicas: int = 2
    gunicorn_workers: int = 2
    web_ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    metrics_ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    wake_ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    procs: dict[str, Proc] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.web_ports[service]}"

    @property
    def workers(self) -> list[Proc]:
        return [p for p in self.procs.values() if "-worker-" in p.name]

    # -- start and stop -----------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> System:
        from shared.migrate import upgrade

        self.workdir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            upgrade(service, self.db_urls[service])
        base = {
            **os.environ,
            **self.env,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            **{f"{s.upper()}_DATABASE_URL": self.db_urls[s] for s in SERVICES},
            **{f"{s.upper()}_PUBLIC_URL": self.url(s) for s in SERVICES},
            **{f"{s.upper()}_OUTBOX_WAKE_PORT": str(self.wake_ports[s]) for s in SERVICES},
            **{f"{s.upper()}_METRICS_PORT": str(self.metrics_ports[s]) for s in SERVICES},
        }
        for service in SERVICES:
            argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn_conf.py")]
            argv += ["--bind", f"127.0.0.1:{self.web_ports[service]}", "--workers", str(self.gunicorn_workers)]
            self._add(f"{service}-web", [*argv, f"services.{service}.wsgi:app"], base, f"{self.url(service)}/healthz")
            for replica in range(1, self.replicas + 1):
                port = free_port()
                env = {**base, f"{service.upper()}_WORKER_HEALTH_PORT": str(port)}
                argv = [sys.executable, "-m", f"services.{service}.worker"]
                self._add(f"{service}-worker-{replica}", argv, env, f"http://127.0.0.1:{port}/")
        for proc in self.procs.values():
            proc.start()
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        self.wait_healthy(timeout)
        return self

    def _add(self, name: str, argv: list[str], env: dict, health_url: str) -> None:
        self.procs[name] = Proc(name, argv, env, self.workdir / f"{name}.log", health_url)

    def _supervise(self) -> None:
        """Start again any wanted process that has died, after a second (as a process supervisor would)."""
        while not self._stop.wait(1.0):
            with self._lock:
                for proc in self.procs.values():
                    if proc.wanted and not proc.alive():
                        proc.restarts += 1
                        proc.start()

    def wait_healthy(self, timeout: float = 120.0, procs: list[Proc] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for proc in procs or list(self.procs.values()):
            while status(proc.health_url) != 200:
                if time.monotonic() > deadline:
                    tail = proc.log.read_text(errors="replace")[-2000:] if proc.log.exists() else ""
                    raise RuntimeError(f"{proc.name} is not healthy after {timeout:.0f} s:\n{tail}")
                time.sleep(0.3)

    def kill(self, proc: Proc) -> None:
        """SIGKILL: the supervisor starts it again."""
        proc.signal(signal.SIGKILL)

    def stop_workers(self, timeout: float = 30.0) -> list[int | str | None]:
        """SIGTERM every worker and wait for each to exit; their exit codes. A worker still starting (restarted
        after a kill, not yet answering its health port) has no handler yet and dies of the signal: it had
        taken no work, so that is reported as ``"starting"``."""
        with self._lock:
            starting = {p.name for p in self.workers if status(p.health_url, timeout=1.0) is None}
            for proc in self.workers:
                proc.wanted = False
                proc.signal(signal.SIGTERM)
        codes: list[int | str | None] = []
        for proc in self.workers:
            try:
                code = proc.popen.wait(timeout=timeout) if proc.popen else None
                codes.append("starting" if code == -signal.SIGTERM and proc.name in starting else code)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                codes.append(None)
        return codes

    def start_workers(self) -> None:
        with self._lock:
            for proc in self.workers:
                proc.wanted = True
                if not proc.alive():
                    proc.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for proc in self.procs.values():
                proc.wanted = False
                proc.signal(signal.SIGTERM)
        for proc in self.procs.values():
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)

    # -- observing ----------------------------------------------------------------------------------------

    def metrics_urls(self) -> dict[str, str]:
        """Every /metrics this system serves: one per web service, one per worker process."""
        urls = {f"{s}-web": f"http://127.0.0.1:{self.metrics_ports[s]}/metrics" for s in SERVICES}
        urls |= {p.name: f"{p.health_url}metrics" for p in self.workers}
        return urls


def status(url: str | None, timeout: float = 3.0) -> int | None:
    if url is None:
        return 200
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def fetch_text(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return response.read().decode()
