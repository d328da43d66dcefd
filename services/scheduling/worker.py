"""Scheduling's worker: publishes its outbox and records delivery failures for the front desk."""

from services.scheduling import SERVICE
from services.scheduling.handlers import HANDLERS
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.worker import run_forever

SOURCES = ["notifications"]


def main() -> None:
    logs.configure(SERVICE)
    run_forever(Runtime.build(ServiceConfig.from_env(SERVICE)), HANDLERS, SOURCES)


if __name__ == "__main__":
    main()
