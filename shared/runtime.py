"""What a service process holds: its settings, database engine, session factory and outbox waker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import CommonSettings
from shared.db import make_engine, make_session_factory
from shared.messaging.outbox import Waker, install_wake_hook


@dataclass
class Runtime:
    settings: CommonSettings
    engine: Engine
    sessions: sessionmaker[Session]
    waker: Waker

    @classmethod
    def build(cls, settings: CommonSettings) -> Runtime:
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)
        waker = Waker(settings.wake_port)
        install_wake_hook(sessions, waker)
        return cls(settings, engine, sessions, waker)
