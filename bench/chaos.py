"""The chaos run: the real system as production runs it, a seeded workload through its public HTTP surfaces,
faults on a schedule, and a count of what came out.

    python -m bench.chaos                 # the long run: 5,000 flows over 20+ minutes
    python -m bench.chaos --short         # the short run inside the test suite: a few hundred flows
    python -m bench.chaos --cluster       # on the three-broker cluster (the fault stops the partition leader)

It starts PostgreSQL (durable, one database per service), the Kafka broker, Keycloak, an SMTP sink, the three
web services under gunicorn and two replicas of each worker (one consumer group each), then drives flows
(register, book, complete, answer: a share with a risk answer, a share deteriorating over two sessions) while
the schedule SIGKILLs random workers, stops the broker, restarts PostgreSQL, takes the SMTP server away and
has it refuse with 421 then 535, injects poison records, and SIGTERMs every worker. Then it waits for
quiescence and counts (``bench/tally.py``). It prints a table and exits 1 on any loss, any unflagged
duplicate, more flagged duplicates than kills of the notifications workers could cause (one per sender thread
each), a dead letter that is not
poison, or a flow it could not finish.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from tqdm import tqdm

from bench import flows as fl
from bench.system import System
from bench.tally import Tally, count
from services.notifications.settings import NotificationsSettings

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("scheduling", "feedback", "notifications")


@dataclass(frozen=True)
class Profile:
    flows: int
    arrival_seconds: float  # flows arrive evenly over this long
    kill_every: float  # seconds between SIGKILLs of a random worker
    poison: int
    broker_down: float
    smtp_down: float
    smtp_421: float
    smtp_535: float
    clinicians: int = 8
    threads: int = 6
    settle_seconds: float = 900.0  # how long the end may take to go quiet
    shares: tuple = (("steady", 0.6), ("risk", 0.2), ("deteriorating", 0.2))

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds after the start, scenario): spread over the arrival period, one after another."""
        span = self.arrival_seconds
        return [
            (0.05 * span, "poison"),
            (0.12 * span, "broker"),
            (0.12 * span + self.broker_down + 20, "postgres"),
            (0.12 * span + self.broker_down + 45, "smtp"),
            (0.12 * span + self.broker_down + 60 + self.smtp_down + self.smtp_421 + self.smtp_535, "sigterm"),
        ]


SHORT = Profile(flows=200, arrival_seconds=200, kill_every=8, poison=300, broker_down=20, smtp_down=30, smtp_421=15,
                smtp_535=15)  # fmt: skip
# 5,000 flows at 1.7 a second: what two cores sustain with every process of the system, the broker, PostgreSQL
# and the driver on them (a first run at 3.3 a second fell behind during the faults and never caught up).
LONG = Profile(flows=5000, arrival_seconds=3000, kill_every=10, poison=1000, broker_down=30, smtp_down=180,
               smtp_421=60, smtp_535=60, clinicians=20, threads=8, settle_seconds=1800)  # fmt: skip


@dataclass
class Fault:
    scenario: str
    started: float
    ended: float = 0.0
    detail: str = ""
    failed: str | None = None  # why the harness could not make this fault happen


@dataclass
class Run:
    """Everything one run started, so it can all be stopped whatever fails."""

    workdir: Path
    cluster: bool = False
    system: System | None = None
    pg: object = None
    sink: object = None
    idp: object = None
    db_urls: dict[str, str] = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    keycloak_dir: Path | None = None
    faults: list[Fault] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)
    sigterm_codes: list = field(default_factory=list)

    @property
    def kafka_dir(self) -> Path:
        return self.workdir / "kafka"

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)


# -- infrastructure ---------------------------------------------------------------------------------------------


def start_infrastructure(run: Run, idp) -> dict[str, str]:
    """PostgreSQL, Kafka, the SMTP sink (and Keycloak unless ``idp``, a running one, is given); the processes'
    settings."""
    from deploy.kafka import broker
    from deploy.mailsink import MailSink
    from deploy.postgres.server import PostgresServer, create_database
    from deploy.processes import free_port

    run.pg = PostgresServer(durable=True)
    admin = run.pg.start()
    db_urls = {service: create_database(admin) for service in GROUPS}
    if run.cluster:
        run.nodes = broker.start_cluster(run.kafka_dir, free_port())
    else:
        run.nodes = [broker.start_single(run.kafka_dir, free_port(), free_port())]
    run.sink = MailSink(run.workdir / "mail", port=free_port()).start()
    run.idp = idp or start_keycloak(run)
    namespace = f"chaos{uuid.uuid4().hex[:8]}"
    os.environ["ATTUNE_KAFKA_NAMESPACE"] = namespace  # this process names topics too (poison, dead letters)
    env = {
        "ATTUNE_KAFKA_NAMESPACE": namespace,
        "KAFKA_BOOTSTRAP_SERVERS": run.bootstrap,
        "KAFKA_PARTITIONS": "6",
        "KAFKA_REPLICATION_FACTOR": "3" if run.cluster else "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "2" if run.cluster else "1",
        "OIDC_ISSUER": run.idp.issuer,
        "SMTP_PORT": str(run.sink.port),
        "NOTIFY_QUIET_START": "00:00",
        "NOTIFY_QUIET_END": "00:00",
        "NOTIFY_RATE_PER_SECOND": "200",
        "NOTIFY_RETRY_BACKOFF_CAP_SECONDS": "10",  # back quickly after the SMTP outage (production: 300)
        "ALERT_ONCALL_ADDRESS": "on-call@practice.example",
        "FEEDBACK_INTAKE_MEASURES": "",  # one questionnaire per completed session, none at booking
        "PUBLIC_LINK_RATE_LIMIT": "1000000 per minute",  # every client is 127.0.0.1 here
        "WORKER_STALL_SECONDS": "600",
    }
    run.db_urls = db_urls
    return env


def start_keycloak(run: Run):
    from deploy.keycloak import server as keycloak
    from deploy.processes import free_port

    run.keycloak_dir = run.workdir / "keycloak"
    urls = {name: "http://127.0.0.1:1" for name in keycloak.SERVICES}  # the API takes bearer tokens only
    return keycloak.start(run.keycloak_dir, free_port(), public_urls=urls, smtp_port=1, in_memory=True,
                          management_port=free_port())  # fmt: skip


def token_source(idp, account=None, clinician_id: str | None = None):
    """An access token from the Keycloak ``idp``'s dev-only direct-grant client for ``account`` (by default a
    front-desk account; made on first use, linked to ``clinician_id`` if given), refreshed before it expires."""
    import requests

    from deploy.keycloak import server as keycloak
    from deploy.keycloak.demo import StaffAccount, user_representation

    account = account or StaffAccount("chaos-desk", "chaos-desk@practice.example", "frontdesk", "chaos-desk-password-1")
    imported = threading.Event()
    held = {"token": "", "until": 0.0}
    lock = threading.Lock()

    def token() -> str:
        with lock:
            if held["until"] - time.monotonic() > 60:
                return held["token"]
            if not imported.is_set():
                keycloak.import_users(idp, [user_representation(account, clinician_id)])
                imported.set()
            response = requests.post(
                f"{idp.issuer}/protocol/openid-connect/token",
                data={"grant_type": "password", "client_id": keycloak.DEV_CLIENT, "scope": "openid",
                      "username": account.username, "password": account.password},
                timeout=10,
            )  # fmt: skip
            response.raise_for_status()
            body = response.json()
            held.update(token=body["access_token"], until=time.monotonic() + body["expires_in"])
            return held["token"]

    return token


def stop_everything(run: Run, keep_data: bool = False) -> None:
    from deploy.kafka import broker
    from deploy.keycloak import server as keycloak

    for stop in (
        lambda: run.system and run.system.close(),
        lambda: run.sink and run.sink.stop(),
        lambda: broker.stop(run.kafka_dir),
        lambda: run.keycloak_dir and keycloak.stop(run.keycloak_dir),
        lambda: run.pg and run.pg.stop(keep_data=keep_data),
    ):
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - stop the rest whatever one of them does
            print(f"while stopping: {type(exc).__name__}: {exc}", file=sys.stderr)


# -- faults -----------------------------------------------------------------------------------------------------


def poison(bootstrap: str, count_: int, seed: int) -> int:
    """Records no consumer can use, on every service's topic, each marked so the tally can tell them apart."""
    from shared.events.catalog import topic_for
    from shared.messaging.kafka_clients import make_producer

    rng = random.Random(seed)
    envelope = {"specversion": "1.0", "id": "x", "source": "chaos", "time": "2026-01-01T00:00:00+00:00"}
    kinds = [
        None,
        b"\xff\xfe not utf-8",
        b"garbage {{{",
        b"[1, 2, 3]",
        json.dumps({**envelope, "type": "attune.nobody.nothing.happened"}).encode(),
        json.dumps({**envelope, "type": "attune.scheduling.client.registered", "data": {"client_id": None}}).encode(),
        json.dumps({"type": None, "data": None}).encode(),
    ]
    producer = make_producer(bootstrap, "chaos-poison")
    try:
        futures = []
        for n in range(count_):
            topic = topic_for(GROUPS[n % 3])
            value = kinds[rng.randrange(len(kinds))]
            if value is not None and b'"id": "x"' in value:
                value = value.replace(b'"id": "x"', f'"id": "{uuid.UUID(int=rng.getrandbits(128))}"'.encode())
            headers = [("chaos-poison", b"1")]
            futures.append(producer.send(topic, key=f"poison-{n}".encode(), value=value, headers=headers))
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close()
    return count_


class Schedule:
    """Runs the faults one after another (and the kills throughout) until ``stop`` is set."""

    def __init__(self, run: Run, profile: Profile, seed: int, started: float):
        self.run, self.profile, self.rng, self.started = run, profile, random.Random(seed), started
        self.stop = threading.Event()

    def _fault(self, scenario: str, action, detail: str = "") -> None:
        fault = Fault(scenario, time.time(), detail=detail)
        self.run.faults.append(fault)
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a fault that could not be made fails the run, not the schedule
            fault.failed = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            fault.ended = time.time()

    def kills(self) -> None:
        while not self.stop.wait(self.profile.kill_every):
            victims = [p for p in self.run.system.workers if p.alive() and p.wanted]
            if not victims:
                continue
            victim = self.rng.choice(victims)
            service = victim.name.split("-worker-")[0]
            self.run.kills[service] = self.run.kills.get(service, 0) + 1
            self.run.faults.append(Fault("SIGKILL a random worker", time.time(), time.time(), victim.name))
            self.run.system.kill(victim)

    def scenarios(self) -> None:
        for at, scenario in self.profile.schedule():
            if self.stop.wait(max(0.0, self.started + at - time.time())):
                return
            getattr(self, scenario)()

    def poison(self) -> None:
        n = self.profile.poison
        self._fault(f"{n} poison records", lambda: poison(self.run.bootstrap, n, self.rng.randrange(2**31)))

    def broker(self) -> None:
        from deploy.kafka import broker

        run, down = self.run, self.profile.broker_down
        if run.cluster:
            victim = self._leader()

            def outage():
                os.killpg(int(victim.pid_file.read_text()), signal.SIGKILL)
                time.sleep(down)
                broker.start_cluster(run.kafka_dir, run.nodes[0].port)

            self._fault(f"partition leader (broker {victim.node_id}) killed for {down:.0f} s", outage)
            return
        node = run.nodes[0]

        def outage():
            broker.stop(run.kafka_dir)
            time.sleep(down)
            broker.start_single(run.kafka_dir, node.port, node.controller_port)

        self._fault(f"broker stopped for {down:.0f} s", outage)

    def _leader(self):
        from kafka import KafkaAdminClient

        from shared.events.catalog import topic_for

        admin = KafkaAdminClient(bootstrap_servers=self.run.bootstrap, client_id="chaos-leader")
        try:
            described = admin.describe_topics([topic_for("scheduling")])[0]
            leader = sorted(described["partitions"], key=lambda p: p["partition"])[0]["leader"]
        finally:
            admin.close()
        return next(n for n in self.run.nodes if n.node_id == leader)

    def postgres(self) -> None:
        def restart():
            self.run.pg.halt()
            time.sleep(5)
            self.run.pg.resume()

        self._fault("PostgreSQL restarted (immediate stop, 5 s down)", restart)

    def smtp(self) -> None:
        sink, p = self.run.sink, self.profile

        def down():
            sink.stop()
            time.sleep(p.smtp_down)
            sink.start()

        def refusing(reply: str, seconds: float):
            def act():
                sink.handler.refuse_with = reply
                time.sleep(seconds)
                sink.handler.refuse_with = None

            return act

        self._fault(f"SMTP server down for {p.smtp_down:.0f} s", down)
        self._fault(f"SMTP answering 421 for {p.smtp_421:.0f} s", refusing("421 4.3.2 Try again later", p.smtp_421))
        self._fault(f"SMTP answering 535 for {p.smtp_535:.0f} s",
                    refusing("535 5.7.8 Authentication credentials invalid", p.smtp_535))  # fmt: skip

    def sigterm(self) -> None:
        def restart_all():
            self.run.sigterm_codes = self.run.system.stop_workers()
            self.run.system.start_workers()

        self._fault("SIGTERM every worker, then start them again", restart_all)


# -- quiescence and the dead letters -------------------------------------------------------------------------


def busy(run: Run) -> dict[str, int]:
    """What is still moving: unpublished outbox rows, uncommitted records, deliveries due, parked events."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from sqlalchemy import create_engine, func, select

    from services.notifications.models import Delivery
    from shared.db import utcnow
    from shared.events.catalog import group_id, topic_for
    from shared.messaging.tables import OutboxMessage, ParkedEvent

    found = {"unpublished": 0, "lag": 0, "deliveries due": 0, "parked": 0, "outbox rows parked": 0}
    for service, url in run.db_urls.items():
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                found["unpublished"] += conn.scalar(
                    select(func.count()).where(OutboxMessage.published_at.is_(None), OutboxMessage.parked_at.is_(None))
                )
                found["parked"] += conn.scalar(select(func.count()).select_from(ParkedEvent))
                found["outbox rows parked"] += conn.scalar(
                    select(func.count()).where(OutboxMessage.parked_at.is_not(None))
                )
                if service == "notifications":  # due now, or retried within minutes (questionnaire reminders: a day)
                    found["deliveries due"] = conn.scalar(
                        select(func.count()).where(
                            Delivery.status.in_(["pending", "sending"]),
                            Delivery.due_at <= utcnow() + timedelta(minutes=10),
                        )
                    )
        finally:
            engine.dispose()
    admin = KafkaAdminClient(bootstrap_servers=run.bootstrap, client_id="chaos-lag")
    probe = KafkaConsumer(bootstrap_servers=run.bootstrap, group_id=None)
    try:
        for group in GROUPS:
            committed = admin.list_group_offsets(group_id(group)).get(group_id(group), {})
            for topic in sorted(topic_for(source) for source in GROUPS if group in readers_of(source)):
                tps = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
                for tp, end in probe.end_offsets(tps).items():
                    done = committed.get(tp)
                    found["lag"] += end - (done.offset if done is not None and done.offset >= 0 else 0)
    finally:
        probe.close()
        admin.close()
    return found


def wait_for_quiescence(run: Run, driver: fl.Driver, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    stable, last = 0, {}
    while time.monotonic() < deadline:
        waiting = sum(1 for f in driver.flows if not f.done and f.error is None)
        try:
            last = {**busy(run), "flows": waiting}
        except Exception as exc:  # noqa: BLE001 - a broker or database still coming back: not quiet yet
            last = {"error": type(exc).__name__}
        moving = {k: v for k, v in last.items() if k != "outbox rows parked"}  # parked rows never move: reported
        stable = stable + 1 if not any(moving.values()) else 0
        if stable >= 3:
            return last
        time.sleep(2)
    return last


def readers_of(source: str) -> list[str]:
    """The consumer groups that read ``source``'s topic (from each service's handler registry)."""
    return [
        group
        for group in GROUPS
        if any(spec.source == source for spec in importlib.import_module(f"services.{group}.bootstrap").HANDLERS)
    ]


def expected_poison_letters(count_: int) -> int:
    """Each poison record (dealt round the three topics) is dead-lettered once by every group reading its topic."""
    return sum(len(readers_of(GROUPS[n % 3])) for n in range(count_))


def dead_letters(run: Run) -> tuple[int, int]:
    """(poison, anything else) across every group's dead-letter topic."""
    from shared.messaging.deadletter import read_dead_letters

    marked = other = 0
    for group in GROUPS:
        for letter in read_dead_letters(run.bootstrap, group):
            if letter.headers.get("chaos-poison") == "1":
                marked += 1
            else:
                other += 1
    return marked, other


# -- the run ----------------------------------------------------------------------------------------------------


def start_system(run: Run, idp, profile, replicas: int, driver_class=None):
    """The infrastructure, the system on it, a practice and a driver of flows: (env, practice, mail, driver)."""
    env = start_infrastructure(run, idp)
    run.system = System(run.workdir / "logs", run.db_urls, env, replicas=replicas).start()
    api = fl.Api(token_source(run.idp))
    urls = {s: run.system.url(s) for s in GROUPS}
    tag = uuid.uuid4().hex[:6]
    practice = fl.set_up_practice(api, urls["scheduling"], profile.clinicians, tag)
    mail = fl.MailIndex(run.sink.directory)
    driver = (driver_class or fl.Driver)(api, urls, practice, mail, profile.threads, tag)
    return env, practice, mail, driver


def chaos(profile: Profile, seed: int, workdir: Path, cluster: bool = False, idp=None, progress: bool = True,
          before_stop=None) -> tuple[Tally, Run]:  # fmt: skip
    """Run it all; return the tally (and the run, for its fault log), stopping everything whatever happens.
    ``before_stop(run)`` looks at the quiet system before it is stopped (the test scrapes every /metrics)."""
    run = Run(workdir, cluster)
    driver = None
    failed = True  # until the count says otherwise: keep the databases to look into
    namespace_before = os.environ.get("ATTUNE_KAFKA_NAMESPACE")  # set for the run, put back after (tests share it)
    try:
        env, practice, mail, driver = start_system(run, idp, profile, replicas=2)
        planned = driver.plan(profile.flows, dict(profile.shares), seed)
        stop = threading.Event()
        threading.Thread(target=mail.run, args=(stop,), daemon=True).start()
        started = time.time()
        schedule = Schedule(run, profile, seed, started)
        threads = [threading.Thread(target=schedule.kills, daemon=True),
                   threading.Thread(target=schedule.scenarios, daemon=True)]  # fmt: skip
        for t in threads:
            t.start()
        gap = profile.arrival_seconds / profile.flows
        bar = tqdm(total=len(planned), desc="flows answered", unit="flow", disable=not progress)
        for n, flow in enumerate(planned):
            time.sleep(max(0.0, started + n * gap - time.time()))
            driver.start(flow)
            bar.n = sum(f.done for f in planned)
            bar.refresh()
        threads[1].join()  # every scenario has run
        schedule.stop.set()
        threads[0].join()
        quiet = wait_for_quiescence(run, driver, timeout=profile.settle_seconds)
        bar.n = sum(f.done for f in planned)
        bar.close()
        stop.set()
        tally = count(planned, run.db_urls, run.sink.directory, practice.supervisors)
        tally.dead_letters_poison, tally.dead_letters_other = dead_letters(run)
        tally.quiescence = quiet
        tally.faults = per_scenario(run, planned)
        if before_stop is not None:
            before_stop(run)
        failed = not report(tally, run, profile, seed)[1]
        return tally, run
    finally:
        finish(run, driver, failed, namespace_before)


def finish(run: Run, driver, failed: bool, namespace_before: str | None) -> None:
    """Stop the driver and everything the run started (keeping the databases of a failed run), and put the
    topic namespace back."""
    if driver is not None:
        driver.close()
    stop_everything(run, keep_data=failed)
    if namespace_before is None:
        os.environ.pop("ATTUNE_KAFKA_NAMESPACE", None)
    else:
        os.environ["ATTUNE_KAFKA_NAMESPACE"] = namespace_before
    if failed and run.pg is not None:
        print(f"the databases are kept in {run.pg.data} (pg_ctl -D ... start to look)", file=sys.stderr)


def per_scenario(run: Run, planned: list[fl.Flow]) -> list[list]:
    """Per scenario: how often it happened, the flows with a step during it (or in the minute after), their
    losses."""
    rows: dict[str, list] = {}
    for fault in run.faults:
        name = "SIGKILL a random worker" if fault.scenario.startswith("SIGKILL") else fault.scenario
        row = rows.setdefault(name, [name, 0, set(), 0])
        row[1] += 1
        for flow in planned:
            if any(fault.started - 5 <= t <= fault.ended + 60 for t in flow.steps):
                row[2].add(flow.number)
    for row in rows.values():
        row[3] = sum(planned[n].lost for n in row[2])
        row[2] = len(row[2])
    return list(rows.values())


def report(tally: Tally, run: Run, profile: Profile, seed: int) -> tuple[str, bool]:
    """The table (Markdown), and whether the run passed."""
    kills_notifications = run.kills.get("notifications", 0)
    # a kill catches at most one delivery per sender thread between the server's acceptance and its commit
    in_flight = run.system.workers[0].env.get("NOTIFY_SMTP_CONCURRENCY") if run.system.workers else None
    allowed = kills_notifications * int(in_flight or NotificationsSettings.smtp_concurrency)
    lines = [
        f"flows: {tally.flows} (seed {seed}), kills: {sum(run.kills.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(run.kills.items()))}), "
        f"restarts by the supervisor: {sum(p.restarts for p in run.system.workers)}",
        "",
        "| check | expected | delivered | lost | unflagged duplicates | flagged duplicates |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(str(v) for v in c.row()) + " |" for c in tally.checks.values()]
    lines += [
        "",
        "| scenario | times | flows during it | their losses |",
        "| --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in tally.faults]
    lines += [
        "",
        f"dead letters: {tally.dead_letters_poison} poison (each poison record once per group reading its topic: "
        f"{expected_poison_letters(profile.poison)}), {tally.dead_letters_other} other",
        f"SIGTERM exit codes: {run.sigterm_codes}",
        f"unfinished flows: {len(tally.unfinished)}; at rest: {tally.quiescence}",
        f"delivered while the ledger says otherwise (an unconfirmed send, then cancelled): {tally.ledger_disagrees}",
    ]
    lines += [f"  {u}" for u in tally.unfinished[:10]]
    lines += [f"  lost: {loss}" for loss in tally.losses[:20]]
    problems = []
    if tally.lost:
        problems.append(f"{tally.lost} lost")
    if tally.unflagged_duplicates:
        problems.append(f"{tally.unflagged_duplicates} unflagged duplicates")
    if tally.flagged_duplicates > allowed:
        problems.append(
            f"{tally.flagged_duplicates} flagged duplicates > {allowed} "
            f"({kills_notifications} notifications kills, each with the sends in flight)"
        )
    if tally.dead_letters_other:
        problems.append(f"{tally.dead_letters_other} dead letters that are not poison")
    expected = expected_poison_letters(profile.poison)
    if tally.dead_letters_poison < expected:  # more is possible: a kill between the dead letter and the commit
        problems.append(f"only {tally.dead_letters_poison} of {expected} poison dead letters")
    if tally.unfinished:
        problems.append(f"{len(tally.unfinished)} flows unfinished")
    if tally.quiescence.get("outbox rows parked"):
        problems.append(f"{tally.quiescence['outbox rows parked']} outbox rows parked (events that were never sent)")
    for fault in run.faults:
        if fault.failed:
            problems.append(f"could not make the fault {fault.scenario!r}: {fault.failed}")
    if any(code not in (0, "starting") for code in run.sigterm_codes):
        problems.append(f"a worker did not exit 0 on SIGTERM: {run.sigterm_codes}")
    lines.append("PASSED" if not problems else "FAILED: " + "; ".join(problems))
    return "\n".join(lines), not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--short", action="store_true", help="the test suite's short run")
    parser.add_argument("--cluster", action="store_true", help="the three-broker cluster")
    parser.add_argument("--flows", type=int, help="override the profile's flow count")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop everything it started, as on Ctrl-C
    profile = SHORT if args.short else LONG
    if args.flows:
        profile = Profile(**{**profile.__dict__, "flows": args.flows})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="attune-chaos-"))
    from shared import logs

    logs.configure("chaos", level="WARNING")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # this process's probes during the broker outage
    began = time.time()
    tally, run = chaos(profile, args.seed, workdir, cluster=args.cluster)
    table, passed = report(tally, run, profile, args.seed)
    print(f"\nchaos run: {(time.time() - began) / 60:.1f} min, logs in {workdir}\n")
    print(table)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
