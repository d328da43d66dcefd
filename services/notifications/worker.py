"""Notifications' worker: consumes events, dispatches due deliveries over SMTP, publishes its outbox."""

from __future__ import annotations

from services.notifications import SERVICE
from services.notifications.deliveries import Dispatcher
from services.notifications.handlers import make_handlers
from services.notifications.settings import NotifySettings
from services.notifications.smtp_channel import SmtpChannel
from shared import logs
from shared.config import ServiceConfig
from shared.runtime import Runtime
from shared.worker import run_forever

SOURCES = ["scheduling", "feedback"]


def main() -> None:
    logs.configure(SERVICE)
    config = ServiceConfig.from_env(SERVICE)
    runtime = Runtime.build(config)
    settings = NotifySettings.from_config(config)
    dispatcher = Dispatcher(runtime.sessions, SmtpChannel(settings), settings)
    run_forever(runtime, make_handlers(settings), SOURCES, extra=[dispatcher.run])


if __name__ == "__main__":
    main()
