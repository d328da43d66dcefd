"""Each service as the tests use it, built the way production builds it: its settings class, a database
migrated to head (so every test also exercises the migrations), its app factory and its bootstrap. One helper
set for all three services: ``make_app(name, db_url)`` gives the runtime, the Flask app, a test client, staff
headers, and ``deliver`` to hand an event to the service's own handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from services import feedback, notifications, scheduling
from services.feedback.bootstrap import bootstrap as feedback_bootstrap
from services.feedback.settings import FeedbackSettings
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.settings import NotificationsSettings
from services.scheduling.bootstrap import bootstrap as scheduling_bootstrap
from services.scheduling.settings import SchedulingSettings
from shared.db import transaction, utcnow
from shared.migrate import upgrade
from shared.runtime import Runtime
from shared.wiring import Wiring
from tests.support import events, identity

SETTINGS = {"scheduling": SchedulingSettings, "feedback": FeedbackSettings, "notifications": NotificationsSettings}
FACTORIES = {
    "scheduling": scheduling.create_app,
    "feedback": feedback.create_app,
    "notifications": notifications.create_app,
}
BOOTSTRAPS = {
    "scheduling": scheduling_bootstrap,
    "feedback": feedback_bootstrap,
    "notifications": notifications_bootstrap,
}
NO_BROKER = "127.0.0.1:1"  # for tests that need no Kafka: nothing listens there


def service_runtime(name: str, url: str, bootstrap: str = NO_BROKER, **overrides) -> Runtime:
    """A service's runtime on a database migrated to head; ``overrides`` are settings fields. Notifications
    get no quiet hours unless a test asks for them: a test must not depend on the time of day it runs."""
    if name == "notifications":
        overrides = {"quiet_start": "00:00", "quiet_end": "00:00", **overrides}
    settings = SETTINGS[name].from_env(database_url=url, kafka_bootstrap=bootstrap, testing=True, **overrides)
    upgrade(name, url)
    return Runtime.build(settings)


def staff_headers(role: str = "frontdesk", clinician_id: str | None = None) -> dict:
    """A real bearer token from the test Keycloak for a staff member with ``role`` (and clinician id)."""
    return {"Authorization": f"Bearer {identity.access_token(role, clinician_id)}"}


@dataclass
class ServiceApp:
    name: str
    runtime: Runtime
    app: object
    clock: object = utcnow
    wiring: Wiring = field(init=False)

    def __post_init__(self):
        self.wiring = BOOTSTRAPS[self.name](self.runtime.settings, self.runtime, clock=lambda: self.clock())
        self.client = self.app.test_client()

    @property
    def settings(self):
        return self.runtime.settings

    def token(self, role: str = "frontdesk", clinician_id: str | None = None) -> str:
        return identity.access_token(role, clinician_id)

    def headers(self, role: str = "frontdesk", clinician_id: str | None = None) -> dict:
        return staff_headers(role, clinician_id)

    def sign_in(self, role: str = "frontdesk", clinician_id: str | None = None, client=None):
        """Sign this service's test client (or ``client``) in to its pages through Keycloak's login form."""
        identity.sign_in(client or self.client, role, clinician_id)
        return client or self.client

    def deliver(self, spec, data: dict, subject: str = "c1"):
        """Hand one event to this service's own handler, as its consumer would."""
        return events.deliver(self.runtime, self.wiring.handlers, spec, data, subject)

    def close(self) -> None:
        self.runtime.engine.dispose()


def make_app(name: str, db_url: str, **overrides) -> ServiceApp:
    runtime = service_runtime(name, db_url, wake_port=None, **overrides)
    return ServiceApp(name, runtime, FACTORIES[name](runtime.settings, runtime))


def make_scheduling(db_url: str) -> ServiceApp:
    """Scheduling on ``db_url``: migrated, the default appointment types and rooms created, no Kafka needed."""
    from services.scheduling.cli import create_practice

    made = make_app("scheduling", db_url)
    with transaction(made.runtime.sessions) as s:
        create_practice(s)
    return made
