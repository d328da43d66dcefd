"""Scheduling's worker: publishes its outbox. (It consumes nothing yet; delivery results come later.)"""

from services.scheduling import SERVICE
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.worker import run_forever

HANDLERS: dict = {}
SOURCES = ["notifications"]


def main() -> None:
    logs.configure(SERVICE)
    run_forever(Runtime.build(ServiceConfig.from_env(SERVICE)), HANDLERS, SOURCES)


if __name__ == "__main__":
    main()
