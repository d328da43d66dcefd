"""All three services in one test process: real HTTP servers, real workers on the real broker, real SMTP.

Each stack gets its own databases and its own Kafka topic namespace, so tests never see each other's events.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import func, select

from services import feedback, notifications, scheduling
from services.feedback import worker as feedback_worker
from services.feedback.handlers import handlers as feedback_handlers
from services.feedback.settings import FeedbackSettings
from services.notifications import worker as notifications_worker
from services.notifications.deliveries import Dispatcher
from services.notifications.handlers import make_handlers as notification_handlers
from services.notifications.models import Delivery
from services.notifications.settings import NotifySettings
from services.notifications.smtp_channel import SmtpChannel
from services.scheduling import worker as scheduling_worker
from services.scheduling.handlers import HANDLERS as SCHEDULING_HANDLERS
from shared import worker
from shared.auth import issue_token
from shared.config import ServiceConfig
from shared.db import utcnow
from shared.events.catalog import group_id, topic_for
from shared.messaging.tables import OutboxMessage
from shared.migrate import upgrade
from shared.runtime import Runtime
from tests.support.live import LiveServer
from tests.support.ports import free_port


def service_runtime(name: str, url: str, bootstrap: str, **overrides) -> Runtime:
    """A service's runtime on a database migrated to head (so every test also exercises the migrations)."""
    config = ServiceConfig.from_env(
        name, database_url=url, kafka_bootstrap=bootstrap, testing=True, **{"wake_port": free_port(), **overrides}
    )
    upgrade(name, url)
    return Runtime.build(config)


@dataclass
class ServiceUnderTest:
    name: str
    runtime: Runtime
    app: object
    server: LiveServer
    relay: object = None
    loop: object = None
    sources: list[str] = field(default_factory=list)

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
        feedback_extra: dict | None = None,
        notify_extra: dict | None = None,
    ):
        self.bootstrap = bootstrap
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        ports = {name: free_port() for name in ("scheduling", "feedback", "notifications")}
        public = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.services: dict[str, ServiceUnderTest] = {}
        factories = {
            "scheduling": scheduling.create_app,
            "feedback": feedback.create_app,
            "notifications": notifications.create_app,
        }
        for name, create in factories.items():
            extra = {}
            if name == "feedback":
                extra = {"feedback": feedback_extra or {}}
            if name == "notifications":
                extra = {
                    "notifications": {
                        "smtp_port": smtp_port,
                        "rate_per_second": 200.0,
                        "quiet_start": "00:00",  # no quiet hours: tests must not depend on the clock
                        "quiet_end": "00:00",
                        **(notify_extra or {}),
                    }
                }
            runtime = service_runtime(name, db_urls[name], bootstrap, public_urls=public, extra=extra)
            app = create(runtime.config, runtime)
            self.services[name] = ServiceUnderTest(name, runtime, app, LiveServer(app, ports[name]).start())
        self.feedback_settings = FeedbackSettings.from_config(self.services["feedback"].runtime.config)
        self.notify_settings = NotifySettings.from_config(self.services["notifications"].runtime.config)
        self.handlers = {
            "scheduling": (SCHEDULING_HANDLERS, scheduling_worker.SOURCES),
            "feedback": (feedback_handlers(self.feedback_settings), feedback_worker.SOURCES),
            "notifications": (notification_handlers(self.notify_settings), notifications_worker.SOURCES),
        }
        self.dispatcher = Dispatcher(
            self.services["notifications"].runtime.sessions, SmtpChannel(self.notify_settings), self.notify_settings
        )
        if with_workers:
            self.start_workers()

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start_workers(self) -> None:
        for name, svc in self.services.items():
            handlers, sources = self.handlers[name]
            svc.relay, svc.loop = worker.build(svc.runtime, handlers, sources, poll_interval=0.5)
            svc.sources = sources
            extra = [self.dispatcher.run] if name == "notifications" else []
            self.threads += worker.start_threads(svc.relay, svc.loop, self.stop_event, extra)

    def close(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=20)
        for svc in self.services.values():
            svc.server.stop()
            svc.runtime.engine.dispose()

    # -- helpers ----------------------------------------------------------------------------------------------

    def token(self, role: str = "frontdesk", clinician_id: str | None = None) -> str:
        secret = self.services["scheduling"].runtime.config.auth_secret
        return issue_token(secret, f"test-{role}", role, clinician_id)

    def headers(self, role: str = "frontdesk", clinician_id: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token(role, clinician_id)}"}

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
                for source in svc.sources:
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
