"""Service apps on a migrated database, with staff tokens: the set-up most API and page tests share."""

from __future__ import annotations

from dataclasses import dataclass

from services.scheduling import create_app as scheduling_app
from services.scheduling.cli import create_practice
from shared.auth import issue_token
from shared.db import transaction
from shared.runtime import Runtime
from tests.support.stack import service_runtime


@dataclass
class SchedulingApp:
    runtime: Runtime
    app: object

    def headers(self, role: str = "frontdesk", clinician_id: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token(role, clinician_id)}"}

    def token(self, role: str = "frontdesk", clinician_id: str | None = None) -> str:
        return issue_token(self.runtime.config.auth_secret, f"{role}-{clinician_id or 'x'}", role, clinician_id)


def make_scheduling(db_url: str) -> SchedulingApp:
    """Scheduling on ``db_url``: migrated, the default appointment types and rooms created, no Kafka needed."""
    runtime = service_runtime("scheduling", db_url, "127.0.0.1:1", wake_port=None)
    with transaction(runtime.sessions) as s:
        create_practice(s)
    return SchedulingApp(runtime, scheduling_app(runtime.config, runtime))
