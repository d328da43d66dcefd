"""All three services in one test process: real HTTP servers, real workers on the real broker, real SMTP.

Each stack gets its own databases and its own Kafka topic namespace, so tests never see each other's events.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import func, select

from services.notifications.models import Delivery
from shared import worker
from shared.db import utcnow
from shared.events.catalog import group_id, topic_for
from shared.messaging.tables import OutboxMessage
from shared.runtime import Runtime
from shared.wiring import Wiring
from tests.support.apps import BOOTSTRAPS, FACTORIES, service_runtime, staff_headers
from tests.support.live import LiveServer
from tests.support.ports import free_port


@dataclass
class ServiceUnderTest:
    name: str
    runtime: Runtime
    app: object
    server: LiveServer
    wiring: Wiring
    relay: object = None
    loop: object = None

    @property
    def url(self) -> str:
        return self.server.url


class Stack:
    def __init__(
        self,
        db_urls: dict[str, str],
        bootstrap: str,
        smtp_port: int,
        *,
        with_workers: bool = True,
        settings: dict[str, dict] | None = None,
    ):
        """``settings``: per-service settings overrides, e.g. ``{"feedback": {"link_ttl_hours": 1}}``."""
        self.bootstrap = bootstrap
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        ports = {name: free_port() for name in FACTORIES}
        public = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        overrides = {
            "notifications": {
                "smtp_port": smtp_port,
                "rate_per_second": 200.0,
                "quiet_start": "00:00",  # no quiet hours: tests must not depend on the clock
                "quiet_end": "00:00",
            }
        }
        for name, values in (settings or {}).items():
            overrides[name] = {**overrides.get(name, {}), **values}
        self.services: dict[str, ServiceUnderTest] = {}
        for name, create in FACTORIES.items():
            runtime = service_runtime(
                name, db_urls[name], bootstrap, wake_port=free_port(), public_urls=public, **overrides.get(name, {})
            )
            app = create(runtime.settings, runtime)
            wiring = BOOTSTRAPS[name](runtime.settings, runtime)  # exactly what the worker process composes
            server = LiveServer(app, ports[name]).start()
            self.services[name] = ServiceUnderTest(name, runtime, app, server, wiring)
        if with_workers:
            self.start_workers()

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start_workers(self) -> None:
        for svc in self.services.values():
            svc.relay, svc.loop = worker.build(svc.runtime, svc.wiring, poll_interval=0.5)
            self.threads += worker.start_threads(svc.relay, svc.loop, self.stop_event, svc.wiring.loops)

    def close(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=20)
        for svc in self.services.values():
            svc.server.stop()
            svc.runtime.engine.dispose()

    # -- helpers ----------------------------------------------------------------------------------------------

    def token(self, role: str = "frontdesk", clinician_id: str | None = None) -> str:
        return self.headers(role, clinician_id)["Authorization"][7:]

    def headers(self, role: str = "frontdesk", clinician_id: str | None = None) -> dict:
        return staff_headers(role, clinician_id)

    def url(self, service: str, path: str) -> str:
        return self.services[service].url + path

    def unpublished(self) -> int:
        total = 0
        for svc in self.services.values():
            with svc.runtime.sessions() as s:
                total += s.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
                )
        return total

    def consumer_lag(self) -> int:
        """Records on the services' source topics not yet committed by their consumer groups."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="stack-lag")
        probe = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        try:
            lag = 0
            for name, svc in self.services.items():
                committed = admin.list_group_offsets(group_id(name)).get(group_id(name), {})
                for source in svc.wiring.sources:
                    parts = probe.partitions_for_topic(topic_for(source)) or set()
                    tps = [TopicPartition(topic_for(source), p) for p in parts]
                    for tp, end in probe.end_offsets(tps).items():
                        done = committed.get(tp)
                        lag += end - (done.offset if done is not None and done.offset >= 0 else 0)
            return lag
        finally:
            probe.close()
            admin.close()

    def pending_deliveries(self) -> int:
        with self.services["notifications"].runtime.sessions() as s:
            return s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status.in_(["pending", "sending"]), Delivery.due_at <= utcnow())
            )

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until every outbox is published, every consumer has committed everything, and no email is due:
        after this, nothing more will happen unless something new is done (so counts are final)."""
        deadline = time.monotonic() + timeout
        stable = 0
        while time.monotonic() < deadline:
            try:
                lag = self.consumer_lag()
            except KafkaError as exc:  # e.g. the group coordinator is still loading: not settled yet
                if not getattr(exc, "retriable", False):
                    raise
                lag = 1
            busy = self.unpublished() + lag + self.pending_deliveries()
            stable = stable + 1 if busy == 0 else 0
            if stable >= 2:  # twice in a row: a handler may have emitted between the checks
                return
            time.sleep(0.3)
        raise AssertionError(
            f"the stack did not settle: {self.unpublished()} unpublished, lag {self.consumer_lag()}, "
            f"{self.pending_deliveries()} deliveries due"
        )
