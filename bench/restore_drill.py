"""The restore drill: lose every database mid-stream, restore last night's backup, and count.

    python -m bench.restore_drill            # the long drill (make chaos): 600 flows
    python -m bench.restore_drill --short    # the short one inside the test suite

The real system as production runs it (gunicorn, worker processes, PostgreSQL, the broker, SMTP). Clients are
registered, then flows run (book, complete, answer; a share with a risk answer, a share deteriorating over
two sessions) and ``attune backup`` is taken while they run. More flows run after it; some clients hold on
to their invitations and answer only after the restore (their links were issued after the backup). Then the
disaster: every process stops, the three databases are dropped, and ``attune restore`` brings the backup
back onto new empty ones; the system starts again on the same addresses, the held answers come in, and new
flows run. The count (``bench/tally.py``): every completed session exactly one invitation, every risk answer
exactly one urgent alert and its notices, nothing lost, nothing sent twice, and nothing the restore could not
rebuild.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import flows as fl
from bench.chaos import GROUPS, Run, finish, start_system, wait_for_quiescence
from bench.system import System
from bench.tally import Tally, count


@dataclass(frozen=True)
class Profile:
    flows: int
    before: float  # share of the flows that start before the backup
    held: float  # share of the flows after the backup whose clients answer only after the restore
    after_restore: int  # flows started once the system is back
    rate: float  # flows started per second
    clinicians: int = 6
    threads: int = 6
    settle_seconds: float = 600.0
    shares: tuple = (("steady", 0.5), ("risk", 0.3), ("deteriorating", 0.2))


SHORT = Profile(flows=40, before=0.5, held=0.5, after_restore=6, rate=4.0)
LONG = Profile(flows=600, before=0.5, held=0.3, after_restore=100, rate=3.0, clinicians=12, threads=8,
               settle_seconds=1800)  # fmt: skip


@dataclass
class Drill:
    tally: Tally | None = None
    backup_path: Path | None = None
    restored: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


class HeldDriver(fl.Driver):
    """A driver whose chosen flows answer their questionnaire only once ``release()`` is called (a held answer
    waits in a list, not on a thread of the pool)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.held: set[int] = set()
        self.released = False
        self.waiting: list[tuple] = []
        self._held_lock = threading.Lock()

    def release(self) -> None:
        with self._held_lock:
            self.released, waiting, self.waiting = True, self.waiting, []
        for flow, nth, link in waiting:
            self.pool.submit(self._guard, flow, super()._answer, nth, link)

    def register(self, flow: fl.Flow) -> None:
        flow.client_id = self.api.post(
            f"{self.urls['scheduling']}/api/clients",
            {"legal_name": f"Client {flow.number}", "preferred_name": f"C{flow.number}", "email": flow.email,
             "consent_email": True, "clinician_id": flow.clinician_id},
        )["id"]  # fmt: skip

    def start(self, flow: fl.Flow) -> None:
        step = self._complete_a_session if flow.client_id else self._register_and_complete
        self.pool.submit(self._guard, flow, step)

    def _answer(self, flow: fl.Flow, nth: int, link: str) -> None:
        with self._held_lock:
            if flow.number in self.held and not self.released:
                self.waiting.append((flow, nth, link))
                return
        super()._answer(flow, nth, link)


def _drop_and_recreate(admin_url: str, urls: dict[str, str]) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for url in urls.values():
            name = url.rsplit("/", 1)[1]
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _settings(env: dict[str, str], db_urls: dict[str, str]) -> dict:
    from services.feedback.settings import FeedbackSettings
    from services.notifications.settings import NotificationsSettings
    from services.scheduling.settings import SchedulingSettings

    full = {**os.environ, **env, **{f"{s.upper()}_DATABASE_URL": u for s, u in db_urls.items()}}
    classes = {"scheduling": SchedulingSettings, "feedback": FeedbackSettings, "notifications": NotificationsSettings}
    return {name: cls.from_env(full) for name, cls in classes.items()}


def _run_flows(driver: HeldDriver, flows: list[fl.Flow], rate: float, midway=None) -> None:
    started = time.time()
    for n, flow in enumerate(flows):
        time.sleep(max(0.0, started + n / rate - time.time()))
        driver.start(flow)
        if midway is not None and n == len(flows) // 2:
            midway()


def _staff_steps_done(driver: HeldDriver, flows: list[fl.Flow], timeout: float) -> None:
    """Wait until every flow has completed all the sessions it will before its answer (no staff step in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(f.error or f.done or (f.sessions > f.answered) for f in flows):
            return
        time.sleep(1)


def drill(profile: Profile, seed: int, workdir: Path, idp=None, progress: bool = True) -> Drill:
    from deploy.ops import cli as ops

    run = Run(workdir)
    result = Drill()
    driver = None
    failed = True
    namespace_before = os.environ.get("ATTUNE_KAFKA_NAMESPACE")
    try:
        env, practice, mail, driver = start_system(run, idp, profile, replicas=1, driver_class=HeldDriver)
        planned = driver.plan(profile.flows + profile.after_restore, dict(profile.shares), seed)
        stop = threading.Event()
        threading.Thread(target=mail.run, args=(stop,), daemon=True).start()
        first = planned[: int(profile.flows * profile.before)]
        second = planned[len(first) : profile.flows]
        third = planned[profile.flows :]
        driver.held = {f.number for f in random.Random(seed).sample(second, int(len(second) * profile.held))}
        for flow in first + second:  # clients registered after the backup are the one thing it cannot rebuild
            driver.register(flow)
        settings = _settings(env, run.db_urls)
        backup_done = threading.Event()

        def take_backup():
            began = time.monotonic()
            result.backup_path = ops.backup(workdir / "backups", settings=settings, quiet=not progress)
            result.timings["backup seconds"] = round(time.monotonic() - began, 1)
            backup_done.set()

        _run_flows(driver, first, profile.rate, midway=lambda: threading.Thread(target=take_backup).start())
        backup_done.wait(timeout=600)
        if result.backup_path is None:
            raise RuntimeError("the backup did not finish")
        _run_flows(driver, second, profile.rate)
        _staff_steps_done(driver, first + second, timeout=profile.settle_seconds)
        time.sleep(5)  # let some of the last invitations and alerts be sent before the loss
        # the disaster: every process stops, every database is lost
        run.system.close()
        _drop_and_recreate(run.pg.url("postgres"), run.db_urls)
        began = time.monotonic()
        result.restored = ops.restore(result.backup_path, settings=settings, report=workdir / "unrestored.csv",
                                      quiet=not progress)  # fmt: skip
        result.timings["restore seconds"] = round(time.monotonic() - began, 1)
        old = run.system
        run.system = System(workdir / "logs-after", run.db_urls, env, replicas=1, web_ports=old.web_ports,
                            metrics_ports=old.metrics_ports, wake_ports=old.wake_ports).start()  # fmt: skip
        driver.release()
        _run_flows(driver, third, profile.rate)
        wait_for_quiescence(run, driver, timeout=profile.settle_seconds)
        stop.set()
        result.tally = count(planned, run.db_urls, run.sink.directory, practice.supervisors)
        failed = not passed(result)
        return result
    finally:
        finish(run, driver, failed, namespace_before)


def passed(result: Drill) -> bool:
    t = result.tally
    return bool(
        t is not None
        and t.lost == 0
        and t.unflagged_duplicates == 0
        and t.flagged_duplicates == 0
        and not t.unfinished
        and result.restored.get("unrestored", 1) == 0
    )


def report(result: Drill, profile: Profile, seed: int) -> str:
    t = result.tally
    lines = [f"restore drill: {profile.flows + profile.after_restore} flows, seed {seed}", ""]
    lines.append(f"{'check':38} {'expected':>8} {'delivered':>9} {'lost':>5} {'dup':>4} {'flagged':>7}")
    for check in t.checks.values():
        name, expected, delivered, lost, dup, flagged = check.row()
        lines.append(f"{name:38} {expected:>8} {delivered:>9} {lost:>5} {dup:>4} {flagged:>7}")
    lines.append("")
    for service in GROUPS:
        lines.append(f"caught up from the log, {service}: {result.restored.get(service)}")
    lines.append(f"changes the restore could not rebuild: {result.restored.get('unrestored')}")
    lines.append(f"timings: {result.timings}")
    lines += [f"unfinished: {u}" for u in t.unfinished[:10]] + [f"loss: {x}" for x in t.losses[:10]]
    lines.append("PASSED" if passed(result) else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args(argv)
    profile = SHORT if args.short else LONG
    with tempfile.TemporaryDirectory(prefix="attune-drill-") as tmp:
        result = drill(profile, args.seed, Path(tmp))
    print(report(result, profile, args.seed))
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
