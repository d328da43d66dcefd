"""The pipeline benchmark: how fast the main flow runs, what it costs, and what the front desk feels meanwhile.

    python -m bench.pipeline                       # every figure, PostgreSQL, then SQLite (make bench)
    python -m bench.pipeline --database sqlite     # one database only
    python -m bench.pipeline --smoke               # a few hundred flows, counted (the test suite's version)
    python -m bench.pipeline --flow                # at rest, the rate steps, the raw ceiling: those figures only

It starts the system as production runs it (the three services under gunicorn, each worker as its own
processes, PostgreSQL or SQLite, the Kafka broker, Keycloak, an SMTP sink in its own process), seeds a practice,
and drives flows through the public surfaces only: the front desk completes a session (API), the client's
invitation is read from the sink, the questionnaire page is answered with a risk answer, and the flow ends when
the therapist's alert email arrives. Arrivals are open-loop (a flow starts at its planned time whether or not
earlier ones have finished), and each latency is counted from the planned time, so a queue in the driver is
not hidden.

The sessions a flow completes are booked beforehand in this process through scheduling's own domain functions
(the same events as the desk's bookings, carried by the running workers before any measurement), so that
arrival rates measure the flow and not a registration queue. The 20,000-session backlog is committed the same
way while the workers are stopped.

Phases (figures in ``docs/performance.md``): latency at rest; open-loop arrival rates; the backlog drain; CPU
per flow in every process beside kafka-python's raw ceiling on the same broker; two replicas of every worker
(counted like the chaos run: nothing lost or duplicated, per-partition order kept); staff latency while the
pipeline runs at 30 flows/s, and the desk capacity; the dashboard at 1,000,000 scored questionnaires.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from tqdm import tqdm

from bench import flows as fl
from bench.ceiling import raw_ceiling
from bench.chaos import GROUPS, Run, busy, start_keycloak, token_source
from bench.cpu import CpuMeter
from bench.system import System

ROOT = Path(__file__).resolve().parent.parent
LINK_OR_ALERT = fl.LINK
WORKING = {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass(frozen=True)
class Plan:
    rest_flows: int
    rates: tuple[float, ...]
    rate_seconds: float
    drain_flows: int
    scale_flows: int  # a burst, run with one replica of each worker and then with two
    staff_seconds: float
    staff_rate: float  # desk requests/s, together, while the pipeline runs at ``staff_pipeline_rate``
    staff_pipeline_rate: float
    capacity_rates: tuple[float, ...]  # desk requests/s, each step ``capacity_seconds`` long
    capacity_seconds: float
    questionnaires: int  # seeded for the dashboard figure (0: skipped)
    ceiling_records: int
    staff_sustained_rate: float = 5  # flows/s: what two cores sustain (the desk beside a pipeline that keeps up)
    clinicians: int = 20
    desk_users: int = 20
    dashboard_requests: int = 200

    def sessions_needed(self) -> int:
        rates = sum(int(r * self.rate_seconds) + 1 for r in self.rates)
        legs = self.staff_seconds + 5 + self.capacity_seconds * len(self.capacity_rates) + 5  # see ``staff``
        sustained = self.staff_seconds + 5
        staff = (
            int(self.staff_pipeline_rate * legs + self.staff_sustained_rate * sustained) if self.staff_seconds else 0
        )
        return self.rest_flows + rates + self.drain_flows + 2 * self.scale_flows + staff + 50


FULL = Plan(rest_flows=60, rates=(5, 10, 30, 100), rate_seconds=120, drain_flows=20_000, scale_flows=1_500,
            staff_seconds=60, staff_rate=20, staff_pipeline_rate=30, capacity_rates=(20, 40, 80, 160),
            capacity_seconds=20, questionnaires=1_000_000, ceiling_records=200_000)  # fmt: skip
# SQLite, the embedded default: the flow's own figures (no dashboard seeding, no scale-out: one writer per file).
EMBEDDED = Plan(rest_flows=40, rates=(5, 10, 30), rate_seconds=60, drain_flows=5_000, scale_flows=0,
                staff_seconds=0, staff_rate=0, staff_pipeline_rate=0, capacity_rates=(), capacity_seconds=0,
                questionnaires=0, ceiling_records=0)  # fmt: skip
# What this session's reported run could afford on a shared 2-core machine (docs/performance.md says so).
REPORTED = Plan(rest_flows=30, rates=(5, 10, 30), rate_seconds=40, drain_flows=1_500, scale_flows=300,
                staff_seconds=20, staff_rate=20, staff_pipeline_rate=30, capacity_rates=(20, 40),
                capacity_seconds=10, questionnaires=1_000_000, ceiling_records=100_000)  # fmt: skip
# A shorter run of every phase, for comparing two versions side by side (``--quick``).
QUICK = Plan(rest_flows=20, rates=(10, 30), rate_seconds=40, drain_flows=2_000, scale_flows=300, staff_seconds=20,
             staff_rate=20, staff_pipeline_rate=30, capacity_rates=(), capacity_seconds=0, questionnaires=0,
             ceiling_records=20_000)  # fmt: skip
# The desk beside the pipeline only (``--desk``): beside 30 flows/s, the capacity steps, beside 5 flows/s.
DESK = Plan(rest_flows=0, rates=(), rate_seconds=0, drain_flows=0, scale_flows=0, staff_seconds=20, staff_rate=20,
            staff_pipeline_rate=30, capacity_rates=(20, 40), capacity_seconds=10, questionnaires=0,
            ceiling_records=0)  # fmt: skip
# The flow's own phases at FULL's sizes (``--flow``: at rest, the rate steps, the raw ceiling), merged into the
# results docs/performance.md shows: for re-measuring those phases when something disturbed them in a full run.
FLOW = Plan(rest_flows=60, rates=(5, 10, 30, 100), rate_seconds=120, drain_flows=0, scale_flows=0, staff_seconds=0,
            staff_rate=0, staff_pipeline_rate=0, capacity_rates=(), capacity_seconds=0, questionnaires=0,
            ceiling_records=200_000)  # fmt: skip
FLOW_PHASES = ("ceiling", "rest", "rates", "events")
SMOKE = Plan(rest_flows=5, rates=(5,), rate_seconds=10, drain_flows=100, scale_flows=40, staff_seconds=5,
             staff_rate=10, staff_pipeline_rate=5, capacity_rates=(), capacity_seconds=0, questionnaires=2_000,
             ceiling_records=2_000, clinicians=4, desk_users=4, dashboard_requests=20)  # fmt: skip


# -- one flow ---------------------------------------------------------------------------------------------------


@dataclass
class Session:
    """A booked past session waiting to be completed, and what happened to it once it was."""

    client_id: str
    appointment_id: str
    clinician_id: str
    email: str
    planned: float = 0.0  # when the flow was due to start (open loop: the latency clock starts here)
    invited: float = 0.0  # the invitation's arrival at the SMTP sink
    submitted: float = 0.0  # the questionnaire's submission was sent
    alerted: float = 0.0  # the therapist's alert notice arrived
    error: str | None = None

    @property
    def done(self) -> bool:
        return bool(self.alerted) or self.error is not None


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"n": len(values), "p50": round(q[49], 4), "p95": round(q[94], 4), "p99": round(q[98], 4),
            "max": round(max(values), 4)}  # fmt: skip


class MailWatch:
    """The sink's folder as it fills. Each message's arrival time is in its file name (the sink's clock at
    ``DATA``), so how often this scans only delays the client's next step, never a measured latency. A message
    read is moved into ``read/``, so each scan lists only what is new (the folder holds tens of thousands)."""

    def __init__(self, directory: Path, therapists: set[str]):
        self.directory, self.therapists = directory, therapists
        self.read = directory / "read"
        self.read.mkdir(exist_ok=True)
        self.invitations: dict[str, list[tuple[float, str]]] = {}  # address -> [(arrival, link)]
        self.alert_notices: dict[str, float] = {}  # alert id -> first arrival at the client's therapist
        self.alerts_to_therapists = 0
        self.waiting: dict[str, callable] = {}
        self.lock = threading.Lock()
        self._scanning = threading.Lock()

    def wait_for_invitation(self, address: str, then) -> None:
        with self.lock:
            found = self.invitations.get(address)
            if not found:
                self.waiting[address] = then
                return
        then(*found[0])

    def scan(self) -> int:
        with self._scanning:
            return self._scan()

    def _scan(self) -> int:
        ready, new = [], 0
        names = sorted(e.name for e in os.scandir(self.directory) if e.name.endswith(".eml"))
        for name in names:
            path = self.directory / name
            new += 1
            arrived = int(name.split("-", 1)[0]) / 1e9
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            os.replace(path, self.read / name)
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body else ""
            to = str(message["To"])
            link = LINK_OR_ALERT.search(text)
            with self.lock:
                if link:
                    self.invitations.setdefault(to, []).append((arrived, link.group(0)))
                    then = self.waiting.pop(to, None)
                    if then is not None:
                        ready.append((then, arrived, link.group(0)))
                elif to in self.therapists and "/alerts/" in text:
                    alert_id = text.split("/alerts/", 1)[1].split()[0].strip()
                    self.alerts_to_therapists += 1
                    self.alert_notices.setdefault(alert_id, arrived)
        for then, arrived, link in ready:
            then(arrived, link)
        return new

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.02):
            try:
                self.scan()
            except Exception as exc:  # noqa: BLE001 - a watcher that dies would stall every later phase
                print(f"mail watch: {type(exc).__name__}: {exc}", file=sys.stderr)


class Driver:
    """Completes sessions at planned times and answers each invitation as it arrives, in a thread pool."""

    def __init__(self, bench: Bench, threads: int = 48):
        self.bench = bench
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flow")
        self.started: list[Session] = []

    def start(self, session: Session, planned: float, answer: bool = True) -> None:
        session.planned = planned
        self.started.append(session)
        self.pool.submit(self._guard, self._complete, session, answer)

    def _guard(self, step, *args) -> None:
        session = args[0]
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - recorded on the flow and counted; the run goes on
            session.error = f"{type(exc).__name__}: {exc}"[:300]

    def _complete(self, session: Session, answer: bool) -> None:
        self.bench.api.post(f"{self.bench.urls['scheduling']}/api/appointments/{session.appointment_id}/complete")
        if answer:
            self.bench.mail.wait_for_invitation(
                session.email, lambda arrived, link: self._invited(session, arrived, link)
            )

    def _invited(self, session: Session, arrived: float, link: str) -> None:
        session.invited = arrived
        try:
            self.pool.submit(self._guard, self._answer, session, link)
        except RuntimeError:  # this phase is over (its driver closed): the late invitation is only counted
            pass

    def _answer(self, session: Session, link: str) -> None:
        session.submitted = time.time()
        fl.answer(link, fl.RISK, self.bench.api.stop)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _wait_for_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- the system --------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    workdir: Path
    database: str
    plan: Plan
    run: Run = None
    api: fl.Api = None
    urls: dict = field(default_factory=dict)
    clinicians: list[str] = field(default_factory=list)
    clinician_emails: dict[str, str] = field(default_factory=dict)
    supervisors: dict[str, str] = field(default_factory=dict)
    mail: MailWatch = None
    sink_proc: object = None
    sink_dir: Path = None
    prepared: list[Session] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    _scheduling_runtime: object = None
    _namespace_before: str | None = None

    # -- start and stop ------------------------------------------------------------------------------------

    def start(self, idp=None) -> Bench:
        import subprocess

        from deploy.kafka import broker
        from deploy.processes import free_port

        self._namespace_before = os.environ.get("ATTUNE_KAFKA_NAMESPACE")  # put back by close (tests share it)
        self.run = run = Run(self.workdir)
        if self.database == "postgresql":
            from deploy.postgres.server import PostgresServer, create_database

            run.pg = PostgresServer(durable=True)
            admin = run.pg.start()
            run.db_urls = {s: create_database(admin) for s in GROUPS}
        else:
            (self.workdir / "db").mkdir(parents=True, exist_ok=True)
            run.db_urls = {s: f"sqlite:///{self.workdir / 'db' / s}.db" for s in GROUPS}
        run.nodes = [broker.start_single(run.kafka_dir, free_port(), free_port())]
        self.sink_dir = self.workdir / "mail"
        self.sink_dir.mkdir(parents=True, exist_ok=True)
        smtp_port = free_port()
        self.sink_proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.mailsink", "--dir", str(self.sink_dir), "--smtp-port", str(smtp_port),
             "--web-port", str(free_port())],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(smtp_port, timeout=30)
        run.idp = idp or start_keycloak(run)
        namespace = f"bench{uuid.uuid4().hex[:8]}"
        os.environ["ATTUNE_KAFKA_NAMESPACE"] = namespace
        env = {
            "ATTUNE_KAFKA_NAMESPACE": namespace,
            "KAFKA_BOOTSTRAP_SERVERS": run.bootstrap,
            "KAFKA_PARTITIONS": "6",
            "OIDC_ISSUER": run.idp.issuer,
            "SMTP_PORT": str(smtp_port),
            "NOTIFY_QUIET_START": "00:00",
            "NOTIFY_QUIET_END": "00:00",
            "NOTIFY_RATE_PER_SECOND": "10000",
            # The desk's bookings are confirmed after 3 s, not 3 minutes: the confirmations are part of the load
            # the run measures, and waiting for quiet must not mean waiting out a grace period.
            "NOTIFY_GRACE_MINUTES": "0.05",
            "ALERT_ONCALL_ADDRESS": "on-call@practice.example",
            "FEEDBACK_INTAKE_MEASURES": "",
            "PUBLIC_LINK_RATE_LIMIT": "100000000 per minute",  # every client is 127.0.0.1 here
            "WORKER_STALL_SECONDS": "600",
        }
        run.system = System(self.workdir / "logs", run.db_urls, env, replicas=2).start()
        self.set_replicas(1)
        self.api = fl.Api(token_source(run.idp), stop=self.stop)
        self.urls = {s: run.system.url(s) for s in GROUPS}
        self._practice()
        self.mail = MailWatch(self.sink_dir, set(self.clinician_emails.values()))
        threading.Thread(target=self.mail.run, args=(self.stop,), daemon=True).start()
        return self

    def close(self) -> None:
        from deploy.kafka import broker
        from deploy.keycloak import server as keycloak

        self.stop.set()
        for step in (
            lambda: self.run.system and self.run.system.close(),
            lambda: self.sink_proc and (self.sink_proc.terminate(), self.sink_proc.wait(10)),
            lambda: broker.stop(self.run.kafka_dir),
            lambda: self.run.keycloak_dir and keycloak.stop(self.run.keycloak_dir),
            lambda: self.run.pg and self.run.pg.stop(),
            lambda: self._scheduling_runtime and self._scheduling_runtime.engine.dispose(),
            self._restore_namespace,
        ):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - stop the rest whatever one does
                print(f"while stopping: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _restore_namespace(self) -> None:
        if self._namespace_before is None:
            os.environ.pop("ATTUNE_KAFKA_NAMESPACE", None)
        else:
            os.environ["ATTUNE_KAFKA_NAMESPACE"] = self._namespace_before

    def set_replicas(self, n: int) -> None:
        """Run ``n`` replicas of each worker (the others stopped with SIGTERM, their partitions handed over)."""
        import signal

        system = self.run.system
        with system._lock:
            for proc in system.workers:
                replica = int(proc.name.rsplit("-", 1)[1])
                proc.wanted = replica <= n
                if not proc.wanted:
                    proc.signal(signal.SIGTERM)
                elif not proc.alive():
                    proc.start()
        for proc in system.workers:
            if not proc.wanted and proc.popen is not None:
                proc.popen.wait(timeout=30)
        system.wait_healthy(procs=[p for p in system.workers if p.wanted])

    def _practice(self) -> None:
        scheduling = self.urls["scheduling"]
        self.api.post(f"{scheduling}/api/appointment-types", {"id": "individual", "name": "Individual therapy",
                                                              "minutes": 50})  # fmt: skip
        supervisor = self.api.post(f"{scheduling}/api/clinicians", {"name": "Supervisor", "working_hours": WORKING,
                                   "email": "supervisor@practice.example"})["id"]  # fmt: skip
        for n in range(self.plan.clinicians):
            address = f"clinician{n}@practice.example"
            cid = self.api.post(f"{scheduling}/api/clinicians", {"name": f"Clinician {n}", "email": address,
                                "working_hours": WORKING, "supervisor_id": supervisor})["id"]  # fmt: skip
            self.clinicians.append(cid)
            self.clinician_emails[cid] = address
            self.supervisors[cid] = supervisor

    def scheduling_runtime(self):
        if self._scheduling_runtime is None:
            from services.scheduling.settings import SchedulingSettings
            from shared.runtime import Runtime

            env = {k: v for p in self.run.system.procs.values() if p.name == "scheduling-web" for k, v in p.env.items()}
            self._scheduling_runtime = Runtime.build(SchedulingSettings.from_env(env))
        return self._scheduling_runtime

    # -- seeding -------------------------------------------------------------------------------------------

    def prepare(self, count: int, progress: bool = True) -> None:
        """Book ``count`` past sessions (a new client each) through scheduling's domain functions, 500 to a
        transaction, then wait until the workers have carried every event."""
        from services.scheduling import appointments as appts
        from services.scheduling import directory

        runtime = self.scheduling_runtime()
        now = datetime.now(UTC)
        base = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=300)
        bar = tqdm(total=count, desc="booking sessions", unit="session", disable=not progress)
        first = len(self.prepared)
        for chunk in range(0, count, 500):
            with runtime.sessions() as session, session.begin():
                for n in range(first + chunk, first + min(count, chunk + 500)):
                    clinician = self.clinicians[n % len(self.clinicians)]
                    address = f"client{n}@example.org"
                    client = directory.register_client(
                        session,
                        {"legal_name": f"Client {n}", "preferred_name": f"C{n}", "email": address,
                         "consent_email": True, "clinician_id": clinician},
                        now, by="bench",
                    )  # fmt: skip
                    starts = base + timedelta(hours=n // len(self.clinicians))
                    appt = appts.book(
                        session,
                        appts.BookingRequest(client_id=client.id, clinician_id=clinician, type_id="individual",
                                             starts_at=starts, ends_at=starts + timedelta(minutes=50),
                                             override_reason="benchmark: a session entered after it happened",
                                             announce=False),
                        now, "bench", link_key=runtime.settings.link_key,
                    )  # fmt: skip
                    self.prepared.append(Session(client.id, appt.id, clinician, address))
            bar.update(min(500, count - chunk))
        bar.close()
        self.wait_quiet(timeout=3600, what="the bookings carried")

    def take(self, count: int) -> list[Session]:
        out, self.prepared = self.prepared[:count], self.prepared[count:]
        if len(out) < count:
            raise RuntimeError(f"only {len(out)} prepared sessions left, {count} wanted")
        return out

    def wait_quiet(self, timeout: float, what: str = "quiet") -> dict:
        started = time.monotonic()
        deadline, said = started + timeout, started
        stable = 0
        while time.monotonic() < deadline:
            state = busy(self.run)
            moving = {k: v for k, v in state.items() if k != "outbox rows parked"}
            stable = stable + 1 if not any(moving.values()) else 0
            if stable >= 2:
                return state
            if time.monotonic() - said > 30:  # a long wait says what it waits for
                said = time.monotonic()
                print(f"waiting {said - started:.0f} s for {what}: {moving}", file=sys.stderr, flush=True)
            time.sleep(1)
        raise RuntimeError(f"not {what} after {timeout:.0f} s: {state}")

    def cpu_meter(self) -> CpuMeter:
        """A part per service web, per service worker (all replicas), the broker, the database, the sink, and
        this process (the driver)."""
        system = self.run.system

        def procs(prefix):
            return lambda: [p.popen.pid for p in system.procs.values() if p.name.startswith(prefix) and p.alive()]

        groups = {f"{s}-{kind}": procs(f"{s}-{kind}") for s in GROUPS for kind in ("web", "worker")}
        groups["kafka"] = lambda: [int((self.run.kafka_dir / "kafka.pid").read_text())]
        if self.run.pg is not None:
            groups["postgresql"] = lambda: [int((self.run.pg.data / "postmaster.pid").read_text().split()[0])]
        groups["smtp sink"] = lambda: [self.sink_proc.pid]
        groups[DRIVER] = lambda: [os.getpid()]
        return CpuMeter(groups, alone=frozenset({DRIVER}))

    def alert_times(self, sessions: list[Session]) -> None:
        """Match the therapists' alert notices (by alert id) to the sessions' clients."""
        from sqlalchemy import create_engine, select

        from services.feedback.models import Alert

        engine = create_engine(self.run.db_urls["feedback"])
        try:
            with engine.connect() as conn:
                by_client = {}
                for alert_id, client_id in conn.execute(select(Alert.id, Alert.client_id)):
                    arrived = self.mail.alert_notices.get(alert_id)
                    if arrived:
                        by_client[client_id] = min(arrived, by_client.get(client_id, arrived))
        finally:
            engine.dispose()
        for s in sessions:
            s.alerted = by_client.get(s.client_id, s.alerted)


# -- phases ------------------------------------------------------------------------------------------------------


def _wait_flows(bench: Bench, sessions: list[Session], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bench.alert_times(sessions)
        if all(s.done for s in sessions):
            return
        time.sleep(1)


def _latencies(sessions: list[Session]) -> dict:
    return {
        "complete_to_invitation": percentiles([s.invited - s.planned for s in sessions if s.invited]),
        "submission_to_alert": percentiles([s.alerted - s.submitted for s in sessions if s.alerted and s.submitted]),
        "complete_to_alert": percentiles([s.alerted - s.planned for s in sessions if s.alerted]),
        "unfinished": sum(1 for s in sessions if not s.alerted),
        "errors": sorted({s.error for s in sessions if s.error})[:5],
    }


DRIVER = "driver (this process)"


def system_cpu(cpu: dict[str, float]) -> float:
    """CPU-seconds of the system itself: every part but the driver (which stands for the clients and the desk)."""
    return sum(v for k, v in cpu.items() if k != DRIVER)


def at_rest(bench: Bench) -> dict:
    """One flow at a time: the next starts once the previous one's alert has arrived."""
    driver = Driver(bench, threads=4)
    sessions = bench.take(bench.plan.rest_flows)
    for s in tqdm(sessions, desc="at rest", unit="flow"):
        driver.start(s, time.time())
        _wait_flows(bench, [s], timeout=60)
        time.sleep(0.2)
    driver.close()
    return _latencies(sessions)


def open_loop(bench: Bench, rate: float, seconds: float, meter: CpuMeter | None = None) -> dict:
    """Flows arriving at ``rate`` a second for ``seconds`` (stopped early once 10 s behind); the backlog (flows
    started and not yet alerted) sampled every second; sustained when it did not grow over the second half."""
    count = int(rate * seconds)
    sessions = bench.take(count)
    driver = Driver(bench, threads=min(200, max(16, int(rate * 3))))
    started = time.time()
    backlog: list[tuple[float, int]] = []
    meter = meter or bench.cpu_meter()
    meter.start()
    alerts_before = bench.mail.alerts_to_therapists
    behind = False
    bar = tqdm(total=count, desc=f"{rate:g} flows/s", unit="flow")
    next_sample = started
    for n, s in enumerate(sessions):
        planned = started + n / rate
        time.sleep(max(0.0, planned - time.time()))
        driver.start(s, planned)
        if time.time() >= next_sample:
            outstanding = (n + 1) - (bench.mail.alerts_to_therapists - alerts_before)
            backlog.append((round(time.time() - started, 1), outstanding))
            next_sample += 1.0
            bar.n = n + 1
            bar.refresh()
            if outstanding > rate * 10:
                behind = True
                break
    bar.close()
    arrivals_end = time.time()
    arrived = len(driver.started)
    _wait_flows(bench, driver.started, timeout=max(120, arrived / 10))
    finished = time.time()
    cpu = meter.stop()
    driver.close()
    for s in sessions[arrived:]:  # never started: put back for the next phase
        bench.prepared.append(s)
    half = [b for t, b in backlog if t >= (arrivals_end - started) / 2]
    grew = (half[-1] - half[0]) if len(half) > 1 else 0
    sustained = not behind and grew <= max(3 * rate, 0.05 * rate * (arrivals_end - started) / 2)
    out = {"rate": rate, "flows": arrived, "seconds": round(arrivals_end - started, 1), "sustained": sustained,
           "backlog_growth_second_half": grew, "backlog": backlog, "until_quiet_seconds": round(finished - started, 1),
           "cpu_seconds": cpu, **_latencies(driver.started)}  # fmt: skip
    out["cpu_per_flow"] = round(system_cpu(cpu) / max(1, arrived), 4)
    return out


def drain(bench: Bench) -> dict:
    """``drain_flows`` sessions completed while every worker is stopped; then the workers start: the time until
    every invitation has arrived, and the curve."""
    from services.scheduling import appointments as appts

    sessions = bench.take(bench.plan.drain_flows)
    system = bench.run.system
    system.stop_workers()
    runtime = bench.scheduling_runtime()
    for chunk in tqdm(range(0, len(sessions), 500), desc="completing (workers stopped)", unit="500"):
        with runtime.sessions() as session, session.begin():
            for s in sessions[chunk : chunk + 500]:
                appts.complete(session, s.appointment_id, datetime.now(UTC), by="bench")
    meter = bench.cpu_meter()
    meter.start()
    started = time.time()
    bench.set_replicas(1)
    curve = []
    bar = tqdm(total=len(sessions), desc="draining", unit="invitation")
    deadline = time.monotonic() + 7200
    while time.monotonic() < deadline:
        got = sum(1 for s in sessions if s.email in bench.mail.invitations)
        curve.append((round(time.time() - started, 1), got))
        bar.n = got
        bar.refresh()
        if got >= len(sessions):
            break
        time.sleep(1)
    bar.close()
    arrivals = sorted(bench.mail.invitations[s.email][0][0] for s in sessions if s.email in bench.mail.invitations)
    cpu = meter.stop()
    last = arrivals[-1] if arrivals else time.time()
    return {
        "sessions": len(sessions),
        "delivered": len(arrivals),
        "seconds": round(last - started, 1),
        "flows_per_second": round(len(arrivals) / max(0.001, last - started), 1),
        "first_invitation_after": round(arrivals[0] - started, 1) if arrivals else None,
        "curve": curve,
        "cpu_seconds": cpu,
        "cpu_per_flow": round(system_cpu(cpu) / max(1, len(arrivals)), 4),
    }


def burst(bench: Bench, count: int, replicas: int) -> dict:
    """``count`` full flows started as fast as the driver can, with ``replicas`` of each worker: throughput, and
    the chaos run's count (exactly one invitation, one urgent alert with its notices, nothing duplicated)."""
    from bench.tally import count as tally_count

    bench.set_replicas(replicas)
    sessions = bench.take(count)
    driver = Driver(bench, threads=64)
    meter = bench.cpu_meter()
    meter.start()
    started = time.time()
    for s in sessions:
        driver.start(s, started)
    _wait_flows(bench, sessions, timeout=max(300, count / 2))  # 2 cores finish 3-4 flows/s
    bench.wait_quiet(timeout=600, what="quiet after the burst")
    cpu = meter.stop()
    driver.close()
    finished = [s for s in sessions if s.alerted]
    last = max((s.alerted for s in finished), default=time.time())
    planned = [fl.Flow(n, "risk", s.client_id, s.clinician_id, s.email, sessions=1, answered=1, done=s.alerted > 0)
               for n, s in enumerate(sessions)]  # fmt: skip
    bench.mail.scan()
    tally = tally_count(planned, bench.run.db_urls, bench.mail.read, bench.supervisors)
    return {
        "replicas": replicas,
        "flows": count,
        "finished": len(finished),
        "flows_per_second": round(len(finished) / max(0.001, last - started), 1),
        "cpu_per_flow": round(system_cpu(cpu) / max(1, len(finished)), 4),
        "lost": tally.lost,
        "duplicated": tally.unflagged_duplicates,
        "checks": {name: asdict(c) for name, c in tally.checks.items()},
        "out_of_order": out_of_order(bench),
        **_latencies(sessions),
    }


def out_of_order(bench: Bench) -> int:
    """Records handled before an earlier record of the same partition, in any consumer group (the order is per
    partition, so per client): read from each service's inbox, in the order of handling."""
    from sqlalchemy import create_engine, select

    from shared.messaging.tables import InboxMessage

    bad = 0
    for url in bench.run.db_urls.values():
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(InboxMessage.topic, InboxMessage.partition, InboxMessage.offset).order_by(
                        InboxMessage.processed_at, InboxMessage.topic, InboxMessage.partition, InboxMessage.offset
                    )
                ).all()
        finally:
            engine.dispose()
        last: dict[tuple, int] = {}
        for topic, partition, offset in rows:
            if offset < last.get((topic, partition), -1):
                bad += 1
            last[(topic, partition)] = max(offset, last.get((topic, partition), -1))
    return bad


# -- the front desk --------------------------------------------------------------------------------------------


class Desk:
    """Front-desk users at a brisk human pace: open-loop requests, half booking a future session for a client,
    half searching a week's availability for a clinician. Latency of each, measured from its planned time."""

    def __init__(self, bench: Bench, seed: int = 7):
        self.bench, self.rng = bench, random.Random(seed)
        self.clients = list(bench.prepared[-2000:])
        self.hour = 0
        self.lock = threading.Lock()

    def _slot(self) -> datetime:
        with self.lock:
            self.hour += 1
            h = self.hour
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=400, hours=h)

    def book(self) -> None:
        client = self.rng.choice(self.clients)
        starts = self._slot()
        self.bench.api.post(f"{self.bench.urls['scheduling']}/api/appointments", {
            "client_id": client.client_id, "clinician_id": client.clinician_id, "type_id": "individual",
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=50)).isoformat(),
            "override_reason": "benchmark: out of hours"})  # fmt: skip

    def search(self) -> None:
        start = datetime.now(UTC) + timedelta(days=self.rng.randint(1, 30))
        response = requests.get(
            f"{self.bench.urls['scheduling']}/api/availability",
            params={"clinician_id": self.rng.choice(self.bench.clinicians), "type_id": "individual",
                    "from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()},
            headers={"Authorization": f"Bearer {self.bench.api.token()}"}, timeout=30,
        )  # fmt: skip
        response.raise_for_status()

    def run(self, rate: float, seconds: float, kinds=("book", "search")) -> dict:
        pool = ThreadPoolExecutor(max_workers=max(8, int(self.bench.plan.desk_users * 2)))
        times: dict[str, list[float]] = {k: [] for k in kinds}
        errors = []
        started = time.time()

        def one(kind: str, planned: float) -> None:
            try:
                getattr(self, kind)()
                times[kind].append(time.time() - planned)
            except Exception as exc:  # noqa: BLE001 - counted
                errors.append(type(exc).__name__)

        n = 0
        while True:
            planned = started + n / rate
            if planned - started >= seconds:
                break
            time.sleep(max(0.0, planned - time.time()))
            pool.submit(one, kinds[n % len(kinds)], planned)
            n += 1
        pool.shutdown(wait=True)
        return {"rate": rate, "requests": n, "errors": len(errors),
                **{kind: percentiles(values) for kind, values in times.items()}}  # fmt: skip


def background_pipeline(bench: Bench, rate: float, seconds: float) -> threading.Thread:
    """Flows at ``rate`` a second for ``seconds`` in a thread (the load the desk works beside)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(open_loop(bench, rate, seconds)), daemon=True)
    thread.result = result
    thread.start()
    return thread


def staff(bench: Bench) -> dict:
    plan = bench.plan
    desk = Desk(bench)
    if plan.staff_rate <= 0:
        return {}
    out = {"desk_users": plan.desk_users}
    meter = bench.cpu_meter()
    meter.start()
    solo = desk.run(rate=10, seconds=max(5, plan.staff_seconds / 3), kinds=("book",))
    cpu = meter.stop()
    out["booking_alone"] = solo | {"scheduling_web_cpu_ms_per_request": round(
        1000 * cpu["scheduling-web"] / max(1, solo["requests"]), 2)}  # fmt: skip
    pipeline = background_pipeline(bench, plan.staff_pipeline_rate, plan.staff_seconds + 5)
    time.sleep(3)
    out["under_load"] = desk.run(plan.staff_rate, plan.staff_seconds)
    pipeline.join()
    out["pipeline_meanwhile"] = {k: v for k, v in pipeline.result.items() if k not in ("backlog",)}
    steps = []
    if plan.capacity_rates:
        pipeline = background_pipeline(bench, plan.staff_pipeline_rate,
                                       plan.capacity_seconds * len(plan.capacity_rates) + 5)  # fmt: skip
        time.sleep(3)
        for rate in plan.capacity_rates:
            step = desk.run(rate, plan.capacity_seconds)
            steps.append(step)
            if max(step["book"].get("p99", 0), step["search"].get("p99", 0)) > 0.1:
                break
        pipeline.join()
    out["capacity_steps"] = steps
    under = [s["rate"] for s in steps if max(s["book"].get("p99", 9), s["search"].get("p99", 9)) <= 0.1]
    out["capacity_requests_per_second"] = max(under) if under else None
    # Beyond what the machine sustains every queue grows, the desk's too: the desk beside a pipeline it sustains.
    bench.wait_quiet(timeout=1800, what="quiet before the desk beside a sustained pipeline")
    pipeline = background_pipeline(bench, plan.staff_sustained_rate, plan.staff_seconds + 5)
    time.sleep(3)
    out["under_sustained_load"] = desk.run(plan.staff_rate, plan.staff_seconds) | {
        "pipeline_rate": plan.staff_sustained_rate
    }
    pipeline.join()
    return out


def dashboard(bench: Bench) -> dict:
    """Seed ``questionnaires`` scored questionnaires straight into feedback's database (its own seeding command),
    then time the caseload and a client's progress as one clinician sees them."""
    import subprocess

    from deploy.keycloak.demo import StaffAccount

    plan = bench.plan
    repeats = plan.dashboard_requests
    clinician = bench.clinicians[0]
    env = {**bench.run.system.procs["feedback-web"].env}
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "services.feedback", "seed-history", "--questionnaires",
         str(plan.questionnaires), "--clinician", clinician, "--caseload", "40"],
        env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    seeded = time.time() - started
    account = StaffAccount("bench-therapist", "clinician0@practice.example", "clinician", "bench-therapist-pass-1")
    token = token_source(bench.run.idp, account, clinician_id=clinician)
    headers = lambda: {"Authorization": f"Bearer {token()}"}  # noqa: E731
    url = bench.urls["feedback"]
    answer = requests.get(f"{url}/api/caseload", headers=headers(), timeout=60)
    if answer.status_code != 200:
        raise RuntimeError(f"the caseload answered {answer.status_code}: {answer.text[:300]}")
    caseload = answer.json()
    clients = [row["client_id"] for row in caseload]
    times = {"caseload": [], "progress": []}
    for n in tqdm(range(repeats), desc="dashboard", unit="request"):
        t = time.perf_counter()
        requests.get(f"{url}/api/caseload", headers=headers(), timeout=60).raise_for_status()
        times["caseload"].append(time.perf_counter() - t)
        t = time.perf_counter()
        requests.get(f"{url}/api/clients/{clients[n % len(clients)]}/progress/phq9", headers=headers(),
                     timeout=60).raise_for_status()  # fmt: skip
        times["progress"].append(time.perf_counter() - t)
    return {"questionnaires": plan.questionnaires, "seed_seconds": round(seeded, 1), "caseload_rows": len(clients),
            **{k: percentiles(v) for k, v in times.items()}}  # fmt: skip


# -- the whole run -------------------------------------------------------------------------------------------------


def benchmark(database: str, plan: Plan, workdir: Path, idp=None, seed: int = 20261202) -> dict:
    bench = Bench(workdir, database, plan)
    results = bench.results
    results.update(database=database, seed=seed, machine=machine(), started=datetime.now(UTC).isoformat(),
                   plan=asdict(plan), phase_seconds={})  # fmt: skip
    random.seed(seed)
    last = [time.monotonic()]

    def phase(name: str) -> None:
        """How long the phase just ended took, waits included (where a run's time goes)."""
        now = time.monotonic()
        results["phase_seconds"][name] = round(now - last[0], 1)
        last[0] = now

    try:
        bench.start(idp)
        phase("start")
        if plan.ceiling_records:
            results["ceiling"] = raw_ceiling(bench.run.bootstrap, plan.ceiling_records, size=1500)
            phase("ceiling")
        bench.prepare(plan.sessions_needed())
        phase("prepare")
        if plan.rest_flows:
            results["rest"] = at_rest(bench)
            phase("rest")
        results["rates"] = []
        for rate in plan.rates:
            step = open_loop(bench, rate, plan.rate_seconds)
            results["rates"].append(step)
            bench.wait_quiet(timeout=1800, what="quiet after the rate step")
        phase("rates")
        results["events"] = topic_records(bench)
        if plan.drain_flows:
            results["drain"] = drain(bench)
            bench.wait_quiet(timeout=1800, what="quiet after the drain")
            phase("drain")
        if plan.scale_flows:
            results["scale"] = [burst(bench, plan.scale_flows, 1), burst(bench, plan.scale_flows, 2)]
            bench.set_replicas(1)
            phase("scale")
        if plan.staff_seconds:
            results["staff"] = staff(bench)
            bench.wait_quiet(timeout=1800, what="quiet after the desk")
            phase("staff")
        if plan.questionnaires:
            results["dashboard"] = dashboard(bench)
            phase("dashboard")
        return results
    finally:
        bench.close()


def topic_records(bench: Bench) -> dict:
    """Records on every topic so far (the events the flows made), for events/s beside the raw ceiling."""
    from kafka import KafkaConsumer, TopicPartition

    probe = KafkaConsumer(bootstrap_servers=bench.run.bootstrap, group_id=None)
    try:
        total = 0
        for topic in probe.topics():
            if topic.startswith("bench-ceiling"):
                continue
            tps = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
            total += sum(probe.end_offsets(tps).values())
        return {"records": total}
    finally:
        probe.close()


def machine() -> dict:
    import platform

    import psutil

    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "system": platform.platform()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="a few hundred flows, counted, no figures written")
    parser.add_argument("--quick", action="store_true", help="every phase, shorter (no figures written)")
    parser.add_argument("--reported", action="store_true", help="the mid-size run docs/performance.md shows")
    parser.add_argument("--desk", action="store_true", help="the desk beside the pipeline only (no figures written)")
    parser.add_argument("--flow", action="store_true", help="at rest, rate steps, ceiling: replaces those figures")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "figures" / "pipeline.json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: every process it started is stopped too
    databases = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    out = {}
    for database in databases:
        flags = ((args.smoke, SMOKE), (args.quick, QUICK), (args.desk, DESK), (args.flow, FLOW))
        chosen = [p for flag, p in flags if flag]
        plan = chosen[0] if chosen else FULL if database == "postgresql" else EMBEDDED
        plan = REPORTED if args.reported and database == "postgresql" else plan
        with tempfile.TemporaryDirectory(prefix=f"attune-pipeline-{database}-") as tmp:
            out[database] = benchmark(database, plan, Path(tmp), seed=args.seed)
        print(json.dumps({k: v for k, v in out[database].items() if k != "machine"}, indent=1, default=str)[:4000])
    if args.smoke or args.quick or args.desk:  # kept out of docs/: for comparing versions by hand
        name = "smoke" if args.smoke else "quick" if args.quick else "desk"
        kept = ROOT / "var" / "bench" / f"pipeline-{name}.json"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps(out, indent=1, default=str))
        print(f"results: {kept}")
    else:
        from bench.pipeline_report import write

        args.json.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(args.json.read_text()) if args.json.exists() else {}
        if args.flow:  # the flow's phases replace the shown run's; the rest of that run stays, and says so
            out = {db: previous.get(db, {}) | {k: r[k] for k in FLOW_PHASES if k in r}
                   | {"flow_run": {"started": r["started"], "phase_seconds": r["phase_seconds"]}}
                   for db, r in out.items()}  # fmt: skip
        args.json.write_text(json.dumps(previous | out, indent=1, default=str))
        write(previous | out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
